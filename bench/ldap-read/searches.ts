// The searches the connector makes for a config (src/directory/ldap/read.ts: users, then groups),
// spelled out so ldapsearch and the bare-ldapts floor read exactly the same entries and attributes.
import type { LdapSourceConfig } from '../../src/config/types.js';
import { groupAttributes, resolveSettings, userAttributes } from '../../src/directory/ldap/index.js';

export interface Search {
  base: string;
  filter: string;
  attributes: string[];
}

export function connectorSearches(config: LdapSourceConfig): Search[] {
  const st = resolveSettings(config);
  if (st.disabledFilter !== undefined || st.rangeSize !== undefined) {
    throw new Error('bench/ldap-read compares two searches; keep disabledFilter and rangeSize unset');
  }
  return [
    { base: st.userBase, filter: st.userFilter, attributes: userAttributes(st) },
    { base: st.groupBase, filter: st.groupFilter, attributes: groupAttributes(st) },
  ];
}

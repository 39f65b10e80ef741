// The `ldap` source: OpenLDAP and Active Directory through ldapts. See docs/ldap.md for what it
// reads, the profile defaults and the permissions the bind account needs.
import type { Logger } from 'pino';
import type { LdapSourceConfig } from '../../config/types.js';
import { silentLogger } from '../../log/logger.js';
import type { DirectorySnapshot, DirectorySource } from '../types.js';
import { LdapConnection } from './connection.js';
import { resolveSettings } from './profiles.js';
import { LdapReader, type ProgressHook } from './read.js';

export { DnSyntaxError, isWithin, normalizeDn, parseDn, tryNormalizeDn } from '../dn.js';
export {
  LdapBindError,
  LdapConfigError,
  LdapConnectError,
  LdapError,
  LdapTlsError,
} from './errors.js';
export {
  checkFilter,
  compileFilter,
  equalityFilter,
  escapeFilterValue,
  FilterSyntaxError,
  parseFilter,
} from './filter.js';
export { guidFromBytes, guidToBytes } from './guid.js';
export {
  groupAttributes,
  type LdapProfile,
  type LdapSettings,
  PROFILES,
  resolveSettings,
  userAttributes,
} from './profiles.js';
export type { ProgressHook, ReadPhase, ReadProgress } from './read.js';

export interface LdapSourceOptions {
  logger?: Logger;
  /** Called after every page and range slice, and awaited. */
  onProgress?: ProgressHook;
}

/**
 * A DirectorySource reading an LDAP directory. read() throws an LdapError when nothing could be
 * read (connect, TLS, bind, a missing base DN); a failure part way returns complete: false.
 */
export function ldapSource(config: LdapSourceConfig, options: LdapSourceOptions = {}): DirectorySource {
  const settings = resolveSettings(config);
  const log = (options.logger ?? silentLogger).child({ component: 'ldap', server: settings.origin });
  return {
    async read(): Promise<DirectorySnapshot> {
      if (settings.pageSizeLowered) {
        log.warn(
          settings.pageSizeLowered,
          `pageSize lowered to ${settings.pageSizeLowered.to}: the ${settings.profile} server returns no more per page`,
        );
      }
      const conn = await LdapConnection.open(settings, log);
      try {
        return await new LdapReader(conn, settings, log, options.onProgress).read();
      } finally {
        await conn.close();
      }
    },
  };
}

// The `ldap` source: OpenLDAP and Active Directory through ldapts. See docs/ldap.md for what it
// reads, the profile defaults and the permissions the bind account needs.
import type { Logger } from 'pino';
import type { LdapSourceConfig } from '../../config/types.js';
import { silentLogger } from '../../log/logger.js';
import type { DirectorySnapshot, DirectorySource } from '../types.js';
import { LdapConnection } from './connection.js';
import { LdapConnectError } from './errors.js';
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

/** A source whose read can be stopped part way (a shutdown must not wait for a big LDAP sweep). */
export interface AbortableDirectorySource extends DirectorySource {
  /** Drops the connection of a read in flight (it then rejects) and refuses later reads. */
  abort(reason?: string): void;
}

/**
 * A DirectorySource reading an LDAP directory. read() throws an LdapError when nothing could be
 * read (connect, TLS, bind, a missing base DN); a failure part way returns complete: false.
 */
export function ldapSource(
  config: LdapSourceConfig,
  options: LdapSourceOptions = {},
): AbortableDirectorySource {
  const settings = resolveSettings(config);
  const log = (options.logger ?? silentLogger).child({ component: 'ldap', server: settings.origin });
  let aborted: string | undefined;
  const open = new Set<LdapConnection>();
  return {
    abort(reason = 'aborted by the caller'): void {
      aborted ??= reason;
      for (const conn of open) conn.abort(reason);
    },
    async read(): Promise<DirectorySnapshot> {
      if (aborted !== undefined) throw new LdapConnectError(`LDAP read aborted: ${aborted}`, settings.origin);
      if (settings.pageSizeLowered) {
        log.warn(
          settings.pageSizeLowered,
          `pageSize lowered to ${settings.pageSizeLowered.to}: the ${settings.profile} server returns no more per page`,
        );
      }
      const conn = await LdapConnection.open(settings, log);
      open.add(conn);
      try {
        if (aborted !== undefined) conn.abort(aborted);
        return await new LdapReader(conn, settings, log, options.onProgress).read();
      } finally {
        open.delete(conn);
        await conn.close();
      }
    },
  };
}

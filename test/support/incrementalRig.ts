// What the incremental LDAP read tests share: the daemon's IncrementalLdapSource against a real
// server (through the decoding proxy, so "another server" can answer the same address) and a real
// redis-server, beside a plain full read of the same server, both normalised for order so the
// snapshots can be compared with toEqual.
import type { Redis } from 'ioredis';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { IncrementalLdapSource, type LdapReadKind } from '../../src/daemon/ldapIncremental.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import type { ProgressHook } from '../../src/directory/ldap/read.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import { type LdapProxy, startLdapProxy } from './ldapProxy.js';

/** Users and groups by id, member lists sorted: what a plan depends on, in a comparable form. */
export function normalised(s: DirectorySnapshot) {
  return {
    complete: s.complete,
    users: [...s.users].sort((a, b) => a.id.localeCompare(b.id)),
    groups: [...s.groups]
      .map((g) => ({
        ...g,
        memberUserIds: [...g.memberUserIds].sort(),
        memberGroupIds: [...g.memberGroupIds].sort(),
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  };
}

export interface IncrementalRig {
  proxy: LdapProxy;
  config: LdapSourceConfig;
  /** What each read of `read()` was, in order, and why the full ones were. */
  reads: Array<{ kind: LdapReadKind; why?: string }>;
  /** The incremental source's read. */
  read(): Promise<DirectorySnapshot>;
  /** A plain full read of the same server (the reference). */
  full(): Promise<DirectorySnapshot>;
  /** Makes the next changed read's first page fail. */
  failNextChangedRead(): void;
  close(): Promise<void>;
}

export async function startIncrementalRig(o: {
  serverUrl: string;
  redis: Redis;
  prefix: string;
  source: Omit<LdapSourceConfig, 'type' | 'url' | 'insecureSkipVerify'>;
}): Promise<IncrementalRig> {
  const proxy = await startLdapProxy(o.serverUrl);
  const config: LdapSourceConfig = {
    type: 'ldap',
    url: proxy.url,
    insecureSkipVerify: false,
    timeoutMs: 10_000,
    connectTimeoutMs: 5000,
    ...o.source,
  };
  const reads: IncrementalRig['reads'] = [];
  let fail = false;
  const onChangedProgress: ProgressHook = () => {
    if (fail) {
      fail = false;
      throw new Error('injected failure mid-read');
    }
  };
  const source = new IncrementalLdapSource({
    config,
    redis: o.redis,
    prefix: o.prefix,
    fullReadEveryMs: 3_600_000,
    onChangedProgress,
    onRead: (r) => reads.push(r),
  });
  return {
    proxy,
    config,
    reads,
    read: () => source.read(),
    full: () => ldapSource(config).read(),
    failNextChangedRead() {
      fail = true;
    },
    async close() {
      await proxy.close();
    },
  };
}

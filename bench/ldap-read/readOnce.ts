// One timed read in a fresh process, as `idsync plan` would do it, so main.ts can run it with and
// without V8 flags. Usage: readOnce.ts connector|ldapts '<LdapSourceConfig JSON>'
// Prints one JSON line (ReadOnceResult). `ldapts` reads the same two searches with ldapts alone
// and keeps nothing: the floor the library puts under the connector.
import { Client } from 'ldapts';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import { connectorSearches } from './searches.js';

export interface ReadOnceResult {
  ms: number;
  /** CPU time of the timed part, every thread (the GC's helpers too): steadier than `ms` on a busy machine. */
  cpuMs: number;
  entries: number;
  users: number;
  groups: number;
  userEdges: number;
  groupEdges: number;
  complete: boolean;
  incompleteReasons: string[];
  warnings: number;
  rssMiB: number;
}

const [mode, json] = process.argv.slice(2);
if ((mode !== 'connector' && mode !== 'ldapts') || json === undefined) {
  process.stderr.write('usage: readOnce.ts connector|ldapts <config JSON>\n');
  process.exit(2);
}
const config = JSON.parse(json) as LdapSourceConfig;
let result: ReadOnceResult;
const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
if (mode === 'connector') {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const snap = await ldapSource(config).read();
  const ms = performance.now() - started;
  result = {
    ms,
    cpuMs: cpuMs(cpu),
    entries: snap.users.length + snap.groups.length,
    users: snap.users.length,
    groups: snap.groups.length,
    userEdges: snap.groups.reduce((n, g) => n + g.memberUserIds.length, 0),
    groupEdges: snap.groups.reduce((n, g) => n + g.memberGroupIds.length, 0),
    complete: snap.complete,
    incompleteReasons: snap.incompleteReasons,
    warnings: snap.warnings.length,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
} else {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const client = new Client({ url: config.url, timeout: config.timeoutMs ?? 120_000 });
  let entries = 0;
  try {
    await client.bind(config.bindDN, config.bindPassword);
    for (const q of connectorSearches(config)) {
      for await (const page of client.searchPaginated(q.base, {
        filter: q.filter,
        attributes: q.attributes,
        paged: { pageSize: config.pageSize ?? 1000 },
        timeLimit: 0,
      })) {
        entries += page.searchEntries.length;
      }
    }
  } finally {
    await client.unbind();
  }
  result = {
    ms: performance.now() - started,
    cpuMs: cpuMs(cpu),
    entries,
    users: 0,
    groups: 0,
    userEdges: 0,
    groupEdges: 0,
    complete: true,
    incompleteReasons: [],
    warnings: 0,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
}
process.stdout.write(`${JSON.stringify(result)}\n`);

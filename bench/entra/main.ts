// bench/entra: the Entra source through the Graph + login simulator (test/support/graphSimulator,
// a real HTTPS server with its own CA, here at 20 ms per request).
// (1) A full read of 50,000 users and 2,000 groups, every group mapped: time and requests, against
//     the fewest requests $top=999 paging allows; beside it the daemon's first (full) delta round
//     over the same tenant, and one incremental round after a single membership change.
// (2) The daemon end to end: `idsync run` (a child process) subscribed to Graph change
//     notifications, a private redis-server and the Devin simulator (a child process, 20 ms). One
//     user added to a mapped group in Entra → Graph notification → delta run → Devin shows the
//     user holding the org role; p50 and p95 over 20 trials.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type LoadedConfig, loadConfig } from '../../src/config/index.js';
import type { EntraSourceConfig } from '../../src/config/types.js';
import { RunStore } from '../../src/daemon/runStore.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { readDeltaRound } from '../../src/directory/entra/delta.js';
import { entraSource, entraTokenProvider, GraphClient, userSelect } from '../../src/directory/entra/index.js';
import { generateSeed } from '../../src/simulator/index.js';
import { selectorsOf } from '../../src/sync/inputs.js';
import {
  type GraphSimulator,
  seedDirectory,
  startGraphSimulator,
} from '../../test/support/graphSimulator/index.js';
import { freePort, startRedis } from '../../test/support/redis.js';
import { spawnIdsync, startSimulatorProcess, stopChild, untilWhileRunning } from '../support/processes.js';

const USERS = 50_000;
const GROUPS = 2_000;
const MEMBERS_PER_GROUP = 25;
const LATENCY_MS = 20;
const TRIALS = 20;
const TENANT = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const CLIENT = '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9';
const SECRET = 'bench-entra~client.secret+1';
const DEVIN_TOKEN = 'cog_bench_entra_token';
const ADMIN_TOKEN = 'bench-entra-admin-token-0123456789';
const PREFIX = 'bench-entra';
const PAGE = 999;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const pages = (n: number) => Math.max(1, Math.ceil(n / PAGE));

function sourceYaml(sim: GraphSimulator, extra = ''): string {
  return `source:
  type: entra
  tenantId: ${TENANT}
  clientId: ${CLIENT}
  clientSecret: "${SECRET}"
  authorityHost: ${sim.url}
  graphBaseUrl: ${sim.url}
  caFile: ${sim.caFile}
${extra}`;
}

/** Requests by kind since the log was cleared: token, users, groups, members, delta. */
function byRoute(sim: GraphSimulator): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of sim.requests) {
    const route = r.path.includes('/oauth2/')
      ? 'POST token'
      : `${r.method} ${r.path.replace(/\/v1\.0/, '').replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '{id}')}`;
    out.set(route, (out.get(route) ?? 0) + 1);
  }
  return out;
}

const printRoutes = (m: Map<string, number>) => {
  for (const [route, n] of [...m].sort((a, b) => b[1] - a[1]))
    console.log(`    ${String(n).padStart(6)}  ${route}`);
};

const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-entra-'));
const stops: Array<() => Promise<unknown>> = [];
try {
  const tenant = seedDirectory({ users: USERS, groups: GROUPS, membersPerGroup: MEMBERS_PER_GROUP });
  const sim = await startGraphSimulator({
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: SECRET,
    users: tenant.users,
    groups: tenant.groups,
    latencyMs: LATENCY_MS,
  });
  stops.push(() => sim.stop());

  // ---- (1) reads ------------------------------------------------------------------------------------
  const readFile = join(dir, 'read.yaml');
  writeFileSync(
    readFile,
    `${sourceYaml(sim)}devin: { baseUrl: http://127.0.0.1:9, token: ${DEVIN_TOKEN} }
mappings:
  - group: { pattern: "*" }
    enterpriseRole: account_member
    provisionUsers: true
scope: { emailDomains: [corp.example.com] }
`,
  );
  const readConfig: LoadedConfig = await loadConfig(readFile);
  const entra = readConfig.source as EntraSourceConfig;
  const tokens = entraTokenProvider(entra);

  console.log(
    `Graph simulator at ${LATENCY_MS} ms per request: ${USERS} users, ${GROUPS} groups of ${MEMBERS_PER_GROUP} members`,
  );
  sim.clearRequests();
  const t0 = performance.now();
  const snapshot = await entraSource(entra, { mappings: selectorsOf(readConfig), tokens }).read();
  const fullSeconds = (performance.now() - t0) / 1000;
  const fullRoutes = byRoute(sim);
  const fullMade = sim.requests.length;
  const fewest =
    1 /* token */ +
    pages(USERS) +
    pages(GROUPS) +
    tenant.groups.reduce((n, g) => n + pages(g.members.length), 0);
  console.log('(1) reads');
  console.log(
    `  full read (CLI plan/apply): ${fullSeconds.toFixed(1)} s, ${snapshot.users.length} users, ${snapshot.groups.length} groups, complete: ${snapshot.complete}`,
  );
  console.log(
    `    requests: ${fullMade} made; fewest $top=${PAGE} paging allows ${fewest} (1 token + ${pages(USERS)} user pages + ${pages(GROUPS)} group pages + ${GROUPS} member pages); ${(fullMade / fewest).toFixed(3)}x`,
  );
  printRoutes(fullRoutes);

  // The daemon reads by delta: its first round enumerates everything, later ones only changes.
  const graph = new GraphClient({ config: entra, tokens });
  sim.clearRequests();
  const t1 = performance.now();
  const first = await readDeltaRound(graph, { kind: 'full', userSelect: userSelect(entra) });
  const deltaSeconds = (performance.now() - t1) / 1000;
  const deltaMade = sim.requests.length;
  console.log(
    `  first delta round (daemon start): ${deltaSeconds.toFixed(1)} s, ${deltaMade} requests (${first.pages.users} users/delta pages, ${first.pages.groups} groups/delta pages)`,
  );
  const someone = tenant.users[USERS - 1]?.id as string;
  sim.addMember(tenant.groups[0]?.id as string, someone);
  sim.clearRequests();
  const t2 = performance.now();
  const next = await readDeltaRound(graph, {
    kind: 'incremental',
    userSelect: userSelect(entra),
    usersDeltaLink: first.usersDeltaLink,
    groupsDeltaLink: first.groupsDeltaLink,
  });
  const incSeconds = (performance.now() - t2) / 1000;
  console.log(
    `  incremental delta round after 1 membership change: ${(incSeconds * 1000).toFixed(0)} ms, ${sim.requests.length} requests (${next.pages.users} + ${next.pages.groups} pages)`,
  );
  console.log(
    `  side by side: full read ${fullSeconds.toFixed(1)} s / ${fullMade} requests · first delta ${deltaSeconds.toFixed(1)} s / ${deltaMade} · incremental ${(incSeconds * 1000).toFixed(0)} ms / ${sim.requests.length}`,
  );
  graph.close();
  sim.removeMember(tenant.groups[0]?.id as string, someone);

  // ---- (2) notification → Devin -----------------------------------------------------------------------
  // 100 mapped groups (Group 0000–0099, 2,500 people) of the 50,000 users; the trials add people
  // from outside them.
  const redis = await startRedis();
  stops.push(() => redis.stop());
  const base = generateSeed({ users: 2, groups: 0, orgs: 1, token: DEVIN_TOKEN });
  const devin = await startSimulatorProcess({ ...base, idp_memberships: [] }, LATENCY_MS, ['--admin']);
  stops.push(devin.stop);
  const org = base.organizations[0];
  if (!org) throw new Error('the Devin seed has no org');
  const port = await freePort();
  const daemonFile = join(dir, 'daemon.yaml');
  writeFileSync(
    daemonFile,
    `${sourceYaml(sim, `  notifications: { publicUrl: "http://127.0.0.1:${port}" }\n`)}devin:
  baseUrl: ${devin.url}
  token: ${DEVIN_TOKEN}
  maxRequestsPerSecond: 0
  maxConcurrency: 32
mappings:
  - group: { pattern: "Group 00??" }
    idpGroupName: "{id}"
    enterpriseRole: account_member
    orgs: [ { org: "${org.name}", role: org_member } ]
    provisionUsers: true
scope: { emailDomains: [corp.example.com], deprovision: remove, adopt: matching }
mode: auto
redis: { url: ${redis.url} }
server: { host: 127.0.0.1, port: ${port}, adminToken: ${ADMIN_TOKEN} }
`,
  );
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  stops.push(() => conn.quit());
  const runs = new RunStore(conn, PREFIX);
  const t3 = performance.now();
  const daemon = spawnIdsync(['run', '--config', daemonFile, '--prefix', PREFIX, '--concurrency', '64']);
  stops.push(() => stopChild(daemon));
  const until = <T>(pred: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> =>
    untilWhileRunning(daemon, pred, what, timeoutMs, 25);
  const finished = (r: RunRecord | undefined) =>
    r && ['succeeded', 'partial', 'failed', 'blocked', 'awaiting-approval'].includes(r.status)
      ? r
      : undefined;
  const initial = await until(async () => finished((await runs.list(1))[0]), 'the initial run', 600_000);
  const subscribed = await until(
    async () => (sim.subscriptions().length >= 2 ? sim.subscriptions().length : undefined),
    'the subscriptions',
    60_000,
  );
  console.log('(2) a membership change in Entra → Graph notification → Devin');
  console.log(
    `  initial run ${initial.status} (${initial.plan?.ops} ops) ${((performance.now() - t3) / 1000).toFixed(1)} s after start; ${subscribed} subscriptions`,
  );

  const mappedIds = new Set(tenant.groups.slice(0, 100).flatMap((g) => g.members));
  const outsiders = tenant.users.filter((u) => !mappedIds.has(u.id) && u.mail !== null).slice(0, TRIALS);
  const holdsRole = async (email: string): Promise<boolean> => {
    const r = await fetch(
      `${devin.url}/v3/enterprise/organizations/${org.org_id}/members/users?email=${encodeURIComponent(email)}`,
      { headers: { authorization: `Bearer ${DEVIN_TOKEN}` } },
    );
    const page = (await r.json()) as { items?: Array<{ role_assignments?: unknown[] }> };
    return (page.items?.[0]?.role_assignments?.length ?? 0) > 0;
  };
  const trials: number[] = [];
  const graphBefore = sim.requests.length;
  for (const [k, user] of outsiders.entries()) {
    const group = tenant.groups[k % 100] as { id: string };
    // Settle first: the previous trial's run must be over, or this change rides on it.
    await until(
      async () => {
        const last = (await runs.list(1))[0];
        return last && !['queued', 'planning', 'applying'].includes(last.status) ? true : undefined;
      },
      'the previous run',
      120_000,
    );
    const started = performance.now();
    sim.addMember(group.id, user.id);
    await until(
      async () => ((await holdsRole(user.mail as string)) ? true : undefined),
      `trial ${k}`,
      120_000,
    );
    trials.push((performance.now() - started) / 1000);
  }
  const graphPerTrial = (sim.requests.length - graphBefore) / trials.length;
  console.log(
    `  p50 ${pct(trials, 50).toFixed(2)} s   p95 ${pct(trials, 95).toFixed(2)} s   max ${Math.max(...trials).toFixed(2)} s over ${trials.length} trials   (Entra provisioning: a 40-minute cycle)`,
  );
  console.log(
    `  Graph requests per change: ${graphPerTrial.toFixed(1)} (the delta round; a full read would be ${fullMade})`,
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

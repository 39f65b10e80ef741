// bench/e2e: the daemon end to end. `idsync simulator --latency 20` and `idsync run` as child
// processes, a private redis-server. (1) The initial sync of 10,000 users in 1,000 groups: wall
// time, and Devin API calls made against the fewest the bulk endpoints allow. (2) One user added to
// a mapped group in the directory file, then a signed POST /webhooks/resync: time until Devin
// shows the change (the user holds the org role), p50 and p95 over 20 trials.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RunStore } from '../../src/daemon/runStore.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { MAX_PAGE_SIZE } from '../../src/devin/index.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { generateSeed, type RequestLogEntry } from '../../src/simulator/index.js';
import { freePort, startRedis } from '../../test/support/redis.js';
import {
  postResync,
  spawnIdsync,
  startSimulatorProcess,
  stopChild,
  untilOrgRole,
  untilWhileRunning,
} from '../support/processes.js';

const USERS = 10_000;
const GROUPS = 1_000;
const ORGS = 10;
const TRIALS = 20;
const LATENCY_MS = 20;
const TOKEN = 'cog_bench_e2e_token';
const WEBHOOK_SECRET = 'bench-webhook-secret';
const ADMIN_TOKEN = 'bench-admin-token';
const PREFIX = 'bench';
/** Ops one daemon process runs at once, and Devin requests in flight (devin.maxConcurrency). */
const OP_CONCURRENCY = 64;
const DEVIN_CONCURRENCY = 32;

const pages = (n: number) => Math.max(1, Math.ceil(n / MAX_PAGE_SIZE));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

// ---- the company ---------------------------------------------------------------------------------------

const base = generateSeed({ users: 2, groups: 0, orgs: ORGS, token: TOKEN });
const seed = { ...base, idp_memberships: [] };
const org = seed.organizations[0]!;
const groupName = (g: number) => `devin-team-${String(g).padStart(4, '0')}`;
const directory: DirectoryFile = {
  users: Array.from({ length: USERS }, (_, i) => ({
    id: `u${i}`,
    email: `person${i}@corp.example`,
    name: `Person ${i}`,
  })),
  groups: Array.from({ length: GROUPS }, (_, g) => ({
    id: `g${g}`,
    name: groupName(g),
    members: Array.from({ length: USERS / GROUPS }, (_, k) => `u${g * (USERS / GROUPS) + k}`),
  })),
};

/**
 * The fewest Devin calls the initial sync can make: one read per page of every listing the
 * snapshot needs (200 items a page), then invites ⌈n/100⌉ per role, registrations ⌈g/100⌉, one
 * call per group role mapping (enterprise + org), one per org membership.
 */
function minimumCalls(): { reads: number; writes: number; total: number } {
  const reads =
    1 /* orgs */ +
    1 /* roles */ +
    pages(seed.users.length) +
    pages(seed.idp_groups.length) +
    pages(0) +
    ORGS * (pages(0) + pages(seed.users.filter((u) => u.org_roles[org.org_id]).length));
  const writes = Math.ceil(USERS / 100) + Math.ceil(GROUPS / 100) + GROUPS * 2 + USERS;
  return { reads, writes, total: reads + writes };
}

// ---- the benchmark --------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-e2e-'));
const redis = await startRedis();
const directoryFile = join(dir, 'directory.json');
writeFileSync(directoryFile, JSON.stringify(directory));
const stops: Array<() => Promise<unknown>> = [];
const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
const runs = new RunStore(conn, PREFIX);

try {
  const sim = await startSimulatorProcess(seed, LATENCY_MS, ['--admin']);
  stops.push(sim.stop);
  const simUrl = sim.url;
  const simRequests = async (): Promise<RequestLogEntry[]> =>
    ((await (await fetch(`${simUrl}/_sim/requests`)).json()) as { entries: RequestLogEntry[] }).entries;

  const port = await freePort();
  const configFile = join(dir, 'idsync.yaml');
  writeFileSync(
    configFile,
    `source: { type: file, path: ./directory.json }
devin:
  baseUrl: ${simUrl}
  token: ${TOKEN}
  maxRequestsPerSecond: 0
  maxConcurrency: ${DEVIN_CONCURRENCY}
mappings:
  - group: { pattern: "devin-team-*" }
    enterpriseRole: account_member
    orgs: [ { org: "${org.name}", role: org_member } ]
    provisionUsers: true
scope: { emailDomains: [corp.example], groupNamePattern: "devin-*", deprovision: remove, adopt: matching }
mode: auto
redis: { url: ${redis.url} }
server: { host: 127.0.0.1, port: ${port}, webhookSecret: ${WEBHOOK_SECRET}, adminToken: ${ADMIN_TOKEN} }
`,
  );

  // (1) Initial sync: `idsync run` starts with a run of its own (trigger "startup").
  const t0 = performance.now();
  const daemon = spawnIdsync([
    'run',
    '--config',
    configFile,
    '--prefix',
    PREFIX,
    '--concurrency',
    String(OP_CONCURRENCY),
  ]);
  stops.push(() => stopChild(daemon));
  const until = (pred: () => Promise<RunRecord | undefined>, timeoutMs: number): Promise<RunRecord> =>
    untilWhileRunning(daemon, pred, 'a run to finish', timeoutMs);
  const finished = (r: RunRecord | undefined) =>
    r && ['succeeded', 'partial', 'failed', 'awaiting-approval'].includes(r.status) ? r : undefined;
  const initial = await until(async () => finished((await runs.list(1))[0]), 300_000);
  const wall = (performance.now() - t0) / 1000;
  const runSeconds = (Date.parse(initial.finishedAt ?? '') - Date.parse(initial.createdAt)) / 1000;
  const log = await simRequests();
  const made = log.length;
  const min = minimumCalls();
  const byRoute = new Map<string, number>();
  for (const e of log)
    byRoute.set(`${e.method} ${e.route}`, (byRoute.get(`${e.method} ${e.route}`) ?? 0) + 1);

  console.log(
    `initial sync: ${USERS} users, ${GROUPS} groups, 1 org mapping; Devin at ${LATENCY_MS} ms latency`,
  );
  console.log(
    `  run ${initial.id}: ${initial.status}, ${initial.plan?.ops} ops ${JSON.stringify(initial.plan?.summary)}`,
  );
  console.log(`  op results: ${JSON.stringify(initial.opCounts)}`);
  console.log(
    `  wall time: ${wall.toFixed(1)} s from starting \`idsync run\` (the run itself: ${runSeconds.toFixed(1)} s)   goal ≤ 60 s`,
  );
  console.log(
    `  Devin API calls: ${made} made; minimum ${min.total} (${min.reads} snapshot reads + ${min.writes} writes); ${(made / min.total).toFixed(3)}x`,
  );
  for (const [route, n] of [...byRoute].sort((a, b) => b[1] - a[1]))
    console.log(`    ${String(n).padStart(6)}  ${route}`);

  // (2) Webhook to converged.
  const trials: number[] = [];
  let trialReqs = 0;
  for (let k = 0; k < TRIALS; k++) {
    const before = (await simRequests()).length;
    const email = `newhire${k}@corp.example`;
    const edited = structuredClone(directory);
    for (let j = 0; j <= k; j++) {
      edited.users.push({ id: `new${j}`, email: `newhire${j}@corp.example`, name: `New hire ${j}` });
      const group = edited.groups[j];
      if (group) group.members = [...(group.members ?? []), `new${j}`];
    }
    writeFileSync(directoryFile, JSON.stringify(edited));
    const sent = performance.now();
    const runId = await postResync(port, WEBHOOK_SECRET, `bench trial ${k}`);
    // Devin shows the change: the new hire holds the org role the mapping grants.
    const polls = await untilOrgRole(
      { simUrl, token: TOKEN, orgId: org.org_id, email, roleId: 'org_member' },
      60_000,
    );
    trials.push((performance.now() - sent) / 1000);
    await until(async () => finished(await runs.get(runId)), 60_000);
    trialReqs += (await simRequests()).length - before - polls;
  }
  console.log(`\nwebhook → Devin shows the change, ${TRIALS} trials (one new user in a mapped group each):`);
  console.log(
    `  p50 ${pct(trials, 50).toFixed(2)} s   p95 ${pct(trials, 95).toFixed(2)} s   max ${Math.max(...trials).toFixed(2)} s   goal p95 ≤ 10 s`,
  );
  console.log(
    `  per trial: ${(trialReqs / TRIALS).toFixed(1)} Devin calls on average, the bench's own polls not counted (the first trial after the initial sync reads Devin in full: its 10,000 invites left every user to look up; the others plan against the daemon's copy of Devin, docs/incremental.md)`,
  );

  const code = await stopChild(daemon);
  console.log(`\n\`idsync run\` stopped on SIGTERM with exit code ${code}`);
  console.log(
    '\nmethod: simulator and daemon are separate node processes (tsx) with a private redis-server, all on',
  );
  console.log(
    `this machine. One \`idsync run\` (op concurrency ${OP_CONCURRENCY}, devin.maxConcurrency ${DEVIN_CONCURRENCY},`,
  );
  console.log(
    "no request budget). Wall time runs from spawning the daemon to the startup run's record being final",
  );
  console.log(
    "in Redis. Calls are counted by the simulator's request log. Each trial rewrites the directory file,",
  );
  console.log(
    'sends a signed webhook, and polls the simulator (GET org members ?email=, every 20 ms) until the new',
  );
  console.log('user holds the org role; the next trial starts once that run has finished.');
} finally {
  for (const stop of stops.reverse()) await stop();
  conn.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}

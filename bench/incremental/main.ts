// bench/incremental: what one change costs at 100,000 users. `idsync simulator --latency 20` and
// `idsync run` as child processes, a private redis-server, the default request budget
// (devin.maxRequestsPerSecond 10). Devin starts already in step with the directory (seeded, and the
// ledger owns it), so the daemon's startup run is one full read. Then, per trial, one new user in a
// mapped group and a signed POST /webhooks/resync, until Devin shows the user in the org:
//   incremental  the run plans against the daemon's copy of Devin (the default), 20 trials;
//   full         the same, after requestFullReconcile(): the run reads every listing, 3 trials
//                (each takes minutes at 10 requests a second).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { requestFullReconcile } from '../../src/daemon/fullReconcile.js';
import { RunStore } from '../../src/daemon/runStore.js';
import type { RunRecord } from '../../src/daemon/types.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import {
  ALL_PERMISSIONS,
  BUILTIN_ROLES,
  type RequestLogEntry,
  type SimulatorSeed,
} from '../../src/simulator/index.js';
import { emailKey, groupRoleKey } from '../../src/state/ledger.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
import { freePort, startRedis } from '../../test/support/redis.js';
import {
  postResync,
  spawnIdsync,
  startSimulatorProcess,
  stopChild,
  untilOrgRole,
  untilWhileRunning,
} from '../support/processes.js';

// BENCH_USERS (a multiple of GROUPS) runs it smaller, to try it out.
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const GROUPS = 2_000;
const ORGS = 10;
const INCREMENTAL_TRIALS = 20;
const FULL_TRIALS = Number(process.env.BENCH_FULL_TRIALS ?? 3);
const LATENCY_MS = 20;
const TOKEN = 'cog_bench_incremental_token';
const WEBHOOK_SECRET = 'bench-incremental-webhook-secret';
const ADMIN_TOKEN = 'bench-incremental-admin-token';
const PREFIX = 'benchinc';
const GOAL_P95_S = 3;
const GOAL_CALLS = 10;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const groupName = (g: number) => `devin-team-${String(g).padStart(4, '0')}`;
const per = USERS / GROUPS;

// ---- a company already in step with Devin ------------------------------------------------------------

const orgs = Array.from({ length: ORGS }, (_, i) => ({
  org_id: `org-bench-${i}`,
  name: `Org ${i}`,
  created_at: 1700000000,
  updated_at: 1700000000,
  max_session_acu_limit: null,
  max_cycle_acu_limit: null,
}));
const org = orgs[0] as (typeof orgs)[number];
const email = (i: number) => `person${i}@corp.example`;
const directory: DirectoryFile = {
  users: Array.from({ length: USERS }, (_, i) => ({ id: `u${i}`, email: email(i), name: `Person ${i}` })),
  groups: Array.from({ length: GROUPS }, (_, g) => ({
    id: `g${g}`,
    name: groupName(g),
    members: Array.from({ length: per }, (_, k) => `u${g * per + k}`),
  })),
};
const seed: SimulatorSeed = {
  tokens: [
    {
      token: TOKEN,
      principal_type: 'service_user',
      service_user_id: 'svc-bench',
      service_user_name: 'idsync bench',
      org_id: null,
      permissions: [...ALL_PERMISSIONS],
    },
  ],
  organizations: orgs,
  roles: BUILTIN_ROLES,
  users: [
    {
      user_id: 'admin-1',
      email: 'admin@corp.example',
      name: 'Admin',
      enterprise_role_id: 'account_admin',
      org_roles: {},
      enterprise_joined_at: null,
    },
    ...Array.from({ length: USERS }, (_, i) => ({
      user_id: `dv-${i}`,
      email: email(i),
      name: `Person ${i}`,
      enterprise_role_id: 'account_member',
      org_roles: { [org.org_id]: 'org_member' },
      enterprise_joined_at: null,
    })),
  ],
  idp_groups: Array.from({ length: GROUPS }, (_, g) => groupName(g)),
  group_mappings: Array.from({ length: GROUPS }, (_, g) => [
    { idp_group_name: groupName(g), org_id: null, role_id: 'account_member' },
    { idp_group_name: groupName(g), org_id: org.org_id, role_id: 'org_member' },
  ]).flat(),
  idp_memberships: [],
};

/** Each idsync_phase_duration_seconds histogram's sum and count, by phase. */
async function phaseTotals(port: number): Promise<Map<string, { sum: number; count: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, { sum: number; count: number }>();
  for (const m of text.matchAll(/^idsync_phase_duration_seconds_(sum|count)\{phase="([^"]+)"\} (\S+)$/gm)) {
    const e = out.get(m[2] as string) ?? { sum: 0, count: 0 };
    e[m[1] as 'sum' | 'count'] = Number(m[3]);
    out.set(m[2] as string, e);
  }
  return out;
}

// ---- the benchmark ------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-incremental-'));
const redis = await startRedis();
const directoryFile = join(dir, 'directory.json');
writeFileSync(directoryFile, JSON.stringify(directory));
const stops: Array<() => Promise<unknown>> = [];
const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
const runs = new RunStore(conn, PREFIX);

try {
  await new RedisStateStore(conn, PREFIX).replace({
    version: 1,
    users: directory.users.map((u) => emailKey(u.email as string)),
    groups: directory.groups.map((g) => g.name),
    groupRoles: directory.groups.flatMap((g) => [
      groupRoleKey(g.name, null),
      groupRoleKey(g.name, org.org_id),
    ]),
  });
  const sim = await startSimulatorProcess(seed, LATENCY_MS, ['--admin']);
  stops.push(sim.stop);
  const simCount = async (): Promise<number> =>
    ((await (await fetch(`${sim.url}/_sim/requests`)).json()) as { entries: RequestLogEntry[] }).entries
      .length;

  const port = await freePort();
  const configFile = join(dir, 'idsync.yaml');
  writeFileSync(
    configFile,
    `source: { type: file, path: ./directory.json }
devin:
  baseUrl: ${sim.url}
  token: ${TOKEN}
mappings:
  - group: { pattern: "devin-team-*" }
    enterpriseRole: account_member
    orgs: [ { org: "${org.name}", role: org_member } ]
    provisionUsers: true
scope: { emailDomains: [corp.example], groupNamePattern: "devin-*", deprovision: remove, adopt: matching }
guardrails: { maxSourceShrinkPercent: 100 }
mode: auto
redis: { url: ${redis.url} }
server: { host: 127.0.0.1, port: ${port}, webhookSecret: ${WEBHOOK_SECRET}, adminToken: ${ADMIN_TOKEN} }
`,
  );

  const t0 = performance.now();
  const daemon = spawnIdsync(['run', '--config', configFile, '--prefix', PREFIX]);
  stops.push(() => stopChild(daemon));
  const until = (pred: () => Promise<RunRecord | undefined>, timeoutMs: number): Promise<RunRecord> =>
    untilWhileRunning(daemon, pred, 'a run to finish', timeoutMs);
  const finished = (r: RunRecord | undefined) =>
    r && ['succeeded', 'partial', 'failed', 'blocked', 'awaiting-approval'].includes(r.status)
      ? r
      : undefined;
  const startup = await until(async () => finished((await runs.list(1))[0]), 900_000);
  const startupCalls = await simCount();
  console.log(
    `${USERS} users in ${GROUPS} mapped groups, ${ORGS} orgs; Devin in step already; simulator at ${LATENCY_MS} ms; default budget (10 requests/s)`,
  );
  console.log(
    `startup run (a full read): ${startup.status}, ${startup.plan?.ops} ops, ${((performance.now() - t0) / 1000).toFixed(1)} s from spawning the daemon, ${startupCalls} Devin calls`,
  );

  let added = 0;
  const trial = async (full: boolean): Promise<{ seconds: number; calls: number; kind: string }> => {
    if (full) await requestFullReconcile(conn, PREFIX, 'bench: the full path');
    const k = added++;
    const newEmail = `newhire${k}@corp.example`;
    directory.users.push({ id: `new${k}`, email: newEmail, name: `New hire ${k}` });
    const group = directory.groups[k % GROUPS];
    if (group) group.members = [...(group.members ?? []), `new${k}`];
    writeFileSync(directoryFile, JSON.stringify(directory));
    const before = await simCount();
    const sent = performance.now();
    const runId = await postResync(port, WEBHOOK_SECRET, `bench trial ${k}`);
    const polls = await untilOrgRole(
      { simUrl: sim.url, token: TOKEN, orgId: org.org_id, email: newEmail, roleId: 'org_member' },
      600_000,
    );
    const seconds = (performance.now() - sent) / 1000;
    await until(async () => finished(await runs.get(runId)), 600_000);
    const plan = JSON.parse((await runs.report(runId, 'json')) ?? '{}') as { devinRead?: { kind: string } };
    return { seconds, calls: (await simCount()) - before - polls, kind: plan.devinRead?.kind ?? '?' };
  };

  const results: Record<'incremental' | 'full', Array<{ seconds: number; calls: number; kind: string }>> = {
    incremental: [],
    full: [],
  };
  // Where an incremental run's time goes: the daemon's own phase histograms, before and after.
  const phasesBefore = await phaseTotals(port);
  for (let i = 0; i < INCREMENTAL_TRIALS; i++) results.incremental.push(await trial(false));
  const phasesAfter = await phaseTotals(port);
  const phases = [...phasesAfter]
    .map(([phase, a]) => {
      const b = phasesBefore.get(phase) ?? { sum: 0, count: 0 };
      return a.count > b.count ? `${phase} ${((a.sum - b.sum) / (a.count - b.count)).toFixed(2)} s` : '';
    })
    .filter(Boolean)
    .join(', ');
  for (let i = 0; i < FULL_TRIALS; i++) results.full.push(await trial(true));

  console.log('\none membership change → webhook → Devin shows the user in the org:');
  console.log('  path          trials   p50       p95       max       Devin calls per change   run kinds');
  for (const path of ['incremental', 'full'] as const) {
    const r = results[path];
    if (r.length === 0) continue;
    const s = r.map((x) => x.seconds);
    const calls = r.map((x) => x.calls);
    const kinds = [...new Set(r.map((x) => x.kind))].join(',');
    console.log(
      `  ${path.padEnd(12)}  ${String(r.length).padStart(6)}   ${pct(s, 50).toFixed(2).padStart(6)} s  ${pct(s, 95).toFixed(2).padStart(6)} s  ${Math.max(
        ...s,
      )
        .toFixed(2)
        .padStart(
          6,
        )} s  ${(calls.reduce((a, b) => a + b, 0) / r.length).toFixed(1).padStart(8)} (max ${Math.max(...calls)})           ${kinds}`,
    );
  }
  console.log(`  an incremental run's phases (means, the daemon's idsync_phase_duration_seconds): ${phases}`);
  const inc = results.incremental;
  console.log(
    `  goal: p95 ≤ ${GOAL_P95_S} s and ≤ ${GOAL_CALLS} Devin calls per change (incremental): p95 ${pct(
      inc.map((x) => x.seconds),
      95,
    ).toFixed(2)} s, max ${Math.max(...inc.map((x) => x.calls))} calls`,
  );
  console.log(
    '\nmethod: simulator, daemon and bench are separate node processes with a private redis-server on this',
  );
  console.log(
    'machine. Calls are the simulator request log between the webhook and the run being final, minus the',
  );
  console.log(
    "bench's own polls (GET org members ?email= every 20 ms until the new user holds the org role). Each trial",
  );
  console.log('adds one more new user to one mapped group and rewrites the 100k-user directory file.');
} finally {
  for (const stop of stops.reverse()) await stop();
  conn.disconnect();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}

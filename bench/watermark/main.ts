// bench/watermark: change detection without webhooks, end to end. A private slapd (syncprov, so the
// suffix offers contextCSN) loaded with 100,000 users and 2,000 groups (bench/ldap-read's LDIF and
// slapd), the Devin simulator at 20 ms latency and `idsync run` with `source.watch`, as separate
// processes. Each trial adds one user to the mapped group in slapd (an LDAP modify, no webhook) and
// times until Devin shows the user; 20 trials, p50/p95, at the default interval (5 s) and debounce
// (1 s), with push (source.watch.push: auto, slapd's syncprov tells of the change and the poller
// polls at once) and poll-only (push: off), one after the other on the same directory, printed
// side by side. Last, counted by a decoding proxy: the LDAP operations of an idle poll, and of an
// idle minute with push on and off.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Attribute, Change, Client } from 'ldapts';
import { RunStore } from '../../src/daemon/runStore.js';
import { FINAL_RUN_STATUSES, NO_METRICS, type RunRecord } from '../../src/daemon/types.js';
import { WatermarkPoller } from '../../src/daemon/watermark.js';
import { resolveSettings } from '../../src/directory/ldap/profiles.js';
import { describeOffer, WatermarkReader } from '../../src/directory/ldap/watermark.js';
import { silentLogger } from '../../src/log/logger.js';
import { generateSeed, type RequestLogEntry, type SimulatorSeed } from '../../src/simulator/index.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { type LdapProxy, startLdapProxy } from '../../test/support/ldapProxy.js';
import { freePort, startRedis } from '../../test/support/redis.js';
import { GROUPS, generateLdif, PEOPLE } from '../ldap-read/generate.js';
import { preload, ROOT_DN, ROOT_PW, startSlapd } from '../ldap-read/slapd.js';
import { spawnIdsync, startSimulatorProcess, stopChild } from '../support/processes.js';

const USERS = 100_000;
const GROUP_COUNT = 2_000;
const TRIALS = 20;
const LATENCY_MS = 20;
const TOKEN = 'cog_bench_watermark_token';
// Not a multiple of 10: bench/ldap-read nests groups only into those, so its members are all direct.
const MAPPED = 'group0101';
const GOAL_P95_S = 5;
const SETTINGS = [
  { intervalMs: 5_000, debounceMs: 1_000, push: 'auto', label: 'push (auto)' },
  { intervalMs: 5_000, debounceMs: 1_000, push: 'off', label: 'poll only (push: off)' },
] as const;
const IDLE_MINUTE_MS = 60_000;

const uid = (i: number) => `user${String(i).padStart(6, '0')}`;
const userDn = (i: number) => `uid=${uid(i)},${PEOPLE}`;
const mail = (i: number) => `${uid(i)}@example.com`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s2 = (x: number) => `${x.toFixed(2)} s`;

const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-watermark-'));
const stops: Array<() => Promise<unknown>> = [];
try {
  // ---- the directory ----------------------------------------------------------------------------------
  let t = performance.now();
  const ldif = join(dir, 'directory.ldif');
  const generated = await generateLdif(ldif, USERS, GROUP_COUNT);
  const loaded = await preload(join(dir, 'slapd'), ldif, { syncprov: true });
  const slapd = await startSlapd(join(dir, 'slapd'));
  stops.push(slapd.stop);
  rmSync(ldif, { force: true });
  console.log(
    `slapd (syncprov): ${generated.users} users, ${generated.groups} groups, ${generated.userMemberships} memberships; generated and loaded in ${s2((performance.now() - t) / 1000)} (slapadd ${s2(loaded.slapaddMs / 1000)})`,
  );

  const ldap = new Client({ url: slapd.url, timeout: 30_000 });
  await ldap.bind(ROOT_DN, ROOT_PW);
  stops.push(() => ldap.unbind());
  const groupDn = `cn=${MAPPED},${GROUPS}`;
  const members = new Set(
    (await ldap.search(groupDn, { scope: 'base', attributes: ['member'] })).searchEntries
      .flatMap((e) => (Array.isArray(e.member) ? e.member : [e.member]))
      .map(String),
  );

  // ---- Redis, Devin ------------------------------------------------------------------------------------
  const redis = await startRedis();
  stops.push(() => redis.stop());
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  stops.push(async () => conn.disconnect());
  const base = generateSeed({ users: 2, groups: 0, orgs: 2, token: TOKEN });
  const seed: SimulatorSeed = { ...base, idp_memberships: [] };
  const sim = await startSimulatorProcess(seed, LATENCY_MS, ['--admin']);
  stops.push(sim.stop);
  const devinHas = async (email: string): Promise<boolean> => {
    // /_sim/state is not in the request log: the counts below are the daemon's own calls.
    const state = (await (await fetch(`${sim.url}/_sim/state`)).json()) as SimulatorSeed;
    return state.users.some((u) => u.email === email);
  };
  const simRequests = async (): Promise<RequestLogEntry[]> =>
    ((await (await fetch(`${sim.url}/_sim/requests`)).json()) as { entries: RequestLogEntry[] }).entries;

  const rnd = mulberry32(7);
  let next = 60_001;
  const results: Array<{
    label: string;
    p50: number;
    p95: number;
    max: number;
    toRun: number;
    run: number;
    read: number;
    calls: number;
    incremental: number;
  }> = [];

  for (const [round, w] of SETTINGS.entries()) {
    const prefix = `bench${round}`;
    const runs = new RunStore(conn, prefix);
    const port = await freePort();
    const configFile = join(dir, `idsync-${round}.yaml`);
    writeFileSync(
      configFile,
      `source:
  type: ldap
  profile: openldap
  url: ${slapd.url}
  bindDN: ${ROOT_DN}
  bindPasswordFile: root.pw
  userBase: ${PEOPLE}
  groupBase: ${GROUPS}
  pageSize: 1000
  watch: { intervalMs: ${w.intervalMs}, debounceMs: ${w.debounceMs}, push: ${w.push} }
devin:
  baseUrl: ${sim.url}
  token: ${TOKEN}
mappings:
  - group: { name: ${MAPPED} }
    enterpriseRole: account_member
    provisionUsers: true
scope: { emailDomains: [example.com], groupNamePattern: "group*", deprovision: remove, adopt: matching }
mode: auto
redis: { url: ${redis.url} }
server: { host: 127.0.0.1, port: ${port}, adminToken: bench-admin-token }
`,
    );
    writeFileSync(join(dir, 'root.pw'), ROOT_PW);
    t = performance.now();
    // At info: the incremental source logs the kind of each LDAP read, which the trials print.
    const daemon = spawnIdsync(['run', '--config', configFile, '--prefix', prefix], {
      IDSYNC_LOG_LEVEL: 'info',
    });
    // Which kind of LDAP read each run made (the incremental source logs one line per read).
    const readKinds: string[] = [];
    // The poller's line saying push is on (or why not).
    let pushLine = 'no watch push line logged';
    let partial = '';
    daemon.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const pushed = /"msg":"(watch push: [^"]*)"/.exec(line)?.[1];
        if (pushed) pushLine = pushed;
        const m = /"read":"(full|incremental)"(?:,"why":"((?:[^"\\]|\\.)*)")?/.exec(line);
        // The incremental read's own steps in ms (watermark, cache, changed ids, listing).
        const steps = /"ms":(\{[^}]*\})/.exec(line)?.[1];
        if (m)
          readKinds.push(m[2] === undefined ? `${m[1]}${steps ? ` ${steps}` : ''}` : `${m[1]} (${m[2]})`);
      }
    });
    const stopDaemon = () => stopChild(daemon);
    stops.push(stopDaemon);
    const idle = async (timeoutMs: number): Promise<RunRecord[]> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const list = await runs.list(50);
        if (list.length > 0 && list.every((r) => FINAL_RUN_STATUSES.has(r.status))) return list;
        if (daemon.exitCode !== null) throw new Error(`idsync run exited with ${daemon.exitCode}`);
        if (Date.now() > deadline) throw new Error('timed out waiting for the runs to finish');
        await sleep(100);
      }
    };
    // The startup run, and the watch's first-reading run if it did not join it.
    await idle(300_000);
    await sleep(w.intervalMs + w.debounceMs + 500);
    const startup = await idle(300_000);
    console.log(
      `\n[${w.label}, interval ${w.intervalMs / 1000} s, debounce ${w.debounceMs / 1000} s] idsync run up and synced in ${s2((performance.now() - t) / 1000)} (${startup.length} run(s): ${startup.map((r) => `${r.trigger} ${r.status}`).join(', ')})`,
    );

    console.log(`  reads so far: ${readKinds.splice(0).join(', ') || 'none logged'}`);
    console.log(`  ${pushLine}`);
    const trials: number[] = [];
    const kindsByTrial: string[] = [];
    const toRun: number[] = [];
    const runTime: number[] = [];
    let calls = 0;
    for (let k = 0; k < TRIALS; k++) {
      while (members.has(userDn(next)) || (await devinHas(mail(next)))) next++;
      const u = next++;
      members.add(userDn(u));
      // A random phase against the poll timer, as a real change has.
      await sleep(Math.floor(rnd() * w.intervalMs));
      const before = (await simRequests()).length;
      const knownRuns = new Set((await runs.list(50)).map((r) => r.id));
      await ldap.modify(
        groupDn,
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'member', values: [userDn(u)] }),
        }),
      );
      const changedAt = Date.now();
      const t0 = performance.now();
      while (!(await devinHas(mail(u)))) {
        if (performance.now() - t0 > 120_000)
          throw new Error(`trial ${k}: ${mail(u)} not in Devin after 120 s`);
        await sleep(20);
      }
      trials.push((performance.now() - t0) / 1000);
      const done = await idle(120_000);
      const run = done.find((r) => !knownRuns.has(r.id) && r.trigger === 'watch');
      if (run) {
        toRun.push((Date.parse(run.createdAt) - changedAt) / 1000);
        if (run.startedAt && run.finishedAt)
          runTime.push((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
      }
      calls += (await simRequests()).length - before;
      kindsByTrial.push(readKinds.splice(0).join('+') || 'none');
      console.log(`    trial ${k + 1}: ${s2(trials[k] as number)}, read: ${kindsByTrial[k]}`);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sum = Number(
      /idsync_phase_duration_seconds_sum\{phase="read-source"\} ([\d.e+-]+)/.exec(metrics)?.[1],
    );
    const count = Number(
      /idsync_phase_duration_seconds_count\{phase="read-source"\} (\d+)/.exec(metrics)?.[1],
    );
    const polls = [...metrics.matchAll(/idsync_ldap_watermark_polls_total\{outcome="(\w+)"\} (\d+)/g)]
      .map((m) => `${m[1]} ${m[2]}`)
      .join(', ');
    const p95 = pct(trials, 95);
    console.log(`  one member added in slapd → Devin shows the user, ${TRIALS} trials:`);
    console.log(
      `    p50 ${s2(pct(trials, 50))}   p95 ${s2(p95)}   max ${s2(Math.max(...trials))}   goal p95 ≤ ${GOAL_P95_S} s: ${p95 <= GOAL_P95_S ? 'met' : 'missed'}`,
    );
    const floor =
      w.push === 'auto'
        ? `the push and a debounce; floor ${s2(w.debounceMs / 1000)}`
        : `poll phase + debounce; floor ${s2(w.intervalMs / 2000 + w.debounceMs / 1000)} mean, ${s2((0.95 * w.intervalMs + w.debounceMs) / 1000)} p95`;
    console.log(
      `    of which, on average: change → watch run queued ${s2(mean(toRun))} (${floor}), the run itself ${s2(mean(runTime))}, of it the LDAP read ${s2(sum / Math.max(1, count))} (mean over ${count} runs)`,
    );
    console.log(
      `    Devin calls per change: ${(calls / TRIALS).toFixed(1)}; watermark polls so far: ${polls}`,
    );
    const incrementalTrials = kindsByTrial.filter((k) => /^incremental( \{[^}]*\})?$/.test(k)).length;
    console.log(`    LDAP reads: ${incrementalTrials} of ${TRIALS} trials read incrementally only`);
    results.push({
      label: w.label,
      p50: pct(trials, 50),
      p95,
      max: Math.max(...trials),
      toRun: mean(toRun),
      run: mean(runTime),
      read: sum / Math.max(1, count),
      calls: calls / TRIALS,
      incremental: incrementalTrials,
    });
    await stopDaemon();
    stops.splice(stops.indexOf(stopDaemon), 1);
  }

  // ---- an idle poll, counted --------------------------------------------------------------------------
  const proxy = await startLdapProxy(slapd.url);
  stops.push(() => proxy.close());
  const settingsBase = {
    type: 'ldap' as const,
    url: proxy.url,
    bindDN: ROOT_DN,
    bindPassword: ROOT_PW,
    profile: 'openldap' as const,
    userBase: PEOPLE,
    groupBase: GROUPS,
    insecureSkipVerify: false,
  };
  const settings = resolveSettings(settingsBase);
  const reader = new WatermarkReader(settings, { logger: silentLogger });
  let last = await reader.read();
  const mark = proxy.requests.length;
  const readMs: number[] = [];
  const IDLE_POLLS = 50;
  for (let i = 0; i < IDLE_POLLS; i++) {
    const t1 = performance.now();
    last = await reader.read(last);
    readMs.push(performance.now() - t1);
  }
  const idleOps = proxy.requests.slice(mark);
  const kinds = new Map<string, number>();
  for (const r of idleOps) {
    const k = `${r.op}${r.scope ? ` scope=${r.scope}` : ''}${r.base !== undefined ? ` base="${r.base}"` : ''}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  const offer = reader.offer ? describeOffer(reader.offer) : 'no watermark';
  console.log(`\nidle poll (${IDLE_POLLS} polls through a decoding proxy): ${offer}`);
  console.log(
    `  LDAP operations per idle poll: ${(idleOps.length / IDLE_POLLS).toFixed(2)} (${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')})   goal 1 base-scope read`,
  );
  console.log(
    `  one poll's read: p50 ${pct(readMs, 50).toFixed(2)} ms, p95 ${pct(readMs, 95).toFixed(2)} ms; plus one Redis EVAL (the lease) per poll`,
  );
  await reader.close();

  // ---- an idle minute, push on and off, side by side ------------------------------------------------
  // Two pollers (prefixes of their own, so each holds its lease), each through its own decoding
  // proxy, idle for a minute once push is up: the polls, and with push its search's liveness read.
  const idleMinute = async (
    push: 'auto' | 'off',
  ): Promise<{ ops: number; kinds: string; connections: number }> => {
    const p: LdapProxy = await startLdapProxy(slapd.url);
    const poller = new WatermarkPoller({
      settings: resolveSettings({ ...settingsBase, url: p.url }),
      watch: { enabled: true, intervalMs: 5_000, debounceMs: 1_000, push },
      redis: conn,
      prefix: `idle-${push}`,
      logger: silentLogger,
      metrics: NO_METRICS,
      trigger: async () => ({ runId: 'idle', coalesced: false }),
    });
    try {
      poller.start();
      const deadline = Date.now() + 30_000;
      while (push === 'auto' ? !poller.status().push.active : poller.status().last === undefined) {
        if (Date.now() > deadline) throw new Error(`the idle poller (push ${push}) did not start`);
        await sleep(50);
      }
      await sleep(2_000); // the first reading's run, asked for after its debounce
      const mark = p.requests.length;
      await sleep(IDLE_MINUTE_MS);
      const ops = p.requests.slice(mark);
      const byKind = new Map<string, number>();
      for (const r of ops) {
        const k = `${r.op}${r.scope ? ` scope=${r.scope}` : ''}${r.base !== undefined ? ` base="${r.base}"` : ''}`;
        byKind.set(k, (byKind.get(k) ?? 0) + 1);
      }
      return {
        ops: ops.length,
        kinds: [...byKind].map(([k, n]) => `${n}× ${k}`).join('; '),
        connections: p.openConnections(),
      };
    } finally {
      await poller.stop();
      await p.close();
    }
  };
  const [idlePush, idlePoll] = await Promise.all([idleMinute('auto'), idleMinute('off')]);
  console.log('\nan idle minute at the default interval (5 s), through decoding proxies:');
  console.log(
    `  push on:  ${idlePush.ops} LDAP operations (${idlePush.kinds}), ${idlePush.connections} connections open`,
  );
  console.log(
    `  push off: ${idlePoll.ops} LDAP operations (${idlePoll.kinds}), ${idlePoll.connections} connection open`,
  );

  console.log(`\nsummary, side by side (interval 5 s, debounce 1 s, ${TRIALS} trials each):`);
  const row = (name: string, cells: string[]) =>
    console.log(`  ${name.padEnd(36)}${cells.map((c) => c.padEnd(24)).join('')}`);
  const col = (f: (r: (typeof results)[number]) => string) => results.map(f);
  row(
    '',
    col((r) => r.label),
  );
  row(
    'change → Devin p50',
    col((r) => s2(r.p50)),
  );
  row(
    `change → Devin p95 (goal ≤ ${GOAL_P95_S} s)`,
    col((r) => `${s2(r.p95)} ${r.p95 <= GOAL_P95_S ? 'met' : 'missed'}`),
  );
  row(
    'change → Devin max',
    col((r) => s2(r.max)),
  );
  row(
    'change → run queued (mean)',
    col((r) => s2(r.toRun)),
  );
  row(
    'the run (mean)',
    col((r) => s2(r.run)),
  );
  row(
    'of it the LDAP read (mean)',
    col((r) => s2(r.read)),
  );
  row(
    'Devin calls per change',
    col((r) => r.calls.toFixed(1)),
  );
  row(
    'trials read incrementally only',
    col((r) => `${r.incremental} of ${TRIALS}`),
  );
  row('LDAP operations per idle minute', [String(idlePush.ops), String(idlePoll.ops)]);
  row('LDAP operations per idle poll', [
    `${(idleOps.length / IDLE_POLLS).toFixed(2)} (the same poll both ways)`,
  ]);
  console.log(
    `\nmethod: slapd, the simulator (${LATENCY_MS} ms per request, default request budget) and \`idsync run\` are separate`,
  );
  console.log(
    `processes on this machine with a private redis-server. Devin holds only the mapped group ${MAPPED}'s members, so a run`,
  );
  console.log(
    'reads only what changed in LDAP (the daemon keeps the last snapshot) and a small Devin. Each trial waits a random part of one interval,',
  );
  console.log(
    'adds one user to the group with an LDAP modify (no webhook), and polls /_sim/state every 20 ms until Devin has the',
  );
  console.log(
    "user; Devin calls are the simulator's request log (the bench's own polling is not logged). The two settings run one after",
  );
  console.log(
    'the other against the same slapd, each with an `idsync run` of its own (a full read at its start).',
  );
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

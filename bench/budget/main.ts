// bench/budget: the adaptive request budget against a Devin that throttles without saying how much.
// `idsync simulator --latency 20 --rate-limit L` (a hidden token bucket: L requests/s, one second of
// burst, 429 with Retry-After in seconds beyond it) and an initial sync by `idsync apply`, as child
// processes, with devin.maxRequestsPerSecond 100, well above every L, so that what the budget learns
// is what counts. For L = 3, 5, 10, 20 and 50/s, side by side: the adaptive budget (the default) and
// the fixed one (adaptiveRate: false, the old behaviour: always the ceiling). Then the same sync twice
// in this process on one budget: a first run, and a second that starts from the rate the first
// learned, as the daemon's runs do (it keeps the budget in Redis). Goals for the adaptive path:
// throughput ≥ 90 % of the limit, ≤ 2 % of requests answered 429.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executePlan } from '../../src/apply/inline/index.js';
import { loadConfig } from '../../src/config/index.js';
import { type BudgetStore, LocalBudgetStore } from '../../src/devin/budget.js';
import { DevinClient } from '../../src/devin/client.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { generateSeed, type RequestLogEntry } from '../../src/simulator/index.js';
import {
  directorySourceFor,
  planFromInputs,
  readPlanInputs,
  selectorsOf,
  stateStoreFor,
} from '../../src/sync/inputs.js';
import { ROOT, startSimulatorProcess } from '../support/processes.js';

// BENCH_BUDGET_LIMITS=20 runs one limit only (for a quick look); BENCH_BUDGET_SECOND=0 leaves out the
// in-process first and second runs; BENCH_BUDGET_TIMELINE=1 prints each run's requests per second
// (let through/429) on stderr, which is how the losses were found.
const LIMITS = (process.env.BENCH_BUDGET_LIMITS ?? '3,5,10,20,50').split(',').map(Number);
const SECOND = process.env.BENCH_BUDGET_SECOND !== '0';
const CEILING = 100;
const LATENCY_MS = 20;
/** Each run should take about this long at the limit (the sync makes ~2 requests per user). */
const TARGET_SECONDS = 30;
const REQUESTS_PER_USER = 2;
const TOKEN = 'cog_bench_budget_token';

const base = generateSeed({ users: 2, groups: 0, orgs: 1, token: TOKEN });
const seed = { ...base, idp_memberships: [] };
const org = seed.organizations[0]!;

function directoryOf(users: number): DirectoryFile {
  const groups = 10;
  return {
    users: Array.from({ length: users }, (_, i) => ({
      id: `u${i}`,
      email: `person${i}@corp.example`,
      name: `Person ${i}`,
    })),
    groups: Array.from({ length: groups }, (_, g) => ({
      id: `g${g}`,
      name: `devin-team-${g}`,
      members: Array.from({ length: users }, (_, i) => i)
        .filter((i) => i % groups === g)
        .map((i) => `u${i}`),
    })),
  };
}

interface Outcome {
  requests: number;
  limited: number;
  /** Requests the simulator let through. */
  admitted: number;
  /** From the first request's arrival to the last one's answer. */
  spanS: number;
  wallS: number;
  exit: number | null;
  failedOps: number;
  ops: number;
}

/**
 * `idsync apply --yes --json` as its own process; stdout is the JSON result. Its stderr (progress,
 * and a warning per retried 429 on the fixed path) is kept and shown only if the apply broke.
 */
function apply(configFile: string, reportDir: string): Promise<{ exit: number | null; stdout: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      'apply',
      '--config',
      configFile,
      '--yes',
      '--json',
    ].concat(['--report-dir', reportDir]),
    { cwd: ROOT, env: { ...process.env, IDSYNC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.on('exit', (exit) => {
      // 0: applied; 1: some ops failed (reported in the table). Anything else is the bench's trouble.
      if (exit !== 0 && exit !== 1) process.stderr.write(stderr);
      resolve({ exit, stdout });
    }),
  );
}

/**
 * The same sync in this process, with a DevinClient on `budget`: what `idsync apply` does, minus the
 * reports and the prompt. One store for two runs is the learned rate kept between them.
 */
async function applyHere(
  configFile: string,
  budget: BudgetStore,
): Promise<{ exit: number | null; failedOps: number; ops: number }> {
  const config = await loadConfig(configFile);
  const client = new DevinClient({ ...config.devin, budget });
  const state = stateStoreFor(config);
  try {
    const inputs = await readPlanInputs(
      directorySourceFor(config.source, undefined, selectorsOf(config)),
      client,
      state,
    );
    const result = await executePlan(planFromInputs(config, inputs), { client, state });
    return { exit: result.ok ? 0 : 1, failedOps: result.counts.failed ?? 0, ops: result.results.length };
  } finally {
    client.close();
  }
}

/** `cli`: `idsync apply` as its own process; else in this process on that budget. */
type Runner = { kind: 'cli'; adaptive: boolean } | { kind: 'here'; tag: string; budget: BudgetStore };

async function run(
  simUrl: string,
  limit: number,
  dir: string,
  runner: Runner,
  users: number,
): Promise<Outcome> {
  const adaptive = runner.kind === 'here' || runner.adaptive;
  // The same Devin for both paths: the seed again, the log and the hidden bucket's counts cleared.
  await fetch(`${simUrl}/_sim/reset`, { method: 'POST' });
  await fetch(`${simUrl}/_sim/rate-limit`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ requestsPerSecond: limit }),
  });
  const tag = `${limit}-${runner.kind === 'here' ? runner.tag : adaptive ? 'adaptive' : 'fixed'}`;
  writeFileSync(join(dir, `directory-${tag}.json`), JSON.stringify(directoryOf(users)));
  const configFile = join(dir, `idsync-${tag}.yaml`);
  writeFileSync(
    configFile,
    `source: { type: file, path: ./directory-${tag}.json }
devin:
  baseUrl: ${simUrl}
  token: ${TOKEN}
  maxRequestsPerSecond: ${CEILING}
  adaptiveRate: ${adaptive}
  maxConcurrency: 4
mappings:
  - group: { pattern: "devin-team-*" }
    enterpriseRole: account_member
    orgs: [ { org: "${org.name}", role: org_member } ]
    provisionUsers: true
scope: { emailDomains: [corp.example], groupNamePattern: "devin-*", deprovision: remove, adopt: matching }
state: { file: ./state-${tag}.json }
`,
  );
  const t0 = performance.now();
  let exit: number | null;
  let failedOps = 0;
  let ops = 0;
  if (runner.kind === 'cli') {
    const out = await apply(configFile, join(dir, `reports-${tag}`));
    exit = out.exit;
    try {
      const result = JSON.parse(out.stdout) as { counts: Record<string, number>; results: unknown[] };
      failedOps = result.counts.failed ?? 0;
      ops = result.results.length;
    } catch {
      failedOps = Number.NaN;
    }
  } else {
    ({ exit, failedOps, ops } = await applyHere(configFile, runner.budget));
  }
  const wallS = (performance.now() - t0) / 1000;
  const log = ((await (await fetch(`${simUrl}/_sim/requests`)).json()) as { entries: RequestLogEntry[] })
    .entries;
  const stats = (await (await fetch(`${simUrl}/_sim/rate-limit`)).json()) as {
    admitted: number;
    limited: number;
  };
  const first = Math.min(...log.map((e) => e.at));
  const last = Math.max(...log.map((e) => e.at + e.durationMs));
  if (process.env.BENCH_BUDGET_TIMELINE) {
    // Per second from the first request: admitted/429s, and the routes of the 429s.
    const secs: string[] = [];
    for (let t = 0; t * 1000 <= last - first; t++) {
      const inSec = log.filter((e) => e.at - first >= t * 1000 && e.at - first < (t + 1) * 1000);
      const ok = inSec.filter((e) => e.status !== 429).length;
      const no = inSec.length - ok;
      secs.push(no > 0 ? `${ok}/${no}` : String(ok));
    }
    process.stderr.write(`${tag}: ${secs.join(' ')}\n`);
  }
  return {
    requests: log.length,
    limited: stats.limited,
    admitted: stats.admitted,
    spanS: (last - first) / 1000,
    wallS,
    exit,
    failedOps,
    ops,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const pad = (s: string, n: number) => s.padEnd(n);

const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-budget-'));
const summary: string[] = [];
const learned: string[] = [];
try {
  console.log(
    `initial sync against a simulator at ${LATENCY_MS} ms latency with a hidden limit; devin.maxRequestsPerSecond ${CEILING}, maxConcurrency 4`,
  );
  console.log(
    `\n${pad('limit', 8)}${pad('budget', 22)}${pad('users', 7)}${pad('requests', 10)}${pad('429s', 7)}${pad('429 share', 11)}${pad('admitted/s', 12)}${pad('of limit', 10)}${pad('span', 8)}${pad('failed ops', 12)}exit`,
  );
  for (const limit of LIMITS) {
    const sim = await startSimulatorProcess(seed, LATENCY_MS, ['--admin', '--rate-limit', String(limit)]);
    try {
      const users = Math.round((limit * TARGET_SECONDS) / REQUESTS_PER_USER);
      const budget = new LocalBudgetStore();
      const runners: Array<{ label: string; runner: Runner }> = [
        { label: 'adaptive', runner: { kind: 'cli', adaptive: true } },
        { label: `fixed ${CEILING}`, runner: { kind: 'cli', adaptive: false } },
      ];
      if (SECOND) {
        runners.push(
          { label: 'adaptive, 1st run*', runner: { kind: 'here', tag: 'first', budget } },
          { label: 'adaptive, 2nd run*', runner: { kind: 'here', tag: 'second', budget } },
        );
      }
      for (const { label, runner } of runners) {
        const o = await run(sim.url, limit, dir, runner, users);
        // What the hidden bucket allowed over the span: the rate, plus the burst it starts with.
        const allowed = limit * o.spanS + limit;
        const share = o.admitted / allowed;
        const throttled = o.limited / Math.max(1, o.requests);
        console.log(
          `${pad(`${limit}/s`, 8)}${pad(label, 22)}${pad(String(users), 7)}${pad(String(o.requests), 10)}${pad(String(o.limited), 7)}${pad(pct(throttled), 11)}${pad((o.admitted / o.spanS).toFixed(1), 12)}${pad(pct(share), 10)}${pad(`${o.spanS.toFixed(1)} s`, 8)}${pad(`${o.failedOps}/${o.ops}`, 12)}${o.exit}`,
        );
        const line = `  ${limit}/s: ${pct(share)} of the limit (goal ≥ 90 %), ${pct(throttled)} answered 429 (goal ≤ 2 %)${share >= 0.9 && throttled <= 0.02 ? '' : '  ← misses a goal'}`;
        if (label === 'adaptive') summary.push(line);
        if (runner.kind === 'here')
          learned.push(`${line.replace(`${limit}/s:`, `${limit}/s, ${runner.tag} run:`)}`);
      }
    } finally {
      await sim.stop();
    }
  }
  console.log('\nadaptive budget, `idsync apply`:');
  for (const line of summary) console.log(line);
  if (SECOND) {
    console.log(
      '\nadaptive budget, a first run and a second one on the rate it learned (* in this process):',
    );
    for (const line of learned) console.log(line);
  }
  console.log(
    `\nmethod: for each hidden limit L a fresh \`idsync simulator --latency ${LATENCY_MS} --rate-limit L --admin\` (one token bucket over every API`,
  );
  console.log(
    "request: L/s, L requests of burst, 429 with Retry-After in whole seconds); for each run the simulator is reset to its seed, the bucket refilled and its counts cleared, then one initial sync of L×15 users in 10 groups mapped to one enterprise and one org role (about 2 requests a user: a lookup and the org add, plus the invites, registrations and mappings). `adaptive` and `fixed` are `idsync apply --yes` as a separate node process; the runs marked * are the same sync in the bench's own process (what apply does, without its reports), twice on one budget: the 2nd starts from the rate the 1st learned, as a daemon's runs do.",
  );
  console.log(
    "Counts come from the simulator (its request log and GET /_sim/rate-limit). 'of limit' = requests let through ÷ (L × span + L), what the hidden bucket could have let through from the first request's arrival to the last answer; '429 share' = 429s ÷ all requests. 'fixed' is adaptiveRate: false, the old behaviour, always the ceiling of 100/s with one second of burst; there a request meeting six 429s fails its op.",
  );
  console.log('Taken on a shared 2-core machine: the simulator, idsync and the bench compete for it.');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// bench/memory: the idle memory of `idsync run` after its initial sync. For each size (10,000 and
// 100,000 users by default): a private redis-server, `idsync simulator` (an empty Devin but for two
// users and the orgs), a file source directory, and the daemon as a child process. The startup run
// converges Devin to the directory (it creates every user, registration, mapping and membership),
// two no-op runs follow (POST /api/runs), then the process sits idle and its RSS (/proc/<pid>/status
// VmRSS) and V8 heap (the daemon's own /metrics, prom-client default metrics) are sampled.
//
// The simulator answers at latency 0 and the daemon has no request budget and a high concurrency:
// this bench measures memory, not sync speed, and the 100k initial sync at 20 ms would take many
// minutes. The daemon runs compiled (tsc into a temp dir, `node …/src/cli/main.js run`), as the
// image runs it; `--from-source` runs it under tsx instead, as the other benches do (tsx keeps the
// transpiled sources and their source maps: some 40 MB more).
//
//   npm run bench -- memory                        both sizes
//   npm run bench -- memory --users=10000          one size
//   npm run bench -- memory --heap-snapshot=DIR    also write a heap snapshot of the idle daemon
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { generateSeed } from '../../src/simulator/index.js';
import { freePort, startRedis } from '../../test/support/redis.js';
import { ROOT, startSimulatorProcess, stopChild } from '../support/processes.js';

const GOALS: Record<number, number> = { 10000: 150, 100000: 400 };
const TOKEN = 'cog_bench_memory_token';
const ADMIN_TOKEN = 'bench-admin-token';
const PREFIX = 'bench';
const DEVIN_CONCURRENCY = 64;
const OP_CONCURRENCY = 128;
const NOOP_RUNS = 2;
/**
 * After the last run: the daemon's idle collection (2 s after it, src/daemon/idleGc.ts) and V8's
 * memory reducer (which shrinks the young generation some 10-40 s after a full GC) settle, then RSS
 * is sampled this long.
 */
const SETTLE_MS = 60_000;
const SAMPLE_MS = 10_000;
const SAMPLE_EVERY_MS = 500;

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const sizes = (arg('users') ?? '10000,100000').split(',').map(Number);
const fromSource = process.argv.includes('--from-source');
/** Without the image's malloc settings (to see what they do). */
const imageEnv = !process.argv.includes('--no-image-env');
/** A CLI compiled elsewhere (e.g. a patched copy of the tree) instead of this tree's. */
const givenMain = arg('main');
const snapshotDir = arg('heap-snapshot');
/** Extra node flags for the daemon (e.g. `--node-flags=--trace-gc`), and where its stdout goes. */
const nodeFlags = (arg('node-flags') ?? '').split(' ').filter(Boolean);
const daemonLog = arg('daemon-log');
const series = process.argv.includes('--series');
/** Keep the idle daemon up this many seconds after measuring (to look at it with other tools). */
const holdSeconds = Number(arg('hold') ?? 0);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const mb = (bytes: number) => (bytes / MB).toFixed(0).padStart(4);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function vmRssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** The compiled CLI in a temp dir of its own (dist/ in the tree is whatever someone built last). */
function buildDaemon(): { main: string; cleanup: () => void } {
  const out = mkdtempSync(join(tmpdir(), 'idsync-bench-memory-dist-'));
  const t0 = performance.now();
  try {
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        out,
        '--sourceMap',
        'false',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    // tsc emits despite type errors (someone's work in progress); only a missing entry point is fatal.
    const out2 = (err as { stdout?: Buffer }).stdout?.toString() ?? '';
    process.stderr.write(`tsc reported errors (the emitted code is used anyway):\n${out2.slice(0, 2000)}\n`);
  }
  writeFileSync(join(out, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  console.log(`compiled the daemon in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return { main: join(out, 'src/cli/main.js'), cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

/**
 * The glibc malloc settings the image sets (its ENV), so the daemon here runs as it does there:
 * they decide whether freed native memory goes back to the OS.
 */
const IMAGE_MALLOC_ENV: Record<string, string> = Object.fromEntries(
  [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)].map((m) => [
    m[1] as string,
    m[2] as string,
  ]),
);

function spawnDaemon(main: string | undefined, args: string[], cwd: string): ChildProcess {
  const flags = snapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${cwd}`] : [];
  const entry = main ? [main] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
  const stdout = daemonLog
    ? openSync(`${daemonLog}.${args.includes('run') ? process.hrtime.bigint() : 'x'}`, 'w')
    : 'ignore';
  return spawn(process.execPath, [...flags, ...nodeFlags, ...entry, ...args], {
    cwd,
    env: {
      ...process.env,
      ...(imageEnv ? IMAGE_MALLOC_ENV : {}),
      IDSYNC_LOG_LEVEL: 'warn',
      NODE_OPTIONS: '',
    },
    stdio: ['ignore', stdout, 'inherit'],
  });
}

/** The prom-client default metrics of the daemon's own /metrics, by name (labels dropped). */
async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(idsync_(?:nodejs|process)_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m?.[1] && m[3]) out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

interface Figures {
  users: number;
  groups: number;
  initialSeconds: number;
  initialOps: number;
  rssMedian: number;
  rssMax: number;
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  oldSpace: number;
}

async function measure(users: number, main: string | undefined): Promise<Figures> {
  const groups = users >= 100_000 ? 2_000 : Math.min(1_000, Math.max(1, users / 10));
  const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-memory-'));
  const redis = await startRedis();
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const base = generateSeed({ users: 2, groups: 0, orgs: 10, token: TOKEN });
    const seed = { ...base, idp_memberships: [] };
    const org = seed.organizations[0]!;
    const per = users / groups;
    const directory: DirectoryFile = {
      users: Array.from({ length: users }, (_, i) => ({
        id: `u${i}`,
        email: `person${i}@corp.example`,
        name: `Person ${i}`,
      })),
      groups: Array.from({ length: groups }, (_, g) => ({
        id: `g${g}`,
        name: `devin-team-${String(g).padStart(4, '0')}`,
        members: Array.from({ length: per }, (_, k) => `u${g * per + k}`),
      })),
    };
    writeFileSync(join(dir, 'directory.json'), JSON.stringify(directory));
    const sim = await startSimulatorProcess(seed, 0);
    stops.push(sim.stop);
    const port = await freePort();
    const configFile = join(dir, 'idsync.yaml');
    writeFileSync(
      configFile,
      `source: { type: file, path: ./directory.json }
devin:
  baseUrl: ${sim.url}
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
server: { host: 127.0.0.1, port: ${port}, adminToken: ${ADMIN_TOKEN} }
`,
    );
    const t0 = performance.now();
    const daemon = spawnDaemon(
      main,
      ['run', '--config', configFile, '--prefix', PREFIX, '--concurrency', String(OP_CONCURRENCY)],
      dir,
    );
    // stopChild waits for an exit that already happened when a signal (heap out of memory) ended it.
    stops.push(async () => {
      if (daemon.exitCode === null && daemon.signalCode === null) await stopChild(daemon);
    });
    const pid = daemon.pid;
    if (pid === undefined) throw new Error('idsync run did not start');
    // The peak over the daemon's whole life: what its container's memory limit must allow.
    let peakRss = 0;
    const sampler = setInterval(() => {
      try {
        const now = vmRssBytes(pid);
        peakRss = Math.max(peakRss, now);
        if (series)
          process.stderr.write(`  t=${((performance.now() - t0) / 1000).toFixed(1)}s rss=${mb(now)} MB\n`);
      } catch {
        // exited
      }
    }, 250);
    stops.push(async () => clearInterval(sampler));

    const api = async (path: string, init?: RequestInit): Promise<unknown> => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      });
      if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
      return res.json();
    };
    interface Run {
      id: string;
      status: string;
      plan?: { ops: number };
    }
    const FINAL = ['succeeded', 'partial', 'failed', 'blocked', 'awaiting-approval'];
    const finished = async (pred: () => Promise<Run | undefined>, timeoutMs: number): Promise<Run> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (daemon.exitCode !== null || daemon.signalCode !== null)
          throw new Error(`idsync run exited (${daemon.exitCode ?? daemon.signalCode})`);
        const r = await pred().catch(() => undefined);
        if (r && FINAL.includes(r.status)) return r;
        if (Date.now() > deadline) throw new Error(`timed out waiting for a run (last: ${r?.status})`);
        await sleep(250);
      }
    };
    const initial = await finished(
      async () => ((await api('/api/runs?limit=1')) as { runs: Run[] }).runs[0],
      30 * 60_000,
    );
    const initialSeconds = (performance.now() - t0) / 1000;
    if (initial.status !== 'succeeded') throw new Error(`the initial sync ended ${initial.status}`);
    for (let k = 0; k < NOOP_RUNS; k++) {
      const { runId } = (await api('/api/runs', {
        method: 'POST',
        body: JSON.stringify({ reason: `memory bench no-op ${k}` }),
      })) as { runId: string };
      const r = await finished(async () => (await api(`/api/runs/${runId}`)) as Run, 10 * 60_000);
      if (r.status !== 'succeeded' || (r.plan?.ops ?? 0) !== 0)
        throw new Error(`no-op run ${k} ended ${r.status} with ${r.plan?.ops} ops: Devin had not converged`);
    }

    await sleep(SETTLE_MS);
    const rss: number[] = [];
    const end = Date.now() + SAMPLE_MS;
    while (Date.now() < end) {
      rss.push(vmRssBytes(pid));
      await sleep(SAMPLE_EVERY_MS);
    }
    const m = await scrape(port);
    const figures: Figures = {
      users,
      groups,
      initialSeconds,
      initialOps: initial.plan?.ops ?? 0,
      rssMedian: median(rss),
      rssMax: Math.max(...rss),
      peakRss,
      heapUsed: m.get('idsync_nodejs_heap_size_used_bytes') ?? Number.NaN,
      heapTotal: m.get('idsync_nodejs_heap_size_total_bytes') ?? Number.NaN,
      external: m.get('idsync_nodejs_external_memory_bytes') ?? Number.NaN,
      oldSpace: m.get('idsync_nodejs_heap_space_size_used_bytes{space="old"}') ?? Number.NaN,
    };
    if (holdSeconds > 0) {
      console.log(`  holding the idle daemon (pid ${pid}, port ${port}) for ${holdSeconds} s`);
      await sleep(holdSeconds * 1000);
    }
    if (snapshotDir) {
      mkdirSync(snapshotDir, { recursive: true });
      daemon.kill('SIGUSR2');
      // The daemon writes the snapshot synchronously: once it answers HTTP again, the file is whole.
      let name: string | undefined;
      for (let i = 0; i < 600 && !name; i++) {
        await sleep(1000);
        name = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
      }
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(600_000) });
      if (name) {
        const to = resolve(snapshotDir, `idsync-idle-${users}.heapsnapshot`);
        copyFileSync(join(dir, name), to);
        console.log(`  heap snapshot: ${to}`);
      }
    }
    return figures;
  } finally {
    for (const stop of stops.reverse()) await stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const build = fromSource || givenMain ? undefined : buildDaemon();
const results: Figures[] = [];
try {
  for (const users of sizes) {
    const f = await measure(users, givenMain ?? build?.main);
    results.push(f);
    console.log(
      `${users} users: initial sync ${f.initialOps} ops in ${f.initialSeconds.toFixed(0)} s; idle RSS ${mb(f.rssMedian).trim()} MB`,
    );
  }
} finally {
  build?.cleanup();
}

console.log('\nidle `idsync run` after the initial sync and two no-op runs:');
console.log(
  '   users  groups   RSS median   RSS max   goal   heap used   heap total   old space   external   peak RSS (whole life)',
);
for (const f of results) {
  const goal = GOALS[f.users];
  const verdict = goal === undefined ? '' : f.rssMedian / MB <= goal ? ' ok' : ' OVER';
  console.log(
    `${String(f.users).padStart(8)}  ${String(f.groups).padStart(6)}   ${mb(f.rssMedian)} MB      ${mb(f.rssMax)} MB  ${goal === undefined ? '   -' : String(goal).padStart(4)}${verdict.padEnd(5)}  ${mb(f.heapUsed)} MB     ${mb(f.heapTotal)} MB     ${mb(f.oldSpace)} MB    ${mb(f.external)} MB   ${mb(f.peakRss)} MB`,
  );
}
const mallocNote = imageEnv
  ? `the daemon with the image's malloc settings (${Object.entries(IMAGE_MALLOC_ENV)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')})`
  : "the daemon without the image's malloc settings (--no-image-env)";
console.log(
  `\nmethod: private redis-server, \`idsync simulator --latency 0\` and \`idsync run\` (${fromSource ? 'from source under tsx' : givenMain ? `${givenMain}, plain node` : 'compiled by tsc, plain node'}) as child processes on this machine, ${mallocNote}; devin.maxConcurrency ${DEVIN_CONCURRENCY}, op concurrency ${OP_CONCURRENCY}, no request budget (latency and budget are irrelevant to memory and would make the 100k sync take many minutes). After the startup run converged and ${NOOP_RUNS} no-op runs (POST /api/runs, 0 ops each), ${SETTLE_MS / 1000} s idle, then VmRSS every ${SAMPLE_EVERY_MS} ms for ${SAMPLE_MS / 1000} s; heap figures from the daemon's /metrics at the end. Memory depends little on load, but the machine was shared.`,
);

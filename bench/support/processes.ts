// idsync as child processes for the benchmarks, so the measuring client and the servers do not
// share one event loop (2 cores here).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signWebhook } from '../../src/server/index.js';
import type { SimulatorSeed } from '../../src/simulator/index.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `idsync <args>` from source; stdout is piped for the caller to read, stderr is inherited.
 * BENCH_PROF=<dir> writes a V8 CPU profile of each child there when it exits (NODE_OPTIONS may not
 * carry --cpu-prof): how to find where a bench's time goes.
 */
export function spawnIdsync(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(
    process.execPath,
    [
      ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []),
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      ...args,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, IDSYNC_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
}

/** The first capture of `re` in the child's stdout: how a started server announces itself. */
export function firstMatch(
  child: ChildProcess,
  re: RegExp,
  what: string,
  timeoutMs = 60_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start in ${timeoutMs / 1000} s: ${out}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = re.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}: ${out}`)));
  });
}

/** SIGTERM, then the exit code. */
export function stopChild(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    // A child killed by a signal (out of memory) has a signalCode and no exitCode, and exits no more.
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

export interface SimulatorProcess {
  url: string;
  stop(): Promise<void>;
}

/** `idsync simulator` seeded with `seed`, with a fixed latency per request; `extraArgs` e.g. `--admin`. */
export async function startSimulatorProcess(
  seed: SimulatorSeed,
  latencyMs: number,
  extraArgs: string[] = [],
): Promise<SimulatorProcess> {
  const seedFile = join(tmpdir(), `idsync-bench-seed-${process.pid}-${Date.now()}.json`);
  writeFileSync(seedFile, JSON.stringify(seed));
  const child = spawnIdsync([
    'simulator',
    '--port',
    '0',
    '--seed',
    seedFile,
    '--latency',
    String(latencyMs),
    ...extraArgs,
  ]);
  const url = await firstMatch(child, /IDSYNC_SIMULATOR_URL=(\S+)/, 'the simulator', 30_000);
  return {
    url,
    stop: async () => {
      await stopChild(child);
    },
  };
}

/** A signed POST /webhooks/resync to the daemon; the run id it answers with. */
export async function postResync(port: number, secret: string, reason: string): Promise<string> {
  const body = JSON.stringify({ reason });
  const res = await fetch(`http://127.0.0.1:${port}/webhooks/resync`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-idsync-signature': signWebhook(secret, body, Math.floor(Date.now() / 1000)),
    },
    body,
  });
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { runId: string }).runId;
}

/**
 * Polls Devin (GET org members ?email=, every 20 ms) until `email` holds `roleId` in the org; returns
 * how many polls that took, so a caller counting Devin calls can leave its own out.
 */
export async function untilOrgRole(
  o: { simUrl: string; token: string; orgId: string; email: string; roleId: string },
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  for (let polls = 1; ; polls++) {
    const r = await fetch(
      `${o.simUrl}/v3/enterprise/organizations/${o.orgId}/members/users?email=${encodeURIComponent(o.email)}`,
      { headers: { authorization: `Bearer ${o.token}` } },
    );
    const page = (await r.json()) as {
      items: Array<{ role_assignments: Array<{ role: { role_id: string } }> }>;
    };
    if (page.items.some((u) => u.role_assignments.some((a) => a.role.role_id === o.roleId))) return polls;
    if (performance.now() - started > timeoutMs)
      throw new Error(`${o.email}: no ${o.roleId} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Polls `pred` every `everyMs` until it yields a value; fails at once if `daemon` exited meanwhile,
 * and after `timeoutMs` naming `what`.
 */
export async function untilWhileRunning<T>(
  daemon: ChildProcess,
  pred: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await pred();
    if (r !== undefined) return r;
    if (daemon.exitCode !== null) throw new Error(`idsync run exited with ${daemon.exitCode}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

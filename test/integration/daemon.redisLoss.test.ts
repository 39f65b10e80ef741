// Redis loses idsync's data in the middle of an apply (issue 9): redis-server is killed and comes
// back EMPTY, as a Redis without persistence (or a failover to a replica that had not caught up)
// does. A real `idsync run` process abandons the run it was conducting, says the sync is stuck
// meanwhile (/readyz 503 with checks.sync false, idsync_run_stuck 1), and a new trigger runs and
// converges: a fresh plan against Devin finds nothing left to do.
//
// And the contrast: killed and restarted WITH its append-only file, Redis keeps everything, and
// the same run resumes and finishes, applying no write twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { DevinClient, readDevinSnapshot } from '../../src/devin/index.js';
import { fileSource } from '../../src/directory/file/fileSource.js';
import { silentLogger } from '../../src/log/logger.js';
import { planSync } from '../../src/reconcile/index.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import {
  appliedTwice,
  appliedWrites,
  company,
  type IdsyncProcess,
  spawnIdsync,
  stopProcess,
  waitFor,
  writeConfig,
} from '../support/daemonRig.js';
import { freePort } from '../support/redis.js';

// ---- a redis-server this file can kill, wipe and restart with or without its AOF ---------------

interface KillableRedis {
  url: string;
  /** SIGKILL: no chance to save anything. */
  kill(): Promise<void>;
  /** Starts again on the same port: `empty` in a new directory, else from the same directory (AOF). */
  start(o: { empty: boolean }): Promise<void>;
  stop(): Promise<void>;
}

async function killableRedis(aof: boolean): Promise<KillableRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const dirs: string[] = [];
  let child: ChildProcess | undefined;
  const launch = async (dir: string) => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir];
    // appendfsync always: every acknowledged write is on disk before Redis answers.
    args.push(...(aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.resume();
    child.stderr?.resume();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not up yet (or still loading the AOF)
      } finally {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server on ${url} did not answer PING`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'idsync-redisloss-'));
    dirs.push(d);
    return d;
  };
  await launch(newDir());
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  };
  return {
    url,
    kill,
    async start({ empty }) {
      await launch(empty ? newDir() : (dirs.at(-1) as string));
    },
    async stop() {
      await kill();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

// ---- shared --------------------------------------------------------------------------------------

const ADMIN_TOKEN = 'admin-loss-5e1f0a9c2b7d';
const scenario = company(3_000);
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const FINAL = ['succeeded', 'partial', 'failed', 'blocked', 'superseded'];

function finished(d: Daemon, id: string, timeoutMs: number): Promise<RunRecord> {
  return waitFor(
    async () => {
      const r = await d.store.get(id);
      return r && FINAL.includes(r.status) ? r : undefined;
    },
    `run ${id} to finish`,
    timeoutMs,
    200,
  );
}

/** A fresh plan of the directory against Devin and the ledger in Redis: empty once converged. */
async function replanOps(configFile: string, dir: string, d: Daemon): Promise<number> {
  const config = await loadConfig(configFile);
  const client = new DevinClient({ ...config.devin });
  try {
    const plan = planSync({
      policy: config.policy,
      directory: await fileSource(join(dir, 'directory.json')).read(),
      devin: await readDevinSnapshot(client),
      ledger: await d.ledger.load(),
    });
    return plan.ops.length;
  } finally {
    client.close();
  }
}

describe.sequential('Redis loses its data mid-apply', () => {
  it('restarted EMPTY: the run is abandoned, the stuck sync shows on /readyz and /metrics, and a new trigger converges', async () => {
    const PREFIX = 'loss';
    const redis = await killableRedis(false);
    cleanups.push(() => redis.stop());
    const sim: RunningSimulator = await startSimulator({
      seed: scenario.seed,
      faults: { rules: [{ latencyMs: 2 }] },
    });
    cleanups.push(() => sim.close());
    const dir = mkdtempSync(join(tmpdir(), 'idsync-redisloss-cfg-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const configFile = writeConfig(
      {
        dir,
        simUrl: sim.url,
        redisUrl: redis.url,
        orgs: scenario.orgs,
        extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n  adminToken: ${ADMIN_TOKEN}\n`,
      },
      scenario.directory,
    );
    const observer = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: PREFIX },
    });
    cleanups.push(() => observer.close());
    const proc: IdsyncProcess = spawnIdsync(['run', '--config', configFile, '--prefix', PREFIX]);
    cleanups.push(async () => {
      await stopProcess(proc, 'SIGKILL');
    });
    await proc.waitForLine(/idsync daemon listening/, 60_000);

    // The startup run is the large apply; a quarter in, Redis dies and comes back with nothing.
    const first = await waitFor(
      async () => (await observer.store.list(5)).find((r) => r.status === 'applying'),
      'the startup run to apply',
      60_000,
      100,
    );
    await waitFor(
      async () => ((await observer.store.settledCount(first.id)) >= scenario.total / 4 ? true : undefined),
      'a quarter of the ops',
      60_000,
      100,
    );
    const settledBefore = await observer.store.settledCount(first.id);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start({ empty: true });
    const restartedAt = Date.now();

    // Watch what an operator sees, every 200 ms, from now until the end of the test.
    const seen = { notReadySync: 0, stuckMetric: 0, firstNotReadyMs: -1 };
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        try {
          const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
          const body = (await ready.json()) as { checks?: Record<string, boolean> };
          if (ready.status === 503 && body.checks?.sync === false) {
            seen.notReadySync++;
            if (seen.firstNotReadyMs < 0) seen.firstNotReadyMs = Date.now() - restartedAt;
          }
          const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          if (/^idsync_run_stuck 1$/m.test(metrics)) seen.stuckMetric++;
        } catch {
          // the process may be busy; try again
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    // A new trigger after the loss runs and converges within the bound.
    const { runId } = await observer.service.trigger({ trigger: 'api', reason: 'after the loss' });
    const record = await finished(observer, runId, 120_000).catch((err: unknown) => {
      console.error(proc.lines.slice(-40).join('\n'));
      throw err;
    });
    const convergedMs = Date.now() - restartedAt;
    expect(record.status, record.error ?? JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
    expect(convergedMs).toBeLessThan(120_000);

    // The lost run is recorded as failed with a clear error, not left "applying" for ever.
    const lost = await waitFor(
      async () => {
        const r = await observer.store.get(first.id);
        return r?.status === 'failed' ? r : undefined;
      },
      'the lost run to be marked failed',
      30_000,
      200,
    );
    expect(lost.error).toMatch(/lost in Redis/);

    // Readiness comes back once a run has finished after the loss.
    await waitFor(
      async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined),
      '/readyz to answer 200 again',
      60_000,
      200,
    );
    watching = false;
    await watcher;
    expect(seen.notReadySync, 'polls of /readyz that said 503 with checks.sync false').toBeGreaterThan(0);
    expect(seen.stuckMetric, 'scrapes with idsync_run_stuck 1').toBeGreaterThan(0);
    expect(proc.lines.some((l) => /"msg":"sync stuck"/.test(l))).toBe(true);
    expect(proc.lines.some((l) => /Redis lost idsync's data/.test(l))).toBe(true);

    // Converged: Devin holds what the directory says.
    expect(await replanOps(configFile, dir, observer)).toBe(0);
    console.info(
      `redis restarted empty after ${settledBefore}/${scenario.total} ops: stuck visible after ${seen.firstNotReadyMs} ms (${seen.notReadySync} polls), new run ${record.status} ${convergedMs} ms after the restart`,
    );
  }, 300_000);

  it('restarted WITH its AOF: the same run resumes and converges, no write applied twice', async () => {
    const PREFIX = 'aof';
    const redis = await killableRedis(true);
    cleanups.push(() => redis.stop());
    const sim: RunningSimulator = await startSimulator({
      seed: scenario.seed,
      faults: { rules: [{ latencyMs: 2 }] },
    });
    cleanups.push(() => sim.close());
    const dir = mkdtempSync(join(tmpdir(), 'idsync-redisloss-aof-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const configFile = writeConfig(
      { dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs },
      scenario.directory,
    );
    const daemon = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: true,
      scheduler: false,
      tuning: {
        prefix: PREFIX,
        lockDurationMs: 10_000,
        stalledIntervalMs: 2_000,
        stuckCheckMs: 5_000,
        watchdogMs: 500,
      },
    });
    cleanups.push(() => daemon.close());

    const { runId } = await daemon.service.trigger({ trigger: 'api' });
    await waitFor(
      async () => ((await daemon.store.settledCount(runId)) >= scenario.total / 4 ? true : undefined),
      'a quarter of the ops',
      60_000,
    );
    const before = await daemon.store.settledCount(runId);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start({ empty: false });

    const record = await finished(daemon, runId, 90_000);
    expect(before).toBeLessThan(scenario.total);
    expect(record.status, record.error ?? JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
    expect((record.opCounts?.applied ?? 0) + (record.opCounts?.already ?? 0)).toBe(scenario.total);
    const writes = appliedWrites(sim.requests());
    expect(appliedTwice(writes.byPath)).toEqual([]);
    expect(writes.bulk.invites).toBe(scenario.expected.inviteUsers);
    expect(writes.total).toBe(scenario.total);
    // Nothing was lost, so nothing was reported lost.
    await new Promise((r) => setTimeout(r, 1500));
    expect(daemon.health()).toEqual({ ok: true, reasons: [] });
    expect(await replanOps(configFile, dir, daemon)).toBe(0);
    console.info(
      `redis killed and restarted with its AOF after ${before}/${scenario.total} ops: run ${record.status}`,
    );
  }, 240_000);
});

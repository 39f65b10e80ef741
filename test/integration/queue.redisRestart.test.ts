// Redis goes away in the middle of a run and comes back (a restart with its data, as a Redis with
// persistence does). The workers and the conductor wait for it, reconnect, and the run completes
// without a failed op and without applying anything twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { appliedTwice, appliedWrites, company, waitFor, writeConfig } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const scenario = company(3_000);

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let daemon: Daemon;

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: scenario.seed, faults: { rules: [{ latencyMs: 2 }] } });
  dir = mkdtempSync(join(tmpdir(), 'idsync-redis-restart-'));
  const file = writeConfig(
    { dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs },
    scenario.directory,
  );
  daemon = await startDaemon({
    config: await loadConfig(file),
    logger: silentLogger,
    workers: true,
    scheduler: false,
    tuning: { prefix: 'restart', lockDurationMs: 10_000, stalledIntervalMs: 2_000, stuckCheckMs: 5_000 },
  });
});

afterAll(async () => {
  await daemon?.close();
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis restarted mid-run', () => {
  it('completes the run once Redis is back', async () => {
    const { runId } = await daemon.service.trigger({ trigger: 'api' });
    await waitFor(
      async () => ((await daemon.store.settledCount(runId)) >= scenario.total / 4 ? true : undefined),
      'a quarter of the ops',
      30_000,
    );
    const before = await daemon.store.settledCount(runId);
    await redis.restart(1500);

    const record = await waitFor(
      async () => {
        const r = await daemon.service.get(runId);
        return r && ['succeeded', 'partial', 'failed'].includes(r.status) ? r : undefined;
      },
      'the run to finish after the restart',
      45_000,
      200,
    );
    expect(before).toBeLessThan(scenario.total);
    expect(record.status, JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
    expect((record.opCounts?.applied ?? 0) + (record.opCounts?.already ?? 0)).toBe(scenario.total);
    const writes = appliedWrites(sim.requests());
    expect(appliedTwice(writes.byPath)).toEqual([]);
    expect(writes.total).toBe(scenario.total);
    expect((await daemon.service.ready()).ready).toBe(true);
  });
});

// Two `idsync worker` processes apply a 10,000-op run; the one conducting the run is killed with
// SIGKILL half-way. The other takes the run over (stalled job) and finishes it; Devin converges
// (a re-plan finds nothing to do) and the simulator's request log shows no effectful request
// applied twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_QUEUE } from '../../src/apply/queue/names.js';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
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
import { startRedis, type TestRedis } from '../support/redis.js';

const USERS = 9_900;
const PREFIX = 'killtest';

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let configFile: string;
let observer: Daemon;
const workers: IdsyncProcess[] = [];
const scenario = company(USERS);

beforeAll(async () => {
  redis = await startRedis();
  // A little latency keeps requests in flight when the worker dies.
  sim = await startSimulator({ seed: scenario.seed, faults: { rules: [{ latencyMs: 1 }] } });
  dir = mkdtempSync(join(tmpdir(), 'idsync-kill-'));
  configFile = writeConfig(
    { dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs, maxConcurrency: 16 },
    scenario.directory,
  );
  // The test process only triggers and watches: no workers here.
  observer = await startDaemon({
    config: await loadConfig(configFile),
    logger: silentLogger,
    workers: false,
    scheduler: false,
    tuning: { prefix: PREFIX },
  });
  const args = [
    'worker',
    '--config',
    configFile,
    '--prefix',
    PREFIX,
    '--lock-duration',
    '3000',
    '--stalled-interval',
    '1000',
    '--concurrency',
    '24',
  ];
  for (let i = 0; i < 2; i++) workers.push(spawnIdsync(args));
  await Promise.all(workers.map((w) => w.waitForLine(/idsync worker ready/, 30_000)));
});

afterAll(async () => {
  await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
  await observer?.close();
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('two worker processes, one killed mid-run', () => {
  it('finishes the run once, converges, and applies no write twice', async () => {
    expect(scenario.total).toBeGreaterThanOrEqual(10_000);
    const t0 = Date.now();
    const { runId } = await observer.service.trigger({ trigger: 'api', reason: 'kill test' });

    // Half-way through the org adds, kill whichever process conducts the run.
    await waitFor(
      async () => ((await observer.store.settledCount(runId)) >= scenario.total / 2 ? true : undefined),
      'half of the ops to settle',
      40_000,
    );
    const [active] = await observer.queues.find((q) => q.name === SYNC_QUEUE)!.getActive();
    const pid = Number(active?.processedBy?.split('/').pop());
    const victim = workers.find((w) => w.child.pid === pid);
    expect(victim, `the conductor (${active?.processedBy}) is one of the two workers`).toBeDefined();
    victim!.child.kill('SIGKILL');
    const killedAt = await observer.store.settledCount(runId);

    const record = await waitFor(
      async () => {
        const r = await observer.service.get(runId);
        return r && ['succeeded', 'partial', 'failed'].includes(r.status) ? r : undefined;
      },
      'the run to finish on the surviving worker',
      45_000,
      200,
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(record.status, JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
    expect(record.opCounts?.failed).toBe(0);
    expect((record.opCounts?.applied ?? 0) + (record.opCounts?.already ?? 0)).toBe(scenario.total);
    expect(killedAt).toBeLessThan(scenario.total);

    // Converged: a fresh plan against Devin and the shared ledger has nothing left to do.
    const config = await loadConfig(configFile);
    const client = new DevinClient({ ...config.devin });
    try {
      const replan = planSync({
        policy: config.policy,
        directory: await fileSource(join(dir, 'directory.json')).read(),
        devin: await readDevinSnapshot(client),
        ledger: await observer.ledger.load(),
      });
      expect(replan.ops).toEqual([]);
    } finally {
      client.close();
    }

    // Nothing applied twice: each subject written once, each bulk op's batch applied once.
    const writes = appliedWrites(sim.requests());
    expect(appliedTwice(writes.byPath)).toEqual([]);
    expect(writes.bulk.invites).toBe(scenario.expected.inviteUsers);
    expect(writes.bulk.registrations).toBe(scenario.expected.registerIdpGroups);
    expect(writes.total).toBe(scenario.total);
    console.info(
      `kill test: ${scenario.total} ops in ${seconds.toFixed(1)} s; killed ${victim!.child.pid} after ${killedAt} settled`,
    );
  });
});

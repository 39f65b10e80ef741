// Redis as IT runs it (issue 10): Redis Sentinel. One master, one replica, three sentinels
// (quorum 2, down-after-milliseconds 1000) on loopback; the data nodes and the sentinels each have
// a password, read from passwordFile and sentinelPasswordFile. The daemon, configured with
// `sentinels` + `masterName` only, starts a sync large enough to be mid-run when the master is
// SIGKILLed. The sentinels promote the replica; the workers, the conductor, BullMQ and the HTTP
// edge find the new master through the sentinels, and the run finishes: Devin matches the
// directory (a fresh plan is empty) and the simulator's request log shows no write applied twice.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { describeRedis } from '../../src/daemon/redisOptions.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { DevinClient, readDevinSnapshot } from '../../src/devin/index.js';
import { fileSource } from '../../src/directory/file/fileSource.js';
import { silentLogger } from '../../src/log/logger.js';
import { planSync } from '../../src/reconcile/index.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { appliedTwice, appliedWrites, company, waitFor, writeConfig } from '../support/daemonRig.js';
import { startSentinelSetup, type TestSentinelSetup } from '../support/redisSentinel.js';

const scenario = company(3_000);
const FINAL = ['succeeded', 'partial', 'failed', 'blocked', 'superseded'];

let sentinel: TestSentinelSetup;
let sim: RunningSimulator;
let dir: string;
let configFile: string;
let daemon: Daemon | undefined;

beforeAll(async () => {
  sentinel = await startSentinelSetup();
  sim = await startSimulator({ seed: scenario.seed, faults: { rules: [{ latencyMs: 2 }] } });
  dir = mkdtempSync(join(tmpdir(), 'idsync-sentinel-run-'));
  writeFileSync(join(dir, 'redis-password'), `${sentinel.password}\n`);
  writeFileSync(join(dir, 'sentinel-password'), `${sentinel.sentinelPassword}\n`);
  const file = writeConfig(
    { dir, simUrl: sim.url, redisUrl: 'redis://127.0.0.1:1', orgs: scenario.orgs },
    scenario.directory,
  );
  // The rig writes `redis: url:`; this daemon knows only the sentinels.
  const block = [
    'redis:',
    `  sentinels: [${sentinel.sentinels.map((s) => `"${s.host}:${s.port}"`).join(', ')}]`,
    `  masterName: ${sentinel.masterName}`,
    '  passwordFile: ./redis-password',
    '  sentinelPasswordFile: ./sentinel-password',
    '',
  ].join('\n');
  const text = readFileSync(file, 'utf8');
  const replaced = text.replace(/^redis:\n {2}url: .*\n/m, block);
  expect(replaced).not.toBe(text);
  writeFileSync(file, replaced);
  configFile = file;
}, 120_000);

afterAll(async () => {
  await daemon?.close();
  await sim?.close();
  await sentinel?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

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
async function replanOps(d: Daemon): Promise<number> {
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

describe('Redis Sentinel', () => {
  it('loads the sentinel config with its password files, and never shows the passwords', async () => {
    const config = await loadConfig(configFile);
    expect(config.redis?.url).toBeUndefined();
    expect(config.redis?.sentinels).toEqual(sentinel.sentinels);
    expect(config.redis?.password).toBe(sentinel.password);
    expect(config.redis?.sentinelPassword).toBe(sentinel.sentinelPassword);
    const shown = `${JSON.stringify(config)} ${describeRedis(config.redis ?? { tls: false, keepRuns: 1 })}`;
    expect(shown).not.toContain(sentinel.password);
    expect(shown).not.toContain(sentinel.sentinelPassword);
    expect(describeRedis(config.redis ?? { tls: false, keepRuns: 1 })).toContain(
      `master ${sentinel.masterName} of sentinels`,
    );
  });

  it('a sync follows a failover: the master is SIGKILLed mid-run, the replica is promoted, the run converges with no write applied twice', async () => {
    const d = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: true,
      scheduler: false,
      tuning: {
        prefix: 'sentinel',
        lockDurationMs: 10_000,
        stalledIntervalMs: 2_000,
        stuckCheckMs: 5_000,
        watchdogMs: 500,
      },
    });
    daemon = d;
    const oldMaster = await sentinel.masterPort();
    // The HTTP edge connects on first use, through the sentinels too.
    const listed = await waitFor(
      async () => await d.edge.runs.list(1).catch(() => undefined),
      'the HTTP edge to connect',
      30_000,
      100,
    );
    expect(listed).toEqual([]);

    const { runId } = await d.service.trigger({ trigger: 'api' });
    await waitFor(
      async () => ((await d.store.settledCount(runId)) >= scenario.total / 4 ? true : undefined),
      'a quarter of the ops',
      90_000,
    );
    const before = await d.store.settledCount(runId);
    const killedAt = Date.now();
    await sentinel.kill(oldMaster);

    const newMaster = await sentinel.waitForNewMaster(oldMaster, 60_000);
    const promotedMs = Date.now() - killedAt;
    expect(newMaster).not.toBe(oldMaster);
    // The workers' connection (commands wait for the new master) …
    const after = await d.store.settledCount(runId);
    const workersBackMs = Date.now() - killedAt;
    // … and the HTTP edge's (fails fast meanwhile, then reconnects through the sentinels).
    await waitFor(
      async () => (await d.edge.runs.get(runId).catch(() => undefined)) ?? undefined,
      'the HTTP edge to reach the new master',
      60_000,
      200,
    );
    const edgeBackMs = Date.now() - killedAt;

    let record = await finished(d, runId, 180_000);
    const finishedMs = Date.now() - killedAt;
    let note = `run ${record.status}`;
    // Replication is asynchronous: a failover may lose the last writes of the old master. The
    // conductor then abandons the run as lost (never guesses), and the next run finishes the job.
    if (record.status !== 'succeeded' && /lost in Redis/.test(record.error ?? '')) {
      const again = await d.service.trigger({ trigger: 'api' });
      record = await finished(d, again.runId, 180_000);
      note += ` (writes lost in the failover), then run ${again.runId} ${record.status}`;
    } else {
      expect((record.opCounts?.applied ?? 0) + (record.opCounts?.already ?? 0)).toBe(scenario.total);
    }
    expect(before).toBeLessThan(scenario.total);
    expect(record.status, record.error ?? JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');

    const writes = appliedWrites(sim.requests());
    expect(appliedTwice(writes.byPath)).toEqual([]);
    expect(writes.bulk.invites).toBe(scenario.expected.inviteUsers);
    expect(writes.bulk.registrations).toBe(scenario.expected.registerIdpGroups);
    expect(writes.total).toBe(scenario.total);
    expect(await replanOps(d)).toBe(0);
    expect((await d.service.ready()).ready).toBe(true);
    console.info(
      `sentinel failover after ${before}/${scenario.total} ops (${after} when the workers were back): replica promoted ${promotedMs} ms after the SIGKILL, workers back after ${workersBackMs} ms, HTTP edge after ${edgeBackMs} ms, ${note} ${finishedMs} ms after the kill`,
    );
  }, 420_000);
});

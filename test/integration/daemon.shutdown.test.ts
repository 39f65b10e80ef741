// Shutdown within Kubernetes' grace period (issue 9): a real `idsync run` process gets a real
// SIGTERM while its run reads a slow Devin (every GET of the simulator delayed), and while it
// applies against slow writes. Each time it exits 0 within 10 s, the run is handed back (not
// failed), and the next process picks the same run up and finishes it, applying no write twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_QUEUE } from '../../src/apply/queue/names.js';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import {
  appliedTwice,
  appliedWrites,
  company,
  type IdsyncProcess,
  spawnIdsync,
  stopProcess,
  TOKEN,
  waitFor,
  writeConfig,
  writeDirectory,
} from '../support/daemonRig.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const PREFIX = 'shutdown';
/** What Kubernetes gives a pod by default (terminationGracePeriodSeconds 30) leaves room; 10 s is the goal. */
const GRACE_MS = 10_000;
/** Devin holds 2,000 users: 10 pages of users and 5 per org, read one after another. */
const DEVIN_USERS = 2_000;
const READ_LATENCY_MS = 2_500;
const WRITE_LATENCY_MS = 3_000;

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let configFile: string;
let observer: Daemon;
const procs: IdsyncProcess[] = [];

const small = company(60);
const larger = company(400);

beforeAll(async () => {
  redis = await startRedis();
  // Many Devin users (outside the synced email domain) make the Devin read long; the company's
  // own orgs and admins come from the same generator.
  const seed = {
    ...generateSeed({ users: DEVIN_USERS, groups: 0, orgs: 2, token: TOKEN }),
    idp_memberships: [],
  };
  sim = await startSimulator({ seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-shutdown-'));
  const port = await freePort();
  configFile = writeConfig(
    {
      dir,
      simUrl: sim.url,
      redisUrl: redis.url,
      orgs: seed.organizations.slice(0, 1).map((o) => o.name),
      extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n`,
    },
    small.directory,
  );
  observer = await startDaemon({
    config: await loadConfig(configFile),
    logger: silentLogger,
    workers: false,
    scheduler: false,
    tuning: { prefix: PREFIX },
  });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => stopProcess(p, 'SIGKILL')));
  await observer?.close();
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function start(): IdsyncProcess {
  const p = spawnIdsync(['run', '--config', configFile, '--prefix', PREFIX]);
  procs.push(p);
  return p;
}

async function runIn(status: RunRecord['status'], what: string, timeoutMs = 60_000): Promise<RunRecord> {
  return waitFor(
    async () => (await observer.store.list(10)).find((r) => r.status === status),
    what,
    timeoutMs,
    100,
  );
}

async function sigterm(p: IdsyncProcess): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  const code = await p.exited;
  return { code, ms: Date.now() - t0 };
}

async function finished(id: string, timeoutMs: number): Promise<RunRecord> {
  return waitFor(
    async () => {
      const r = await observer.store.get(id);
      return r && ['succeeded', 'partial', 'failed', 'blocked'].includes(r.status) ? r : undefined;
    },
    `run ${id} to finish`,
    timeoutMs,
    200,
  );
}

async function jobState(id: string): Promise<string> {
  const q = observer.queues.find((x) => x.name === SYNC_QUEUE);
  if (!q) throw new Error('no sync queue');
  return String(await q.getJobState(id));
}

describe.sequential('SIGTERM on a real idsync run process', () => {
  it('during a slow Devin read: exits 0 within 10 s, and the next process takes the same run and finishes it', async () => {
    sim.setFaults({ rules: [{ match: { method: 'GET' }, latencyMs: READ_LATENCY_MS }] });
    const first = start();
    await first.waitForLine(/idsync daemon listening/, 60_000);
    const planning = await runIn('planning', 'the startup run to start reading');
    // Well inside the read: a few pages in, twenty-odd seconds still to go.
    await waitFor(
      async () => (sim.requests().filter((e) => e.method === 'GET').length >= 4 ? true : undefined),
      'the first Devin pages',
      30_000,
    );
    const { code, ms } = await sigterm(first);
    console.info(`shutdown during the Devin read: exit ${code} after ${ms} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(GRACE_MS);
    expect(first.lines.join('\n')).not.toMatch(/"run failed"/);

    // Handed back, not failed: still planning, its job waiting for the next process.
    expect((await observer.store.get(planning.id))?.status).toBe('planning');
    expect(await jobState(planning.id)).toBe('waiting');

    sim.setFaults({ rules: [] });
    const second = start();
    const record = await finished(planning.id, 90_000);
    expect(record.status, record.error).toBe('succeeded');
    expect(record.opCounts?.failed ?? 0).toBe(0);
    expect(await stopProcess(second)).toBe(0);
  }, 180_000);

  it('while applying against slow writes: exits 0 within 10 s, the run resumes in the next process, no write applied twice', async () => {
    writeDirectory(dir, larger.directory);
    sim.setFaults({
      rules: ['POST', 'PUT', 'PATCH', 'DELETE'].map((method) => ({
        match: { method },
        latencyMs: WRITE_LATENCY_MS,
      })),
    });
    const third = start();
    const applying = await runIn('applying', 'the startup run to apply', 90_000);
    await waitFor(
      async () => ((await observer.store.settledCount(applying.id)) >= 20 ? true : undefined),
      'some ops to settle',
      90_000,
      200,
    );
    const { code, ms } = await sigterm(third);
    console.info(`shutdown while applying: exit ${code} after ${ms} ms`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(GRACE_MS);
    const handedBack = await observer.store.get(applying.id);
    expect(handedBack?.status).toBe('applying');
    expect(await jobState(applying.id)).toBe('waiting');

    sim.setFaults({ rules: [] });
    const fourth = start();
    const record = await finished(applying.id, 120_000);
    expect(record.status, JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
    expect(record.opCounts?.failed ?? 0).toBe(0);
    expect(await stopProcess(fourth)).toBe(0);

    const writes = appliedWrites(sim.requests());
    expect(appliedTwice(writes.byPath)).toEqual([]);
  }, 240_000);
});

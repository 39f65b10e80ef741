// Triggers: a burst coalesces into one run plus at most one pending; the job scheduler follows
// `schedule.every` (and goes away with it); a webhook's run reports what DaemonMetrics expects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULER_ID, SYNC_QUEUE } from '../../src/apply/queue/names.js';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { DaemonMetrics, RunRecord, TriggerResult } from '../../src/daemon/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { company, waitFor, writeConfig } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const scenario = company(60);

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: scenario.seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-triggers-'));
});

afterAll(async () => {
  for (const d of daemons) await d.close();
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function daemonWith(
  prefix: string,
  extra = '',
  metrics?: DaemonMetrics,
  scheduler = false,
): Promise<Daemon> {
  const file = writeConfig(
    { dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs, extra },
    scenario.directory,
  );
  const d = await startDaemon({
    config: await loadConfig(file),
    logger: silentLogger,
    workers: true,
    scheduler,
    tuning: { prefix },
    ...(metrics ? { metrics } : {}),
  });
  daemons.push(d);
  return d;
}

const final = (d: Daemon, id: string) =>
  waitFor(
    async () => {
      const r = await d.service.get(id);
      return r && ['succeeded', 'partial', 'failed'].includes(r.status) ? r : undefined;
    },
    `run ${id} to finish`,
    30_000,
    100,
  );

describe('triggers', () => {
  it('coalesces 100 triggers within a second into one run plus at most one pending', async () => {
    // Slow reads make the first run outlast the burst, so the burst meets it active.
    sim.setFaults({ rules: [{ match: { method: 'GET' }, latencyMs: 400 }] });
    const d = await daemonWith('burst');
    const sync = d.queues.find((q) => q.name === SYNC_QUEUE)!;
    const results: TriggerResult[] = [];
    const seen = { active: 0, waiting: 0 };
    const t0 = Date.now();
    for (let wave = 0; wave < 10; wave++) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          d.service.trigger({ trigger: 'webhook', reason: `burst ${wave}.${i}` }),
        ),
      );
      results.push(...batch);
      const counts = await sync.getJobCounts('active', 'waiting');
      seen.active = Math.max(seen.active, counts.active ?? 0);
      seen.waiting = Math.max(seen.waiting, counts.waiting ?? 0);
      await new Promise((r) => setTimeout(r, 40));
    }
    expect(Date.now() - t0).toBeLessThan(1000);

    const runIds = [...new Set(results.map((r) => r.runId))];
    expect(runIds.length).toBeGreaterThanOrEqual(1);
    expect(runIds.length).toBeLessThanOrEqual(2);
    expect(
      results
        .filter((r) => !r.coalesced)
        .map((r) => r.runId)
        .sort(),
    ).toEqual([...runIds].sort());
    expect(results.filter((r) => r.coalesced)).toHaveLength(100 - runIds.length);
    expect(seen.active).toBeLessThanOrEqual(1);
    expect(seen.waiting).toBeLessThanOrEqual(1);

    const records: RunRecord[] = [];
    for (const id of runIds) records.push(await final(d, id));
    expect(records.map((r) => r.status)).toEqual(runIds.map(() => 'succeeded'));
    // The first one did the work; a pending one found Devin already in step.
    expect(records[0]?.plan?.ops).toBe(scenario.total);
    const listed = await d.service.list(50);
    expect(listed.map((r) => r.id).sort()).toEqual([...runIds].sort());
    sim.setFaults({ rules: [] });
  });

  it('follows schedule.every with a job scheduler, and removes it with the schedule', async () => {
    const d = await daemonWith('sched', 'schedule:\n  every: 1h\n', undefined, true);
    const sync = d.queues.find((q) => q.name === SYNC_QUEUE)!;
    const schedulers = await sync.getJobSchedulers();
    expect(schedulers.map((s) => ({ key: s.key, every: s.every }))).toEqual([
      { key: SCHEDULER_ID, every: 3_600_000 },
    ]);
    // `every` fires once at once: that tick asks for a run like any trigger.
    const run = await waitFor(
      async () => (await d.service.list(5)).find((r) => r.trigger === 'schedule'),
      'a scheduled run',
    );
    expect((await final(d, run.id)).status).toBe('succeeded');

    await d.close();
    daemons.splice(daemons.indexOf(d), 1);
    const without = await daemonWith('sched', '', undefined, true);
    expect(await without.queues.find((q) => q.name === SYNC_QUEUE)!.getJobSchedulers()).toEqual([]);
  });

  it('reports a webhook run through DaemonMetrics, up to webhook-to-converged', async () => {
    const calls: Array<[string, ...unknown[]]> = [];
    const record =
      (name: string) =>
      (...args: unknown[]) =>
        void calls.push([name, ...args]);
    const metrics: DaemonMetrics = {
      runFinished: record('runFinished'),
      phaseDuration: record('phaseDuration'),
      opSettled: record('opSettled'),
      planSize: record('planSize'),
      guardrailBlocked: record('guardrailBlocked'),
      heldOps: record('heldOps'),
      sourceObjects: record('sourceObjects'),
      devinRequest: record('devinRequest'),
      lastSuccess: record('lastSuccess'),
      webhookToConverged: record('webhookToConverged'),
    };
    sim.reset();
    const d = await daemonWith('metrics', '', metrics);
    const receivedAt = Date.now();
    const { runId } = await d.service.trigger({
      trigger: 'webhook',
      reason: 'directory changed',
      receivedAt,
    });
    expect((await final(d, runId)).status).toBe('succeeded');

    const of = (name: string) => calls.filter((c) => c[0] === name).map((c) => c.slice(1));
    expect(of('runFinished')).toEqual([['webhook', 'succeeded']]);
    expect(
      of('phaseDuration')
        .map(([p]) => p)
        .sort(),
    ).toEqual(['apply', 'plan', 'read-devin', 'read-source']);
    expect(of('planSize')).toEqual([[scenario.total]]);
    expect(of('sourceObjects')).toEqual([[60, 1]]);
    expect(of('opSettled')).toHaveLength(scenario.total);
    expect(of('opSettled').filter(([, s]) => s !== 'applied')).toEqual([]);
    expect(of('guardrailBlocked')).toEqual([]);
    expect(of('lastSuccess')).toHaveLength(1);
    const [[seconds]] = of('webhookToConverged') as [[number]];
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan((Date.now() - receivedAt) / 1000 + 0.001);
    // Every exchange is reported, labelled by method and route template.
    expect(of('devinRequest').length).toBe(sim.requests().length);
    expect(of('devinRequest')).toContainEqual(['POST /v3/enterprise/members/users', 200]);
  });
});

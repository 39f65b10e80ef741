// Issue 9: a signed webhook is accepted once by the whole deployment, not once per process. Two
// real `idsync run` replicas share one redis-server: a request accepted by one is refused as a
// replay by the other, and by the first one after it restarts; two copies sent to both replicas
// at the same moment queue one run. The memory lives in Redis (SET NX, expiring with the window).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_RUN_STATUSES, type RunRecord } from '../../src/daemon/types.js';
import { SIGNATURE_TOLERANCE_SECONDS, signWebhook } from '../../src/server/index.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import {
  company,
  type IdsyncProcess,
  spawnIdsync,
  stopProcess,
  waitFor,
  writeConfig,
} from '../support/daemonRig.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const ADMIN = 'admin-token-replay-2d4f6a8c0e';
const SECRET = 'whsec_replay_5a7c9e1b3d';

const scenario = company(3);
let sim: RunningSimulator;
let redis: TestRedis;
let dir: string;
const replicas: Array<{ proc: IdsyncProcess; base: string; config: string }> = [];

async function startReplica(index: number, port?: number): Promise<void> {
  const httpPort = port ?? (await freePort());
  const config = writeConfig(
    {
      dir: mkdtempSync(join(dir, `r${index}-`)),
      simUrl: sim.url,
      redisUrl: redis.url,
      orgs: scenario.orgs,
      extra: `server:\n  host: 127.0.0.1\n  port: ${httpPort}\n  adminToken: ${ADMIN}\n  webhookSecret: ${SECRET}\n`,
    },
    scenario.directory,
  );
  const proc = spawnIdsync(['run', '--config', config]);
  await proc.waitForLine(/idsync daemon listening/, 60_000);
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined),
    `replica ${index} ready`,
    30_000,
    200,
  );
  replicas[index] = { proc, base, config };
}

function post(base: string, body: string, signature: string) {
  return fetch(`${base}/webhooks/resync`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-idsync-signature': signature },
    body,
    signal: AbortSignal.timeout(30_000),
  }).then(async (res) => ({ status: res.status, body: await res.text() }));
}

async function allRuns(base: string): Promise<RunRecord[]> {
  const res = await fetch(`${base}/api/runs?limit=100`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { runs: RunRecord[] }).runs;
}

const webhookRuns = async (base: string) => (await allRuns(base)).filter((r) => r.trigger === 'webhook');

/** No run waiting or active, so a webhook makes a run of its own rather than joining one. */
const settled = (base: string) =>
  waitFor(
    async () => ((await allRuns(base)).every((r) => FINAL_RUN_STATUSES.has(r.status)) ? true : undefined),
    'every run to finish',
    60_000,
    200,
  );

const replica = (i: number) => {
  const r = replicas[i];
  if (!r) throw new Error(`no replica ${i}`);
  return r;
};

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: scenario.seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-replay-'));
  await Promise.all([startReplica(0), startReplica(1)]);
});

afterAll(async () => {
  for (const r of replicas) if (r) await stopProcess(r.proc);
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('replayed webhooks across replicas', () => {
  const body = JSON.stringify({ reason: 'directory change 1001' });
  const signature = signWebhook(SECRET, body, Math.floor(Date.now() / 1000));

  it('accepted by replica A: refused as a replay by replica B', async () => {
    await settled(replica(0).base);
    const a = await post(replica(0).base, body, signature);
    expect(a.status, a.body).toBe(202);
    const b = await post(replica(1).base, body, signature);
    expect(b.status, b.body).toBe(401);
    expect(JSON.parse(b.body)).toMatchObject({
      error: 'unauthorized',
      message: expect.stringMatching(/already used/),
    });
    expect((await webhookRuns(replica(1).base)).map((r) => r.reason)).toEqual(['directory change 1001']);
  });

  it('the memory lives in Redis and expires with the signature window', async () => {
    const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const keys = await probe.keys('idsync:webhook-seen:*');
      expect(keys).toHaveLength(1);
      const ttl = await probe.ttl(keys[0] ?? '');
      console.log(`seen-signature key ${keys[0]} expires in ${ttl} s`);
      expect(ttl).toBeGreaterThan(SIGNATURE_TOLERANCE_SECONDS - 120);
      expect(ttl).toBeLessThanOrEqual(2 * SIGNATURE_TOLERANCE_SECONDS + 1);
    } finally {
      probe.disconnect();
    }
  });

  it('refused by replica A after a restart', async () => {
    const a = replica(0);
    const port = Number(new URL(a.base).port);
    expect(await stopProcess(a.proc)).toBe(0);
    await startReplica(0, port);
    const again = await post(replica(0).base, body, signature);
    expect(again.status, again.body).toBe(401);
    expect(await webhookRuns(replica(0).base)).toHaveLength(1);
  });

  it('two copies sent to both replicas at once: one 202, one refusal, one run', async () => {
    await settled(replica(0).base);
    const twin = JSON.stringify({ reason: 'directory change 1002' });
    const sig = signWebhook(SECRET, twin, Math.floor(Date.now() / 1000));
    const answers = await Promise.all([post(replica(0).base, twin, sig), post(replica(1).base, twin, sig)]);
    const statuses = answers.map((x) => x.status).sort();
    console.log(`two copies at once to two replicas: ${statuses.join(', ')}`);
    // The loser sees the claim as used (401) or, if the winner is still queuing, in progress (503).
    expect(statuses[0]).toBe(202);
    expect([401, 503]).toContain(statuses[1]);
    const runs = await webhookRuns(replica(1).base);
    expect(runs.filter((r) => r.reason === 'directory change 1002')).toHaveLength(1);
  });
});

// Issue 9: a real `idsync run` process started while nothing listens on its Redis port. It must
// listen anyway (/healthz 200, /readyz 503), answer every route that needs Redis with a quick 503
// and Retry-After, and recover by itself when redis-server comes up on that port: /readyz 200, the
// startup run works. A signed webhook answered 503 while Redis was down must not queue a run when
// Redis comes back; the sender's retry of that very request is accepted once. Then Redis goes
// away mid-life (SHUTDOWN SAVE) and comes back: the same fast 503s, the same recovery.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/daemon/types.js';
import { signWebhook } from '../../src/server/index.js';
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

const ADMIN = 'admin-token-redis-down-9f3c2a71';
const SECRET = 'whsec_redis_down_4e6b8d0c2a';
/** Far below the 616 s one request hung; generous for a loaded machine (the answer takes ms). */
const FAST_MS = 3_000;

const scenario = company(4);
let sim: RunningSimulator;
let redis: TestRedis | undefined;
let redisPort: number;
let dir: string;
let daemon: IdsyncProcess;
let base: string;

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: string;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
  const body = await res.text();
  return { status: res.status, ms: Date.now() - started, retryAfter: res.headers.get('retry-after'), body };
}

const auth = { authorization: `Bearer ${ADMIN}` };
const json = { 'content-type': 'application/json' };

function webhook(body: string, signature: string): Promise<Answer> {
  return call('/webhooks/resync', {
    method: 'POST',
    headers: { ...json, 'x-idsync-signature': signature },
    body,
  });
}

async function runs(): Promise<RunRecord[]> {
  const res = await call('/api/runs?limit=100', { headers: auth });
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { runs: RunRecord[] }).runs;
}

/** Every Redis-backed route answers 503 with Retry-After, quickly; the probes answer as they should. */
async function expectUnavailable(when: string): Promise<void> {
  const health = await call('/healthz');
  expect(health.status, `${when}: /healthz`).toBe(200);
  const ready = await call('/readyz');
  expect(ready.status, `${when}: /readyz`).toBe(503);
  expect(ready.ms).toBeLessThan(FAST_MS);
  const body = JSON.stringify({ reason: `while down: ${when}` });
  const answers: Record<string, Answer> = {
    list: await call('/api/runs', { headers: auth }),
    get: await call('/api/runs/some-run', { headers: auth }),
    report: await call('/api/runs/some-run/report.html', { headers: auth }),
    trigger: await call('/api/runs', { method: 'POST', headers: { ...auth, ...json }, body }),
    approve: await call('/api/runs/some-run/approve', { method: 'POST', headers: auth }),
    webhook: await webhook(body, signWebhook(SECRET, body, Math.floor(Date.now() / 1000))),
  };
  const slowest = Math.max(...Object.values(answers).map((a) => a.ms));
  console.log(`${when}: /readyz 503 in ${ready.ms} ms; the six Redis routes 503 within ${slowest} ms`);
  for (const [what, a] of Object.entries(answers)) {
    expect(a.status, `${when}: ${what} ${a.body}`).toBe(503);
    expect(a.retryAfter, `${when}: ${what}`).toBe('5');
    expect(a.ms, `${when}: ${what}`).toBeLessThan(FAST_MS);
    expect(JSON.parse(a.body)).toMatchObject({ error: 'unavailable' });
    // No Redis address or driver message reaches the caller.
    expect(a.body).not.toMatch(/127\.0\.0\.1|ECONN|Stream|ioredis|enableOfflineQueue/);
  }
  // The console's pages say the same as a page: 503, Retry-After, no driver detail.
  const pages: Record<string, Answer> = {
    runs: await call('/console', { headers: auth }),
    run: await call('/console/runs/some-run', { headers: auth }),
    decide: await call('/console/runs/some-run/decision', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'decision=approve',
    }),
  };
  for (const [what, a] of Object.entries(pages)) {
    expect(a.status, `${when}: console ${what}`).toBe(503);
    expect(a.retryAfter, `${when}: console ${what}`).toBe('5');
    expect(a.ms, `${when}: console ${what}`).toBeLessThan(FAST_MS);
    expect(a.body).toContain('The run service is unavailable right now');
    expect(a.body).not.toMatch(/127\.0\.0\.1|ECONN|Stream|ioredis|enableOfflineQueue/);
  }
  // An unauthenticated caller still learns nothing but 401.
  expect((await call('/api/runs')).status).toBe(401);
  expect((await call('/console')).status).toBe(401);
}

const ready = (timeoutMs: number) =>
  waitFor(
    async () => ((await call('/readyz')).status === 200 ? true : undefined),
    '/readyz 200',
    timeoutMs,
    200,
  );

beforeAll(async () => {
  sim = await startSimulator({ seed: scenario.seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-redis-down-'));
  redisPort = await freePort();
  const httpPort = await freePort();
  const file = writeConfig(
    {
      dir,
      simUrl: sim.url,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      orgs: scenario.orgs,
      extra: `server:\n  host: 127.0.0.1\n  port: ${httpPort}\n  adminToken: ${ADMIN}\n  webhookSecret: ${SECRET}\n`,
    },
    scenario.directory,
  );
  base = `http://127.0.0.1:${httpPort}`;
  // Nothing listens on redisPort yet.
  daemon = spawnIdsync(['run', '--config', file]);
});

afterAll(async () => {
  if (daemon) {
    const code = await stopProcess(daemon);
    if (code !== 0) console.log(daemon.lines.slice(-30).join('\n'));
  }
  await redis?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('idsync run with Redis down', () => {
  let refused: { body: string; signature: string };

  it('listens although Redis is down: /healthz 200, /readyz 503, the rest 503 + Retry-After at once', async () => {
    await daemon.waitForLine(/idsync daemon listening/, 45_000);
    await expectUnavailable('down at start');
    // The webhook a sender will retry once Redis is back.
    const body = JSON.stringify({ reason: 'hr-feed 4711 (sent while Redis was down)' });
    refused = { body, signature: signWebhook(SECRET, body, Math.floor(Date.now() / 1000)) };
    const first = await webhook(refused.body, refused.signature);
    expect(first.status).toBe(503);
    expect(first.retryAfter).toBe('5');
  });

  it('recovers when redis-server comes up on its port: /readyz 200, the startup run works', async () => {
    const startedAt = Date.now();
    redis = await startRedis({ port: redisPort });
    await ready(30_000);
    console.log(`/readyz 200 ${Date.now() - startedAt} ms after redis-server started`);
    const startup = await waitFor(
      async () => (await runs()).find((r) => r.trigger === 'startup' && r.status === 'succeeded'),
      'the startup run to succeed',
      60_000,
      250,
    );
    expect(startup.opCounts?.failed ?? 0).toBe(0);
  });

  it('the webhooks answered 503 queued nothing; the retry of one is accepted once, a replay refused', async () => {
    // Long enough for anything a 503'd request left behind to have been sent and run.
    await new Promise((r) => setTimeout(r, 3_000));
    const before = await runs();
    expect(before.filter((r) => r.trigger === 'webhook' || r.trigger === 'api')).toEqual([]);
    const retry = await webhook(refused.body, refused.signature);
    expect(retry.status, retry.body).toBe(202);
    const { runId } = JSON.parse(retry.body) as { runId: string };
    const replay = await webhook(refused.body, refused.signature);
    expect(replay.status).toBe(401);
    const after = await runs();
    const hooked = after.filter((r) => r.trigger === 'webhook');
    expect(hooked.map((r) => r.id)).toEqual([runId]);
    expect(hooked[0]?.reason).toBe('hr-feed 4711 (sent while Redis was down)');
  });

  it('Redis going away mid-life: the same fast 503s, then recovery when it is back', async () => {
    const r = redis;
    if (!r) throw new Error('no redis');
    // SHUTDOWN SAVE, 8 s down, then back on the same port with its data.
    const back = r.restart(8_000);
    await waitFor(
      async () => ((await call('/readyz')).status === 503 ? true : undefined),
      '/readyz 503 once Redis is gone',
      10_000,
      100,
    );
    await expectUnavailable('stopped mid-life');
    await back;
    await ready(30_000);
    const res = await call('/api/runs', {
      method: 'POST',
      headers: { ...auth, ...json },
      body: '{"reason":"after"}',
    });
    expect(res.status, res.body).toBe(202);
    const ids = (await runs()).filter((x) => x.reason === 'after');
    expect(ids).toHaveLength(1);
    // Nothing sent during the outage ran afterwards.
    expect((await runs()).filter((x) => x.reason?.startsWith('while down'))).toEqual([]);
  });
});

describe('shutdown while Redis has never answered', () => {
  it('SIGTERM: exits 0 promptly', async () => {
    const port = await freePort();
    const file = writeConfig(
      {
        dir: mkdtempSync(join(dir, 'never-')),
        simUrl: sim.url,
        redisUrl: `redis://127.0.0.1:${await freePort()}`,
        orgs: scenario.orgs,
        extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n`,
      },
      scenario.directory,
    );
    const p = spawnIdsync(['run', '--config', file]);
    await p.waitForLine(/idsync daemon listening/, 45_000);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    const started = Date.now();
    const code = await stopProcess(p);
    const ms = Date.now() - started;
    console.log(`SIGTERM with Redis never up: exit ${code} after ${ms} ms`);
    expect(code, p.lines.slice(-10).join('\n')).toBe(0);
    expect(ms).toBeLessThan(15_000);
  });
});

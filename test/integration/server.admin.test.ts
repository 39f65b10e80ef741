// The BullMQ dashboard under /admin/queues, on real queues in a real redis-server, behind the admin
// token as a bearer or as a Basic password.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/fakeRunService.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const ADMIN_TOKEN = 'adm_board_0e4b7c2a';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('/admin/queues', () => {
  let redis: TestRedis;
  let connection: Redis;
  let queue: Queue;
  let s: TestServer;
  const queueName = `idsync-board-${process.pid}`;

  beforeAll(async () => {
    redis = await startRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(queueName, { connection });
    await queue.add('sync', { trigger: 'api' }, { jobId: 'run-board-1' });
    s = await startServer({ server: { adminToken: ADMIN_TOKEN }, queues: [queue], logLevel: 'warn' });
  });
  afterAll(async () => {
    await s?.close();
    await queue?.obliterate({ force: true });
    await queue?.close();
    await connection?.quit();
    await redis?.stop();
  });

  const get = (path: string, authorization?: string) =>
    fetch(s.url + path, { headers: authorization === undefined ? {} : { authorization } });

  it('refuses requests without the token: 401 with a Basic challenge so browsers prompt', async () => {
    for (const auth of [
      undefined,
      'Bearer nope',
      basic('admin', 'nope'),
      basic(ADMIN_TOKEN, ''),
      'Basic !!!',
    ]) {
      const res = await get('/admin/queues', auth);
      expect(res.status, String(auth)).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="idsync"/);
      expect(await res.json()).toEqual({ error: 'unauthorized', message: 'missing or wrong admin token' });
    }
    expect((await get('/admin/queues/api/queues')).status).toBe(401);
  });

  it('serves the UI with the bearer token and with Basic (any user, password = token)', async () => {
    for (const auth of [`Bearer ${ADMIN_TOKEN}`, basic('admin', ADMIN_TOKEN), basic('', ADMIN_TOKEN)]) {
      const res = await get('/admin/queues', auth);
      expect(res.status, auth).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await res.text()).toContain('<base href="/admin/queues/"');
    }
  });

  it('loads its static assets (behind the same auth)', async () => {
    const html = await (await get('/admin/queues', `Bearer ${ADMIN_TOKEN}`)).text();
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+\.js)"/g)].map((m) => m[1] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const path = new URL(src, `${s.url}/admin/queues/`).pathname;
      expect(path.startsWith('/admin/queues/static/')).toBe(true);
      const asset = await get(path, basic('browser', ADMIN_TOKEN));
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(/javascript/);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
      expect((await get(path)).status).toBe(401);
    }
  });

  it('shows the given queues and their jobs through its API', async () => {
    const res = await get('/admin/queues/api/queues', `Bearer ${ADMIN_TOKEN}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: Array<{ name: string; counts: Record<string, number> }> };
    const shown = body.queues.find((q) => q.name === queueName);
    expect(shown).toBeDefined();
    expect(shown?.counts.waiting).toBe(1);
  });
});

// What the op workers load of a stored run: its ops alone (the plan's stats hold an entry per
// directory user, too much to parse before every run's first op), exactly as planned, with the
// whole plan as the fallback for a run stored before the ops part existed.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisKeys } from '../../src/apply/queue/names.js';
import { RunStore } from '../../src/daemon/runStore.js';
import { parsePlanJson, renderJson } from '../../src/report/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let conn: Redis;

beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  await conn?.quit();
  await redis?.stop();
});

const plan = parsePlanJson(
  readFileSync(new URL('../fixtures/plans/typical.json', import.meta.url), 'utf8'),
  'typical.json',
);

it('stores the ops apart from the plan and reads them back exactly', async () => {
  const store = new RunStore(conn, 'ops-a');
  const keys = new RedisKeys('ops-a');
  await store.create({ id: 'r1', trigger: 'api', createdAt: new Date().toISOString() });
  await store.storePlan('r1', plan, { json: renderJson(plan), md: '', html: '' });
  expect(plan.ops.length).toBeGreaterThan(3);
  expect(await store.ops('r1')).toEqual(plan.ops);
  // The ops part is a fraction of the plan, whose stats and warnings workers never need.
  const opsBytes = await conn.strlen(keys.runPart('r1', 'ops'));
  expect(opsBytes).toBeGreaterThan(0);
  expect(await store.ops('missing')).toBeUndefined();
});

it('falls back to the whole plan for a run stored without the ops part', async () => {
  const store = new RunStore(conn, 'ops-b');
  const keys = new RedisKeys('ops-b');
  await store.create({ id: 'r1', trigger: 'api', createdAt: new Date().toISOString() });
  await store.storePlan('r1', plan, { json: renderJson(plan), md: '', html: '' });
  await conn.del(keys.runPart('r1', 'ops'));
  expect(await store.ops('r1')).toEqual(plan.ops);
});

it('refuses a corrupt ops part with the run named, rather than running something else', async () => {
  const store = new RunStore(conn, 'ops-c');
  const keys = new RedisKeys('ops-c');
  await store.create({ id: 'r1', trigger: 'api', createdAt: new Date().toISOString() });
  await store.storePlan('r1', plan, { json: renderJson(plan), md: '', html: '' });
  const { gzipSync } = await import('node:zlib');
  await conn.set(keys.runPart('r1', 'ops'), gzipSync('{"version":1,"ops":[{"kind":"nope"}]}'));
  await expect(store.ops('r1')).rejects.toThrow(/stored ops of run r1/);
});

it('deletes the ops part with the rest of a trimmed run', async () => {
  const store = new RunStore(conn, 'ops-d');
  const keys = new RedisKeys('ops-d');
  for (const [i, id] of ['old', 'new'].entries()) {
    await store.create({
      id,
      trigger: 'api',
      createdAt: new Date(Date.now() - 10_000 + i * 1000).toISOString(),
    });
    await store.storePlan(id, plan, { json: renderJson(plan), md: '', html: '' });
    await store.transition(id, ['queued'], 'succeeded', { finishedAt: new Date().toISOString() });
  }
  expect(await store.trim(1)).toBe(1);
  expect(await conn.exists(keys.runPart('old', 'ops'))).toBe(0);
  expect(await conn.exists(keys.runPart('new', 'ops'))).toBe(1);
});

// The last successful run as the daemon stores it: read back exactly (10,000 directory ids
// included), and a stored base that does not parse is refused, never guessed, whichever part is off.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LastRun } from '../../src/state/ledger.js';
import { RedisStateStore } from '../../src/state/redisStateStore.js';
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

const userIds: Record<string, string> = {};
for (let i = 0; i < 10_000; i++) userIds[`id-${i}`] = `person${i}@corp.example`;
const run: LastRun = {
  at: '2026-12-01T12:00:00.000Z',
  directoryUsers: 10_000,
  fingerprint: 'sha256:abc',
  mappedGroups: [{ id: 'g1', name: 'devin-staff', members: 10, mappings: ['m'] }],
  userIds,
};

it('reads back what it recorded, every directory id included', async () => {
  const store = new RedisStateStore(conn, 'lr-a');
  await store.recordRun(run);
  expect((await store.load()).lastSuccessfulRun).toEqual(run);
});

it.each([
  ['a directory id that maps to a number', { ...run, userIds: { ...userIds, 'id-5': 5 } }],
  ['userIds as an array', { ...run, userIds: ['person0@corp.example'] }],
  ['userIds as a string', { ...run, userIds: 'person0@corp.example' }],
  ['a negative member count', { ...run, mappedGroups: [{ id: 'g', name: 'n', members: -1, mappings: [] }] }],
])('refuses a stored base with %s', async (_what, bad) => {
  await conn.set('lr-b:ledger:lastRun', JSON.stringify(bad));
  await expect(new RedisStateStore(conn, 'lr-b').load()).rejects.toThrow(/refusing to guess the base/);
});

it('reuses the ledger it loaded until anyone writes it, and never across a Redis that lost its data', async () => {
  const mine = new RedisStateStore(conn, 'lr-c');
  const replica = new RedisStateStore(conn, 'lr-c');
  await mine.replace({ version: 1, users: ['a@corp.example'], groups: ['devin-a'], groupRoles: [] });
  const first = await mine.load();
  expect(await mine.load()).toBe(first);
  expect(Object.isFrozen(first.users)).toBe(true);

  // Another replica's op and run: this process must see both at its next load.
  await replica.recordOp({
    kind: 'removeUser',
    key: 'removeUser/a@corp.example',
    email: 'a@corp.example',
    userId: 'u-a',
    expected: { role: null },
    reasons: ['test'],
  });
  const afterOp = await mine.load();
  expect(afterOp).not.toBe(first);
  expect(afterOp.users).toEqual([]);
  await replica.recordRun(run);
  expect((await mine.load()).lastSuccessfulRun).toEqual(run);

  // The run this process records is kept as written: its next load does not read it back (the
  // stored text, changed behind its back without a token, is not even looked at)...
  const mineRun = { ...run, at: '2026-12-02T00:00:00.000Z' };
  await mine.recordRun(mineRun);
  await conn.set('lr-c:ledger:lastRun', 'not json');
  expect((await mine.load()).lastSuccessfulRun).toEqual(mineRun);
  // ...while another process, or a write with a token, is read afresh.
  await expect(new RedisStateStore(conn, 'lr-c').load()).rejects.toThrow(/refusing to guess the base/);
  await replica.recordRun(run);
  expect((await mine.load()).lastSuccessfulRun).toEqual(run);
  // An op and a run both since the last load: both parts read again.
  await replica.recordOp({
    kind: 'inviteUsers',
    key: 'inviteUsers/account_member/batch-1',
    emails: ['d@corp.example'],
    role: { id: 'account_member', name: 'Member' },
    expected: { member: false },
    reasons: ['test'],
  });
  await replica.recordRun(mineRun);
  const both = await mine.load();
  expect(both.users).toEqual(['d@corp.example']);
  expect(both.lastSuccessfulRun).toEqual(mineRun);

  // Redis restarted empty: the keys are gone, version tokens included; nothing cached is used.
  await conn.del(
    'lr-c:ledger:users',
    'lr-c:ledger:groups',
    'lr-c:ledger:lastRun',
    'lr-c:ledger:version',
    'lr-c:ledger:lastRunVersion',
  );
  const empty = await mine.load();
  expect(empty.users).toEqual([]);
  expect(empty.lastSuccessfulRun).toBeUndefined();
  // A ledger written without a token (an older idsync): read in full every time.
  await conn.sadd('lr-c:ledger:users', 'b@corp.example');
  expect((await mine.load()).users).toEqual(['b@corp.example']);
  await conn.sadd('lr-c:ledger:users', 'c@corp.example');
  expect((await mine.load()).users).toEqual(['b@corp.example', 'c@corp.example']);
});

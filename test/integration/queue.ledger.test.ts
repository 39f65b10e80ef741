// The Redis ledger store: the same ledger as ledgerAfterOp (property-checked over every op kind),
// atomic per op when many workers record at once, and the job-id rules BullMQ imposes.
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRunId, opJobId, sanitizeJobIdPart } from '../../src/apply/queue/names.js';
import type { Op, OpKind } from '../../src/reconcile/plan.js';
import { EMPTY_LEDGER, ledgerAfterOp, type OwnershipLedger } from '../../src/state/ledger.js';
import { ledgerDelta, RedisStateStore } from '../../src/state/redisStateStore.js';
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

const role = { id: 'account_member', name: 'Member' };
const org = { id: 'org-1', name: 'One' };
const email = fc.constantFrom('a@corp.example', 'B@Corp.example', 'c@corp.example');
const group = fc.constantFrom('devin-a', 'devin-b', 'devin-c');

const anyOp: fc.Arbitrary<Op> = fc.oneof(
  fc.array(email, { minLength: 1, maxLength: 3 }).map((emails) => ({
    kind: 'inviteUsers' as const,
    key: 'k',
    reasons: [],
    emails,
    role,
    expected: { member: false as const },
  })),
  email.map((e) => ({
    kind: 'removeUser' as const,
    key: 'k',
    reasons: [],
    email: e,
    userId: 'u',
    expected: { role },
  })),
  fc.array(group, { minLength: 1, maxLength: 3 }).map((groups) => ({
    kind: 'registerIdpGroups' as const,
    key: 'k',
    reasons: [],
    groups,
    expected: { registered: false as const },
  })),
  group.map((g) => ({
    kind: 'unregisterIdpGroup' as const,
    key: 'k',
    reasons: [],
    group: g,
    expected: { registered: true as const },
  })),
  group.map((g) => ({
    kind: 'setGroupEnterpriseRole' as const,
    key: 'k',
    reasons: [],
    group: g,
    role,
    expected: { role: null },
  })),
  group.map((g) => ({
    kind: 'setGroupOrgRole' as const,
    key: 'k',
    reasons: [],
    group: g,
    org,
    role,
    expected: { role: null },
  })),
  group.map((g) => ({
    kind: 'removeGroupEnterpriseRole' as const,
    key: 'k',
    reasons: [],
    group: g,
    expected: { role },
  })),
  group.map((g) => ({
    kind: 'removeGroupOrgRole' as const,
    key: 'k',
    reasons: [],
    group: g,
    org,
    expected: { role },
  })),
  email.map((e) => ({
    kind: 'adopt' as const,
    key: 'k',
    reasons: [],
    target: { type: 'user' as const, email: e },
    expected: { exists: true as const },
  })),
  group.map((g) => ({
    kind: 'adopt' as const,
    key: 'k',
    reasons: [],
    target: { type: 'group' as const, group: g },
    expected: { exists: true as const },
  })),
  group.map((g) => ({
    kind: 'adopt' as const,
    key: 'k',
    reasons: [],
    target: { type: 'groupRole' as const, group: g, orgId: 'org-1' },
    expected: { exists: true as const },
  })),
  email.map((e) => ({
    kind: 'addOrgUser' as const,
    key: 'k',
    reasons: [],
    email: e,
    userId: null,
    org,
    role,
    expected: { role: null },
  })),
);

function applyDelta(l: OwnershipLedger, op: Op): OwnershipLedger {
  const d = ledgerDelta(op);
  const out = { ...l };
  for (const s of ['users', 'groups', 'groupRoles'] as const) {
    const set = new Set(l[s]);
    for (const x of d.add[s]) set.add(x);
    for (const x of d.remove[s]) set.delete(x);
    out[s] = [...set].sort();
  }
  return out;
}

describe('RedisStateStore', () => {
  it('records every op kind exactly as ledgerAfterOp does', () => {
    fc.assert(
      fc.property(fc.array(anyOp, { maxLength: 30 }), (ops) => {
        let expected = EMPTY_LEDGER;
        let actual = EMPTY_LEDGER;
        for (const op of ops) {
          expected = ledgerAfterOp(expected, op);
          actual = applyDelta(actual, op);
          expect(actual).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ends where the file store would after the same ops in Redis, many at once', async () => {
    const store = new RedisStateStore(conn, 'ledger1');
    const ops = fc.sample(anyOp, { numRuns: 200, seed: 3 });
    // Order matters for add-then-remove of one subject, so apply in order but without awaiting
    // each write: the MULTI per op keeps each one whole.
    await Promise.all(ops.map((op) => store.recordOp(op)));
    const expected = ops.reduce(ledgerAfterOp, EMPTY_LEDGER);
    expect(await store.load()).toEqual(expected);
    await store.recordRun({ at: '2025-01-01T00:00:00.000Z', directoryUsers: 3, fingerprint: 'sha256:x' });
    expect((await store.load()).lastSuccessfulRun?.directoryUsers).toBe(3);
    expect(await store.isEmpty()).toBe(false);
    expect(await new RedisStateStore(conn, 'ledger2').isEmpty()).toBe(true);
  });

  it('never loses an op when 500 workers record at once', async () => {
    const store = new RedisStateStore(conn, 'ledger3');
    const emails = Array.from({ length: 500 }, (_, i) => `u${i}@corp.example`);
    await Promise.all(
      emails.map((e) =>
        store.recordOp({
          kind: 'inviteUsers',
          key: e,
          reasons: [],
          emails: [e],
          role,
          expected: { member: false },
        }),
      ),
    );
    expect((await store.load()).users).toHaveLength(500);
  });
});

describe('job ids', () => {
  it('never contain ":" nor are integers, and keep distinct keys distinct', () => {
    const kinds: OpKind[] = ['addOrgUser', 'registerIdpGroups'];
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.constantFrom(...kinds), (a, b, kind) => {
        const ia = opJobId('run-1', `${kind}/${a}`);
        const ib = opJobId('run-1', `${kind}/${b}`);
        expect(ia).not.toContain(':');
        expect(/^\d+$/.test(ia)).toBe(false);
        if (a !== b) expect(ia).not.toBe(ib);
      }),
    );
    expect(sanitizeJobIdPart('a:b%c')).toBe('a%3Ab%25c');
    expect(newRunId(new Date('2025-03-12T10:15:30.123Z'), () => 0.5)).toBe('run-20250312T101530Z-800000');
  });
});

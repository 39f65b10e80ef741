// The daemon's Entra source against the Graph simulator (real HTTPS, real token endpoint) and a
// real redis-server: a full delta round first, then incremental rounds that see adds and removes
// (`@removed` users and members, members split across repeated group objects and pages), a 410
// that resets to a full read, a 503 mid-round that leaves everything as it was (complete: false,
// no link advanced), and a state that outlives the source object because it lives in Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EntraSourceConfig } from '../../src/config/types.js';
import { FullReadTimer } from '../../src/daemon/entra.js';
import type { RunService } from '../../src/daemon/types.js';
import { entraTokenProvider } from '../../src/directory/entra/auth.js';
import {
  DeltaStateStore,
  deltaKeys,
  EntraDeltaReadError,
  EntraDeltaSource,
} from '../../src/directory/entra/deltaSource.js';
import { GraphClient } from '../../src/directory/entra/graphClient.js';
import { NOT_MAPPED } from '../../src/directory/entra/read.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import { silentLogger } from '../../src/log/logger.js';
import type { GroupSelector } from '../../src/reconcile/policy.js';
import {
  CLIENT,
  CLIENT_SECRET,
  gid,
  loadEntraConfig,
  person,
  TENANT,
  tenant,
  uid,
} from '../support/entraRig.js';
import { type GraphSimulator, startGraphSimulator } from '../support/graphSimulator/index.js';
import { startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let conn: Redis;
let sim: GraphSimulator;
let dir: string;
let source: EntraSourceConfig;
let selectors: GroupSelector[];
let prefix: string;
let seq = 0;

beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  dir = mkdtempSync(join(tmpdir(), 'idsync-entra-delta-'));
});

afterAll(async () => {
  await sim?.stop();
  conn?.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh tenant and prefix per test: each starts with no delta state. */
beforeEach(async () => {
  await sim?.stop();
  const t = tenant();
  sim = await startGraphSimulator({
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: CLIENT_SECRET,
    ...t,
    // Small pages and small group objects: every round spans pages, and devin-staff's six
    // members come as three repeated objects of the group.
    deltaPageSize: 3,
    maxMembersPerDeltaGroupObject: 2,
  });
  const loaded = await loadEntraConfig({ dir, sim, devinUrl: 'http://127.0.0.1:9' });
  source = loaded.source;
  selectors = loaded.config.policy.mappings.map((m) => m.group);
  prefix = `delta${++seq}`;
});

function deltaSource(
  opts: { config?: Partial<EntraSourceConfig>; now?: () => number } = {},
): EntraDeltaSource {
  const config = { ...source, ...opts.config };
  return new EntraDeltaSource({
    config,
    selectors,
    store: new DeltaStateStore(conn, prefix),
    client: new GraphClient({ config, tokens: entraTokenProvider(config) }),
    ...(opts.now ? { now: opts.now } : {}),
  });
}

const ids = (s: DirectorySnapshot) => s.users.map((u) => u.id).sort();
const group = (s: DirectorySnapshot, id: string) => s.groups.find((g) => g.id === id);
const sorted = (a: readonly string[] | undefined) => [...(a ?? [])].sort();
const deltaRequests = () =>
  sim.requests.filter((r) => /\/v1\.0\/(users|groups)\/delta$/.test(r.path) && r.method === 'GET');
const storedBlob = () => conn.hgetBuffer(deltaKeys(prefix).state, 'data');

describe('the first round', () => {
  it('is a full one: every user, every group, the mapped ones with direct members, merged across pages', async () => {
    const snap = await deltaSource().read();
    expect(snap.complete).toBe(true);
    expect(snap.source).toMatch(/^entra:.* \(full delta read: no stored delta state\)$/);
    expect(ids(snap)).toEqual(sorted(tenant().users.map((u) => u.id)));
    expect(group(snap, gid('staff'))).toMatchObject({ name: 'devin-staff', memberGroupIds: [gid('sre')] });
    expect(sorted(group(snap, gid('staff'))?.memberUserIds)).toEqual(sorted([1, 2, 3, 4, 5].map(uid)));
    expect(sorted(group(snap, gid('sre'))?.memberUserIds)).toEqual(sorted([uid(6), uid(7)]));
    // Listed so renames stay visible, but nobody is concluded from a group no mapping reaches.
    expect(group(snap, gid('unrelated'))).toMatchObject({ memberUserIds: [], unreadable: NOT_MAPPED });
    const reqs = deltaRequests();
    expect(reqs.some((r) => r.query.$deltatoken !== undefined)).toBe(false);
    expect(reqs.filter((r) => r.path.endsWith('/groups/delta')).length).toBeGreaterThan(1);
    expect(reqs.find((r) => r.path.endsWith('/users/delta'))?.query.$select).toContain('userPrincipalName');
    expect(reqs.find((r) => r.path.endsWith('/groups/delta'))?.query.$select).toBe('displayName,members');
    expect(await storedBlob()).not.toBeNull();
  });

  it('with no stored state to fall back on, a failing round throws', async () => {
    sim.fault({ path: /\/v1\.0\/groups\/delta$/, status: 503, times: Number.POSITIVE_INFINITY });
    await expect(deltaSource({ config: { retryBudgetMs: 200 } }).read()).rejects.toThrow(EntraDeltaReadError);
    expect(await storedBlob()).toBeNull();
  });
});

describe('incremental rounds', () => {
  it('see adds and removes, @removed users and members included, from the stored links', async () => {
    const s = deltaSource();
    await s.read();
    sim.clearRequests();
    sim.addUser(person(10));
    sim.addMember(gid('staff'), uid(10));
    sim.removeMember(gid('staff'), uid(1));
    sim.removeMember(gid('sre'), uid(6));
    sim.deleteUser(uid(2));
    sim.renameGroup(gid('sre'), 'site-reliability');
    const snap = await s.read();
    expect(snap.complete).toBe(true);
    expect(snap.source).toMatch(/\(incremental delta read; last full read \d+ s ago\)$/);
    expect(ids(snap)).toContain(uid(10));
    expect(ids(snap)).not.toContain(uid(2));
    // A deleted user leaves its groups too (members@delta @removed), as in Entra.
    expect(sorted(group(snap, gid('staff'))?.memberUserIds)).toEqual(
      sorted([uid(3), uid(4), uid(5), uid(10)]),
    );
    expect(group(snap, gid('sre'))).toMatchObject({ name: 'site-reliability', memberUserIds: [uid(7)] });
    // Only the delta links were followed: every request continued a round.
    const reqs = deltaRequests();
    expect(reqs.length).toBeGreaterThan(0);
    expect(reqs.every((r) => r.query.$deltatoken !== undefined || r.query.$skiptoken !== undefined)).toBe(
      true,
    );
  });

  it('merge a group whose new members come split across repeated objects and pages', async () => {
    const s = deltaSource();
    await s.read();
    for (let n = 20; n < 31; n++) {
      sim.addUser(person(n));
      sim.addMember(gid('sre'), uid(n));
    }
    const snap = await s.read();
    const expected = sim.groups().find((g) => g.id === gid('sre'))?.members ?? [];
    expect(sorted(group(snap, gid('sre'))?.memberUserIds)).toEqual(sorted(expected));
    expect(expected).toHaveLength(13);
  });

  it('a 410 on the stored link gives a full read, which then carries on incrementally', async () => {
    const s = deltaSource();
    await s.read();
    sim.expireDeltaLinks();
    sim.addMember(gid('staff'), uid(9));
    sim.deleteGroup(gid('unrelated'));
    sim.clearRequests();
    const snap = await s.read();
    expect(snap.complete).toBe(true);
    expect(snap.source).toMatch(
      /full delta read: Graph can no longer continue the (users|groups) delta .*410/,
    );
    expect(group(snap, gid('staff'))?.memberUserIds).toContain(uid(9));
    expect(group(snap, gid('unrelated'))).toBeUndefined();
    expect(deltaRequests().some((r) => r.status === 410)).toBe(true);
    sim.addMember(gid('sre'), uid(8));
    const next = await s.read();
    expect(next.source).toMatch(/incremental/);
    expect(group(next, gid('sre'))?.memberUserIds).toContain(uid(8));
  });

  it('a 503 mid-round: the stored state comes back incomplete, and no link moves past the changes', async () => {
    const s = deltaSource({ config: { retryBudgetMs: 300 } });
    const first = await s.read();
    const before = await storedBlob();
    // Enough changed users for several pages; the second page of users/delta fails for good.
    for (let n = 40; n < 48; n++) sim.addUser(person(n));
    sim.removeMember(gid('staff'), uid(3));
    sim.fault({ path: /\/v1\.0\/users\/delta$/, status: 503, skip: 1, times: Number.POSITIVE_INFINITY });
    const failed = await s.read();
    expect(failed.complete).toBe(false);
    expect(failed.incompleteReasons.join(' ')).toMatch(
      /incremental Entra delta read failed .*503.* nobody is removed/,
    );
    expect(failed.source).toMatch(/incremental delta read FAILED; directory as stored \d+ s ago/);
    // The directory as it was: not one of the new users, uid(3) still a member.
    expect(ids(failed)).toEqual(ids(first));
    expect(group(failed, gid('staff'))?.memberUserIds).toContain(uid(3));
    expect(await storedBlob()).toEqual(before);

    sim.clearFaults();
    const healed = await s.read();
    expect(healed.complete).toBe(true);
    for (let n = 40; n < 48; n++) expect(ids(healed)).toContain(uid(n));
    expect(group(healed, gid('staff'))?.memberUserIds).not.toContain(uid(3));
  });

  it('a failed full read (after a 410) also falls back to the stored state', async () => {
    const s = deltaSource({ config: { retryBudgetMs: 200 } });
    await s.read();
    sim.expireDeltaLinks();
    sim.fault({ path: /\/v1\.0\/groups\/delta$/, status: 503, skip: 1, times: Number.POSITIVE_INFINITY });
    const snap = await s.read();
    expect(snap.complete).toBe(false);
    expect(snap.incompleteReasons[0]).toMatch(/the full Entra delta read failed/);
    expect(group(snap, gid('staff'))?.memberGroupIds).toEqual([gid('sre')]);
  });
});

describe('the stored state', () => {
  it('outlives the source object: a new one (a restarted daemon) continues incrementally from Redis', async () => {
    await deltaSource().read();
    sim.addMember(gid('staff'), uid(9));
    sim.clearRequests();
    const snap = await deltaSource().read();
    expect(snap.source).toMatch(/incremental/);
    expect(group(snap, gid('staff'))?.memberUserIds).toContain(uid(9));
    expect(ids(snap)).toEqual(sorted(sim.users().map((u) => u.id)));
    expect(
      deltaRequests().every((r) => r.query.$deltatoken !== undefined || r.query.$skiptoken !== undefined),
    ).toBe(true);
  });

  it('a requested full read (a missed notification) makes the next round full, once', async () => {
    const s = deltaSource();
    await s.read();
    await s.requestFullRead('Graph reported missed notifications (test)');
    expect((await s.read()).source).toMatch(/full delta read: Graph reported missed notifications \(test\)/);
    expect((await s.read()).source).toMatch(/incremental/);
  });

  it('once fullReadEvery has passed, the round is a full one', async () => {
    let offset = 0;
    const s = deltaSource({ config: { fullReadEvery: 3600 }, now: () => Date.now() + offset });
    await s.read();
    expect((await s.read()).source).toMatch(/incremental/);
    offset = 3601_000;
    expect((await s.read()).source).toMatch(
      /full delta read: the last full read was 1 h ago \(fullReadEvery\)/,
    );
  });

  it('another tenant’s state is never continued, nor served', async () => {
    await deltaSource().read();
    const other = deltaSource({ config: { tenantId: '00000000-0000-4000-8000-000000000001' } });
    // The simulator knows only its own tenant: the sign-in fails, and the old state is not served.
    await expect(other.read()).rejects.toThrow(EntraDeltaReadError);
  });

  it('an unreadable stored state is replaced by a full read', async () => {
    await conn.hset(deltaKeys(prefix).state, 'data', Buffer.from('not gzip'));
    const snap = await deltaSource().read();
    expect(snap.source).toMatch(/full delta read: the stored Entra delta state is unreadable/);
    expect(snap.complete).toBe(true);
  });
});

describe('the full reconcile timer', () => {
  it('asks for a run once fullReadEvery has passed since the last full round, once per overdue read', async () => {
    const store = new DeltaStateStore(conn, prefix);
    let offset = 0;
    const now = () => Date.now() + offset;
    const asked: Array<Parameters<RunService['trigger']>[0]> = [];
    const timer = new FullReadTimer({
      store,
      everyMs: 3600_000,
      trigger: async (t) => {
        asked.push(t);
        return { runId: `run-${asked.length}`, coalesced: false };
      },
      logger: silentLogger,
      now,
    });
    // Never read: a first read may be under way, so nothing is asked for at once.
    await timer.check();
    expect(asked).toEqual([]);
    await deltaSource({ config: { fullReadEvery: 3600 }, now }).read();
    await timer.check();
    expect(asked).toEqual([]);
    offset = 3600_000;
    await timer.check();
    await timer.check();
    expect(asked).toEqual([
      { trigger: 'schedule', reason: expect.stringMatching(/the last was 1 h ago \(fullReadEvery\)/) },
    ]);
    // That run did not happen (or failed): asked again after a while, not at every check.
    offset = 3600_000 + 16 * 60_000;
    await timer.check();
    expect(asked).toHaveLength(2);
    // The run the timer asked for reads in full; then nothing is due.
    expect((await deltaSource({ config: { fullReadEvery: 3600 }, now }).read()).source).toMatch(
      /full delta read/,
    );
    await timer.check();
    expect(asked).toHaveLength(2);
  });
});

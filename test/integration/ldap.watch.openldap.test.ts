// The LDAP watch against real slapd servers (test/support/slapd.ts) and a real redis-server: the
// poller (src/daemon/watermark.ts) reads the watermark through a loopback proxy that decodes every
// request (test/support/ldapProxy.ts), so the tests count what an idle poll costs and can make
// "another server" answer the same address, as a load balancer or a DNS failover would.
// - with syncprov: contextCSN moves on a change and a run is asked for; an idle poll is one
//   base-scope read of the suffix;
// - without syncprov: the newest entryCSN; and modifyTimestamp for an account that may not read
//   entryCSN (what a server without entryCSN looks like);
// - a burst of changes gives one run; a bulk change larger than a poll's page is one move;
// - another server, or the same one restored from a backup (contextCSN back), asks for a full
//   reconcile; a failed poll asks for nothing, and recovering at another server is a failover;
// - two replicas: one polls.
// The run itself is not started here (test/support/watchRig.ts records the trigger):
// daemon.watch.test.ts runs `idsync run` end to end.
import { rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullReconcileKey } from '../../src/daemon/fullReconcile.js';
import { watchKeys } from '../../src/daemon/watermark.js';
import { probeLdap } from '../../src/directory/ldap/probe.js';
import { addMemberLdif, companyLdif, retitleLdif } from '../support/companyLdif.js';
import { waitFor } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { freePort, run, type Slapd, startSlapd } from '../support/slapd.js';
import { startWatch, type Watch } from '../support/watchRig.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const SYSTEM = `ou=system,${SUFFIX}`;
const WATCHER = `uid=watcher,${SYSTEM}`;
const WATCHER_PW = 'watcher-Pa55!';
/** May not read entryCSN: sees what a server without entryCSN shows (modifyTimestamp only). */
const TS_WATCHER = `uid=watcher-ts,${SYSTEM}`;
const TS_WATCHER_PW = 'watcher-ts-Pa55!';
const ENG = `cn=devin-eng,${GROUPS}`;
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const UIDS = Array.from({ length: 130 }, (_, i) => `user${String(i).padStart(3, '0')}`);

const ACLS = [`to attrs=entryCSN by dn.exact="${TS_WATCHER}" none by * break`];

function preload(): string {
  return companyLdif({
    suffix: SUFFIX,
    accounts: [
      { dn: WATCHER, pw: WATCHER_PW },
      { dn: TS_WATCHER, pw: TS_WATCHER_PW },
    ],
    uids: UIDS,
    groups: [{ dn: ENG, cn: 'devin-eng', members: [person('user000')] }],
  });
}

const addMember = (uid: string) => addMemberLdif(ENG, person(uid));
const retitle = (uid: string, title: string) => retitleLdif(person(uid), title);

let redisServer: TestRedis;
let redis: Redis;
let withSyncprov: Slapd;
let plain: Slapd;
let other: Slapd;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  [withSyncprov, plain, other] = await Promise.all([
    startSlapd({ tls: false, syncprov: true, preload: preload(), acls: ACLS }),
    startSlapd({ tls: false, preload: preload(), acls: ACLS }),
    // An unrelated server with the same suffix and data: another entryUUID.
    startSlapd({ tls: false, syncprov: true, preload: preload(), acls: ACLS }),
  ]);
}, 120_000);

// Each test's pollers stop with it: a poller left running would poll through the next tests.
afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop().catch(() => undefined);
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([withSyncprov?.stop(), plain?.stop(), other?.stop()]);
  await redisServer?.stop();
});

const watches: Watch[] = [];

async function watch(
  server: Slapd,
  prefix: string,
  o: { intervalMs?: number; debounceMs?: number; bindDN?: string; password?: string; leaseMs?: number } = {},
): Promise<Watch> {
  const w = await startWatch({
    serverUrl: server.url,
    redis,
    prefix,
    source: {
      bindDN: o.bindDN ?? WATCHER,
      bindPassword: o.password ?? WATCHER_PW,
      profile: 'openldap',
      userBase: PEOPLE,
      groupBase: GROUPS,
    },
    ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
    ...(o.debounceMs !== undefined ? { debounceMs: o.debounceMs } : {}),
    ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
  });
  watches.push(w);
  return w;
}

const triggered = (w: Watch, n: number, what: string) => w.triggered(n, what);
const started = (w: Watch) => w.started();

describe('OpenLDAP with syncprov: contextCSN', () => {
  it('validate says which watermark each server offers', async () => {
    const source = (server: Slapd, bindDN: string, bindPassword: string) => ({
      type: 'ldap' as const,
      url: server.url,
      bindDN,
      bindPassword,
      profile: 'openldap' as const,
      userBase: PEOPLE,
      groupBase: GROUPS,
      insecureSkipVerify: false,
    });
    const line = async (server: Slapd, bindDN = WATCHER, pw = WATCHER_PW) =>
      (await probeLdap(source(server, bindDN, pw), [])).find((c) => c.key === 'source.watch');
    expect(await line(withSyncprov)).toEqual({
      key: 'source.watch',
      status: 'ok',
      message: `${SUFFIX} offers contextCSN (syncprov): one base read per poll; source.watch is off`,
    });
    expect((await line(plain))?.message).toMatch(
      /^dc=example,dc=com has no contextCSN \(no syncprov overlay\): the watch polls for the newest entryCSN/,
    );
    expect((await line(plain, TS_WATCHER, TS_WATCHER_PW))?.message).toMatch(
      /has neither contextCSN nor entryCSN: the watch polls for the newest modifyTimestamp/,
    );
  });

  it('a change moves contextCSN and asks for one watch run; an idle poll is one base-scope read of the suffix', async () => {
    const w = await watch(withSyncprov, 'ctx');
    await started(w);
    expect(w.poller.status().last?.kind).toBe('contextCSN');
    expect(w.poller.status().last?.server).toMatch(/^entryUUID=[0-9a-f-]{36}$/);

    // Idle: the proxy sees one search per poll, base scope, on the suffix; no bind, nothing else.
    const mark = w.proxy.requests.length;
    await w.afterPolls(10);
    const idle = w.proxy.requests.slice(mark);
    expect(idle.length).toBeGreaterThanOrEqual(10);
    expect(idle.length).toBeLessThanOrEqual(11); // a poll may be in flight
    expect(idle.every((r) => r.op === 'search' && r.scope === 'base' && r.base === SUFFIX)).toBe(true);
    expect(new Set(idle.map((r) => r.connection)).size).toBe(1);
    expect(w.triggers).toHaveLength(1);

    await withSyncprov.modify(addMember('user001'));
    const moved = await triggered(w, 2, 'the run of the change');
    expect(moved).toMatchObject({ trigger: 'watch' });
    expect(moved.reason).toMatch(/contextCSN moved from \S+ to \S+/);
    // The watermark that run was asked for is stored for the next lease holder.
    const stored = JSON.parse((await redis.get(watchKeys('ctx').watermark)) ?? '{}') as { value?: string };
    expect(stored.value).toBe(w.poller.status().last?.value);
    expect(await redis.get(fullReconcileKey('ctx'))).toBeNull();
  });

  it('a burst of changes over a second gives one run once it has stopped (debounce)', async () => {
    const w = await watch(withSyncprov, 'burst', { intervalMs: 150, debounceMs: 500 });
    await started(w);
    const before = w.triggers.length;
    for (let i = 0; i < 8; i++) {
      await withSyncprov.modify(retitle(UIDS[10 + i] as string, `burst ${i}`));
      await sleep(120);
    }
    await triggered(w, before + 1, 'the run of the burst');
    // Well past the debounce: still one run for the whole burst, though several polls saw moves.
    await sleep(1_500);
    expect(w.triggers).toHaveLength(before + 1);
    expect(w.polls.filter((p) => p === 'moved').length).toBeGreaterThan(1);
  });

  it('another server behind the same address is a failover: a full reconcile, then the run', async () => {
    const w = await watch(withSyncprov, 'other-server');
    await started(w);
    w.proxy.retarget(other.url);
    const failover = await triggered(w, 2, 'the failover run');
    expect(failover.reason).toMatch(/a different server answers .*full reconcile/);
    expect(await redis.get(fullReconcileKey('other-server'))).toMatch(
      /^LDAP watch: a different server answers/,
    );
    expect(w.polls).toContain('failover');
  });

  it('the same server restored from a backup (contextCSN went back) is a failover', async () => {
    const w = await watch(withSyncprov, 'restored');
    await started(w);
    // The backup: slapcat of the running server (mdb allows a reader beside slapd).
    const { stdout: backup } = await run('/usr/sbin/slapcat', [
      '-F',
      join(withSyncprov.dir, 'slapd.d'),
      '-b',
      SUFFIX,
    ]);
    await withSyncprov.modify(retitle('user050', 'after the backup'));
    await triggered(w, 2, 'the run of the change after the backup');

    // Restore: stop, empty the database, load the backup, start on the same port.
    await withSyncprov.kill();
    for (const f of ['data.mdb', 'lock.mdb']) await rm(join(withSyncprov.dir, 'data', f), { force: true });
    // -w writes the contextCSN of what was loaded (without it, syncprov would stamp a new one at start).
    await run('/usr/sbin/slapadd', ['-q', '-w', '-F', join(withSyncprov.dir, 'slapd.d'), '-b', SUFFIX], {
      input: backup,
    });
    await withSyncprov.restart();
    const failover = await triggered(w, 3, 'the failover run after the restore');
    expect(failover.reason).toMatch(/contextCSN went back from .* full reconcile/);
    expect(await redis.get(fullReconcileKey('restored'))).toMatch(/went back/);
  });
});

describe('OpenLDAP without syncprov', () => {
  it('entryCSN: a change asks for a run; an idle poll is one small subtree search', async () => {
    const w = await watch(plain, 'entrycsn');
    await started(w);
    expect(w.poller.status().last?.kind).toBe('entryCSN');
    const mark = w.proxy.requests.length;
    await w.afterPolls(5);
    const idle = w.proxy.requests.slice(mark);
    expect(idle.length).toBeLessThanOrEqual(6);
    expect(idle.every((r) => r.op === 'search' && r.scope === 'sub' && r.base === SUFFIX)).toBe(true);

    await plain.modify(addMember('user002'));
    const moved = await triggered(w, 2, 'the run of the change');
    expect(moved.reason).toMatch(/entryCSN moved/);
  });

  it('a bulk change larger than one poll reads is one move, not a move at every poll after it', async () => {
    const w = await watch(plain, 'bulk', { debounceMs: 200 });
    await started(w);
    // 120 entries changed in one ldapmodify: more than the 50 a poll asks for.
    await plain.modify(
      UIDS.slice(5, 125)
        .map((u) => retitle(u, 'bulk'))
        .join(''),
    );
    await triggered(w, 2, 'the run of the bulk change');
    const mark = w.polls.length;
    await w.afterPolls(5);
    expect(w.polls.slice(mark).every((p) => p === 'same')).toBe(true);
    expect(w.triggers).toHaveLength(2);
  });

  it('modifyTimestamp, for an account that cannot read entryCSN: a change asks for a run', async () => {
    const w = await watch(plain, 'modts', { bindDN: TS_WATCHER, password: TS_WATCHER_PW, debounceMs: 100 });
    await started(w);
    expect(w.poller.status().last?.kind).toBe('modifyTimestamp');
    // Changes are seen to the second: the change lands in a later second than the reading.
    await sleep(1_100);
    await plain.modify(retitle('user099', 'seen by modifyTimestamp'));
    const moved = await triggered(w, 2, 'the run of the change');
    expect(moved.reason).toMatch(/modifyTimestamp moved/);
    const mark = w.polls.length;
    await w.afterPolls(4);
    expect(w.polls.slice(mark).every((p) => p === 'same')).toBe(true);
  });
});

describe('failures and replicas', () => {
  it('a failed poll asks for nothing; recovering at the same server is quiet, at another a failover', async () => {
    const w = await watch(withSyncprov, 'failing');
    await started(w);
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    w.proxy.retarget(dead);
    await waitFor(
      async () => (w.polls.filter((p) => p === 'failed').length >= 4 ? true : undefined),
      '4 failed polls',
    );
    expect(w.triggers).toHaveLength(1);
    expect(w.poller.status().failingSince).toBeDefined();

    w.proxy.retarget(withSyncprov.url);
    await waitFor(async () => (w.poller.status().failingSince === undefined ? true : undefined), 'recovery');
    await w.afterPolls(3);
    expect(w.triggers).toHaveLength(1);

    w.proxy.retarget(dead);
    await waitFor(
      async () => (w.poller.status().failingSince !== undefined ? true : undefined),
      'failing again',
    );
    w.proxy.retarget(other.url);
    const failover = await triggered(w, 2, 'the failover run after the outage');
    expect(failover.reason).toMatch(/a different server answers/);
    expect(await redis.get(fullReconcileKey('failing'))).not.toBeNull();
  });

  it('stopping does not wait for a server that does not answer', async () => {
    // Accepts the connection and never says a word: the bind would wait out timeoutMs (5 s).
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      for (const stage of ['connecting', 'connected'] as const) {
        const w = await watch(withSyncprov, `silent-${stage}`);
        if (stage === 'connected') await w.started();
        w.proxy.retarget(`ldap://127.0.0.1:${port}`);
        if (stage === 'connecting') w.poller.start();
        await sleep(400);
        const t0 = performance.now();
        await w.poller.stop();
        expect(performance.now() - t0).toBeLessThan(1_500);
        expect(w.polls.filter((p) => p === 'failed')).toEqual([]);
      }
    } finally {
      silent.close();
    }
  });

  it('two replicas: one polls, and the other takes over when it stops', async () => {
    const a = await watch(withSyncprov, 'replicas', { leaseMs: 1_000 });
    const b = await watch(withSyncprov, 'replicas', { leaseMs: 1_000 });
    a.poller.start();
    await triggered(a, 1, 'the first reading');
    b.poller.start();
    await a.afterPolls(5);
    expect(a.poller.status().holder).toBe(true);
    expect(b.poller.status().holder).toBe(false);
    expect(b.polls).toEqual([]);
    expect(b.proxy.requests).toEqual([]);

    await a.poller.stop();
    await b.afterPolls(2);
    expect(b.poller.status().holder).toBe(true);
    // It carries on from the stored watermark: no first-reading run of its own.
    expect(b.polls[0]).toBe('same');
    expect(b.triggers).toEqual([]);
    await withSyncprov.modify(retitle('user120', 'seen by the second replica'));
    expect((await triggered(b, 1, 'the run asked for by the second replica')).reason).toMatch(
      /contextCSN moved/,
    );
  });
});

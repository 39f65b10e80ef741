// The watch's push (source.watch.push, src/directory/ldap/notify.ts) against real slapd servers and a
// real redis-server, through the decoding proxy of test/support/ldapProxy.ts. The interval is 60 s
// in these tests, so a poll within a few seconds of a change can only be the push's doing:
// - with syncprov: a change is pushed (an RFC 4533 refreshAndPersist search on a second
//   connection) and the poller polls and asks for the run at once; a burst is still one run;
// - without syncprov (no contextCSN, no control): no listener, polling only; push: off the same;
// - slapd killed and started again: the listener reconnects and pushes again;
// - the lease lost, or the poller stopped: the listener's connection is closed.
import { type AddressInfo, createServer } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PushStatus } from '../../src/daemon/watermark.js';
import { watchKeys } from '../../src/daemon/watermark.js';
import { ChangeListener, type PushState } from '../../src/directory/ldap/notify.js';
import { resolveSettings } from '../../src/directory/ldap/profiles.js';
import { silentLogger } from '../../src/log/logger.js';
import { addMemberLdif, companyLdif, retitleLdif } from '../support/companyLdif.js';
import { waitFor } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { type Slapd, startSlapd } from '../support/slapd.js';
import { startWatch, type Watch } from '../support/watchRig.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const WATCHER = `uid=watcher,ou=system,${SUFFIX}`;
const WATCHER_PW = 'watcher-Push-Pa55!';
const ENG = `cn=devin-eng,${GROUPS}`;
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const UIDS = Array.from({ length: 40 }, (_, i) => `user${String(i).padStart(3, '0')}`);
const INTERVAL_MS = 60_000;
/** What "at once" has to beat here: a push, a poll, a debounce of 200 ms, on a busy machine. */
const SOON_MS = 3_000;

function preload(): string {
  return companyLdif({
    suffix: SUFFIX,
    accounts: [{ dn: WATCHER, pw: WATCHER_PW }],
    uids: UIDS,
    groups: [{ dn: ENG, cn: 'devin-eng', members: [person('user000')] }],
  });
}

const addMember = (uid: string) => addMemberLdif(ENG, person(uid));
const retitle = (uid: string, title: string) => retitleLdif(person(uid), title);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redisServer: TestRedis;
let redis: Redis;
let withSyncprov: Slapd;
let plain: Slapd;
const watches: Watch[] = [];

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  [withSyncprov, plain] = await Promise.all([
    startSlapd({ tls: false, syncprov: true, preload: preload() }),
    startSlapd({ tls: false, preload: preload() }),
  ]);
}, 60_000);

afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop().catch(() => undefined);
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([withSyncprov?.stop(), plain?.stop()]);
  await redisServer?.stop();
});

async function watch(
  server: Slapd,
  prefix: string,
  o: { intervalMs?: number; debounceMs?: number; push?: 'auto' | 'off'; logLines?: string[] } = {},
): Promise<Watch> {
  const w = await startWatch({
    serverUrl: server.url,
    redis,
    prefix,
    source: {
      bindDN: WATCHER,
      bindPassword: WATCHER_PW,
      profile: 'openldap',
      userBase: PEOPLE,
      groupBase: GROUPS,
    },
    intervalMs: o.intervalMs ?? INTERVAL_MS,
    debounceMs: o.debounceMs ?? 200,
    push: o.push ?? 'auto',
    pushBackoffMs: { initialMs: 200, maxMs: 1_000 },
    ...(o.logLines ? { logger: linesLogger(o.logLines) } : {}),
  });
  watches.push(w);
  return w;
}

const push = (w: Watch): PushStatus => w.poller.status().push;

/** A logger at debug level whose lines (JSON) land in `lines`. */
function linesLogger(lines: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

/** Started, its first reading's run asked for, and (unless `until` says otherwise) push active. */
async function started(w: Watch, until: (p: PushStatus) => boolean = (p) => p.active): Promise<void> {
  w.poller.start();
  await w.triggered(1, 'the run of the first reading');
  await waitFor(async () => (until(push(w)) ? true : undefined), 'the push state expected', 15_000, 20);
  await waitFor(async () => (w.poller.status().pending ? undefined : true), 'no move pending', 15_000, 20);
}

/** The time from a change made now to the n-th run asked for. */
async function timeToRun(w: Watch, n: number, change: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await change();
  await w.triggered(n, `run ${n}`);
  return performance.now() - t0;
}

describe('OpenLDAP with syncprov: refreshAndPersist', () => {
  it('a change is pushed: the poller polls and asks for the run at once, not at the 60 s interval', async () => {
    const w = await watch(withSyncprov, 'push');
    await started(w);
    expect(push(w)).toMatchObject({ mode: 'auto', active: true, state: 'active', kind: 'refreshAndPersist' });

    // The listener's own connection: bind, the rootDSE, the contextCSN for the cookie, and one
    // subtree search on the suffix, the persistent one.
    const conns = [...new Set(w.proxy.requests.map((r) => r.connection))];
    expect(conns).toHaveLength(2);
    const listener = w.proxy.requests.filter((r) => r.connection === conns[1]);
    expect(listener.map((r) => `${r.op} ${r.scope ?? ''} ${r.base ?? ''}`.trim())).toEqual([
      'bind',
      'search base',
      `search base ${SUFFIX}`,
      `search sub ${SUFFIX}`,
    ]);

    const polls = w.polls.length;
    const ms = await timeToRun(w, 2, () => withSyncprov.modify(addMember('user001')));
    expect(ms).toBeLessThan(SOON_MS);
    expect(w.triggers[1]?.reason).toMatch(/contextCSN moved/);
    // The push's poll saw the move, the debounce's found it quiet: two polls, where the interval
    // alone would have made none yet.
    expect(w.polls.slice(polls)).toEqual(['moved', 'same']);
    expect(push(w).pushes).toBeGreaterThanOrEqual(1);

    // Again, to show it was no accident of timing.
    expect(await timeToRun(w, 3, () => withSyncprov.modify(retitle('user002', 'pushed')))).toBeLessThan(
      SOON_MS,
    );
  });

  it('a burst of changes is still one run, once it has stopped', async () => {
    const w = await watch(withSyncprov, 'push-burst', { debounceMs: 500 });
    await started(w);
    for (let i = 0; i < 8; i++) {
      await withSyncprov.modify(retitle(UIDS[10 + i] as string, `burst ${i}`));
      await sleep(100);
    }
    await w.triggered(2, 'the run of the burst');
    await sleep(1_500);
    expect(w.triggers).toHaveLength(2);
    // The pushes during the debounce brought no extra polls: a move waiting ignores them.
    expect(w.polls.length).toBeLessThan(2 + 8 + 4);
  });
});

describe('no push', () => {
  it('without syncprov: no listener, polling only', async () => {
    const w = await watch(plain, 'no-syncprov', { intervalMs: 300 });
    await started(w, (p) => p.state === 'unavailable');
    expect(push(w)).toMatchObject({ mode: 'auto', active: false, state: 'unavailable' });
    expect(push(w).why).toMatch(/entryCSN, which comes with no push/);
    await w.afterPolls(3);
    // Only the poller's connection.
    expect(new Set(w.proxy.requests.map((r) => r.connection)).size).toBe(1);
    await plain.modify(retitle('user003', 'polled'));
    expect((await w.triggered(2, 'the run of the change')).reason).toMatch(/entryCSN moved/);
  });

  it('a listener on a server without the control says so and stops', async () => {
    const settings = resolveSettings({
      type: 'ldap',
      url: plain.url,
      bindDN: WATCHER,
      bindPassword: WATCHER_PW,
      profile: 'openldap',
      userBase: PEOPLE,
      groupBase: GROUPS,
      insecureSkipVerify: false,
    });
    const listener = new ChangeListener(settings, { logger: silentLogger });
    const states: PushState[] = [];
    listener.on('state', (s) => states.push(s));
    listener.start();
    try {
      await waitFor(async () => (listener.state.state === 'unavailable' ? true : undefined), 'unavailable');
      expect(listener.state).toEqual({
        state: 'unavailable',
        why: "syncprov is not loaded: no 1.3.6.1.4.1.4203.1.9.1.1 in the rootDSE's supportedControl",
      });
      expect(states.map((s) => s.state)).toEqual(['connecting', 'unavailable']);
    } finally {
      await listener.close();
    }
  });

  it('push: off polls only, on a server that offers push', async () => {
    const w = await watch(withSyncprov, 'push-off', { intervalMs: 300, push: 'off' });
    await started(w, (p) => p.state === 'off');
    await w.afterPolls(3);
    expect(push(w)).toMatchObject({ mode: 'off', active: false, state: 'off', pushes: 0 });
    expect(new Set(w.proxy.requests.map((r) => r.connection)).size).toBe(1);
  });
});

describe('the listener and the lease', () => {
  it('the lease lost: the listener is closed; stopping closes every connection at once', async () => {
    const w = await watch(withSyncprov, 'push-lease', { intervalMs: 300 });
    await started(w);
    expect(w.proxy.openConnections()).toBe(2);
    // Another replica takes the lease (as after a pause longer than the lease time).
    await redis.set(watchKeys('push-lease').lease, 'another-replica', 'PX', 60_000);
    await waitFor(async () => (w.poller.status().holder ? undefined : true), 'the lease lost');
    expect(push(w)).toMatchObject({ active: false, state: 'waiting' });
    await waitFor(
      async () => (w.proxy.openConnections() === 0 ? true : undefined),
      'the connections closed',
      5_000,
    );

    // It comes back when the lease does; then stop() ends it promptly.
    await redis.del(watchKeys('push-lease').lease);
    await waitFor(async () => (push(w).active ? true : undefined), 'push active again', 15_000);
    const t0 = performance.now();
    await w.poller.stop();
    expect(performance.now() - t0).toBeLessThan(1_500);
    await waitFor(async () => (w.proxy.openConnections() === 0 ? true : undefined), 'closed on stop', 5_000);
  });

  it('stopping does not wait for a server that does not answer, with the listener reconnecting to it', async () => {
    // Accepts connections and never says a word: a bind would wait out timeoutMs (5 s).
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const w = await watch(withSyncprov, 'push-silent', { intervalMs: 300 });
      await started(w);
      // Both connections dropped; the listener reconnects (and the poll connects) to the silent one.
      w.proxy.retarget(`ldap://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      await waitFor(
        async () => (push(w).state === 'connecting' ? true : undefined),
        'reconnecting',
        10_000,
        10,
      );
      await sleep(300);
      const t0 = performance.now();
      await w.poller.stop();
      expect(performance.now() - t0).toBeLessThan(1_500);
    } finally {
      silent.close();
    }
  });

  // Last: it kills the shared syncprov server.
  it('slapd killed and started again: the listener reconnects and pushes again', async () => {
    const lines: string[] = [];
    const w = await watch(withSyncprov, 'push-restart', { logLines: lines });
    await started(w);
    await withSyncprov.kill('SIGKILL');
    await waitFor(async () => (push(w).state === 'retrying' ? true : undefined), 'the listener down', 10_000);
    expect(push(w).error).toMatch(/./);
    // A few reconnects fail while slapd is down.
    await sleep(1_500);
    await withSyncprov.restart();
    await waitFor(async () => (push(w).active ? true : undefined), 'push active again', 20_000);
    // Back, it polls once (what changed while it was away was not pushed); slapd stamped a new
    // contextCSN at its start, which is a move and a run. Then quiet.
    await waitFor(async () => (w.poller.status().pending ? undefined : true), 'no move pending', 15_000);
    await sleep(300);
    const before = w.triggers.length;
    const ms = await timeToRun(w, before + 1, () => withSyncprov.modify(addMember('user004')));
    expect(ms).toBeLessThan(SOON_MS);
    expect(w.triggers[before]?.reason).toMatch(/contextCSN moved/);

    // The outage: a warning once, every later failure at debug level; never the password.
    const parsed = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    const down = parsed.filter((l) => /^watch push (is not working|down)/.test(l.msg));
    expect(down.filter((l) => l.level === 40)).toHaveLength(1);
    expect(down.filter((l) => l.level === 20).length).toBeGreaterThanOrEqual(1);
    expect(parsed.filter((l) => /^watch push: refreshAndPersist/.test(l.msg)).map((l) => l.level)).toEqual([
      30, 20,
    ]);
    expect(lines.join('\n')).not.toContain(WATCHER_PW);
  });
});

// The watch's push against a real Samba AD DC (test/support/samba.ts), through the decoding proxy:
// Samba offers the change notification control (1.2.840.113556.1.4.528) and accepts it on a
// subtree search of the domain's naming context; the poller, at a 60 s interval, polls and asks for
// the run within a few seconds of a change, which only the push explains. Samba re-runs its
// notification searches every 5 s (a change made through another of its LDAP processes waits for
// that timer; src/directory/ldap/notify.ts), so "soon" here is under 8 s rather than at once.
import { Redis } from 'ioredis';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { probeLdap } from '../../src/directory/ldap/probe.js';
import { waitFor } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { adGroup, adOu, adUser, SAMBA_BASE_DN, type SambaDc, startSambaDc } from '../support/samba.js';
import { startWatch, type Watch } from '../support/watchRig.js';

const PEOPLE = `OU=People,${SAMBA_BASE_DN}`;
const GROUPS = `OU=Groups,${SAMBA_BASE_DN}`;
const ENG = `CN=devin-eng,${GROUPS}`;
const NAMES = ['alice', 'bob', 'carol'];
/** Samba's 5 s notification timer, a poll and a 200 ms debounce, on a busy machine. */
const SOON_MS = 8_000;

let redisServer: TestRedis;
let redis: Redis;
let dc: SambaDc;
const watches: Watch[] = [];

beforeAll(async () => {
  [redisServer, dc] = await Promise.all([startRedis(), startSambaDc()]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  await dc.seed({
    entries: [
      adOu(PEOPLE),
      adOu(GROUPS),
      ...NAMES.map((name) => adUser({ name, parent: PEOPLE, displayName: name })),
      adGroup('devin-eng', GROUPS),
    ],
    links: [{ dn: ENG, attribute: 'member', values: [`CN=alice,${PEOPLE}`] }],
  });
}, 240_000);

afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop().catch(() => undefined);
});

afterAll(async () => {
  redis?.disconnect();
  await dc?.stop();
  await redisServer?.stop();
});

async function addMember(name: string): Promise<void> {
  const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: dc.ca }, timeout: 10_000 });
  try {
    await client.bind(dc.adminDN, dc.adminPassword);
    await client.modify(
      ENG,
      new Change({
        operation: 'add',
        modification: new Attribute({ type: 'member', values: [`CN=${name},${PEOPLE}`] }),
      }),
    );
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

describe('Samba AD DC: change notifications', () => {
  it('validate says the DC pushes, with change notifications on the domain', async () => {
    const checks = await probeLdap(
      {
        type: 'ldap',
        url: dc.ldapsUrl,
        ca: dc.ca,
        bindDN: dc.adminDN,
        bindPassword: dc.adminPassword,
        profile: 'activedirectory',
        userBase: PEOPLE,
        groupBase: GROUPS,
        insecureSkipVerify: false,
        watch: { enabled: true, intervalMs: 5000, debounceMs: 1000 },
      },
      [],
    );
    expect(checks.find((c) => c.key === 'source.watch.push')).toEqual({
      key: 'source.watch.push',
      status: 'ok',
      message: `change notifications (1.2.840.113556.1.4.528) on ${SAMBA_BASE_DN} (Samba tells a change within 5 s, a Windows DC at once): a change is polled at once; the poll every 5s stays as the safety net`,
    });
  });

  it('a change is pushed: the poller asks for the run within seconds, not at the 60 s interval', async () => {
    const w = await startWatch({
      serverUrl: dc.ldapUrl,
      redis,
      prefix: 'samba-push',
      source: {
        bindDN: dc.adminDN,
        bindPassword: dc.adminPassword,
        profile: 'activedirectory',
        userBase: PEOPLE,
        groupBase: GROUPS,
      },
      intervalMs: 60_000,
      debounceMs: 200,
      push: 'auto',
      pushBackoffMs: { initialMs: 200, maxMs: 1_000 },
    });
    watches.push(w);
    w.poller.start();
    await w.triggered(1, 'the run of the first reading');
    await waitFor(async () => (w.poller.status().push.active ? true : undefined), 'push active', 15_000, 20);
    await waitFor(async () => (w.poller.status().pending ? undefined : true), 'no move pending', 15_000, 20);
    expect(w.poller.status().push).toMatchObject({ state: 'active', kind: 'notification' });
    // The listener's connection: bind, the rootDSE, and the notification search on the domain.
    const conns = [...new Set(w.proxy.requests.map((r) => r.connection))];
    expect(conns).toHaveLength(2);
    expect(
      w.proxy.requests
        .filter((r) => r.connection === conns[1])
        .slice(0, 3)
        .map((r) => `${r.op} ${r.scope ?? ''} ${r.base ?? ''}`.trim()),
    ).toEqual(['bind', 'search base', `search sub ${SAMBA_BASE_DN}`]);

    const t0 = performance.now();
    await addMember('bob');
    const moved = await w.triggered(2, 'the run of the change');
    const ms = performance.now() - t0;
    expect(moved.reason).toMatch(/highestCommittedUSN moved/);
    expect(ms).toBeLessThan(SOON_MS);
    expect(w.poller.status().push.pushes).toBeGreaterThanOrEqual(1);
  });
});

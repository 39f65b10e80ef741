// The LDAP watch against two real Samba AD DCs (test/support/samba.ts), each its own domain on its
// own 127.0.0.x, read through a loopback proxy that decodes every request (test/support/ldapProxy.ts):
// - a change moves highestCommittedUSN on the rootDSE and a watch run is asked for; an idle poll
//   is one base-scope read of the rootDSE;
// - the proxy then sends the same address to the other DC (what a DNS or load-balancer failover
//   does): another dsServiceName/invocationId, whatever its USN, is a failover, and a full
//   reconcile is asked for before the run.
// Plain LDAP on 389 (the DCs allow simple binds without TLS) so the proxy can read the requests.

import { Redis } from 'ioredis';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fullReconcileKey } from '../../src/daemon/fullReconcile.js';
import { probeLdap } from '../../src/directory/ldap/probe.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { adGroup, adOu, adUser, SAMBA_BASE_DN, type SambaDc, startSambaDc } from '../support/samba.js';
import { startWatch, type Watch } from '../support/watchRig.js';

const PEOPLE = `OU=People,${SAMBA_BASE_DN}`;
const GROUPS = `OU=Groups,${SAMBA_BASE_DN}`;
const ENG = `CN=devin-eng,${GROUPS}`;
const NAMES = ['alice', 'bob', 'carol'];

let redisServer: TestRedis;
let redis: Redis;
let dc1: SambaDc;
let dc2: SambaDc;
const watches: Watch[] = [];

async function seed(dc: SambaDc): Promise<void> {
  await dc.seed({
    entries: [
      adOu(PEOPLE),
      adOu(GROUPS),
      ...NAMES.map((name) => adUser({ name, parent: PEOPLE, displayName: name })),
      adGroup('devin-eng', GROUPS),
    ],
    links: [{ dn: ENG, attribute: 'member', values: [`CN=alice,${PEOPLE}`] }],
  });
}

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  // One after the other: provisioning takes both cores.
  dc1 = await startSambaDc();
  dc2 = await startSambaDc();
  await Promise.all([seed(dc1), seed(dc2)]);
}, 240_000);

afterEach(async () => {
  for (const w of watches.splice(0)) await w.stop().catch(() => undefined);
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([dc1?.stop(), dc2?.stop()]);
  await redisServer?.stop();
});

async function watch(dc: SambaDc, prefix: string): Promise<Watch> {
  const w = await startWatch({
    serverUrl: dc.ldapUrl,
    redis,
    prefix,
    source: {
      bindDN: dc.adminDN,
      bindPassword: dc.adminPassword,
      profile: 'activedirectory',
      userBase: PEOPLE,
      groupBase: GROUPS,
    },
  });
  watches.push(w);
  return w;
}

async function addMember(dc: SambaDc, name: string): Promise<void> {
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

describe('Samba AD DC: highestCommittedUSN', () => {
  it('validate says the DC offers highestCommittedUSN, and names the DC', async () => {
    const checks = await probeLdap(
      {
        type: 'ldap',
        url: dc1.ldapsUrl,
        ca: dc1.ca,
        bindDN: dc1.adminDN,
        bindPassword: dc1.adminPassword,
        profile: 'activedirectory',
        userBase: PEOPLE,
        groupBase: GROUPS,
        insecureSkipVerify: false,
        watch: { enabled: true, intervalMs: 5000, debounceMs: 1000 },
      },
      [],
    );
    expect(checks.find((c) => c.key === 'source.watch')).toEqual({
      key: 'source.watch',
      status: 'ok',
      message: expect.stringMatching(
        /^the DC offers highestCommittedUSN on its rootDSE: one base read per poll \(DC dsServiceName=CN=NTDS Settings,CN=DC1,.* invocationId=[0-9a-f-]{36}\)$/,
      ),
    });
  });

  it('a change moves highestCommittedUSN and asks for a watch run; an idle poll is one base read of the rootDSE', async () => {
    const w = await watch(dc1, 'usn');
    await w.started();
    const last = w.poller.status().last;
    expect(last?.kind).toBe('highestCommittedUSN');
    expect(last?.value).toMatch(/^\d+$/);
    // The DC by its NTDS Settings object and the invocationId read from it.
    expect(last?.server).toMatch(
      /^dsServiceName=CN=NTDS Settings,CN=DC1,CN=Servers,.* invocationId=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );

    const mark = w.proxy.requests.length;
    await w.afterPolls(10);
    const idle = w.proxy.requests.slice(mark);
    expect(idle.length).toBeGreaterThanOrEqual(10);
    expect(idle.length).toBeLessThanOrEqual(11);
    expect(idle.every((r) => r.op === 'search' && r.scope === 'base' && r.base === '')).toBe(true);
    expect(w.triggers).toHaveLength(1);

    const before = Number(last?.value);
    await addMember(dc1, 'bob');
    const moved = await w.triggered(2, 'the run of the change');
    expect(moved).toMatchObject({ trigger: 'watch' });
    expect(moved.reason).toMatch(/highestCommittedUSN moved from \d+ to \d+/);
    expect(Number(w.poller.status().last?.value)).toBeGreaterThan(before);
    expect(await redis.get(fullReconcileKey('usn'))).toBeNull();
  });

  it('another DC answering the same address is a failover: a full reconcile, then the run', async () => {
    const w = await watch(dc1, 'dc-failover');
    await w.started();
    const first = w.poller.status().last;
    w.proxy.retarget(dc2.ldapUrl);
    const failover = await w.triggered(2, 'the failover run');
    expect(failover.reason).toMatch(/a different server answers .*invocationId=.*full reconcile/);
    expect(await redis.get(fullReconcileKey('dc-failover'))).toMatch(
      /^LDAP watch: a different server answers/,
    );
    expect(w.poller.status().last?.server).not.toBe(first?.server);
    // Then quiet on the new DC.
    const mark = w.polls.length;
    await w.afterPolls(3);
    expect(w.polls.slice(mark).every((p) => p === 'same')).toBe(true);
  });
});

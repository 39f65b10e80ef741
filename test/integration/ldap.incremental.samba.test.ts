// The incremental LDAP read (src/daemon/ldapIncremental.ts) against a real Samba AD DC and a real
// redis-server: after a full read, a member added, a mail changed, a user moved out of userBase and
// a user deleted (a tombstone, found with the show-deleted control) are each read incrementally
// (uSNChanged above the stored highestCommittedUSN) and the merged snapshot equals a full read's;
// a failure mid-read and another DC answering the same address fall back to a full read.
import { Redis } from 'ioredis';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IncrementalRig, normalised, startIncrementalRig } from '../support/incrementalRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { adGroup, adOu, adUser, SAMBA_BASE_DN, type SambaDc, startSambaDc } from '../support/samba.js';

const PEOPLE = `OU=People,${SAMBA_BASE_DN}`;
const ELSEWHERE = `OU=Elsewhere,${SAMBA_BASE_DN}`;
const GROUPS = `OU=Groups,${SAMBA_BASE_DN}`;
const ENG = `CN=devin-eng,${GROUPS}`;
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const person = (name: string) => `CN=${name},${PEOPLE}`;

let redisServer: TestRedis;
let redis: Redis;
let dc1: SambaDc;
let dc2: SambaDc;
let rig: IncrementalRig;

async function seed(dc: SambaDc): Promise<void> {
  await dc.seed({
    entries: [
      adOu(PEOPLE),
      adOu(GROUPS),
      adOu(ELSEWHERE),
      ...NAMES.map((name) => adUser({ name, parent: PEOPLE, displayName: name })),
      adGroup('devin-eng', GROUPS),
      adGroup('devin-ops', GROUPS),
    ],
    links: [
      { dn: ENG, attribute: 'member', values: [person('alice'), person('carol'), `CN=devin-ops,${GROUPS}`] },
      { dn: `CN=devin-ops,${GROUPS}`, attribute: 'member', values: [person('dave')] },
    ],
  });
}

async function asAdmin(dc: SambaDc, f: (c: Client) => Promise<void>): Promise<void> {
  const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: dc.ca }, timeout: 10_000 });
  try {
    await client.bind(dc.adminDN, dc.adminPassword);
    await f(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  // One after the other: provisioning takes both cores.
  dc1 = await startSambaDc();
  dc2 = await startSambaDc();
  await Promise.all([seed(dc1), seed(dc2)]);
  rig = await startIncrementalRig({
    serverUrl: dc1.ldapUrl,
    redis,
    prefix: 'inc-samba',
    source: {
      bindDN: dc1.adminDN,
      bindPassword: dc1.adminPassword,
      profile: 'activedirectory',
      userBase: PEOPLE,
      groupBase: GROUPS,
      watch: { enabled: true, intervalMs: 5000, debounceMs: 1000 },
    },
  });
}, 300_000);

afterAll(async () => {
  await rig?.close();
  redis?.disconnect();
  await Promise.all([dc1?.stop(), dc2?.stop()]);
  await redisServer?.stop();
});

async function readBoth() {
  const incremental = await rig.read();
  const kind = rig.reads.at(-1);
  const full = await rig.full();
  expect(normalised(incremental)).toEqual(normalised(full));
  return { incremental, kind };
}

describe('incremental LDAP read, Samba AD DC', () => {
  // In order: each test continues from the cache the one before left.
  it('the first read is full; with nothing changed the next is incremental', async () => {
    expect((await readBoth()).kind).toEqual({ kind: 'full', why: 'no cached snapshot' });
    const again = await readBoth();
    expect(again.kind).toEqual({ kind: 'incremental' });
    expect(again.incremental.source).toMatch(
      /\(incremental read: 0 users, 0 groups changed; last full read \d+ s ago\)$/,
    );
  });

  it('a member added: incremental', async () => {
    await asAdmin(dc1, (c) =>
      c.modify(
        ENG,
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'member', values: [person('bob')] }),
        }),
      ),
    );
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.source).toMatch(/1 group changed/);
  });

  it("a user's mail changed: incremental", async () => {
    await asAdmin(dc1, (c) =>
      c.modify(
        person('carol'),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'mail', values: ['carol.new@example.test'] }),
        }),
      ),
    );
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.users.find((u) => u.ref === person('carol'))?.email).toBe('carol.new@example.test');
  });

  it('a member moved out of userBase: incremental, gone from users and from its group', async () => {
    const id = (await rig.full()).users.find((u) => u.ref === person('alice'))?.id;
    await asAdmin(dc1, (c) => c.modifyDN(person('alice'), `CN=alice,${ELSEWHERE}`));
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.users.some((u) => u.id === id)).toBe(false);
    expect(r.incremental.groups.find((g) => g.name === 'devin-eng')?.memberUserIds).not.toContain(id);
  });

  it('a member deleted: its tombstone is seen, incremental', async () => {
    const id = (await rig.full()).users.find((u) => u.ref === person('dave'))?.id;
    await dc1.remove(person('dave'));
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.users.some((u) => u.id === id)).toBe(false);
    expect(r.incremental.groups.find((g) => g.name === 'devin-ops')?.memberUserIds).toEqual([]);
  });

  it('a failure mid-read: a full read, never a partial merge', async () => {
    await asAdmin(dc1, (c) =>
      c.modify(
        person('erin'),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'displayName', values: ['Erin E.'] }),
        }),
      ),
    );
    rig.failNextChangedRead();
    const r = await readBoth();
    expect(r.kind?.kind).toBe('full');
    expect(r.kind?.why).toMatch(/injected failure mid-read/);
    expect((await readBoth()).kind).toEqual({ kind: 'incremental' });
  });

  it('another DC answering the same address: a full read', async () => {
    rig.proxy.retarget(dc2.ldapUrl);
    const r = await readBoth();
    expect(r.kind?.kind).toBe('full');
    expect(r.kind?.why).toMatch(/another server answers \(highestCommittedUSN dsServiceName=.*invocationId=/);
    expect((await readBoth()).kind).toEqual({ kind: 'incremental' });
  });
});

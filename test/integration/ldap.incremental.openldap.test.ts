// The incremental LDAP read (src/daemon/ldapIncremental.ts) against a real slapd with syncprov
// and a real redis-server: after a full read, each kind of change is read incrementally and the
// merged snapshot equals a full read's (normalised for order); a deletion, which OpenLDAP does
// not show, falls back to a full read; so do a failure mid-read and another server answering.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companyLdif } from '../support/companyLdif.js';
import { type IncrementalRig, normalised, startIncrementalRig } from '../support/incrementalRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { ldifEntry, type Slapd, startSlapd } from '../support/slapd.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const ELSEWHERE = `ou=elsewhere,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const READER = `uid=reader,ou=system,${SUFFIX}`;
const READER_PW = 'reader-Pa55!';
const ENG = `cn=devin-eng,${GROUPS}`;
const OPS = `cn=devin-ops,${GROUPS}`;
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const UIDS = Array.from({ length: 20 }, (_, i) => `user${String(i).padStart(2, '0')}`);

function preload(): string {
  return (
    companyLdif({
      suffix: SUFFIX,
      ous: ['people', 'groups', 'system', 'elsewhere'],
      accounts: [{ dn: READER, pw: READER_PW }],
      uids: UIDS,
      groups: [
        { dn: ENG, cn: 'devin-eng', members: [person('user00'), person('user01'), person('user02'), OPS] },
        { dn: OPS, cn: 'devin-ops', members: [person('user03')] },
      ],
    }) +
    ldifEntry(`cn=posix,${GROUPS}`, {
      objectClass: ['top', 'posixGroup'],
      cn: 'posix',
      gidNumber: '5000',
      memberUid: ['user04', 'user05'],
    })
  );
}

let redisServer: TestRedis;
let redis: Redis;
let slapd: Slapd;
let other: Slapd;
let rig: IncrementalRig;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  [slapd, other] = await Promise.all([
    startSlapd({ tls: false, syncprov: true, preload: preload() }),
    // Same suffix and data, another server: another entryUUID of the suffix.
    startSlapd({ tls: false, syncprov: true, preload: preload() }),
  ]);
  rig = await startIncrementalRig({
    serverUrl: slapd.url,
    redis,
    prefix: 'inc-openldap',
    source: {
      bindDN: READER,
      bindPassword: READER_PW,
      profile: 'openldap',
      userBase: PEOPLE,
      groupBase: GROUPS,
      watch: { enabled: true, intervalMs: 5000, debounceMs: 1000 },
    },
  });
}, 120_000);

afterAll(async () => {
  await rig?.close();
  redis?.disconnect();
  await Promise.all([slapd?.stop(), other?.stop()]);
  await redisServer?.stop();
});

/** The incremental read, its kind, and the full read it must equal. */
async function readBoth() {
  const incremental = await rig.read();
  const kind = rig.reads.at(-1);
  const full = await rig.full();
  expect(normalised(incremental)).toEqual(normalised(full));
  return { incremental, kind };
}

describe('incremental LDAP read, slapd with syncprov', () => {
  // The tests run in order: each starts from the cache the one before left.
  it('the first read is full and is cached; with nothing changed the next is incremental', async () => {
    const first = await readBoth();
    expect(first.kind).toEqual({ kind: 'full', why: 'no cached snapshot' });
    expect(first.incremental.users).toHaveLength(UIDS.length);
    const again = await readBoth();
    expect(again.kind).toEqual({ kind: 'incremental' });
    expect(again.incremental.source).toMatch(
      /\(incremental read: \d+ users?, \d+ groups? changed; last full read \d+ s ago\)$/,
    );
  });

  it('a member added: incremental, the group re-read', async () => {
    await slapd.modify(`dn: ${ENG}\nchangetype: modify\nadd: member\nmember: ${person('user10')}\n\n`);
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.source).toMatch(/incremental read: 0 users, 1 group changed/);
  });

  it("a user's mail changed: incremental", async () => {
    await slapd.modify(
      `dn: ${person('user01')}\nchangetype: modify\nreplace: mail\nmail: renamed@corp.example\n\n`,
    );
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.users.find((u) => u.ref === person('user01'))?.email).toBe('renamed@corp.example');
  });

  it('a memberUid added, and a new user a posixGroup already named: incremental', async () => {
    await slapd.modify(
      `dn: cn=posix,${GROUPS}\nchangetype: modify\nadd: memberUid\nmemberUid: user06\nmemberUid: newbie\n\n`,
    );
    expect((await readBoth()).kind).toEqual({ kind: 'incremental' });
    // The group does not change again; the user it named appears, and joins it.
    await slapd.add(
      ldifEntry(person('newbie'), {
        objectClass: ['top', 'inetOrgPerson'],
        uid: 'newbie',
        cn: 'newbie',
        sn: 'n',
        mail: 'newbie@corp.example',
      }),
    );
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    const newbie = r.incremental.users.find((u) => u.ref === person('newbie'));
    expect(r.incremental.groups.find((g) => g.name === 'posix')?.memberUserIds).toContain(newbie?.id);
  });

  it('a member user moved out of userBase: incremental, gone from the users and its group', async () => {
    const before = await rig.full();
    const id = before.users.find((u) => u.ref === person('user02'))?.id;
    await slapd.modify(
      `dn: ${person('user02')}\nchangetype: modrdn\nnewrdn: uid=user02\ndeleteoldrdn: 1\nnewsuperior: ${ELSEWHERE}\n\n`,
    );
    const r = await readBoth();
    expect(r.kind).toEqual({ kind: 'incremental' });
    expect(r.incremental.users.some((u) => u.id === id)).toBe(false);
    expect(r.incremental.groups.find((g) => g.name === 'devin-eng')?.memberUserIds).not.toContain(id);
  });

  it('a user deleted: OpenLDAP shows no trace, so the watermark moved with nothing changed is a full read', async () => {
    await slapd.modify(`dn: ${person('user15')}\nchangetype: delete\n\n`);
    const r = await readBoth();
    expect(r.kind?.kind).toBe('full');
    expect(r.kind?.why).toMatch(/a deletion, which OpenLDAP does not show/);
    expect(r.incremental.users.some((u) => u.ref === person('user15'))).toBe(false);
  });

  it('a failure mid-read: a full read, never a partial merge', async () => {
    await slapd.modify(`dn: ${person('user07')}\nchangetype: modify\nreplace: cn\ncn: Seven\n\n`);
    rig.failNextChangedRead();
    const r = await readBoth();
    expect(r.kind?.kind).toBe('full');
    expect(r.kind?.why).toMatch(/incomplete.*injected failure mid-read/);
    expect(r.incremental.complete).toBe(true);
    // And the cache the full read left is continued from.
    expect((await readBoth()).kind).toEqual({ kind: 'incremental' });
  });

  it('another server answering the same address: a full read', async () => {
    rig.proxy.retarget(other.url);
    const r = await readBoth();
    expect(r.kind?.kind).toBe('full');
    expect(r.kind?.why).toMatch(/another server answers \(contextCSN entryUUID=/);
    expect((await readBoth()).kind).toEqual({ kind: 'incremental' });
  });
});

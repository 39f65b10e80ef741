// The LDAP connector (profile activedirectory) against a real Samba 4 Active Directory DC that
// test/support/samba.ts provisions for this file: objectGUID ids, userAccountControl, nested
// groups with a cycle, a 2,000-member group read in forced range slices, LDAPS/StartTLS with the
// provisioned CA, and the email fallback to userPrincipalName.
//
// What Samba does NOT reproduce of Windows AD(measured with Samba 4.17):
//  - it does not cap pages at MaxPageSize=1000: a paged search asking for 2000 gets 2000;
//  - it does not force range retrieval: `member` of a 2,000-member group comes back whole, never as
//    `member;range=0-1499`.
// So the AD code paths for those two are exercised here only because the config forces them
// (rangeSize, pageSize); each test says which real-AD behaviour it proves.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { expandGroup, findGroupCycles, indexGroups } from '../../src/directory/expand.js';
import {
  LdapBindError,
  LdapTlsError,
  ldapSource,
  type ReadProgress,
} from '../../src/directory/ldap/index.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../../src/directory/types.js';
import {
  adGroup,
  adOu,
  adUser,
  SAMBA_BASE_DN,
  type SambaDc,
  type SambaSeed,
  type SeedLink,
  type SeedResult,
  startSambaDc,
  UAC,
} from '../support/samba.js';

const BASE = SAMBA_BASE_DN;
const PEOPLE = `OU=People,${BASE}`;
const GROUPS = `OU=Groups,${BASE}`;
const BIG = 2_000;
const PASSWORD = 'Passw0rd!';

const mDn = (i: number) => `CN=m${String(i).padStart(4, '0')},${PEOPLE}`;
const dnOf = (name: string) => `CN=${name},${PEOPLE}`;
const groupDn = (name: string) => `CN=${name},${GROUPS}`;
const JOERG_DN = `CN=Müller\\, Jörg,${PEOPLE}`;

/** 2,013 users, a computer, 10 groups; the groups' members are added after every entry exists. */
function seedSpec(): SambaSeed {
  const entries = [adOu(PEOPLE), adOu(GROUPS)];
  for (let i = 1; i <= BIG; i++) {
    const name = `m${String(i).padStart(4, '0')}`;
    entries.push(
      adUser({ name, parent: PEOPLE, givenName: 'Member', sn: name, displayName: `Member ${name}` }),
    );
  }
  entries.push(
    adUser({
      name: 'alice',
      parent: PEOPLE,
      displayName: 'Alice Archer',
      mail: 'alice@example.test',
      userPrincipalName: 'alice.upn@example.test',
    }),
    adUser({
      name: 'bob',
      parent: PEOPLE,
      displayName: 'Bob Disabled',
      userAccountControl: UAC.NORMAL_ACCOUNT | UAC.ACCOUNTDISABLE, // 514
    }),
    adUser({
      name: 'carol',
      parent: PEOPLE,
      displayName: 'Carol Disabled, password never expires',
      userAccountControl: UAC.NORMAL_ACCOUNT | UAC.ACCOUNTDISABLE | UAC.DONT_EXPIRE_PASSWORD, // 66050
    }),
    adUser({
      name: 'dave',
      parent: PEOPLE,
      displayName: 'Dave Enabled, password never expires',
      userAccountControl: UAC.NORMAL_ACCOUNT | UAC.PASSWD_NOTREQD | UAC.DONT_EXPIRE_PASSWORD, // 66080
    }),
    adUser({
      name: 'erin',
      parent: PEOPLE,
      displayName: 'Erin No-Mail',
      mail: null,
      userPrincipalName: 'erin.e@upn.example.test',
    }),
    adUser({
      name: 'nobody',
      parent: PEOPLE,
      displayName: 'No Mail No UPN',
      mail: null,
      userPrincipalName: null,
    }),
    adUser({
      name: 'joerg',
      cn: 'Müller\\, Jörg',
      parent: PEOPLE,
      displayName: 'Jörg Müller',
      mail: 'joerg@example.test',
    }),
    adUser({ name: 'nest1', parent: PEOPLE }),
    adUser({ name: 'nest2', parent: PEOPLE }),
    adUser({ name: 'nest3', parent: PEOPLE }),
    adUser({ name: 'nest4', parent: PEOPLE }),
    adUser({ name: 'cyc1', parent: PEOPLE }),
    adUser({ name: 'cyc2', parent: PEOPLE }),
    // A computer is objectClass=user too (a subclass): the profile's filter must leave it out.
    {
      dn: `CN=WS01,${PEOPLE}`,
      attributes: { objectClass: 'computer', sAMAccountName: 'WS01$', userAccountControl: '4096' },
    },
  );
  for (const g of [
    'big-group',
    'nest-a',
    'nest-b',
    'nest-c',
    'nest-d',
    'cycle-a',
    'cycle-b',
    'mixed',
    'empty',
  ]) {
    entries.push(adGroup(g, GROUPS));
  }
  const link = (group: string, values: string[]): SeedLink => ({
    dn: groupDn(group),
    attribute: 'member',
    values,
  });
  return {
    entries,
    links: [
      link(
        'big-group',
        Array.from({ length: BIG }, (_, i) => mDn(i + 1)),
      ),
      link('nest-a', [groupDn('nest-b'), dnOf('nest1')]),
      link('nest-b', [groupDn('nest-c'), dnOf('nest2')]),
      link('nest-c', [groupDn('nest-d'), dnOf('nest3')]),
      link('nest-d', [dnOf('nest4')]),
      link('cycle-a', [groupDn('cycle-b'), dnOf('cyc1')]),
      link('cycle-b', [groupDn('cycle-a'), dnOf('cyc2')]),
      link('mixed', [dnOf('alice'), dnOf('bob'), JOERG_DN, `CN=Administrator,CN=Users,${BASE}`]),
    ],
    // Real passwords only where a test binds (Samba hashes each one, ~25 ms).
    passwords: [
      { dn: dnOf('alice'), password: PASSWORD },
      { dn: dnOf('bob'), password: PASSWORD },
    ],
  };
}

let dc: SambaDc;
let seeded: SeedResult;
/** The full read over LDAPS as Administrator, shared by the tests that only inspect it. */
let snap: DirectorySnapshot;

beforeAll(async () => {
  dc = await startSambaDc();
  seeded = await dc.seed(seedSpec());
  snap = await ldapSource(config()).read();
  console.log(
    `samba DC on ${dc.ip}: provision ${ms(dc.timings.provisionMs)}, certificates ${ms(dc.timings.tlsMs)}, ` +
      `password policy ${ms(dc.timings.passwordSettingsMs)}, start until LDAPS binds ${ms(dc.timings.startMs)}, ` +
      `total ${ms(dc.timings.totalMs)}; seed ${seeded.guids.size} entries ${ms(seeded.totalMs)} ` +
      `(transaction ${ms(seeded.transactionMs)})`,
  );
}, 120_000);

afterAll(async () => {
  await dc?.stop();
});

const ms = (n: number) => `${(n / 1000).toFixed(1)} s`;

function config(over: Partial<LdapSourceConfig> = {}): LdapSourceConfig {
  return {
    type: 'ldap',
    url: dc.ldapsUrl,
    caFile: dc.caFile,
    ca: dc.ca,
    bindDN: dc.adminDN,
    bindPassword: dc.adminPassword,
    profile: 'activedirectory',
    userBase: PEOPLE,
    groupBase: GROUPS,
    insecureSkipVerify: false,
    emailFallbackAttribute: 'userPrincipalName',
    timeoutMs: 20_000,
    connectTimeoutMs: 5_000,
    ...over,
  };
}

const guid = (dn: string): string => {
  const g = seeded.guids.get(dn);
  if (g === undefined) throw new Error(`not seeded: ${dn}`);
  return g;
};
const userByDn = (s: DirectorySnapshot, dn: string): DirectoryUser => {
  const u = s.users.find((x) => x.id === guid(dn));
  if (!u) throw new Error(`user ${dn} not read`);
  return u;
};
const groupByName = (s: DirectorySnapshot, name: string): DirectoryGroup => {
  const g = s.groups.find((x) => x.name === name);
  if (!g) throw new Error(`group ${name} not read`);
  return g;
};

describe('Samba AD DC: identities', () => {
  it('ids are objectGUIDs decoded to the string Samba itself prints (AD wire format: 16 bytes, first three fields little-endian)', async () => {
    expect(snap.complete, snap.incompleteReasons.join('\n')).toBe(true);
    // Every seeded user and group, against the GUIDs python3-samba formatted in the seed.
    const seededUsers = [...seeded.guids.keys()].filter(
      (dn) => dn.endsWith(`,${PEOPLE}`) && !dn.startsWith('CN=WS01,'),
    );
    expect(seededUsers).toHaveLength(BIG + 13);
    expect(new Set(snap.users.map((u) => u.id))).toEqual(new Set(seededUsers.map(guid)));
    for (const u of snap.users)
      expect(u.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(groupByName(snap, 'big-group').id).toBe(guid(groupDn('big-group')));

    // And against samba-tool, the DC's own admin tool (as PowerShell's Get-ADUser would show it on AD).
    const shown = await dc.sambaTool(['user', 'show', 'alice', '--attributes=objectGUID']);
    const fromTool = /objectGUID: ([0-9a-f-]{36})/.exec(shown)?.[1];
    expect(fromTool).toBeDefined();
    expect(userByDn(snap, dnOf('alice')).id).toBe(fromTool);
    const group = await dc.sambaTool(['group', 'show', 'nest-a', '--attributes=objectGUID']);
    expect(groupByName(snap, 'nest-a').id).toBe(/objectGUID: ([0-9a-f-]{36})/.exec(group)?.[1]);
  });

  it('computer accounts (objectClass=user subclass) are not users, even reading from the domain root (real AD: every computer matches (objectClass=user))', async () => {
    const root = await ldapSource(config({ userBase: BASE, groupBase: GROUPS })).read();
    expect(root.complete, root.incompleteReasons.join('\n')).toBe(true);
    const refs = root.users.map((u) => u.ref ?? '');
    expect(refs).toContain(`CN=Administrator,CN=Users,${BASE}`);
    expect(refs.some((r) => /^CN=(WS01|DC1),/i.test(r))).toBe(false);
    // The built-in disabled accounts of every AD domain come out disabled.
    const builtin = (cn: string) => root.users.find((u) => u.ref === `CN=${cn},CN=Users,${BASE}`);
    expect(builtin('Guest')?.enabled).toBe(false);
    expect(builtin('krbtgt')?.enabled).toBe(false);
    expect(builtin('Administrator')?.enabled).toBe(true);
    // Everything else read from the root is the domain's built-in accounts (dns-dc1: Samba's DNS account).
    expect(refs.filter((r) => !r.endsWith(`,${PEOPLE}`)).sort()).toEqual(
      ['Administrator', 'Guest', 'dns-dc1', 'krbtgt'].map((cn) => `CN=${cn},CN=Users,${BASE}`),
    );
  });

  it('email comes from mail, else from userPrincipalName (real AD: many accounts have a UPN and no mail)', () => {
    expect(userByDn(snap, dnOf('alice')).email).toBe('alice@example.test'); // mail wins over the UPN
    expect(userByDn(snap, dnOf('erin')).email).toBe('erin.e@upn.example.test');
    expect(userByDn(snap, dnOf('nobody')).email).toBeNull();
    expect(userByDn(snap, dnOf('alice')).name).toBe('Alice Archer');
  });

  it('the fallback attribute is configurable: pointed back at mail, a UPN-only account has no email', async () => {
    // The activedirectory profile defaults the fallback to userPrincipalName and the config has no
    // "none"; naming mail again is how to get mail-only behaviour today.
    const noFallback = await ldapSource(config({ emailFallbackAttribute: 'mail' })).read();
    expect(userByDn(noFallback, dnOf('erin')).email).toBeNull();
  });
});

describe('Samba AD DC: disabled accounts', () => {
  it('userAccountControl bit 2 (ACCOUNTDISABLE) decides, whatever the other bits (real AD and Samba alike)', () => {
    expect(userByDn(snap, dnOf('bob')).enabled).toBe(false); // 514
    expect(userByDn(snap, dnOf('carol')).enabled).toBe(false); // 66050
    expect(userByDn(snap, dnOf('dave')).enabled).toBe(true); // 66080
    expect(userByDn(snap, dnOf('alice')).enabled).toBe(true); // 512 once a password is set
    expect(userByDn(snap, mDn(1)).enabled).toBe(true); // 544
  });

  it("agrees with the server's own bitwise filter (userAccountControl:1.2.840.113556.1.4.803:=2)", async () => {
    const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: dc.ca }, timeout: 10_000 });
    try {
      await client.bind(dc.adminDN, dc.adminPassword);
      const { searchEntries } = await client.search(PEOPLE, {
        filter: '(&(objectCategory=person)(objectClass=user)(userAccountControl:1.2.840.113556.1.4.803:=2))',
        attributes: ['dn'],
        paged: { pageSize: 1000 },
      });
      const serverSays = new Set(searchEntries.map((e) => e.dn.toLowerCase()));
      const weSay = new Set(snap.users.filter((u) => !u.enabled).map((u) => (u.ref ?? '').toLowerCase()));
      expect(weSay).toEqual(serverSays);
      expect(weSay.size).toBe(2);
    } finally {
      await client.unbind();
    }
  });

  it('binding as a disabled account fails with the AD sub-reason (data 533: account disabled)', async () => {
    const err = await ldapSource(config({ bindDN: dnOf('bob'), bindPassword: PASSWORD }))
      .read()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(LdapBindError);
    expect((err as LdapBindError).message).toMatch(
      /invalid credentials \(49\): account disabled \(AD data 533\)/,
    );
  });

  it('an ordinary account reads the same directory as Administrator (AD default: Authenticated Users may read users, groups and userAccountControl)', async () => {
    const asAlice = await ldapSource(config({ bindDN: dnOf('alice'), bindPassword: PASSWORD })).read();
    expect(asAlice.complete, asAlice.incompleteReasons.join('\n')).toBe(true);
    expect(asAlice.users.map((u) => [u.id, u.enabled, u.email]).sort()).toEqual(
      snap.users.map((u) => [u.id, u.enabled, u.email]).sort(),
    );
    expect(asAlice.groups.map((g) => [g.id, g.memberUserIds.length]).sort()).toEqual(
      snap.groups.map((g) => [g.id, g.memberUserIds.length]).sort(),
    );
  });
});

describe('Samba AD DC: membership', () => {
  it('nested groups (a chain 4 deep) give memberGroupIds that the core expands exactly as the server does with LDAP_MATCHING_RULE_IN_CHAIN', async () => {
    const nestA = groupByName(snap, 'nest-a');
    expect(nestA.memberGroupIds).toEqual([guid(groupDn('nest-b'))]);
    expect(nestA.memberUserIds).toEqual([guid(dnOf('nest1'))]);
    const expanded = expandGroup(indexGroups(snap.groups), nestA.id);
    const viaCore = new Set(expanded.holder.keys());
    expect(viaCore).toEqual(new Set(['nest1', 'nest2', 'nest3', 'nest4'].map((n) => guid(dnOf(n)))));

    // The DC's transitive evaluation (1.2.840.113556.1.4.1941), which Samba implements as AD does.
    const client = new Client({ url: dc.ldapsUrl, tlsOptions: { ca: dc.ca }, timeout: 10_000 });
    try {
      await client.bind(dc.adminDN, dc.adminPassword);
      const { searchEntries } = await client.search(PEOPLE, {
        filter: `(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=${groupDn('nest-a')}))`,
        attributes: ['objectGUID'],
        explicitBufferAttributes: ['objectGUID'],
      });
      expect(new Set(searchEntries.map((e) => guid(e.dn)))).toEqual(viaCore);
    } finally {
      await client.unbind();
    }
  });

  it('a cycle (cycle-a ⊃ cycle-b ⊃ cycle-a) is handed to the core, which expands it once and reports it', () => {
    const a = groupByName(snap, 'cycle-a');
    const b = groupByName(snap, 'cycle-b');
    expect(a.memberGroupIds).toEqual([b.id]);
    expect(b.memberGroupIds).toEqual([a.id]);
    const index = indexGroups(snap.groups);
    expect(new Set(expandGroup(index, a.id).holder.keys())).toEqual(
      new Set([guid(dnOf('cyc1')), guid(dnOf('cyc2'))]),
    );
    const cycles = findGroupCycles(index);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]?.code).toBe('group-cycle');
  });

  it('member DNs with escaped characters resolve; members outside the bases become one warning', () => {
    const mixed = groupByName(snap, 'mixed');
    expect(new Set(mixed.memberUserIds)).toEqual(
      new Set([guid(dnOf('alice')), guid(dnOf('bob')), guid(JOERG_DN)]),
    );
    expect(userByDn(snap, JOERG_DN).name).toBe('Jörg Müller');
    const outside = snap.warnings.filter((w) => w.code === 'member-outside-base');
    expect(outside).toHaveLength(1);
    expect(outside[0]?.subject).toBe('mixed');
    expect(outside[0]?.message).toContain(`CN=Administrator,CN=Users,${BASE}`);
    expect(groupByName(snap, 'empty').memberUserIds).toEqual([]);
  });
});

/**
 * A TCP proxy in front of the DC's plain LDAP port that keeps every byte in both directions, so a
 * test can count what the connector actually asked for, independently of the connector's code.
 */
interface CountingProxy {
  url: string;
  requests(): string;
  responses(): string;
  reset(): void;
  close(): Promise<void>;
}

async function startCountingProxy(host: string, port: number): Promise<CountingProxy> {
  let up: Buffer[] = [];
  let down: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect({ host, port });
    sockets.add(client).add(upstream);
    client.on('data', (b: Buffer) => {
      up.push(b);
      upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      down.push(b);
      client.write(b);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const localPort = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `ldap://127.0.0.1:${localPort}`,
    requests: () => Buffer.concat(up).toString('latin1'),
    responses: () => Buffer.concat(down).toString('latin1'),
    reset: () => {
      up = [];
      down = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Every `member;range=…` attribute description in a stream of LDAP messages, in order. Each is a
 * BER OCTET STRING (tag 0x04, short length) in a SearchRequest's attribute list or a
 * SearchResultEntry's attribute: its length byte says exactly where it ends.
 */
function rangedDescriptions(stream: string): string[] {
  const found: string[] = [];
  for (let at = stream.indexOf('member;range='); at !== -1; at = stream.indexOf('member;range=', at + 1)) {
    if (stream.charCodeAt(at - 2) !== 0x04) continue;
    found.push(stream.slice(at, at + stream.charCodeAt(at - 1)));
  }
  return found;
}

describe('Samba AD DC: a 2,000-member group', () => {
  // Real AD never returns more than MaxValRange (1500) values of `member`: it answers
  // `member;range=0-1499` and the client must ask for the rest. Samba returns all 2,000 at once,
  // so the slices are forced with rangeSize; what is proved is that the connector requests,
  // follows and concatenates `member;range=lo-hi` slices until the server answers `lo-*`, as
  // AD requires, and that Samba (like AD) honours each explicit range.
  it('rangeSize 500 reads it in 4 slices (0-499, 500-999, 1000-1499, 1500-*), every member resolved', async () => {
    const proxy = await startCountingProxy(dc.ip, 389);
    try {
      const count = async (rangeSize: number | undefined) => {
        proxy.reset();
        const progress: ReadProgress[] = [];
        const s = await ldapSource(
          config({ url: proxy.url, ca: undefined, caFile: undefined, ...(rangeSize ? { rangeSize } : {}) }),
          { onProgress: (p) => void progress.push(p) },
        ).read();
        const requested = rangedDescriptions(proxy.requests());
        // Slices of big-group as the server labelled them (small groups come back as `0-*`).
        const served = rangedDescriptions(proxy.responses()).filter((r) => r !== 'member;range=0-*');
        return { s, requested, served, progress };
      };

      const r500 = await count(500);
      expect(r500.s.complete, r500.s.incompleteReasons.join('\n')).toBe(true);
      const big = groupByName(r500.s, 'big-group');
      expect(big.memberUserIds).toHaveLength(BIG);
      expect(new Set(big.memberUserIds)).toEqual(
        new Set(Array.from({ length: BIG }, (_, i) => guid(mDn(i + 1)))),
      );
      expect(r500.served).toEqual([
        'member;range=0-499',
        'member;range=500-999',
        'member;range=1000-1499',
        'member;range=1500-*',
      ]);
      // One listing (all groups, first slice each) + 3 base-scope follow-ups for big-group.
      expect(r500.requested).toEqual([
        'member;range=0-499',
        'member;range=500-999',
        'member;range=1000-1499',
        'member;range=1500-1999',
      ]);
      expect(r500.progress.filter((p) => p.phase === 'members').at(-1)?.pages).toBe(3);

      // A different slice size changes the number of requests, not the result.
      const r1000 = await count(1000);
      expect(r1000.served).toEqual(['member;range=0-999', 'member;range=1000-*']);
      expect(r1000.requested).toHaveLength(2);
      expect(new Set(groupByName(r1000.s, 'big-group').memberUserIds)).toEqual(new Set(big.memberUserIds));

      // Without rangeSize, Samba (unlike AD) hands over all 2,000 values as plain `member`.
      const plain = await count(undefined);
      expect(plain.requested).toEqual([]);
      expect(plain.served).toEqual([]);
      expect(groupByName(plain.s, 'big-group').memberUserIds).toHaveLength(BIG);
    } finally {
      await proxy.close();
    }
  });

  it('pages are followed to the end (real AD caps a page at 1000; Samba does not, so pageSize forces 5 pages here)', async () => {
    const progress: ReadProgress[] = [];
    const s = await ldapSource(config({ pageSize: 450 }), {
      onProgress: (p) => void progress.push(p),
    }).read();
    expect(s.complete).toBe(true);
    expect(s.users).toHaveLength(snap.users.length);
    expect(progress.filter((p) => p.phase === 'users').map((p) => p.entries)).toEqual([
      450, 900, 1350, 1800, 2013,
    ]);
  });

  it("a configured pageSize above AD's MaxPageSize (1000) is lowered to it: Samba would serve 5000 a page, AD never does", async () => {
    const progress: ReadProgress[] = [];
    const s = await ldapSource(config({ pageSize: 5000 }), {
      onProgress: (p) => void progress.push(p),
    }).read();
    expect(s.complete).toBe(true);
    expect(progress.filter((p) => p.phase === 'users').map((p) => p.entries)).toEqual([1000, 2000, 2013]);
  });
});

describe('Samba AD DC: transport security', () => {
  it('LDAPS verifies the DC certificate against the provisioned CA (real AD: LDAPS on 636 with the enterprise CA)', () => {
    // The shared snapshot was read over ldaps:// with caFile = the CA generated for this DC.
    expect(snap.source).toBe(`ldaps://${dc.ip}:636`);
    expect(snap.complete).toBe(true);
    expect(snap.users).toHaveLength(BIG + 13);
  });

  it('StartTLS on 389 with the same CA reads the same directory', async () => {
    const s = await ldapSource(config({ url: dc.ldapUrl, startTLS: true })).read();
    expect(s.complete).toBe(true);
    expect(s.users.map((u) => u.id).sort()).toEqual(snap.users.map((u) => u.id).sort());
  });

  it('the wrong CA fails clearly, before any bind, naming the CA file', async () => {
    const err = await ldapSource(config({ caFile: dc.otherCaFile, ca: dc.otherCa }))
      .read()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(LdapTlsError);
    const message = (err as LdapTlsError).message;
    expect(message).toContain(`TLS connection to ldaps://${dc.ip}:636 failed`);
    expect(message).toContain(dc.otherCaFile);
    expect(message).not.toContain(dc.adminPassword);
  });
});

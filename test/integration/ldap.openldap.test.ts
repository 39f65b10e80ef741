// The LDAP connector against a real slapd (test/support/slapd.ts): mdb, memberof + refint, TLS
// with a CA generated for the run. The bind identity is an ordinary entry whose size limit is 500,
// so every full read here goes through paging; the awkward DNs, the nesting with a cycle and the
// members outside the bases were added with ldapadd so the overlays ran on them.
import { Client, SizeLimitExceededError } from 'ldapts';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/index.js';
import { expandGroup, findGroupCycles, indexGroups } from '../../src/directory/expand.js';
import {
  LdapBindError,
  LdapConfigError,
  LdapConnectError,
  LdapTlsError,
  ldapSource,
  type ReadProgress,
} from '../../src/directory/ldap/index.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import { createLogger } from '../../src/log/logger.js';
import { freePort, type Slapd, startSlapd } from '../support/slapd.js';
import {
  BIG_GROUP_SIZE,
  CAPPED_DN,
  CAPPED_LIMITS,
  CAPPED_PASSWORD,
  DATABASE_SIZE_LIMIT,
  DISABLED_EVERY,
  GENERATED_USERS,
  GHOST_MEMBER,
  GROUPS,
  liveLdif,
  NEST_DEPTH,
  OUTSIDE_MEMBERS,
  PEOPLE,
  preloadLdif,
  READER_DN,
  READER_PASSWORD,
  SPECIAL_GROUP_CN,
  SPECIAL_PEOPLE,
  TOTAL_USERS,
  userMail,
} from '../support/slapdFixtures.js';

let server: Slapd;

beforeAll(async () => {
  server = await startSlapd({
    sizeLimit: DATABASE_SIZE_LIMIT,
    limits: CAPPED_LIMITS,
    preload: preloadLdif(),
  });
  const live = liveLdif();
  await server.add(live.adds);
  await server.modify(live.closeCycle);
});

afterAll(async () => {
  await server?.stop();
});

const config = (over: Partial<LdapSourceConfig> = {}): LdapSourceConfig => ({
  type: 'ldap',
  url: server.url,
  startTLS: true,
  caFile: server.caFile as string,
  ca: server.caPem as string,
  bindDN: READER_DN,
  bindPassword: READER_PASSWORD,
  profile: 'openldap',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
  ...over,
});

function memoryLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({
    level: 'debug',
    destination: { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) },
  });
  return { logger, lines };
}

const WARN = 40;
const byName = (snap: DirectorySnapshot, name: string) => {
  const g = snap.groups.find((x) => x.name === name);
  if (!g) throw new Error(`no group ${name}`);
  return g;
};
const idByEmail = (snap: DirectorySnapshot) => new Map(snap.users.map((u) => [u.email, u.id]));

describe('reading OpenLDAP as an ordinary bind identity with a size limit of 500', () => {
  let startTls: DirectorySnapshot;
  const progress: ReadProgress[] = [];

  beforeAll(async () => {
    startTls = await ldapSource(config(), { onProgress: (p) => void progress.push(p) }).read();
  });

  it('the identity really is limited: a search without paging stops at 500', async () => {
    const client = new Client({ url: server.url, timeout: 10_000 });
    try {
      await client.bind(READER_DN, READER_PASSWORD);
      await expect(
        client.search(PEOPLE, { filter: '(objectClass=inetOrgPerson)', attributes: ['uid'] }),
      ).rejects.toBeInstanceOf(SizeLimitExceededError);
    } finally {
      await client.unbind();
    }
  });

  it('reads all 5,000+ users over StartTLS, page by page, complete', () => {
    expect(startTls.complete).toBe(true);
    expect(startTls.incompleteReasons).toEqual([]);
    expect(startTls.users).toHaveLength(TOTAL_USERS);
    expect(startTls.source).toBe(server.url);
    const userPages = progress.filter((p) => p.phase === 'users');
    // pageSize 500 (the openldap default): 5,009 entries take 11 pages.
    expect(userPages).toHaveLength(Math.ceil(TOTAL_USERS / 500));
    expect(userPages.at(-1)?.entries).toBe(TOTAL_USERS);
    const first = startTls.users.find((u) => u.email === userMail(1));
    expect(first).toMatchObject({ name: 'Test User 1', enabled: true, ref: `uid=user00001,${PEOPLE}` });
    // entryUUID is the id, never the DN
    expect(first?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Set(startTls.users.map((u) => u.id)).size).toBe(TOTAL_USERS);
  });

  it('ldaps:// reads the same directory', async () => {
    const ldaps = await ldapSource(config({ url: server.ldapsUrl as string, startTLS: false })).read();
    expect(ldaps.complete).toBe(true);
    expect(ldaps.source).toBe(server.ldapsUrl);
    const ids = (s: DirectorySnapshot) => s.users.map((u) => u.id).sort();
    expect(ids(ldaps)).toEqual(ids(startTls));
    expect(ldaps.groups).toEqual(startTls.groups);
  });

  it(`reads a group of ${BIG_GROUP_SIZE} members whole`, () => {
    const big = byName(startTls, 'big-group');
    expect(big.memberUserIds).toHaveLength(BIG_GROUP_SIZE);
    const emails = idByEmail(startTls);
    expect(big.memberUserIds).toContain(emails.get(userMail(1)));
    expect(big.memberUserIds).toContain(emails.get(userMail(BIG_GROUP_SIZE)));
    expect(big.memberUserIds).not.toContain(emails.get(userMail(BIG_GROUP_SIZE + 1)));
  });

  it('hands nested groups five deep, with a cycle, to the core as edges', () => {
    const nest = Array.from({ length: NEST_DEPTH }, (_, i) => byName(startTls, `nest-${i + 1}`));
    nest.forEach((g, i) => {
      const child = nest[(i + 1) % NEST_DEPTH];
      expect(g.memberGroupIds).toEqual([child?.id]);
      expect(g.memberUserIds).toHaveLength(1);
    });
    const index = indexGroups(startTls.groups);
    expect(expandGroup(index, nest[0]?.id as string).holder.size).toBe(NEST_DEPTH);
    const cycles = findGroupCycles(index);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]?.message).toMatch(/^groups nest in a cycle: (nest-\d ⊃ ){5}nest-\d;/);
  });

  it('matches member DNs with , + \\ # " leading spaces and non-ASCII, whatever form they were written in', () => {
    const special = byName(startTls, SPECIAL_GROUP_CN);
    expect(special.dn).toMatch(/,ou=groups,dc=example,dc=com$/);
    const emails = idByEmail(startTls);
    const expected = SPECIAL_PEOPLE.map((p) => emails.get(p.mail));
    expect(expected.every((id) => id !== undefined)).toBe(true);
    expect([...special.memberUserIds].sort()).toEqual([...expected].sort());
    // values come back as the directory holds them
    const names = startTls.users
      .filter((u) => SPECIAL_PEOPLE.some((p) => p.mail === u.email))
      .map((u) => u.name);
    expect(names.sort()).toEqual(SPECIAL_PEOPLE.map((p) => p.displayName).sort());
  });

  it('warns about members outside the bases and members that resolve to nothing', () => {
    const about = startTls.warnings.filter((w) => w.subject === SPECIAL_GROUP_CN);
    const outside = about.find((w) => w.code === 'member-outside-base');
    const unresolved = about.find((w) => w.code === 'unresolved-member');
    for (const dn of OUTSIDE_MEMBERS) expect(outside?.message).toContain(dn);
    expect(outside?.message).toMatch(/2 member DNs outside userBase/);
    expect(unresolved?.message).toContain(GHOST_MEMBER);
    expect(unresolved?.message).toMatch(/1 member DN naming no user/);
    expect(startTls.warnings).toHaveLength(2);
  });

  it("reads groupOfUniqueNames, dropping uniqueMember's optional UID", () => {
    const unique = byName(startTls, 'unique-group');
    const emails = idByEmail(startTls);
    expect([...unique.memberUserIds].sort()).toEqual(
      [emails.get(userMail(4100)), emails.get(userMail(4101))].sort(),
    );
  });

  it('marks users matching disabledFilter as disabled', async () => {
    const snap = await ldapSource(config({ disabledFilter: '(employeeType=disabled)' })).read();
    expect(snap.complete).toBe(true);
    const disabled = snap.users.filter((u) => !u.enabled);
    expect(disabled).toHaveLength(GENERATED_USERS / DISABLED_EVERY);
    expect(disabled.every((u) => /user\d+50@/.test(u.email ?? '') || /00@/.test(u.email ?? ''))).toBe(true);
  });

  it('with rangeSize set, falls back to whole member lists on a server without range retrieval', async () => {
    const { logger, lines } = memoryLogger();
    const snap = await ldapSource(config({ rangeSize: 100 }), { logger }).read();
    expect(snap.complete).toBe(true);
    expect(byName(snap, 'big-group').memberUserIds).toHaveLength(BIG_GROUP_SIZE);
    expect(snap.groups).toEqual(startTls.groups);
    expect(lines.some((l) => l.level === WARN && l.msg.includes('ignored member;range='))).toBe(true);
  });
});

describe('failures part way make the read incomplete, never shorter', () => {
  it('a server size limit hit while paging: complete false, with the reason, and what was read kept', async () => {
    const snap = await ldapSource(config({ bindDN: CAPPED_DN, bindPassword: CAPPED_PASSWORD })).read();
    expect(snap.complete).toBe(false);
    expect(snap.users).toHaveLength(500);
    expect(snap.incompleteReasons).toHaveLength(1);
    expect(snap.incompleteReasons[0]).toMatch(
      /^users under ou=people,dc=example,dc=com with \(objectClass=inetOrgPerson\): page 2 failed after 500 entries: size limit exceeded \(4\) \(the server limits how many entries/,
    );
  });

  it('a failed first page (page size over the limit) reads nothing and says so', async () => {
    const snap = await ldapSource(
      config({ bindDN: CAPPED_DN, bindPassword: CAPPED_PASSWORD, pageSize: 1000 }),
    ).read();
    expect(snap.complete).toBe(false);
    expect(snap.users).toHaveLength(0);
    expect(snap.incompleteReasons[0]).toMatch(/page 1 failed after 0 entries: size limit exceeded \(4\)/);
  });
});

describe('failures before anything is read are thrown, with a clear message', () => {
  it('a wrong CA: ldaps://', async () => {
    const err = await ldapSource(
      config({
        url: server.ldapsUrl as string,
        startTLS: false,
        ca: server.wrongCaPem as string,
        caFile: server.wrongCaFile as string,
      }),
    )
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapTlsError);
    const message = (err as Error).message;
    expect(message).toContain(`TLS connection to ${server.ldapsUrl} failed`);
    expect(message).toMatch(
      /unable to verify the first certificate|self[- ]signed certificate in certificate chain/,
    );
    expect(message).toContain(`caFile ${server.wrongCaFile}`);
  });

  it('a wrong CA: StartTLS', async () => {
    const err = await ldapSource(
      config({ ca: server.wrongCaPem as string, caFile: server.wrongCaFile as string }),
    )
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapTlsError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^TLS connection to ${server.url.replace(/[.]/g, '\\.')} failed: (unable to verify the first certificate|self[- ]signed)`,
      ),
    );
  });

  it('no CA at all: the public CA list does not know a private CA', async () => {
    const { ca: _ca, caFile: _caFile, ...noCa } = config();
    const err = await ldapSource(noCa)
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapTlsError);
    expect((err as Error).message).toContain("Node's built-in list of public CAs (no caFile is set)");
  });

  it('a bad password: the bind error, never the password', async () => {
    const password = 'Wr0ng-Pa55word-123';
    const err = await ldapSource(config({ bindPassword: password }))
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapBindError);
    expect((err as Error).message).toMatch(
      new RegExp(`^LDAP bind as ${READER_DN.replace(/[.]/g, '\\.')} failed: invalid credentials \\(49\\)`),
    );
    expect(JSON.stringify({ message: (err as Error).message, stack: (err as Error).stack })).not.toContain(
      password,
    );
  });

  it('a base DN that does not exist', async () => {
    const err = await ldapSource(config({ userBase: 'ou=nobody,dc=example,dc=com' }))
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapConfigError);
    expect((err as Error).message).toBe(
      `userBase "ou=nobody,dc=example,dc=com" does not exist on ${server.url} (no such object, 32)`,
    );
  });

  it('nothing listening', async () => {
    const port = await freePort();
    const err = await ldapSource(config({ url: `ldap://127.0.0.1:${port}` }))
      .read()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LdapConnectError);
    expect((err as Error).message).toBe(
      `cannot connect to ldap://127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    );
  });
});

describe('transport warnings', () => {
  it('insecureSkipVerify reads with any certificate, and warns loudly at every connect', async () => {
    const { logger, lines } = memoryLogger();
    const source = ldapSource(
      config({
        ca: server.wrongCaPem as string,
        caFile: server.wrongCaFile as string,
        insecureSkipVerify: true,
      }),
      { logger },
    );
    expect((await source.read()).complete).toBe(true);
    await source.read();
    const loud = lines.filter((l) => l.level === WARN && l.msg.startsWith('INSECURE: the TLS certificate'));
    expect(loud).toHaveLength(2);
  });

  it('plain ldap:// without StartTLS works and warns that it is unencrypted', async () => {
    const { logger, lines } = memoryLogger();
    const snap = await ldapSource(config({ startTLS: false }), { logger }).read();
    expect(snap.users).toHaveLength(TOTAL_USERS);
    expect(lines.some((l) => l.level === WARN && l.msg.includes('unencrypted'))).toBe(true);
    // and the password never reaches a log line
    expect(JSON.stringify(lines)).not.toContain(READER_PASSWORD);
  });
});

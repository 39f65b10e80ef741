// `idsync validate` for an LDAP source, as an operator runs it: a real `idsync` process against a
// real slapd (the 5,000-person fixture, StartTLS with the CA generated for the run) and the Devin
// simulator, both on loopback. Each case is one thing that would make a sync go wrong: a bad
// password, a filter that matches nothing (every user a leaver), a mapped group that is not
// there, a member list the bind account may not read, a size-capped bind account, a page size the
// server refuses. Each must show as its own line naming the config key, with the exit code
// validate already uses (1 for a failed check; warnings do not fail).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../../src/directory/ldap/profiles.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { runIdsync } from '../support/cli.js';
import { ldifEntry, type Slapd, startSlapd } from '../support/slapd.js';
import {
  CAPPED_DN,
  CAPPED_LIMITS,
  CAPPED_PASSWORD,
  DATABASE_SIZE_LIMIT,
  GENERATED_USERS,
  GROUPS,
  PEOPLE,
  preloadLdif,
  READER_DN,
  READER_PASSWORD,
  SUFFIX,
  SYSTEM,
  userDn,
} from '../support/slapdFixtures.js';

const TOKEN = 'cog_validate_ldap_token_5e2a';

/** An account whose pages may hold at most 100 entries (OpenLDAP size.pr): pageSize 500 is refused. */
const SMALL_PAGES_DN = `uid=idsync-small-pages,${SYSTEM}`;
const SMALL_PAGES_PASSWORD = 'small-Pa55!';

const ENG = `cn=devin-eng,${GROUPS}`;
const OPS = `cn=devin-ops,${GROUPS}`;
const SECRET = `cn=devin-secret,${GROUPS}`;

let server: Slapd;
let sim: RunningSimulator;
let dir: string;
let opsUuid: string;

beforeAll(async () => {
  [server, sim] = await Promise.all([
    startSlapd({
      sizeLimit: DATABASE_SIZE_LIMIT,
      limits: [
        ...CAPPED_LIMITS,
        `dn.exact="${SMALL_PAGES_DN}" size.soft=500 size.hard=500 size.pr=100 size.prtotal=unlimited`,
      ],
      preload: preloadLdif(),
    }),
    startSimulator({ seed: generateSeed({ users: 5, groups: 2, orgs: 2, token: TOKEN }) }),
  ]);
  await server.add(
    [
      ldifEntry(SMALL_PAGES_DN, {
        objectClass: ['top', 'account', 'simpleSecurityObject'],
        uid: 'idsync-small-pages',
        userPassword: SMALL_PAGES_PASSWORD,
      }),
      ldifEntry(ENG, {
        objectClass: ['top', 'groupOfNames'],
        cn: 'devin-eng',
        member: [userDn(1), userDn(2)],
      }),
      ldifEntry(OPS, { objectClass: ['top', 'groupOfNames'], cn: 'devin-ops', member: [userDn(3)] }),
      ldifEntry(SECRET, {
        objectClass: ['top', 'groupOfNames'],
        cn: 'devin-secret',
        member: [userDn(4), userDn(5), userDn(6)],
      }),
    ].join(''),
  );
  // The bind account may see devin-secret, but not who is in it.
  await server.configure(
    [
      'dn: olcDatabase={1}mdb,cn=config',
      'changetype: modify',
      'add: olcAccess',
      `olcAccess: {0}to dn.exact="${SECRET}" attrs=member by dn.exact="${READER_DN}" none by * break`,
      '',
    ].join('\n'),
  );
  const client = new Client({ url: server.url });
  try {
    await client.bind(server.rootDN, server.rootPassword);
    const { searchEntries } = await client.search(OPS, { scope: 'base', attributes: ['entryUUID'] });
    opsUuid = String(searchEntries[0]?.entryUUID);
  } finally {
    await client.unbind();
  }
  dir = await mkdtemp(join(tmpdir(), 'idsync-validate-ldap-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  for (const [name, pw] of [
    ['reader', READER_PASSWORD],
    ['capped', CAPPED_PASSWORD],
    ['small-pages', SMALL_PAGES_PASSWORD],
    ['wrong', 'not-the-password'],
  ] as const) {
    await writeFile(join(dir, `${name}.pw`), `${pw}\n`);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([server?.stop(), sim?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function idsync(args: string[]): Promise<Run> {
  return runIdsync(args, dir).then((r) => ({ ...r, lines: r.stdout.trimEnd().split('\n') }));
}

interface Options {
  bindDN?: string;
  passwordFile?: string;
  source?: string;
  mappings?: string;
}

const MAPPINGS = `  - group: { name: DEVIN-ENG }
    enterpriseRole: Member
  - group: { id: "{${'OPS_UUID'}}" }
    enterpriseRole: Member
  - group: { pattern: "devin-e*" }
    enterpriseRole: Member
  - group: { dn: "CN=Devin-Eng, OU=Groups, DC=Example, DC=Com" }
    enterpriseRole: Member`;

async function validate(name: string, o: Options = {}): Promise<Run> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `source:
  type: ldap
  profile: openldap
  url: ${server.url}
  startTLS: true
  caFile: ${server.caFile}
  bindDN: "${o.bindDN ?? READER_DN}"
  bindPasswordFile: ${o.passwordFile ?? 'reader.pw'}
  userBase: ${PEOPLE}
  groupBase: ${GROUPS}
  timeoutMs: 20000
${o.source ?? ''}
devin:
  baseUrl: ${sim.url}
  tokenFile: token
  maxRequestsPerSecond: 0
mappings:
${(o.mappings ?? MAPPINGS).replace('OPS_UUID', opsUuid.toUpperCase())}
`,
  );
  const run = await idsync(['validate', '--config', file]);
  // Whatever happens, the bind password is never printed.
  for (const pw of [READER_PASSWORD, CAPPED_PASSWORD, SMALL_PAGES_PASSWORD, 'not-the-password']) {
    expect(run.stdout + run.stderr).not.toContain(pw);
  }
  return run;
}

const sourceLines = (run: Run): string[] =>
  run.lines.filter((l) => / (source|mappings\[\d+\])\.[A-Za-z.]+: /.test(l));

describe('idsync validate against a real slapd', () => {
  it('everything fine: one ok line per check, naming its key; the GUID selector matches in upper case and braces; exit 0', async () => {
    const run = await validate('good');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const total = GENERATED_USERS;
    expect(sourceLines(run)).toEqual([
      `✓ source.bindDN: bound to ldap://127.0.0.1:${new URL(server.url).port} as ${READER_DN}`,
      `✓ source.userBase: ${PEOPLE} exists`,
      `✓ source.groupBase: ${GROUPS} exists`,
      `✓ source.userFilter: (objectClass=inetOrgPerson) matches ${total} entries under userBase (10 pages of up to 500; the server's size limit of 500 applies to plain searches only, paging gets past it)`,
      `✓ source.groupFilter: ${PROFILES.openldap.groupFilter} matches 4 entries under groupBase (1 page of up to 500)`,
      '✓ mappings[0].group.name: name "DEVIN-ENG" selects group devin-eng (2 members, readable)',
      // Written upper case in braces; canonical once loaded.
      `✓ mappings[1].group.id: id "${opsUuid.toLowerCase()}" selects group devin-ops (1 member, readable)`,
      '✓ mappings[2].group.pattern: pattern "devin-e*" selects group devin-eng (2 members, readable)',
      '✓ mappings[3].group.dn: dn "CN=Devin-Eng, OU=Groups, DC=Example, DC=Com" selects group devin-eng (2 members, readable)',
      // What the daemon's watch would poll (no syncprov on this server).
      `✓ source.watch: ${SUFFIX} has no contextCSN (no syncprov overlay): the watch polls for the newest entryCSN, one subtree search per poll (index entryCSN eq to keep it cheap); source.watch is off`,
      // And whether the server would tell the watch of changes (no: no syncprov).
      "✓ source.watch.push: not offered (syncprov is not loaded: no 1.3.6.1.4.1.4203.1.9.1.1 in the rootDSE's supportedControl), polling every 5s; source.watch is off",
    ]);
    expect(run.lines.filter((l) => !l.startsWith('✓'))).toEqual([]);
  });

  it('a wrong password: a clear bind error on source.bindDN, exit 1', async () => {
    const run = await validate('wrong-password', { passwordFile: 'wrong.pw' });
    expect(run.code).toBe(1);
    expect(sourceLines(run)).toEqual([
      `✗ source.bindDN: LDAP bind as ${READER_DN} failed: invalid credentials (49). Check bindDN and the password (bindPassword or bindPasswordFile).`,
    ]);
  });

  it('a bind DN that does not exist fails the same way', async () => {
    const run = await validate('wrong-dn', { bindDN: `uid=nobody,${SYSTEM}` });
    expect(run.code).toBe(1);
    expect(sourceLines(run)[0]).toMatch(
      /^✗ source\.bindDN: LDAP bind as uid=nobody,.* invalid credentials \(49\)/,
    );
  });

  it('a userFilter that matches nothing is an error: it would make every user look like a leaver', async () => {
    const run = await validate('no-users', { source: '  userFilter: (employeeType=no-such-type)' });
    expect(run.code).toBe(1);
    expect(sourceLines(run)).toContain(
      `✗ source.userFilter: (employeeType=no-such-type) matches no entry under ${PEOPLE}: every user would look like a leaver; check userFilter and userBase`,
    );
  });

  it('a groupFilter that matches nothing is an error, and so is every mapping then', async () => {
    const run = await validate('no-groups', { source: '  groupFilter: (objectClass=posixGroup)' });
    expect(run.code).toBe(1);
    const lines = sourceLines(run);
    expect(lines).toContain(
      `✗ source.groupFilter: (objectClass=posixGroup) matches no entry under ${GROUPS}: no mapping can select a group; check groupFilter and groupBase`,
    );
    expect(lines.filter((l) => l.startsWith('✗ mappings['))).toHaveLength(4);
  });

  it('a mapped group that is not there is an error naming the mapping', async () => {
    const run = await validate('missing-group', {
      mappings: `  - group: { name: devin-eng }
    enterpriseRole: Member
  - group: { name: devin-gone }
    enterpriseRole: Member
  - group: { dn: "cn=devin-eng,ou=elsewhere,dc=example,dc=com" }
    enterpriseRole: Member`,
    });
    expect(run.code).toBe(1);
    const lines = sourceLines(run);
    expect(lines).toContain(
      `✗ mappings[1].group.name: name "devin-gone" matches none of the 4 groups under groupBase ${GROUPS} with ${PROFILES.openldap.groupFilter}: the mapping selects nothing`,
    );
    expect(lines.find((l) => l.startsWith('✗ mappings[2].group.dn:'))).toMatch(
      /the DN is outside groupBase\)$/,
    );
    expect(lines).toContain(
      '✓ mappings[0].group.name: name "devin-eng" selects group devin-eng (2 members, readable)',
    );
  });

  it('a member list the bind account may not read (an ACL hides member) is an error naming the group and the mapping', async () => {
    const run = await validate('unreadable', {
      mappings: `  - group: { name: devin-eng }
    enterpriseRole: Member
  - group: { pattern: "devin-s*" }
    enterpriseRole: Member`,
    });
    expect(run.code).toBe(1);
    expect(sourceLines(run)).toContain(
      `✗ mappings[1].group.pattern: group devin-secret (${SECRET}): the bind account may not read its member list (member came back absent, although groupOfNames requires it: an ACL hides it); mappings[1] would see it as empty. Grant the bind account read access to its member attribute`,
    );
    // The rootdn sees the three members: the group is not empty, it is hidden.
    const client = new Client({ url: server.url });
    try {
      await client.bind(server.rootDN, server.rootPassword);
      const { searchEntries } = await client.search(SECRET, { scope: 'base', attributes: ['member'] });
      expect(searchEntries[0]?.member).toHaveLength(3);
    } finally {
      await client.unbind();
    }
  });

  it('a bind account capped at 500 entries (also when paging) is a warning on source.bindDN; exit 0', async () => {
    const run = await validate('capped', { bindDN: CAPPED_DN, passwordFile: 'capped.pw' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = sourceLines(run);
    expect(lines).toContain(
      "! source.bindDN: the server stops this bind account's users listing at 500 entries, also when paged (size limit exceeded, 4): every sync would be incomplete and hold back all removals. Raise the account's size limit (OpenLDAP: olcLimits size.prtotal=unlimited; AD: MaxResultSetSize)",
    );
    expect(lines).toContain(
      '✓ source.userFilter: (objectClass=inetOrgPerson) matches at least 500 entries under userBase',
    );
    expect(lines.filter((l) => l.startsWith('✗'))).toEqual([]);
  });

  it('a pageSize the server refuses for this account (OpenLDAP size.pr=100) is an error on source.pageSize', async () => {
    const run = await validate('small-pages', { bindDN: SMALL_PAGES_DN, passwordFile: 'small-pages.pw' });
    expect(run.code).toBe(1);
    const lines = sourceLines(run);
    expect(lines).toContain(
      "✗ source.pageSize: the server refuses pages of 500 entries for this bind account (administrative limit exceeded (11): illegal pagedResults page size); lower source.pageSize, or raise the server's limit (OpenLDAP size.pr)",
    );
    // Said once, though both listings hit it; without a group listing the mappings are not checked.
    expect(lines.filter((l) => l.includes('source.pageSize'))).toHaveLength(1);
    expect(lines).toContain(
      '✗ mappings[0].group.name: name "DEVIN-ENG": not checked: the groups could not be listed',
    );
    // With pages the server accepts, the same account is fine.
    const ok = await validate('small-pages-ok', {
      bindDN: SMALL_PAGES_DN,
      passwordFile: 'small-pages.pw',
      source: '  pageSize: 100',
    });
    expect(ok.code).toBe(0);
    expect(sourceLines(ok)).toContain(
      `✓ source.userFilter: (objectClass=inetOrgPerson) matches ${GENERATED_USERS} entries under userBase (50 pages of up to 100; the server's size limit of 500 applies to plain searches only, paging gets past it)`,
    );
  });
});

// The LDAP part of the config: profile defaults and overrides, the AD page cap, and filters and
// base DNs checked at load with the position of the problem.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidCredentialsError, SizeLimitExceededError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type LdapSourceConfig, loadConfigText } from '../../../../src/config/index.js';
import { describeLdapFailure, describeResultCode } from '../../../../src/directory/ldap/errors.js';
import { resolveSettings } from '../../../../src/directory/ldap/profiles.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-ldapcfg-'));
  await writeFile(join(dir, 'pw'), 's3cret\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const source = (extra: string[]): string =>
  [
    'source:',
    '  type: ldap',
    '  url: ldap://127.0.0.1:389',
    '  startTLS: true',
    '  bindDN: uid=idsync,ou=system,dc=corp,dc=example',
    '  bindPasswordFile: pw',
    '  profile: openldap',
    '  userBase: ou=people,dc=corp,dc=example',
    '  groupBase: ou=groups,dc=corp,dc=example',
    ...extra,
    'devin: { token: cog_x }',
    'mappings:',
    '  - group: { name: devin-admins }',
    '    enterpriseRole: account_admin',
    '',
  ].join('\n');

async function problems(extra: string[]): Promise<string[]> {
  const err = await loadConfigText(source(extra), join(dir, 'idsync.yaml'), { env: {} }).catch(
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.format().map((l) => l.replace(`${join(dir, 'idsync.yaml')}:`, ''));
}

describe('LDAP config at load', () => {
  it('reports a bad filter at its line, with the filter and the column inside it', async () => {
    expect(
      await problems([
        '  userFilter: "(&(objectClass=inetOrgPerson)(employeeType=staff"',
        '  groupFilter: (cn=a(b)',
        '  disabledFilter: (pwdAccountLockedTime=\\zz)',
      ]),
    ).toEqual([
      '10:15: source.userFilter: expected an LDAP filter (RFC 4515), found "(&(objectClass=inetOrgPerson)(employeeType=staff": column 49: missing ")": the "(" at column 30 is not closed',
      '11:16: source.groupFilter: expected an LDAP filter (RFC 4515), found "(cn=a(b)": column 6: unescaped "(" in a value (write \\28)',
      '12:19: source.disabledFilter: expected an LDAP filter (RFC 4515), found "(pwdAccountLockedTime=\\\\zz)": column 23: invalid escape "\\z" (write "\\" and two hex digits: \\2a for *, \\28 for (, \\29 for ), \\5c for \\)',
    ]);
  });

  it('reports a malformed base DN and attribute name', async () => {
    const text = source(['  idAttribute: entry UUID']).replace(
      'userBase: ou=people,dc=corp,dc=example',
      'userBase: ou=people,,dc=corp',
    );
    const err = await loadConfigText(text, join(dir, 'idsync.yaml'), { env: {} }).catch((e: unknown) => e);
    expect((err as ConfigError).format().map((l) => l.replace(`${join(dir, 'idsync.yaml')}:`, ''))).toEqual([
      '8:13: source.userBase: expected a DN such as ou=people,dc=corp,dc=example, found "ou=people,,dc=corp": expected an attribute type at column 11',
      '10:16: source.idAttribute: expected an LDAP attribute name such as mail or objectGUID, found "entry UUID"',
    ]);
  });

  it('loads the overrides', async () => {
    const cfg = await loadConfigText(
      source([
        '  disabledFilter: (employeeType=disabled)',
        '  idAttribute: uidNumber',
        '  nameAttribute: cn',
        '  groupNameAttribute: ou',
        '  memberAttribute: uniqueMember',
        '  extraUserAttributes: [departmentNumber, title]',
        '  rangeSize: 250',
      ]),
      join(dir, 'idsync.yaml'),
      { env: {} },
    );
    expect(cfg.source).toMatchObject({
      type: 'ldap',
      bindPassword: 's3cret',
      disabledFilter: '(employeeType=disabled)',
      idAttribute: 'uidNumber',
      memberAttribute: 'uniqueMember',
      extraUserAttributes: ['departmentNumber', 'title'],
      rangeSize: 250,
    });
  });
});

const base: LdapSourceConfig = {
  type: 'ldap',
  url: 'ldaps://dc1.corp.example',
  bindDN: 'CORP\\idsync',
  bindPassword: 'x',
  profile: 'activedirectory',
  userBase: 'OU=People,DC=corp,DC=example',
  groupBase: 'OU=Groups,DC=corp,DC=example',
  insecureSkipVerify: false,
};

describe('profiles', () => {
  it('activedirectory defaults', () => {
    const s = resolveSettings(base);
    expect(s).toMatchObject({
      origin: 'ldaps://dc1.corp.example:636',
      security: 'ldaps',
      userFilter: '(&(objectClass=user)(!(objectClass=computer)))',
      groupFilter: '(objectClass=group)',
      disabledByUserAccountControl: true,
      idAttribute: 'objectGUID',
      emailAttribute: 'mail',
      emailFallbackAttribute: 'userPrincipalName',
      memberAttributes: ['member'],
      pageSize: 1000,
      connectTimeoutMs: 10_000,
      timeoutMs: 60_000,
      timeLimitSeconds: 59,
      userBaseKey: 'ou=people,dc=corp,dc=example',
    });
    expect(s.rangeSize).toBeUndefined();
  });

  it('openldap defaults', () => {
    const s = resolveSettings({ ...base, profile: 'openldap', url: 'ldap://ldap1', startTLS: true });
    expect(s).toMatchObject({
      origin: 'ldap://ldap1:389',
      security: 'starttls',
      userFilter: '(objectClass=inetOrgPerson)',
      groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))',
      disabledByUserAccountControl: false,
      idAttribute: 'entryUUID',
      memberAttributes: ['member', 'uniqueMember', 'memberUid'],
      uidMemberAttributes: ['memberUid'],
      uidAttribute: 'uid',
      membership: 'member',
      pageSize: 500,
    });
    expect(s.disabledFilter).toBeUndefined();
    expect(s.emailFallbackAttribute).toBeUndefined();
  });

  it('caps the AD page size at 1000 and says so', () => {
    const s = resolveSettings({ ...base, pageSize: 5000 });
    expect(s.pageSize).toBe(1000);
    expect(s.pageSizeLowered).toEqual({ from: 5000, to: 1000 });
  });

  it('an explicit disabledFilter replaces the userAccountControl rule; overrides win', () => {
    const s = resolveSettings({
      ...base,
      disabledFilter: '(msDS-UserAccountDisabled=TRUE)',
      idAttribute: 'objectSid',
      memberAttribute: 'uniqueMember',
      emailFallbackAttribute: 'proxyAddresses',
      timeoutMs: 2500,
    });
    expect(s).toMatchObject({
      disabledByUserAccountControl: false,
      idAttribute: 'objectSid',
      memberAttributes: ['uniqueMember'],
      emailFallbackAttribute: 'proxyAddresses',
      timeLimitSeconds: 2,
    });
  });
});

describe('member attributes', () => {
  it('memberAttribute (the old key) is a one-element memberAttributes', () => {
    expect(resolveSettings({ ...base, memberAttribute: 'memberUid' }).memberAttributes).toEqual([
      'memberUid',
    ]);
  });

  it('memberAttributes reads every attribute listed, once whatever its case', () => {
    const s = resolveSettings({
      ...base,
      profile: 'openldap',
      memberAttributes: ['member', 'uniqueMember', 'memberUid', 'Member'],
      uidMemberAttributes: ['memberUid', 'nisNetgroupUser'],
      uidAttribute: 'cn',
      membership: 'memberOf',
    });
    expect(s).toMatchObject({
      memberAttributes: ['member', 'uniqueMember', 'memberUid'],
      uidMemberAttributes: ['memberUid', 'nisNetgroupUser'],
      uidAttribute: 'cn',
      membership: 'memberOf',
    });
  });

  it('loads the new keys', async () => {
    const cfg = await loadConfigText(
      source([
        '  memberAttributes: [member, uniqueMember, memberUid]',
        '  uidMemberAttributes: [memberUid]',
        '  uidAttribute: uid',
        '  membership: memberOf',
      ]),
      join(dir, 'idsync.yaml'),
      { env: {} },
    );
    expect(cfg.source).toMatchObject({
      memberAttributes: ['member', 'uniqueMember', 'memberUid'],
      uidMemberAttributes: ['memberUid'],
      uidAttribute: 'uid',
      membership: 'memberOf',
    });
  });

  it('refuses both spellings at once, an empty list and an unknown membership, at their lines', async () => {
    expect(await problems(['  memberAttribute: member', '  memberAttributes: [member, memberUid]'])).toEqual([
      '11:3: source.memberAttributes: expected at most one of memberAttribute or memberAttributes, found both memberAttribute and memberAttributes',
    ]);
    expect(await problems(['  memberAttributes: []', '  membership: memberof'])).toEqual([
      expect.stringMatching(/^10:\d+: source\.memberAttributes: .*at least one attribute name/),
      expect.stringMatching(/^11:\d+: source\.membership: .*"member".*"memberOf".*found "memberof"/),
    ]);
  });
});

describe('failure descriptions', () => {
  it('name the result code, and decode the AD bind sub-code', () => {
    expect(describeResultCode(new InvalidCredentialsError())).toBe('invalid credentials (49)');
    expect(
      describeResultCode(
        new InvalidCredentialsError(
          '80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563',
        ),
      ),
    ).toBe('invalid credentials (49): account locked out (AD data 775)');
    expect(describeLdapFailure(new SizeLimitExceededError())).toBe('size limit exceeded (4)');
    expect(describeLdapFailure(new Error('SearchRequest: Operation timed out'), 5000)).toMatch(
      /no answer within 5000 ms \(timeoutMs\)/,
    );
    expect(
      describeLdapFailure(
        new Error('Connection closed before message response was received. Message type: x'),
      ),
    ).toBe('connection lost');
  });
});

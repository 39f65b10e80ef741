// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// Bad configs: each must fail with one exact message per problem, at `file:line:column`, naming the
// key path, what was expected and what was found; and `validate` must exit 2 for each.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidate } from '../../../src/cli/validateCommand.js';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const SOURCE = ['source:', '  type: file', '  path: dir.json'];
const DEVIN = ['devin:', '  token: cog_secret_value'];
const MAPPINGS = [
  'mappings:',
  '  - group: { name: devin-platform }',
  '    enterpriseRole: account_member',
  '    orgs:',
  '      - { org: Platform, role: org_admin }',
];

const lines = (...parts: string[][]): string => `${parts.flat().join('\n')}\n`;
/** The valid base (lines 1–10) with `extra` lines appended from line 11. */
const base = (...extra: string[]): string => lines(SOURCE, DEVIN, MAPPINGS, extra);

interface Case {
  name: string;
  text: string;
  /** `line:column: path: message`, the file name is prefixed by the test. */
  expected: string[];
  env?: Record<string, string>;
}

const cases: Case[] = [
  {
    name: 'YAML syntax error',
    text: lines(['source:', '  type: file', '  path: [dir.json', 'devin:', '  token: x']),
    expected: [
      '4:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
  },
  {
    name: 'duplicate key',
    text: lines(SOURCE, DEVIN, ['  token: cog_other'], MAPPINGS),
    expected: ['6:3: devin.token: duplicate key "token": a key may appear only once in a mapping'],
  },
  {
    name: 'unknown top-level key, with a suggestion',
    text: base('guardrail: { maxUserRemovals: 3 }'),
    expected: ['11:1: guardrail: unknown key "guardrail"; did you mean "guardrails"?'],
  },
  {
    name: 'an unknown *File key is reported, not read',
    text: lines(SOURCE, DEVIN, ['  tokenFiles: secrets/missing-token'], MAPPINGS),
    expected: ['6:3: devin.tokenFiles: unknown key "tokenFiles"; did you mean "tokenFile"?'],
  },
  {
    name: 'unknown nested key, listing the known ones',
    text: base('state: { path: x.json }'),
    expected: ['11:10: state.path: unknown key "path"; expected one of: file'],
  },
  {
    name: 'missing source',
    text: lines(DEVIN, MAPPINGS),
    expected: ['1:1: source: expected a mapping, found nothing'],
  },
  {
    name: 'unknown source type',
    text: lines(['source:', '  type: ad', '  path: dir.json'], DEVIN, MAPPINGS),
    expected: ['2:9: source.type: expected one of "file", "ldap", "entra", found "ad"'],
  },
  {
    name: 'ldap url with http://',
    text: lines(
      [
        'source:',
        '  type: ldap',
        '  url: http://dc1.corp.example:389',
        '  bindDN: cn=idsync,dc=corp,dc=example',
        '  bindPassword: hunter2',
        '  profile: openldap',
        '  userBase: ou=people,dc=corp,dc=example',
        '  groupBase: ou=groups,dc=corp,dc=example',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '3:8: source.url: expected an ldap:// or ldaps:// URL such as ldaps://dc1.corp.example:636, found "http://dc1.corp.example:389"',
    ],
  },
  {
    name: 'ldap startTLS over ldaps://, and an unknown profile',
    text: lines(
      [
        'source:',
        '  type: ldap',
        '  url: ldaps://dc1.corp.example:636',
        '  bindDN: cn=idsync,dc=corp,dc=example',
        '  bindPasswordFile: token.txt',
        '  profile: ad',
        '  userBase: ou=people,dc=corp,dc=example',
        '  groupBase: ou=groups,dc=corp,dc=example',
        '  startTLS: true',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:12: source.profile: expected one of "openldap", "activedirectory", found "ad"',
      '9:13: source.startTLS: expected startTLS only with an ldap:// URL, found an ldaps:// URL (already TLS)',
    ],
  },
  {
    name: 'missing devin token',
    text: lines(SOURCE, ['devin:', '  baseUrl: https://api.devin.ai'], MAPPINGS),
    expected: ['4:1: devin: expected exactly one of token or tokenFile, found neither'],
  },
  {
    name: 'both token and tokenFile',
    text: lines(SOURCE, DEVIN, ['  tokenFile: token.txt'], MAPPINGS),
    expected: [
      '6:14: devin.tokenFile: expected exactly one of token or tokenFile, found both token and tokenFile',
    ],
  },
  {
    name: 'tokenFile names a missing file',
    text: lines(SOURCE, ['devin:', '  tokenFile: secrets/missing-token'], MAPPINGS),
    expected: ['5:14: devin.tokenFile: cannot read "{dir}/secrets/missing-token": no such file (ENOENT)'],
  },
  {
    name: 'empty token file',
    text: lines(SOURCE, ['devin:', '  tokenFile: empty.txt'], MAPPINGS),
    expected: ['5:14: devin.tokenFile: "{dir}/empty.txt" is empty'],
  },
  {
    name: 'token file with white space in the token',
    text: lines(SOURCE, ['devin:', '  tokenFile: spaced-token.txt'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: the token in "{dir}/spaced-token.txt" contains white space (only one trailing newline is trimmed)',
    ],
  },
  {
    name: 'bad baseUrl',
    text: lines(SOURCE, DEVIN, ['  baseUrl: api.devin.ai'], MAPPINGS),
    expected: [
      '6:12: devin.baseUrl: expected an http(s) URL such as https://api.devin.ai, found "api.devin.ai"',
    ],
  },
  {
    name: 'baseUrl carrying credentials',
    text: lines(SOURCE, DEVIN, ['  baseUrl: https://me:pw@api.devin.ai'], MAPPINGS),
    expected: ['6:12: devin.baseUrl: expected a URL without user:password@ (use token or tokenFile)'],
  },
  {
    name: 'bad apiPrefix',
    text: lines(SOURCE, DEVIN, ['  apiPrefix: /v2'], MAPPINGS),
    expected: ['6:14: devin.apiPrefix: expected one of "/v3", "/v3beta1", found "/v2"; did you mean "/v3"?'],
  },
  {
    name: 'wrong type: a string for a number',
    text: lines(SOURCE, DEVIN, ['  maxConcurrency: four'], MAPPINGS),
    expected: ['6:19: devin.maxConcurrency: expected a number, found "four"'],
  },
  {
    name: 'wrong type: a quoted number',
    text: lines(SOURCE, DEVIN, ['  timeoutMs: "5000"'], MAPPINGS),
    expected: [
      '6:14: devin.timeoutMs: expected a number, found "5000" (a quoted number is a string: remove the quotes)',
    ],
  },
  {
    name: 'empty mappings',
    text: lines(SOURCE, DEVIN, ['mappings: []']),
    expected: ['6:1: mappings: expected at least one mapping, found an empty list'],
  },
  {
    name: 'group selector with two keys',
    text: lines(SOURCE, DEVIN, ['mappings:', '  - group: { name: devin-platform, pattern: "devin-*" }']),
    expected: [
      '7:5: mappings[0].group: expected exactly one of name, dn, id or pattern, found name and pattern',
    ],
  },
  {
    name: 'group selector with an unknown key',
    text: lines(SOURCE, DEVIN, ['mappings:', '  - group: { nmae: devin-platform }']),
    expected: [
      '7:5: mappings[0].group: expected exactly one of name, dn, id or pattern, found none',
      '7:14: mappings[0].group.nmae: unknown key "nmae"; did you mean "name"?',
    ],
  },
  {
    name: 'bad idpGroupName placeholder',
    text: lines(SOURCE, DEVIN, [
      'mappings:',
      '  - group: { name: devin-platform }',
      '    idpGroupName: "{team}-{name}"',
    ]),
    expected: [
      '8:19: mappings[0].idpGroupName: expected only the placeholders {name}, {id} and {dn}, found {team} in "{team}-{name}"',
    ],
  },
  {
    name: 'orgs without enterpriseRole',
    text: lines(SOURCE, DEVIN, [
      'mappings:',
      '  - group: { name: devin-admins }',
      '    enterpriseRole: account_admin',
      '  - group: { name: devin-platform }',
      '    orgs: [ { org: Platform, role: org_admin } ]',
    ]),
    expected: [
      '9:5: mappings[1].enterpriseRole: expected enterpriseRole because orgs is not empty (Devin needs an enterprise role mapping before org role mappings), found none',
    ],
  },
  {
    name: 'provisionUsers without enterpriseRole',
    text: lines(SOURCE, DEVIN, ['mappings:', '  - group: { id: 3f1c }', '    provisionUsers: true']),
    expected: [
      '7:5: mappings[0].enterpriseRole: expected enterpriseRole because provisionUsers is true (invites carry an enterprise role), found none',
    ],
  },
  {
    name: 'an org granted twice in one mapping, and an org role missing',
    text: base('      - { org: Platform, role: org_member }', '      - { org: Data }'),
    expected: [
      '11:16: mappings[0].orgs[1].org: expected each organization once per mapping, found "Platform" again (first at orgs[0])',
      '12:9: mappings[0].orgs[2].role: expected a string, found nothing',
    ],
  },
  {
    name: 'unknown key inside a mapping, with a suggestion',
    text: base('    provisionUser: true'),
    expected: [
      '11:5: mappings[0].provisionUser: unknown key "provisionUser"; did you mean "provisionUsers"?',
    ],
  },
  {
    name: 'yes for a boolean (a string in YAML 1.2)',
    text: base('    provisionUsers: yes'),
    expected: [
      '11:21: mappings[0].provisionUsers: expected true or false, found "yes" (YAML 1.2 reads yes as a string: write true or false)',
    ],
  },
  {
    name: 'negative guardrail',
    text: base('guardrails:', '  maxUserRemovals: -1'),
    expected: ['12:20: guardrails.maxUserRemovals: expected a number >= 0, found -1'],
  },
  {
    name: 'percent over 100',
    text: base('guardrails: { maxSourceShrinkPercent: 150 }'),
    expected: ['11:39: guardrails.maxSourceShrinkPercent: expected a number <= 100, found 150'],
  },
  {
    name: 'a fractional removal count',
    text: base('guardrails: { maxGroupRemovals: 2.5 }'),
    expected: ['11:33: guardrails.maxGroupRemovals: expected an integer, found 2.5'],
  },
  {
    name: 'bad deprovision value',
    text: base('scope:', '  deprovision: remov'),
    expected: [
      '12:16: scope.deprovision: expected one of "remove", "report", found "remov"; did you mean "remove"?',
    ],
  },
  {
    name: 'bad adopt value',
    text: base('scope:', '  adopt: everything'),
    expected: ['12:10: scope.adopt: expected one of "none", "matching", "all", found "everything"'],
  },
  {
    name: 'emailDomains not a list',
    text: base('scope:', '  emailDomains: corp.example'),
    expected: [
      '12:17: scope.emailDomains: expected a list, found "corp.example" (write a list: [corp.example], or one "- item" per line)',
    ],
  },
  {
    name: 'emailDomains entry with an @',
    text: base('scope:', '  emailDomains: ["@corp.example"]'),
    expected: [
      '12:18: scope.emailDomains[0]: expected a domain such as corp.example (no @), found "@corp.example"',
    ],
  },
  {
    name: 'protectedUsers entry not an email',
    text: base('scope:', '  protectedUsers:', '    - breakglass@corp.example', '    - breakglass'),
    expected: ['14:7: scope.protectedUsers[1]: expected an email address, found "breakglass"'],
  },
  {
    name: 'bad schedule duration',
    text: base('schedule: { every: hourly }'),
    expected: [
      '11:20: schedule.every: expected a duration such as 30m, 1h, 1h30m or 1d (units d, h, m, s), found "hourly"',
    ],
  },
  {
    name: 'schedule under a minute',
    text: base('schedule:', '  every: 30s'),
    expected: ['12:10: schedule.every: expected at least 1m between runs, found "30s"'],
  },
  {
    name: 'bad mode',
    text: base('mode: automatic'),
    expected: ['11:7: mode: expected one of "review", "auto", found "automatic"'],
  },
  {
    name: 'state.file empty',
    text: base('state:', '  file: ""'),
    expected: ['12:9: state.file: expected a non-empty string, found ""'],
  },
  {
    name: 'unset ${VAR}',
    text: lines(SOURCE, ['devin:', '  token: ${IDSYNC_TEST_UNSET_TOKEN}'], MAPPINGS),
    expected: ['5:10: devin.token: environment variable IDSYNC_TEST_UNSET_TOKEN is not set'],
  },
  {
    name: 'unset ${VAR} in the middle of a value, and a malformed reference',
    text: base('redis:', '  url: redis://${REDIS_HOST}:6379', 'state:', '  file: ${1STATE}'),
    expected: [
      '12:16: redis.url: environment variable REDIS_HOST is not set',
      '14:9: state.file: invalid variable reference "${1STATE}": expected ${NAME} with letters, digits and _ (write $${ for a literal ${)',
    ],
  },
  {
    name: 'redis url with http://',
    text: base('redis: { url: "http://redis:6379" }'),
    expected: [
      '11:15: redis.url: expected a redis:// or rediss:// URL such as redis://redis:6379, found "http://redis:6379"',
    ],
  },
  {
    name: 'server: port out of range, and both adminToken and adminTokenFile',
    text: base(
      'server:',
      '  port: 70000',
      '  adminToken: s3cr3t-admin-0123456789',
      '  adminTokenFile: token.txt',
    ),
    expected: [
      '12:9: server.port: expected a number <= 65535, found 70000',
      '14:19: server.adminTokenFile: expected at most one of adminToken or adminTokenFile, found both adminToken and adminTokenFile',
    ],
  },
  {
    name: 'entra tenantId not a GUID',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: contoso',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '3:13: source.tenantId: expected a GUID such as 00000000-0000-0000-0000-000000000000, found "contoso"',
    ],
  },
  {
    name: 'entra: a certificate without its private key',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  certificateFile: token.txt',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '1:1: source.privateKeyFile: expected privateKeyFile together with certificateFile, found none',
    ],
  },
  {
    name: 'entra without a credential',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '1:1: source: expected exactly one credential: clientSecret, clientSecretFile, or certificateFile with privateKeyFile, found none',
    ],
  },
  {
    name: 'rolePrecedence listing a role twice',
    text: base('rolePrecedence: [org_admin, Contractor, org_admin]'),
    expected: [
      '11:41: rolePrecedence[2]: expected each role once, found "org_admin" again (first at rolePrecedence[0])',
    ],
  },
  {
    name: 'an empty file',
    text: '# nothing here yet\n',
    expected: ['1:1: the file is empty: expected a mapping with source, devin and mappings'],
  },
  {
    name: 'several problems at once, in file order',
    text: lines(
      ['source:', '  type: file'],
      ['devin:', '  token: cog_x', '  apiPrefix: v3'],
      ['mappings:', '  - group: { name: a }', '    orgs: [ { org: Data, role: org_member } ]'],
      ['scope: { adopt: some }'],
    ),
    expected: [
      '1:1: source.path: expected a string, found nothing',
      '5:14: devin.apiPrefix: expected one of "/v3", "/v3beta1", found "v3"; did you mean "/v3"?',
      '7:5: mappings[0].enterpriseRole: expected enterpriseRole because orgs is not empty (Devin needs an enterprise role mapping before org role mappings), found none',
      '9:17: scope.adopt: expected one of "none", "matching", "all", found "some"',
    ],
  },
];

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-badcfg-'));
  await writeFile(join(dir, 'dir.json'), JSON.stringify({ users: [], groups: [] }));
  await writeFile(join(dir, 'token.txt'), 'cog_from_file\n');
  await writeFile(join(dir, 'empty.txt'), '\n');
  await writeFile(join(dir, 'spaced-token.txt'), 'cog_from file\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const slug = (name: string): string => name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();

describe('bad configs', () => {
  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('$name', async (c) => {
    const file = join(dir, `${slug(c.name)}.yaml`);
    await writeFile(file, c.text);
    const env = c.env ?? {};

    const err = await loadConfig(file, { env }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).format();
    expect(problems).toEqual(c.expected.map((l) => `${file}:${l.replaceAll('{dir}', dir)}`));
    // Secrets never reach a message.
    for (const p of problems) expect(p).not.toMatch(/cog_secret_value|cog_from|s3cr3t/);

    const out: string[] = [];
    const errOut: string[] = [];
    const code = await runValidate(
      { config: file },
      { stdout: (t) => out.push(t), stderr: (t) => errOut.push(t), env },
    );
    expect(code).toBe(2);
    expect(errOut.join('')).toBe(`${problems.join('\n')}\n`);
    expect(out.join('')).toBe('');
  });
});

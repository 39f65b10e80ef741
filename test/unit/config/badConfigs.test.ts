// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// Bad configs: each must fail with one exact message per problem, at `file:line:column`, naming the
// key path, what was expected and what was found; and `validate` must exit 2 for each.
import { execFileSync } from 'node:child_process';
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
  /** The file's bytes, when they are not UTF-8 text (`text` then only documents them). */
  bytes?: () => Buffer;
  /** `line:column: path: message`, the file name is prefixed by the test. */
  expected: string[];
  env?: Record<string, string>;
}

const LATIN1_E = Buffer.from([0xe9]);
const utf16 = (text: string): Buffer => Buffer.from(text, 'utf16le');
const KNOWN_TOP =
  'source, devin, mappings, rolePrecedence, scope, state, guardrails, schedule, mode, redis, server, notify';

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
    name: 'ldap watch: an interval below 100 ms, a negative debounce, an unknown key',
    text: lines(
      [
        'source:',
        '  type: ldap',
        '  url: ldaps://dc1.corp.example:636',
        '  bindDN: cn=idsync,dc=corp,dc=example',
        '  bindPasswordFile: token.txt',
        '  profile: activedirectory',
        '  userBase: ou=people,dc=corp,dc=example',
        '  groupBase: ou=groups,dc=corp,dc=example',
        '  watch: { intervalMs: 10, debounceMs: -1, every: 5s }',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '9:24: source.watch.intervalMs: expected at least 100 (ms between two polls), found 10',
      '9:40: source.watch.debounceMs: expected a number >= 0, found -1',
      '9:44: source.watch.every: unknown key "every"; expected one of: enabled, intervalMs, debounceMs, fullReadEvery, push',
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
    name: 'entra: pageSize above what Graph returns, an unknown cloud, a too-short full read',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        '  pageSize: 1000',
        '  cloud: germany',
        '  fullReadEvery: 30s',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:13: source.pageSize: expected at most 999 (the largest page Graph returns), found 1000',
      '7:10: source.cloud: expected one of "public", "usgov", "china", found "germany"',
      '8:18: source.fullReadEvery: expected at least 1m between full reads, found "30s"',
    ],
  },
  {
    name: 'entra: hosts with a path or plain http',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        '  authorityHost: https://login.microsoftonline.com/contoso',
        '  graphBaseUrl: http://graph.microsoft.com',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:18: source.authorityHost: expected a URL without a path, query or fragment such as https://login.microsoftonline.com, found "https://login.microsoftonline.com/contoso"',
      '7:17: source.graphBaseUrl: expected an https:// URL such as https://graph.microsoft.com, found "http://graph.microsoft.com"',
    ],
  },
  {
    name: 'entra: an extra attribute that is not a Graph property name',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        "  extraUserAttributes: [department, 'cost center']",
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:37: source.extraUserAttributes[1]: expected a Microsoft Graph user property name such as mail, jobTitle or extension_<appId>_name, found "cost center"',
    ],
  },
  {
    name: "entra: notifications over plain http to another host, a lifetime past Graph's limit",
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        '  notifications:',
        '    publicUrl: http://idsync.corp.example',
        '    lifetimeMinutes: 50000',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '7:16: source.notifications.publicUrl: expected an https:// URL (http:// only for a loopback host: 127.0.0.0/8, ::1, localhost), found "http://idsync.corp.example"',
      "8:22: source.notifications.lifetimeMinutes: expected at most 41760 (Graph's limit for users and groups, just under 29 days), found 50000",
    ],
  },
  {
    name: 'entra: renewing no earlier than the lifetime',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        '  notifications: { publicUrl: https://idsync.corp.example, lifetimeMinutes: 60 }',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:3: source.notifications.renewBeforeMinutes: expected renewBeforeMinutes (default 1440) below lifetimeMinutes (default 4320), found 1440 with a lifetime of 60: a subscription would be renewed as soon as it is made',
    ],
  },
  {
    name: 'entra: a certificate chain without a certificate',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
        '  certificateChainFile: token.txt',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '6:25: source.certificateChainFile: expected certificateChainFile only with certificateFile and privateKeyFile (it is the x5c of certificate authentication)',
    ],
  },
  {
    name: 'entra: a mapping selecting by DN',
    text: lines(
      [
        'source:',
        '  type: entra',
        '  tenantId: 11111111-2222-3333-4444-555555555555',
        '  clientId: 11111111-2222-3333-4444-555555555555',
        '  clientSecretFile: token.txt',
      ],
      DEVIN,
      ['mappings:', '  - group: { dn: "cn=devin,ou=groups,dc=corp" }'],
    ),
    expected: [
      '9:18: mappings[0].group.dn: expected name, id or pattern with an entra source (Entra groups have no DN)',
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
  // ---- values that cannot work (issue 9, item 6) ----
  {
    name: 'devin timeoutMs above 2^31-1 (a Node timer overflows and fires at once)',
    text: lines(SOURCE, DEVIN, ['  timeoutMs: 3000000000'], MAPPINGS),
    expected: [
      '6:14: devin.timeoutMs: expected a number <= 2147483647 (about 24.8 days: a longer timer overflows and fires at once), found 3000000000',
    ],
  },
  {
    name: 'ldap connectTimeoutMs and timeoutMs above 2^31-1',
    text: lines(
      [
        'source:',
        '  type: ldap',
        '  url: ldaps://dc1.corp.example:636',
        '  bindDN: cn=idsync,dc=corp,dc=example',
        '  bindPasswordFile: token.txt',
        '  profile: openldap',
        '  userBase: ou=people,dc=corp,dc=example',
        '  groupBase: ou=groups,dc=corp,dc=example',
        '  connectTimeoutMs: 2147483648',
        '  timeoutMs: 1e12',
      ],
      DEVIN,
      MAPPINGS,
    ),
    expected: [
      '9:21: source.connectTimeoutMs: expected a number <= 2147483647 (about 24.8 days: a longer timer overflows and fires at once), found 2147483648',
      '10:14: source.timeoutMs: expected a number <= 2147483647 (about 24.8 days: a longer timer overflows and fires at once), found 1000000000000',
    ],
  },
  {
    name: 'maxRequestsPerSecond between 0 and 1 (validate would wait forever)',
    text: lines(SOURCE, DEVIN, ['  maxRequestsPerSecond: 0.5'], MAPPINGS),
    expected: ['6:25: devin.maxRequestsPerSecond: expected 0 (no limit) or a number >= 1, found 0.5'],
  },
  {
    name: 'an inline token with a non-ASCII character (HTTP headers refuse it)',
    text: lines(SOURCE, ['devin:', '  token: cog_secret_valué'], MAPPINGS),
    expected: [
      '5:10: devin.token: expected a non-empty token of printable ASCII without white space, found [redacted]',
    ],
  },
  {
    name: 'an inline token with a control character',
    text: lines(SOURCE, ['devin:', '  token: "cog_secret_value\\u0007"'], MAPPINGS),
    expected: [
      '5:10: devin.token: expected a non-empty token of printable ASCII without white space, found [redacted]',
    ],
  },
  {
    name: 'a token file with a control character',
    text: lines(SOURCE, ['devin:', '  tokenFile: bell-token.txt'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: the token in "{dir}/bell-token.txt" has a non-ASCII or control character at character 9: expected printable ASCII characters only (an HTTP header cannot carry others)',
    ],
  },
  {
    name: 'a token file with a non-ASCII character',
    text: lines(SOURCE, ['devin:', '  tokenFile: accent-token.txt'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: the token in "{dir}/accent-token.txt" has a non-ASCII or control character at character 13: expected printable ASCII characters only (an HTTP header cannot carry others)',
    ],
  },
  {
    name: 'a token file that is a FIFO (the read would hang)',
    text: lines(SOURCE, ['devin:', '  tokenFile: token.fifo'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: cannot read "{dir}/token.fifo": it is a FIFO (named pipe), not a regular file',
    ],
  },
  {
    name: 'a token file that is /dev/zero (the read would never end)',
    text: lines(SOURCE, ['devin:', '  tokenFile: /dev/zero'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: cannot read "/dev/zero": it is a character device, not a regular file',
    ],
  },
  {
    name: 'a token file over 64 KiB',
    text: lines(SOURCE, ['devin:', '  tokenFile: big-token.txt'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: cannot read "{dir}/big-token.txt": it is too large (70000 bytes; at most 64 KiB) for a secret',
    ],
  },
  {
    name: 'a token file that is not UTF-8',
    text: lines(SOURCE, ['devin:', '  tokenFile: latin1-token.txt'], MAPPINGS),
    expected: [
      '5:14: devin.tokenFile: cannot read "{dir}/latin1-token.txt": not valid UTF-8 at byte offset 8: save the file as UTF-8',
    ],
  },
  {
    name: 'a short inline adminToken and a webhookSecret with white space',
    text: base('server:', '  adminToken: s3cr3t', '  webhookSecret: "s3cr3t webhook secret"'),
    expected: [
      '12:15: server.adminToken: expected a secret with at least 16 characters, found 6 characters (the value is not shown)',
      '13:18: server.webhookSecret: expected a secret with no white space, found white space at character 7 (the value is not shown)',
    ],
  },
  {
    name: 'an adminToken with a non-ASCII character',
    text: base('server:', '  adminToken: s3cr3t-admin-tokén-value'),
    expected: [
      '12:15: server.adminToken: expected a secret with printable ASCII characters only (an HTTP header cannot carry others), found a non-ASCII or control character at character 17 (the value is not shown)',
    ],
  },
  {
    name: 'a short adminTokenFile and a webhookSecretFile with white space',
    text: base('server:', '  adminTokenFile: short-admin.txt', '  webhookSecretFile: spaced-token.txt'),
    expected: [
      '12:19: server.adminTokenFile: the secret in "{dir}/short-admin.txt" has 6 characters: expected at least 16 characters',
      '13:22: server.webhookSecretFile: the secret in "{dir}/spaced-token.txt" contains white space (only one trailing newline is trimmed)',
    ],
  },
  {
    name: 'schedule over a year',
    text: base('schedule:', '  every: 400d'),
    expected: ['12:10: schedule.every: expected at most 365d between runs, found "400d"'],
  },
  {
    name: 'schedule with an absurd number of days',
    text: base('schedule: { every: 99999999999999999999d }'),
    expected: ['11:20: schedule.every: expected at most 365d between runs, found "99999999999999999999d"'],
  },
  {
    name: 'a ${VAR} value in a non-secret key is not shown',
    text: lines(SOURCE, DEVIN, ['  baseUrl: ${DEVIN_URL}'], MAPPINGS),
    env: { DEVIN_URL: 'cog_secret_value_in_the_wrong_key' },
    expected: [
      '6:12: devin.baseUrl: expected an http(s) URL such as https://api.devin.ai, found a value from ${DEVIN_URL} (not shown)',
    ],
  },
  {
    name: 'a ${VAR} value in a complete message is not shown either',
    text: base('rolePrecedence: [org_admin, "${ROLE}"]', 'mode: "${MODE}"'),
    env: { ROLE: 'org_admin', MODE: 'cog_secret_value' },
    expected: [
      '11:29: rolePrecedence[1]: expected each role once, found a value from ${ROLE} (not shown) again (first at rolePrecedence[0])',
      '12:7: mode: expected one of "review", "auto", found a value from ${MODE} (not shown)',
    ],
  },
  {
    name: 'two YAML documents',
    text: base('---', 'mode: auto'),
    expected: [
      '11:1: a second YAML document starts here (---): expected one document per file; remove this line, or move what follows to another file',
    ],
  },
  {
    name: 'UTF-16 with a byte order mark',
    text: '(the valid base, in UTF-16LE with a BOM)',
    bytes: () => utf16(`\uFEFF${base()}`),
    expected: ['1:1: the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8'],
  },
  {
    name: 'UTF-16 without a byte order mark (NUL bytes)',
    text: '(the valid base, in UTF-16LE)',
    bytes: () => utf16(base()),
    expected: ['1:2: NUL byte at byte offset 1: the file looks like UTF-16 or binary data; save it as UTF-8'],
  },
  {
    name: 'invalid UTF-8 (a Latin-1 é in a group name)',
    text: '(the valid base, with devin-platform spelled devin-plat\\xe9form)',
    bytes: () => {
      const [before, after] = base().split('devin-platform') as [string, string];
      return Buffer.concat([Buffer.from(`${before}devin-plat`), LATIN1_E, Buffer.from(`form${after}`)]);
    },
    expected: ['7:30: not valid UTF-8 at byte offset 110: save the file as UTF-8'],
  },
  {
    name: 'a config file over 1 MiB',
    text: `${base()}${'# padding\n'.repeat(110_000)}`,
    expected: [' cannot read the config file: it is too large (1100205 bytes; at most 1 MiB)'],
  },
  {
    name: 'thousands of unknown keys: the first 50, then a count',
    text: base(...Array.from({ length: 20_000 }, (_, i) => `unknown${i}: x`)),
    expected: [
      ...Array.from(
        { length: 50 },
        (_, i) => `${11 + i}:1: unknown${i}: unknown key "unknown${i}"; expected one of: ${KNOWN_TOP}`,
      ),
      ' ...and 19950 more problems',
    ],
  },
  {
    name: 'a very long unknown key: no suggestion, and not quoted whole',
    text: base(`${'k'.repeat(1000)}: x`),
    expected: [
      `11:1: ${'k'.repeat(197)}...: unknown key "${'k'.repeat(77)}..."; expected one of: ${KNOWN_TOP}`,
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
  await writeFile(join(dir, 'bell-token.txt'), 'cog_from\u0007file\n');
  await writeFile(join(dir, 'accent-token.txt'), 'cog_from_fil\u00e9\n');
  await writeFile(join(dir, 'latin1-token.txt'), Buffer.concat([Buffer.from('cog_from'), LATIN1_E]));
  await writeFile(join(dir, 'big-token.txt'), `cog_from${'x'.repeat(70_000 - 8)}`);
  await writeFile(join(dir, 'short-admin.txt'), 's3cr3t\n');
  execFileSync('mkfifo', [join(dir, 'token.fifo')]);
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
    await writeFile(file, c.bytes ? c.bytes() : c.text);
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
    // No message quotes a megabyte: every line stays short.
    for (const p of problems) expect(p.length - file.length).toBeLessThan(500);

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

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// Configs that load: the committed example, `${VAR}`, `*File` secrets, relative paths, and the
// shapes handed to the rest of idsync.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaultConfigPath,
  type LoadedConfig,
  loadConfig,
  loadConfigText,
  toPolicy,
} from '../../../src/config/index.js';
import type { DevinClientOptions } from '../../../src/devin/client.js';
import type { SyncPolicy } from '../../../src/reconcile/policy.js';

const EXAMPLE = resolve('config/example-file.yaml');

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-cfg-'));
  await mkdir(join(dir, 'etc', 'secrets'), { recursive: true });
  await writeFile(join(dir, 'etc', 'secrets', 'devin-token'), 'cog_from_file\n');
  await writeFile(join(dir, 'etc', 'secrets', 'ldap-password'), 'pass with spaces\n\n');
  await writeFile(
    join(dir, 'etc', 'secrets', 'ca.pem'),
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  );
  await writeFile(join(dir, 'etc', 'secrets', 'webhook'), 'whsec_1234567890abcdef\r\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(
  text: string,
  env: Record<string, string> = {},
  name = 'etc/idsync.yaml',
): Promise<LoadedConfig> {
  return loadConfigText(text, join(dir, name), { env });
}

async function problemsOf(text: string, env: Record<string, string> = {}): Promise<string[]> {
  const err = await load(text, env).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.problems.map((p) => `${p.path}: ${p.message}`);
}

const MINIMAL = `
source: { type: file, path: dir.json }
devin: { token: cog_inline }
mappings:
  - group: { name: devin-admins }
`;

describe('the committed example', () => {
  it('loads, with defaults and paths resolved against config/', async () => {
    const cfg = await loadConfig(EXAMPLE, { env: { IDSYNC_DEVIN_TOKEN: 'cog_example' } });
    expect(cfg.file).toBe(EXAMPLE);
    expect(cfg.source).toEqual({ type: 'file', path: resolve('config/demo/directory.json') });
    expect(cfg.statePath).toBe(resolve('config/.idsync/state.json'));
    expect(cfg.devin).toEqual({
      baseUrl: 'https://api.devin.ai',
      apiPrefix: '/v3',
      token: 'cog_example',
      maxRequestsPerSecond: 10,
      adaptiveRate: true,
      maxConcurrency: 4,
      timeoutMs: 30_000,
    });
    expect(cfg.schedule).toEqual({ every: '1h', everyMs: 3_600_000 });
    expect(cfg.mode).toBe('review');
    expect(cfg.policy.mappings).toHaveLength(5);
    expect(cfg.policy.mappings[2]).toEqual({
      group: { pattern: 'devin-eng-*' },
      idpGroupName: '{name}',
      enterpriseRole: 'Member',
      orgs: [{ org: 'org-platform', role: 'Org Member' }],
      provisionUsers: false,
    });
    expect(cfg.policy.scope).toEqual({
      emailDomains: ['corp.example'],
      protectedUsers: ['breakglass@corp.example'],
      groupNamePattern: 'devin-*',
      deprovision: 'report',
      adopt: 'matching',
    });
  });

  it('fails without its token variable, naming it', async () => {
    await expect(loadConfig(EXAMPLE, { env: {} })).rejects.toThrow(
      /example-file\.yaml:\d+:\d+: devin\.token: environment variable IDSYNC_DEVIN_TOKEN is not set/,
    );
  });
});

describe('defaults', () => {
  it('fills every optional section', async () => {
    const cfg = await load(MINIMAL);
    expect(cfg.raw.devin.apiPrefix).toBe('/v3');
    expect(cfg.policy).toEqual<SyncPolicy>({
      mappings: [
        {
          group: { name: 'devin-admins' },
          idpGroupName: '{name}',
          enterpriseRole: undefined,
          orgs: [],
          provisionUsers: false,
        },
      ],
      scope: {
        emailDomains: [],
        protectedUsers: [],
        groupNamePattern: '*',
        deprovision: 'report',
        adopt: 'matching',
      },
      rolePrecedence: [],
      guardrails: {
        maxUserRemovals: 25,
        maxUserRemovalPercent: 10,
        maxGroupRemovals: 5,
        maxSourceShrinkPercent: 20,
        maxGroupShrinkPercent: 50,
      },
    });
    expect(cfg.statePath).toBe(join(dir, 'etc', '.idsync', 'state.json'));
    expect(cfg.schedule).toBeUndefined();
    expect(cfg.redis).toBeUndefined();
    expect(cfg.server).toBeUndefined();
  });

  it('devin settings are DevinClientOptions', async () => {
    const cfg = await load(MINIMAL);
    const options: DevinClientOptions = cfg.devin;
    expect(options.token).toBe('cog_inline');
  });
});

describe('${VAR} substitution', () => {
  it('replaces variables anywhere in a string value and keeps $${ literal', async () => {
    const cfg = await load(
      `${MINIMAL}
scope:
  groupNamePattern: "$\${PREFIX}-\${TEAM}-*"
redis: { url: "redis://\${REDIS_HOST}:6379/0" }
`,
      { TEAM: 'devin', REDIS_HOST: 'cache.internal' },
    );
    expect(cfg.policy.scope.groupNamePattern).toBe('${PREFIX}-devin-*');
    expect(cfg.redis).toEqual({ url: 'redis://cache.internal:6379/0', keepRuns: 50, tls: false });
  });

  it('types a plain ${VAR} as YAML would (number, boolean); a quoted one stays a string', async () => {
    const cfg = await load(
      `${MINIMAL}
    provisionUsers: \${PROVISION}
    enterpriseRole: \${ROLE}
server:
  port: \${PORT}
  host: "\${HOST}"
`,
      { PORT: '9090', PROVISION: 'true', ROLE: '123', HOST: '127.0.0.1' },
    );
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(cfg.policy.mappings[0]?.provisionUsers).toBe(true);
    // The schema decides: a role id that looks like a number stays text.
    expect(cfg.policy.mappings[0]?.enterpriseRole).toBe('123');
    expect(await problemsOf(`${MINIMAL}\nserver: { port: "\${PORT}" }\n`, { PORT: '9090' })).toEqual([
      // The value is not shown: it came from the environment, and may be a misplaced secret.
      'server.port: expected a number, found a value from ${PORT} (not shown) (a quoted number is a string: remove the quotes)',
    ]);
  });

  it('substitutes secrets and never in keys or comments', async () => {
    const cfg = await load(
      `# \${NOT_A_VARIABLE} in a comment is fine
source: { type: file, path: dir.json }
devin: { token: "\${DEVIN_TOKEN}" }
mappings:
  - group: { name: devin-admins }
`,
      { DEVIN_TOKEN: 'cog_env' },
    );
    expect(cfg.devin.token).toBe('cog_env');
  });

  it('reports every unset variable, each at its own position', async () => {
    const err = await load(
      `source: { type: file, path: "\${A}/\${B}.json" }
devin: { token: "\${C}" }
mappings:
  - group: { name: devin-admins }
`,
      { B: 'x' },
    ).catch((e: unknown) => e);
    expect((err as ConfigError).format()).toEqual([
      `${join(dir, 'etc/idsync.yaml')}:1:30: source.path: environment variable A is not set`,
      `${join(dir, 'etc/idsync.yaml')}:2:18: devin.token: environment variable C is not set`,
    ]);
  });
});

describe('*File secrets and relative paths', () => {
  it('reads *File keys relative to the config file, trimming one trailing newline', async () => {
    const cfg = await load(`
source:
  type: ldap
  url: ldaps://dc1.corp.example:636
  bindDN: cn=idsync,dc=corp,dc=example
  bindPasswordFile: secrets/ldap-password
  profile: activedirectory
  userBase: ou=people,dc=corp,dc=example
  groupBase: ou=groups,dc=corp,dc=example
  caFile: ./secrets/ca.pem
  pageSize: 500
devin:
  tokenFile: secrets/devin-token
mappings:
  - group: { dn: "cn=devin-admins,ou=groups,dc=corp,dc=example" }
    enterpriseRole: account_admin
state: { file: /var/lib/idsync/state.json }
server:
  webhookSecretFile: ${join(dir, 'etc', 'secrets', 'webhook')}
  adminToken: admin-inline-0123456789
`);
    expect(cfg.devin.token).toBe('cog_from_file');
    expect(cfg.source).toEqual({
      type: 'ldap',
      url: 'ldaps://dc1.corp.example:636',
      bindDN: 'cn=idsync,dc=corp,dc=example',
      bindPassword: 'pass with spaces\n',
      profile: 'activedirectory',
      userBase: 'ou=people,dc=corp,dc=example',
      groupBase: 'ou=groups,dc=corp,dc=example',
      caFile: join(dir, 'etc', 'secrets', 'ca.pem'),
      ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      insecureSkipVerify: false,
      pageSize: 500,
    });
    expect(cfg.statePath).toBe('/var/lib/idsync/state.json');
    expect(cfg.server).toEqual({
      host: '0.0.0.0',
      port: 8080,
      webhookSecret: 'whsec_1234567890abcdef',
      adminToken: 'admin-inline-0123456789',
    });
    expect(cfg.policy.mappings[0]?.group).toEqual({ dn: 'cn=devin-admins,ou=groups,dc=corp,dc=example' });
  });

  it('resolves against the config directory, not the working directory', async () => {
    const cfg = await load(
      `source: { type: file, path: ../data/directory.json }
devin: { tokenFile: ../secrets/devin-token }
state: { file: state/ledger.json }
mappings:
  - group: { pattern: "devin-*" }
`,
      {},
      'etc/nested/idsync.yaml',
    );
    expect(process.cwd()).not.toBe(join(dir, 'etc', 'nested'));
    expect(cfg.dir).toBe(join(dir, 'etc', 'nested'));
    expect(cfg.source).toEqual({ type: 'file', path: join(dir, 'etc', 'data', 'directory.json') });
    expect(cfg.statePath).toBe(join(dir, 'etc', 'nested', 'state', 'ledger.json'));
    expect(cfg.devin.token).toBe('cog_from_file');
  });

  it('entra: secret from the environment, or a certificate and key from files', async () => {
    const entra = (credential: string) => `
source:
  type: entra
  tenantId: 11111111-2222-3333-4444-555555555555
  clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
${credential}
devin: { token: cog_x }
mappings: [ { group: { id: 0f7e1c2a } } ]
`;
    const withSecret = await load(entra('  clientSecret: ${ENTRA_SECRET}'), { ENTRA_SECRET: 'entra~secret' });
    expect(withSecret.source).toEqual({
      type: 'entra',
      tenantId: '11111111-2222-3333-4444-555555555555',
      clientId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
      credential: { kind: 'secret', clientSecret: 'entra~secret' },
      cloud: 'public',
      authorityHost: 'https://login.microsoftonline.com',
      graphBaseUrl: 'https://graph.microsoft.com',
      emailAttribute: 'mail',
      emailFallbackAttribute: 'userPrincipalName',
      pageSize: 999,
      timeoutMs: 30_000,
      retryBudgetMs: 120_000,
      fullReadEvery: 86_400,
    });
    const withCert = await load(
      entra('  certificateFile: secrets/ca.pem\n  privateKeyFile: secrets/ldap-password'),
    );
    expect(withCert.source.type === 'entra' && withCert.source.credential).toEqual({
      kind: 'certificate',
      certificateFile: join(dir, 'etc', 'secrets', 'ca.pem'),
      certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      privateKeyFile: join(dir, 'etc', 'secrets', 'ldap-password'),
      privateKey: 'pass with spaces\n',
    });
  });

  it('entra: the cloud picks the hosts, explicit hosts win, and every tuning key is carried', async () => {
    const entra = (extra: string) => `
source:
  type: entra
  tenantId: 11111111-2222-3333-4444-555555555555
  clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
  clientSecret: s3cret
${extra}
devin: { token: cog_x }
mappings: [ { group: { name: a } } ]
`;
    const hosts = async (extra: string) => {
      const src = (await load(entra(extra))).source;
      if (src.type !== 'entra') throw new Error('expected entra');
      return [src.cloud, src.authorityHost, src.graphBaseUrl];
    };
    expect(await hosts('  cloud: usgov')).toEqual([
      'usgov',
      'https://login.microsoftonline.us',
      'https://graph.microsoft.us',
    ]);
    expect(await hosts('  cloud: china')).toEqual([
      'china',
      'https://login.chinacloudapi.cn',
      'https://microsoftgraph.chinacloudapi.cn',
    ]);
    expect(
      await hosts(
        '  cloud: china\n  authorityHost: https://127.0.0.1:8443/\n  graphBaseUrl: https://localhost:9443',
      ),
    ).toEqual(['china', 'https://127.0.0.1:8443', 'https://localhost:9443']);

    const tuned = await load(
      entra(`  caFile: secrets/ca.pem
  emailAttribute: otherMails
  emailFallbackAttribute: mailNickname
  extraUserAttributes: [department, jobTitle, extension_0123abc_costCenter]
  pageSize: 50
  timeoutMs: 5000
  retryBudgetMs: 9000
  fullReadEvery: 12h
  notifications: { publicUrl: https://idsync.corp.example, lifetimeMinutes: 600, renewBeforeMinutes: 60 }`),
    );
    expect(tuned.source).toMatchObject({
      caFile: join(dir, 'etc', 'secrets', 'ca.pem'),
      ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      emailAttribute: 'otherMails',
      emailFallbackAttribute: 'mailNickname',
      extraUserAttributes: ['department', 'jobTitle', 'extension_0123abc_costCenter'],
      pageSize: 50,
      timeoutMs: 5000,
      retryBudgetMs: 9000,
      fullReadEvery: 43_200,
      notifications: {
        publicUrl: 'https://idsync.corp.example',
        lifetimeMinutes: 600,
        renewBeforeMinutes: 60,
      },
    });
    const defaults = await load(entra('  notifications: { publicUrl: "http://127.0.0.1:8080" }'));
    expect(defaults.source.type === 'entra' && defaults.source.notifications).toEqual({
      publicUrl: 'http://127.0.0.1:8080',
      lifetimeMinutes: 4320,
      renewBeforeMinutes: 1440,
    });
  });

  it('entra: a certificate chain file is read next to the certificate', async () => {
    const cfg = await load(`
source:
  type: entra
  tenantId: 11111111-2222-3333-4444-555555555555
  clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
  certificateFile: secrets/ca.pem
  privateKeyFile: secrets/ldap-password
  certificateChainFile: secrets/ca.pem
devin: { token: cog_x }
mappings: [ { group: { name: a } } ]
`);
    expect(cfg.source.type === 'entra' && cfg.source.credential).toMatchObject({
      kind: 'certificate',
      certificateChainFile: join(dir, 'etc', 'secrets', 'ca.pem'),
      certificateChain: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    });
  });
});

describe('secrets stay out of messages', () => {
  const secretsIn = (problems: string[]) => problems.join('\n');

  it('a wrong-typed secret value is not echoed', async () => {
    const problems = await problemsOf(`
source:
  type: ldap
  url: ldaps://dc1:636
  bindDN: cn=x
  bindPassword: [hunter2-in-a-list]
  profile: openldap
  userBase: ou=u
  groupBase: ou=g
devin: { token: 424242424242 }
server: { adminToken: { nested: admin-secret-value }, webhookSecret: "" }
mappings: [ { group: { name: a } } ]
`);
    expect(problems).toEqual([
      'source.bindPassword: expected a string, found [redacted]',
      'devin.token: expected a string, found [redacted]',
      'server.adminToken: expected a string, found [redacted]',
      'server.webhookSecret: expected a non-empty string, found [redacted]',
    ]);
    expect(secretsIn(problems)).not.toMatch(/hunter2|424242|admin-secret-value/);
  });

  it('a secret written where a section belongs is not echoed', async () => {
    const problems = await problemsOf(
      `${MINIMAL.replace('devin: { token: cog_inline }', 'devin: cog_misplaced_secret')}`,
    );
    expect(problems).toEqual(['devin: expected a mapping, found a string']);
  });

  it('a token with white space is not echoed', async () => {
    const problems = await problemsOf(`${MINIMAL.replace('cog_inline', '"cog_leaked value"')}`);
    expect(problems).toEqual([
      'devin.token: expected a non-empty token of printable ASCII without white space, found [redacted]',
    ]);
  });

  it('a YAML syntax error inside a secret does not quote it', async () => {
    const err = await load(`source: { type: file, path: dir.json }
devin:
  token: "cog_abc\\qdef"
mappings: [ { group: { name: a } } ]
`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).not.toMatch(/cog_abc|qdef/);
    expect((err as ConfigError).problems[0]).toMatchObject({
      line: 3,
      message: 'YAML syntax error (BAD_DQ_ESCAPE)',
    });
  });
});

describe('serialising a loaded config', () => {
  it('JSON (and so pino) never carries a secret', async () => {
    const cfg = await load(
      `
source:
  type: entra
  tenantId: 11111111-2222-3333-4444-555555555555
  clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
  certificateFile: secrets/ca.pem
  privateKeyFile: secrets/ldap-password
devin: { token: cog_serialised_secret }
server: { adminToken: admin_serialised_secret, webhookSecretFile: secrets/webhook }
mappings: [ { group: { name: a } } ]
`,
    );
    expect(cfg.devin.token).toBe('cog_serialised_secret');
    const json = JSON.stringify(cfg);
    expect(json).not.toMatch(
      /cog_serialised_secret|admin_serialised_secret|whsec_1234567890abcdef|pass with spaces/,
    );
    expect(JSON.parse(json)).toMatchObject({
      devin: { token: '[REDACTED]' },
      raw: { devin: { token: '[REDACTED]' } },
      server: { adminToken: '[REDACTED]', webhookSecret: '[REDACTED]' },
      source: {
        credential: {
          privateKey: '[REDACTED]',
          privateKeyFile: join(dir, 'etc', 'secrets', 'ldap-password'),
        },
      },
    });
  });
});

describe('YAML features', () => {
  it('merge keys share settings between mappings', async () => {
    const cfg = await load(`
source: { type: file, path: dir.json }
devin: { token: cog_x }
mappings:
  - &platform
    group: { name: devin-platform }
    enterpriseRole: account_member
    orgs: [ { org: Platform, role: org_member } ]
  - <<: *platform
    group: { name: devin-platform-admins }
    orgs: [ { org: Platform, role: org_admin } ]
`);
    expect(cfg.policy.mappings[1]).toEqual({
      group: { name: 'devin-platform-admins' },
      idpGroupName: '{name}',
      enterpriseRole: 'account_member',
      orgs: [{ org: 'Platform', role: 'org_admin' }],
      provisionUsers: false,
    });
  });

  it('locate() points at a key path for problems found after loading', async () => {
    const cfg = await load(`source: { type: file, path: dir.json }
devin: { token: cog_x }
mappings:
  - group: { name: a }
    enterpriseRole: account_member
    orgs:
      - { org: Platfrom, role: org_admin }
`);
    expect(cfg.locate(['mappings', 0, 'orgs', 0, 'org'])).toEqual({ line: 7, column: 16 });
    expect(cfg.locate(['mappings', 0, 'enterpriseRole'])).toEqual({ line: 5, column: 21 });
  });
});

describe('toPolicy', () => {
  it('normalises emails and domains for case-insensitive comparison', async () => {
    const cfg = await load(`${MINIMAL}
scope:
  emailDomains: [Corp.Example]
  protectedUsers: [BreakGlass@Corp.Example]
rolePrecedence: [Contractor, org_admin]
`);
    const policy: SyncPolicy = toPolicy(cfg.raw);
    expect(policy.scope.emailDomains).toEqual(['corp.example']);
    expect(policy.scope.protectedUsers).toEqual(['breakglass@corp.example']);
    expect(policy.rolePrecedence).toEqual(['Contractor', 'org_admin']);
    expect(policy).toEqual(cfg.policy);
  });
});

describe('the config file itself', () => {
  it('a missing file is a ConfigError', async () => {
    const file = join(dir, 'nope.yaml');
    const err = await loadConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).format()).toEqual([
      `${file}: cannot read the config file: no such file (ENOENT)`,
    ]);
  });

  it('defaults to $IDSYNC_CONFIG, then idsync.yaml', () => {
    expect(defaultConfigPath({ IDSYNC_CONFIG: '/etc/idsync/idsync.yaml' })).toBe('/etc/idsync/idsync.yaml');
    expect(defaultConfigPath({})).toBe('idsync.yaml');
  });
});

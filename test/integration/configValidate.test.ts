// `idsync validate` against the Devin simulator on loopback: the token, the read permissions, and
// every role and org the config names.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidate, type ValidateReport } from '../../src/cli/validateCommand.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';

const TOKEN = 'cog_validate_test_token_7c1d';

let sim: RunningSimulator;
let dir: string;
let orgNames: string[];
let devinHas: string;

beforeAll(async () => {
  sim = await startSimulator({ seed: generateSeed({ users: 5, groups: 2, orgs: 2, token: TOKEN }) });
  const organizations = sim.dump().organizations;
  orgNames = organizations.map((o) => o.name);
  devinHas = [...organizations]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((o) => `${o.name} (${o.org_id})`)
    .join(', ');
  dir = await mkdtemp(join(tmpdir(), 'idsync-validate-'));
  await writeFile(
    join(dir, 'directory.json'),
    JSON.stringify({
      users: [
        { id: 'u1', email: 'ada@corp.example', name: 'Ada' },
        { id: 'u2', email: 'alan@corp.example', name: 'Alan' },
      ],
      groups: [{ id: 'g1', name: 'devin-platform', members: ['u1', 'u2'] }],
    }),
  );
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
});

afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function validate(name: string, yaml: string, json = false): Promise<Run> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  let stdout = '';
  let stderr = '';
  const code = await runValidate(
    { config: file, json },
    {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
      env: {},
    },
  );
  return { code, stdout, stderr };
}

const config = (o: { source?: string; token?: string; mappings: string; extra?: string }): string => `
source:
${o.source ?? '  type: file\n  path: directory.json'}
devin:
  baseUrl: ${sim.url}
  ${o.token ?? 'tokenFile: token'}
  maxRequestsPerSecond: 0
mappings:
${o.mappings}
${o.extra ?? ''}
`;

describe('validate against the simulator', () => {
  it('passes when the token works and every role and org exists', async () => {
    const run = await validate(
      'good',
      config({
        mappings: `  - group: { name: devin-platform }
    enterpriseRole: Member
    orgs:
      - { org: ${JSON.stringify(orgNames[0]?.toLowerCase())}, role: org_admin }
      - { org: ${JSON.stringify(orgNames[1])}, role: Org Member }`,
        extra: 'rolePrecedence: [org_admin, Contractor]',
      }),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      `✓ config: ${join(dir, 'good.yaml')}: 1 mapping, file source`,
      `✓ source: file ${join(dir, 'directory.json')}: 2 users, 1 group`,
      `✓ devin-token: ${sim.url}/v3 accepts the token (service user "${sim.dump().tokens[0]?.service_user_name}")`,
      expect.stringMatching(
        /^✓ devin-access: can read enterprise users and the IdP group registry \(2 groups registered\)$/,
      ),
      '✓ devin-references: every role and organization the config names exists (4 roles, 2 organizations)',
    ]);
  });

  it('fails (exit 1) naming an unknown org and role, listing what Devin has', async () => {
    const file = join(dir, 'unknown.yaml');
    const run = await validate(
      'unknown',
      config({
        mappings: `  - group: { name: devin-platform }
    enterpriseRole: account_member
    orgs:
      - { org: Platfrom, role: org_lead }`,
      }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('✗ devin-references: 2 role or organization names not found in Devin\n');
    expect(run.stdout).toContain(
      `    ${file}:13:16: mappings[0].orgs[0].org: no organization "Platfrom"; Devin has: ${devinHas}\n`,
    );
    expect(run.stdout).toContain(
      `    ${file}:13:32: mappings[0].orgs[0].role: no organization role "org_lead"; Devin has: Contractor (`,
    );
    expect(run.stdout).toMatch(/Org Admin \(org_admin\), Org Member \(org_member\)\n/);
  });

  it('an enterprise role used as an org role is reported as such', async () => {
    const run = await validate(
      'kind',
      config({
        mappings: `  - group: { name: devin-platform }
    enterpriseRole: org_admin`,
      }),
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'mappings[0].enterpriseRole: "org_admin" is an organization role, expected an enterprise role; Devin\'s enterprise roles: Admin (account_admin), Member (account_member)',
    );
  });

  it('a rejected token fails the token check and skips the rest', async () => {
    const run = await validate(
      'badtoken',
      config({ token: 'token: cog_not_a_real_token', mappings: '  - group: { name: devin-platform }' }),
      true,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain('cog_not_a_real_token');
    const report = JSON.parse(run.stdout) as ValidateReport;
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['config', 'ok'],
      ['source', 'ok'],
      ['devin-token', 'failed'],
      ['devin-access', 'skipped'],
      ['devin-references', 'skipped'],
    ]);
    expect(report.checks[2]?.message).toMatch(/rejected the token: GET \/v3\/self failed: 401/);
  });

  it('an LDAP server that cannot be reached fails, and so does a missing directory file', async () => {
    const ldap = await validate(
      'ldap',
      config({
        source: `  type: ldap
  url: ldaps://127.0.0.1:1
  bindDN: cn=idsync,dc=corp,dc=example
  bindPasswordFile: token
  profile: openldap
  userBase: ou=people,dc=corp,dc=example
  groupBase: ou=groups,dc=corp,dc=example`,
        mappings: '  - group: { name: devin-platform }',
      }),
    );
    // Once it said "not checked: connector not available yet" and exited 0 whatever the password.
    expect(ldap.code).toBe(1);
    expect(ldap.stdout).toMatch(/✗ source\.url: .*127\.0\.0\.1:1/);

    const missing = await validate(
      'missingdir',
      config({
        source: '  type: file\n  path: nowhere.json',
        mappings: '  - group: { name: devin-platform }',
      }),
    );
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(`✗ source: file ${join(dir, 'nowhere.json')}: cannot read: ENOENT`);
  });

  it('the CLI exits 1 and prints the same report', async () => {
    const file = join(dir, 'cli.yaml');
    await writeFile(
      file,
      config({
        mappings: `  - group: { name: devin-platform }
    enterpriseRole: account_member
    orgs: [ { org: Platfrom, role: org_admin } ]`,
      }),
    );
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'validate', '-c', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `mappings[0].orgs[0].org: no organization "Platfrom"; Devin has: ${devinHas}`,
    );
  });
});

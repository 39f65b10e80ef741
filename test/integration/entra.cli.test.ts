// `idsync plan` and `idsync apply` with an entra source, end to end as an operator runs them: real
// processes reading the Graph + login simulator (its own CA in caFile) and writing to the Devin
// simulator. The members of devin-staff, nested sre included, are provisioned; a second plan has
// nothing to do; a member list failing past the retry budget holds back the removal of a leaver
// (exit 5) until a complete read, which then removes them.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSeed } from '../../src/simulator/index.js';
import { runIdsync } from '../support/cli.js';
import {
  type GraphSimulator,
  type SimUser,
  seedGuid,
  startGraphSimulator,
} from '../support/graphSimulator/index.js';
import { startTestSimulator, type TestSimulator, walk } from '../support/simulator.js';

const TOKEN = 'cog_entra_cli_token_4f2a';
const TENANT = '8c7b6a5d-4e3f-4b2a-9d1c-0e9f8a7b6c5d';
const CLIENT = '3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a';
const SECRET = 'cli-test~Secret.4d5e+6f7a';

const uid = (n: number): string => seedGuid(`entra-cli:user:${n}`);
const gid = (name: string): string => seedGuid(`entra-cli:group:${name}`);
const person = (n: number): SimUser => ({
  id: uid(n),
  displayName: `Person ${n}`,
  mail: `person${n}@corp.example`,
  userPrincipalName: `person${n}@corp.example`,
  accountEnabled: true,
});

let graph: GraphSimulator;
let devin: TestSimulator;
let dir: string;
let config: string;

beforeAll(async () => {
  [graph, devin] = await Promise.all([
    startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users: Array.from({ length: 9 }, (_, i) => person(i + 1)),
      groups: [
        { id: gid('staff'), displayName: 'devin-staff', members: [uid(1), uid(2), uid(3), gid('sre')] },
        { id: gid('sre'), displayName: 'sre', members: [uid(4), uid(5)] },
        { id: gid('sales'), displayName: 'sales', members: [uid(8)] },
      ],
    }),
    startTestSimulator({ seed: generateSeed({ users: 3, groups: 0, orgs: 1, token: TOKEN }) }),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'idsync-entra-cli-'));
  await writeFile(join(dir, 'entra-secret'), `${SECRET}\n`);
  config = join(dir, 'idsync.yaml');
  await writeFile(
    config,
    `source:
  type: entra
  tenantId: ${TENANT}
  clientId: ${CLIENT}
  clientSecretFile: entra-secret
  authorityHost: ${graph.url}
  graphBaseUrl: ${graph.url}
  caFile: ${graph.caFile}
  pageSize: 2
  retryBudgetMs: 1500
devin:
  baseUrl: ${devin.url}
  token: ${TOKEN}
  maxRequestsPerSecond: 0
mappings:
  - group: { name: devin-staff }
    enterpriseRole: Member
    orgs: [ { org: "Org 0001", role: Org Member } ]
    provisionUsers: true
scope:
  emailDomains: [corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
state:
  file: state.json
`,
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([graph?.stop(), devin?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const idsync = async (args: string[]) => {
  const run = await runIdsync([...args, '--config', config], dir);
  expect(run.stdout + run.stderr).not.toContain(SECRET);
  return run;
};

async function devinEmails(): Promise<string[]> {
  const { items } = await walk<{ email: string }>(devin.api(TOKEN), '/v3/enterprise/members/users', 100);
  return items
    .map((u) => u.email)
    .filter((e) => e.startsWith('person'))
    .sort();
}

describe('idsync plan and apply with an entra source', () => {
  it('plans the invites of devin-staff with its nested members, applies them, and then has nothing to do', async () => {
    const planFile = join(dir, 'plan.json');
    const planned = await idsync(['plan', '--out', planFile, '--report-dir', join(dir, 'r1')]);
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    const plan = JSON.parse(await readFile(planFile, 'utf8')) as {
      complete: boolean;
      ops: Array<{ kind: string; emails?: string[] }>;
      stats: { directoryUsers: number; directoryGroups: number };
    };
    expect(plan.complete).toBe(true);
    expect(plan.stats).toMatchObject({ directoryUsers: 9, directoryGroups: 3 });
    const invited = plan.ops
      .filter((o) => o.kind === 'inviteUsers')
      .flatMap((o) => o.emails ?? [])
      .sort();
    expect(invited).toEqual([1, 2, 3, 4, 5].map((n) => `person${n}@corp.example`));
    expect(plan.ops.map((o) => o.kind)).toContain('registerIdpGroups');

    const applied = await idsync(['apply', planFile, '--yes']);
    expect(applied.code).toBe(0);
    expect(await devinEmails()).toEqual([1, 2, 3, 4, 5].map((n) => `person${n}@corp.example`));

    const again = await idsync(['plan', '--report-dir', join(dir, 'r2')]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Devin already matches|No changes/);
  });

  it('a leaver is kept while a member list cannot be read (exit 5), and removed after a complete read (approved past the guardrail)', async () => {
    graph.removeMember(gid('sre'), uid(5));
    graph.fault({
      path: new RegExp(`^/v1\\.0/groups/${gid('staff')}/transitiveMembers`),
      status: 503,
      retryAfterSeconds: 1,
      times: Number.POSITIVE_INFINITY,
    });
    try {
      const held = await idsync(['apply', '--yes', '--report-dir', join(dir, 'r3')]);
      expect(held.code).toBe(5);
      expect(held.stdout + held.stderr).toMatch(/incomplete/i);
      expect(await devinEmails()).toContain('person5@corp.example');
    } finally {
      graph.clearFaults();
    }
    // 1 of 5 managed users is past maxUserRemovalPercent: a human approves the two ops.
    const removed = await idsync([
      'apply',
      '--yes',
      '--allow-removals',
      '2',
      '--report-dir',
      join(dir, 'r4'),
    ]);
    expect(removed.stderr).toMatch(/applied 2, already in place 0, skipped 0, failed 0/);
    expect(removed.code).toBe(0);
    expect(await devinEmails()).toEqual([1, 2, 3, 4].map((n) => `person${n}@corp.example`));
  });
});

// `idsync validate` for an Entra source, as an operator runs it: a real `idsync` process against
// the Graph + login simulator (its own CA in caFile) and the Devin simulator, both on loopback.
// A token, a page of users, and every mapping's groups with a page of their members, one line per
// check naming the config key; a refused read names the application permission the app lacks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { runIdsync } from '../support/cli.js';
import {
  ALL_PERMISSIONS,
  type GraphSimulator,
  type SimUser,
  seedGuid,
  startGraphSimulator,
} from '../support/graphSimulator/index.js';

const TOKEN = 'cog_validate_entra_token_7c1d';
const TENANT = '7b6a5c4d-3e2f-4a1b-9c0d-8e7f6a5b4c3d';
const CLIENT = '2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f';
const SECRET = 'validate-test~Secret.3c4d+5e6f';

const uid = (n: number): string => seedGuid(`validate-entra:user:${n}`);
const gid = (name: string): string => seedGuid(`validate-entra:group:${name}`);
const person = (n: number): SimUser => ({
  id: uid(n),
  displayName: `Person ${n}`,
  mail: `person${n}@corp.example`,
  userPrincipalName: `person${n}@corp.example`,
  accountEnabled: true,
});

let graph: GraphSimulator;
let devin: RunningSimulator;
let dir: string;

beforeAll(async () => {
  [graph, devin] = await Promise.all([
    startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users: Array.from({ length: 7 }, (_, i) => person(i + 1)),
      groups: [
        { id: gid('staff'), displayName: 'devin-staff', members: [uid(1), uid(2), gid('sre')] },
        { id: gid('sre'), displayName: 'sre', members: [uid(3), uid(4)] },
        { id: gid('ops'), displayName: 'devin-ops', members: [uid(5)] },
        { id: gid('empty'), displayName: 'devin-empty', members: [] },
      ],
    }),
    startSimulator({ seed: generateSeed({ users: 5, groups: 2, orgs: 2, token: TOKEN }) }),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'idsync-validate-entra-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  await writeFile(join(dir, 'secret'), `${SECRET}\n`);
  await writeFile(join(dir, 'wrong-secret'), 'not-the~Secret.0000\n');
}, 60_000);

afterAll(async () => {
  await Promise.all([graph?.stop(), devin?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const MAPPINGS = `  - group: { name: DEVIN-STAFF }
    enterpriseRole: Member
  - group: { id: "{${gid('ops').toUpperCase()}}" }
    enterpriseRole: Member
  - group: { pattern: "devin-*" }
    enterpriseRole: Member`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

async function validate(name: string, o: { secretFile?: string; mappings?: string } = {}): Promise<Run> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `source:
  type: entra
  tenantId: ${TENANT}
  clientId: ${CLIENT}
  clientSecretFile: ${o.secretFile ?? 'secret'}
  authorityHost: ${graph.url}
  graphBaseUrl: ${graph.url}
  caFile: ${graph.caFile}
  pageSize: 3
  retryBudgetMs: 2000
devin:
  baseUrl: ${devin.url}
  tokenFile: token
  maxRequestsPerSecond: 0
mappings:
${o.mappings ?? MAPPINGS}
`,
  );
  const run = await runIdsync(['validate', '--config', file], dir);
  for (const s of [SECRET, 'not-the~Secret.0000']) expect(run.stdout + run.stderr).not.toContain(s);
  return { ...run, lines: run.stdout.trimEnd().split('\n') };
}

const sourceLines = (run: Run): string[] =>
  run.lines.filter((l) => / (source|mappings\[\d+\])\.[A-Za-z.]+: /.test(l));

describe('idsync validate against the Graph simulator', () => {
  it('everything fine: a token, users, groups and each mapping with its members; exit 0', async () => {
    const run = await validate('good');
    expect(run.stderr).toBe('');
    expect(sourceLines(run)).toEqual([
      `✓ source.clientId: signed in to ${graph.url}/${TENANT} as app ${CLIENT} with a client secret`,
      '✓ source.clientId: can read users (first page: 3 users, 3 with an email address)',
      '✓ source.clientId: can list groups (4 groups)',
      '✓ mappings[0].group.name: name "DEVIN-STAFF" selects group devin-staff (at least 3 user members, nested included, readable)',
      // Written upper case in braces; canonical once loaded.
      `✓ mappings[1].group.id: id "${gid('ops')}" selects group devin-ops (1 user member, nested included, readable)`,
      '! mappings[2].group.pattern: pattern "devin-*" selects 3 groups: devin-staff, devin-ops, devin-empty; no user members in devin-empty',
    ]);
    expect(run.code).toBe(0);
  });

  it('without GroupMember.Read.All: the group checks name the missing permission; exit 1', async () => {
    graph.setPermissions(ALL_PERMISSIONS.filter((p) => p === 'User.Read.All'));
    try {
      const run = await validate('no-group-permission');
      expect(run.code).toBe(1);
      expect(sourceLines(run)).toEqual([
        `✓ source.clientId: signed in to ${graph.url}/${TENANT} as app ${CLIENT} with a client secret`,
        '✓ source.clientId: can read users (first page: 3 users, 3 with an email address)',
        '✗ source.clientId: listing groups after 0 groups refused (403 Authorization_RequestDenied): the app lacks the Microsoft Graph application permission GroupMember.Read.All; add it under API permissions and grant admin consent',
        '✗ mappings[0].group.name: name "DEVIN-STAFF": not checked: the groups could not be listed',
        `✗ mappings[1].group.id: id "${gid('ops')}": not checked: the groups could not be listed`,
        '✗ mappings[2].group.pattern: pattern "devin-*": not checked: the groups could not be listed',
      ]);
    } finally {
      graph.setPermissions([...ALL_PERMISSIONS]);
    }
  });

  it('without User.Read.All: the user check names it', async () => {
    graph.setPermissions(['GroupMember.Read.All']);
    try {
      const run = await validate('no-user-permission', { mappings: '  - group: { name: devin-ops }' });
      expect(run.code).toBe(1);
      expect(sourceLines(run)).toContain(
        '✗ source.clientId: reading users refused (403 Authorization_RequestDenied): the app lacks the Microsoft Graph application permission User.Read.All; add it under API permissions and grant admin consent',
      );
      expect(sourceLines(run)).toContain(
        '✓ mappings[0].group.name: name "devin-ops" selects group devin-ops (1 user member, nested included, readable)',
      );
    } finally {
      graph.setPermissions([...ALL_PERMISSIONS]);
    }
  });

  it('a wrong secret: the sign-in refusal with its AADSTS code on source.clientSecret; exit 1', async () => {
    const run = await validate('wrong-secret', { secretFile: 'wrong-secret' });
    expect(run.code).toBe(1);
    const lines = sourceLines(run);
    expect(lines[0]).toMatch(
      new RegExp(
        `^✗ source\\.clientSecret: sign-in to ${graph.url.replace(/\./g, '\\.')}/${TENANT} as app ${CLIENT} was refused \\(invalid_client\\): AADSTS7000215: .*use the secret's Value`,
      ),
    );
    expect(lines[1]).toBe('✗ source.graphBaseUrl: users and groups not checked: no token');
  });

  it('a mapping whose group does not exist is an error on its key', async () => {
    const run = await validate('missing-group', {
      mappings: '  - group: { name: devin-staff }\n  - group: { name: devin-gone }',
    });
    expect(run.code).toBe(1);
    expect(sourceLines(run)).toContain(
      '✗ mappings[1].group.name: name "devin-gone" matches none of the 4 groups: the mapping selects nothing',
    );
  });
});

// `idsync validate`'s Devin check when `/v3/self` is not served (it is in no export of Cognition's
// provider): a 404/405/501 there falls back to a roles read, which proves the token works; a
// rejected token still fails. Against the simulator on loopback, self answered by fault rules.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runValidate } from '../../src/cli/validateCommand.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';

const TOKEN = 'cog_validate_self_token';
let sim: RunningSimulator;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({ seed: generateSeed({ users: 3, groups: 1, orgs: 1, token: TOKEN }) });
  dir = await mkdtemp(join(tmpdir(), 'idsync-validate-self-'));
  await writeFile(
    join(dir, 'directory.json'),
    JSON.stringify({ users: [{ id: 'u1', email: 'ada@corp.example' }], groups: [] }),
  );
});
afterAll(async () => {
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sim.setFaults({ rules: [] });
});

async function validate(token: string): Promise<{ code: number; stdout: string }> {
  const file = join(dir, 'idsync.yaml');
  await writeFile(
    file,
    `source: { type: file, path: directory.json }
devin:
  baseUrl: ${sim.url}
  token: ${token}
  maxRequestsPerSecond: 0
mappings:
  - group: { name: devin-x }
    enterpriseRole: Member
`,
  );
  let stdout = '';
  const code = await runValidate(
    { config: file },
    {
      stdout: (t) => {
        stdout += t;
      },
      stderr: () => {},
      env: {},
    },
  );
  return { code, stdout };
}

const selfAnswers = (status: number) =>
  sim.setFaults({
    rules: [{ match: { method: 'GET', route: '/v3/self' }, errorRate: 1, errorStatus: status }],
  });

describe('validate when /v3/self is not served', () => {
  it.each([404, 405, 501])('self %i: the token is proved by reading the roles', async (status) => {
    selfAnswers(status);
    const run = await validate(TOKEN);
    expect(run.stdout).toMatch(
      new RegExp(
        `✓ devin-token: .* accepts the token \\(self answered ${status}; read \\d+ roles instead\\)`,
      ),
    );
    expect(run.code).toBe(0);
  });

  it('a token Devin rejects still fails, through the fallback too', async () => {
    selfAnswers(404);
    const run = await validate('cog_not_a_real_token');
    expect(run.stdout).toMatch(
      /✗ devin-token: .*rejected the token: GET \/v3\/enterprise\/roles failed: 401/,
    );
    expect(run.code).toBe(1);
  });

  it('self 403 is not papered over by the fallback', async () => {
    selfAnswers(403);
    const run = await validate(TOKEN);
    expect(run.stdout).toMatch(/✗ devin-token: .*rejected the token: GET \/v3\/self failed: 403/);
    expect(run.code).toBe(1);
  });
});

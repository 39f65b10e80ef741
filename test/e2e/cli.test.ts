// The commands as an operator runs them: real processes, the simulator as a real server on loopback,
// config and directory files in a temp dir. Checks exit codes (docs/design.md §8) and what lands in Devin.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSeedFile, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { runIdsync } from '../support/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = join(ROOT, 'config', 'demo');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function idsync(args: string[], cwd: string): Promise<Run> {
  return runIdsync(args, cwd);
}

describe('idsync demo', () => {
  it('plans, reports, applies and converges on a machine with nothing running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idsync-demo-e2e-'));
    const run = await idsync(['demo', '--report-dir', join(dir, 'reports')], dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2\. Apply\n {3}applied \d+, already in place \d+, skipped 0, failed 0/);
    expect(run.stdout).toContain('No changes: Devin now matches the directory.');
    for (const f of ['plan.md', 'plan.json', 'plan.html'])
      expect(existsSync(join(dir, 'reports', f))).toBe(true);
  });
});

describe('plan and apply against a running Devin', () => {
  let sim: RunningSimulator;
  let dir: string;
  let configFile: string;

  const writeConfig = (overrides: { directory?: string; guardrails?: string } = {}) => {
    const yaml = readFileSync(join(DEMO, 'idsync.yaml'), 'utf8')
      .replace('http://127.0.0.1:0', sim.url)
      .replace('./directory.json', overrides.directory ?? join(DEMO, 'directory.json'))
      .replace('./.idsync/state.json', join(dir, 'state.json'))
      .replace(/guardrails:\n( {2}.*\n)+/, overrides.guardrails ?? '$&');
    writeFileSync(configFile, yaml);
  };

  beforeAll(async () => {
    sim = await startSimulator({ seed: await loadSeedFile(join(DEMO, 'devin-seed.json')) });
    dir = mkdtempSync(join(tmpdir(), 'idsync-cli-e2e-'));
    configFile = join(dir, 'idsync.yaml');
    writeConfig();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('refuses a bad config with exit 2 and the place of the problem', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'source: { type: file, path: x.json }\ndevin: { token: t }\nmappings: []\n');
    const run = await idsync(['plan', '--config', bad], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/bad\.yaml:3:\d+: mappings/);
  });

  it('refuses to apply without --yes when there is no terminal', async () => {
    const run = await idsync(['apply', '--config', configFile], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to apply without --yes/);
  });

  it('refuses a saved plan that went stale (exit 4), listing the drifted ops', async () => {
    const plan = join(dir, 'plan.json');
    const planned = await idsync(
      ['plan', '--config', configFile, '--out', plan, '--report-dir', join(dir, 'r1')],
      dir,
    );
    expect(planned.code).toBe(0);
    const saved = JSON.parse(readFileSync(plan, 'utf8')) as {
      ops: Array<{ kind: string; groups?: string[] }>;
    };
    const group = saved.ops.find((o) => o.kind === 'registerIdpGroups')?.groups?.[0] as string;
    // Someone registers one of those groups by hand before the plan is applied.
    const res = await fetch(`${sim.url}/v3/enterprise/idp-groups`, {
      method: 'POST',
      headers: { authorization: 'Bearer cog_demo_idsync_token', 'content-type': 'application/json' },
      body: JSON.stringify({ idp_group_names: [group] }),
    });
    expect(res.status).toBe(200);
    const run = await idsync(['apply', plan, '--config', configFile, '--yes'], dir);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('registerIdpGroups/batch-1: expected not registered, found registered');
  });

  it('refuses a saved plan that was edited (exit 2)', async () => {
    const plan = join(dir, 'edited.json');
    expect(
      (await idsync(['plan', '--config', configFile, '--out', plan, '--report-dir', join(dir, 'r2')], dir))
        .code,
    ).toBe(0);
    const text = readFileSync(plan, 'utf8').replace('"account_member"', '"account_admin"');
    writeFileSync(plan, text);
    const run = await idsync(['apply', plan, '--config', configFile, '--yes'], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/fingerprint/);
  });

  it('applies a fresh saved plan exactly, then has nothing left to do', async () => {
    const plan = join(dir, 'fresh.json');
    expect(
      (await idsync(['plan', '--config', configFile, '--out', plan, '--report-dir', join(dir, 'r3')], dir))
        .code,
    ).toBe(0);
    const run = await idsync(['apply', plan, '--config', configFile, '--yes', '--json'], dir);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { ok: boolean; counts: Record<string, number> };
    expect(summary.ok).toBe(true);
    expect(summary.counts.failed).toBe(0);
    const again = await idsync(
      ['plan', '--config', configFile, '--json', '--report-dir', join(dir, 'r4')],
      dir,
    );
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { ops: unknown[] }).ops).toEqual([]);
  });

  it('holds back removals a guardrail blocks (exit 3) until --allow-removals approves them', async () => {
    // Everyone leaves the devin-admins group in the directory.
    const directory = JSON.parse(readFileSync(join(DEMO, 'directory.json'), 'utf8')) as {
      groups: Array<{ name: string; members: string[] }>;
    };
    const admins = directory.groups.find((g) => g.name === 'devin-admins');
    if (!admins) throw new Error('demo directory has no devin-admins group');
    admins.members = [];
    const shrunk = join(dir, 'directory-no-admins.json');
    writeFileSync(shrunk, JSON.stringify(directory));
    writeConfig({
      directory: shrunk,
      guardrails:
        'guardrails:\n  maxUserRemovals: 0\n  maxUserRemovalPercent: 100\n  maxGroupRemovals: 5\n  maxSourceShrinkPercent: 100\n',
    });
    const held = await idsync(
      ['apply', '--config', configFile, '--yes', '--report-dir', join(dir, 'r5')],
      dir,
    );
    expect(held.code).toBe(3);
    // Off a terminal the results are JSON on stdout and the words go to stderr.
    expect(held.stderr).toMatch(/user removals exceed guardrails\.maxUserRemovals \(0\)/);
    const n = Number(/--allow-removals (\d+)/.exec(held.stderr)?.[1]);
    const heldResult = JSON.parse(held.stdout) as { results: Array<{ kind: string; status: string }> };
    expect(
      heldResult.results.filter((r) => r.kind === 'removeUser').every((r) => r.status === 'skipped'),
    ).toBe(true);
    expect(n).toBeGreaterThan(0);
    const before = sim.dump().users.filter((u) => u.enterprise_role_id === 'account_admin').length;

    const approved = await idsync(
      [
        'apply',
        '--config',
        configFile,
        '--yes',
        '--allow-removals',
        String(n),
        '--report-dir',
        join(dir, 'r6'),
      ],
      dir,
    );
    expect(approved.code).toBe(0);
    const after = sim.dump().users.filter((u) => u.enterprise_role_id === 'account_admin').length;
    expect(after).toBeLessThan(before);
    // The break-glass admin is protected and stays.
    expect(sim.dump().users.find((u) => u.email === 'breakglass@corp.example')?.enterprise_role_id).toBe(
      'account_admin',
    );
  });
});

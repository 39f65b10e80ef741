// `idsync simulator`: simulatorCommand() run in a child process (tsx), as a user would run it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatorCommand } from '../../src/cli/simulatorCommand.js';
import type { SimulatorSeed } from '../../src/simulator/index.js';
import { DEMO_TOKEN, loadDemoSeed } from '../support/simulator.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `simulatorCommand().parseAsync(args)` in a fresh node process with the tsx loader. */
function run(args: string[]): Run {
  const code = [
    "import { simulatorCommand } from './src/cli/simulatorCommand.ts';",
    `await simulatorCommand().parseAsync(${JSON.stringify(args)}, { from: 'user' });`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    env: { ...process.env, IDSYNC_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function urlOf(r: Run, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /^IDSYNC_SIMULATOR_URL=(\S+)$/m.exec(r.stdout());
    if (m) return m[1] as string;
    if (r.child.exitCode !== null) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  r.child.kill('SIGKILL');
  throw new Error(`simulator did not start\nstdout: ${r.stdout()}\nstderr: ${r.stderr()}`);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-sim-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('idsync simulator (CLI)', () => {
  it('prints its URL, serves the seed, and exits 0 on SIGTERM', async () => {
    const r = run(['--port', '0', '--seed', 'config/simulator-seed.json']);
    const url = await urlOf(r);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(r.stdout()).toBe(`Devin API simulator listening on ${url}\nIDSYNC_SIMULATOR_URL=${url}\n`);
    const self = await fetch(`${url}/v3/self`, { headers: { authorization: `Bearer ${DEMO_TOKEN}` } });
    expect(self.status).toBe(200);
    expect(await self.json()).toMatchObject({ principal_type: 'service_user', service_user_name: 'idsync' });
    // Admin routes are off by default.
    expect((await fetch(`${url}/_sim/state`)).status).toBe(404);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
  });

  it('uses the packaged seed by default; --admin and --latency work; exits 0 on SIGINT', async () => {
    const r = run(['--port', '0', '--admin', '--latency', '120']);
    const url = await urlOf(r);
    const state = await fetch(`${url}/_sim/state`);
    expect(state.status).toBe(200);
    expect(((await state.json()) as { organizations: unknown[] }).organizations).toHaveLength(3);
    const t0 = performance.now();
    const roles = await fetch(`${url}/v3/enterprise/roles`, {
      headers: { authorization: `Bearer ${DEMO_TOKEN}` },
    });
    expect(roles.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(0);
  });

  it('a bad seed: message on stderr naming file and problem, exit code 2', async () => {
    const path = join(dir, 'bad-seed.json');
    await writeFile(
      path,
      JSON.stringify({ users: [{ user_id: 'u', email: 'a@b', enterprise_role_id: 'ghost' }] }),
    );
    const r = run(['--port', '0', '--seed', path]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toContain(path);
    expect(r.stderr()).toMatch(/users\[0\]\.enterprise_role_id: unknown role "ghost"/);
    expect(r.stdout()).toBe('');
  });

  it('a bad faults file: exit code 2', async () => {
    const path = join(dir, 'faults.json');
    await writeFile(path, JSON.stringify({ rules: [{ errorRate: 3 }] }));
    const r = run(['--port', '0', '--faults', path]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/invalid fault rules .*faults\.json: rules\[0\]\.errorRate/);
  });

  it('rejects a bad --port with a CommanderError (main turns it into exit 2)', async () => {
    const cmd = simulatorCommand().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    expect(cmd.name()).toBe('simulator');
    expect(cmd.options.map((o) => o.long)).toEqual([
      '--port',
      '--host',
      '--seed',
      '--admin',
      '--faults',
      '--latency',
      '--rate-limit',
      '--rate-burst',
      '--semantics',
    ]);
    const err = await cmd.parseAsync(['--port', 'abc'], { from: 'user' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    const bad = await simulatorCommand()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} })
      .parseAsync(['--semantics', 'loose'], { from: 'user' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CommanderError);
  });

  it('--semantics lenient cascades a user removal that the default (strict) refuses', async () => {
    const seed = await loadDemoSeed();
    const target = seed.users.find(
      (u) => u.enterprise_role_id === 'account_member' && Object.keys(u.org_roles).length > 0,
    );
    if (!target) throw new Error('the demo seed has no member with org roles');
    const remove = (url: string) =>
      fetch(`${url}/v3/enterprise/members/users/${target.user_id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${DEMO_TOKEN}` },
      });
    const strict = run(['--port', '0']);
    expect((await remove(await urlOf(strict))).status).toBe(409);
    strict.child.kill('SIGTERM');
    expect(await strict.exited).toBe(0);

    const lenient = run(['--port', '0', '--admin', '--semantics', 'lenient']);
    const url = await urlOf(lenient);
    expect(lenient.stderr()).toContain('lenient semantics');
    // Lenient DELETEs answer 204 with no body, the other reading of the docs.
    expect((await remove(url)).status).toBe(204);
    const state = (await (await fetch(`${url}/_sim/state`)).json()) as SimulatorSeed;
    expect(state.users.find((u) => u.user_id === target.user_id)).toMatchObject({
      enterprise_role_id: null,
      org_roles: {},
    });
    lenient.child.kill('SIGTERM');
    expect(await lenient.exited).toBe(0);
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// Values that cannot work, and secrets that must never be printed, through the real `idsync`
// process: `validate --offline` and `plan` against the simulator on loopback, with real files and a
// real FIFO. Every run's stdout and stderr is scanned for every secret used.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';

const MAIN = resolve('src/cli/main.ts');
const TSX = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;

const TOKEN = 'cog_cli_secrets_devin_token_5b1f';
/** A token file a path key points at by mistake. */
const STRAY_TOKEN = 'cog_stray_token_in_the_wrong_key_9d2e';
const ENV_SECRET = 'cog_env_secret_in_base_url_3c7a';
const SHORT_ADMIN = 'adm-9f3k2q';
const SPACED_WEBHOOK = 'whsec 7d1c 2b9e 4a6f 8c3d';
const CTRL_TOKEN = 'cog_ctrl_token\u0007_4e8b1a';
const SECRETS = [TOKEN, STRAY_TOKEN, ENV_SECRET, SHORT_ADMIN, SPACED_WEBHOOK, CTRL_TOKEN, 'cog_ctrl_token'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const runs: Run[] = [];

function idsync(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const { IDSYNC_CONFIG: _, ...base } = process.env;
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      env: { ...base, IDSYNC_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    // The old code hangs on a FIFO: end it, and let the assertions say so.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const run = { code, stdout, stderr, timedOut };
      runs.push(run);
      resolvePromise(run);
    });
  });
}

let sim: RunningSimulator;
let dir: string;

const config = (over: { source?: string; devin?: string; state?: string; extra?: string } = {}): string =>
  [
    `source: ${over.source ?? `{ type: file, path: ${join(dir, 'directory.json')} }`}`,
    `devin: ${over.devin ?? `{ baseUrl: "${sim.url}", tokenFile: ${join(dir, 'devin-token')}, maxRequestsPerSecond: 0 }`}`,
    'mappings:',
    '  - group: { name: devin-platform }',
    '    enterpriseRole: account_member',
    `state: { file: ${over.state ?? join(dir, 'state.json')} }`,
    over.extra ?? '',
    '',
  ].join('\n');

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

const validate = async (
  name: string,
  text: string,
  env: Record<string, string> = {},
): Promise<Run & { file: string }> => {
  const file = await write(name, text);
  return { ...(await idsync(['validate', '--offline', '--config', file], env)), file };
};

const plan = async (name: string, text: string): Promise<Run & { file: string }> => {
  const file = await write(name, text);
  return {
    ...(await idsync(['plan', '--config', file, '--report-dir', join(dir, `reports-${name}`)])),
    file,
  };
};

function expectNoSecret(run: Run): void {
  const out = `${run.stdout}\n${run.stderr}`;
  for (const s of SECRETS) expect(out).not.toContain(s);
}

beforeAll(async () => {
  sim = await startSimulator({ seed: generateSeed({ users: 3, groups: 1, orgs: 1, token: TOKEN }) });
  dir = await mkdtemp(join(tmpdir(), 'idsync-secrets-'));
  await writeFile(
    join(dir, 'directory.json'),
    JSON.stringify({ users: [{ id: 'u1', email: 'ada@corp.example' }], groups: [] }),
  );
  await writeFile(join(dir, 'devin-token'), `${TOKEN}\n`);
  await writeFile(join(dir, 'stray-token'), `${STRAY_TOKEN}\n`);
  await writeFile(join(dir, 'short-admin'), `${SHORT_ADMIN}\n`);
  await writeFile(join(dir, 'ctrl-token'), `${CTRL_TOKEN}\n`);
  execFileSync('mkfifo', [join(dir, 'token.fifo')]);
});

afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('file contents are never quoted in an error', () => {
  it('plan: state.file pointing at a token file gives a position, not the token', async () => {
    const run = await plan('state-is-token.yaml', config({ state: join(dir, 'stray-token') }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `state file ${join(dir, 'stray-token')}: not valid JSON at line 1, column 1: unexpected character; refusing to guess ownership`,
    );
    expectNoSecret(run);
  });

  it('plan: source.path pointing at a token file gives a position, not its first characters', async () => {
    const run = await plan(
      'source-is-token.yaml',
      config({ source: `{ type: file, path: ${join(dir, 'stray-token')} }` }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `${join(dir, 'stray-token')}: not valid JSON at line 1, column 1: unexpected character`,
    );
    expectNoSecret(run);
  });

  it('validate --offline: a ${VAR} value in a non-secret key is not printed', async () => {
    const run = await validate(
      'env-in-url.yaml',
      config({ devin: `{ baseUrl: "\${DEVIN_URL}", tokenFile: ${join(dir, 'devin-token')} }` }),
      { DEVIN_URL: ENV_SECRET },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `${run.file}:2:19: devin.baseUrl: expected an http(s) URL such as https://api.devin.ai, found a value from \${DEVIN_URL} (not shown)\n`,
    );
    expectNoSecret(run);
  });
});

describe('values that cannot work are refused at load, with file:line', () => {
  it('a short admin token (file) and a webhook secret with white space (inline)', async () => {
    const run = await validate(
      'server-secrets.yaml',
      config({
        extra: `server:\n  adminTokenFile: ${join(dir, 'short-admin')}\n  webhookSecret: "${SPACED_WEBHOOK}"`,
      }),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      [
        `${run.file}:8:19: server.adminTokenFile: the secret in "${join(dir, 'short-admin')}" has 10 characters: expected at least 16 characters`,
        `${run.file}:9:18: server.webhookSecret: expected a secret with no white space, found white space at character 6 (the value is not shown)`,
        '',
      ].join('\n'),
    );
    expectNoSecret(run);
  });

  it('a token file with a control character (HTTP headers refuse it at send time)', async () => {
    const run = await validate(
      'ctrl-token.yaml',
      config({ devin: `{ baseUrl: "${sim.url}", tokenFile: ${join(dir, 'ctrl-token')} }` }),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `${run.file}:2:${`devin: { baseUrl: "${sim.url}", tokenFile: `.length + 1}: devin.tokenFile: the token in "${join(dir, 'ctrl-token')}" has a non-ASCII or control character at character 15: expected printable ASCII characters only (an HTTP header cannot carry others)\n`,
    );
    expectNoSecret(run);
  });

  it('a token file that is a FIFO is refused at once instead of hanging', async () => {
    const started = Date.now();
    const run = await validate(
      'fifo-token.yaml',
      config({ devin: `{ baseUrl: "${sim.url}", tokenFile: ${join(dir, 'token.fifo')} }` }),
    );
    expect(run.timedOut).toBe(false);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `devin.tokenFile: cannot read "${join(dir, 'token.fifo')}": it is a FIFO (named pipe), not a regular file`,
    );
  });

  it('maxRequestsPerSecond between 0 and 1, and a timeoutMs past the timer limit', async () => {
    const run = await validate(
      'rate-timeout.yaml',
      config({
        devin: `{ baseUrl: "${sim.url}", tokenFile: ${join(dir, 'devin-token')}, maxRequestsPerSecond: 0.5, timeoutMs: 2147483648 }`,
      }),
    );
    expect(run.code).toBe(2);
    const prefix = `devin: { baseUrl: "${sim.url}", tokenFile: ${join(dir, 'devin-token')}, maxRequestsPerSecond: `;
    expect(run.stderr).toBe(
      [
        `${run.file}:2:${prefix.length + 1}: devin.maxRequestsPerSecond: expected 0 (no limit) or a number >= 1, found 0.5`,
        `${run.file}:2:${prefix.length + 'timeoutMs: '.length + 6}: devin.timeoutMs: expected a number <= 2147483647 (about 24.8 days: a longer timer overflows and fires at once), found 2147483648`,
        '',
      ].join('\n'),
    );
  });

  it('a good config still validates and plans', async () => {
    const ok = await validate('good.yaml', config());
    expect(ok.code).toBe(0);
    const planned = await plan('good.yaml', config());
    expect(planned.stderr).toBe('');
    expect([0, 3]).toContain(planned.code);
  });
});

describe('no message ever contains a secret', () => {
  it('every run above, on stdout and stderr', () => {
    expect(runs.length).toBeGreaterThanOrEqual(8);
    for (const run of runs) expectNoSecret(run);
  });
});

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
// The real `idsync` process for `schema` and `validate`: exit codes, stdout/stderr, and the
// default config location. (main.ts runs at import, so these spawn it.)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve('src/cli/main.ts');
// By URL, so the loader is found when the command runs in a directory without node_modules.
const TSX = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function idsync(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const { IDSYNC_CONFIG: _, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...env, ...options.env },
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
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

const GOOD = `source: { type: file, path: dir.json }
devin: { token: cog_cli_secret }
mappings:
  - group: { name: devin-admins }
    enterpriseRole: account_admin
`;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-cli-'));
  await writeFile(join(dir, 'dir.json'), JSON.stringify({ users: [], groups: [] }));
  await writeFile(join(dir, 'idsync.yaml'), GOOD);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validateText(
  name: string,
  text: string,
  env: Record<string, string> = {},
): Promise<Run & { file: string }> {
  const file = join(dir, name);
  await writeFile(file, text);
  return { ...(await idsync(['validate', '--config', file, '--offline'], { env })), file };
}

describe('idsync schema', () => {
  it('prints the committed JSON Schema', async () => {
    const run = await idsync(['schema']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(await readFile('config/idsync.schema.json', 'utf8'));
  });
});

describe('idsync validate: bad configs exit 2 with one line per problem on stderr', () => {
  it('YAML syntax error', async () => {
    const run = await validateText('syntax.yaml', 'source:\n  type: file\n  path: [dir.json\ndevin: {}\n');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `${run.file}:4:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]\n`,
    );
    expect(run.stdout).toBe('');
  });

  it('unknown key with a suggestion, and a wrong type, together', async () => {
    const run = await validateText('typo.yaml', `${GOOD}guardrials: {}\nmode: 1\n`);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      [
        `${run.file}:6:1: guardrials: unknown key "guardrials"; did you mean "guardrails"?`,
        `${run.file}:7:7: mode: expected one of "review", "auto", found 1`,
        '',
      ].join('\n'),
    );
  });

  it('unreadable tokenFile', async () => {
    const run = await validateText(
      'tokenfile.yaml',
      GOOD.replace('token: cog_cli_secret', 'tokenFile: /nonexistent/devin-token'),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `${run.file}:2:21: devin.tokenFile: cannot read "/nonexistent/devin-token": no such file (ENOENT)\n`,
    );
  });

  it('unset ${VAR}, and a secret of the wrong type is not echoed', async () => {
    const run = await validateText(
      'env.yaml',
      GOOD.replace('token: cog_cli_secret', 'token: [cog_cli_secret]').replace(
        'dir.json',
        '"${DIRECTORY_FILE}"',
      ),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      [
        `${run.file}:1:30: source.path: environment variable DIRECTORY_FILE is not set`,
        `${run.file}:2:10: devin.token: expected a string, found [redacted]`,
        '',
      ].join('\n'),
    );
    expect(run.stderr).not.toContain('cog_cli_secret');
  });

  it('a config file that does not exist', async () => {
    const run = await idsync(['validate', '--config', join(dir, 'missing.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `${join(dir, 'missing.yaml')}: cannot read the config file: no such file (ENOENT)\n`,
    );
  });

  it('--json puts the problems on stdout too', async () => {
    const file = join(dir, 'json.yaml');
    await writeFile(file, GOOD.replace('account_admin', ''));
    const run = await idsync(['validate', '--config', file, '--json']);
    expect(run.code).toBe(2);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; problems?: unknown[] }>;
    };
    expect(report.ok).toBe(false);
    expect(report.checks[0]?.problems).toEqual([
      {
        path: 'mappings[0].enterpriseRole',
        line: 5,
        column: 5,
        message: 'expected a string, found an empty value',
      },
    ]);
  });
});

describe('idsync validate: where the config comes from', () => {
  it('./idsync.yaml by default, $IDSYNC_CONFIG over it', async () => {
    const byCwd = await idsync(['validate', '--offline'], { cwd: dir });
    expect(byCwd.code).toBe(0);
    expect(byCwd.stdout).toBe(`✓ config: ${join(dir, 'idsync.yaml')}: 1 mapping, file source\n`);

    const other = join(dir, 'other.yaml');
    await writeFile(other, GOOD);
    const byEnv = await idsync(['validate', '--offline'], { cwd: dir, env: { IDSYNC_CONFIG: other } });
    expect(byEnv.code).toBe(0);
    expect(byEnv.stdout).toBe(`✓ config: ${other}: 1 mapping, file source\n`);
  });

  it('--help documents the exit codes', async () => {
    const run = await idsync(['validate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--config <file>');
    expect(run.stdout).toContain(
      'Exit codes: 0 all checks passed, 1 the source or Devin check failed, 2 the config is invalid.',
    );
  });
});

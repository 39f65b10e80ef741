// The container image as a user gets it: the project's Dockerfile, unchanged, built with podman
// (no Docker engine here) on a local stand-in for the official Node base image
// (scripts/image/prepare-base.sh), then run the way a hardened cluster runs it: uid 1000, read-only
// root with only /tmp writable, every capability dropped, no new privileges. `demo` runs with no
// network at all; the daemon (`run`) syncs against a real redis-server and the Devin simulator on
// loopback and answers its probes. The Dockerfile is linted with dockerlinter (hadolint's rules) and
// must have no finding at all.
//
// Cached between runs under $IDSYNC_IMAGE_CACHE (default /var/tmp/idsync-image-cache): the base
// stand-in, podman's storage (so a warm build reuses its layers) and the linter. A cold run makes
// them all. The image size and build time are printed, never asserted.
import { type SpawnOptions, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSeedFile, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = process.env.IDSYNC_IMAGE_CACHE ?? '/var/tmp/idsync-image-cache';
const PODMAN_ENV = {
  ...process.env,
  CONTAINERS_CONF: join(CACHE, 'containers', 'containers.conf'),
  CONTAINERS_STORAGE_CONF: join(CACHE, 'containers', 'storage.conf'),
};
/** A stable tag, so the next run's build starts from this one's layers. */
const IMAGE = 'localhost/idsync:image-test';
const DOCKERLINTER = '2.0.0';
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
};
/** How the tests run the image: what a restricted PodSecurity profile plus readOnlyRootFilesystem give. */
const HARDENED = [
  '--user',
  '1000:1000',
  '--read-only',
  // podman would also make /var/tmp, /run and /dev/shm writable; Docker and Kubernetes give only
  // what is mounted, so only /tmp is.
  '--read-only-tmpfs=false',
  '--tmpfs',
  '/tmp:rw,size=64m,mode=1777',
  '--cap-drop=ALL',
  '--security-opt',
  'no-new-privileges',
];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const podman = (args: string[]) => exec('podman', args, { env: PODMAN_ENV });

function ok(r: Result, what: string): Result {
  if (r.code !== 0)
    throw new Error(`${what} exited ${r.code}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r;
}

describe('production code', () => {
  it('imports no devDependency (playwright-core and the rest stay out of the image)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const dev = new Set(Object.keys(pkg.devDependencies));
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (/\.[cm]?[jt]s$/.test(entry.name)) {
          const text = readFileSync(file, 'utf8');
          // Static imports and re-exports (type-only ones are erased), dynamic import() and require().
          const specs = [
            ...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+['"]([^'"]+)['"]/gm),
            ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
            ...text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g),
          ].map((m) => m[1] ?? '');
          for (const spec of specs) {
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (name && dev.has(name)) offenders.push(`${file.slice(ROOT.length)}: ${spec}`);
          }
        }
      }
    };
    walk(join(ROOT, 'src'));
    expect(dev.has('playwright-core')).toBe(true);
    expect(offenders).toEqual([]);
  });
});

describe('Dockerfile lint (dockerlinter, hadolint rules, with Debian shellcheck)', () => {
  const prefix = join(CACHE, `dockerlinter-${DOCKERLINTER}`);
  const bin = join(prefix, 'node_modules', 'dockerlinter', 'bin', 'dockerfilelinter.js');

  beforeAll(async () => {
    if (existsSync(bin)) return;
    // --ignore-scripts: its postinstall downloads a shellcheck binary from GitHub; Debian's is on PATH.
    ok(
      await exec('npm', [
        'install',
        '--prefix',
        prefix,
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        '--save-exact',
        `dockerlinter@${DOCKERLINTER}`,
      ]),
      'npm install dockerlinter',
    );
  }, 120_000);

  const lint = (file: string) => exec(process.execPath, [bin, '-f', file, '-j', '-e', 'info']);

  it(`is dockerlinter ${DOCKERLINTER}, and it finds what it should (shellcheck included)`, async () => {
    const installed = JSON.parse(
      readFileSync(join(prefix, 'node_modules', 'dockerlinter', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(installed.version).toBe(DOCKERLINTER);
    const dir = mkdtempSync(join(tmpdir(), 'idsync-lint-'));
    try {
      const bad = join(dir, 'Dockerfile');
      writeFileSync(
        bad,
        'FROM node\nRUN apt-get update && apt-get install -y curl\nRUN cd /x && echo $FOO\n',
      );
      const r = await lint(bad);
      expect(r.code).toBe(1);
      const codes = (JSON.parse(r.stdout) as Array<{ code: string }>).map((f) => f.code);
      expect(codes).toEqual(expect.arrayContaining(['EF0004', 'ER0012', 'ER0003', 'SC2086']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has no finding at any level in the project Dockerfile', async () => {
    const r = await lint(join(ROOT, 'Dockerfile'));
    expect(r.stderr).toBe('');
    expect(r.stdout.trim() === '' ? [] : JSON.parse(r.stdout)).toEqual([]);
    expect(r.code).toBe(0);
  });
});

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(): Array<{ op: string; args: string }> {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('container image', () => {
  let sizeBytes = 0;
  let baseTag = '';

  beforeAll(async () => {
    const started = Date.now();
    const prepared = ok(
      await exec('bash', [join(ROOT, 'scripts/image/prepare-base.sh')], { env: PODMAN_ENV }),
      'prepare-base.sh',
    );
    baseTag = /^BASE_TAG=(.+)$/m.exec(prepared.stdout)?.[1] ?? '';
    const baseMs = Date.now() - started;

    // Test-side only: npm inside the build trusts this machine's CA bundle, over the host network.
    const ca = ['/etc/ssl/certs/ca-certificates.crt', process.env.NODE_EXTRA_CA_CERTS].find(
      (f): f is string => !!f && existsSync(f),
    );
    const caArgs = ca
      ? ['-v', `${ca}:/run/host-ca.crt:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/run/host-ca.crt']
      : [];
    const buildStarted = Date.now();
    ok(
      await podman([
        'build',
        '--network',
        'host',
        ...caArgs,
        '-f',
        join(ROOT, 'Dockerfile'),
        '-t',
        IMAGE,
        ROOT,
      ]),
      'podman build',
    );
    const buildMs = Date.now() - buildStarted;
    sizeBytes = Number(
      ok(await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]), 'inspect').stdout.trim(),
    );
    // Layers of superseded builds: kept a day as cache, then dropped so the cache does not grow.
    await podman(['image', 'prune', '--force', '--filter', 'until=24h']);
    console.log(
      `idsync image ${IMAGE}: ${(sizeBytes / 1e6).toFixed(0)} MB, built in ${(buildMs / 1000).toFixed(1)} s ` +
        `(base stand-in ready in ${(baseMs / 1000).toFixed(1)} s)`,
    );
  }, 900_000);

  it("builds FROM exactly the tag the base stand-in carries (a user's Docker pulls it as is)", () => {
    const froms = instructions()
      .filter((i) => i.op === 'FROM')
      .map((i) => i.args.split(/\s+/)[0]);
    expect(froms).toEqual(['node:20.20.2-bookworm-slim', 'node:20.20.2-bookworm-slim']);
    expect(baseTag).toBe(`docker.io/library/${froms[0]}`);
  });

  it('gets tini from Debian on the official base, which lacks it (the same RUN line, tini purged first)', async () => {
    const step = instructions().find((i) => i.op === 'RUN' && i.args.includes('tini'));
    expect(step?.args).toMatch(/apt-get install/);
    // The stand-in has tini so that the build needs no package index; here the Debian archive is used.
    const r = ok(
      await podman([
        'run',
        '--rm',
        '--network',
        'host',
        baseTag,
        'sh',
        '-c',
        `dpkg --purge tini >/dev/null && ! command -v tini && ${step?.args}`,
      ]),
      'tini step on a base without tini',
    );
    expect(r.stdout).toMatch(/tini version 0\.19\.0/);
  }, 300_000);

  it('prints its version', async () => {
    const r = ok(
      await podman(['run', '--rm', '--network', 'none', ...HARDENED, IMAGE, '--version']),
      'version',
    );
    expect(r.stdout.trim()).toBe(PKG.version);
  });

  it('is configured as shipped: tini as entrypoint, uid 1000, /tmp as working dir, OCI labels', async () => {
    const [image] = JSON.parse(ok(await podman(['image', 'inspect', IMAGE]), 'inspect').stdout) as Array<{
      Config: {
        User: string;
        Entrypoint: string[];
        Cmd: string[];
        WorkingDir: string;
        Labels: Record<string, string>;
      };
    }>;
    const c = image?.Config;
    expect(c?.Entrypoint).toEqual(['tini', '--', 'idsync']);
    expect(c?.Cmd).toEqual(['run']);
    expect(c?.User).toBe('1000:1000');
    expect(c?.WorkingDir).toBe('/tmp');
    expect(c?.Labels).toMatchObject({
      'org.opencontainers.image.title': 'idsync',
      'org.opencontainers.image.version': PKG.version,
      'org.opencontainers.image.licenses': PKG.license,
    });
    expect(c?.Labels).toHaveProperty(['org.opencontainers.image.source']);
    expect(c?.Labels?.['org.opencontainers.image.description']).toMatch(/Devin/);
  });

  it('holds production dependencies only, owned by root', async () => {
    const script = `
      const fs = require('node:fs');
      const has = (p) => fs.existsSync('/app/node_modules/' + p);
      const dev = ['playwright-core', 'vitest', 'typescript', 'tsx', '@biomejs/biome', 'fast-check', 'pino-pretty'];
      const prod = ['fastify', 'bullmq', 'ioredis', 'ldapts', 'commander', 'zod'];
      const st = fs.statSync('/app/dist/src/cli/main.js');
      let writable = true;
      try { fs.accessSync('/app/node_modules', fs.constants.W_OK); } catch { writable = false; }
      console.log(JSON.stringify({ dev: dev.filter(has), prod: prod.filter(has), uid: st.uid, writable,
        src: fs.existsSync('/app/src'), test: fs.existsSync('/app/test') }));`;
    const r = ok(
      await podman([
        'run',
        '--rm',
        '--network',
        'none',
        ...HARDENED,
        '--entrypoint',
        'node',
        IMAGE,
        '-e',
        script,
      ]),
      'inspect node_modules',
    );
    expect(JSON.parse(r.stdout)).toEqual({
      dev: [],
      prod: ['fastify', 'bullmq', 'ioredis', 'ldapts', 'commander', 'zod'],
      uid: 0,
      writable: false,
      src: false,
      test: false,
    });
  });

  it('runs the whole demo as uid 1000, read-only, without capabilities or network', async () => {
    const r = ok(await podman(['run', '--rm', '--network', 'none', ...HARDENED, IMAGE, 'demo']), 'demo');
    expect(r.stdout).toMatch(/applied \d+, already in place \d+, skipped 0, failed 0/);
    expect(r.stdout).toContain('No changes: Devin now matches the directory.');
    expect(r.stdout).toContain('/tmp/idsync-demo-report/plan.html');
  }, 180_000);

  describe('the daemon (`run`) against redis-server and the simulator on loopback', () => {
    let redis: TestRedis;
    let sim: RunningSimulator;
    let dir: string;
    let port: number;
    const name = `idsync-image-test-${process.pid}`;

    beforeAll(async () => {
      const demo = join(ROOT, 'config', 'demo');
      redis = await startRedis();
      sim = await startSimulator({ seed: await loadSeedFile(join(demo, 'devin-seed.json')) });
      port = await freePort();
      dir = mkdtempSync(join(tmpdir(), 'idsync-image-daemon-'));
      writeFileSync(join(dir, 'directory.json'), readFileSync(join(demo, 'directory.json')));
      const yaml = `${readFileSync(join(demo, 'idsync.yaml'), 'utf8')
        .replace('http://127.0.0.1:0', sim.url)
        .replace('./.idsync/state.json', '/tmp/state.json')}
redis:
  url: ${redis.url}
server:
  host: 127.0.0.1
  port: ${port}
mode: auto
`;
      writeFileSync(join(dir, 'idsync.yaml'), yaml);
      // Mounted read-only; the container's uid 1000 has to read it.
      chmodSync(dir, 0o755);
      for (const f of ['directory.json', 'idsync.yaml']) chmodSync(join(dir, f), 0o644);
    }, 60_000);

    afterAll(async () => {
      await podman(['rm', '--force', '--time', '0', name]);
      await sim?.close();
      await redis?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const get = async (path: string) => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
        return { status: res.status, text: await res.text() };
      } catch {
        return { status: 0, text: '' };
      }
    };

    async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!(await probe())) {
        if (Date.now() > deadline) {
          const logs = await podman(['logs', '--tail', '40', name]);
          throw new Error(`${what} within ${timeoutMs} ms; container log:\n${logs.stdout}${logs.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    it('syncs at startup, answers /healthz, /readyz and /metrics, runs under tini and stops on SIGTERM with 0', async () => {
      ok(
        await podman([
          'run',
          '--detach',
          '--name',
          name,
          '--network',
          'host',
          ...HARDENED,
          '-v',
          `${dir}:/config:ro`,
          '-e',
          'IDSYNC_CONFIG=/config/idsync.yaml',
          IMAGE,
        ]),
        'podman run (daemon)',
      );
      await until('/healthz answered 200', async () => (await get('/healthz')).status === 200);
      expect(JSON.parse((await get('/healthz')).text)).toEqual({ status: 'ok' });
      await until('/readyz answered 200', async () => (await get('/readyz')).status === 200);
      expect(JSON.parse((await get('/readyz')).text)).toMatchObject({ status: 'ready' });
      // The startup run went through: the demo company synced from inside the container.
      await until('a succeeded startup run in /metrics', async () =>
        /idsync_runs_total\{trigger="startup",outcome="succeeded"\} 1/.test((await get('/metrics')).text),
      );
      const metrics = await get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^# TYPE idsync_ops_total counter/m);

      const pid1 = ok(await podman(['exec', name, 'cat', '/proc/1/comm']), 'exec').stdout.trim();
      expect(pid1).toBe('tini');

      ok(await podman(['stop', '--time', '30', name]), 'podman stop');
      const exit = ok(await podman(['inspect', '--format', '{{.State.ExitCode}}', name]), 'inspect');
      expect(exit.stdout.trim()).toBe('0');
      expect(ok(await podman(['logs', name]), 'logs').stdout).toMatch(/"msg":"stopped"/);
    }, 180_000);
  });
});

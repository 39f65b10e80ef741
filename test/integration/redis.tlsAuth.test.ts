// Redis as IT runs it (issue 10): TLS and a password. A real redis-server listening only on a TLS
// port (certificates made here with openssl, `--tls-auth-clients no`: no client certificate), with
// `requirepass` for the default user and an ACL user `idsync`. idsync connects with username +
// passwordFile + caFile (the daemon runs a sync over it, `idsync state export` reads the ledger),
// and refuses a server whose certificate its CA did not sign, a missing CA, a wrong password, and
// a config that also puts a password in the URL. No password ever shows in a message.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import type { RedisSettings } from '../../src/config/types.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { createRedis } from '../../src/daemon/redisOptions.js';
import { silentLogger } from '../../src/log/logger.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import {
  appliedTwice,
  appliedWrites,
  company,
  spawnIdsync,
  waitFor,
  writeConfig,
} from '../support/daemonRig.js';
import { freePort } from '../support/redis.js';

const DEFAULT_PASSWORD = 'default-user-pass-0c4d2e';
const ACL_PASSWORD = 'acl-user-pass-9a71f3';
const scenario = company(300);

let dir: string;
let port: number;
let server: ChildProcess;
const serverLog: string[] = [];

/** `line` is split at spaces (no argument here has one). */
function openssl(line: string): void {
  execFileSync('openssl', line.split(' '), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

/** A CA (`<name>.crt`, `<name>.key`), P-256 for speed. */
function makeCa(name: string): void {
  openssl(`req -x509 ${EC} -keyout ${name}.key -out ${name}.crt -days 2 -subj /CN=${name}`);
}

/** The settings of a rediss:// connection to the test server; `over` replaces some. */
function settings(over: Partial<RedisSettings> = {}): RedisSettings {
  return {
    url: `rediss://127.0.0.1:${port}`,
    username: 'idsync',
    password: ACL_PASSWORD,
    tls: true,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    keepRuns: 5,
    ...over,
  };
}

/** One CLI-kind connection (no reconnect): WHOAMI, or the error. */
async function whoami(s: RedisSettings): Promise<string> {
  const r = createRedis(s, 'cli', { lazyConnect: true });
  // The reason (TLS, WRONGPASS) comes as an 'error' event; connect() only says the connection closed.
  let reason: Error | undefined;
  r.on('error', (err: Error) => {
    reason = err;
  });
  try {
    await r.connect();
    return String(await r.call('ACL', 'WHOAMI'));
  } catch (err) {
    throw reason ?? err;
  } finally {
    r.disconnect();
  }
}

/** The config file of this server: url, then whatever `extra` adds to the redis block. */
function configWith(name: string, url: string, extra: string[], sim = 'http://127.0.0.1:1'): string {
  const sub = join(dir, name);
  execFileSync('mkdir', ['-p', sub]);
  const file = writeConfig({ dir: sub, simUrl: sim, redisUrl: url, orgs: scenario.orgs }, scenario.directory);
  const text = readFileSync(file, 'utf8');
  const replaced = text.replace(/^(redis:\n {2}url: .*\n)/m, `$1${extra.map((l) => `  ${l}\n`).join('')}`);
  expect(replaced).not.toBe(text);
  writeFileSync(file, replaced);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idsync-redis-tls-'));
  makeCa('ca');
  makeCa('other-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(`req ${EC} -keyout server.key -out server.csr -subj /CN=localhost`);
  openssl(
    'x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext',
  );
  writeFileSync(join(dir, 'acl-password'), `${ACL_PASSWORD}\n`);
  writeFileSync(join(dir, 'default-password'), `${DEFAULT_PASSWORD}\n`);
  writeFileSync(join(dir, 'wrong-password'), 'not-the-password\n');

  port = await freePort();
  server = spawn(
    'redis-server',
    [
      ...`--port 0 --tls-port ${port} --bind 127.0.0.1 --tls-auth-clients no --appendonly no`.split(' '),
      ...['--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key')],
      ...['--tls-ca-cert-file', join(dir, 'ca.crt'), '--dir', dir, '--save', ''],
      ...['--requirepass', DEFAULT_PASSWORD],
      // An ACL user with every permission, next to the default user's requirepass.
      ...['--user', 'idsync', 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const s of [server.stdout, server.stderr]) s?.on('data', (b: Buffer) => serverLog.push(b.toString()));
  await waitFor(
    async () => {
      if (server.exitCode !== null) throw new Error(`redis-server exited: ${serverLog.join('')}`);
      return (await whoami(settings()).catch(() => undefined)) === 'idsync' ? true : undefined;
    },
    'redis-server to answer over TLS',
    30_000,
    100,
  );
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await gone;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Redis with TLS and a password', () => {
  it('connects with username + passwordFile + caFile from the config, and as the default user with requirepass', async () => {
    const acl = await loadConfig(
      configWith('acl', `rediss://127.0.0.1:${port}`, [
        'username: idsync',
        'passwordFile: ../acl-password',
        'caFile: ../ca.crt',
      ]),
    );
    expect(acl.redis).toMatchObject({ tls: true, username: 'idsync', password: ACL_PASSWORD });
    expect(JSON.stringify(acl)).not.toContain(ACL_PASSWORD);
    expect(await whoami(acl.redis as RedisSettings)).toBe('idsync');

    const dflt = await loadConfig(
      configWith('default', `rediss://127.0.0.1:${port}/1`, [
        'passwordFile: ../default-password',
        'caFile: ../ca.crt',
      ]),
    );
    expect(await whoami(dflt.redis as RedisSettings)).toBe('default');
  });

  it('refuses a server certificate its CA did not sign, a missing CA (system CAs only) and a wrong password', async () => {
    const other = readFileSync(join(dir, 'other-ca.crt'), 'utf8');
    const wrongCa = await whoami(settings({ ca: other })).catch((e: Error) => e);
    expect(wrongCa).toBeInstanceOf(Error);
    expect(String((wrongCa as Error).message)).toMatch(/certificate|self.signed|unable to verify/i);

    const { ca: _, ...systemCas } = settings();
    const noCa = await whoami(systemCas).catch((e: Error) => e);
    expect(String((noCa as Error).message)).toMatch(/certificate|self.signed|unable to verify/i);

    const wrongPassword = await whoami(settings({ password: 'not-the-password' })).catch((e: Error) => e);
    expect(String((wrongPassword as Error).message)).toMatch(/WRONGPASS/);

    // Plain redis:// to a TLS port: no answer that passes for Redis.
    const plain = await whoami(
      settings({ url: `redis://127.0.0.1:${port}`, tls: false, ca: undefined }),
    ).catch((e: Error) => e);
    expect(plain).toBeInstanceOf(Error);
    for (const e of [wrongCa, noCa, wrongPassword, plain]) {
      expect(String((e as Error).message)).not.toContain(ACL_PASSWORD);
    }
  }, 60_000);

  it('refuses at load a URL that carries a password next to passwordFile, and caFile with redis://', async () => {
    const file = configWith('both', `rediss://:${ACL_PASSWORD}@127.0.0.1:${port}`, [
      'passwordFile: ../acl-password',
    ]);
    const err = await loadConfig(file).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as Error).message;
    expect(text).toMatch(
      /idsync\.yaml:\d+:\d+: redis\.url: expected a URL without a password when passwordFile is set/,
    );
    expect(text).not.toContain(ACL_PASSWORD);

    const plain = configWith('plainCa', `redis://127.0.0.1:${port}`, ['caFile: ../ca.crt']);
    const err2 = await loadConfig(plain).catch((e: Error) => e);
    expect((err2 as Error).message).toMatch(
      /idsync\.yaml:\d+:\d+: redis\.caFile: expected caFile only with a rediss:\/\/ URL \(TLS\), found a redis:\/\/ URL/,
    );
  });

  describe('the daemon over TLS + ACL user', () => {
    let sim: RunningSimulator;
    let daemon: Daemon | undefined;
    let file: string;
    afterAll(async () => {
      await daemon?.close();
      await sim?.close();
    });

    it('runs a sync to the end (BullMQ queues, workers, run records, ledger), and `idsync state export` reads its ledger', async () => {
      sim = await startSimulator({ seed: scenario.seed });
      file = configWith(
        'daemon',
        `rediss://127.0.0.1:${port}/2`,
        ['username: idsync', 'passwordFile: ../acl-password', 'caFile: ../ca.crt'],
        sim.url,
      );
      const d = await startDaemon({
        config: await loadConfig(file),
        logger: silentLogger,
        workers: true,
        scheduler: false,
        tuning: { prefix: 'tls' },
      });
      daemon = d;
      const { runId } = await d.service.trigger({ trigger: 'api' });
      const record = await waitFor(
        async () => {
          const r = await d.store.get(runId);
          return r && ['succeeded', 'partial', 'failed', 'blocked'].includes(r.status) ? r : undefined;
        },
        'the run to finish',
        120_000,
        200,
      );
      expect(record.status, record.error ?? JSON.stringify(record.failedOps?.slice(0, 3))).toBe('succeeded');
      const writes = appliedWrites(sim.requests());
      expect(appliedTwice(writes.byPath)).toEqual([]);
      expect(writes.total).toBe(scenario.total);
      // The HTTP edge's own connection, with the same options.
      const listed = await waitFor(
        async () => await d.edge.runs.list(5).catch(() => undefined),
        'the HTTP edge to connect',
        30_000,
        100,
      );
      expect(listed.map((r) => r.id)).toContain(runId);

      const out = join(dir, 'daemon', 'exported.json');
      const cli = spawnIdsync(['state', 'export', '--config', file, '--prefix', 'tls', '--to', out]);
      const code = await cli.exited;
      expect(code, cli.lines.join('\n')).toBe(0);
      const ledger = JSON.parse(readFileSync(out, 'utf8')) as { users: unknown[] };
      expect(ledger.users.length).toBe(300);
      expect(cli.lines.join('\n')).not.toContain(ACL_PASSWORD);
    }, 240_000);

    it('`idsync state export` with the wrong CA fails without printing the password', async () => {
      const bad = configWith('badCa', `rediss://127.0.0.1:${port}/2`, [
        'username: idsync',
        'passwordFile: ../acl-password',
        'caFile: ../other-ca.crt',
      ]);
      const cli = spawnIdsync([
        'state',
        'export',
        '--config',
        bad,
        '--prefix',
        'tls',
        '--to',
        join(dir, 'x.json'),
      ]);
      const code = await cli.exited;
      expect(code).not.toBe(0);
      const text = cli.lines.join('\n');
      expect(text).toMatch(/certificate|self.signed|unable to verify/i);
      expect(text).not.toContain(ACL_PASSWORD);
    }, 60_000);
  });
});

// A private slapd for bench/ldap-read: cn=config built offline with
// `slapadd -n0`, the data loaded offline with `slapadd -q` (about 12x faster than ldapadd for 100k
// users), then slapd on a free 127.0.0.1 port in its own process group. Bench-local on purpose:
// it needs preload and nothing else, and must not depend on the test harness's options.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { SUFFIX } from './generate.js';

export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PW = 'admin';

export interface BenchSlapd {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** syncprov: the overlay replication providers run; the suffix then has contextCSN (bench/watermark). */
export interface PreloadOptions {
  syncprov?: boolean;
}

function configLdif(dir: string, o: PreloadOptions = {}): string {
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${dir}/slapd.pid
olcArgsFile: ${dir}/slapd.args

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
${o.syncprov ? 'olcModuleLoad: syncprov\n' : ''}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${SUFFIX}
olcRootDN: ${ROOT_DN}
olcRootPW: ${ROOT_PW}
olcDbDirectory: ${dir}/data
olcDbMaxSize: 17179869184
olcDbNoSync: TRUE
olcSizeLimit: unlimited
olcDbIndex: objectClass eq
olcDbIndex: entryUUID eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbIndex: memberOf eq
${o.syncprov ? 'olcDbIndex: entryCSN eq\n' : ''}olcAccess: {0}to attrs=userPassword by self =xw by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
${
  o.syncprov
    ? `
dn: olcOverlay={1}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {1}syncprov
`
    : ''
}`;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : (err.message.split('\n')[0] ?? '');
          reject(
            new Error(`${cmd} ${args.join(' ')}: ${why}\n${stderr.trim().split('\n').slice(-10).join('\n')}`),
          );
        } else resolve(stdout);
      },
    );
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Builds cn=config and loads `ldif` offline. Returns the slapadd wall time. */
export async function preload(
  dir: string,
  ldif: string,
  options: PreloadOptions = {},
): Promise<{ configMs: number; slapaddMs: number }> {
  const conf = join(dir, 'slapd.d');
  await mkdir(conf, { recursive: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'config.ldif'), configLdif(dir, options));
  let t = performance.now();
  await run('slapadd', ['-n0', '-F', conf, '-l', join(dir, 'config.ldif')], 30_000);
  const configMs = performance.now() - t;
  t = performance.now();
  await run('slapadd', ['-q', '-F', conf, '-b', SUFFIX, '-l', ldif], 600_000);
  return { configMs, slapaddMs: performance.now() - t };
}

export async function startSlapd(dir: string, timeoutMs = 30_000): Promise<BenchSlapd> {
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const log = openSync(join(dir, 'slapd.log'), 'a');
  const child = spawn('/usr/sbin/slapd', ['-d', '0', '-F', join(dir, 'slapd.d'), '-h', `${url}/`], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawning /usr/sbin/slapd failed');
  const killOnExit = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killOnExit);
  const slapd: BenchSlapd = {
    url,
    pid,
    stop: async () => {
      process.off('exit', killOnExit);
      await stop(child);
    },
  };
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    if (child.exitCode !== null) {
      await slapd.stop();
      throw new Error(
        `slapd exited with ${child.exitCode}:\n${readFileSync(join(dir, 'slapd.log'), 'utf8').slice(-2000)}`,
      );
    }
    const client = new Client({ url, timeout: 2_000, connectTimeout: 2_000 });
    try {
      await client.bind(ROOT_DN, ROOT_PW);
      return slapd;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    } finally {
      await client.unbind().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await slapd.stop();
  throw new Error(`slapd at ${url} did not answer a bind within ${timeoutMs} ms (last error: ${last})`);
}

async function stop(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

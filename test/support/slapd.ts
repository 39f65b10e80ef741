// A private OpenLDAP slapd for tests and `npm run dev:ldap`: its own temp directory, free ports on
// 127.0.0.1, cn=config built offline with `slapadd -n0`, an mdb database with the memberof and
// refint overlays, and (by default) TLS with a CA generated for the run, so StartTLS on the ldap://
// port and ldaps:// both work. A second, unrelated CA is generated for "wrong CA" tests.
//
// Data goes in two ways: `preload` is loaded offline with `slapadd -q` before start (fast, but the
// overlays do not run, so memberOf must be in the LDIF), and `add()` runs ldapadd against the live
// server (overlays run). Every wait is bounded; stop() removes the directory; a process exit kills
// any server still running.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { makeServerTls } from './tls.js';

export interface SlapdOptions {
  /** Default dc=example,dc=com. Must start with a dc= RDN. */
  suffix?: string;
  /** Generate a CA and a server certificate; enables StartTLS and an ldaps:// listener. Default true. */
  tls?: boolean;
  /** olcSizeLimit of the database, e.g. `size.soft=500 size.hard=500 size.prtotal=unlimited`. Default unlimited. */
  sizeLimit?: string;
  /** olcLimits values, e.g. `dn.exact="uid=x,ou=system,dc=example,dc=com" size=500`. */
  limits?: string[];
  /**
   * olcAccess rules placed before the defaults (userPassword for self/auth, then `to * by users
   * read`), without their {n} prefix, e.g. `to dn.exact="cn=x,ou=groups,dc=example,dc=com"
   * attrs=member by dn.exact="uid=idsync,ou=system,dc=example,dc=com" none by * break`.
   */
  acls?: string[];
  /**
   * Load the ppolicy overlay (its schema is built into the 2.5 module) with this DN as the default
   * policy. The policy entry itself is data: add it (see ppolicyEntryLdif) before relying on it.
   */
  ppolicyDefault?: string;
  /**
   * Load the syncprov overlay (what a replication provider runs): the suffix then offers
   * contextCSN, the watermark idsync's watch polls (src/directory/ldap/watermark.ts).
   */
  syncprov?: boolean;
  /** LDIF loaded with `slapadd -q` before start, after the suffix entry. */
  preload?: string;
  /** Fixed ports (dev server); default: free ports. */
  port?: number;
  ldapsPort?: number;
  /** Where the instance lives; default a fresh temp directory. Emptied first when given. */
  dir?: string;
  rootPassword?: string;
  startTimeoutMs?: number;
}

export interface Slapd {
  dir: string;
  /** ldap://127.0.0.1:port (StartTLS available when tls is on). */
  url: string;
  /** ldaps://127.0.0.1:port, when tls is on. */
  ldapsUrl?: string;
  ldapiUrl: string;
  suffix: string;
  rootDN: string;
  rootPassword: string;
  /** The CA that issued the server certificate, and an unrelated one. */
  caFile?: string;
  caPem?: string;
  wrongCaFile?: string;
  wrongCaPem?: string;
  readonly pid: number;
  /** ldapadd as the rootdn: the overlays run. */
  add(ldif: string): Promise<void>;
  /** ldapmodify as the rootdn. */
  modify(ldif: string): Promise<void>;
  /** ldapmodify on cn=config over ldapi:// with SASL EXTERNAL. */
  configure(ldif: string): Promise<void>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and data (killing it first if it still runs). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

const MODULE_DIRS = ['/usr/lib/ldap', '/usr/lib/x86_64-linux-gnu/ldap', '/usr/lib/aarch64-linux-gnu/ldap'];
const SCHEMA_DIR = '/etc/ldap/schema';
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const INSTALL = 'apt-get install -y slapd ldap-utils openssl';

function findProgram(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`${name} is not installed; the LDAP tests need a real slapd: ${INSTALL}`);
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program with a bounded wait; rejects with its stderr on a non-zero exit. */
export function run(
  program: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} took longer than ${options.timeoutMs ?? 30_000} ms`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${program} exited with ${code}: ${stderr.trim() || stdout.trim()}`));
    });
    child.stdin.on('error', () => {
      // the program exited before reading all input; its exit code tells the story
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A free TCP port on 127.0.0.1 (released again before slapd binds it; start() retries on a clash). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---- LDIF ---------------------------------------------------------------------------------------

/** RFC 2849: a value that is not a SAFE-STRING goes base64 (`attr:: ...`). */
function ldifLine(attr: string, value: string): string {
  let unsafe = value.startsWith(' ') || value.startsWith(':') || value.startsWith('<') || value.endsWith(' ');
  for (let i = 0; !unsafe && i < value.length; i++) {
    const c = value.charCodeAt(i);
    unsafe = c === 0 || c === 10 || c === 13 || c > 0x7f;
  }
  return unsafe ? `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}` : `${attr}: ${value}`;
}

export type LdifAttrs = Record<string, string | readonly string[] | undefined>;

/** One LDIF record (an add), values base64-encoded where LDIF needs it. */
export function ldifEntry(dn: string, attrs: LdifAttrs): string {
  const lines = [ldifLine('dn', dn)];
  for (const [attr, value] of Object.entries(attrs)) {
    if (value === undefined) continue;
    for (const v of typeof value === 'string' ? [value] : value) lines.push(ldifLine(attr, v));
  }
  return `${lines.join('\n')}\n\n`;
}

// ---- TLS material -------------------------------------------------------------------------------

async function makeTls(dir: string): Promise<{ ca: string; cert: string; key: string; wrongCa: string }> {
  const t = await makeServerTls(dir);
  return { ca: t.caFile, cert: t.certFile, key: t.keyFile, wrongCa: t.wrongCaFile };
}

// ---- cn=config ----------------------------------------------------------------------------------

function moduleDir(): string {
  const found = MODULE_DIRS.find(
    (d) => existsSync(join(d, 'back_mdb.la')) || existsSync(join(d, 'back_mdb.so')),
  );
  if (!found) throw new Error(`slapd modules (back_mdb) not found in ${MODULE_DIRS.join(', ')}: ${INSTALL}`);
  return found;
}

async function configLdif(
  dir: string,
  o: Required<Pick<SlapdOptions, 'suffix' | 'sizeLimit' | 'limits' | 'rootPassword' | 'acls'>> &
    Pick<SlapdOptions, 'ppolicyDefault' | 'syncprov'>,
  tls: { ca: string; cert: string; key: string } | undefined,
): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const schemas = await Promise.all(
    ['core', 'cosine', 'nis', 'inetorgperson'].map((s) => readFile(join(SCHEMA_DIR, `${s}.ldif`), 'utf8')),
  );
  const global = [
    'dn: cn=config',
    'objectClass: olcGlobal',
    'cn: config',
    `olcPidFile: ${join(dir, 'slapd.pid')}`,
    `olcArgsFile: ${join(dir, 'slapd.args')}`,
    ...(tls
      ? [
          `olcTLSCACertificateFile: ${tls.ca}`,
          `olcTLSCertificateFile: ${tls.cert}`,
          `olcTLSCertificateKeyFile: ${tls.key}`,
        ]
      : []),
    '',
    'dn: cn=module{0},cn=config',
    'objectClass: olcModuleList',
    'cn: module{0}',
    `olcModulePath: ${moduleDir()}`,
    'olcModuleLoad: back_mdb',
    'olcModuleLoad: memberof',
    'olcModuleLoad: refint',
    ...(o.ppolicyDefault === undefined ? [] : ['olcModuleLoad: ppolicy']),
    ...(o.syncprov ? ['olcModuleLoad: syncprov'] : []),
    '',
    'dn: cn=schema,cn=config',
    'objectClass: olcSchemaConfig',
    'cn: schema',
    '',
  ].join('\n');
  const rest = [
    'dn: olcDatabase={-1}frontend,cn=config',
    'objectClass: olcDatabaseConfig',
    'objectClass: olcFrontendConfig',
    'olcDatabase: {-1}frontend',
    '',
    'dn: olcDatabase={0}config,cn=config',
    'objectClass: olcDatabaseConfig',
    'olcDatabase: {0}config',
    `olcAccess: {0}to * by dn.exact=gidNumber=${gid}+uidNumber=${uid},cn=peercred,cn=external,cn=auth manage by * break`,
    '',
    'dn: olcDatabase={1}mdb,cn=config',
    'objectClass: olcDatabaseConfig',
    'objectClass: olcMdbConfig',
    'olcDatabase: {1}mdb',
    `olcDbDirectory: ${join(dir, 'data')}`,
    `olcSuffix: ${o.suffix}`,
    `olcRootDN: cn=admin,${o.suffix}`,
    `olcRootPW: ${o.rootPassword}`,
    'olcDbMaxSize: 4294967296',
    'olcDbNoSync: TRUE',
    'olcDbIndex: objectClass eq',
    'olcDbIndex: entryUUID eq',
    'olcDbIndex: uid eq',
    'olcDbIndex: member,uniqueMember eq',
    'olcDbIndex: memberOf eq',
    'olcDbIndex: employeeType eq',
    ...(o.syncprov ? ['olcDbIndex: entryCSN eq'] : []),
    `olcSizeLimit: ${o.sizeLimit}`,
    ...o.limits.map((l, i) => `olcLimits: {${i}}${l}`),
    ...[
      ...o.acls,
      'to attrs=userPassword by self write by anonymous auth by * none',
      'to * by users read by * none',
    ].map((rule, i) => `olcAccess: {${i}}${rule}`),
    '',
    'dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config',
    'objectClass: olcOverlayConfig',
    'objectClass: olcMemberOf',
    'olcOverlay: {0}memberof',
    'olcMemberOfRefInt: TRUE',
    'olcMemberOfGroupOC: groupOfNames',
    'olcMemberOfMemberAD: member',
    'olcMemberOfMemberOfAD: memberOf',
    '',
    'dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config',
    'objectClass: olcOverlayConfig',
    'objectClass: olcRefintConfig',
    'olcOverlay: {1}refint',
    'olcRefintAttribute: member',
    'olcRefintAttribute: memberOf',
    `olcRefintNothing: cn=refint-placeholder,${o.suffix}`,
    '',
    ...(o.ppolicyDefault === undefined
      ? []
      : [
          'dn: olcOverlay={2}ppolicy,olcDatabase={1}mdb,cn=config',
          'objectClass: olcOverlayConfig',
          'objectClass: olcPPolicyConfig',
          'olcOverlay: {2}ppolicy',
          `olcPPolicyDefault: ${o.ppolicyDefault}`,
          '',
        ]),
    ...(o.syncprov
      ? [
          `dn: olcOverlay={${o.ppolicyDefault === undefined ? 2 : 3}}syncprov,olcDatabase={1}mdb,cn=config`,
          'objectClass: olcOverlayConfig',
          'objectClass: olcSyncProvConfig',
          `olcOverlay: {${o.ppolicyDefault === undefined ? 2 : 3}}syncprov`,
          '',
        ]
      : []),
  ].join('\n');
  return `${global}\n${schemas.join('\n')}\n${rest}`;
}

/**
 * A ppolicy policy entry (pwdPolicy is auxiliary; `device` carries it): lock after `maxFailure`
 * failed binds, for `lockoutDuration` seconds (0 = until an administrator unlocks).
 */
export function ppolicyEntryLdif(dn: string, maxFailure: number, lockoutDuration: number): string {
  const cn = /^cn=([^,]+)/i.exec(dn)?.[1];
  if (!cn) throw new Error(`a policy DN must start with cn=, found ${dn}`);
  return ldifEntry(dn, {
    objectClass: ['top', 'device', 'pwdPolicy'],
    cn,
    pwdAttribute: 'userPassword',
    pwdLockout: 'TRUE',
    pwdMaxFailure: String(maxFailure),
    pwdLockoutDuration: String(lockoutDuration),
    pwdFailureCountInterval: '0',
  });
}

function suffixLdif(suffix: string): string {
  const dc = /^dc=([^,]+)/i.exec(suffix)?.[1];
  if (!dc) throw new Error(`the test suffix must start with dc=, found ${suffix}`);
  return ldifEntry(suffix, { objectClass: ['top', 'dcObject', 'organization'], dc, o: dc });
}

// ---- running ------------------------------------------------------------------------------------

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

async function waitReady(
  child: ChildProcess,
  url: string,
  rootDN: string,
  pw: string,
  ms: number,
  log: () => string,
) {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`slapd exited during start-up (${child.exitCode ?? child.signalCode}): ${log()}`);
    }
    const client = new Client({ url, timeout: 1000, connectTimeout: 1000 });
    try {
      await client.bind(rootDN, pw);
      return;
    } catch (err) {
      last = err;
    } finally {
      await client.unbind().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`slapd did not answer within ${ms} ms (${String(last)}): ${log()}`);
}

/**
 * A test runner may end a worker with a signal, and then no 'exit' hook runs: a detached shell
 * kills slapd within a second of this process going away, so no server outlives its test run.
 */
function watchdog(pid: number | undefined, removeDir: string | undefined): void {
  if (pid === undefined) return;
  const cleanup =
    removeDir === undefined
      ? ''
      : `; if ! kill -0 ${process.pid} 2>/dev/null; then rm -rf '${removeDir}'; fi`;
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null${cleanup}`;
  const dog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  dog.unref();
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a private slapd. Throws (with slapd's own output) when it cannot. */
export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const slapd = findProgram('slapd');
  const slapadd = findProgram('slapadd');
  const ldapadd = findProgram('ldapadd');
  const ldapmodify = findProgram('ldapmodify');
  const suffix = options.suffix ?? 'dc=example,dc=com';
  const rootPassword = options.rootPassword ?? 'admin-secret';
  const rootDN = `cn=admin,${suffix}`;
  const useTls = options.tls ?? true;

  let dir: string;
  if (options.dir) {
    dir = options.dir;
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  } else {
    dir = await mkdtemp(join(tmpdir(), 'idsync-slapd-'));
  }
  try {
    const tls = useTls ? await makeTls(join(dir, 'tls')) : undefined;
    await mkdir(join(dir, 'slapd.d'));
    await mkdir(join(dir, 'data'));
    const cfg = await configLdif(
      dir,
      {
        suffix,
        rootPassword,
        sizeLimit: options.sizeLimit ?? 'unlimited',
        limits: options.limits ?? [],
        acls: options.acls ?? [],
        ...(options.ppolicyDefault === undefined ? {} : { ppolicyDefault: options.ppolicyDefault }),
        ...(options.syncprov ? { syncprov: true } : {}),
      },
      tls,
    );
    await writeFile(join(dir, 'config.ldif'), cfg);
    await run(slapadd, ['-n0', '-F', join(dir, 'slapd.d'), '-l', join(dir, 'config.ldif')]);
    await writeFile(join(dir, 'data.ldif'), suffixLdif(suffix) + (options.preload ?? ''));
    await run(slapadd, ['-q', '-b', suffix, '-F', join(dir, 'slapd.d'), '-l', join(dir, 'data.ldif')], {
      timeoutMs: 120_000,
    });

    const socket = join(dir, 'ldapi');
    const ldapiUrl = `ldapi://${encodeURIComponent(socket)}`;
    const startTimeoutMs = options.startTimeoutMs ?? 15_000;
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      const ldapsPort = useTls ? (options.ldapsPort ?? (await freePort())) : undefined;
      const url = `ldap://127.0.0.1:${port}`;
      const ldapsUrl = ldapsPort === undefined ? undefined : `ldaps://127.0.0.1:${ldapsPort}`;
      const listeners = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : []), ldapiUrl].join(' ');
      const launch = async (): Promise<ChildProcess> => {
        const child = spawn(slapd, ['-d', '0', '-F', join(dir, 'slapd.d'), '-h', listeners], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        installExitHook();
        running.add(child);
        child.once('exit', () => running.delete(child));
        watchdog(child.pid, options.dir === undefined ? dir : undefined);
        let log = '';
        child.stderr?.on('data', (d: Buffer) => {
          log = (log + d.toString()).slice(-4000);
        });
        try {
          await waitReady(child, url, rootDN, rootPassword, startTimeoutMs, () => log);
        } catch (err) {
          child.kill('SIGKILL');
          await exited(child);
          throw Object.assign(err as Error, { portClash: /errno=98|Address already in use/i.test(log) });
        }
        return child;
      };
      let child: ChildProcess;
      try {
        child = await launch();
      } catch (err) {
        const clash = (err as { portClash?: boolean }).portClash === true;
        if (clash && attempt < 4 && options.port === undefined) continue;
        throw err;
      }
      const tool = (program: string, args: string[], input: string) =>
        run(program, args, { input, timeoutMs: 60_000 }).then(() => undefined);
      const alive = () => child.exitCode === null && child.signalCode === null;
      let stopped = false;
      const instance: Slapd = {
        dir,
        url,
        ...(ldapsUrl ? { ldapsUrl } : {}),
        ldapiUrl,
        suffix,
        rootDN,
        rootPassword,
        ...(tls
          ? {
              caFile: tls.ca,
              caPem: await readFile(tls.ca, 'utf8'),
              wrongCaFile: tls.wrongCa,
              wrongCaPem: await readFile(tls.wrongCa, 'utf8'),
            }
          : {}),
        get pid() {
          return child.pid ?? 0;
        },
        add: (ldif) => tool(ldapadd, ['-x', '-H', url, '-D', rootDN, '-w', rootPassword], ldif),
        modify: (ldif) => tool(ldapmodify, ['-x', '-H', url, '-D', rootDN, '-w', rootPassword], ldif),
        configure: (ldif) => tool(ldapmodify, ['-Q', '-Y', 'EXTERNAL', '-H', ldapiUrl], ldif),
        kill: async (signal = 'SIGKILL') => {
          child.kill(signal);
          await exited(child);
        },
        restart: async () => {
          // A test that outlived its timeout must not bring back a server afterAll removed.
          if (stopped) throw new Error('restart() after stop()');
          if (alive()) {
            child.kill('SIGKILL');
            await exited(child);
          }
          child = await launch();
        },
        stop: async () => {
          stopped = true;
          if (alive()) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await exited(child);
            clearTimeout(timer);
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
      return instance;
    }
  } catch (err) {
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

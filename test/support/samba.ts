// A real Samba Active Directory DC for tests: provisioned into a temp dir,
// listening on its own 127.0.0.x (Samba's LDAP ports 389/636/3268/3269 are fixed, so each
// instance needs its own loopback address, and root), LDAPS with a CA generated here, seeded
// straight into sam.ldb with python3-samba in one transaction, and stopped by process group.
//
// Nothing is skipped: without root or without the Debian packages, startSambaDc() throws an error
// that says exactly what to run.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';

export const SAMBA_REALM = 'EXAMPLE.TEST';
export const SAMBA_DOMAIN = 'EXAMPLE';
export const SAMBA_BASE_DN = 'DC=example,DC=test';
export const SAMBA_ADMIN_DN = `CN=Administrator,CN=Users,${SAMBA_BASE_DN}`;
export const SAMBA_ADMIN_PASSWORD = 'Adm1nPass!2024';

/** The packages a DC needs. samba only *recommends* the last two, and provisioning fails without them. */
const SAMBA_PACKAGES = [
  'samba',
  'samba-dsdb-modules',
  'samba-ad-provision',
  'samba-vfs-modules',
  'python3-samba',
  'openssl',
];
export const SAMBA_INSTALL_COMMAND = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${SAMBA_PACKAGES.join(' ')}`;

/** TCP ports a DC with `server services = ldap, kdc` listens on; all must be free on the chosen address. */
const DC_PORTS = [389, 636, 3268, 3269, 88, 464];

/** Files whose absence means a package is missing (the binaries alone are not enough). */
const REQUIRED_FILES: Array<{ path: string; what: string }> = [
  { path: '/usr/sbin/samba', what: 'samba' },
  { path: '/usr/bin/samba-tool', what: 'samba-tool (samba-common-bin)' },
  { path: '/usr/bin/python3', what: '/usr/bin/python3' },
  { path: '/usr/share/samba/setup/provision.ldif', what: 'the provisioning templates (samba-ad-provision)' },
  { path: '/usr/bin/openssl', what: 'openssl' },
];

// ---------------------------------------------------------------------------------------------
// Seed data

/** An LDAP entry to add into sam.ldb. Attribute values are strings (UTF-8). */
export interface SeedEntry {
  dn: string;
  attributes: Record<string, string | string[]>;
}

/** Values added to a (linked) attribute after every entry exists, so groups can nest and cycle. */
export interface SeedLink {
  dn: string;
  attribute: string;
  values: string[];
}

export interface SambaSeed {
  entries: SeedEntry[];
  links?: SeedLink[];
  /**
   * Real passwords (Samba hashes each one, about 25 ms). The DC then drops PASSWD_NOTREQD (544 →
   * 512); an entry seeded with ACCOUNTDISABLE stays disabled.
   */
  passwords?: Array<{ dn: string; password: string }>;
}

export interface SeedResult {
  /** objectGUID of every seeded entry, keyed by the DN as given, as Samba itself prints it. */
  guids: Map<string, string>;
  /** Time spent inside the python transaction, and the whole call. */
  transactionMs: number;
  totalMs: number;
}

export const UAC = {
  ACCOUNTDISABLE: 0x2,
  PASSWD_NOTREQD: 0x20,
  NORMAL_ACCOUNT: 0x200,
  DONT_EXPIRE_PASSWORD: 0x10000,
} as const;

export function adOu(dn: string): SeedEntry {
  return { dn, attributes: { objectClass: 'organizationalUnit' } };
}

export interface AdUserInput {
  /** sAMAccountName, and the CN unless `cn` is given. */
  name: string;
  /** The RDN value as written in the DN, escaped (e.g. `Müller\\, Jörg`). */
  cn?: string;
  /** DN of the OU (or container) that holds the user. */
  parent: string;
  givenName?: string;
  sn?: string;
  displayName?: string;
  /** undefined → `<name>@example.test`; null → no mail attribute. */
  mail?: string | null;
  /** undefined → `<name>@example.test`; null → none. */
  userPrincipalName?: string | null;
  /** Default NORMAL_ACCOUNT | PASSWD_NOTREQD (544): enabled, no password needed to exist. */
  userAccountControl?: number;
  extra?: Record<string, string | string[]>;
}

export function adUser(u: AdUserInput): SeedEntry {
  const attributes: Record<string, string | string[]> = {
    objectClass: 'user',
    sAMAccountName: u.name,
    userAccountControl: String(u.userAccountControl ?? UAC.NORMAL_ACCOUNT | UAC.PASSWD_NOTREQD),
  };
  const upn = u.userPrincipalName === undefined ? `${u.name}@example.test` : u.userPrincipalName;
  if (upn !== null) attributes.userPrincipalName = upn;
  const mail = u.mail === undefined ? `${u.name}@example.test` : u.mail;
  if (mail !== null) attributes.mail = mail;
  if (u.givenName !== undefined) attributes.givenName = u.givenName;
  if (u.sn !== undefined) attributes.sn = u.sn;
  if (u.displayName !== undefined) attributes.displayName = u.displayName;
  return { dn: `CN=${u.cn ?? u.name},${u.parent}`, attributes: { ...attributes, ...u.extra } };
}

export function adGroup(
  name: string,
  parent: string,
  extra: Record<string, string | string[]> = {},
): SeedEntry {
  return {
    dn: `CN=${name},${parent}`,
    attributes: { objectClass: 'group', sAMAccountName: name, ...extra },
  };
}

// Reads a JSON seed, adds entries, then links, then passwords, in ONE sam.ldb transaction (about
// 3 ms an entry: 2,000 users in ~6 s, against ~25 s over LDAPS), and prints each entry's
// objectGUID as Samba's own GUID type formats it. Run with /usr/bin/python3 (python3-samba).
const SEED_PY = `import json, sys, time
import ldb
from samba.auth import system_session
from samba.dcerpc import misc
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB

conf, spec_path = sys.argv[1], sys.argv[2]
with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)
started = time.monotonic()
lp = LoadParm()
lp.load(conf)
samdb = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
samdb.transaction_start()
try:
    for e in spec["entries"]:
        msg = {"dn": e["dn"]}
        msg.update(e["attributes"])
        samdb.add(msg)
    for link in spec.get("links", []):
        m = ldb.Message()
        m.dn = ldb.Dn(samdb, link["dn"])
        m[link["attribute"]] = ldb.MessageElement(link["values"], ldb.FLAG_MOD_ADD, link["attribute"])
        samdb.modify(m)
    uac = {e["dn"]: int(e["attributes"].get("userAccountControl", "0")) for e in spec["entries"]}
    for p in spec.get("passwords", []):
        f = "(distinguishedName=%s)" % ldb.binary_encode(p["dn"])
        samdb.setpassword(f, p["password"])
        # setpassword() also enables the account: a seeded disabled user must stay disabled.
        if uac.get(p["dn"], 0) & 2:
            samdb.disable_account(f)
    samdb.transaction_commit()
except BaseException:
    samdb.transaction_cancel()
    raise
guids = {}
for e in spec["entries"]:
    res = samdb.search(base=e["dn"], scope=ldb.SCOPE_BASE, attrs=["objectGUID"])
    guids[e["dn"]] = str(ndr_unpack(misc.GUID, res[0]["objectGUID"][0]))
sys.stdout.write(json.dumps({"guids": guids, "ms": round((time.monotonic() - started) * 1000)}))
`;

// ---------------------------------------------------------------------------------------------
// The DC

export interface SambaTimings {
  provisionMs: number;
  tlsMs: number;
  passwordSettingsMs: number;
  /** From spawning samba until an LDAPS bind as Administrator succeeds. */
  startMs: number;
  totalMs: number;
}

export interface SambaDc {
  /** The loopback address this DC owns, e.g. 127.0.0.2. */
  ip: string;
  dir: string;
  smbConf: string;
  pid: number;
  baseDN: string;
  adminDN: string;
  adminUPN: string;
  adminPassword: string;
  /** `ldap://<ip>:389` (simple binds allowed: `ldap server require strong auth = no`). */
  ldapUrl: string;
  /** `ldaps://<ip>:636`, certificate signed by `caFile`. */
  ldapsUrl: string;
  /** The CA that signed the DC's certificate (SAN: dc1.example.test, localhost, the IP). */
  caFile: string;
  ca: string;
  /** A second, unrelated CA: for "wrong CA" tests. */
  otherCaFile: string;
  otherCa: string;
  timings: SambaTimings;
  seed(spec: SambaSeed, timeoutMs?: number): Promise<SeedResult>;
  /** `samba-tool <args> -s <smb.conf>`; returns stdout. */
  sambaTool(args: string[], timeoutMs?: number): Promise<string>;
  /**
   * Renames an entry in place (an LDAP ModifyDN, as Administrator over LDAPS), e.g. `CN=new-name`:
   * what "Rename" in ADUC does. The entry keeps its objectGUID; the old RDN value is dropped.
   */
  rename(dn: string, newRdn: string): Promise<void>;
  /** Deletes an entry (an LDAP Delete, as Administrator over LDAPS); AD keeps it as a tombstone. */
  remove(dn: string): Promise<void>;
  /** Stops samba (whole process group), frees the address, removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartSambaOptions {
  /** Force an address instead of the first free 127.0.0.x (x ≥ 2). */
  ip?: string;
  /** Bound on provisioning + start-up (default 90 s). */
  timeoutMs?: number;
}

/** Throws with the exact fix when this machine cannot run a DC; resolves otherwise. */
export function assertSambaAvailable(): void {
  const missing = REQUIRED_FILES.filter((f) => !existsSync(f.path));
  if (missing.length > 0) {
    throw new Error(
      `Samba AD DC tests need ${missing.map((m) => m.what).join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed. ` +
        `Install with:\n  ${SAMBA_INSTALL_COMMAND}\n(npm test runs scripts/ensure-test-deps.mjs first, which does this as root.)`,
    );
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(
      'Samba AD DC tests need root: the DC listens on the fixed privileged ports 389, 636, 3268 and 88. ' +
        'Run the test suite as root (CI does).',
    );
  }
}

export async function startSambaDc(options: StartSambaOptions = {}): Promise<SambaDc> {
  assertSambaAvailable();
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? 90_000);
  const remaining = () => Math.max(1_000, Math.round(deadline - performance.now()));

  const dir = await mkdtemp(join(tmpdir(), 'idsync-samba-'));
  const claim = options.ip ? claimAddress(options.ip) : await claimFreeAddress();
  if (!claim) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      options.ip
        ? `Samba AD DC: ${options.ip} is in use (ports ${DC_PORTS.join(', ')} or another test's lock)`
        : `Samba AD DC: no 127.0.0.x address with ports ${DC_PORTS.join(', ')} free`,
    );
  }
  const ip = claim.ip;
  let child: ChildProcess | undefined;
  let killOnExit: (() => void) | undefined;
  const cleanup = async () => {
    if (child?.pid !== undefined) await killGroup(child);
    if (killOnExit) process.off('exit', killOnExit);
    claim.release();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const env = cleanEnv();
    // 1. Provision (about 5 s).
    let t = performance.now();
    await run(
      'samba-tool',
      [
        'domain',
        'provision',
        `--realm=${SAMBA_REALM}`,
        `--domain=${SAMBA_DOMAIN}`,
        '--server-role=dc',
        '--dns-backend=NONE',
        '--backend-store=tdb',
        `--adminpass=${SAMBA_ADMIN_PASSWORD}`,
        `--targetdir=${dir}`,
        '--host-name=dc1',
        `--host-ip=${ip}`,
        `--option=interfaces=${ip}/8`,
        '--option=bind interfaces only=yes',
      ],
      { env, cwd: dir, timeoutMs: remaining() },
    );
    const provisionMs = performance.now() - t;

    // 2. Our own CA and server certificate, plus an unrelated CA for negative tests.
    t = performance.now();
    const tls = join(dir, 'tls');
    await makeCertificates(tls, ip, env, remaining());
    const tlsMs = performance.now() - t;

    // 3. smb.conf: only what a DC for LDAP needs, every path inside the instance dir.
    const smbConf = join(dir, 'etc', 'smb.conf');
    await writeFile(smbConf, smbConfText(dir, ip));

    // 4. Password policy off, so seeded passwords can be short and never expire.
    t = performance.now();
    await run(
      'samba-tool',
      [
        'domain',
        'passwordsettings',
        'set',
        '-s',
        smbConf,
        '--complexity=off',
        '--history-length=0',
        '--min-pwd-age=0',
        '--max-pwd-age=0',
        '--min-pwd-length=1',
      ],
      { env, cwd: dir, timeoutMs: remaining() },
    );
    const passwordSettingsMs = performance.now() - t;

    // 5. Start in its own process group (setsid), so stop() can kill every forked worker.
    t = performance.now();
    const out = openSync(join(dir, 'log', 'samba.out'), 'a');
    child = spawn('/usr/sbin/samba', ['-F', '--no-process-group', '-s', smbConf], {
      cwd: dir,
      env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const pid = child.pid;
    if (pid === undefined) throw new Error('Samba AD DC: spawning /usr/sbin/samba failed');
    // A test process that exits without stop() (a crash, a forgotten afterAll) takes the DC along.
    killOnExit = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
      claim.release();
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort: a dying worker may still be writing
      }
    };
    process.once('exit', killOnExit);
    const ca = await readFile(join(tls, 'ca.pem'), 'utf8');
    const ldapsUrl = `ldaps://${ip}:636`;
    await waitForLdaps(child, ldapsUrl, ca, dir, remaining());
    const startMs = performance.now() - t;

    const dc: SambaDc = {
      ip,
      dir,
      smbConf,
      pid,
      baseDN: SAMBA_BASE_DN,
      adminDN: SAMBA_ADMIN_DN,
      adminUPN: `Administrator@${SAMBA_REALM.toLowerCase()}`,
      adminPassword: SAMBA_ADMIN_PASSWORD,
      ldapUrl: `ldap://${ip}:389`,
      ldapsUrl,
      caFile: join(tls, 'ca.pem'),
      ca,
      otherCaFile: join(tls, 'other-ca.pem'),
      otherCa: await readFile(join(tls, 'other-ca.pem'), 'utf8'),
      timings: {
        provisionMs,
        tlsMs,
        passwordSettingsMs,
        startMs,
        totalMs: performance.now() - started,
      },
      seed: (spec, timeoutMs = 120_000) => seedDc(dir, smbConf, env, spec, timeoutMs),
      sambaTool: async (args, timeoutMs = 30_000) =>
        (await run('samba-tool', [...args, '-s', smbConf], { env, cwd: dir, timeoutMs })).stdout,
      rename: (dn, newRdn) => asAdministrator(ldapsUrl, ca, (c) => c.modifyDN(dn, newRdn)),
      remove: (dn) => asAdministrator(ldapsUrl, ca, (c) => c.del(dn)),
      stop: (() => {
        let stopping: Promise<void> | undefined;
        return () => {
          stopping ??= cleanup();
          return stopping;
        };
      })(),
    };
    return dc;
  } catch (err) {
    const log = tail(join(dir, 'log', 'samba.log'), 15) || tail(join(dir, 'log', 'samba.out'), 15);
    await cleanup();
    if (err instanceof Error && log && !err.message.includes(log))
      err.message += `\n--- samba log ---\n${log}`;
    throw err;
  }
}

/** One operation over LDAPS as Administrator, on its own connection. */
async function asAdministrator(
  url: string,
  ca: string,
  op: (client: Client) => Promise<void>,
): Promise<void> {
  const client = new Client({ url, timeout: 10_000, connectTimeout: 5_000, tlsOptions: { ca } });
  try {
    await client.bind(SAMBA_ADMIN_DN, SAMBA_ADMIN_PASSWORD);
    await op(client);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

function smbConfText(dir: string, ip: string): string {
  return `# Written by test/support/samba.ts: an AD DC serving LDAP/LDAPS (+KDC) only, all state in ${dir}
[global]
	netbios name = DC1
	realm = ${SAMBA_REALM}
	workgroup = ${SAMBA_DOMAIN}
	server role = active directory domain controller
	server services = ldap, kdc
	interfaces = ${ip}/8
	bind interfaces only = yes
	private dir = ${dir}/private
	state directory = ${dir}/state
	cache directory = ${dir}/cache
	lock directory = ${dir}
	binddns dir = ${dir}/bind-dns
	pid directory = ${dir}/run
	winbindd socket directory = ${dir}/run/winbindd
	ntp signd socket directory = ${dir}/run/ntp_signd
	ncalrpc dir = ${dir}/run/ncalrpc
	logging = file
	log file = ${dir}/log/samba.log
	log level = 1
	ldap server require strong auth = no
	ldb:nosync = true
	tls enabled = yes
	tls cafile = ${dir}/tls/ca.pem
	tls certfile = ${dir}/tls/cert.pem
	tls keyfile = ${dir}/tls/key.pem
`;
}

async function makeCertificates(tls: string, ip: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  const o = { env, cwd: tls, timeoutMs };
  for (const d of [tls, join(tls, '..', 'log'), join(tls, '..', 'run')]) await mkdir(d, { recursive: true });
  const caExt = [
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ];
  for (const [name, cn] of [
    ['ca', 'idsync test CA (Samba)'],
    ['other-ca', 'idsync unrelated CA'],
  ] as const) {
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
      ].concat(['-days', '2', '-subj', `/CN=${cn}`], caExt),
      o,
    );
  }
  await run(
    'openssl',
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'server.csr',
      '-subj',
      '/CN=dc1.example.test',
    ],
    o,
  );
  await writeFile(
    join(tls, 'server.ext'),
    `subjectAltName=DNS:dc1.example.test,DNS:localhost,IP:${ip}\nbasicConstraints=CA:FALSE\n` +
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  await run(
    'openssl',
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'cert.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ]),
    o,
  );
  await run('chmod', ['600', 'key.pem', 'ca.key', 'other-ca.key'], o); // samba refuses a readable key
}

async function waitForLdaps(child: ChildProcess, url: string, ca: string, dir: string, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? 'none'}, signal ${signal ?? 'none'}`;
  });
  let lastError = 'no attempt';
  while (performance.now() < deadline) {
    if (exited) {
      throw new Error(
        `Samba AD DC exited during start-up (${exited}).\n${tail(join(dir, 'log', 'samba.out'), 15)}`,
      );
    }
    const client = new Client({ url, timeout: 2_000, connectTimeout: 2_000, tlsOptions: { ca } });
    try {
      await client.bind(SAMBA_ADMIN_DN, SAMBA_ADMIN_PASSWORD);
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await client.unbind().catch(() => undefined);
    }
    await sleep(150);
  }
  throw new Error(
    `Samba AD DC: ${url} did not accept an LDAPS bind within ${Math.round(timeoutMs)} ms (last error: ${lastError})`,
  );
}

async function seedDc(
  dir: string,
  smbConf: string,
  env: NodeJS.ProcessEnv,
  spec: SambaSeed,
  timeoutMs: number,
): Promise<SeedResult> {
  const started = performance.now();
  const script = join(dir, 'seed.py');
  const specFile = join(dir, `seed-${Date.now()}.json`);
  await writeFile(script, SEED_PY);
  await writeFile(specFile, JSON.stringify(spec));
  const { stdout } = await run('/usr/bin/python3', [script, smbConf, specFile], {
    env,
    cwd: dir,
    timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  let parsed: { guids: Record<string, string>; ms: number };
  try {
    parsed = JSON.parse(stdout) as { guids: Record<string, string>; ms: number };
  } catch {
    throw new Error(`Samba seed: the seed script printed no JSON: ${stdout.slice(0, 500)}`);
  }
  return {
    guids: new Map(Object.entries(parsed.guids)),
    transactionMs: parsed.ms,
    totalMs: performance.now() - started,
  };
}

// ---------------------------------------------------------------------------------------------
// Loopback address selection: the first 127.0.0.x (x ≥ 2) whose DC ports are free, claimed with
// an exclusive lock file so two test files (or a test and a benchmark) never race for it.

interface Claim {
  ip: string;
  release(): void;
}

async function claimFreeAddress(): Promise<Claim | undefined> {
  for (let x = 2; x < 255; x++) {
    const ip = `127.0.0.${x}`;
    const claim = claimAddress(ip);
    if (!claim) continue;
    if (await portsFree(ip)) return claim;
    claim.release();
  }
  return undefined;
}

function claimAddress(ip: string): Claim | undefined {
  const lock = join(tmpdir(), `idsync-samba-${ip}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        ip,
        release: () => {
          try {
            unlinkSync(lock);
          } catch {
            // already gone
          }
        },
      };
    } catch {
      // Held: stale if its owner is dead.
      const owner = Number(readFileSafe(lock));
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) return undefined;
      try {
        unlinkSync(lock);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

async function portsFree(ip: string): Promise<boolean> {
  for (const port of DC_PORTS) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: ip, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

async function killGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const signal = (s: NodeJS.Signals | 0) => {
    try {
      process.kill(-pid, s);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (!signal('SIGTERM')) return;
  await Promise.race([exited, sleep(3_000)]);
  // The root is gone (or stuck): its forked workers hold nothing worth a graceful exit, since the
  // instance dir is removed next. Kill what is left and wait (bounded) until the group is empty.
  signal('SIGKILL');
  for (let i = 0; i < 100 && liveGroupMembers(pid) > 0; i++) await sleep(20);
}

/** Processes of a group that are not zombies (the container's init reaps orphans slowly). */
function liveGroupMembers(pgid: number): number {
  let live = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readFileSafe(`/proc/${name}/stat`);
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') live++;
  }
  return live;
}

interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  timeoutMs: number;
  maxBuffer?: number;
}

function run(cmd: string, args: string[], o: RunOptions): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        env: o.env,
        cwd: o.cwd,
        timeout: Math.ceil(o.timeoutMs),
        killSignal: 'SIGKILL',
        maxBuffer: o.maxBuffer ?? 8 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const shown = [cmd, ...args.map((a) => (a.startsWith('--adminpass=') ? '--adminpass=***' : a))].join(
          ' ',
        );
        const why = err.killed
          ? `timed out after ${Math.round(o.timeoutMs)} ms`
          : `failed (${err.message.split('\n')[0]})`;
        const output = `${stderr}\n${stdout}`.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${shown}\n  ${why}\n${output}`));
      },
    );
  });
}

/** Debian's python3 with python3-samba, not a pyenv shim's environment. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('PYTHON') || k.startsWith('PYENV')) delete env[k];
  env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  env.LC_ALL = 'C.UTF-8';
  return env;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tail(path: string, lines: number): string {
  return readFileSafe(path).trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// bench/ldap-read: the LDAP connector's full read of 100k users and 2k groups from a real slapd,
// against OpenLDAP's own client (`ldapsearch -E pr=1000/noprompt`) reading the same entries and
// the same attributes from the same server. Goal: connector ≤ 1.3× ldapsearch (issue 13, item 6).
//
// Method: one LDIF (generate.ts) loaded offline with `slapadd -q` into a private slapd (slapd.ts;
// memberOf is written in the LDIF since slapadd runs no overlays). One untimed ldapsearch pass
// counts the entries and warms slapd's caches for everyone; then RUNS rounds, each timing, in turn:
//   connector        `ldapSource(config).read()` in a fresh node process (as `idsync plan` runs it),
//                    timed inside that process: connect, bind, paged streaming searches, member DN
//                    resolution, the snapshot;
//   connector+semi64 the same with V8's --max-semi-space-size=64 (how much of the cost is GC);
//   ldapts alone     the same two paged searches with bare ldapts (searchPaginated, whose toObject
//                    the connector does without: src/directory/ldap/search.ts), entries dropped;
//   ldapsearch       the two ldapsearch processes (users, then groups, like the connector), -LLL,
//                    output to /dev/null, wall time including process start.
// All bound as the rootdn over ldap://127.0.0.1 at 1000 entries a page; no TLS (the clients are
// measured, not the cipher). The headline ratio is the connector with default flags.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { GROUPS, generateLdif, PEOPLE } from './generate.js';
import type { ReadOnceResult } from './readOnce.js';
import { connectorSearches, type Search } from './searches.js';
import { type BenchSlapd, preload, ROOT_DN, ROOT_PW, startSlapd } from './slapd.js';

const USERS = 100_000;
const GROUP_COUNT = 2_000;
const RUNS = 3;
const PAGE = 1000;
const GOAL = 1.3;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READ_ONCE = fileURLToPath(new URL('./readOnce.ts', import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

function collect(
  cmd: string,
  args: string[],
  stdout: 'pipe' | 'ignore',
  onLine?: (line: string) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', stdout, 'pipe'] });
    let carry = '';
    child.stdout?.setEncoding('latin1').on('data', (chunk: string) => {
      const lines = (carry + chunk).split('\n');
      carry = lines.pop() ?? '';
      for (const l of lines) onLine?.(l);
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (carry) onLine?.(carry);
      if (code !== 0)
        reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')} … exited with ${code}: ${stderr.trim()}`));
      else resolve(performance.now() - started);
    });
  });
}

function ldapsearchArgs(url: string, q: Search): string[] {
  return ['-x', '-LLL', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-E', `pr=${PAGE}/noprompt`, '-b', q.base]
    .concat(q.filter)
    .concat(q.attributes);
}

/** Both searches, one ldapsearch process each; wall time of the pair and, if counted, entries. */
async function ldapsearchPair(url: string, searches: Search[], count: boolean) {
  let ms = 0;
  let entries = 0;
  for (const q of searches) {
    ms += await collect('ldapsearch', ldapsearchArgs(url, q), count ? 'pipe' : 'ignore', (l) => {
      if (l.startsWith('dn:')) entries++;
    });
  }
  return { ms, entries };
}

async function readOnce(mode: 'connector' | 'ldapts', config: LdapSourceConfig, v8Flags: string[] = []) {
  let out = '';
  await collect(
    process.execPath,
    [...v8Flags, '--import', 'tsx', READ_ONCE, mode, JSON.stringify(config)],
    'pipe',
    (l) => {
      if (l.startsWith('{')) out = l;
    },
  );
  return JSON.parse(out) as ReadOnceResult;
}

const dir = await mkdtemp(join(tmpdir(), 'idsync-bench-ldap-'));
let slapd: BenchSlapd | undefined;
const cleanup = async () => {
  await slapd?.stop();
  await rm(dir, { recursive: true, force: true });
};
const onSignal = () => {
  void cleanup().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal).once('SIGTERM', onSignal);

try {
  let t = performance.now();
  const gen = await generateLdif(join(dir, 'data.ldif'), USERS, GROUP_COUNT);
  const genMs = performance.now() - t;
  const load = await preload(dir, join(dir, 'data.ldif'));
  t = performance.now();
  slapd = await startSlapd(dir);
  const startMs = performance.now() - t;
  console.log(
    `directory: ${gen.users} inetOrgPerson users (${gen.disabledUsers} employeeType=disabled), ${gen.groups} groupOfNames ` +
      `(${gen.userMemberships} user + ${gen.groupMemberships} group member values, largest ${gen.largestGroup}); ` +
      `LDIF ${(gen.ldifBytes / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log(
    `load: generate LDIF ${s(genMs)}, slapadd -n0 (config) ${s(load.configMs)}, slapadd -q (data) ${s(load.slapaddMs)}, ` +
      `slapd start ${s(startMs)}`,
  );

  const config: LdapSourceConfig = {
    type: 'ldap',
    url: slapd.url,
    bindDN: ROOT_DN,
    bindPassword: ROOT_PW,
    profile: 'openldap',
    userBase: PEOPLE,
    groupBase: GROUPS,
    insecureSkipVerify: false,
    pageSize: PAGE,
    timeoutMs: 120_000,
  };
  const searches = connectorSearches(config);
  for (const q of searches) console.log(`search: -b "${q.base}" "${q.filter}" ${q.attributes.join(' ')}`);
  const check = await ldapsearchPair(slapd.url, searches, true);
  console.log(`ldapsearch, untimed check and cache warm-up: ${check.entries} entries`);
  console.log('');

  const rows = {
    connector: [] as number[],
    semi64: [] as number[],
    ldapts: [] as number[],
    ldapsearch: [] as number[],
    connectorCpu: [] as number[],
    ldaptsCpu: [] as number[],
  };
  let snap: ReadOnceResult | undefined;
  console.log('run  connector  connector+semi64  ldapts alone  ldapsearch');
  for (let run = 1; run <= RUNS; run++) {
    snap = await readOnce('connector', config);
    rows.connector.push(snap.ms);
    rows.connectorCpu.push(snap.cpuMs);
    rows.semi64.push((await readOnce('connector', config, ['--max-semi-space-size=64'])).ms);
    const floor = await readOnce('ldapts', config);
    rows.ldapts.push(floor.ms);
    rows.ldaptsCpu.push(floor.cpuMs);
    rows.ldapsearch.push((await ldapsearchPair(slapd.url, searches, false)).ms);
    console.log(
      `${String(run).padStart(3)}  ${s(rows.connector.at(-1) as number).padStart(9)}  ${s(rows.semi64.at(-1) as number).padStart(16)}  ` +
        `${s(floor.ms).padStart(12)}  ${s(rows.ldapsearch.at(-1) as number).padStart(10)}`,
    );
    if (floor.entries !== check.entries) console.log(`MISMATCH: ldapts alone read ${floor.entries} entries`);
  }
  if (!snap) throw new Error('no run');
  console.log(
    `\nconnector snapshot: ${snap.users} users, ${snap.groups} groups, ${snap.userEdges} user + ${snap.groupEdges} group ` +
      `memberships, complete=${snap.complete}, ${snap.warnings} warnings, RSS at the end ${snap.rssMiB.toFixed(0)} MiB`,
  );
  if (!snap.complete) console.log(`INCOMPLETE: ${snap.incompleteReasons.join('; ')}`);
  if (
    snap.entries !== check.entries ||
    snap.userEdges !== gen.userMemberships ||
    snap.groupEdges !== gen.groupMemberships
  ) {
    console.log(
      `MISMATCH: connector ${snap.entries} entries, ${snap.userEdges} + ${snap.groupEdges} memberships; ` +
        `ldapsearch ${check.entries} entries; generated ${gen.userMemberships} + ${gen.groupMemberships}`,
    );
  }

  const base = median(rows.ldapsearch);
  const line = (name: string, xs: number[]) =>
    console.log(`${name.padEnd(17)} median ${s(median(xs))}  ${(median(xs) / base).toFixed(2)}x ldapsearch`);
  console.log(
    `\nentries read: connector ${snap.entries}, ldapsearch ${check.entries} (median of ${RUNS} runs)`,
  );
  line('connector', rows.connector);
  line('connector+semi64', rows.semi64);
  line('ldapts alone', rows.ldapts);
  console.log(`${'ldapsearch'.padEnd(17)} median ${s(base)}`);
  console.log(
    `CPU time in the timed part (all threads, median): connector ${s(median(rows.connectorCpu))}, ` +
      `ldapts alone ${s(median(rows.ldaptsCpu))} (steadier than wall time when the machine is busy)`,
  );
  const ratio = median(rows.connector) / base;
  console.log(
    `ratio connector/ldapsearch: ${ratio.toFixed(2)}x (goal <= ${GOAL}x: ${ratio <= GOAL ? 'met' : 'NOT met'}); ` +
      `connector/ldapts alone: ${(median(rows.connector) / median(rows.ldapts)).toFixed(2)}x`,
  );
  console.log(
    `\nmethod: slapd 2.5 (mdb, memberof overlay) preloaded with slapadd -q, on ${slapd.url}; all clients bound as the\n` +
      `rootdn, no TLS, ${PAGE} entries a page; one untimed ldapsearch pass, then ${RUNS} rounds of: connector (fresh node\n` +
      'process, ldapSource().read() timed inside it), the same with --max-semi-space-size=64, bare ldapts reading the same\n' +
      'two searches and dropping the entries, and the two ldapsearch processes (-LLL, output to /dev/null, wall time).',
  );
} finally {
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  await cleanup();
}

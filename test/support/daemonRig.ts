// What the daemon's integration tests share: a generated company (directory file + Devin seed)
// whose first sync is a known number of ops, a config for it, idsync processes with their log
// lines, and the check that no effectful request was applied twice.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { generateSeed, type RequestLogEntry, type SimulatorSeed } from '../../src/simulator/index.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TOKEN = 'cog_daemon_test_token_5f2a9c';
const TSX = import.meta.resolve('tsx');

export interface Company {
  seed: SimulatorSeed;
  directory: DirectoryFile;
  /** Ops of the first sync, by kind. */
  expected: {
    registerIdpGroups: number;
    setGroupEnterpriseRole: number;
    setGroupOrgRole: number;
    inviteUsers: number;
    addOrgUser: number;
  };
  total: number;
  orgs: string[];
}

/**
 * `users` people in one directory group `devin-staff`, mapped with provisionUsers to an
 * enterprise role and to `orgsPerUser` orgs: the first sync registers 1 group, maps it (1 + orgs),
 * invites ⌈users/100⌉ batches and adds users × orgs memberships. Devin starts with two admins.
 */
export function company(users: number, orgsPerUser = 1): Company {
  const base = generateSeed({ users: 2, groups: 0, orgs: Math.max(2, orgsPerUser), token: TOKEN });
  const seed: SimulatorSeed = { ...base, idp_memberships: [] };
  const width = 6;
  const people = Array.from({ length: users }, (_, i) => ({
    id: `person-${i + 1}`,
    email: `person${String(i + 1).padStart(width, '0')}@corp.example`,
    name: `Person ${i + 1}`,
  }));
  const directory: DirectoryFile = {
    users: people,
    groups: [{ id: 'g-staff', name: 'devin-staff', members: people.map((p) => p.id) }],
  };
  const expected = {
    registerIdpGroups: 1,
    setGroupEnterpriseRole: 1,
    setGroupOrgRole: orgsPerUser,
    inviteUsers: Math.ceil(users / 100),
    addOrgUser: users * orgsPerUser,
  };
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  return {
    seed,
    directory,
    expected,
    total,
    orgs: seed.organizations.slice(0, orgsPerUser).map((o) => o.name),
  };
}

export interface ConfigInput {
  dir: string;
  simUrl: string;
  redisUrl: string;
  orgs: readonly string[];
  mode?: 'auto' | 'review';
  /** Extra YAML appended at the end (server, schedule, guardrails …). */
  extra?: string;
  maxConcurrency?: number;
  /** devin.maxRequestsPerSecond; default 0 (no budget). */
  rps?: number;
  /** devin.adaptiveRate; default the config's (true). */
  adaptiveRate?: boolean;
}

/** Writes idsync.yaml (and the directory file, if given) into `dir`; returns the config path. */
export function writeConfig(c: ConfigInput, directory?: DirectoryFile): string {
  if (directory) writeDirectory(c.dir, directory);
  const yaml = `source:
  type: file
  path: ./directory.json
devin:
  baseUrl: ${c.simUrl}
  token: ${TOKEN}
  maxRequestsPerSecond: ${c.rps ?? 0}${c.adaptiveRate === undefined ? '' : `\n  adaptiveRate: ${c.adaptiveRate}`}
  maxConcurrency: ${c.maxConcurrency ?? 8}
  timeoutMs: 5000
mappings:
  - group: { name: devin-staff }
    enterpriseRole: account_member
    orgs:
${c.orgs.map((o) => `      - { org: "${o}", role: org_member }`).join('\n')}
    provisionUsers: true
scope:
  emailDomains: [corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
  adopt: matching
mode: ${c.mode ?? 'auto'}
redis:
  url: ${c.redisUrl}
  keepRuns: 20
${c.extra ?? ''}
`;
  const file = join(c.dir, 'idsync.yaml');
  writeFileSync(file, yaml);
  return file;
}

export function writeDirectory(dir: string, directory: DirectoryFile): void {
  writeFileSync(join(dir, 'directory.json'), JSON.stringify(directory));
}

// ---- idsync processes --------------------------------------------------------------------------------

export interface IdsyncProcess {
  child: ChildProcess;
  /** Every stdout and stderr line so far. */
  lines: string[];
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
}

export function spawnIdsync(args: string[], env: Record<string, string> = {}): IdsyncProcess {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, IDSYNC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ match: RegExp; resolve: (line: string) => void }> = [];
  const onData = (buf: { partial: string }) => (chunk: Buffer) => {
    buf.partial += chunk.toString();
    const parts = buf.partial.split('\n');
    buf.partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData({ partial: '' }));
  child.stderr?.on('data', onData({ partial: '' }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    waitForLine(match, timeoutMs = 30_000) {
      const seen = lines.find((l) => match.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no line matching ${match} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(
            new Error(
              `idsync exited (${code}) before a line matching ${match}:\n${lines.slice(-20).join('\n')}`,
            ),
          );
        });
      });
    },
  };
}

export async function stopProcess(
  p: IdsyncProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  return p.exited;
}

// ---- waiting ---------------------------------------------------------------------------------------

export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---- the simulator's request log ---------------------------------------------------------------------

/**
 * Effectful requests that changed Devin, grouped by what they changed. A path names its subject
 * (user, org, group) for every write except the two bulk POSTs (invite, register), whose subjects
 * are in the body the log does not keep: those are returned separately, to be compared with the
 * number of ops that send them (each op is one batch; a repeated batch is refused with a 409 or
 * changes nothing, so it is never `applied`).
 */
export function appliedWrites(entries: readonly RequestLogEntry[]): {
  byPath: Map<string, number>;
  bulk: { invites: number; registrations: number };
  total: number;
} {
  const byPath = new Map<string, number>();
  const bulk = { invites: 0, registrations: 0 };
  let total = 0;
  for (const e of entries) {
    if (!e.effectful || !e.applied) continue;
    total++;
    if (e.method === 'POST' && /\/enterprise\/members\/users$/.test(e.path)) bulk.invites++;
    else if (e.method === 'POST' && /\/enterprise\/idp-groups$/.test(e.path)) bulk.registrations++;
    else byPath.set(`${e.method} ${e.path}`, (byPath.get(`${e.method} ${e.path}`) ?? 0) + 1);
  }
  return { byPath, bulk, total };
}

export function appliedTwice(byPath: ReadonlyMap<string, number>): string[] {
  return [...byPath].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
}

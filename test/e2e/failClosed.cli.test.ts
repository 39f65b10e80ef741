// FAIL CLOSED, end to end: real `idsync` processes against a real slapd (the 5,000-person fixture,
// StartTLS with the run's CA) and `idsync simulator` as its own process, both on loopback. Each case
// is a way an LDAP sync could take access away without being sure why: a mapped group emptied in
// the directory, a member list the bind account may not read, a size-capped bind account, a
// mapping whose group is gone. Each must remove nobody, say why naming the group or mapping, and
// exit non-zero (3 held or blocked, 5 incomplete read). Plus: a source failure is reported once,
// without the in-flight Devin reads retrying noisily after it, and the summary header counts what
// the lines under it count.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdsync } from '../support/cli.js';
import { freePort, ldifEntry, type Slapd, startSlapd } from '../support/slapd.js';
import {
  CAPPED_DN,
  CAPPED_LIMITS,
  CAPPED_PASSWORD,
  DATABASE_SIZE_LIMIT,
  GROUPS,
  PEOPLE,
  preloadLdif,
  READER_DN,
  READER_PASSWORD,
  userDn,
  userMail,
} from '../support/slapdFixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Resolved here, not in the child: the child runs in a temp dir.
const TSX = import.meta.resolve('tsx');
const TOKEN = 'cog_failclosed_e2e_token_7d1c';
const WRONG_PASSWORD = 'not-the-Pa55!';
const SECRETS = [TOKEN, READER_PASSWORD, CAPPED_PASSWORD, WRONG_PASSWORD];

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

// Members far past the first 500 entries, so the capped account never reads them.
const TEAM = range(4001, 10);
const SECRET_MEMBERS = range(4011, 3);
const CAPPED_TEAM = range(4021, 10);
const LEGACY = range(4031, 5);
// Within the first 500 entries: the capped account reads them all.
const EARLY = range(1, 5);

const groupDn = (cn: string): string => `cn=${cn},${GROUPS}`;

const SEED = {
  tokens: [
    {
      token: TOKEN,
      service_user_id: 'service-user-idsync',
      service_user_name: 'idsync',
      permissions: [
        'ReadAccountMeta',
        'ViewAccountMembership',
        'ManageAccountMembership',
        'ManageOrganizations',
        'ViewOrgMembership',
      ],
    },
  ],
  organizations: [{ org_id: 'org-platform', name: 'Platform' }],
  roles: [
    { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' },
    { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
    { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' },
    { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
  ],
  // None of the directory's people exist yet: the first apply invites them.
  users: [
    {
      user_id: 'user-breakglass',
      email: 'breakglass@corp.example',
      name: 'Break Glass',
      enterprise_role_id: 'account_admin',
    },
  ],
};

let server: Slapd;
let dir: string;

beforeAll(async () => {
  server = await startSlapd({
    sizeLimit: DATABASE_SIZE_LIMIT,
    limits: CAPPED_LIMITS,
    preload: preloadLdif(),
  });
  const group = (cn: string, members: number[]) =>
    ldifEntry(groupDn(cn), { objectClass: ['top', 'groupOfNames'], cn, member: members.map(userDn) });
  await server.add(
    [
      group('devin-team', TEAM),
      group('devin-secret', SECRET_MEMBERS),
      group('devin-capped', CAPPED_TEAM),
      group('devin-legacy', LEGACY),
      group('devin-early', EARLY),
    ].join(''),
  );
  dir = await mkdtemp(join(tmpdir(), 'idsync-failclosed-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  await writeFile(join(dir, 'seed.json'), JSON.stringify(SEED));
  for (const [name, pw] of [
    ['reader', READER_PASSWORD],
    ['capped', CAPPED_PASSWORD],
    ['wrong', WRONG_PASSWORD],
  ] as const) {
    await writeFile(join(dir, `${name}.pw`), `${pw}\n`);
  }
}, 180_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---- processes --------------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Both streams: off a terminal apply prints its words on stderr and JSON on stdout. */
  all: string;
}

function idsync(args: string[]): Promise<Run> {
  return runIdsync(args, dir).then(({ code, stdout, stderr }) => {
    const run = { code, stdout, stderr, all: `${stdout}\n${stderr}` };
    if (process.env.FC_DEBUG)
      appendFileSync(
        process.env.FC_DEBUG,
        `\n===== ${args.join(' ')} → ${code}\n${stdout}\n--- stderr\n${stderr}`,
      );
    // Whatever happens, no secret is ever printed.
    for (const s of SECRETS) expect(run.all).not.toContain(s);
    return run;
  });
}

interface SimProcess {
  url: string;
  stop(): Promise<void>;
}

/** `idsync simulator --admin` on a free loopback port, as its own process. */
function startSimulatorProcess(extra: string[] = []): Promise<SimProcess> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        TSX,
        join(ROOT, 'src/cli/main.ts'),
        'simulator',
        '--admin',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--seed',
        join(dir, 'seed.json'),
        ...extra,
      ],
      { cwd: dir, env: { ...process.env, IDSYNC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`simulator did not start: ${err}`));
    }, 60_000);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const url = /^IDSYNC_SIMULATOR_URL=(\S+)$/m.exec(out)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited (${code}): ${err}`));
    });
  });
}

interface SimState {
  users: Array<{ email: string; enterprise_role_id: string | null; org_roles: Record<string, string> }>;
  idp_groups: string[];
}

async function simState(sim: SimProcess): Promise<SimState> {
  const res = await fetch(`${sim.url}/_sim/state`);
  expect(res.status).toBe(200);
  return (await res.json()) as SimState;
}

/** Who has direct access in the simulator (a removed user stays in its dump, with no role). */
async function simEmails(sim: SimProcess): Promise<string[]> {
  return (await simState(sim)).users
    .filter((u) => u.enterprise_role_id !== null || Object.keys(u.org_roles).length > 0)
    .map((u) => u.email)
    .sort();
}

async function simReset(sim: SimProcess): Promise<void> {
  const res = await fetch(`${sim.url}/_sim/reset`, { method: 'POST' });
  expect(res.status).toBe(200);
}

// ---- config -----------------------------------------------------------------------------------

const PERMISSIVE = `guardrails:
  maxUserRemovals: 1000
  maxUserRemovalPercent: 100
  maxGroupRemovals: 100
  maxSourceShrinkPercent: 100
  maxGroupShrinkPercent: 50
`;

const provision = (cn: string): string => `  - group: { name: ${cn} }
    enterpriseRole: account_member
    provisionUsers: true
`;

interface ConfigOptions {
  devinUrl: string;
  mappings: string;
  state: string;
  bindDN?: string;
  passwordFile?: string;
  url?: string;
  /** The guardrails block; default: every threshold out of the way but maxGroupShrinkPercent. */
  guardrails?: string;
}

async function writeConfig(name: string, o: ConfigOptions): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `source:
  type: ldap
  profile: openldap
  url: ${o.url ?? server.url}
  startTLS: true
  caFile: ${server.caFile}
  bindDN: "${o.bindDN ?? READER_DN}"
  bindPasswordFile: ${o.passwordFile ?? 'reader.pw'}
  userBase: ${PEOPLE}
  groupBase: ${GROUPS}
  pageSize: 500
  timeoutMs: 30000
devin:
  baseUrl: ${o.devinUrl}
  tokenFile: token
  maxRequestsPerSecond: 0
mappings:
${o.mappings}scope:
  emailDomains: [corp.example]
  protectedUsers: [breakglass@corp.example]
  groupNamePattern: "devin-*"
  deprovision: remove
  adopt: matching
state:
  file: ${o.state}
${o.guardrails ?? PERMISSIVE}`,
  );
  return file;
}

const apply = (config: string, ...extra: string[]): Promise<Run> =>
  idsync(['apply', '--config', config, '--yes', '--report-dir', join(dir, 'reports'), ...extra]);
const plan = (config: string, ...extra: string[]): Promise<Run> =>
  idsync(['plan', '--config', config, '--report-dir', join(dir, 'reports'), ...extra]);

const mails = (ns: number[]): string[] => ns.map(userMail);

/** The per-kind lines under a `Changes (…)` or `! Held back … (…)` header, and their sum. */
function summaryBlock(text: string, header: RegExp): { total: number; lines: string[]; sum: number } {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => header.test(l));
  expect(at, `no line matching ${header} in:\n${text}`).toBeGreaterThanOrEqual(0);
  const total = Number(header.exec(lines[at] as string)?.[1]);
  const under: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!/^ {2}\s*\d+ {2}\S/.test(l)) break;
    under.push(l);
  }
  const sum = under.reduce((a, l) => a + Number(/^\s*(\d+)/.exec(l)?.[1]), 0);
  return { total, lines: under, sum };
}

// ---- the cases --------------------------------------------------------------------------------

describe('fail closed against a real slapd and `idsync simulator`', () => {
  let sim: SimProcess;

  beforeAll(async () => {
    sim = await startSimulatorProcess();
  }, 90_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('a mapped group that lost most of its members: exit 3 naming the group and maxGroupShrinkPercent, nobody removed; --allow-removals N then removes them', async () => {
    await simReset(sim);
    const config = await writeConfig('shrink', {
      devinUrl: sim.url,
      mappings: provision('devin-team'),
      state: 'shrink.state.json',
    });
    const first = await apply(config);
    expect(first.stderr).toContain('applied');
    expect(first.code).toBe(0);
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(TEAM)));

    // Eight of the ten leave the group in the directory.
    const leavers = TEAM.slice(0, 8);
    await server.modify(
      `dn: ${groupDn('devin-team')}\nchangetype: modify\ndelete: member\n${leavers.map((n) => `member: ${userDn(n)}\n`).join('')}\n`,
    );

    const held = await apply(config);
    expect(held.code, held.all).toBe(3);
    expect(held.stderr).toMatch(
      /directory group devin-team .*shrank by 80\.0% .*\(10 → 2 members\), over guardrails\.maxGroupShrinkPercent \(50%\)/,
    );
    expect(held.stderr).not.toContain('--allow-removals 0');
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(TEAM)));
    const n = Number(/approve with --allow-removals (\d+)/.exec(held.stderr)?.[1]);
    expect(n).toBe(leavers.length);
    expect(held.stderr).toContain(`To approve: idsync apply --allow-removals ${n}`);

    const approved = await apply(config, '--allow-removals', String(n));
    expect(approved.code, approved.all).toBe(0);
    const after = await simEmails(sim);
    for (const m of mails(leavers)) expect(after).not.toContain(m);
    expect(after).toEqual(expect.arrayContaining(mails(TEAM.slice(8))));
    expect(after).toContain('breakglass@corp.example');
  }, 240_000);

  it('a mapped group whose member list the bind account may not read: nobody removed, non-zero exit naming the group', async () => {
    await simReset(sim);
    const config = await writeConfig('acl', {
      devinUrl: sim.url,
      mappings: provision('devin-secret'),
      state: 'acl.state.json',
    });
    const first = await apply(config);
    expect(first.code, first.all).toBe(0);
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(SECRET_MEMBERS)));

    // From now on the bind account sees devin-secret, but not who is in it.
    await server.configure(
      [
        'dn: olcDatabase={1}mdb,cn=config',
        'changetype: modify',
        'add: olcAccess',
        `olcAccess: {0}to dn.exact="${groupDn('devin-secret')}" attrs=member by dn.exact="${READER_DN}" none by * break`,
        '',
      ].join('\n'),
    );

    try {
      const unreadable =
        'mappings[0] (name "devin-secret"): the member list of directory group devin-secret could not be read';
      const planned = await plan(config);
      // A hidden member list holds its group's removals (3); the read itself is complete, so a
      // hidden group elsewhere would not hold every removal of every sync.
      expect(planned.code, planned.all).toBe(3);
      expect(planned.stdout).toContain(unreadable);
      expect(planned.stdout).not.toContain('the directory read was incomplete');
      expect(planned.stdout).toContain('member-list-unreadable');
      expect(planned.stdout).not.toContain('No changes: Devin already matches');
      const held = summaryBlock(planned.stdout, /^! Held back, not applied by this plan \((\d+) ops?\):$/);
      expect(held.lines).toEqual(['       3  Remove user']);

      const run = await apply(config);
      expect(run.code, run.all).toBe(3);
      expect(run.stderr).toContain(unreadable);
      expect(run.stderr).toContain('3 op(s) held back because idsync cannot be sure they are wanted');
      expect(run.stderr).not.toContain('--allow-removals 0');
      expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(SECRET_MEMBERS)));
    } finally {
      // The ACL would hold devin-secret's removals in later cases: take it away again.
      await server.configure(
        'dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\ndelete: olcAccess\nolcAccess: {0}\n\n',
      );
    }
  }, 240_000);

  it('a size-capped bind account: plan and apply exit 5, say the read was incomplete and list what was held back; nobody removed', async () => {
    await simReset(sim);
    const good = await writeConfig('capped-good', {
      devinUrl: sim.url,
      mappings: provision('devin-capped'),
      state: 'capped.state.json',
      guardrails: '',
    });
    const first = await apply(good);
    expect(first.code, first.all).toBe(0);
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(CAPPED_TEAM)));

    // The same sync, bound as the account whose reads stop at 500 entries (of 5,000).
    const capped = await writeConfig('capped', {
      devinUrl: sim.url,
      mappings: provision('devin-capped'),
      state: 'capped.state.json',
      bindDN: CAPPED_DN,
      passwordFile: 'capped.pw',
      guardrails: '',
    });
    for (const [name, run] of [
      ['plan', await plan(capped)],
      ['apply', await apply(capped)],
    ] as const) {
      expect(run.code, `${name}:\n${run.all}`).toBe(5);
      const words = name === 'plan' ? run.stdout : run.stderr;
      expect(words).toContain('The directory read was incomplete');
      expect(words).not.toContain('No changes: Devin already matches');
      expect(run.all).not.toContain('--allow-removals 0');
      // What was held back: the ten members of devin-capped the capped read never reached.
      const held = summaryBlock(words, /^! Held back, not applied by this plan \((\d+) ops?\):$/);
      expect(held.lines).toEqual(['      10  Remove user']);
      expect(held.sum).toBe(held.total);
      expect(words).toMatch(
        /- the directory read was incomplete \(users under ou=people,.*size limit exceeded/,
      );
    }
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(CAPPED_TEAM)));
  }, 240_000);

  it('a size-capped bind account with nothing to hold back: still exit 5, never "Devin already matches" nor "--allow-removals 0"', async () => {
    await simReset(sim);
    const base = {
      devinUrl: sim.url,
      mappings: provision('devin-early'),
      state: 'early.state.json',
      guardrails: '',
    };
    const first = await apply(await writeConfig('early-good', base));
    expect(first.code, first.all).toBe(0);
    const capped = await writeConfig('early-capped', {
      ...base,
      bindDN: CAPPED_DN,
      passwordFile: 'capped.pw',
    });
    for (const [name, run] of [
      ['plan', await plan(capped)],
      ['apply', await apply(capped)],
    ] as const) {
      expect(run.code, `${name}:\n${run.all}`).toBe(5);
      const words = name === 'plan' ? run.stdout : run.stderr;
      expect(words).toContain('The directory read was incomplete');
      expect(words).toContain('the read was incomplete: Devin may not match the directory');
      expect(words).not.toContain('No changes: Devin already matches');
      expect(run.all).not.toContain('--allow-removals 0');
    }
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(EARLY)));
  }, 240_000);

  it('a mapping that selects nothing while idsync owns its users: exit 3 naming the mapping, nobody removed', async () => {
    await simReset(sim);
    const config = await writeConfig('legacy', {
      devinUrl: sim.url,
      mappings: provision('devin-legacy'),
      state: 'legacy.state.json',
    });
    const first = await apply(config);
    expect(first.code, first.all).toBe(0);
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(LEGACY)));

    // The group is deleted from the directory; the config still names it.
    await server.modify(`dn: ${groupDn('devin-legacy')}\nchangetype: delete\n\n`);

    const miss =
      'mappings[0] (name "devin-legacy") selects no directory group this run, so idsync cannot tell who it grants';
    const planned = await plan(config);
    expect(planned.code, planned.all).toBe(3);
    expect(planned.stdout).toContain(miss);
    expect(
      summaryBlock(planned.stdout, /^! Held back, not applied by this plan \((\d+) ops?\):$/).lines,
    ).toEqual([
      '       5  Remove user',
      '       1  Remove group enterprise role',
      '       1  Unregister IdP group',
    ]);

    const run = await apply(config);
    expect(run.code, run.all).toBe(3);
    expect(run.stderr).toContain(miss);
    expect(run.stderr).not.toContain('--allow-removals 0');
    expect(await simEmails(sim)).toEqual(expect.arrayContaining(mails(LEGACY)));
  }, 240_000);

  it('the summary header counts what the lines under it count: a bulk invite of 1,600 people', async () => {
    await simReset(sim);
    const config = await writeConfig('bulk', {
      devinUrl: sim.url,
      // Registered as devin-big-group, inside groupNamePattern: one registration, one role mapping.
      mappings: provision('big-group').replace('\n', '\n    idpGroupName: "devin-{name}"\n'),
      state: 'bulk.state.json',
    });
    const run = await plan(config);
    expect(run.code, run.all).toBe(0);
    // Either header form: `Changes (N):`, `Changes (N in M ops):`, or the old `Changes (M ops):`.
    const changes = summaryBlock(run.stdout, /^Changes \((\d+)(?: in \d+)?(?: ops?)?\):$/);
    expect(changes.sum).toBe(changes.total);
    // 1,600 invites in 16 bulk ops of 100, beside the registration and the group's role.
    expect(run.stdout).toMatch(/^Changes \(1602 in 18 ops\):$/m);
    expect(changes.lines).toEqual([
      '       1  Register IdP group',
      '       1  Group enterprise role',
      '    1600  Invite user',
    ]);
  }, 240_000);
});

describe('a directory read that fails while the Devin read is in flight', () => {
  let slow: SimProcess;

  beforeAll(async () => {
    slow = await startSimulatorProcess(['--latency', '200']);
  }, 90_000);
  afterAll(async () => {
    await slow?.stop();
  });

  it.each([
    // A StartTLS handshake and a bind: the Devin requests are on the wire by then.
    ['a wrong bind password', async () => ({ passwordFile: 'wrong.pw' }), /invalid credentials/, true],
    // Refused at once: the Devin read may not have reached the simulator yet.
    [
      'no server listening',
      async () => ({ url: `ldap://127.0.0.1:${await freePort()}` }),
      /ECONNREFUSED|connection refused/i,
      false,
    ],
  ] as const)(
    '%s: the real error once, and no Devin retry or failure noise after it',
    async (name, over, real, inFlight) => {
      const config = await writeConfig(`source-fails-${name.replace(/\W+/g, '-')}`, {
        devinUrl: slow.url,
        mappings: provision('devin-team'),
        state: 'source-fails.state.json',
        ...(await over()),
      });
      for (const command of [plan, apply]) {
        expect((await fetch(`${slow.url}/_sim/requests`, { method: 'DELETE' })).status).toBe(204);
        const run = await command(config);
        // The Devin read had started (and, 200 ms a request, was in flight) when the source failed.
        const seen = (await (await fetch(`${slow.url}/_sim/requests`)).json()) as { entries: unknown[] };
        if (inFlight) expect(seen.entries.length).toBeGreaterThan(0);
        expect(run.code, run.all).toBe(1);
        const errLines = run.stderr.split('\n').filter((l) => l.trim() !== '');
        expect(
          errLines.filter((l) => real.test(l)),
          run.stderr,
        ).toHaveLength(1);
        expect(run.stderr).not.toMatch(/devin request failed|retrying/i);
        expect(run.stderr).not.toMatch(/Devin API|abort/i);
        expect(errLines, run.stderr).toHaveLength(1);
      }
    },
    120_000,
  );
});

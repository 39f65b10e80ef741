// The demo company end to end: config/demo (directory, Devin seed, idsync.yaml) through the real
// pipeline (file source → readDevinSnapshot → planSync → executePlan) against the simulator on
// loopback, then the final Devin state checked for people and groups named by hand.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { executePlan } from '../../src/apply/inline/index.js';
import type { ExecutionResult } from '../../src/apply/types.js';
import { type LoadedConfig, loadConfig } from '../../src/config/index.js';
import { DevinClient, readDevinSnapshot } from '../../src/devin/index.js';
import { type DirectoryFile, snapshotFromFile } from '../../src/directory/file/fileSource.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import { type Plan, planSync } from '../../src/reconcile/index.js';
import {
  loadSeedFile,
  type RunningSimulator,
  SEMANTICS,
  type Semantics,
  type SimulatorSeed,
  startSimulator,
} from '../../src/simulator/index.js';
import { FileStateStore } from '../../src/state/fileStateStore.js';

const DEMO = fileURLToPath(new URL('../../config/demo/', import.meta.url));
const ANALYST = 'role-8d2f4c6a1e3b5d7f9a0c2e4b6d8f1a3c';

let config: LoadedConfig;
let seed: SimulatorSeed;
let directoryJson: DirectoryFile;
let sim: RunningSimulator;
let client: DevinClient;
let tmp: string;
let state: FileStateStore;

beforeAll(async () => {
  config = await loadConfig(join(DEMO, 'idsync.yaml'));
  seed = await loadSeedFile(join(DEMO, 'devin-seed.json'));
  directoryJson = JSON.parse(await readFile(join(DEMO, 'directory.json'), 'utf8')) as DirectoryFile;
});

/** The simulator under one reading of what the docs leave open (strict or lenient). */
function withSimulator(semantics: Semantics): void {
  beforeAll(async () => {
    sim = await startSimulator({ seed, semantics });
    client = new DevinClient({
      ...config.devin,
      baseUrl: sim.url,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
    });
  });
  afterAll(async () => {
    client.close();
    await sim.close();
  });
  beforeEach(async () => {
    sim.setFaults({ rules: [] });
    sim.reset();
    tmp = await mkdtemp(join(tmpdir(), 'idsync-demo-e2e-'));
    state = new FileStateStore(join(tmp, 'state.json'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
}

// ---- helpers ---------------------------------------------------------------------------------------

/** The demo directory, optionally edited (a leaver, a reorganisation) before it is read. */
function directory(edit?: (d: DirectoryFile) => void): DirectorySnapshot {
  const copy = structuredClone(directoryJson);
  edit?.(copy);
  return snapshotFromFile(copy, 'file:demo');
}

async function plan(dir: DirectorySnapshot = directory()): Promise<Plan> {
  return planSync({
    policy: config.policy,
    directory: dir,
    devin: await readDevinSnapshot(client),
    ledger: await state.load(),
  });
}

async function apply(
  p: Plan,
  extra: { allowRemovals?: number; concurrency?: number } = {},
): Promise<ExecutionResult> {
  return executePlan(p, { client, state, ...extra });
}

/** The demo's first run: plan and apply, asserting it went through. */
async function firstRun(): Promise<{ plan: Plan; result: ExecutionResult }> {
  const p = await plan();
  const result = await apply(p);
  expect(result.results.filter((r) => r.status === 'failed')).toEqual([]);
  return { plan: p, result };
}

const direct = (email: string) => sim.dump().users.find((u) => u.email === email);
const access = (email: string) => {
  const u = direct(email);
  return u ? { role: u.enterprise_role_id, orgs: u.org_roles } : undefined;
};
const seeded = (email: string) => {
  const u = seed.users.find((x) => x.email === email);
  return u ? { role: u.enterprise_role_id, orgs: u.org_roles } : undefined;
};
const mappings = (group: string) =>
  sim
    .dump()
    .group_mappings.filter((m) => m.idp_group_name === group)
    .map((m) => `${m.org_id ?? '*'}=${m.role_id}`)
    .sort();
/** Someone with no direct access: never invited, or removed (their id stays, with no roles). */
const noDirectAccess = (email: string) => {
  const u = direct(email);
  return u === undefined || (u.enterprise_role_id === null && Object.keys(u.org_roles).length === 0);
};

function setEnabled(d: DirectoryFile, email: string, enabled: boolean): void {
  const user = d.users.find((u) => u.email === email);
  if (!user) throw new Error(`no ${email} in the demo directory`);
  user.enabled = enabled;
}

// ---- the demo ---------------------------------------------------------------------------------------

describe('the demo config', () => {
  it('loads, and says what config/demo/README.md says', () => {
    const p = config.policy;
    expect(p.scope).toEqual({
      emailDomains: ['corp.example'],
      protectedUsers: ['breakglass@corp.example'],
      groupNamePattern: 'devin-*',
      deprovision: 'remove',
      adopt: 'matching',
    });
    expect(p.mappings.map((m) => [m.group, m.enterpriseRole, m.provisionUsers])).toEqual([
      [{ name: 'devin-admins' }, 'account_admin', true],
      [{ name: 'devin-platform-admins' }, 'account_member', true],
      [{ pattern: 'devin-eng-*' }, 'Member', false],
      [{ name: 'devin-data' }, 'account_member', true],
      [{ name: 'devin-research' }, 'account_member', false],
    ]);
    expect(config.devin.token).toBe('cog_demo_idsync_token');
    expect(config.source).toEqual({ type: 'file', path: join(DEMO, 'directory.json') });
  });

  it('describes a company with the edge cases a real directory has', () => {
    const d = directory();
    expect(d.users.length).toBeGreaterThanOrEqual(190);
    expect(d.users.filter((u) => !u.enabled).map((u) => u.email)).toEqual([
      'marcus.webb@corp.example',
      'hannah.berg@corp.example',
      'elena.petrova@corp.example',
    ]);
    expect(d.warnings.map((w) => w.code)).toEqual(['unresolved-member']);
  });
});

describe.each(SEMANTICS)('demo: plan → apply → plan again (%s semantics)', (semantics) => {
  withSimulator(semantics);

  it('plans the first sync with every edge case reported, not acted on', async () => {
    const p = await plan();
    expect(p.complete).toBe(true);
    expect(p.guardrails).toEqual({ verdict: 'ok', reasons: [] });
    const warnings = p.warnings.map((w) => `${w.code} ${w.subject ?? ''}`);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unresolved-member security/),
        expect.stringMatching(/^group-cycle/),
        'out-of-scope raj.patel@contractor.example',
        'duplicate-email sam.lee@corp.example',
        expect.stringMatching(/^user-without-email/),
      ]),
    );
    // Elena (disabled) is only in an SSO-only mapping, where users are not looked at one by one.
    expect(warnings.filter((w) => w.startsWith('user-disabled'))).toHaveLength(2);

    const alice = p.ops.find((o) => o.key === 'addOrgUser/org-platform/alice.nguyen@corp.example');
    expect(alice?.reasons).toEqual([
      'alice.nguyen@corp.example → Platform/Org Admin via sre ⊂ devin-platform-admins (mappings[1])',
    ]);
    // Noah gets Data from two mappings; rolePrecedence puts the custom Analyst role above Org Member.
    expect(p.ops.find((o) => o.key === 'addOrgUser/org-data/noah.schmidt@corp.example')).toMatchObject({
      role: { id: ANALYST, name: 'Analyst' },
    });

    // Nothing the config does not own or want is in the plan.
    const text = JSON.stringify(p.ops);
    for (const untouched of [
      'breakglass@corp.example',
      'tom.baker@corp.example',
      'olivia.chen@corp.example',
      'vendor.support@partner.example',
      'devin-legacy',
      'raj.patel',
      'sam.lee',
      'marcus.webb',
      'hannah.berg',
      'elena.petrova',
    ]) {
      expect(text).not.toContain(untouched);
    }
    expect(p.summary).toMatchObject({ adopt: 7, registerIdpGroups: 1, inviteUsers: 2, removeOrgUser: 1 });
    expect(p.summary.removeUser).toBeUndefined();
  });

  it('applies it, converges, and leaves Devin as the directory says', async () => {
    const { plan: first, result } = await firstRun();
    expect(result.ok).toBe(true);
    expect(result.counts).toEqual({ applied: first.ops.length, already: 0, skipped: 0, failed: 0 });

    const again = await plan();
    expect(again.ops).toEqual([]);

    // Provisioned users, direct access, through nested groups.
    expect(access('alice.nguyen@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': 'org_member', 'org-platform': 'org_admin' },
    });
    expect(access('noah.schmidt@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': ANALYST, 'org-platform': 'org_admin' },
    });
    expect(access('omar.haddad@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': ANALYST },
    });
    // Admin beats Member when two mappings grant the enterprise role.
    expect(access('priya.shah@corp.example')).toEqual({
      role: 'account_admin',
      orgs: { 'org-data': ANALYST },
    });
    expect(access('david.kim@corp.example')).toEqual({ role: 'account_admin', orgs: {} });

    // Hand-invited people the mappings want: adopted, then brought in line.
    expect(access('maria.garcia@corp.example')).toEqual({ role: 'account_admin', orgs: {} });
    expect(access('sofia.rossi@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': 'org_member', 'org-platform': 'org_admin' },
    });
    expect(access('james.wilson@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': ANALYST },
    });
    expect(access('lena.fischer@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': ANALYST },
    });
    expect(access('ken.tanaka@corp.example')).toEqual({
      role: 'account_member',
      orgs: { 'org-data': 'org_member', 'org-platform': 'org_admin' },
    });

    // Left alone: protected, out of scope, not owned (the leaver was invited by hand, so idsync does
    // not remove it: adopt is "matching", and no mapping wants it).
    for (const email of [
      'breakglass@corp.example',
      'tom.baker@corp.example',
      'olivia.chen@corp.example',
      'vendor.support@partner.example',
    ]) {
      expect([email, access(email)]).toEqual([email, seeded(email)]);
    }
    // Never given direct access: disabled, contractor, no email, shared email.
    for (const email of [
      'marcus.webb@corp.example',
      'hannah.berg@corp.example',
      'elena.petrova@corp.example',
      'raj.patel@contractor.example',
      'sam.lee@corp.example',
    ]) {
      expect([email, noDirectAccess(email)]).toEqual([email, true]);
    }
    // SSO-only groups give no direct access, only IdP-derived roles through the new mappings.
    const anika = await client.findUserByEmail('anika.singh@corp.example');
    expect(anika).toBeUndefined();
    const [derived] = await client.listIdpUsers({ email: 'anika.singh@corp.example' });
    expect(
      derived?.idp_role_assignments
        .map((a) => `${a.idp_group_name}:${a.org_id ?? '*'}=${a.role.role_id}`)
        .sort(),
    ).toEqual(['devin-eng-backend:*=account_member', 'devin-eng-backend:org-platform=org_member']);

    // Groups: registered and mapped as the config says; devin-legacy untouched.
    expect(sim.dump().idp_groups.sort()).toEqual([
      'devin-admins',
      'devin-data',
      'devin-eng-backend',
      'devin-eng-frontend',
      'devin-eng-platform',
      'devin-legacy',
      'devin-platform-admins',
      'devin-research',
    ]);
    expect(mappings('devin-platform-admins')).toEqual([
      '*=account_member',
      'org-data=org_member',
      'org-platform=org_admin',
    ]);
    expect(mappings('devin-eng-frontend')).toEqual(['*=account_member', 'org-platform=org_member']);
    expect(mappings('devin-data')).toEqual(['*=account_member', `org-data=${ANALYST}`]);
    expect(mappings('devin-admins')).toEqual(['*=account_admin']);
    expect(mappings('devin-research')).toEqual([
      '*=account_member',
      'org-data=org_deepwiki',
      'org-research=org_member',
    ]);
    expect(mappings('devin-legacy')).toEqual(['*=account_member', 'org-research=org_member']);

    // The ledger owns what idsync created or adopted, and nothing else.
    const ledger = await state.load();
    expect(ledger.users).toContain('alice.nguyen@corp.example');
    expect(ledger.users).toContain('maria.garcia@corp.example');
    expect(ledger.users).not.toContain('tom.baker@corp.example');
    expect(ledger.users).not.toContain('breakglass@corp.example');
    expect(ledger.groups).not.toContain('devin-legacy');
    expect(ledger.groupRoles).toContain('*/devin-research');
    expect(ledger.lastSuccessfulRun).toMatchObject({ directoryUsers: 199, fingerprint: first.fingerprint });
  });

  it('removes a leaver idsync owns, and still leaves the hand-invited one alone', async () => {
    await firstRun();
    const leaverGone = directory((d) => setEnabled(d, 'omar.haddad@corp.example', false));
    const p = await plan(leaverGone);
    expect(p.guardrails.verdict).toBe('ok');
    expect(p.ops.map((o) => o.key)).toEqual([
      'removeOrgUser/org-data/omar.haddad@corp.example',
      'removeUser/omar.haddad@corp.example',
    ]);
    expect((await apply(p)).ok).toBe(true);
    expect(noDirectAccess('omar.haddad@corp.example')).toBe(true);
    expect((await state.load()).users).not.toContain('omar.haddad@corp.example');
    expect(access('tom.baker@corp.example')).toEqual(seeded('tom.baker@corp.example'));
    expect((await plan(leaverGone)).ops).toEqual([]);
  });

  it('holds a mass removal back until a human approves it', async () => {
    await firstRun();
    // The whole data team leaves the directory's data group at once (a botched reorganisation).
    const reorg = directory((d) => {
      const data = d.groups.find((g) => g.name === 'data');
      if (data) data.members = [];
    });
    const p = await plan(reorg);
    expect(p.guardrails.verdict).toBe('blocked');
    const removals = p.ops.filter((o) => o.kind === 'removeUser').length;
    expect(removals).toBeGreaterThan(10);

    const held = await apply(p);
    expect(held.ok).toBe(true);
    expect(held.results.filter((r) => r.detail?.startsWith('held back by guardrails'))).not.toHaveLength(0);
    expect(access('lena.fischer@corp.example')?.role).toBe('account_member');
    const runBefore = (await state.load()).lastSuccessfulRun;

    const approved = await apply(await plan(reorg), { allowRemovals: 1_000 });
    expect(approved.counts.failed).toBe(0);
    expect(noDirectAccess('lena.fischer@corp.example')).toBe(true);
    expect((await state.load()).lastSuccessfulRun?.at).not.toBe(runBefore?.at);
    expect((await plan(reorg)).ops).toEqual([]);
  });

  it('converges to the same state when writes fail and connections drop', async () => {
    await firstRun();
    const clean = sim.dump();

    sim.reset();
    await rm(state.file, { force: true });
    state = new FileStateStore(join(tmp, 'state-faults.json'));
    // Writes only: then the draws happen in one order (ops run one at a time), so the run is
    // repeatable. At these rates an op can exhaust its rounds: the next run re-plans and finishes it.
    sim.setFaults({
      seed: 7,
      rules: ['POST', 'PATCH', 'DELETE'].map((method) => ({
        match: { method },
        errorRate: 0.3,
        errorStatus: 503,
        dropAfterApplyRate: 0.3,
      })),
    });
    let runs = 0;
    for (let p = await plan(); p.ops.length > 0 && runs < 4; p = await plan()) {
      await apply(p, { concurrency: 1 });
      runs++;
    }
    sim.setFaults({ rules: [] });
    expect((await plan()).ops).toEqual([]);
    const faulty = sim.dump();
    const outcomes = sim.requests().map((r) => r.outcome);
    expect(outcomes).toContain('dropped-after-apply');
    expect(outcomes).toContain('error-injected');

    const view = (s: SimulatorSeed) => ({
      users: s.users
        .filter((u) => u.enterprise_role_id !== null)
        .map((u) => [u.email, u.enterprise_role_id, u.org_roles])
        .sort(),
      groups: [...s.idp_groups].sort(),
      mappings: s.group_mappings.map((m) => [m.idp_group_name, m.org_id, m.role_id]).sort(),
    });
    expect(view(faulty)).toEqual(view(clean));
  });
});

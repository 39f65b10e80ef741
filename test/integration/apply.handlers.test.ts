// The op handlers and the inline executor against the real simulator on loopback: each handler,
// its idempotence (the second run finds the target held), writes whose connection drops after the
// server applied them, injected 429/5xx, guardrails, and prerequisites.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  executePlan,
  handleOp,
  InviteIncompleteError,
  progressPrinter,
} from '../../src/apply/inline/index.js';
import type { ExecutionResult, OpResult, ProgressEvent } from '../../src/apply/types.js';
import { DevinClient } from '../../src/devin/index.js';
import { fingerprintOps, type Op, type Plan, removalCount, summarise } from '../../src/reconcile/index.js';
import type {
  FaultRule,
  RunningSimulator,
  Semantics,
  SimulatorSeedInput,
} from '../../src/simulator/index.js';
import { SEMANTICS, startSimulator } from '../../src/simulator/index.js';
import { FileStateStore } from '../../src/state/fileStateStore.js';
import type { LastRun, OwnershipLedger, StateStore } from '../../src/state/ledger.js';

const TOKEN = 'cog_apply_handlers_secret_9c4e';
const INVITE_ROUTE = '/v3/enterprise/members/users';
const ORG_USER_ROUTE = '/v3/enterprise/organizations/{org_id}/members/users/{user_id}';

const MEMBER = { id: 'account_member', name: 'Member' };
const ADMIN = { id: 'account_admin', name: 'Admin' };
const ORG_ADMIN = { id: 'org_admin', name: 'Org Admin' };
const ORG_MEMBER = { id: 'org_member', name: 'Org Member' };
const ALPHA = { id: 'org-alpha', name: 'Alpha' };
const BETA = { id: 'org-beta', name: 'Beta' };

const SEED: SimulatorSeedInput = {
  tokens: [
    {
      token: TOKEN,
      service_user_id: 'svc-idsync',
      service_user_name: 'idsync',
      permissions: [
        'ReadAccountMeta',
        'ViewAccountMembership',
        'ManageAccountMembership',
        'ManageOrganizations',
      ],
    },
  ],
  organizations: [
    { org_id: 'org-alpha', name: 'Alpha' },
    { org_id: 'org-beta', name: 'Beta' },
  ],
  roles: [
    { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' },
    { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
    { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' },
    { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
  ],
  users: [
    { user_id: 'u-root', email: 'root@corp.example', enterprise_role_id: 'account_admin' },
    {
      user_id: 'u-bob',
      email: 'bob@corp.example',
      enterprise_role_id: 'account_member',
      org_roles: { 'org-alpha': 'org_member' },
    },
    { user_id: 'u-dora', email: 'dora@corp.example', enterprise_role_id: 'account_admin' },
  ],
  idp_groups: ['g-mapped', 'g-bare'],
  group_mappings: [
    { idp_group_name: 'g-mapped', org_id: null, role_id: 'account_member' },
    { idp_group_name: 'g-mapped', org_id: 'org-alpha', role_id: 'org_member' },
  ],
  // Carol signs in with SSO only: she has IdP-derived roles and no direct assignment.
  idp_memberships: [{ email: 'carol@corp.example', user_id: 'u-carol', groups: ['g-mapped'] }],
};

let sim: RunningSimulator;
let client: DevinClient;
let dir: string;

/**
 * Everything that talks to the simulator runs under both readings of what the docs leave open:
 * strict (409 instead of cascading) and lenient (removals cascade, re-invites are no-ops).
 */
function withSimulator(semantics: Semantics): void {
  beforeAll(async () => {
    sim = await startSimulator({ seed: SEED, semantics });
    client = new DevinClient({
      baseUrl: sim.url,
      token: TOKEN,
      maxRequestsPerSecond: 0,
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
    dir = await mkdtemp(join(tmpdir(), 'idsync-apply-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
}

// ---- helpers ---------------------------------------------------------------------------------------

function planOf(ops: Op[], extra: Partial<Plan> = {}): Plan {
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    summary: summarise(ops),
    ops,
    held: [],
    warnings: [],
    guardrails: { verdict: 'ok', reasons: [] },
    complete: true,
    stats: {
      directoryUsers: 10,
      directoryGroups: 2,
      devinUsers: 3,
      devinGroups: 2,
      managedUsers: 3,
      mappedGroups: [],
      userIds: {},
    },
    fingerprint: fingerprintOps(ops),
    ...extra,
  };
}

const store = () => new FileStateStore(join(dir, 'state.json'));

async function run(
  ops: Op[],
  extra: Partial<Plan> = {},
  state: StateStore = store(),
): Promise<ExecutionResult> {
  return executePlan(planOf(ops, extra), { client, state });
}

function byKey(result: ExecutionResult): Record<string, OpResult> {
  return Object.fromEntries(result.results.map((r) => [r.key, r]));
}

function writes(method: string, route: string) {
  return sim.requests().filter((r) => r.method === method && r.route === route);
}

function faults(...rules: FaultRule[]): void {
  sim.setFaults({ seed: 1, rules });
}

const userOf = (email: string) => sim.dump().users.find((u) => u.email === email);
const mappingsOf = (group: string) =>
  sim
    .dump()
    .group_mappings.filter((m) => m.idp_group_name === group)
    .map((m) => `${m.org_id ?? '*'}=${m.role_id}`)
    .sort();

const invite = (emails: string[], role = MEMBER): Op => ({
  kind: 'inviteUsers',
  key: `inviteUsers/${role.id}/batch-1`,
  emails,
  role,
  expected: { member: false },
  reasons: ['test'],
});
const addOrg = (email: string, userId: string | null, org = ALPHA, role = ORG_ADMIN): Op => ({
  kind: 'addOrgUser',
  key: `addOrgUser/${org.id}/${email}`,
  email,
  userId,
  org,
  role,
  expected: { role: null },
  reasons: ['test'],
});
const groupEnt = (group: string, role: typeof MEMBER, expected: typeof MEMBER | null = null): Op => ({
  kind: 'setGroupEnterpriseRole',
  key: `setGroupEnterpriseRole/${group}`,
  group,
  role,
  expected: { role: expected },
  reasons: ['test'],
});
const groupOrg = (
  group: string,
  org: typeof ALPHA,
  role: typeof MEMBER,
  expected: typeof MEMBER | null = null,
): Op => ({
  kind: 'setGroupOrgRole',
  key: `setGroupOrgRole/${org.id}/${group}`,
  group,
  org,
  role,
  expected: { role: expected },
  reasons: ['test'],
});
const register = (groups: string[]): Op => ({
  kind: 'registerIdpGroups',
  key: 'registerIdpGroups/batch-1',
  groups,
  expected: { registered: false },
  reasons: ['test'],
});

async function twice(op: Op) {
  const first = await handleOp(op, { client });
  const second = await handleOp(op, { client });
  return [first.status, second.status];
}

// ---- handlers ----------------------------------------------------------------------------------------

describe.each(SEMANTICS)('%s semantics', (semantics) => {
  withSimulator(semantics);
  const strict = semantics === 'strict';

  describe('op handlers against the simulator', () => {
    it('registerIdpGroups registers new names and can be repeated', async () => {
      const op = register(['g-new', 'g-bare']);
      // Devin ignores names already registered and does not say which: both runs report 'applied'.
      expect(await twice(op)).toEqual(['applied', 'applied']);
      expect(sim.dump().idp_groups.sort()).toEqual(['g-bare', 'g-mapped', 'g-new']);
    });

    it('setGroupEnterpriseRole creates, then finds the mapping held', async () => {
      expect(await twice(groupEnt('g-bare', MEMBER))).toEqual(['applied', 'already']);
      expect(mappingsOf('g-bare')).toEqual(['*=account_member']);
    });

    it('setGroupEnterpriseRole with a planned create that meets another role changes it (409 → GET → PATCH)', async () => {
      const result = await handleOp(groupEnt('g-mapped', ADMIN), { client });
      expect(result.status).toBe('applied');
      expect(mappingsOf('g-mapped')).toEqual(['*=account_admin', 'org-alpha=org_member']);
    });

    it('setGroupEnterpriseRole with a planned change reads first, and creates when the mapping is gone', async () => {
      expect(await twice(groupEnt('g-mapped', ADMIN, MEMBER))).toEqual(['applied', 'already']);
      expect(await twice(groupEnt('g-bare', ADMIN, MEMBER))).toEqual(['applied', 'already']);
      expect(mappingsOf('g-bare')).toEqual(['*=account_admin']);
    });

    it('setGroupOrgRole creates and changes org mappings idempotently', async () => {
      expect(await twice(groupOrg('g-mapped', BETA, ORG_ADMIN))).toEqual(['applied', 'already']);
      expect(await twice(groupOrg('g-mapped', ALPHA, ORG_ADMIN, ORG_MEMBER))).toEqual(['applied', 'already']);
      expect(mappingsOf('g-mapped')).toEqual([
        '*=account_member',
        'org-alpha=org_admin',
        'org-beta=org_admin',
      ]);
    });

    it('setGroupOrgRole on a group without an enterprise mapping fails with the reason Devin gives', async () => {
      await expect(handleOp(groupOrg('g-bare', ALPHA, ORG_MEMBER), { client })).rejects.toThrow(
        /409.*needs an enterprise mapping first/,
      );
      // Refused once, not re-sent: the re-read showed nothing the same POST could change.
      expect(
        writes('POST', '/v3/enterprise/organizations/{org_id}/members/idp-groups/{idp_group_name}'),
      ).toHaveLength(1);
    });

    it('inviteUsers invites, then finds everyone a member', async () => {
      const op = invite(['new1@corp.example', 'carol@corp.example']);
      // Lenient Devin takes the re-invite as a no-op, which looks like an invite: applied again,
      // but nothing changes (the request log shows no applied write).
      sim.clearRequests();
      expect(await twice(op)).toEqual(['applied', strict ? 'already' : 'applied']);
      expect(sim.requests().filter((r) => r.applied)).toHaveLength(1);
      expect(userOf('new1@corp.example')?.enterprise_role_id).toBe('account_member');
      // The IdP-only person gets a direct assignment on her existing user id.
      expect(userOf('carol@corp.example')).toMatchObject({
        user_id: 'u-carol',
        enterprise_role_id: 'account_member',
      });
    });

    it('inviteUsers after a 409 invites only the rest, and changes a member whose role differs', async () => {
      // bob is already a member, dora an admin. Strict: the whole batch is refused, then settled
      // one by one. Lenient: accepted, but dora keeps her role, which the answer shows: re-read, PATCH.
      const op = invite(['bob@corp.example', 'dora@corp.example', 'new2@corp.example']);
      const result = await handleOp(op, { client });
      expect(result.status).toBe('applied');
      expect(result.detail).toBe(
        strict
          ? 'invited 1 as Member; 1 already held Member; changed dora@corp.example to Member'
          : 'invited 2 as Member; changed dora@corp.example to Member',
      );
      expect(userOf('dora@corp.example')?.enterprise_role_id).toBe('account_member');
      expect(userOf('new2@corp.example')?.enterprise_role_id).toBe('account_member');
      const posts = writes('POST', INVITE_ROUTE);
      expect(posts.map((p) => [p.status, p.applied])).toEqual(
        strict
          ? [
              [409, false],
              [200, true],
            ]
          : [[200, true]],
      );
      expect(writes('PATCH', '/v3/enterprise/members/users/{user_id}')).toHaveLength(1);
    });

    it('inviteUsers splits a batch Devin refuses (422) until the bad address stands alone', async () => {
      const emails = Array.from({ length: 100 }, (_, i) => `p${String(i).padStart(3, '0')}@corp.example`);
      emails[37] = 'not-an-address';
      const err = await handleOp(invite(emails), { client }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InviteIncompleteError);
      const incomplete = err as InviteIncompleteError;
      expect(incomplete.notConfirmed).toEqual(['not-an-address']);
      expect(incomplete.confirmed).toHaveLength(99);
      expect(incomplete.message).toMatch(
        /^1 of 100 invite\(s\) not confirmed \(not-an-address\): Devin refused 1 address\(es\) \(422\): not-an-address: "not-an-address" is not an email address/,
      );
      const members = sim.dump().users.filter((u) => /^p\d{3}@/.test(u.email));
      expect(members).toHaveLength(99);
      expect(members.every((u) => u.enterprise_role_id === 'account_member')).toBe(true);
      // Bisection, not one request per address: about 2·log2(100) POSTs.
      const posts = writes('POST', INVITE_ROUTE);
      expect(posts.length).toBeLessThanOrEqual(16);
      expect(posts.filter((p) => p.applied)).toHaveLength(posts.filter((p) => p.status === 200).length);
    });

    it('a 422 that is not about the addresses is not split', async () => {
      const err = await handleOp(invite(['q1@corp.example', 'q2@corp.example'], ORG_MEMBER), {
        client,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InviteIncompleteError);
      expect((err as Error).message).toMatch(/422.*enterprise role/);
      expect(writes('POST', INVITE_ROUTE)).toHaveLength(1);
    });

    it('inviteUsers whose POST is dropped after the server applied it is not sent twice', async () => {
      faults({ match: { method: 'POST', route: INVITE_ROUTE }, dropAfterApplyRate: 1, times: 1 });
      const result = await handleOp(invite(['drop1@corp.example', 'drop2@corp.example']), { client });
      expect(['applied', 'already']).toContain(result.status);
      const posts = writes('POST', INVITE_ROUTE);
      expect(posts.filter((p) => p.applied)).toHaveLength(1);
      expect(posts).toHaveLength(1);
      expect(posts[0]?.outcome).toBe('dropped-after-apply');
      expect(userOf('drop2@corp.example')?.enterprise_role_id).toBe('account_member');
    });

    it('inviteUsers converges through a 503 and a 429', async () => {
      faults(
        // The first POST spends the bucket's one token and gets a 503; the second finds the bucket
        // empty (429, Retry-After 1 s, which the client honours); the third goes through.
        { match: { method: 'POST', route: INVITE_ROUTE }, rateLimit: { capacity: 1, refillPerSecond: 1 } },
        { match: { method: 'POST', route: INVITE_ROUTE }, errorRate: 1, errorStatus: 503, times: 1 },
        // The re-read in between fails once too; the client retries reads on 5xx.
        { match: { method: 'GET', route: INVITE_ROUTE }, errorRate: 1, errorStatus: 502, times: 1 },
      );
      const result = await handleOp(invite(['flaky@corp.example']), { client });
      expect(result.status).toBe('applied');
      const posts = writes('POST', INVITE_ROUTE);
      expect(posts.map((p) => p.status)).toEqual([503, 429, 200]);
      expect(posts.filter((p) => p.applied)).toHaveLength(1);
      expect(userOf('flaky@corp.example')?.enterprise_role_id).toBe('account_member');
    });

    it('setUserEnterpriseRole changes the role, then finds it held', async () => {
      const op: Op = {
        kind: 'setUserEnterpriseRole',
        key: 'setUserEnterpriseRole/bob@corp.example',
        email: 'bob@corp.example',
        userId: 'u-bob',
        role: ADMIN,
        expected: { role: MEMBER },
        reasons: ['test'],
      };
      expect(await twice(op)).toEqual(['applied', 'already']);
      expect(userOf('bob@corp.example')?.enterprise_role_id).toBe('account_admin');
    });

    it('addOrgUser looks up an invited user, adds, then finds the role held', async () => {
      await handleOp(invite(['eve@corp.example']), { client });
      expect(await twice(addOrg('eve@corp.example', null))).toEqual(['applied', 'already']);
      expect(userOf('eve@corp.example')?.org_roles).toEqual({ 'org-alpha': 'org_admin' });
    });

    it('addOrgUser meeting another direct role changes it (409 → re-read → PATCH)', async () => {
      const result = await handleOp(addOrg('bob@corp.example', 'u-bob'), { client });
      expect(result.status).toBe('applied');
      expect(userOf('bob@corp.example')?.org_roles).toEqual({ 'org-alpha': 'org_admin' });
    });

    it('addOrgUser whose POST is dropped after the server applied it is not sent twice', async () => {
      faults({ match: { method: 'POST', route: ORG_USER_ROUTE }, dropAfterApplyRate: 1, times: 1 });
      const result = await handleOp(addOrg('bob@corp.example', 'u-bob', BETA, ORG_MEMBER), { client });
      expect(['applied', 'already']).toContain(result.status);
      const posts = writes('POST', ORG_USER_ROUTE);
      expect(posts).toHaveLength(1);
      expect(posts.filter((p) => p.applied)).toHaveLength(1);
      expect(userOf('bob@corp.example')?.org_roles).toEqual({
        'org-alpha': 'org_member',
        'org-beta': 'org_member',
      });
    });

    it('org roles are re-read by user id (GET /members/users/{id}), not by the email filter', async () => {
      // The op names bob by an address Devin does not have for him (his directory email changed):
      // only the read by id sees his Alpha role, so the role is changed instead of re-added.
      const op: Op = {
        kind: 'setOrgUserRole',
        key: 'setOrgUserRole/org-alpha/robert@corp.example',
        email: 'robert@corp.example',
        userId: 'u-bob',
        org: ALPHA,
        role: ORG_ADMIN,
        expected: { role: ORG_MEMBER },
        reasons: ['test'],
      };
      expect(await twice(op)).toEqual(['applied', 'already']);
      expect(userOf('bob@corp.example')?.org_roles).toEqual({ 'org-alpha': 'org_admin' });
      expect(sim.requests().filter((r) => r.route === '/v3/enterprise/members/users/{user_id}')).not.toEqual(
        [],
      );
      expect(
        sim.requests().filter((r) => r.route === '/v3/enterprise/organizations/{org_id}/members/users'),
      ).toEqual([]);
    });

    it('addOrgUser for someone not in the enterprise fails clearly', async () => {
      await expect(handleOp(addOrg('nobody@corp.example', null), { client })).rejects.toThrow(
        /nobody@corp\.example is not a direct member of the enterprise, so it cannot be added to Alpha/,
      );
      // An IdP-only member has no direct enterprise role: Devin refuses, and the reason is kept.
      await expect(handleOp(addOrg('carol@corp.example', 'u-carol'), { client })).rejects.toThrow(/409/);
    });

    it('setOrgUserRole changes the role, then finds it held; adds when the membership is gone', async () => {
      const op: Op = {
        kind: 'setOrgUserRole',
        key: 'setOrgUserRole/org-alpha/bob@corp.example',
        email: 'bob@corp.example',
        userId: 'u-bob',
        org: ALPHA,
        role: ORG_ADMIN,
        expected: { role: ORG_MEMBER },
        reasons: ['test'],
      };
      expect(await twice(op)).toEqual(['applied', 'already']);
      await client.removeOrgUser('org-alpha', 'u-bob');
      expect((await handleOp(op, { client })).status).toBe('applied');
      expect(userOf('bob@corp.example')?.org_roles).toEqual({ 'org-alpha': 'org_admin' });
    });

    it('removals delete, and a second DELETE that finds nothing is already', async () => {
      const ops: Op[] = [
        {
          kind: 'removeOrgUser',
          key: 'removeOrgUser/org-alpha/bob@corp.example',
          email: 'bob@corp.example',
          userId: 'u-bob',
          org: ALPHA,
          expected: { role: ORG_MEMBER },
          reasons: ['test'],
        },
        {
          kind: 'removeUser',
          key: 'removeUser/bob@corp.example',
          email: 'bob@corp.example',
          userId: 'u-bob',
          expected: { role: MEMBER },
          reasons: ['test'],
        },
        {
          kind: 'removeGroupOrgRole',
          key: 'removeGroupOrgRole/org-alpha/g-mapped',
          group: 'g-mapped',
          org: ALPHA,
          expected: { role: ORG_MEMBER },
          reasons: ['test'],
        },
        {
          kind: 'removeGroupEnterpriseRole',
          key: 'removeGroupEnterpriseRole/g-mapped',
          group: 'g-mapped',
          expected: { role: MEMBER },
          reasons: ['test'],
        },
        {
          kind: 'unregisterIdpGroup',
          key: 'unregisterIdpGroup/g-mapped',
          group: 'g-mapped',
          expected: { registered: true },
          reasons: ['test'],
        },
      ];
      for (const op of ops) expect([op.key, ...(await twice(op))]).toEqual([op.key, 'applied', 'already']);
      expect(userOf('bob@corp.example')).toMatchObject({ enterprise_role_id: null, org_roles: {} });
      expect(sim.dump().idp_groups).toEqual(['g-bare']);
    });

    it('a DELETE through 5xx converges (the client retries idempotent calls)', async () => {
      faults({ match: { method: 'DELETE' }, errorRate: 1, errorStatus: 503, times: 2 });
      const op: Op = {
        kind: 'unregisterIdpGroup',
        key: 'unregisterIdpGroup/g-bare',
        group: 'g-bare',
        expected: { registered: true },
        reasons: ['test'],
      };
      expect((await handleOp(op, { client })).status).toBe('applied');
      expect(sim.dump().idp_groups).toEqual(['g-mapped']);
    });

    it('removeUser with org roles left: strict refuses with Devin’s reason, lenient cascades', async () => {
      const op: Op = {
        kind: 'removeUser',
        key: 'removeUser/bob@corp.example',
        email: 'bob@corp.example',
        userId: 'u-bob',
        expected: { role: MEMBER },
        reasons: ['test'],
      };
      if (strict) {
        await expect(handleOp(op, { client })).rejects.toThrow(/409.*remove organization memberships first/);
        return;
      }
      expect(await twice(op)).toEqual(['applied', 'already']);
      expect(userOf('bob@corp.example')).toMatchObject({ enterprise_role_id: null, org_roles: {} });
    });
  });

  // ---- the executor --------------------------------------------------------------------------------------

  describe('executePlan', () => {
    const removeBob: Op[] = [
      {
        kind: 'removeOrgUser',
        key: 'removeOrgUser/org-alpha/bob@corp.example',
        email: 'bob@corp.example',
        userId: 'u-bob',
        org: ALPHA,
        expected: { role: ORG_MEMBER },
        reasons: ['test'],
      },
      {
        kind: 'removeUser',
        key: 'removeUser/bob@corp.example',
        email: 'bob@corp.example',
        userId: 'u-bob',
        expected: { role: MEMBER },
        reasons: ['test'],
      },
    ];
    const blocked = {
      guardrails: {
        verdict: 'blocked' as const,
        reasons: ['1 user removals exceed guardrails.maxUserRemovals (0)'],
      },
    };

    it('runs phases in order, records each success in the ledger, and the run at the end', async () => {
      const state = store();
      const result = await run(
        [
          register(['g-one']),
          groupEnt('g-one', MEMBER),
          groupOrg('g-one', ALPHA, ORG_ADMIN),
          invite(['fay@corp.example']),
          addOrg('fay@corp.example', null),
          {
            kind: 'adopt',
            key: 'adopt/user/bob@corp.example',
            target: { type: 'user', email: 'bob@corp.example' },
            expected: { exists: true },
            reasons: ['test'],
          },
        ],
        {},
        state,
      );
      expect(result.ok).toBe(true);
      expect(result.counts).toEqual({ applied: 6, already: 0, skipped: 0, failed: 0 });
      // Results come back in plan order, whatever order the phases ran in.
      expect(result.results.map((r) => r.kind)).toEqual([
        'registerIdpGroups',
        'setGroupEnterpriseRole',
        'setGroupOrgRole',
        'inviteUsers',
        'addOrgUser',
        'adopt',
      ]);
      const ledger = JSON.parse(await readFile(state.file, 'utf8')) as OwnershipLedger;
      expect(ledger).toMatchObject({
        users: ['bob@corp.example', 'fay@corp.example'],
        groups: ['g-one'],
        groupRoles: ['*/g-one', 'org-alpha/g-one'],
        lastSuccessfulRun: { directoryUsers: 10 },
      });
      expect(mappingsOf('g-one')).toEqual(['*=account_member', 'org-alpha=org_admin']);
      expect(userOf('fay@corp.example')?.org_roles).toEqual({ 'org-alpha': 'org_admin' });
    });

    it('a blocked plan holds back removals but applies additions, and does not record the run', async () => {
      const state = store();
      const result = await run([invite(['gus@corp.example']), ...removeBob], blocked, state);
      const r = byKey(result);
      expect(r['inviteUsers/account_member/batch-1']?.status).toBe('applied');
      for (const op of removeBob) {
        expect(r[op.key]).toMatchObject({
          status: 'skipped',
          detail: 'held back by guardrails: 1 user removals exceed guardrails.maxUserRemovals (0)',
        });
      }
      expect(result.ok).toBe(true);
      expect(userOf('bob@corp.example')?.enterprise_role_id).toBe('account_member');
      // Recording it would move the shrink guardrail's base past the held-back removals.
      expect((await state.load()).lastSuccessfulRun).toBeUndefined();
      expect((await state.load()).users).toEqual(['gus@corp.example']);
    });

    it('allowRemovals below the plan’s removal count keeps them held; at the count releases them', async () => {
      // The count a human approves is the one reports show: reconcile's removalCount.
      const needed = removalCount(removeBob);
      const held = await executePlan(planOf(removeBob, blocked), {
        client,
        state: store(),
        allowRemovals: needed - 1,
      });
      expect(held.counts.skipped).toBe(2);
      const state = store();
      const released = await executePlan(planOf(removeBob, blocked), {
        client,
        state,
        allowRemovals: needed,
      });
      expect(released.counts).toEqual({ applied: 2, already: 0, skipped: 0, failed: 0 });
      expect(userOf('bob@corp.example')).toMatchObject({ enterprise_role_id: null, org_roles: {} });
      expect((await state.load()).lastSuccessfulRun).toBeDefined();
    });

    it('an incomplete plan applies its additions but is not recorded as a successful run', async () => {
      const state = store();
      const result = await run([invite(['kim@corp.example'])], { complete: false }, state);
      expect(result.counts.applied).toBe(1);
      const ledger = await state.load();
      expect(ledger.users).toEqual(['kim@corp.example']);
      // A half-read directory must not become the base of the shrink guardrail.
      expect(ledger.lastSuccessfulRun).toBeUndefined();
    });

    it('skips what depends on a failed op, and says which', async () => {
      faults({ match: { method: 'POST', route: INVITE_ROUTE }, errorRate: 1, errorStatus: 403, times: 1 });
      const result = await run([
        register(['g-two', ' ']),
        groupEnt('g-two', MEMBER),
        groupOrg('g-two', ALPHA, ORG_MEMBER),
        groupOrg('g-mapped', BETA, ORG_MEMBER),
        invite(['hal@corp.example']),
        addOrg('hal@corp.example', null),
        addOrg('bob@corp.example', 'u-bob', BETA, ORG_MEMBER),
      ]);
      const r = byKey(result);
      expect(r['registerIdpGroups/batch-1']).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/422/),
      });
      expect(r['setGroupEnterpriseRole/g-two']).toMatchObject({
        status: 'skipped',
        detail: 'prerequisite registerIdpGroups/batch-1 failed',
      });
      expect(r['setGroupOrgRole/org-alpha/g-two']).toMatchObject({
        status: 'skipped',
        detail: 'prerequisite registerIdpGroups/batch-1 failed',
      });
      expect(r['setGroupOrgRole/org-beta/g-mapped']?.status).toBe('applied');
      expect(r['inviteUsers/account_member/batch-1']).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/403/),
      });
      expect(r['addOrgUser/org-alpha/hal@corp.example']).toMatchObject({
        status: 'skipped',
        detail: 'prerequisite inviteUsers/account_member/batch-1 failed for hal@corp.example',
      });
      expect(r['addOrgUser/org-beta/bob@corp.example']?.status).toBe('applied');
      expect(result.ok).toBe(false);
      expect(result.counts).toEqual({ applied: 2, already: 0, skipped: 3, failed: 2 });
      // No failed op carries the token.
      expect(JSON.stringify(result)).not.toContain(TOKEN);
      // Dependants were not attempted at all.
      expect(writes('POST', '/v3/enterprise/members/idp-groups/{idp_group_name}')).toHaveLength(0);
    });

    it('an invite that fails part way records the emails it confirmed and skips only the others', async () => {
      // Strict: the batch is refused (bob is a member); settling one by one, root's role change then
      // fails before new3 is invited. Lenient: the batch is accepted (bob and root as no-ops), and
      // root's role change fails.
      faults({
        match: { method: 'PATCH', route: '/v3/enterprise/members/users/{user_id}' },
        errorRate: 1,
        errorStatus: 403,
      });
      const state = store();
      const result = await run(
        [
          invite(['bob@corp.example', 'root@corp.example', 'new3@corp.example']),
          addOrg('bob@corp.example', 'u-bob', BETA, ORG_MEMBER),
          addOrg('new3@corp.example', null),
        ],
        {},
        state,
      );
      const r = byKey(result);
      expect(r['inviteUsers/account_member/batch-1']).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(
          strict
            ? /^2 of 3 invite\(s\) not confirmed \(root@corp\.example, new3@corp\.example\): PATCH .* 403/
            : /^1 of 3 invite\(s\) not confirmed \(root@corp\.example\): PATCH .* 403/,
        ),
      });
      expect(r['addOrgUser/org-beta/bob@corp.example']?.status).toBe('applied');
      if (strict) {
        expect(r['addOrgUser/org-alpha/new3@corp.example']).toMatchObject({
          status: 'skipped',
          detail: 'prerequisite inviteUsers/account_member/batch-1 failed for new3@corp.example',
        });
      } else expect(r['addOrgUser/org-alpha/new3@corp.example']?.status).toBe('applied');
      expect((await state.load()).users).toEqual(
        strict ? ['bob@corp.example'] : ['bob@corp.example', 'new3@corp.example'],
      );
    });

    it('one bad address in a batch of 100: 99 invited and recorded, 1 failed with Devin’s message', async () => {
      const emails = Array.from({ length: 100 }, (_, i) => `b${String(i).padStart(3, '0')}@corp.example`);
      emails[64] = 'b064@@corp.example';
      const state = store();
      const result = await run(
        [invite(emails), addOrg('b064@@corp.example', null), addOrg(emails[0] as string, null)],
        {},
        state,
      );
      const r = byKey(result);
      expect(r['inviteUsers/account_member/batch-1']).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('b064@@corp.example: "b064@@corp.example" is not an email address'),
      });
      expect(r['addOrgUser/org-alpha/b064@@corp.example']?.status).toBe('skipped');
      expect(r['addOrgUser/org-alpha/b000@corp.example']?.status).toBe('applied');
      const ledger = await state.load();
      expect(ledger.users).toHaveLength(99);
      expect(ledger.users).not.toContain('b064@@corp.example');
      expect(sim.dump().users.filter((u) => /^b\d{3}@corp/.test(u.email))).toHaveLength(99);
    });

    it('a failed org removal keeps the user removal from being attempted', async () => {
      faults({ match: { method: 'DELETE', route: ORG_USER_ROUTE }, errorRate: 1, errorStatus: 403 });
      const result = await run(removeBob);
      expect(result.results.map((r) => r.status)).toEqual(['failed', 'skipped']);
      expect(result.results[1]?.detail).toBe('prerequisite removeOrgUser/org-alpha/bob@corp.example failed');
      expect(writes('DELETE', '/v3/enterprise/members/users/{user_id}')).toHaveLength(0);
    });

    it('a second run of the same plan changes nothing and reports already', async () => {
      const ops = [
        register(['g-three']),
        groupEnt('g-three', MEMBER),
        invite(['ida@corp.example']),
        addOrg('ida@corp.example', null),
        ...removeBob,
      ];
      const state = store();
      expect((await run(ops, {}, state)).counts.failed).toBe(0);
      sim.clearRequests();
      const again = await run(ops, {}, state);
      expect(again.results.map((r) => [r.key, r.status])).toEqual([
        ['registerIdpGroups/batch-1', 'applied'],
        ['setGroupEnterpriseRole/g-three', 'already'],
        // Lenient: the re-invite is accepted as a no-op (applied, with no change in Devin).
        ['inviteUsers/account_member/batch-1', strict ? 'already' : 'applied'],
        ['addOrgUser/org-alpha/ida@corp.example', 'already'],
        ['removeOrgUser/org-alpha/bob@corp.example', 'already'],
        ['removeUser/bob@corp.example', 'already'],
      ]);
      expect(sim.requests().filter((r) => r.applied)).toHaveLength(0);
    });

    it('stops starting ops once the ledger cannot be written', async () => {
      const broken: StateStore = {
        load: async () => ({ version: 1, users: [], groups: [], groupRoles: [] }),
        recordOp: async () => {
          throw new Error('disk full');
        },
        recordRun: async (_run: LastRun) => {},
        describe: () => 'file /nowhere',
      };
      const result = await executePlan(planOf([register(['g-four']), groupEnt('g-four', MEMBER)]), {
        client,
        state: broken,
      });
      expect(result.results[0]).toMatchObject({
        status: 'failed',
        error: 'applied in Devin, but the ownership ledger (file /nowhere) could not be written: disk full',
      });
      expect(result.results[1]?.status).toBe('skipped');
      expect(mappingsOf('g-four')).toEqual([]);
    });

    it('bounds concurrency within a phase and reports progress per phase', async () => {
      faults({ match: { method: 'POST', route: ORG_USER_ROUTE }, latencyMs: 40 });
      await handleOp(invite(['j1@corp.example', 'j2@corp.example', 'j3@corp.example', 'j4@corp.example']), {
        client,
      });
      const users = Object.fromEntries(sim.dump().users.map((u) => [u.email, u.user_id]));
      const adds = ['j1', 'j2', 'j3', 'j4'].map((h) =>
        addOrg(`${h}@corp.example`, users[`${h}@corp.example`] ?? null),
      );
      const events: ProgressEvent[] = [];
      const result = await executePlan(planOf([groupEnt('g-bare', MEMBER), ...adds]), {
        client,
        state: store(),
        concurrency: 2,
        onProgress: (e) => events.push(e),
      });
      expect(result.ok).toBe(true);
      const posts = writes('POST', ORG_USER_ROUTE);
      const maxInFlight = Math.max(
        ...posts.map((a) => posts.filter((b) => b.at <= a.at && a.at < b.at + b.durationMs).length),
      );
      expect(maxInFlight).toBeLessThanOrEqual(2);
      expect(events).toEqual([
        { phase: 'setGroupEnterpriseRole', done: 0, total: 1, failed: 0 },
        { phase: 'setGroupEnterpriseRole', done: 1, total: 1, failed: 0 },
        { phase: 'addOrgUser', done: 0, total: 4, failed: 0 },
        { phase: 'addOrgUser', done: 1, total: 4, failed: 0 },
        { phase: 'addOrgUser', done: 2, total: 4, failed: 0 },
        { phase: 'addOrgUser', done: 3, total: 4, failed: 0 },
        { phase: 'addOrgUser', done: 4, total: 4, failed: 0 },
      ]);
    });
  });
});

describe('progressPrinter', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, stream: { isTTY, write: (c: string) => chunks.push(c) } };
  };

  it('rewrites one line per phase on a terminal', () => {
    const { chunks, stream } = sink(true);
    const print = progressPrinter(stream);
    print({ phase: 'inviteUsers', done: 0, total: 2, failed: 0 });
    print({ phase: 'inviteUsers', done: 1, total: 2, failed: 1 });
    print({ phase: 'inviteUsers', done: 2, total: 2, failed: 1 });
    expect(chunks.join('')).toBe(
      '\r\x1b[2KinviteUsers: 0/2\r\x1b[2KinviteUsers: 1/2, 1 failed\r\x1b[2KinviteUsers: 2/2, 1 failed\n',
    );
  });

  it('prints nothing off a terminal', () => {
    const { chunks, stream } = sink(false);
    progressPrinter(stream)({ phase: 'adopt', done: 1, total: 1, failed: 0 });
    expect(chunks).toEqual([]);
  });
});

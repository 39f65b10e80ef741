// The fail-closed guards of the core, scenario by scenario: each is a way a directory or config
// surprise used to plan removals with the guardrails saying ok (issue: "Fail closed").
import { describe, expect, it } from 'vitest';
import { planExitCode } from '../../../src/cli/exitCodes.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../../../src/directory/types.js';
import type { DevinSnapshot, DevinUser } from '../../../src/model/devin.js';
import {
  DEFAULT_GUARDRAILS,
  type MappingSpec,
  type Plan,
  planSync,
  removalCount,
  type SyncPolicy,
} from '../../../src/reconcile/index.js';
import { lastRunOf, type OwnershipLedger } from '../../../src/state/ledger.js';

const GUID = 'c6bc0710-5a3e-4b1f-9d2c-0123456789ab';
const ADMIN_GUID = '0e0e0e0e-1111-2222-3333-444455556666';
const people = Array.from({ length: 11 }, (_, i) => `sre${String(i + 1).padStart(2, '0')}@corp.example`);

const dirUser = (email: string, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({
  id: `id-${email.split('@')[0]}`,
  email,
  name: email,
  enabled: true,
  ...extra,
});

const sreGroup = (extra: Partial<DirectoryGroup> = {}): DirectoryGroup => ({
  id: GUID,
  name: 'devin-sre',
  memberUserIds: people.map((e) => dirUser(e).id),
  memberGroupIds: [],
  ...extra,
});

const directory = (groups: DirectoryGroup[], extra: Partial<DirectorySnapshot> = {}): DirectorySnapshot => ({
  source: 'test',
  readAt: 't',
  users: [...people.map((e) => dirUser(e)), dirUser('leaver@corp.example'), dirUser('admin@corp.example')],
  groups,
  complete: true,
  incompleteReasons: [],
  warnings: [],
  ...extra,
});

const devinUser = (
  email: string,
  role = 'account_member',
  orgRoles: Record<string, string> = {},
): DevinUser => ({
  id: `user-${email.split('@')[0]}`,
  email,
  name: email,
  enterpriseRoleId: role,
  orgRoles,
});

/** Devin as idsync left it after a sync of the SRE mapping: everyone in, everything owned. */
const devin = (extraUsers: DevinUser[] = []): DevinSnapshot => ({
  readAt: 't',
  orgs: [
    { id: 'org-platform', name: 'Platform' },
    { id: 'org-data', name: 'Data' },
  ],
  roles: [
    { id: 'account_admin', name: 'Admin', type: 'enterprise' },
    { id: 'account_member', name: 'Member', type: 'enterprise' },
    { id: 'org_admin', name: 'Org Admin', type: 'org' },
    { id: 'org_member', name: 'Org Member', type: 'org' },
  ],
  registeredGroups: ['devin-sre'],
  groupRoles: [
    { group: 'devin-sre', orgId: null, roleId: 'account_member' },
    { group: 'devin-sre', orgId: 'org-platform', roleId: 'org_admin' },
  ],
  users: [
    devinUser('breakglass@corp.example', 'account_admin'),
    ...people.map((e) => devinUser(e, 'account_member', { 'org-platform': 'org_admin' })),
    devinUser('leaver@corp.example', 'account_member', {}),
    ...extraUsers,
  ],
});

const ledger = (extra: Partial<OwnershipLedger> = {}): OwnershipLedger => ({
  version: 1,
  users: [...people, 'leaver@corp.example', 'admin@corp.example'],
  groups: ['devin-sre'],
  groupRoles: ['*/devin-sre', 'org-platform/devin-sre'],
  ...extra,
});

const sreMapping = (group: MappingSpec['group']): MappingSpec => ({
  group,
  idpGroupName: '{name}',
  enterpriseRole: 'Member',
  orgs: [{ org: 'Platform', role: 'Org Admin' }],
  provisionUsers: true,
});

const policy = (mappings: MappingSpec[], extra: Partial<SyncPolicy['scope']> = {}): SyncPolicy => ({
  mappings,
  scope: {
    emailDomains: ['corp.example'],
    protectedUsers: ['breakglass@corp.example'],
    groupNamePattern: 'devin-*',
    deprovision: 'remove',
    adopt: 'matching',
    ...extra,
  },
  rolePrecedence: [],
  guardrails: DEFAULT_GUARDRAILS,
});

const removedUsers = (plan: Plan) =>
  plan.ops.filter((o) => o.kind === 'removeUser').map((o) => (o.kind === 'removeUser' ? o.email : ''));
const heldKinds = (plan: Plan) => plan.held.map((h) => h.op.key);

describe('selectors by id: a GUID is the same id however it is printed', () => {
  for (const id of [GUID.toUpperCase(), `{${GUID}}`, `{${GUID.toUpperCase()}}`, ` ${GUID} `]) {
    it(`selects the group with id ${JSON.stringify(id)}: only the leaver is removed`, () => {
      const plan = planSync({
        policy: policy([sreMapping({ id })]),
        directory: directory([sreGroup()]),
        devin: devin(),
        ledger: ledger(),
      });
      expect(plan.held).toEqual([]);
      expect(removedUsers(plan)).toEqual(['leaver@corp.example']);
      expect(plan.ops.some((o) => o.kind === 'unregisterIdpGroup')).toBe(false);
      expect(planExitCode(plan)).toBe(0);
    });
  }
});

describe('a mapping that selects nothing never removes', () => {
  const plan = planSync({
    policy: policy([sreMapping({ id: GUID })]),
    directory: directory([]),
    devin: devin(),
    ledger: ledger(),
  });

  it('plans no removal and no unregistration', () => {
    expect(plan.ops.filter((o) => removalCount([o]) > 0)).toEqual([]);
  });

  it('lists every held removal with the mapping that explains it', () => {
    const held = heldKinds(plan);
    for (const e of people) {
      expect(held).toContain(`removeUser/${e}`);
      expect(held).toContain(`removeOrgUser/org-platform/${e}`);
    }
    expect(held).toContain('unregisterIdpGroup/devin-sre');
    // The leaver too: without the group, idsync cannot tell that the mapping did not grant them.
    expect(held).toContain('removeUser/leaver@corp.example');
    const reasons = plan.held.flatMap((h) => h.reasons);
    expect(reasons.every((r) => r.guard === 'selector-miss')).toBe(true);
    expect(reasons[0]?.message).toContain(`mappings[0] (id "${GUID}") selects no directory group`);
    const warning = plan.warnings.find((w) => w.code === 'held-back');
    expect(warning?.message).toContain('sre01@corp.example');
  });

  it('exits non-zero (3) and does not move the shrink base', () => {
    expect(planExitCode(plan)).toBe(3);
    expect(lastRunOf(plan, new Date())).toBeUndefined();
  });
});

describe('a group renamed outside scope.groupNamePattern', () => {
  const plan = planSync({
    policy: policy([sreMapping({ id: GUID })]),
    directory: directory([sreGroup({ name: 'legacy-sre' })]),
    devin: devin(),
    ledger: ledger({
      lastSuccessfulRun: {
        at: 't',
        directoryUsers: 13,
        fingerprint: 'x',
        mappedGroups: [{ id: GUID, name: 'devin-sre', members: 11, mappings: [] }],
      },
    }),
  });

  it('keeps its members: registry scope is not user access', () => {
    expect(removedUsers(plan)).toEqual(['leaver@corp.example']);
    expect(plan.ops.some((o) => o.kind === 'removeOrgUser')).toBe(false);
  });

  it('holds back the old registry entry instead of unregistering it', () => {
    expect(plan.ops.some((o) => o.kind === 'unregisterIdpGroup')).toBe(false);
    const held = plan.held.find((h) => h.op.key === 'unregisterIdpGroup/devin-sre');
    expect(held?.reasons[0]?.guard).toBe('group-out-of-scope');
    expect(held?.reasons[0]?.message).toContain('"legacy-sre", outside scope.groupNamePattern "devin-*"');
    expect(plan.warnings.find((w) => w.code === 'out-of-scope')?.message).toContain(
      "its members' access still is",
    );
  });
});

describe('an unreadable member list', () => {
  const plan = planSync({
    policy: policy([sreMapping({ name: 'devin-sre' })]),
    directory: directory([
      sreGroup({ memberUserIds: [], unreadable: 'the member attribute was not returned (an ACL?)' }),
    ]),
    devin: devin(),
    ledger: ledger(),
  });

  it('removes nobody and says which group could not be read', () => {
    expect(removedUsers(plan)).toEqual([]);
    expect(plan.ops.some((o) => o.kind === 'removeOrgUser')).toBe(false);
    const reasons = plan.held.flatMap((h) => h.reasons);
    expect(reasons.some((r) => r.guard === 'group-unreadable' && r.message.includes('devin-sre'))).toBe(true);
    expect(planExitCode(plan)).toBe(3);
  });

  it('still registers nothing twice and keeps the group mappings', () => {
    expect(plan.ops.filter((o) => o.kind.startsWith('removeGroup'))).toEqual([]);
  });
});

describe('the per-group shrink guardrail', () => {
  const run = (members: string[], groups = [sreGroup({ memberUserIds: members })]) =>
    planSync({
      policy: policy([sreMapping({ id: GUID })]),
      directory: directory(groups),
      devin: devin(),
      ledger: ledger({
        lastSuccessfulRun: {
          at: 't',
          directoryUsers: 13,
          fingerprint: 'x',
          mappedGroups: [
            {
              id: GUID,
              name: 'devin-sre',
              members: 11,
              mappings: [JSON.stringify(['id', GUID, '{name}'])],
            },
          ],
        },
      }),
    });

  it('blocks the removals when a group loses more than half its members', () => {
    const plan = run(people.slice(0, 4).map((e) => dirUser(e).id));
    expect(plan.guardrails.verdict).toBe('blocked');
    expect(plan.guardrails.reasons.join('\n')).toContain(
      'directory group devin-sre (mappings[0]) shrank by 63.6% since the last successful run (11 → 4 members), over guardrails.maxGroupShrinkPercent (50%)',
    );
    expect(removalCount(plan.ops)).toBeGreaterThan(0);
    expect(planExitCode(plan)).toBe(3);
  });

  it('lets a small shrink through', () => {
    const plan = run(people.slice(0, 9).map((e) => dirUser(e).id));
    expect(plan.guardrails.reasons.filter((r) => r.includes('maxGroupShrinkPercent'))).toEqual([]);
  });

  it('records the member counts of a clean run as the next base', () => {
    const plan = run(people.map((e) => dirUser(e).id));
    expect(lastRunOf(plan, new Date())?.mappedGroups).toEqual([
      { id: GUID, name: 'devin-sre', members: 11, mappings: [JSON.stringify(['id', GUID, '{name}'])] },
    ]);
  });
});

describe('downgrades a missing mapping could explain', () => {
  it('holds a demotion from admin when the admin mapping selects nothing', () => {
    const adminMapping: MappingSpec = {
      group: { id: ADMIN_GUID },
      idpGroupName: 'devin-admins',
      enterpriseRole: 'Admin',
      orgs: [],
      provisionUsers: true,
    };
    const plan = planSync({
      policy: policy([adminMapping, sreMapping({ id: GUID })]),
      directory: directory([sreGroup()]),
      devin: {
        ...devin(),
        users: devin().users.map((u) =>
          u.email === 'sre01@corp.example' ? { ...u, enterpriseRoleId: 'account_admin' } : u,
        ),
      },
      ledger: ledger(),
    });
    expect(plan.ops.some((o) => o.kind === 'setUserEnterpriseRole')).toBe(false);
    expect(heldKinds(plan)).toContain('setUserEnterpriseRole/sre01@corp.example');
  });
});

describe('addresses Devin would refuse', () => {
  for (const bad of [
    'sp aced@corp.example',
    'x@evil.example@corp.example',
    'no-domain@corp',
    'a..b@corp.example',
  ]) {
    it(`leaves ${JSON.stringify(bad)} out with invalid-email, and invites the rest`, () => {
      const users = [
        dirUser('new1@corp.example'),
        dirUser(bad, { id: 'id-bad' }),
        dirUser('new2@corp.example'),
      ];
      const plan = planSync({
        policy: policy([sreMapping({ name: 'devin-sre' })]),
        directory: directory([sreGroup({ memberUserIds: users.map((u) => u.id) })], { users }),
        devin: { ...devin(), users: [devinUser('breakglass@corp.example', 'account_admin')] },
        ledger: ledger({ users: [] }),
      });
      const invited = plan.ops.flatMap((o) => (o.kind === 'inviteUsers' ? o.emails : []));
      expect(invited).toEqual(['new1@corp.example', 'new2@corp.example']);
      expect(plan.warnings.find((w) => w.code === 'invalid-email')?.message).toContain(JSON.stringify(bad));
    });
  }
});

describe('IdP group names Devin cannot hold', () => {
  it('refuses a name with "/" and still provisions the members', () => {
    const plan = planSync({
      policy: policy([{ ...sreMapping({ id: GUID }), idpGroupName: 'devin-{name}/x' }]),
      directory: directory([sreGroup()]),
      devin: devin(),
      ledger: ledger(),
    });
    expect(plan.ops.some((o) => o.kind === 'registerIdpGroups')).toBe(false);
    expect(plan.warnings.find((w) => w.code === 'invalid-idp-group-name')?.message).toContain(
      'cannot round-trip through the API path',
    );
    // The members keep their access; only the real leaver goes.
    expect(removedUsers(plan)).toEqual(['leaver@corp.example']);
  });
});

describe('what an admin reads', () => {
  it('links an email change (same directory id) instead of an unrelated leaver and joiner', () => {
    const renamed = people.map((e) =>
      dirUser(e, e === 'sre01@corp.example' ? { email: 'sre-one@corp.example' } : {}),
    );
    const plan = planSync({
      policy: policy([sreMapping({ id: GUID })]),
      directory: directory([sreGroup()], { users: renamed }),
      devin: devin(),
      ledger: ledger({
        lastSuccessfulRun: {
          at: 't',
          directoryUsers: 13,
          fingerprint: 'x',
          userIds: { 'id-sre01': 'sre01@corp.example' },
        },
      }),
    });
    const w = plan.warnings.find((x) => x.code === 'email-changed');
    expect(w?.message).toContain('changed address from sre01@corp.example to sre-one@corp.example');
    const removal = plan.ops.find((o) => o.key === 'removeUser/sre01@corp.example');
    expect(removal?.reasons[0]).toContain('changed address');
    const invite = plan.ops.find((o) => o.kind === 'inviteUsers');
    expect(invite?.reasons.some((r) => r.includes('changed address'))).toBe(true);
  });

  it('warns before adoption strips a hand-given org role', () => {
    const plan = planSync({
      policy: policy([sreMapping({ id: GUID })]),
      directory: directory([sreGroup()]),
      devin: {
        ...devin(),
        users: devin().users.map((u) =>
          u.email === 'sre02@corp.example'
            ? { ...u, orgRoles: { ...u.orgRoles, 'org-data': 'org_member' } }
            : u,
        ),
      },
      ledger: ledger({ users: people.filter((e) => e !== 'sre02@corp.example') }),
    });
    const w = plan.warnings.find((x) => x.code === 'adopt-strips-access');
    expect(w?.message).toContain('adopting sre02@corp.example takes away access given by hand');
    expect(w?.message).toContain('Org Member role in Data');
    const op = plan.ops.find((o) => o.key === 'removeOrgUser/org-data/sre02@corp.example');
    expect(op?.reasons[0]).toContain('adopting takes it away');
  });

  it('says a group was renamed rather than "no mapping selects it any more"', () => {
    const key = JSON.stringify(['id', GUID, 'devin-{name}']);
    const plan = planSync({
      policy: policy([{ ...sreMapping({ id: GUID }), idpGroupName: 'devin-{name}' }], {
        groupNamePattern: '*',
      }),
      directory: directory([sreGroup({ name: 'platform-sre' })]),
      devin: { ...devin(), registeredGroups: ['devin-sre'] },
      ledger: ledger({
        lastSuccessfulRun: {
          at: 't',
          directoryUsers: 13,
          fingerprint: 'x',
          mappedGroups: [{ id: GUID, name: 'sre', members: 11, mappings: [key] }],
        },
      }),
    });
    const op = plan.ops.find((o) => o.key === 'unregisterIdpGroup/devin-sre');
    expect(op?.reasons[0]).toContain('directory group sre was renamed to platform-sre');
    expect(plan.warnings.some((w) => w.code === 'group-renamed')).toBe(true);
  });
});

describe('an incomplete read', () => {
  const plan = planSync({
    policy: policy([sreMapping({ id: GUID })]),
    directory: directory([sreGroup({ memberUserIds: [] })], {
      complete: false,
      incompleteReasons: ['users: page 2 failed: size limit exceeded (4)'],
    }),
    devin: devin(),
    ledger: ledger(),
  });

  it('holds every change to existing access, lists them, and exits 5', () => {
    expect(removalCount(plan.ops)).toBe(0);
    expect(plan.held.length).toBeGreaterThan(11);
    expect(plan.held.every((h) => h.reasons.some((r) => r.guard === 'incomplete-read'))).toBe(true);
    expect(planExitCode(plan)).toBe(5);
    expect(lastRunOf(plan, new Date())).toBeUndefined();
  });

  it('never offers an approval of 0 removals', () => {
    expect(plan.guardrails.verdict).toBe('ok');
  });
});

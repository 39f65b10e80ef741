// Example-based tests of the reconcile core: named scenarios with their expected ops written out.
import { describe, expect, it } from 'vitest';
import type { DirectorySnapshot } from '../../../src/directory/types.js';
import type { DevinSnapshot } from '../../../src/model/devin.js';
import {
  DEFAULT_GUARDRAILS,
  findDrift,
  guardrails,
  type MappingSpec,
  type Op,
  type Plan,
  PolicyResolutionError,
  planSync,
  type SyncPolicy,
} from '../../../src/reconcile/index.js';
import { EMPTY_LEDGER, type OwnershipLedger } from '../../../src/state/ledger.js';

const devin = (partial: Partial<DevinSnapshot> = {}): DevinSnapshot => ({
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
    { id: 'role-lead', name: 'Tech Lead', type: 'org' },
  ],
  registeredGroups: [],
  groupRoles: [],
  users: [
    {
      id: 'user-bg',
      email: 'breakglass@corp.example',
      name: 'BG',
      enterpriseRoleId: 'account_admin',
      orgRoles: {},
    },
  ],
  ...partial,
});

const directory = (partial: Partial<DirectorySnapshot> = {}): DirectorySnapshot => ({
  source: 'test',
  readAt: 't',
  users: [
    { id: 'u-alice', email: 'Alice@corp.example', name: 'Alice', enabled: true },
    { id: 'u-bob', email: 'bob@corp.example', name: 'Bob', enabled: true },
    { id: 'u-carol', email: 'carol@corp.example', name: 'Carol', enabled: false },
    { id: 'u-dan', email: null, name: 'Dan', enabled: true },
    { id: 'u-eve', email: 'eve@contractor.example', name: 'Eve', enabled: true },
  ],
  groups: [
    { id: 'g-sre', name: 'sre', memberUserIds: ['u-alice'], memberGroupIds: [] },
    {
      id: 'g-platform',
      name: 'platform-admins',
      memberUserIds: ['u-carol', 'u-dan', 'u-eve'],
      memberGroupIds: ['g-sre'],
    },
    { id: 'g-data', name: 'devin-data', memberUserIds: ['u-bob', 'u-alice'], memberGroupIds: [] },
  ],
  complete: true,
  incompleteReasons: [],
  warnings: [],
  ...partial,
});

const mapping = (partial: Partial<MappingSpec> & Pick<MappingSpec, 'group'>): MappingSpec => ({
  idpGroupName: '{name}',
  orgs: [],
  provisionUsers: false,
  ...partial,
});

const policy = (
  mappings: MappingSpec[],
  scope: Partial<SyncPolicy['scope']> = {},
  extra: Partial<SyncPolicy> = {},
): SyncPolicy => ({
  mappings,
  scope: {
    emailDomains: ['corp.example'],
    protectedUsers: ['breakglass@corp.example'],
    groupNamePattern: 'devin-*',
    deprovision: 'remove',
    adopt: 'matching',
    ...scope,
  },
  rolePrecedence: [],
  guardrails: DEFAULT_GUARDRAILS,
  ...extra,
});

const platformMapping = mapping({
  group: { name: 'platform-admins' },
  idpGroupName: 'devin-{name}',
  enterpriseRole: 'Member',
  orgs: [{ org: 'Platform', role: 'org_admin' }],
  provisionUsers: true,
});
const dataMapping = mapping({
  group: { pattern: 'devin-d*' },
  enterpriseRole: 'account_member',
  orgs: [{ org: 'org-data', role: 'Org Member' }],
  provisionUsers: true,
});

const keys = (plan: Plan) => plan.ops.map((o) => o.key);
const op = <K extends Op['kind']>(plan: Plan, key: string) =>
  plan.ops.find((o) => o.key === key) as Extract<Op, { kind: K }>;

describe('planSync: a first sync into an empty Devin', () => {
  const plan = planSync({
    policy: policy([platformMapping, dataMapping]),
    directory: directory(),
    devin: devin(),
    ledger: EMPTY_LEDGER,
  });

  it('registers, maps, invites and adds in docs/design.md §5 order', () => {
    expect(keys(plan)).toEqual([
      'registerIdpGroups/batch-1',
      'setGroupEnterpriseRole/devin-data',
      'setGroupEnterpriseRole/devin-platform-admins',
      'setGroupOrgRole/org-data/devin-data',
      'setGroupOrgRole/org-platform/devin-platform-admins',
      'inviteUsers/account_member/batch-1',
      'addOrgUser/org-data/alice@corp.example',
      'addOrgUser/org-data/bob@corp.example',
      'addOrgUser/org-platform/alice@corp.example',
    ]);
    expect(op<'registerIdpGroups'>(plan, 'registerIdpGroups/batch-1').groups).toEqual([
      'devin-data',
      'devin-platform-admins',
    ]);
    expect(op<'inviteUsers'>(plan, 'inviteUsers/account_member/batch-1').emails).toEqual([
      'Alice@corp.example',
      'bob@corp.example',
    ]);
    expect(plan.guardrails.verdict).toBe('ok');
    expect(plan.summary).toMatchObject({ registerIdpGroups: 1, inviteUsers: 1, addOrgUser: 3 });
  });

  it('resolves role and org names to ids and keeps both', () => {
    const set = op<'setGroupOrgRole'>(plan, 'setGroupOrgRole/org-platform/devin-platform-admins');
    expect(set.org).toEqual({ id: 'org-platform', name: 'Platform' });
    expect(set.role).toEqual({ id: 'org_admin', name: 'Org Admin' });
    expect(set.expected).toEqual({ role: null });
  });

  it('gives each grant its reason with the nesting path', () => {
    const add = op<'addOrgUser'>(plan, 'addOrgUser/org-platform/alice@corp.example');
    expect(add.userId).toBeNull();
    expect(add.reasons).toEqual([
      'Alice@corp.example → Platform/Org Admin via sre ⊂ platform-admins (mappings[0])',
    ]);
  });

  it('turns directory data problems into warnings', () => {
    const codes = plan.warnings.map((w) => w.code).sort();
    expect(codes).toEqual(['out-of-scope', 'user-disabled', 'user-without-email']);
    expect(plan.warnings.find((w) => w.code === 'out-of-scope')?.message).toMatch(/eve@contractor.example/);
  });

  it('has a stable fingerprint', () => {
    const again = planSync({
      policy: policy([platformMapping, dataMapping]),
      directory: directory(),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    expect(again.fingerprint).toBe(plan.fingerprint);
    expect(plan.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('planSync: precedence', () => {
  it('admin beats member when two mappings grant one scope', () => {
    const plan = planSync({
      policy: policy([
        dataMapping,
        mapping({
          group: { name: 'sre' },
          idpGroupName: 'devin-sre',
          enterpriseRole: 'account_admin',
          orgs: [{ org: 'Data', role: 'org_admin' }],
          provisionUsers: true,
        }),
      ]),
      directory: directory(),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    const invites = plan.ops.filter((o) => o.kind === 'inviteUsers');
    expect(invites.map((o) => [o.role.id, o.emails])).toEqual([
      ['account_admin', ['Alice@corp.example']],
      ['account_member', ['bob@corp.example']],
    ]);
    expect(op<'addOrgUser'>(plan, 'addOrgUser/org-data/alice@corp.example').role.id).toBe('org_admin');
  });

  it('rolePrecedence orders custom roles above built-ins', () => {
    const lead = mapping({
      group: { name: 'sre' },
      idpGroupName: 'devin-sre',
      enterpriseRole: 'account_member',
      orgs: [{ org: 'Data', role: 'Tech Lead' }],
      provisionUsers: true,
    });
    const withOrder = planSync({
      policy: policy([dataMapping, lead], {}, { rolePrecedence: ['role-lead'] }),
      directory: directory(),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    expect(op<'addOrgUser'>(withOrder, 'addOrgUser/org-data/alice@corp.example').role.id).toBe('role-lead');
    const without = planSync({
      policy: policy([dataMapping, lead]),
      directory: directory(),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    expect(op<'addOrgUser'>(without, 'addOrgUser/org-data/alice@corp.example').role.id).toBe('org_member');
  });
});

describe('planSync: group selectors', () => {
  it('matches a DN however the server cases, spaces and escapes it', () => {
    const dir = directory({
      groups: [
        {
          id: 'g-x',
          name: 'x',
          dn: 'CN=Smith\\2C John, OU=Groups,DC=corp',
          memberUserIds: ['u-bob'],
          memberGroupIds: [],
        },
      ],
    });
    const plan = planSync({
      policy: policy([
        mapping({ group: { dn: 'cn=Smith\\, John,ou=groups,dc=corp' }, idpGroupName: 'devin-smith' }),
      ]),
      directory: dir,
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    expect(op<'registerIdpGroups'>(plan, 'registerIdpGroups/batch-1').groups).toEqual(['devin-smith']);
  });
});

describe('planSync: config names Devin does not have', () => {
  it('fails with every problem, listing what Devin has', () => {
    const bad = policy([
      mapping({
        group: { name: 'sre' },
        enterpriseRole: 'Owner',
        orgs: [
          { org: 'Platfrom', role: 'org_admin' },
          { org: 'Data', role: 'account_admin' },
        ],
      }),
    ]);
    let err: unknown;
    try {
      planSync({ policy: bad, directory: directory(), devin: devin(), ledger: EMPTY_LEDGER });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyResolutionError);
    expect((err as PolicyResolutionError).problems).toEqual([
      'mappings[0].enterpriseRole: no enterprise role "Owner"; Devin has: Admin (account_admin), Member (account_member)',
      'mappings[0].orgs[0].org: no organization "Platfrom"; Devin has: Platform (org-platform), Data (org-data)',
      'mappings[0].orgs[1].role: "account_admin" is an enterprise role, but an org role is needed here; Devin\'s org roles: Org Admin (org_admin), Org Member (org_member), Tech Lead (role-lead)',
    ]);
  });
});

describe('planSync: ownership and adoption', () => {
  const existing = devin({
    users: [
      {
        id: 'user-bg',
        email: 'breakglass@corp.example',
        name: 'BG',
        enterpriseRoleId: 'account_admin',
        orgRoles: {},
      },
      {
        id: 'user-bob',
        email: 'BOB@corp.example',
        name: 'Bob',
        enterpriseRoleId: 'account_member',
        orgRoles: {},
      },
      {
        id: 'user-zed',
        email: 'zed@corp.example',
        name: 'Zed',
        enterpriseRoleId: 'account_member',
        orgRoles: { 'org-data': 'org_member' },
      },
      {
        id: 'user-hand',
        email: 'hand@corp.example',
        name: 'By hand',
        enterpriseRoleId: 'account_member',
        orgRoles: {},
      },
    ],
    registeredGroups: ['devin-data', 'devin-legacy'],
    groupRoles: [
      { group: 'devin-data', orgId: null, roleId: 'account_member' },
      { group: 'devin-legacy', orgId: null, roleId: 'account_admin' },
    ],
  });
  const ledger: OwnershipLedger = { ...EMPTY_LEDGER, users: ['zed@corp.example'] };

  it('adopt: matching takes over what the mappings want, as ops, and removes only what it owns', () => {
    const plan = planSync({ policy: policy([dataMapping]), directory: directory(), devin: existing, ledger });
    expect(keys(plan)).toEqual([
      'adopt/group/devin-data',
      'adopt/groupRole/*/devin-data',
      'adopt/user/bob@corp.example',
      'setGroupOrgRole/org-data/devin-data',
      'inviteUsers/account_member/batch-1',
      'addOrgUser/org-data/alice@corp.example',
      'addOrgUser/org-data/bob@corp.example',
      'removeOrgUser/org-data/zed@corp.example',
      'removeUser/zed@corp.example',
    ]);
    // hand@ and devin-legacy are not idsync's and nothing wants them: untouched, silently.
    expect(JSON.stringify(plan.ops)).not.toMatch(/hand@|devin-legacy/);
  });

  it('adopt: none leaves what it does not own and says so', () => {
    const plan = planSync({
      policy: policy([dataMapping], { adopt: 'none' }),
      directory: directory(),
      devin: existing,
      ledger,
    });
    expect(keys(plan)).toEqual([
      'inviteUsers/account_member/batch-1',
      'addOrgUser/org-data/alice@corp.example',
      'removeOrgUser/org-data/zed@corp.example',
      'removeUser/zed@corp.example',
    ]);
    expect(plan.warnings.filter((w) => w.code === 'not-owned').map((w) => w.subject)).toEqual([
      'devin-data',
      'bob@corp.example',
    ]);
  });

  it('adopt: all takes over every in-scope user and in-pattern group, then removes the unwanted', () => {
    const plan = planSync({
      policy: policy([dataMapping], { adopt: 'all' }),
      directory: directory(),
      devin: existing,
      ledger,
    });
    expect(keys(plan)).toContain('adopt/user/hand@corp.example');
    expect(keys(plan)).toContain('removeUser/hand@corp.example');
    expect(keys(plan)).toContain('adopt/group/devin-legacy');
    expect(keys(plan)).toContain('unregisterIdpGroup/devin-legacy');
    expect(keys(plan)).toContain('removeGroupEnterpriseRole/devin-legacy');
    expect(keys(plan)).not.toContain('removeUser/breakglass@corp.example');
  });

  it('deprovision: report lists leavers instead of removing them', () => {
    const plan = planSync({
      policy: policy([dataMapping], { deprovision: 'report' }),
      directory: directory(),
      devin: existing,
      ledger,
    });
    expect(keys(plan).filter((k) => k.startsWith('remove'))).toEqual([]);
    expect(plan.warnings.find((w) => w.code === 'deprovision-report')?.subject).toBe('zed@corp.example');
  });
});

describe('planSync: safety rules', () => {
  it('never removes or demotes the last enterprise admin', () => {
    const d = devin({
      users: [
        {
          id: 'user-ann',
          email: 'ann@corp.example',
          name: 'Ann',
          enterpriseRoleId: 'account_admin',
          orgRoles: {},
        },
      ],
    });
    const plan = planSync({
      policy: policy([dataMapping], { protectedUsers: [] }),
      directory: directory(),
      devin: d,
      ledger: { ...EMPTY_LEDGER, users: ['ann@corp.example'] },
    });
    expect(keys(plan)).not.toContain('removeUser/ann@corp.example');
    expect(plan.warnings.some((w) => w.code === 'last-admin' && w.subject === 'ann@corp.example')).toBe(true);
  });

  it('leaves a protected user alone even when the mappings want changes', () => {
    const d = devin({
      users: [
        {
          id: 'user-bob',
          email: 'bob@corp.example',
          name: 'Bob',
          enterpriseRoleId: 'account_admin',
          orgRoles: {},
        },
      ],
    });
    const plan = planSync({
      policy: policy([dataMapping], { protectedUsers: ['BOB@corp.example'] }),
      directory: directory(),
      devin: d,
      ledger: { ...EMPTY_LEDGER, users: ['bob@corp.example'] },
    });
    expect(JSON.stringify(plan.ops)).not.toMatch(/bob@/i);
    expect(plan.warnings.some((w) => w.code === 'protected-user')).toBe(true);
  });

  it('freezes an email two enabled users share: no invite, no removal', () => {
    const dir = directory({
      users: [
        ...directory().users,
        { id: 'u-bob2', email: 'BOB@corp.example ', name: 'Other Bob', enabled: true },
      ],
    });
    dir.groups[2]?.memberUserIds.push('u-bob2');
    const d = devin({
      users: [
        ...devin().users,
        {
          id: 'user-bob',
          email: 'bob@corp.example',
          name: 'Bob',
          enterpriseRoleId: 'account_member',
          orgRoles: {},
        },
      ],
    });
    const plan = planSync({
      policy: policy([dataMapping]),
      directory: dir,
      devin: d,
      ledger: { ...EMPTY_LEDGER, users: ['bob@corp.example'] },
    });
    expect(JSON.stringify(plan.ops)).not.toMatch(/bob@/i);
    expect(plan.warnings.filter((w) => w.code === 'duplicate-email')).toHaveLength(1);
  });

  it('holds back removals and role changes on an incomplete read, and says why', () => {
    const d = devin({
      users: [
        ...devin().users,
        {
          id: 'user-zed',
          email: 'zed@corp.example',
          name: 'Zed',
          enterpriseRoleId: 'account_member',
          orgRoles: {},
        },
        {
          id: 'user-bob',
          email: 'bob@corp.example',
          name: 'Bob',
          enterpriseRoleId: 'account_admin',
          orgRoles: {},
        },
      ],
    });
    const plan = planSync({
      policy: policy([dataMapping]),
      directory: directory({
        complete: false,
        incompleteReasons: ['group devin-data: member range 1500-* failed'],
      }),
      devin: d,
      ledger: { ...EMPTY_LEDGER, users: ['zed@corp.example', 'bob@corp.example'] },
    });
    expect(keys(plan).filter((k) => k.startsWith('remove') || k.startsWith('setUser'))).toEqual([]);
    expect(keys(plan)).toContain('inviteUsers/account_member/batch-1');
    expect(plan.complete).toBe(false);
    expect(plan.warnings[0]).toMatchObject({ code: 'incomplete-read' });
    expect(plan.warnings[0]?.message).toMatch(/member range 1500-\* failed.*2 removal/);
  });

  it('splits invites and registrations at 100', () => {
    const users = Array.from({ length: 250 }, (_, i) => ({
      id: `u${i}`,
      email: `p${String(i).padStart(3, '0')}@corp.example`,
      name: `P${i}`,
      enabled: true,
    }));
    const groups = Array.from({ length: 130 }, (_, i) => ({
      id: `g${i}`,
      name: `devin-t${String(i).padStart(3, '0')}`,
      memberUserIds: i === 0 ? users.map((u) => u.id) : [],
      memberGroupIds: [],
    }));
    const plan = planSync({
      policy: policy([
        mapping({ group: { pattern: 'devin-t*' }, enterpriseRole: 'account_member', provisionUsers: true }),
      ]),
      directory: directory({ users, groups }),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    const sizes = (kind: 'inviteUsers' | 'registerIdpGroups') =>
      plan.ops
        .filter((o) => o.kind === kind)
        .map((o) =>
          o.kind === 'inviteUsers' ? o.emails.length : o.kind === 'registerIdpGroups' ? o.groups.length : 0,
        );
    expect(sizes('inviteUsers')).toEqual([100, 100, 50]);
    expect(sizes('registerIdpGroups')).toEqual([100, 30]);
  });
});

describe('guardrails', () => {
  const removals = (n: number): Op[] =>
    Array.from({ length: n }, (_, i) => ({
      kind: 'removeUser' as const,
      key: `removeUser/u${i}`,
      email: `u${i}@corp.example`,
      userId: `user-${i}`,
      expected: { role: null },
      reasons: [],
    }));
  const spec = {
    maxUserRemovals: 3,
    maxUserRemovalPercent: 50,
    maxGroupRemovals: 1,
    maxSourceShrinkPercent: 20,
    maxGroupShrinkPercent: 50,
  };

  it('passes within every threshold', () => {
    expect(
      guardrails({
        ops: removals(3),
        managedUsers: 10,
        directoryUsers: 90,
        lastRun: { at: 't', directoryUsers: 100, fingerprint: 'f' },
        spec,
      }),
    ).toEqual({ verdict: 'ok', reasons: [] });
  });
  it('blocks on the count, the percentage, group removals and source shrink, naming each', () => {
    const ops: Op[] = [
      ...removals(4),
      { kind: 'unregisterIdpGroup', key: 'a', group: 'devin-a', expected: { registered: true }, reasons: [] },
      { kind: 'unregisterIdpGroup', key: 'b', group: 'devin-b', expected: { registered: true }, reasons: [] },
    ];
    const v = guardrails({
      ops,
      managedUsers: 5,
      directoryUsers: 70,
      lastRun: { at: 't', directoryUsers: 100, fingerprint: 'f' },
      spec,
    });
    expect(v.verdict).toBe('blocked');
    expect(v.reasons).toEqual([
      '4 user removals exceed guardrails.maxUserRemovals (3)',
      '4 of 5 managed users (80.0%) would be removed, over guardrails.maxUserRemovalPercent (50%)',
      '2 IdP group removals exceed guardrails.maxGroupRemovals (1)',
      'the directory shrank by 30.0% since the last successful run (100 → 70 users), over guardrails.maxSourceShrinkPercent (20%)',
    ]);
  });
});

describe('findDrift', () => {
  it('lists every op whose expected state no longer holds', () => {
    const plan = planSync({
      policy: policy([platformMapping, dataMapping]),
      directory: directory(),
      devin: devin(),
      ledger: EMPTY_LEDGER,
    });
    expect(findDrift(plan.ops, devin())).toEqual([]);
    const moved = devin({
      registeredGroups: ['devin-data'],
      groupRoles: [{ group: 'devin-data', orgId: null, roleId: 'account_admin' }],
      users: [
        ...devin().users,
        {
          id: 'user-bob',
          email: 'bob@corp.example',
          name: 'Bob',
          enterpriseRoleId: 'account_member',
          orgRoles: { 'org-data': 'org_member' },
        },
      ],
    });
    expect(findDrift(plan.ops, moved)).toEqual([
      { key: 'registerIdpGroups/batch-1', expected: 'not registered', found: 'registered: devin-data' },
      { key: 'setGroupEnterpriseRole/devin-data', expected: 'none', found: 'account_admin' },
      {
        key: 'inviteUsers/account_member/batch-1',
        expected: 'not members',
        found: 'members: bob@corp.example',
      },
      { key: 'addOrgUser/org-data/bob@corp.example', expected: 'none', found: 'org_member' },
    ]);
  });
});

describe('planSync: one email held by two Devin users', () => {
  it('removes neither while the directory wants the address, and both once it does not', () => {
    const twins = devin({
      users: [
        ...devin().users,
        {
          id: 'user-a1',
          email: 'alice@corp.example',
          name: 'A',
          enterpriseRoleId: 'account_member',
          orgRoles: {},
        },
        {
          id: 'user-a2',
          email: 'ALICE@corp.example',
          name: 'A',
          enterpriseRoleId: 'account_member',
          orgRoles: {},
        },
      ],
    });
    const ledger: OwnershipLedger = { ...EMPTY_LEDGER, users: ['alice@corp.example'] };
    const wanted = planSync({
      policy: policy([dataMapping]),
      directory: directory(),
      devin: twins,
      ledger,
    });
    expect(keys(wanted).filter((k) => k.startsWith('removeUser/'))).toEqual([]);
    const gone = planSync({
      policy: policy([dataMapping]),
      directory: directory({ users: directory().users.filter((u) => u.id !== 'u-alice') }),
      devin: twins,
      ledger,
    });
    expect(
      gone.ops.filter((o) => o.kind === 'removeUser').map((o) => (o as { userId: string }).userId),
    ).toEqual(['user-a1', 'user-a2']);
  });
});

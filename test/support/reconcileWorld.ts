// Random worlds for property tests of the core (fast-check): directories, Devin states, policies
// and ledgers small enough to collide (shared emails, nested groups, patterns) and so find edge cases.
import fc from 'fast-check';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../../src/directory/types.js';
import type { DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import type { MappingSpec, SyncPolicy } from '../../src/reconcile/index.js';
import { emailKey, groupRoleKey, type OwnershipLedger } from '../../src/state/ledger.js';

export const ENTERPRISE_ROLES = ['account_admin', 'account_member'];
export const ORG_ROLES = ['org_admin', 'org_member', 'role-lead'];
export const ORGS = ['org-a', 'org-b'];
export const EMAILS = [
  ...Array.from({ length: 8 }, (_, i) => `u${i}@corp.example`),
  'x0@other.example',
  'x1@other.example',
  'U3@Corp.Example',
];
export const GROUP_NAMES = ['devin-g0', 'devin-g1', 'devin-g2', 'devin-g3', 'misc'];
export const DEVIN_GROUPS = [...GROUP_NAMES, 'devin-manual', 'manual'];

export const baseDevin = (): Omit<DevinSnapshot, 'users' | 'registeredGroups' | 'groupRoles'> => ({
  readAt: 't',
  orgs: ORGS.map((id) => ({ id, name: id.toUpperCase() })),
  roles: [
    ...ENTERPRISE_ROLES.map((id) => ({ id, name: id, type: 'enterprise' as const })),
    ...ORG_ROLES.map((id) => ({ id, name: id, type: 'org' as const })),
  ],
});

export const directoryArb: fc.Arbitrary<DirectorySnapshot> = fc
  .record({
    users: fc.array(
      fc.record({
        email: fc.option(fc.constantFrom(...EMAILS), { nil: null, freq: 8 }),
        enabled: fc.constantFrom(true, true, true, false),
      }),
      { maxLength: 10 },
    ),
    membership: fc.array(fc.tuple(fc.nat(20), fc.nat(20)), { maxLength: 30 }),
    nesting: fc.array(fc.tuple(fc.nat(GROUP_NAMES.length - 1), fc.nat(GROUP_NAMES.length - 1)), {
      maxLength: 6,
    }),
    complete: fc.boolean(),
  })
  .map(({ users, membership, nesting, complete }) => {
    const dirUsers: DirectoryUser[] = users.map((u, i) => ({
      id: `d${i}`,
      email: u.email,
      name: `user ${i}`,
      enabled: u.enabled,
    }));
    const groups: DirectoryGroup[] = GROUP_NAMES.map((name, i) => ({
      id: `g${i}`,
      name,
      memberUserIds: [],
      memberGroupIds: [],
    }));
    for (const [g, u] of membership) {
      const group = groups[g % groups.length] as DirectoryGroup;
      if (dirUsers.length > 0) {
        const id = `d${u % dirUsers.length}`;
        if (!group.memberUserIds.includes(id)) group.memberUserIds.push(id);
      }
    }
    for (const [a, b] of nesting) {
      const parent = groups[a] as DirectoryGroup;
      if (!parent.memberGroupIds.includes(`g${b}`)) parent.memberGroupIds.push(`g${b}`);
    }
    return {
      source: 'test',
      readAt: 't',
      users: dirUsers,
      groups,
      complete,
      incompleteReasons: complete ? [] : ['a page failed'],
      warnings: [],
    };
  });

export const devinArb: fc.Arbitrary<DevinSnapshot> = fc
  .record({
    users: fc.uniqueArray(
      fc.record({
        email: fc.constantFrom(...EMAILS.slice(0, 10)),
        ent: fc.option(fc.constantFrom(...ENTERPRISE_ROLES), { nil: null }),
        orgs: fc.dictionary(fc.constantFrom(...ORGS), fc.constantFrom(...ORG_ROLES), { maxKeys: 2 }),
      }),
      { selector: (u) => u.email, maxLength: 8 },
    ),
    groups: fc.uniqueArray(fc.constantFrom(...DEVIN_GROUPS), { maxLength: 6 }),
    mappings: fc.array(
      fc.record({
        group: fc.nat(20),
        org: fc.option(fc.constantFrom(...ORGS), { nil: null }),
        ent: fc.constantFrom(...ENTERPRISE_ROLES),
        orgRole: fc.constantFrom(...ORG_ROLES),
      }),
      { maxLength: 8 },
    ),
  })
  .map(({ users, groups, mappings }) => {
    const devinUsers: DevinUser[] = users
      .filter((u) => u.ent !== null || Object.keys(u.orgs).length > 0)
      .map((u) => ({
        id: `user-${emailKey(u.email)}`,
        email: u.email,
        name: u.email,
        enterpriseRoleId: u.ent,
        orgRoles: { ...u.orgs },
      }));
    const groupRoles = new Map<string, { group: string; orgId: string | null; roleId: string }>();
    for (const m of mappings) {
      if (groups.length === 0) break;
      const group = groups[m.group % groups.length] as string;
      // Devin holds org mappings only beside an enterprise one.
      groupRoles.set(`*/${group}`, groupRoles.get(`*/${group}`) ?? { group, orgId: null, roleId: m.ent });
      if (m.org) groupRoles.set(`${m.org}/${group}`, { group, orgId: m.org, roleId: m.orgRole });
    }
    return {
      ...baseDevin(),
      users: devinUsers,
      registeredGroups: groups,
      groupRoles: [...groupRoles.values()],
    };
  });

export const mappingArb: fc.Arbitrary<MappingSpec> = fc
  .record({
    selector: fc.oneof(
      fc.constantFrom(...GROUP_NAMES).map((name) => ({ name })),
      fc.constant({ pattern: 'devin-g*' }),
      fc.constant({ pattern: 'devin-g[' }),
    ),
    ent: fc.option(fc.constantFrom(...ENTERPRISE_ROLES), { nil: undefined }),
    orgs: fc.uniqueArray(
      fc.record({ org: fc.constantFrom(...ORGS, 'ORG-A'), role: fc.constantFrom(...ORG_ROLES) }),
      {
        selector: (o) => o.org.toLowerCase(),
        maxLength: 2,
      },
    ),
    provisionUsers: fc.boolean(),
  })
  .map(({ selector, ent, orgs, provisionUsers }) => {
    // The config schema requires an enterprise role when a mapping grants org roles or provisions users.
    const enterpriseRole = ent ?? (orgs.length > 0 || provisionUsers ? 'account_member' : undefined);
    return { group: selector, idpGroupName: '{name}', enterpriseRole, orgs, provisionUsers };
  });

export const policyArb: fc.Arbitrary<SyncPolicy> = fc.record({
  mappings: fc.array(mappingArb, { minLength: 1, maxLength: 3 }),
  scope: fc.record({
    emailDomains: fc.constantFrom([], ['corp.example']),
    protectedUsers: fc.subarray(['u1@corp.example', 'U2@CORP.example']),
    groupNamePattern: fc.constantFrom('*', 'devin-*'),
    deprovision: fc.constantFrom('remove' as const, 'report' as const),
    adopt: fc.constantFrom('none' as const, 'matching' as const, 'all' as const),
  }),
  rolePrecedence: fc.constantFrom([], ['role-lead'], ['org_member', 'org_admin']),
  guardrails: fc.constant({
    maxUserRemovals: 25,
    maxUserRemovalPercent: 10,
    maxGroupRemovals: 5,
    maxSourceShrinkPercent: 20,
    maxGroupShrinkPercent: 50,
  }),
});

export const ledgerArb = (devin: DevinSnapshot): fc.Arbitrary<OwnershipLedger> =>
  fc.record({
    version: fc.constant(1 as const),
    users: fc.subarray(devin.users.map((u) => emailKey(u.email as string))),
    groups: fc.subarray(devin.registeredGroups),
    groupRoles: fc.subarray(devin.groupRoles.map((g) => groupRoleKey(g.group, g.orgId))),
  });

export const worldArb = fc
  .tuple(directoryArb, devinArb, policyArb)
  .chain(([directory, devin, policy]) =>
    ledgerArb(devin).map((ledger) => ({ directory, devin, policy, ledger })),
  );

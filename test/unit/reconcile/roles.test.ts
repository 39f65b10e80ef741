// Built-in roles by literal id, by well-known name within a type, and by permissions; ambiguity
// identifies nothing. Then the same classification as the resolver ranks it and as the last-admin
// guard reads it.
import { describe, expect, it } from 'vitest';
import type { DevinRole, DevinSnapshot } from '../../../src/model/devin.js';
import { createResolver, higherRole } from '../../../src/reconcile/resolve.js';
import {
  builtInKind,
  classifyRoles,
  enterpriseAdminRoles,
  normaliseName,
  type RoleLike,
} from '../../../src/reconcile/roles.js';

const GEN_ADMIN = 'role-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const GEN_MEMBER = 'role-00000000000000000000000000000001';
const GEN_ORG_ADMIN = 'role-ffffffffffffffffffffffffffffffff';
const GEN_ORG_MEMBER = 'role-11111111111111111111111111111111';

const ent = (id: string, name: string, permissions?: string[]): RoleLike => ({
  id,
  name,
  type: 'enterprise',
  ...(permissions ? { permissions } : {}),
});
const org = (id: string, name: string): RoleLike => ({ id, name, type: 'org' });

describe('builtInKind', () => {
  it('knows the literal ids, within their type only', () => {
    expect(builtInKind(ent('account_admin', 'Whatever'))).toBe('enterprise-admin');
    expect(builtInKind(ent('account_member', 'x'))).toBe('enterprise-member');
    expect(builtInKind(org('org_admin', 'x'))).toBe('org-admin');
    expect(builtInKind(org('org_member', 'x'))).toBe('org-member');
    expect(builtInKind(org('org_deepwiki', 'x'))).toBe('org-deepwiki');
    // An org role cannot be the enterprise admin, whatever its id says.
    expect(builtInKind(org('account_admin', 'x'))).toBeUndefined();
  });

  it('knows the well-known names of generated-id default roles, per type', () => {
    expect(builtInKind(ent(GEN_ADMIN, 'Admin'))).toBe('enterprise-admin');
    expect(builtInKind(ent(GEN_ADMIN, 'Account Admin'))).toBe('enterprise-admin');
    expect(builtInKind(ent(GEN_ADMIN, 'enterprise_admin'))).toBe('enterprise-admin');
    expect(builtInKind(ent(GEN_MEMBER, ' member '))).toBe('enterprise-member');
    expect(builtInKind(org(GEN_ORG_ADMIN, 'Admin'))).toBe('org-admin');
    expect(builtInKind(org(GEN_ORG_ADMIN, 'Org Admin'))).toBe('org-admin');
    expect(builtInKind(org(GEN_ORG_MEMBER, 'Member'))).toBe('org-member');
    expect(builtInKind(org('role-dw', 'DeepWiki'))).toBe('org-deepwiki');
    expect(builtInKind(ent('role-x', 'Analyst'))).toBeUndefined();
    expect(normaliseName('  Org_Admin-x ')).toBe('org admin x');
  });

  it('does not take a name the permissions contradict', () => {
    expect(builtInKind(ent(GEN_ADMIN, 'Admin', ['ManageAccountMembership']))).toBe('enterprise-admin');
    expect(builtInKind(ent(GEN_ADMIN, 'Admin', ['ViewAccountMembership']))).toBeUndefined();
    expect(builtInKind(ent(GEN_MEMBER, 'Member', ['ManageAccountMembership']))).toBeUndefined();
  });
});

describe('classifyRoles', () => {
  it('a literal id beats a name; two names claiming one kind identify neither', () => {
    const c = classifyRoles([ent('account_admin', 'Owner'), ent('role-a', 'Admin'), ent('role-b', 'Member')]);
    expect(c.kindOf('account_admin')).toBe('enterprise-admin');
    expect(c.kindOf('role-a')).toBeUndefined();
    expect(c.kindOf('role-b')).toBe('enterprise-member');

    const twice = classifyRoles([ent('role-a', 'Admin'), ent('role-b', 'Account Admin')]);
    expect(twice.kindOf('role-a')).toBeUndefined();
    expect(twice.kindOf('role-b')).toBeUndefined();
    expect(twice.ambiguous).toEqual(['enterprise-admin']);
    expect(twice.roleOf('enterprise-admin')).toBeUndefined();
  });

  it('the same name in both types is two different kinds', () => {
    const c = classifyRoles([
      ent(GEN_ADMIN, 'Admin'),
      ent(GEN_MEMBER, 'Member'),
      org(GEN_ORG_ADMIN, 'Admin'),
      org(GEN_ORG_MEMBER, 'Member'),
    ]);
    expect([GEN_ADMIN, GEN_MEMBER, GEN_ORG_ADMIN, GEN_ORG_MEMBER].map((id) => c.kindOf(id))).toEqual([
      'enterprise-admin',
      'enterprise-member',
      'org-admin',
      'org-member',
    ]);
    expect(c.ambiguous).toEqual([]);
  });
});

describe('enterpriseAdminRoles', () => {
  it('certain: identified admin or ManageAccountMembership; possible: anything that may be admin', () => {
    const a = enterpriseAdminRoles([
      ent(GEN_ADMIN, 'Admin'),
      ent(GEN_MEMBER, 'Member'),
      ent('role-ops', 'Ops', ['ManageAccountMembership']),
      ent('role-team', 'Team Admin'),
      org(GEN_ORG_ADMIN, 'Admin'),
    ]);
    expect([...a.certain].sort()).toEqual([GEN_ADMIN, 'role-ops'].sort());
    expect([...a.possible].sort()).toEqual([GEN_ADMIN, 'role-ops', 'role-team'].sort());
  });

  it('an ambiguous admin name is possible for both, certain for neither', () => {
    const a = enterpriseAdminRoles([ent('role-a', 'Admin'), ent('role-b', 'Administrator')]);
    expect([...a.certain]).toEqual([]);
    expect([...a.possible].sort()).toEqual(['role-a', 'role-b']);
  });
});

describe('the resolver ranks built-ins with generated ids', () => {
  const roles: DevinRole[] = [
    // Ids chosen so that sorting by id would put Member first.
    { id: GEN_ADMIN, name: 'Admin', type: 'enterprise' },
    { id: GEN_MEMBER, name: 'Member', type: 'enterprise' },
    { id: GEN_ORG_ADMIN, name: 'Admin', type: 'org' },
    { id: GEN_ORG_MEMBER, name: 'Member', type: 'org' },
  ];
  const devin: DevinSnapshot = {
    readAt: '2026-01-01T00:00:00.000Z',
    orgs: [],
    roles,
    registeredGroups: [],
    groupRoles: [],
    users: [],
  };
  const policy = { rolePrecedence: [] } as unknown as Parameters<typeof createResolver>[0];

  it('Admin outranks Member in both types', () => {
    const r = createResolver(policy, devin);
    const admin = { id: GEN_ADMIN, name: 'Admin' };
    const member = { id: GEN_MEMBER, name: 'Member' };
    expect(higherRole(r, member, admin)).toEqual(admin);
    expect(higherRole(r, admin, member)).toEqual(admin);
    const orgAdmin = { id: GEN_ORG_ADMIN, name: 'Admin' };
    const orgMember = { id: GEN_ORG_MEMBER, name: 'Member' };
    expect(higherRole(r, orgAdmin, orgMember)).toEqual(orgAdmin);
  });

  it('a config written with the literal ids finds the generated-id roles', () => {
    const r = createResolver(policy, devin);
    expect(r.role('mappings[0].enterpriseRole', 'account_admin', 'enterprise')).toEqual({
      id: GEN_ADMIN,
      name: 'Admin',
    });
    expect(r.role('mappings[0].orgs[0].role', 'org_member', 'org')).toEqual({
      id: GEN_ORG_MEMBER,
      name: 'Member',
    });
    expect(r.problems).toEqual([]);
  });
});

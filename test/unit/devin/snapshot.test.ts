import { describe, expect, it } from 'vitest';
import type { EnterpriseUser, IdpGroup, Role, User } from '../../../src/devin/schemas.js';
import type { RawListings } from '../../../src/devin/snapshot.js';
import { assembleSnapshot } from '../../../src/devin/snapshot.js';

const role = (role_id: string, role_type: 'enterprise' | 'org'): Role => ({
  role_id,
  role_name: role_id,
  role_type,
});
const admin = role('account_admin', 'enterprise');
const member = role('account_member', 'enterprise');
const orgAdmin = role('org_admin', 'org');
const orgMember = role('org_member', 'org');

function user(id: string, assignments: Array<[Role, string | null]>): EnterpriseUser & User {
  return {
    user_id: id,
    email: `${id}@corp.example`,
    name: id,
    role_assignments: assignments.map(([r, org_id]) => ({ role: r, org_id })),
  };
}

function raw(partial: Partial<RawListings>): RawListings {
  return {
    organizations: [],
    roles: [],
    registeredGroups: [],
    enterpriseGroupRoles: [],
    orgGroupRoles: {},
    users: [],
    orgUsers: {},
    ...partial,
  };
}

describe('assembleSnapshot', () => {
  it('splits direct assignments into the enterprise role and org roles', () => {
    const snap = assembleSnapshot(
      raw({
        users: [
          user('alice', [
            [admin, null],
            [orgAdmin, 'org-a'],
          ]),
          user('bob', [[member, null]]),
        ],
        orgUsers: { 'org-a': [user('alice', [[orgAdmin, 'org-a']])] },
      }),
      't',
    );
    expect(snap.users).toEqual([
      {
        id: 'alice',
        email: 'alice@corp.example',
        name: 'alice',
        enterpriseRoleId: 'account_admin',
        orgRoles: { 'org-a': 'org_admin' },
      },
      { id: 'bob', email: 'bob@corp.example', name: 'bob', enterpriseRoleId: 'account_member', orgRoles: {} },
    ]);
  });

  it('trusts the org lists for org roles, and keeps users seen only there', () => {
    const snap = assembleSnapshot(
      raw({
        users: [
          user('alice', [
            [member, null],
            [orgAdmin, 'org-a'],
            [orgAdmin, 'org-b'],
          ]),
        ],
        orgUsers: {
          'org-a': [user('alice', [[orgMember, 'org-a']]), user('carol', [[orgMember, 'org-a']])],
          'org-b': [],
        },
      }),
      't',
    );
    const byId = Object.fromEntries(snap.users.map((u) => [u.id, u]));
    expect(byId.alice?.orgRoles).toEqual({ 'org-a': 'org_member' });
    expect(byId.carol).toMatchObject({ enterpriseRoleId: null, orgRoles: { 'org-a': 'org_member' } });
  });

  it('keeps only the mappings of the scope each listing is about', () => {
    const g = (name: string, assignments: Array<[Role, string | null]>): IdpGroup => ({
      idp_group_name: name,
      role_assignments: assignments.map(([r, org_id]) => ({ role: r, org_id })),
    });
    const snap = assembleSnapshot(
      raw({
        registeredGroups: ['eng', 'ops', 'eng'],
        enterpriseGroupRoles: [
          g('eng', [
            [member, null],
            [orgAdmin, 'org-a'],
          ]),
        ],
        orgGroupRoles: {
          'org-a': [
            g('eng', [
              [orgAdmin, 'org-a'],
              [member, null],
            ]),
          ],
        },
      }),
      't',
    );
    expect(snap.registeredGroups).toEqual(['eng', 'ops']);
    expect(snap.groupRoles).toEqual([
      { group: 'eng', orgId: null, roleId: 'account_member' },
      { group: 'eng', orgId: 'org-a', roleId: 'org_admin' },
    ]);
  });
});

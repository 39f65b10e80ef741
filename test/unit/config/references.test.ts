import { describe, expect, it } from 'vitest';
import { resolveDevinReferences } from '../../../src/config/references.js';
import type { DevinOrg, DevinRole } from '../../../src/model/devin.js';
import { DEFAULT_GUARDRAILS, type MappingSpec, type SyncPolicy } from '../../../src/reconcile/policy.js';

const roles: DevinRole[] = [
  { id: 'account_admin', name: 'Admin', type: 'enterprise' },
  { id: 'account_member', name: 'Member', type: 'enterprise' },
  { id: 'org_admin', name: 'Org Admin', type: 'org' },
  { id: 'org_member', name: 'Org Member', type: 'org' },
  { id: 'role-7f3a', name: 'Contractor', type: 'org' },
];
const orgs: DevinOrg[] = [
  { id: 'org-platform', name: 'Platform' },
  { id: 'org-data', name: 'Data' },
];

function policy(mappings: Array<Partial<MappingSpec>>, rolePrecedence: string[] = []): SyncPolicy {
  return {
    mappings: mappings.map((m) => ({
      group: { name: 'g' },
      idpGroupName: '{name}',
      orgs: [],
      provisionUsers: false,
      ...m,
    })),
    scope: {
      emailDomains: [],
      protectedUsers: [],
      groupNamePattern: '*',
      deprovision: 'report',
      adopt: 'matching',
    },
    rolePrecedence,
    guardrails: DEFAULT_GUARDRAILS,
  };
}

describe('resolveDevinReferences', () => {
  it('matches ids exactly and names case-insensitively', () => {
    const r = resolveDevinReferences(
      policy(
        [
          { enterpriseRole: 'member', orgs: [{ org: 'platform', role: 'org admin' }] },
          { enterpriseRole: 'account_admin', orgs: [{ org: 'org-data', role: 'role-7f3a' }] },
        ],
        ['contractor', 'org_admin'],
      ),
      { roles, orgs },
    );
    expect(r.problems).toEqual([]);
    expect(r.resolved.orgs.get('platform')?.id).toBe('org-platform');
    expect(r.resolved.orgs.get('org-data')?.name).toBe('Data');
    expect(r.resolved.roles.get('member')?.id).toBe('account_member');
    expect(r.resolved.roles.get('org admin')?.id).toBe('org_admin');
    expect(r.resolved.roles.get('contractor')?.id).toBe('role-7f3a');
  });

  it('ids are case-sensitive', () => {
    const r = resolveDevinReferences(policy([{ enterpriseRole: 'ACCOUNT_ADMIN' }]), { roles, orgs });
    expect(r.problems.map((p) => p.message)).toEqual([
      'mappings[0].enterpriseRole: no enterprise role "ACCOUNT_ADMIN"; Devin has: Admin (account_admin), Member (account_member)',
    ]);
  });

  it('names what is missing and lists what Devin has', () => {
    const r = resolveDevinReferences(
      policy(
        [
          {
            enterpriseRole: 'org_admin',
            orgs: [
              { org: 'Platfrom', role: 'org_member' },
              { org: 'Data', role: 'account_member' },
            ],
          },
        ],
        ['Lead'],
      ),
      { roles, orgs },
    );
    expect(r.problems.map((p) => p.message)).toEqual([
      'mappings[0].enterpriseRole: "org_admin" is an organization role, expected an enterprise role; Devin\'s enterprise roles: Admin (account_admin), Member (account_member)',
      'mappings[0].orgs[0].org: no organization "Platfrom"; Devin has: Data (org-data), Platform (org-platform)',
      'mappings[0].orgs[1].role: "account_member" is an enterprise role, expected an organization role; Devin\'s organization roles: Contractor (role-7f3a), Org Admin (org_admin), Org Member (org_member)',
      'rolePrecedence[0]: no role "Lead"; Devin has: Admin (account_admin), Contractor (role-7f3a), Member (account_member), Org Admin (org_admin), Org Member (org_member)',
    ]);
    expect(r.problems[1]).toMatchObject({
      path: ['mappings', 0, 'orgs', 0, 'org'],
      detail: 'no organization "Platfrom"; Devin has: Data (org-data), Platform (org-platform)',
    });
  });

  it('prefers an exact-case name and reports a real ambiguity', () => {
    const twins: DevinOrg[] = [...orgs, { id: 'org-platform-2', name: 'PLATFORM' }];
    const exact = resolveDevinReferences(
      policy([{ enterpriseRole: 'Member', orgs: [{ org: 'PLATFORM', role: 'Org Member' }] }]),
      {
        roles,
        orgs: twins,
      },
    );
    expect(exact.problems).toEqual([]);
    expect(exact.resolved.orgs.get('PLATFORM')?.id).toBe('org-platform-2');

    const ambiguous = resolveDevinReferences(
      policy([{ enterpriseRole: 'Member', orgs: [{ org: 'platform', role: 'Org Member' }] }]),
      {
        roles,
        orgs: twins,
      },
    );
    expect(ambiguous.problems.map((p) => p.message)).toEqual([
      'mappings[0].orgs[0].org: "platform" matches several organizations: Platform (org-platform), PLATFORM (org-platform-2); use the id',
    ]);
  });

  it('shortens a long list of organizations', () => {
    const many: DevinOrg[] = Array.from({ length: 45 }, (_, i) => ({
      id: `org-${i}`,
      name: `Org ${String(i).padStart(2, '0')}`,
    }));
    const r = resolveDevinReferences(
      policy([{ enterpriseRole: 'Member', orgs: [{ org: 'Nope', role: 'Org Member' }] }]),
      {
        roles,
        orgs: many,
      },
    );
    expect(r.problems[0]?.message).toMatch(/Org 29 \(org-29\), and 15 more$/);
  });
});

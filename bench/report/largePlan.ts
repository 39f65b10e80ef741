// A company whose plan changes about 50,000 memberships: the bench/plan company of 50,000 users
// with far more drift (new joiners, leavers, org admins to demote), and a mapping whose group is
// gone, so some changes are held back. Deterministic. bench/report renders its reports; the
// Chromium test of the HTML report opens one.

import type { Plan } from '../../src/reconcile/plan.js';
import { planSync } from '../../src/reconcile/planSync.js';
import { groupRoleKey } from '../../src/state/ledger.js';
import { type BenchInput, generate } from '../plan/generate.js';

export const LARGE_PLAN_USERS = 50_000;

export function largePlanInput(users = LARGE_PLAN_USERS): BenchInput {
  const input = generate(users, 1_000, 9);
  const { devin, ledger, policy } = input;
  const admin = devin.users.filter((u) => u.id === 'user-admin');
  const rest = devin.users.filter((u) => u.id !== 'user-admin' && !u.id.startsWith('user-leaver-'));
  // 16% new joiners (an invite and an org each), 18% with an org role above the one mapped, and
  // 18% leavers still in Devin (a removal from the enterprise and from org-0 each).
  const kept = rest.filter((_, i) => i % 25 >= 4);
  kept.forEach((u, i) => {
    if (i % 50 < 9) for (const org of Object.keys(u.orgRoles)) u.orgRoles[org] = 'org_admin';
  });
  const leavers = Math.floor(users * 0.16);
  const gone = Array.from({ length: leavers }, (_, i) => ({
    id: `user-leaver-${i}`,
    email: `leaver${i}@corp.example`,
    name: `Leaver ${i}`,
    enterpriseRoleId: 'account_member',
    orgRoles: { 'org-0': 'org_member' },
  }));
  devin.users = [...admin, ...kept, ...gone];
  ledger.users = [...kept.flatMap((u) => (u.email === null ? [] : [u.email])), ...gone.map((u) => u.email)];
  // 5,000 teams deleted from the directory, still registered and mapped in Devin, so removed; but
  // a mapping selects `archived-*` and no directory group matches it. It could have named half of
  // those teams, so their removals are held back (selector-miss) rather than made.
  for (let i = 0; i < 5_000; i++) {
    const name = `devin-${i % 2 === 0 ? 'archived' : 'team-deleted'}-${i}`;
    devin.registeredGroups.push(name);
    devin.groupRoles.push({ group: name, orgId: null, roleId: 'account_member' });
    ledger.groups.push(name);
    ledger.groupRoles.push(groupRoleKey(name, null));
  }
  policy.mappings.push({
    group: { pattern: 'archived-*' },
    idpGroupName: 'devin-{name}',
    enterpriseRole: 'account_member',
    orgs: [],
    provisionUsers: false,
  });
  return input;
}

export function largePlan(users = LARGE_PLAN_USERS): Plan {
  return planSync({ ...largePlanInput(users), now: new Date('2025-06-02T09:30:00.000Z') });
}

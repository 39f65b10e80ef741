// A generated company for bench/plan: users in teams nested up to 6 deep under 50 divisions (one
// org each), and a Devin that already matches it except for 5% drift. Deterministic (seeded).

import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../../src/directory/types.js';
import type { DevinGroupRole, DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import { DEFAULT_GUARDRAILS, type SyncPolicy } from '../../src/reconcile/policy.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { groupRoleKey, type OwnershipLedger } from '../../src/state/ledger.js';

export const ORGS = 50;
const MAX_DEPTH = 6;

export interface BenchInput {
  directory: DirectorySnapshot;
  devin: DevinSnapshot;
  ledger: OwnershipLedger;
  policy: SyncPolicy;
}

export function generate(userCount: number, groupCount: number, seed = 1): BenchInput {
  const rnd = mulberry32(seed);
  const pick = (n: number) => Math.floor(rnd() * n);

  // Divisions are the roots; every other group hangs under one at depth 1..6.
  const groups: DirectoryGroup[] = [];
  const depthOf: number[] = [];
  const divisionOf: number[] = [];
  for (let i = 0; i < groupCount; i++) {
    const isDivision = i < ORGS;
    const id = `g${i}`;
    groups.push({
      id,
      name: isDivision ? `division-${i}` : `team-${i}`,
      memberUserIds: [],
      memberGroupIds: [],
    });
    if (isDivision) {
      depthOf.push(0);
      divisionOf.push(i);
      continue;
    }
    // A parent among earlier groups that is not yet at the deepest level.
    let parent = pick(i);
    while ((depthOf[parent] as number) >= MAX_DEPTH - 1) parent = pick(ORGS);
    groups[parent]?.memberGroupIds.push(id);
    depthOf.push((depthOf[parent] as number) + 1);
    divisionOf.push(divisionOf[parent] as number);
  }

  const users: DirectoryUser[] = [];
  const userDivisions: Array<Set<number>> = [];
  for (let i = 0; i < userCount; i++) {
    const id = `u${i}`;
    const divisions = new Set<number>();
    // Everyone is in one team; a third of the people in a second one, maybe in another division.
    for (let t = 0; t < (rnd() < 0.33 ? 2 : 1); t++) {
      const team = Math.min(ORGS + pick(Math.max(1, groupCount - ORGS)), groupCount - 1);
      groups[team]?.memberUserIds.push(id);
      divisions.add(divisionOf[team] as number);
    }
    userDivisions.push(divisions);
    users.push({
      id,
      email: rnd() < 0.001 ? null : `user${i}@corp.example`,
      name: `User ${i}`,
      enabled: rnd() > 0.02,
      attrs: { department: `division-${[...divisions][0]}` },
    });
  }

  const policy: SyncPolicy = {
    mappings: [
      {
        group: { pattern: 'team-*' },
        idpGroupName: 'devin-{name}',
        enterpriseRole: 'account_member',
        orgs: [],
        provisionUsers: false,
      },
      ...Array.from({ length: ORGS }, (_, k) => ({
        group: { name: `division-${k}` },
        idpGroupName: 'devin-{name}',
        enterpriseRole: 'account_member',
        orgs: [{ org: `org-${k}`, role: 'org_member' }],
        provisionUsers: true,
      })),
    ],
    scope: {
      emailDomains: ['corp.example'],
      protectedUsers: [],
      groupNamePattern: 'devin-*',
      deprovision: 'remove',
      adopt: 'matching',
    },
    rolePrecedence: [],
    guardrails: DEFAULT_GUARDRAILS,
  };

  // Devin as a previous sync left it, with 5% drift: some people missing, some with the wrong org
  // role, some leavers still present, some groups unregistered.
  const devinUsers: DevinUser[] = [
    {
      id: 'user-admin',
      email: 'admin@corp.example',
      name: 'Admin',
      enterpriseRoleId: 'account_admin',
      orgRoles: {},
    },
  ];
  const owned: string[] = [];
  users.forEach((u, i) => {
    if (!u.email || !u.enabled) return;
    const r = rnd();
    if (r < 0.025) return; // new joiner: not in Devin yet
    const orgRoles: Record<string, string> = {};
    for (const d of userDivisions[i] as Set<number>)
      orgRoles[`org-${d}`] = r < 0.05 ? 'org_admin' : 'org_member';
    devinUsers.push({
      id: `user-${i}`,
      email: u.email,
      name: u.name,
      enterpriseRoleId: 'account_member',
      orgRoles,
    });
    owned.push(u.email);
  });
  for (let i = 0; i < Math.floor(userCount * 0.025); i++) {
    const email = `leaver${i}@corp.example`;
    devinUsers.push({
      id: `user-leaver-${i}`,
      email,
      name: `Leaver ${i}`,
      enterpriseRoleId: 'account_member',
      orgRoles: { 'org-0': 'org_member' },
    });
    owned.push(email);
  }
  const registeredGroups: string[] = [];
  const groupRoles: DevinGroupRole[] = [];
  groups.forEach((g, i) => {
    if (rnd() < 0.05) return;
    const name = `devin-${g.name}`;
    registeredGroups.push(name);
    groupRoles.push({ group: name, orgId: null, roleId: 'account_member' });
    if (i < ORGS) groupRoles.push({ group: name, orgId: `org-${i}`, roleId: 'org_member' });
  });

  return {
    directory: {
      source: 'bench',
      readAt: 't',
      users,
      groups,
      complete: true,
      incompleteReasons: [],
      warnings: [],
    },
    devin: {
      readAt: 't',
      orgs: Array.from({ length: ORGS }, (_, k) => ({ id: `org-${k}`, name: `Org ${k}` })),
      roles: [
        { id: 'account_admin', name: 'Admin', type: 'enterprise' },
        { id: 'account_member', name: 'Member', type: 'enterprise' },
        { id: 'org_admin', name: 'Org Admin', type: 'org' },
        { id: 'org_member', name: 'Org Member', type: 'org' },
      ],
      registeredGroups,
      groupRoles,
      users: devinUsers,
    },
    ledger: {
      version: 1,
      users: owned,
      groups: registeredGroups,
      groupRoles: groupRoles.map((g) => groupRoleKey(g.group, g.orgId)),
    },
    policy,
  };
}

// A pure model of Devin's direct-membership state, for property tests: applying a plan's ops here is
// what the executor does through the API, minus the network.
import type { DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import type { Op } from '../../src/reconcile/plan.js';
import { emailKey, ledgerAfterOp, type OwnershipLedger } from '../../src/state/ledger.js';

export function applyOps(
  snapshot: DevinSnapshot,
  ledger: OwnershipLedger,
  ops: readonly Op[],
): { devin: DevinSnapshot; ledger: OwnershipLedger } {
  const registered = new Set(snapshot.registeredGroups);
  const groupRoles = new Map(snapshot.groupRoles.map((g) => [`${g.orgId ?? '*'}\u0000${g.group}`, { ...g }]));
  const users = new Map(snapshot.users.map((u) => [u.id, { ...u, orgRoles: { ...u.orgRoles } }]));
  const byEmail = (email: string): DevinUser | undefined =>
    [...users.values()].find((u) => u.email && emailKey(u.email) === emailKey(email));
  let next = ledger;

  for (const op of ops) {
    switch (op.kind) {
      case 'registerIdpGroups':
        for (const g of op.groups) registered.add(g);
        break;
      case 'unregisterIdpGroup':
        registered.delete(op.group);
        break;
      case 'setGroupEnterpriseRole':
        groupRoles.set(`*\u0000${op.group}`, { group: op.group, orgId: null, roleId: op.role.id });
        break;
      case 'setGroupOrgRole':
        groupRoles.set(`${op.org.id}\u0000${op.group}`, {
          group: op.group,
          orgId: op.org.id,
          roleId: op.role.id,
        });
        break;
      case 'removeGroupEnterpriseRole':
        groupRoles.delete(`*\u0000${op.group}`);
        break;
      case 'removeGroupOrgRole':
        groupRoles.delete(`${op.org.id}\u0000${op.group}`);
        break;
      case 'inviteUsers':
        for (const email of op.emails) {
          const existing = byEmail(email);
          if (existing) existing.enterpriseRoleId = op.role.id;
          else {
            const id = `user-${emailKey(email)}`;
            users.set(id, { id, email, name: email, enterpriseRoleId: op.role.id, orgRoles: {} });
          }
        }
        break;
      case 'setUserEnterpriseRole':
        (users.get(op.userId) as DevinUser).enterpriseRoleId = op.role.id;
        break;
      case 'addOrgUser':
      case 'setOrgUserRole':
        (byEmail(op.email) as DevinUser).orgRoles[op.org.id] = op.role.id;
        break;
      case 'removeOrgUser':
        delete (users.get(op.userId) as DevinUser).orgRoles[op.org.id];
        break;
      case 'removeUser':
        users.delete(op.userId);
        break;
      case 'adopt':
        break;
    }
    next = ledgerAfterOp(next, op);
  }
  // Only users with a direct assignment are listed.
  const listed = [...users.values()].filter(
    (u) => u.enterpriseRoleId !== null || Object.keys(u.orgRoles).length > 0,
  );
  return {
    devin: {
      ...snapshot,
      registeredGroups: [...registered],
      groupRoles: [...groupRoles.values()],
      users: listed,
    },
    ledger: next,
  };
}

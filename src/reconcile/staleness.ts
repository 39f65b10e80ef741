// A saved plan is applied only while the state it was made against still holds (docs/design.md §5): each
// op's `expected` is checked against a fresh Devin snapshot, and every drifted op is listed.
import type { DevinSnapshot } from '../model/devin.js';
import { emailKey } from '../state/ledger.js';
import type { Op, RoleRef } from './plan.js';

export interface DriftedOp {
  key: string;
  expected: string;
  found: string;
}

export function findDrift(ops: readonly Op[], devin: DevinSnapshot): DriftedOp[] {
  const registered = new Set(devin.registeredGroups);
  const groupRole = new Map(devin.groupRoles.map((g) => [`${g.orgId ?? '*'}/${g.group}`, g.roleId]));
  const users = new Map(devin.users.filter((u) => u.email).map((u) => [emailKey(u.email as string), u]));
  const drift: DriftedOp[] = [];
  const check = (op: Op, expected: string, found: string) => {
    if (expected !== found) drift.push({ key: op.key, expected, found });
  };
  const role = (r: RoleRef | null) => r?.id ?? 'none';
  const found = (id: string | null | undefined) => id ?? 'none';

  for (const op of ops) {
    switch (op.kind) {
      case 'registerIdpGroups': {
        const already = op.groups.filter((g) => registered.has(g));
        if (already.length > 0)
          drift.push({ key: op.key, expected: 'not registered', found: `registered: ${already.join(', ')}` });
        break;
      }
      case 'unregisterIdpGroup':
        check(op, 'registered', registered.has(op.group) ? 'registered' : 'not registered');
        break;
      case 'setGroupEnterpriseRole':
      case 'removeGroupEnterpriseRole':
        check(op, role(op.expected.role), found(groupRole.get(`*/${op.group}`)));
        break;
      case 'setGroupOrgRole':
      case 'removeGroupOrgRole':
        check(op, role(op.expected.role), found(groupRole.get(`${op.org.id}/${op.group}`)));
        break;
      case 'inviteUsers': {
        const members = op.emails.filter((e) => users.get(emailKey(e))?.enterpriseRoleId);
        if (members.length > 0)
          drift.push({ key: op.key, expected: 'not members', found: `members: ${members.join(', ')}` });
        break;
      }
      case 'setUserEnterpriseRole':
      case 'removeUser':
        check(op, role(op.expected.role), found(users.get(emailKey(op.email))?.enterpriseRoleId));
        break;
      case 'addOrgUser':
      case 'setOrgUserRole':
      case 'removeOrgUser':
        check(op, role(op.expected.role), found(users.get(emailKey(op.email))?.orgRoles[op.org.id]));
        break;
      case 'adopt': {
        const t = op.target;
        const exists =
          t.type === 'user'
            ? users.has(emailKey(t.email))
            : t.type === 'group'
              ? registered.has(t.group)
              : groupRole.has(`${t.orgId ?? '*'}/${t.group}`);
        check(op, 'exists', exists ? 'exists' : 'gone');
        break;
      }
    }
  }
  return drift;
}

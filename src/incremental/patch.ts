// idsync's own writes, applied to the cached copy of Devin: after a run, the copy says what Devin
// says, without reading it again. What a result does not pin down exactly (an invite's new user id,
// an op that failed half way, a target Devin already held) marks its subject dirty, and the next
// run re-reads it; a result that contradicts the copy (`already`, `failed`) also says the copy was
// wrong somewhere, which asks for a full reconcile.
import type { DevinGroupRole, DevinSnapshot, DevinUser } from '../model/devin.js';
import type { Op } from '../reconcile/plan.js';
import { emailKey } from '../state/ledger.js';
import { emptySubjects, type Subjects } from './digest.js';

export type PatchStatus = 'applied' | 'already' | 'skipped' | 'failed';

export interface PatchResult {
  snapshot: DevinSnapshot;
  /** To re-read before the copy is trusted for them again. */
  dirty: Subjects;
  /** Op keys whose result showed Devin other than the copy said: the copy was wrong. */
  contradicted: string[];
}

/** Users and groups an op reads or writes. */
export function subjectsOfOp(op: Op): Subjects {
  const s = emptySubjects();
  switch (op.kind) {
    case 'registerIdpGroups':
      for (const g of op.groups) s.groups.add(g);
      break;
    case 'inviteUsers':
      for (const e of op.emails) s.users.add(emailKey(e));
      break;
    case 'adopt':
      if (op.target.type === 'user') s.users.add(emailKey(op.target.email));
      else s.groups.add(op.target.group);
      break;
    case 'setUserEnterpriseRole':
    case 'addOrgUser':
    case 'setOrgUserRole':
    case 'removeOrgUser':
    case 'removeUser':
      s.users.add(emailKey(op.email));
      break;
    default:
      s.groups.add(op.group);
  }
  return s;
}

const roleKey = (group: string, orgId: string | null) => `${orgId ?? '*'}\u0000${group}`;

export function patchCopy(
  copy: DevinSnapshot,
  ops: readonly Op[],
  statusOf: (key: string) => PatchStatus | undefined,
): PatchResult {
  const registered = new Set(copy.registeredGroups);
  const groupRoles = new Map<string, DevinGroupRole>(
    copy.groupRoles.map((g) => [roleKey(g.group, g.orgId), g]),
  );
  const users = new Map<string, DevinUser>(copy.users.map((u) => [u.id, u]));
  let byEmail: Map<string, DevinUser> | undefined;
  const findByEmail = (email: string): DevinUser | undefined => {
    byEmail ??= new Map(
      [...users.values()].filter((u) => u.email !== null).map((u) => [emailKey(u.email as string), u]),
    );
    return byEmail.get(emailKey(email));
  };
  // Copy on write: the copy's other users stay shared with the input.
  const edit = (id: string): DevinUser | undefined => {
    const u = users.get(id);
    if (!u) return undefined;
    const next = { ...u, orgRoles: { ...u.orgRoles } };
    users.set(id, next);
    if (byEmail && next.email !== null) byEmail.set(emailKey(next.email), next);
    return next;
  };
  const dirty = emptySubjects();
  const contradicted: string[] = [];
  const markDirty = (op: Op) => {
    const s = subjectsOfOp(op);
    for (const u of s.users) dirty.users.add(u);
    for (const g of s.groups) dirty.groups.add(g);
  };

  for (const op of ops) {
    const status = statusOf(op.key);
    if (status === undefined || status === 'skipped') continue;
    if (status !== 'applied') {
      contradicted.push(op.key);
      markDirty(op);
      if (status === 'failed') continue;
    }
    switch (op.kind) {
      case 'adopt':
        break;
      case 'registerIdpGroups':
        for (const g of op.groups) registered.add(g);
        break;
      case 'unregisterIdpGroup':
        // Whether Devin drops the group's role mappings with it is undocumented: re-read them.
        registered.delete(op.group);
        markDirty(op);
        break;
      case 'setGroupEnterpriseRole':
        groupRoles.set(roleKey(op.group, null), { group: op.group, orgId: null, roleId: op.role.id });
        break;
      case 'setGroupOrgRole':
        groupRoles.set(roleKey(op.group, op.org.id), {
          group: op.group,
          orgId: op.org.id,
          roleId: op.role.id,
        });
        break;
      case 'removeGroupEnterpriseRole':
        groupRoles.delete(roleKey(op.group, null));
        break;
      case 'removeGroupOrgRole':
        groupRoles.delete(roleKey(op.group, op.org.id));
        break;
      case 'inviteUsers':
        // The new users' ids are not in the result: the next run looks them up.
        markDirty(op);
        break;
      case 'setUserEnterpriseRole': {
        const u = edit(op.userId);
        if (u) u.enterpriseRoleId = op.role.id;
        else markDirty(op);
        break;
      }
      case 'addOrgUser':
      case 'setOrgUserRole': {
        const id = op.userId ?? findByEmail(op.email)?.id;
        const u = id === undefined ? undefined : edit(id);
        if (u) u.orgRoles[op.org.id] = op.role.id;
        else markDirty(op);
        break;
      }
      case 'removeOrgUser': {
        const u = edit(op.userId);
        if (u) delete u.orgRoles[op.org.id];
        break;
      }
      case 'removeUser': {
        const u = users.get(op.userId);
        users.delete(op.userId);
        if (byEmail && u?.email) byEmail.delete(emailKey(u.email));
        break;
      }
    }
  }
  // As a full read would: a user left with no direct assignment is in no listing.
  const listed = [...users.values()].filter(
    (u) => u.enterpriseRoleId !== null || Object.keys(u.orgRoles).length > 0,
  );
  return {
    snapshot: {
      ...copy,
      registeredGroups: [...registered],
      groupRoles: [...groupRoles.values()],
      users: listed,
    },
    dirty,
    contradicted,
  };
}

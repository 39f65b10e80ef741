// The ownership ledger (docs/design.md §4): what idsync created or adopted in Devin, and so may change or
// remove. Everything else is left alone. Updated as each op succeeds, so a crash mid-run loses
// nothing: the next plan starts from what really happened.
import type { MappedGroupStat, Op, Plan } from '../reconcile/plan.js';

export interface LastRun {
  at: string;
  /** Directory users seen by the last successful run: the base of maxSourceShrinkPercent. */
  directoryUsers: number;
  fingerprint: string;
  /** The mapped groups and their member counts: the base of maxGroupShrinkPercent. Absent before 0.2. */
  mappedGroups?: MappedGroupStat[] | undefined;
  /** Directory id → email key of the users granted access: links an email change. Absent before 0.2. */
  userIds?: Record<string, string> | undefined;
}

export interface OwnershipLedger {
  version: 1;
  /** Lower-cased emails of users idsync invited or adopted. */
  users: string[];
  /** IdP group names idsync registered or adopted. */
  groups: string[];
  /** Group role mappings idsync created or adopted, as `groupRoleKey(group, orgId)`. */
  groupRoles: string[];
  lastSuccessfulRun?: LastRun | undefined;
}

export const EMPTY_LEDGER: OwnershipLedger = { version: 1, users: [], groups: [], groupRoles: [] };

export function groupRoleKey(group: string, orgId: string | null): string {
  return `${orgId ?? '*'}/${group}`;
}

export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/** Storage of the ledger: a JSON file for one-shot runs, Redis in the daemon. */
export interface StateStore {
  load(): Promise<OwnershipLedger>;
  /** Records what one successful op changed. Must be durable before it resolves. */
  recordOp(op: Op): Promise<void>;
  recordRun(run: LastRun): Promise<void>;
  /** Where it lives, for messages. */
  describe(): string;
}

/** The ledger after `op` succeeded. Pure; every StateStore implements recordOp with it. */
export function ledgerAfterOp(ledger: OwnershipLedger, op: Op): OwnershipLedger {
  const users = new Set(ledger.users);
  const groups = new Set(ledger.groups);
  const groupRoles = new Set(ledger.groupRoles);
  switch (op.kind) {
    case 'inviteUsers':
      for (const e of op.emails) users.add(emailKey(e));
      break;
    case 'removeUser':
      users.delete(emailKey(op.email));
      break;
    case 'registerIdpGroups':
      for (const g of op.groups) groups.add(g);
      break;
    case 'unregisterIdpGroup':
      groups.delete(op.group);
      break;
    case 'setGroupEnterpriseRole':
      groupRoles.add(groupRoleKey(op.group, null));
      break;
    case 'setGroupOrgRole':
      groupRoles.add(groupRoleKey(op.group, op.org.id));
      break;
    case 'removeGroupEnterpriseRole':
      groupRoles.delete(groupRoleKey(op.group, null));
      break;
    case 'removeGroupOrgRole':
      groupRoles.delete(groupRoleKey(op.group, op.org.id));
      break;
    case 'adopt': {
      const t = op.target;
      if (t.type === 'user') users.add(emailKey(t.email));
      else if (t.type === 'group') groups.add(t.group);
      else groupRoles.add(groupRoleKey(t.group, t.orgId));
      break;
    }
    default:
      return ledger;
  }
  return {
    ...ledger,
    users: [...users].sort(),
    groups: [...groups].sort(),
    groupRoles: [...groupRoles].sort(),
  };
}

/**
 * The base of the next run's shrink guardrails, when this plan may set it: a complete read with
 * nothing held back. A plan with held ops must not move it, or the next run would see no shrink
 * and remove without approval.
 */
export function lastRunOf(plan: Plan, at: Date): LastRun | undefined {
  if (!plan.complete || plan.held.length > 0) return undefined;
  return {
    at: at.toISOString(),
    directoryUsers: plan.stats.directoryUsers,
    fingerprint: plan.fingerprint,
    mappedGroups: plan.stats.mappedGroups,
    userIds: plan.stats.userIds,
  };
}

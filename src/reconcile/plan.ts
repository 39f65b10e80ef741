// The plan: data, rendered separately, applied exactly (docs/design.md §5). Its JSON form is versioned and
// stable; reports, executors and the staleness check all read these types.

import { emailKey } from '../state/ledger.js';

export interface RoleRef {
  id: string;
  name: string;
}

export interface OrgRef {
  id: string;
  name: string;
}

interface OpBase {
  /** Stable across re-plans of the same change: `<kind>/<subject>`. */
  key: string;
  /** Why, in words a reviewer checks against the directory: which mapping, group and nesting path. */
  reasons: string[];
}

export interface RegisterIdpGroupsOp extends OpBase {
  kind: 'registerIdpGroups';
  /** At most 100 (the bulk limit). */
  groups: string[];
  expected: { registered: false };
}

export interface SetGroupEnterpriseRoleOp extends OpBase {
  kind: 'setGroupEnterpriseRole';
  group: string;
  role: RoleRef;
  /** The mapping found when planning; null = none (create), else change it. */
  expected: { role: RoleRef | null };
}

export interface SetGroupOrgRoleOp extends OpBase {
  kind: 'setGroupOrgRole';
  group: string;
  org: OrgRef;
  role: RoleRef;
  expected: { role: RoleRef | null };
}

export interface InviteUsersOp extends OpBase {
  kind: 'inviteUsers';
  /** At most 100, all with the same enterprise role. */
  emails: string[];
  role: RoleRef;
  expected: { member: false };
}

export interface SetUserEnterpriseRoleOp extends OpBase {
  kind: 'setUserEnterpriseRole';
  email: string;
  userId: string;
  role: RoleRef;
  expected: { role: RoleRef };
}

export interface AddOrgUserOp extends OpBase {
  kind: 'addOrgUser';
  email: string;
  /** null when the user is invited earlier in the same plan; the executor looks the id up. */
  userId: string | null;
  org: OrgRef;
  role: RoleRef;
  expected: { role: null };
}

export interface SetOrgUserRoleOp extends OpBase {
  kind: 'setOrgUserRole';
  email: string;
  userId: string;
  org: OrgRef;
  role: RoleRef;
  expected: { role: RoleRef };
}

export interface RemoveOrgUserOp extends OpBase {
  kind: 'removeOrgUser';
  email: string;
  userId: string;
  org: OrgRef;
  expected: { role: RoleRef };
}

export interface RemoveUserOp extends OpBase {
  kind: 'removeUser';
  email: string;
  userId: string;
  expected: { role: RoleRef | null };
}

export interface RemoveGroupOrgRoleOp extends OpBase {
  kind: 'removeGroupOrgRole';
  group: string;
  org: OrgRef;
  expected: { role: RoleRef };
}

export interface RemoveGroupEnterpriseRoleOp extends OpBase {
  kind: 'removeGroupEnterpriseRole';
  group: string;
  expected: { role: RoleRef };
}

export interface UnregisterIdpGroupOp extends OpBase {
  kind: 'unregisterIdpGroup';
  group: string;
  expected: { registered: true };
}

/** What idsync takes ownership of. No API call: it writes the ownership ledger. */
export type AdoptTarget =
  | { type: 'user'; email: string }
  | { type: 'group'; group: string }
  | { type: 'groupRole'; group: string; orgId: string | null };

export interface AdoptOp extends OpBase {
  kind: 'adopt';
  target: AdoptTarget;
  expected: { exists: true };
}

export type Op =
  | RegisterIdpGroupsOp
  | SetGroupEnterpriseRoleOp
  | SetGroupOrgRoleOp
  | InviteUsersOp
  | SetUserEnterpriseRoleOp
  | AddOrgUserOp
  | SetOrgUserRoleOp
  | RemoveOrgUserOp
  | RemoveUserOp
  | RemoveGroupOrgRoleOp
  | RemoveGroupEnterpriseRoleOp
  | UnregisterIdpGroupOp
  | AdoptOp;

export type OpKind = Op['kind'];

/** Execution order (docs/design.md §5): each phase runs after the one before has settled. */
export const OP_ORDER: readonly OpKind[] = [
  'adopt',
  'registerIdpGroups',
  'setGroupEnterpriseRole',
  'setGroupOrgRole',
  'inviteUsers',
  'setUserEnterpriseRole',
  'addOrgUser',
  'setOrgUserRole',
  'removeOrgUser',
  'removeUser',
  'removeGroupOrgRole',
  'removeGroupEnterpriseRole',
  'unregisterIdpGroup',
];

export const REMOVAL_KINDS: ReadonlySet<OpKind> = new Set([
  'removeOrgUser',
  'removeUser',
  'removeGroupOrgRole',
  'removeGroupEnterpriseRole',
  'unregisterIdpGroup',
]);

/** Changes to an existing role: held back, like removals, when the directory read was incomplete. */
export const ROLE_CHANGE_KINDS: ReadonlySet<OpKind> = new Set(['setUserEnterpriseRole', 'setOrgUserRole']);

/**
 * Ops that take away or change access someone already has: removals, and changes of an existing
 * role (a user's or a group mapping's), since idsync cannot always tell a downgrade from an upgrade
 * of a custom role. Everything fail-closed (an incomplete read, a guard, a blocked guardrail verdict)
 * holds back exactly these; additions go ahead.
 */
export function changesExistingAccess(op: Op): boolean {
  if (REMOVAL_KINDS.has(op.kind) || ROLE_CHANGE_KINDS.has(op.kind)) return true;
  return (op.kind === 'setGroupEnterpriseRole' || op.kind === 'setGroupOrgRole') && op.expected.role !== null;
}

/** The subject of an op whose access it changes: a user's email key or an IdP group name. */
export function opSubject(op: Op): string | undefined {
  switch (op.kind) {
    case 'setUserEnterpriseRole':
    case 'addOrgUser':
    case 'setOrgUserRole':
    case 'removeOrgUser':
    case 'removeUser':
      return `user:${emailKey(op.email)}`;
    case 'setGroupEnterpriseRole':
    case 'setGroupOrgRole':
    case 'removeGroupOrgRole':
    case 'removeGroupEnterpriseRole':
    case 'unregisterIdpGroup':
      return `group:${op.group}`;
    default:
      return undefined;
  }
}

/**
 * Why an op was held back. These are not approvable with `--allow-removals`: the cause has to go
 * away (a complete read, a mapping that selects its group again, a readable member list), or the
 * config has to say the change is wanted (remove the mapping).
 * - `incomplete-read`: the directory read was cut short.
 * - `selector-miss`: a mapping selects no directory group this run.
 * - `group-unreadable`: a mapped group's member list could not be read.
 * - `group-out-of-scope`: a mapped group's IdP name is outside scope.groupNamePattern (or not a
 *   name Devin can hold), so its registry entry cannot be managed this run.
 */
export type HoldGuard = 'incomplete-read' | 'selector-miss' | 'group-unreadable' | 'group-out-of-scope';

export const HOLD_GUARDS: readonly HoldGuard[] = [
  'incomplete-read',
  'selector-miss',
  'group-unreadable',
  'group-out-of-scope',
];

export interface HoldReason {
  guard: HoldGuard;
  /** Names the mapping, the group and what to do. */
  message: string;
}

export interface HeldOp {
  op: Op;
  reasons: HoldReason[];
}

/** A mapped directory group as this run saw it: the base of the per-group shrink guardrail next run. */
export interface MappedGroupStat {
  /** Directory group id (normalised). */
  id: string;
  name: string;
  /** Users granted through it, nested members included. */
  members: number;
  /** Stable keys of the mappings that select it (`mappingKey`). */
  mappings: string[];
}

export type WarningCode =
  | import('../directory/types.js').DirectoryWarningCode
  | 'incomplete-read'
  | 'unknown-role'
  | 'unknown-org'
  | 'no-group-matched'
  | 'out-of-scope'
  | 'protected-user'
  | 'not-owned'
  | 'last-admin'
  | 'deprovision-report'
  | 'idp-group-name-conflict'
  | 'direct-access-conflict'
  | 'held-back'
  | 'invalid-idp-group-name'
  | 'email-changed'
  | 'adopt-strips-access'
  | 'group-renamed';

export interface PlanWarning {
  code: WarningCode;
  message: string;
  subject?: string;
}

export interface GuardrailVerdict {
  verdict: 'ok' | 'blocked';
  reasons: string[];
}

export interface PlanStats {
  directoryUsers: number;
  directoryGroups: number;
  devinUsers: number;
  devinGroups: number;
  /** In-scope users the plan considers (the denominator of maxUserRemovalPercent). */
  managedUsers: number;
  /** Every directory group a mapping selected, with its member count: recorded by a successful run. */
  mappedGroups: MappedGroupStat[];
  /** Directory id → email key of every user the plan grants direct access: links an email change next run. */
  userIds: Record<string, string>;
}

export interface Plan {
  version: 1;
  createdAt: string;
  summary: Partial<Record<OpKind, number>>;
  ops: Op[];
  /**
   * Ops a fail-closed guard held back: not applied by this plan, whatever is approved. Listed so a
   * reviewer sees exactly who would have lost access and why it did not happen.
   */
  held: HeldOp[];
  warnings: PlanWarning[];
  guardrails: GuardrailVerdict;
  /** False when the directory read was incomplete: removals and role changes were held back. */
  complete: boolean;
  stats: PlanStats;
  /** sha256 over the ops (kind, key, fields, expected): equal plans have equal fingerprints. */
  fingerprint: string;
  /** How Devin was read for this plan (the daemon's runs); absent for the CLI's full reads. */
  devinRead?: import('../model/devin.js').DevinReadInfo;
}

// The plan: data, rendered separately, applied exactly (DESIGN §5). Its JSON form is versioned and
// stable; reports, executors and the staleness check all read these types.

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

/** Execution order (DESIGN §5): each phase runs after the one before has settled. */
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
  | 'direct-access-conflict';

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
}

export interface Plan {
  version: 1;
  createdAt: string;
  summary: Partial<Record<OpKind, number>>;
  ops: Op[];
  warnings: PlanWarning[];
  guardrails: GuardrailVerdict;
  /** False when the directory read was incomplete: removals and role changes were held back. */
  complete: boolean;
  stats: PlanStats;
  /** sha256 over the ops (kind, key, fields, expected): equal plans have equal fingerprints. */
  fingerprint: string;
}

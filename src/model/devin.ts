// What idsync knows of Devin, as plain data: the model the core plans against, the reader fills in
// (src/devin/snapshot.ts) and the daemon's cached copy keeps (src/daemon/devinCache.ts). Its own
// module, so the core never imports the code that calls the API.

export interface DevinOrg {
  id: string;
  name: string;
}

export interface DevinRole {
  id: string;
  name: string;
  type: 'enterprise' | 'org';
  /** Only when Devin sends them (RoleDetailResponse.permissions); absent = unknown. */
  permissions?: string[];
}

/** A role mapped to an IdP group: enterprise-wide when `orgId` is null. */
export interface DevinGroupRole {
  group: string;
  orgId: string | null;
  roleId: string;
}

/** A user with direct assignments. IdP-derived roles are Devin's business, not idsync's. */
export interface DevinUser {
  id: string;
  email: string | null;
  name: string | null;
  enterpriseRoleId: string | null;
  /** org id → role id */
  orgRoles: Record<string, string>;
}

export interface DevinSnapshot {
  readAt: string;
  orgs: DevinOrg[];
  roles: DevinRole[];
  registeredGroups: string[];
  groupRoles: DevinGroupRole[];
  users: DevinUser[];
}

/**
 * Part of Devin read again for an incremental run: some users (by email key; null = not in the
 * enterprise) and, when any group changed, the group listings whole (Devin has no GET of one
 * registration).
 */
export interface DevinFreshReads {
  users: Map<string, DevinUser | null>;
  groups?: { registeredGroups: string[]; groupRoles: DevinGroupRole[] };
}

/** How a plan's view of Devin was obtained: shown in the plan and its reports. */
export interface DevinReadInfo {
  /** full: every listing read this run; incremental: the cached copy, patched, and `reread` read again. */
  kind: 'full' | 'incremental';
  /** When the copy's last full read was made (this run's, for a full read). */
  fullReadAt: string;
  /** Why this run read Devin in full (no copy, the schedule, a request…). */
  reason?: string;
  reread?: { users: number; groups: number };
}

/** One user to read again: by email, in the orgs where either side says they are. */
export interface DevinUserReadRequest {
  /** Email key (trimmed, lower case): what the answer is filed under. */
  key: string;
  /** The spelling to ask Devin for (the copy's, else the directory's). */
  email: string;
  orgIds: string[];
  /** The id the copy knows, to look up by when the email lookup finds nobody. */
  knownId?: string;
}

export interface DevinSubjectReadRequest {
  users: DevinUserReadRequest[];
  /** Read the group listings (registrations and role mappings, in these orgs) again. */
  groups: false | { orgIds: string[] };
}

/** Reads subjects again from Devin: the reader's side of an incremental run. */
export type DevinSubjectReader = (request: DevinSubjectReadRequest) => Promise<DevinFreshReads>;

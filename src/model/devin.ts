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

// What the reconciler needs to know about Devin, read in one go. The reading is a thin shell over
// DevinClient; assembling the listings into a DevinSnapshot is pure and tested on its own.

import type { DevinGroupRole, DevinSnapshot, DevinUser } from '../model/devin.js';
import { type PoolTask, runTaskPool } from '../util/taskPool.js';
import type { DevinClient } from './client.js';
import type { EnterpriseUser, IdpGroup, Organization, Role, User } from './schemas.js';

export interface RawListings {
  organizations: Organization[];
  roles: Role[];
  registeredGroups: string[];
  enterpriseGroupRoles: IdpGroup[];
  /** org id → that org's group mappings */
  orgGroupRoles: Record<string, IdpGroup[]>;
  users: EnterpriseUser[];
  /** org id → that org's direct users */
  orgUsers: Record<string, User[]>;
}

export interface SnapshotOptions {
  /** Listings walked at once (each listing's pages are sequential). Default 4. */
  concurrency?: number;
}

/** Reads every listing the reconciler needs through one bounded pool of listings. */
export async function readDevinSnapshot(
  client: DevinClient,
  options: SnapshotOptions = {},
): Promise<DevinSnapshot> {
  const concurrency = options.concurrency ?? 4;
  const raw: RawListings = {
    organizations: [],
    roles: [],
    registeredGroups: [],
    enterpriseGroupRoles: [],
    orgGroupRoles: {},
    users: [],
    orgUsers: {},
  };
  const readAt = new Date().toISOString();
  const listing =
    (read: () => Promise<void>): PoolTask =>
    async () => {
      await read();
      return undefined;
    };
  await runTaskPool(
    [
      // The org list comes first because it yields the per-org listings; the longest listing (users)
      // starts at once beside it.
      async () => {
        raw.organizations = await client.listOrganizations();
        return raw.organizations.flatMap((org) => [
          listing(async () => {
            raw.orgGroupRoles[org.org_id] = await client.listOrgGroupRoles(org.org_id);
          }),
          listing(async () => {
            raw.orgUsers[org.org_id] = await client.listOrgUsers(org.org_id);
          }),
        ]);
      },
      listing(async () => {
        raw.users = await client.listUsers();
      }),
      listing(async () => {
        raw.roles = await client.listRoles();
      }),
      listing(async () => {
        raw.registeredGroups = await client.listIdpGroups();
      }),
      listing(async () => {
        raw.enterpriseGroupRoles = await client.listEnterpriseGroupRoles();
      }),
    ],
    concurrency,
  );
  return assembleSnapshot(raw, readAt);
}

/**
 * Merges the listings. The per-org user lists are authoritative for org roles (the enterprise list
 * is documented only as "users with direct role assignments", not as carrying every org role), and
 * a user found only in an org list still appears, with no enterprise role.
 */
export function assembleSnapshot(raw: RawListings, readAt: string): DevinSnapshot {
  const users = new Map<string, DevinUser>();
  const userOf = (u: User): DevinUser => {
    let entry = users.get(u.user_id);
    if (!entry) {
      entry = { id: u.user_id, email: u.email, name: u.name, enterpriseRoleId: null, orgRoles: {} };
      users.set(u.user_id, entry);
    }
    return entry;
  };
  for (const u of raw.users) {
    const entry = userOf(u);
    for (const a of u.role_assignments) {
      if (a.org_id == null) {
        if (a.role.role_type === 'enterprise') entry.enterpriseRoleId = a.role.role_id;
      } else entry.orgRoles[a.org_id] = a.role.role_id;
    }
  }
  const orgMembers = new Map<string, Set<string>>();
  for (const [orgId, list] of Object.entries(raw.orgUsers)) {
    orgMembers.set(orgId, new Set(list.map((u) => u.user_id)));
    for (const u of list) {
      const entry = userOf(u);
      const here = u.role_assignments.find((a) => a.org_id === orgId);
      if (here) entry.orgRoles[orgId] = here.role.role_id;
    }
  }
  // The enterprise list names an org role that the org's own list does not show: trust the org list.
  for (const entry of users.values()) {
    for (const orgId of Object.keys(entry.orgRoles)) {
      if (orgMembers.get(orgId)?.has(entry.id) === false) delete entry.orgRoles[orgId];
    }
  }

  const groupRoles: DevinGroupRole[] = [];
  for (const g of raw.enterpriseGroupRoles) {
    for (const a of g.role_assignments) {
      if (a.org_id == null) groupRoles.push({ group: g.idp_group_name, orgId: null, roleId: a.role.role_id });
    }
  }
  for (const [orgId, list] of Object.entries(raw.orgGroupRoles)) {
    for (const g of list) {
      for (const a of g.role_assignments) {
        if (a.org_id === orgId) groupRoles.push({ group: g.idp_group_name, orgId, roleId: a.role.role_id });
      }
    }
  }

  return {
    readAt,
    orgs: raw.organizations.map((o) => ({ id: o.org_id, name: o.name })),
    roles: raw.roles.map((r) => ({
      id: r.role_id,
      name: r.role_name,
      type: r.role_type,
      ...(r.permissions ? { permissions: [...r.permissions] } : {}),
    })),
    registeredGroups: [...new Set(raw.registeredGroups)],
    groupRoles,
    users: [...users.values()],
  };
}

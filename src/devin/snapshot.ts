// What the reconciler needs to know about Devin, read in one go. The reading is a thin shell over
// DevinClient; assembling the listings into a DevinSnapshot is pure and tested on its own.

import type {
  DevinFreshReads,
  DevinGroupRole,
  DevinSnapshot,
  DevinSubjectReadRequest,
  DevinUser,
} from '../model/devin.js';
import { emailKey } from '../state/ledger.js';
import { type PoolTask, runTaskPool } from '../util/taskPool.js';
import type { DevinClient } from './client.js';
import { DevinApiError } from './errors.js';
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

function emptyListings(): RawListings {
  return {
    organizations: [],
    roles: [],
    registeredGroups: [],
    enterpriseGroupRoles: [],
    orgGroupRoles: {},
    users: [],
    orgUsers: {},
  };
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
  const raw = emptyListings();
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

/**
 * Reads some users (by email, in the orgs either side names) and maybe the group listings: what an
 * incremental run needs instead of every listing. Assembled by the same rules as a full read.
 */
export async function readDevinSubjects(
  client: DevinClient,
  request: DevinSubjectReadRequest,
  options: SnapshotOptions = {},
): Promise<DevinFreshReads> {
  const users = new Map<string, DevinUser | null>();
  const tasks: PoolTask[] = request.users.map((want) => async () => {
    users.set(want.key, null);
    let found: EnterpriseUser | undefined = await client.findUserByEmail(want.email);
    if (!found && want.knownId !== undefined) {
      // The email filter may be case-sensitive, or the email changed in Devin: ask by id.
      // A user with no direct assignment is not in the direct-member listing a full read walks.
      const byId = await unlessNotFound(client.getUser(want.knownId));
      if (byId && byId.role_assignments.length > 0) found = byId;
    }
    const orgIds = new Set(want.orgIds);
    for (const a of found?.role_assignments ?? []) if (a.org_id != null) orgIds.add(a.org_id);
    const orgUsers: Record<string, User[]> = {};
    for (const orgId of orgIds)
      orgUsers[orgId] = await client.listOrgUsers(orgId, { email: found?.email ?? want.email });
    const raw: RawListings = { ...emptyListings(), users: found ? [found] : [], orgUsers };
    for (const u of assembleSnapshot(raw, '').users) {
      const key = u.email === null ? undefined : emailKey(u.email);
      if (key !== undefined) users.set(key, u);
    }
    return undefined;
  });
  let groups: DevinFreshReads['groups'];
  if (request.groups) {
    const orgIds = request.groups.orgIds;
    tasks.push(async () => {
      const raw = emptyListings();
      await runTaskPool(
        [
          async () => {
            raw.registeredGroups = await client.listIdpGroups();
            return undefined;
          },
          async () => {
            raw.enterpriseGroupRoles = await client.listEnterpriseGroupRoles();
            return undefined;
          },
          ...orgIds.map((orgId) => async () => {
            raw.orgGroupRoles[orgId] = await client.listOrgGroupRoles(orgId);
            return undefined;
          }),
        ],
        options.concurrency ?? 4,
      );
      const assembled = assembleSnapshot(raw, '');
      groups = { registeredGroups: assembled.registeredGroups, groupRoles: assembled.groupRoles };
      return undefined;
    });
  }
  await runTaskPool(tasks, options.concurrency ?? 4);
  return { users, ...(groups ? { groups } : {}) };
}

async function unlessNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof DevinApiError && err.status === 404) return undefined;
    throw err;
  }
}

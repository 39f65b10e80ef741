// The simulator's state model: plain data in, plain data out, SimError on a rule violation.
// No HTTP in here; routes.ts is a thin shell over these methods.
import type {
  EnterpriseUser,
  IdpGroup,
  IdpGroupResponse,
  IdpGroupUser,
  IdpRoleAssignment,
  Organization,
  Role,
  RoleAssignment,
  User,
  UserWithIdpRoles,
} from '../devin/schemas.js';
import { MAX_INVITE_EMAILS } from '../devin/schemas.js';
import { type PageRequest, type PageResult, pageOf, pageOfList, SortedKeys } from './pagination.js';
import { conflict, invalid, notFound, unprocessable, type ValidationItem } from './problems.js';
import { parseSeed, type SimulatorSeed, type SimulatorSeedInput, userIdForEmail } from './seed.js';

/**
 * The literal id of the built-in enterprise admin role. Seeds may instead give the default roles
 * generated ids (`role-<32 hex>`) with a well-known name, as real accounts do (Cognition's
 * provider: default roles "have generated IDs but a well-known name"): see adminRoleIds.
 */
export const ADMIN_ROLE_ID = 'account_admin';

/**
 * Where the docs are silent, `strict` refuses (409) what a client must not rely on, and `lenient`
 * takes the other reading: removals cascade, and a re-invite of a direct member is a no-op.
 */
export type Semantics = 'strict' | 'lenient';
export const SEMANTICS: readonly Semantics[] = ['strict', 'lenient'];

const ADMIN_NAMES = new Set(['admin', 'account admin', 'enterprise admin', 'administrator']);

/**
 * The enterprise roles Devin treats as the account admin: `account_admin` when the seed has it;
 * otherwise enterprise roles named like an admin, or whose permissions say they manage membership.
 */
function adminRoleIds(roles: readonly Role[]): Set<string> {
  const enterprise = roles.filter((r) => r.role_type === 'enterprise');
  if (enterprise.some((r) => r.role_id === ADMIN_ROLE_ID)) return new Set([ADMIN_ROLE_ID]);
  return new Set(
    enterprise
      .filter((r) => {
        const manages = r.permissions?.includes('ManageAccountMembership') === true;
        return (
          manages ||
          ADMIN_NAMES.has(
            r.role_name
              .trim()
              .toLowerCase()
              .replace(/[\s_-]+/g, ' '),
          )
        );
      })
      .map((r) => r.role_id),
  );
}

export interface TokenInfo {
  token: string;
  principal_type: 'service_user';
  service_user_id: string;
  service_user_name: string;
  org_id: string | null;
  permissions: ReadonlySet<string>;
}

export interface ListQuery extends PageRequest {
  /** Exact, case-insensitive, trimmed match; '' matches nobody. undefined = no filter. */
  email?: string | undefined;
}

/** A write's result: `applied` is true only when the state actually changed. */
export interface Mutation<T> {
  value: T;
  applied: boolean;
}

interface UserRec {
  user_id: string;
  email: string;
  name: string | null;
  enterpriseRoleId: string | null;
  orgRoles: Map<string, string>;
  joinedAt: number | null;
  /** Groups the IdP says this person is in; null = no IdP membership record at all. */
  idpGroups: string[] | null;
}

interface GroupMappings {
  enterprise: string | null;
  orgs: Map<string, string>;
}

interface Derived {
  /** Users with at least one IdP-derived assignment. */
  all: SortedKeys;
  /** Per org: users with an IdP-derived assignment in that org. */
  byOrg: Map<string, SortedKeys>;
  /** Users deriving the enterprise admin role. */
  admins: Set<string>;
}

const emailKey = (email: string) => email.trim().toLowerCase();
const EMPTY = new SortedKeys();

export class SimState {
  private readonly tokens = new Map<string, TokenInfo>();
  private readonly orgs = new Map<string, Organization>();
  private readonly orgKeys: SortedKeys;
  private readonly roles = new Map<string, Role>();
  private readonly roleKeys: SortedKeys;
  private readonly users = new Map<string, UserRec>();
  private readonly byEmail = new Map<string, string>();
  /** Users with at least one direct assignment (the enterprise users list). */
  private readonly direct = new SortedKeys();
  private readonly directInOrg = new Map<string, SortedKeys>();
  private readonly directAdmins = new Set<string>();
  private readonly registry: SortedKeys;
  private readonly mappings = new Map<string, GroupMappings>();
  private readonly entMapped = new SortedKeys();
  private readonly orgMapped = new Map<string, SortedKeys>();
  /** IdP-owned group membership; static (no API changes it, the Devin API docs). */
  private readonly groupMembers = new Map<string, string[]>();
  private derivedCache: Derived | null = null;
  private readonly now: () => number;
  readonly semantics: Semantics;
  private readonly adminRoles: ReadonlySet<string>;

  /**
   * `validated: true` skips re-parsing a seed that already went through parseSeed (a 20k-user seed
   * takes ~150 ms to check); the state never aliases the seed's objects either way.
   */
  constructor(
    seedInput: SimulatorSeedInput,
    opts: { now?: () => number; validated?: boolean; semantics?: Semantics } = {},
  ) {
    const seed = opts.validated ? (seedInput as SimulatorSeed) : parseSeed(seedInput);
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.semantics = opts.semantics ?? 'strict';
    for (const t of seed.tokens) this.tokens.set(t.token, { ...t, permissions: new Set(t.permissions) });
    for (const o of seed.organizations) {
      this.orgs.set(o.org_id, { ...o });
      this.directInOrg.set(o.org_id, new SortedKeys());
      this.orgMapped.set(o.org_id, new SortedKeys());
    }
    this.orgKeys = new SortedKeys(this.orgs.keys());
    for (const r of seed.roles) this.roles.set(r.role_id, { ...r });
    this.roleKeys = new SortedKeys(this.roles.keys());
    this.adminRoles = adminRoleIds([...this.roles.values()]);

    for (const u of seed.users) {
      const rec: UserRec = {
        user_id: u.user_id,
        email: u.email,
        name: u.name,
        enterpriseRoleId: u.enterprise_role_id,
        orgRoles: new Map(Object.entries(u.org_roles)),
        joinedAt: u.enterprise_joined_at,
        idpGroups: null,
      };
      this.users.set(rec.user_id, rec);
      this.byEmail.set(emailKey(rec.email), rec.user_id);
      this.reindexUser(rec);
    }
    for (const m of seed.idp_memberships) {
      const existing = this.byEmail.get(emailKey(m.email));
      const userId = m.user_id ?? existing ?? userIdForEmail(m.email, (id) => this.users.has(id));
      let rec = this.users.get(userId);
      if (!rec) {
        rec = {
          user_id: userId,
          email: m.email,
          name: m.name,
          enterpriseRoleId: null,
          orgRoles: new Map(),
          joinedAt: null,
          idpGroups: null,
        };
        this.users.set(userId, rec);
        this.byEmail.set(emailKey(m.email), userId);
      }
      rec.name ??= m.name;
      rec.idpGroups = [...new Set(m.groups)];
      for (const g of rec.idpGroups) {
        const list = this.groupMembers.get(g);
        if (list) list.push(userId);
        else this.groupMembers.set(g, [userId]);
      }
    }

    this.registry = new SortedKeys(seed.idp_groups);
    for (const g of seed.idp_groups) this.mappings.set(g, { enterprise: null, orgs: new Map() });
    for (const m of seed.group_mappings) {
      const gm = this.mappings.get(m.idp_group_name) as GroupMappings;
      if (m.org_id === null) {
        gm.enterprise = m.role_id;
        this.entMapped.add(m.idp_group_name);
      } else {
        gm.orgs.set(m.org_id, m.role_id);
        this.orgMapped.get(m.org_id)?.add(m.idp_group_name);
      }
    }
  }

  // ---------------------------------------------------------------- lookups

  token(token: string): TokenInfo | undefined {
    return this.tokens.get(token);
  }

  hasOrg(orgId: string): boolean {
    return this.orgs.has(orgId);
  }

  private requireOrg(orgId: string): void {
    if (!this.orgs.has(orgId)) throw notFound(`Organization ${orgId} not found`);
  }

  private roleOut(roleId: string): Role {
    const r = this.roles.get(roleId);
    // Seeds are cross-checked and writes check roles, so a dangling id is a simulator bug.
    if (!r) throw new Error(`simulator: dangling role ${roleId}`);
    return { role_id: r.role_id, role_name: r.role_name, role_type: r.role_type };
  }

  /** 404 for an unknown role; 422 for a role of the wrong type for this endpoint. */
  private requireRole(roleId: string, type: 'enterprise' | 'org', loc: Array<string | number>): Role {
    const r = this.roles.get(roleId);
    if (!r) throw notFound(`Role ${roleId} not found`);
    if (r.role_type !== type)
      throw invalid(
        loc,
        `Role ${roleId} is an ${r.role_type} role; this endpoint needs an ${type === 'org' ? 'organization' : 'enterprise'} role`,
      );
    return r;
  }

  private hasDirect(u: UserRec): boolean {
    return u.enterpriseRoleId !== null || u.orgRoles.size > 0;
  }

  private derived(): Derived {
    if (this.derivedCache) return this.derivedCache;
    const all = new Set<string>();
    const byOrg = new Map<string, Set<string>>();
    const admins = new Set<string>();
    for (const [group, m] of this.mappings) {
      if (m.enterprise === null && m.orgs.size === 0) continue;
      const members = this.groupMembers.get(group);
      if (!members) continue;
      for (const uid of members) {
        all.add(uid);
        if (m.enterprise !== null && this.adminRoles.has(m.enterprise)) admins.add(uid);
        for (const orgId of m.orgs.keys()) {
          let s = byOrg.get(orgId);
          if (!s) {
            s = new Set();
            byOrg.set(orgId, s);
          }
          s.add(uid);
        }
      }
    }
    this.derivedCache = {
      all: new SortedKeys(all),
      byOrg: new Map([...byOrg].map(([o, s]) => [o, new SortedKeys(s)])),
      admins,
    };
    return this.derivedCache;
  }

  private invalidateDerived(): void {
    this.derivedCache = null;
  }

  /** A user "exists" when it has any direct or IdP-derived assignment. */
  private existing(userId: string): UserRec | undefined {
    const u = this.users.get(userId);
    if (!u) return undefined;
    return this.hasDirect(u) || this.derived().all.has(userId) ? u : undefined;
  }

  private requireUser(userId: string): UserRec {
    const u = this.existing(userId);
    if (!u) throw notFound(`User ${userId} not found`);
    return u;
  }

  private reindexUser(u: UserRec): void {
    if (this.hasDirect(u)) this.direct.add(u.user_id);
    else this.direct.delete(u.user_id);
    if (u.enterpriseRoleId !== null && this.adminRoles.has(u.enterpriseRoleId))
      this.directAdmins.add(u.user_id);
    else this.directAdmins.delete(u.user_id);
    for (const [orgId] of u.orgRoles) this.directInOrg.get(orgId)?.add(u.user_id);
  }

  // ---------------------------------------------------------------- shapes

  private directAssignments(u: UserRec, orgId?: string): RoleAssignment[] {
    const out: RoleAssignment[] = [];
    if (orgId === undefined && u.enterpriseRoleId !== null)
      out.push({ role: this.roleOut(u.enterpriseRoleId), org_id: null });
    const orgIds = orgId === undefined ? [...u.orgRoles.keys()].sort() : u.orgRoles.has(orgId) ? [orgId] : [];
    for (const o of orgIds) out.push({ role: this.roleOut(u.orgRoles.get(o) as string), org_id: o });
    return out;
  }

  private derivedAssignments(u: UserRec, orgId?: string): IdpRoleAssignment[] {
    const out: IdpRoleAssignment[] = [];
    for (const g of u.idpGroups ?? []) {
      const m = this.mappings.get(g);
      if (!m) continue; // not registered: the IdP sent it, Devin ignores it
      if (orgId === undefined && m.enterprise !== null)
        out.push({ role: this.roleOut(m.enterprise), idp_group_name: g, org_id: null });
      const orgIds = orgId === undefined ? [...m.orgs.keys()].sort() : m.orgs.has(orgId) ? [orgId] : [];
      for (const o of orgIds)
        out.push({ role: this.roleOut(m.orgs.get(o) as string), idp_group_name: g, org_id: o });
    }
    return out;
  }

  private userOut(u: UserRec, orgId?: string): User {
    return {
      user_id: u.user_id,
      email: u.email,
      name: u.name,
      role_assignments: this.directAssignments(u, orgId),
    };
  }

  private enterpriseUserOut(u: UserRec): EnterpriseUser {
    return { ...this.userOut(u), enterprise_joined_at: u.joinedAt };
  }

  private userWithIdpOut(u: UserRec, orgId?: string): UserWithIdpRoles {
    return {
      ...this.userOut(u, orgId),
      idp_role_assignments: this.derivedAssignments(u, orgId),
      enterprise_joined_at: u.joinedAt,
    };
  }

  private idpUserOut(u: UserRec, orgId?: string): IdpGroupUser {
    return {
      user_id: u.user_id,
      email: u.email,
      name: u.name,
      idp_role_assignments: this.derivedAssignments(u, orgId),
    };
  }

  private groupOut(name: string, orgId: string | null): IdpGroup {
    const m = this.mappings.get(name);
    const roleId = orgId === null ? m?.enterprise : m?.orgs.get(orgId);
    return {
      idp_group_name: name,
      role_assignments: roleId ? [{ role: this.roleOut(roleId), org_id: orgId }] : [],
    };
  }

  /** Pages over `keys`, or over the 0-or-1 user an email filter selects. */
  private userPage<T>(keys: SortedKeys, q: ListQuery, map: (u: UserRec) => T): PageResult<T> {
    const toItem = (id: string) => map(this.users.get(id) as UserRec);
    if (q.email === undefined) return pageOf(keys, q, toItem);
    const key = emailKey(q.email);
    const id = key === '' ? undefined : this.byEmail.get(key);
    return pageOfList(id !== undefined && keys.has(id) ? [id] : [], q, toItem);
  }

  // ---------------------------------------------------------------- reads

  listOrganizations(q: PageRequest): PageResult<Organization> {
    return pageOf(this.orgKeys, q, (id) => ({ ...(this.orgs.get(id) as Organization) }));
  }

  getOrganization(orgId: string): Organization {
    const o = this.orgs.get(orgId);
    if (!o) throw notFound(`Organization ${orgId} not found`);
    return { ...o };
  }

  /** Roles with their permissions when the seed gives them (RoleDetailResponse's extra field). */
  listRoles(q: PageRequest): PageResult<Role> {
    return pageOf(this.roleKeys, q, (id) => {
      const r = this.roles.get(id) as Role;
      return { ...this.roleOut(id), ...(r.permissions ? { permissions: [...r.permissions] } : {}) };
    });
  }

  listUsers(q: ListQuery): PageResult<EnterpriseUser> {
    return this.userPage(this.direct, q, (u) => this.enterpriseUserOut(u));
  }

  listIdpUsers(q: ListQuery): PageResult<IdpGroupUser> {
    return this.userPage(this.derived().all, q, (u) => this.idpUserOut(u));
  }

  getUser(userId: string): UserWithIdpRoles {
    return this.userWithIdpOut(this.requireUser(userId));
  }

  listOrgUsers(orgId: string, q: ListQuery): PageResult<User> {
    this.requireOrg(orgId);
    return this.userPage(this.directInOrg.get(orgId) ?? EMPTY, q, (u) => this.userOut(u, orgId));
  }

  listOrgIdpUsers(orgId: string, q: ListQuery): PageResult<IdpGroupUser> {
    this.requireOrg(orgId);
    return this.userPage(this.derived().byOrg.get(orgId) ?? EMPTY, q, (u) => this.idpUserOut(u, orgId));
  }

  /**
   * GET /v3beta1/organizations/{org_id}/members/users/{user_id}. Docs silent on scope: an
   * org-scoped principal sees only that org's assignments, and a user with none there is a 404.
   */
  getOrgUser(orgId: string, userId: string): UserWithIdpRoles {
    this.requireOrg(orgId);
    const u = this.users.get(userId);
    const member =
      u !== undefined && (u.orgRoles.has(orgId) || (this.derived().byOrg.get(orgId)?.has(userId) ?? false));
    if (!u || !member) throw notFound(`User ${userId} is not a member of organization ${orgId}`);
    return this.userWithIdpOut(u, orgId);
  }

  listRegisteredGroups(q: PageRequest): PageResult<IdpGroupResponse> {
    return pageOf(this.registry, q, (g) => ({ idp_group_name: g }));
  }

  /** Docs silent on which groups are listed: only registered groups that have an enterprise mapping. */
  listEnterpriseGroups(q: PageRequest): PageResult<IdpGroup> {
    return pageOf(this.entMapped, q, (g) => this.groupOut(g, null));
  }

  /** Lenient: a registered group with no mapping in this scope is a 404 too ("no mapping"). */
  getEnterpriseGroup(name: string): IdpGroup {
    const m = this.mappings.get(name);
    if (!m) throw notFound(`IdP group ${name} is not registered`);
    if (this.semantics === 'lenient' && m.enterprise === null)
      throw notFound(`IdP group ${name} has no enterprise role mapping`);
    return this.groupOut(name, null);
  }

  listOrgGroups(orgId: string, q: PageRequest): PageResult<IdpGroup> {
    this.requireOrg(orgId);
    return pageOf(this.orgMapped.get(orgId) ?? EMPTY, q, (g) => this.groupOut(g, orgId));
  }

  getOrgGroup(orgId: string, name: string): IdpGroup {
    this.requireOrg(orgId);
    const m = this.mappings.get(name);
    if (!m) throw notFound(`IdP group ${name} is not registered`);
    if (this.semantics === 'lenient' && !m.orgs.has(orgId))
      throw notFound(`IdP group ${name} has no role mapping in organization ${orgId}`);
    return this.groupOut(name, orgId);
  }

  // ---------------------------------------------------------------- enterprise users

  /**
   * POST /enterprise/members/users. Atomic: every check runs before anything changes. Docs silent on
   * re-inviting a member: the strict reading is a 409, and an IdP-only person gets a
   * direct assignment on the same user_id (otherwise direct access for IdP users would be impossible).
   */
  inviteUsers(emails: readonly string[], roleId: string): Mutation<User[]> {
    const errors: ValidationItem[] = [];
    if (emails.length === 0)
      errors.push({ loc: ['body', 'emails'], msg: 'emails must not be empty', type: 'too_short' });
    if (emails.length > MAX_INVITE_EMAILS)
      errors.push({
        loc: ['body', 'emails'],
        msg: `at most ${MAX_INVITE_EMAILS} emails per request`,
        type: 'too_long',
      });
    const seen = new Map<string, number>();
    emails.forEach((e, i) => {
      const key = emailKey(e);
      if (!/^[^@\s]+@[^@\s]+$/.test(key))
        errors.push({
          loc: ['body', 'emails', i],
          msg: `"${e}" is not an email address`,
          type: 'value_error',
        });
      const prev = seen.get(key);
      if (prev !== undefined)
        errors.push({
          loc: ['body', 'emails', i],
          msg: `duplicate of emails[${prev}] ("${e}")`,
          type: 'value_error',
        });
      else seen.set(key, i);
    });
    if (errors.length > 0) throw unprocessable(errors.map((e) => e.msg).join('; '), errors);
    this.requireRole(roleId, 'enterprise', ['body', 'enterprise_role_id']);

    const memberOf = (e: string) => {
      const id = this.byEmail.get(emailKey(e));
      const u = id === undefined ? undefined : this.users.get(id);
      return u !== undefined && u.enterpriseRoleId !== null ? u : undefined;
    };
    const already = emails.filter((e) => memberOf(e) !== undefined);
    if (already.length > 0 && this.semantics === 'strict')
      throw conflict(
        `Already enterprise members with a direct role: ${already.join(', ')}. Nothing was invited; use PATCH /enterprise/members/users/{user_id} to change a role.`,
      );

    const now = this.now();
    let applied = false;
    const out = emails.map((raw) => {
      // Lenient: re-inviting a direct member is a no-op that answers with the member as they are
      // (their role is NOT changed; the caller must notice).
      const member = memberOf(raw);
      if (member) return this.userOut(member);
      applied = true;
      const email = raw.trim();
      const key = emailKey(email);
      let u = this.users.get(this.byEmail.get(key) ?? '');
      if (!u) {
        u = {
          user_id: userIdForEmail(email, (id) => this.users.has(id)),
          email,
          // Docs silent: an invited person has not signed in yet, so there is no display name.
          name: null,
          enterpriseRoleId: null,
          orgRoles: new Map(),
          joinedAt: null,
          idpGroups: null,
        };
        this.users.set(u.user_id, u);
        this.byEmail.set(key, u.user_id);
      }
      u.enterpriseRoleId = roleId;
      u.joinedAt = now;
      this.reindexUser(u);
      return this.userOut(u);
    });
    return { value: out, applied };
  }

  /** Would this change leave the enterprise with no account_admin holder (direct or IdP-derived)? */
  private losesLastAdmin(u: UserRec, newRoleId: string | null): boolean {
    const isAdmin = (id: string | null) => id !== null && this.adminRoles.has(id);
    if (!isAdmin(u.enterpriseRoleId) || isAdmin(newRoleId)) return false;
    if (this.derived().admins.size > 0) return false;
    return this.directAdmins.size <= 1;
  }

  updateUserRole(userId: string, roleId: string): Mutation<User> {
    const u = this.requireUser(userId);
    this.requireRole(roleId, 'enterprise', ['body', 'role_id']);
    if (u.enterpriseRoleId === null)
      throw conflict(
        `User ${userId} has no direct enterprise role; membership derived from IdP groups is managed through IdP group mappings`,
      );
    if (this.losesLastAdmin(u, roleId))
      throw conflict(
        `User ${userId} is the last holder of ${u.enterpriseRoleId}; the enterprise needs an admin`,
      );
    const applied = u.enterpriseRoleId !== roleId;
    u.enterpriseRoleId = roleId;
    this.reindexUser(u);
    return { value: this.userOut(u), applied };
  }

  removeUser(userId: string): Mutation<User> {
    const u = this.requireUser(userId);
    if (u.enterpriseRoleId === null)
      throw conflict(
        `User ${userId} has no direct enterprise role (membership derived from IdP groups); it cannot be removed through this endpoint`,
      );
    if (u.orgRoles.size > 0 && this.semantics === 'strict')
      // Docs silent on whether removal cascades to org memberships; refusing keeps a client from relying on it.
      throw conflict(
        `User ${userId} still has direct roles in ${[...u.orgRoles.keys()].sort().join(', ')}; remove organization memberships first`,
      );
    if (this.losesLastAdmin(u, null))
      throw conflict(
        `User ${userId} is the last holder of ${u.enterpriseRoleId}; the enterprise needs an admin`,
      );
    // Lenient: removal cascades to the user's direct org memberships.
    for (const orgId of u.orgRoles.keys()) this.directInOrg.get(orgId)?.delete(userId);
    u.orgRoles.clear();
    u.enterpriseRoleId = null;
    u.joinedAt = null;
    this.reindexUser(u);
    return { value: this.userOut(u), applied: true };
  }

  // ---------------------------------------------------------------- organization users

  assignOrgRole(orgId: string, userId: string, roleId: string): Mutation<User> {
    this.requireOrg(orgId);
    const u = this.requireUser(userId);
    this.requireRole(roleId, 'org', ['body', 'role_id']);
    if (u.enterpriseRoleId === null)
      throw conflict(
        `User ${userId} has no direct enterprise role; add the user to the enterprise before assigning organization roles`,
      );
    if (u.orgRoles.has(orgId))
      throw conflict(`User ${userId} already has a role in organization ${orgId}; use PATCH to change it`);
    u.orgRoles.set(orgId, roleId);
    this.reindexUser(u);
    return { value: this.userOut(u), applied: true };
  }

  private requireDirectOrgRole(orgId: string, u: UserRec): void {
    if (u.orgRoles.has(orgId)) return;
    if (this.derived().byOrg.get(orgId)?.has(u.user_id))
      throw conflict(
        `User ${u.user_id}'s role in organization ${orgId} is derived from IdP groups; manage it through IdP group mappings`,
      );
    throw notFound(`User ${u.user_id} has no direct role in organization ${orgId}`);
  }

  updateOrgRole(orgId: string, userId: string, roleId: string): Mutation<User> {
    this.requireOrg(orgId);
    const u = this.requireUser(userId);
    this.requireRole(roleId, 'org', ['body', 'role_id']);
    this.requireDirectOrgRole(orgId, u);
    const applied = u.orgRoles.get(orgId) !== roleId;
    u.orgRoles.set(orgId, roleId);
    return { value: this.userOut(u), applied };
  }

  removeOrgRole(orgId: string, userId: string): Mutation<User> {
    this.requireOrg(orgId);
    const u = this.requireUser(userId);
    this.requireDirectOrgRole(orgId, u);
    u.orgRoles.delete(orgId);
    this.directInOrg.get(orgId)?.delete(userId);
    this.reindexUser(u);
    return { value: this.userOut(u), applied: true };
  }

  // ---------------------------------------------------------------- IdP group registry

  /**
   * "Existing groups are ignored." Docs silent on the response: it lists only the names this call
   * newly registered, in request order (a client must not rely on either reading).
   */
  registerGroups(names: readonly string[]): Mutation<IdpGroupResponse[]> {
    const errors: ValidationItem[] = [];
    if (names.length === 0)
      errors.push({
        loc: ['body', 'idp_group_names'],
        msg: 'idp_group_names must not be empty',
        type: 'too_short',
      });
    names.forEach((n, i) => {
      if (n.trim() === '')
        errors.push({
          loc: ['body', 'idp_group_names', i],
          msg: 'group name must not be blank',
          type: 'value_error',
        });
    });
    if (errors.length > 0) throw unprocessable(errors.map((e) => e.msg).join('; '), errors);
    const added: IdpGroupResponse[] = [];
    for (const n of names) {
      if (this.mappings.has(n)) continue;
      this.mappings.set(n, { enterprise: null, orgs: new Map() });
      this.registry.add(n);
      added.push({ idp_group_name: n });
    }
    if (added.length > 0) this.invalidateDerived();
    return { value: added, applied: added.length > 0 };
  }

  /**
   * Docs silent on what happens to mappings: strict refuses while any exist, which keeps the effect
   * explicit; lenient removes them with the group.
   */
  unregisterGroup(name: string): Mutation<IdpGroupResponse> {
    const m = this.mappings.get(name);
    if (!m) throw notFound(`IdP group ${name} is not registered`);
    if ((m.enterprise !== null || m.orgs.size > 0) && this.semantics === 'strict')
      throw conflict(`IdP group ${name} still has role mappings; remove them before unregistering the group`);
    this.entMapped.delete(name);
    for (const orgId of m.orgs.keys()) this.orgMapped.get(orgId)?.delete(name);
    this.mappings.delete(name);
    this.registry.delete(name);
    this.invalidateDerived();
    return { value: { idp_group_name: name }, applied: true };
  }

  // ---------------------------------------------------------------- enterprise group mappings

  private requireRegistered(name: string): GroupMappings {
    const m = this.mappings.get(name);
    if (!m) throw notFound(`IdP group ${name} is not registered`);
    return m;
  }

  assignEnterpriseGroupRole(name: string, roleId: string): Mutation<IdpGroup> {
    const m = this.requireRegistered(name);
    this.requireRole(roleId, 'enterprise', ['body', 'role_id']);
    if (m.enterprise !== null)
      throw conflict(`IdP group ${name} already has an enterprise role; use PATCH to change it`);
    m.enterprise = roleId;
    this.entMapped.add(name);
    this.invalidateDerived();
    return { value: this.groupOut(name, null), applied: true };
  }

  private requireEnterpriseMapping(name: string): GroupMappings {
    const m = this.mappings.get(name);
    if (!m || m.enterprise === null) throw notFound(`IdP group ${name} has no enterprise role mapping`);
    return m;
  }

  updateEnterpriseGroupRole(name: string, roleId: string): Mutation<IdpGroup> {
    const m = this.requireEnterpriseMapping(name);
    this.requireRole(roleId, 'enterprise', ['body', 'role_id']);
    const applied = m.enterprise !== roleId;
    m.enterprise = roleId;
    this.invalidateDerived();
    return { value: this.groupOut(name, null), applied };
  }

  /**
   * Docs silent on cascading: strict refuses while org mappings exist, which mirrors "enterprise
   * mapping first"; lenient removes the org mappings too.
   */
  removeEnterpriseGroupRole(name: string): Mutation<IdpGroup> {
    const m = this.requireEnterpriseMapping(name);
    if (m.orgs.size > 0 && this.semantics === 'strict')
      throw conflict(
        `IdP group ${name} still has organization mappings (${[...m.orgs.keys()].sort().join(', ')}); remove them first`,
      );
    for (const orgId of m.orgs.keys()) this.orgMapped.get(orgId)?.delete(name);
    m.orgs.clear();
    m.enterprise = null;
    this.entMapped.delete(name);
    this.invalidateDerived();
    return { value: this.groupOut(name, null), applied: true };
  }

  // ---------------------------------------------------------------- organization group mappings

  assignOrgGroupRole(orgId: string, name: string, roleId: string): Mutation<IdpGroup> {
    this.requireOrg(orgId);
    const m = this.requireRegistered(name);
    this.requireRole(roleId, 'org', ['body', 'role_id']);
    if (m.enterprise === null)
      throw conflict(
        `IdP group ${name} has no enterprise role mapping; an org mapping needs an enterprise mapping first`,
      );
    if (m.orgs.has(orgId))
      throw conflict(`IdP group ${name} already has a role in organization ${orgId}; use PATCH to change it`);
    m.orgs.set(orgId, roleId);
    this.orgMapped.get(orgId)?.add(name);
    this.invalidateDerived();
    return { value: this.groupOut(name, orgId), applied: true };
  }

  private requireOrgMapping(orgId: string, name: string): GroupMappings {
    this.requireOrg(orgId);
    const m = this.mappings.get(name);
    if (!m?.orgs.has(orgId)) throw notFound(`IdP group ${name} has no role mapping in organization ${orgId}`);
    return m;
  }

  updateOrgGroupRole(orgId: string, name: string, roleId: string): Mutation<IdpGroup> {
    const m = this.requireOrgMapping(orgId, name);
    this.requireRole(roleId, 'org', ['body', 'role_id']);
    const applied = m.orgs.get(orgId) !== roleId;
    m.orgs.set(orgId, roleId);
    this.invalidateDerived();
    return { value: this.groupOut(name, orgId), applied };
  }

  removeOrgGroupRole(orgId: string, name: string): Mutation<IdpGroup> {
    const m = this.requireOrgMapping(orgId, name);
    m.orgs.delete(orgId);
    this.orgMapped.get(orgId)?.delete(name);
    this.invalidateDerived();
    return { value: this.groupOut(name, orgId), applied: true };
  }

  // ---------------------------------------------------------------- dump

  /**
   * The current state in seed shape. People without any direct role but with an IdP membership are
   * written only under idp_memberships (with their user_id); removed people stay in users with no
   * roles, so their user_id survives a re-seed.
   */
  dump(): SimulatorSeed {
    const users: SimulatorSeed['users'] = [];
    const memberships: SimulatorSeed['idp_memberships'] = [];
    for (const u of this.users.values()) {
      if (this.hasDirect(u) || u.idpGroups === null)
        users.push({
          user_id: u.user_id,
          email: u.email,
          name: u.name,
          enterprise_role_id: u.enterpriseRoleId,
          org_roles: Object.fromEntries([...u.orgRoles].sort(([a], [b]) => (a < b ? -1 : 1))),
          enterprise_joined_at: u.joinedAt,
        });
      if (u.idpGroups !== null)
        memberships.push({ email: u.email, name: u.name, user_id: u.user_id, groups: [...u.idpGroups] });
    }
    const groupMappings: SimulatorSeed['group_mappings'] = [];
    for (const g of this.registry.values()) {
      const m = this.mappings.get(g) as GroupMappings;
      if (m.enterprise !== null)
        groupMappings.push({ idp_group_name: g, org_id: null, role_id: m.enterprise });
      for (const [orgId, roleId] of [...m.orgs].sort(([a], [b]) => (a < b ? -1 : 1)))
        groupMappings.push({ idp_group_name: g, org_id: orgId, role_id: roleId });
    }
    return {
      tokens: [...this.tokens.values()].map((t) => ({
        token: t.token,
        principal_type: t.principal_type,
        service_user_id: t.service_user_id,
        service_user_name: t.service_user_name,
        org_id: t.org_id,
        permissions: [...t.permissions],
      })),
      organizations: [...this.orgs.values()].map((o) => ({
        org_id: o.org_id,
        name: o.name,
        created_at: o.created_at,
        updated_at: o.updated_at,
        max_session_acu_limit: o.max_session_acu_limit,
        max_cycle_acu_limit: o.max_cycle_acu_limit,
      })),
      roles: [...this.roles.values()].map((r) => ({
        role_id: r.role_id,
        role_name: r.role_name,
        role_type: r.role_type,
        ...(r.permissions ? { permissions: [...r.permissions] } : {}),
      })),
      users,
      idp_groups: [...this.registry.values()],
      group_mappings: groupMappings,
      idp_memberships: memberships,
    };
  }
}

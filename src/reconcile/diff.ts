// diff: the ops that take Devin from what it holds to what it should hold, touching only what idsync
// owns (or adopts, in the open, as an op). Pure: same inputs, same plan.
import type { DevinSnapshot, DevinUser } from '../model/devin.js';
import { emailKey, groupRoleKey, type OwnershipLedger } from '../state/ledger.js';
import type { DesiredGroup, DesiredState, DesiredUser, Grant, UserGrant } from './desiredState.js';
import { domainFilter } from './desiredState.js';
import { globMatcher } from './glob.js';
import { type AdoptTarget, OP_ORDER, type Op, type OrgRef, type PlanWarning, type RoleRef } from './plan.js';
import type { ScopeSpec } from './policy.js';
import { enterpriseAdminRoles } from './roles.js';

export const BULK_LIMIT = 100;

type OrgGrant = UserGrant & { org: OrgRef };
// Which roles make an account admin is not one literal id (default roles may have generated ids):
// see enterpriseAdminRoles in roles.ts, used by keepLastAdmin.

export interface DiffResult {
  ops: Op[];
  warnings: PlanWarning[];
  /** In-scope users idsync manages or would manage: the base of maxUserRemovalPercent. */
  managedUsers: number;
}

export function diff(
  desired: DesiredState,
  devin: DevinSnapshot,
  ledger: OwnershipLedger,
  scope: ScopeSpec,
): DiffResult {
  const ctx = new DiffContext(desired, devin, ledger, scope);
  ctx.groups();
  ctx.users();
  ctx.keepLastAdmin();
  return { ops: ctx.sortedOps(), warnings: ctx.warnings, managedUsers: ctx.managedUsers };
}

/**
 * `new Set(items)`, kept for as long as that very array lives: the daemon reuses the ledger it
 * loaded while nobody changed it, and its 100,000 users need not be hashed into a set again.
 * Only for arrays nobody changes in place (the ledger's are frozen once loaded).
 */
const sets = new WeakMap<readonly string[], Set<string>>();
function setOf(items: readonly string[]): Set<string> {
  if (!Object.isFrozen(items)) return new Set(items);
  let set = sets.get(items);
  if (!set) {
    set = new Set(items);
    sets.set(items, set);
  }
  return set;
}

class DiffContext {
  readonly warnings: PlanWarning[] = [];
  managedUsers = 0;
  private readonly ops: Op[] = [];
  private readonly register: Array<{ name: string; reasons: string[] }> = [];
  /** Groups idsync owns, adopts or registers in this plan: their wanted mappings are idsync's to set. */
  private readonly managedGroups = new Set<string>();
  private readonly adopted = new Set<string>();
  private readonly invites = new Map<
    string,
    { role: RoleRef; people: Array<{ email: string; reasons: string[] }> }
  >();
  private readonly roles: Map<string, RoleRef>;
  private readonly orgs: Map<string, OrgRef>;
  private readonly ownedUsers: Set<string>;
  private readonly ownedGroups: Set<string>;
  private readonly ownedGroupRoles: Set<string>;
  private readonly inDomain: (email: string) => boolean;
  private readonly protectedUsers: Set<string>;
  private readonly groupInPattern: (name: string) => boolean;

  constructor(
    private readonly desired: DesiredState,
    private readonly devin: DevinSnapshot,
    ledger: OwnershipLedger,
    private readonly scope: ScopeSpec,
  ) {
    this.roles = new Map(devin.roles.map((r) => [r.id, { id: r.id, name: r.name }]));
    this.orgs = new Map(devin.orgs.map((o) => [o.id, { id: o.id, name: o.name }]));
    this.ownedUsers = setOf(ledger.users);
    this.ownedGroups = new Set(ledger.groups);
    this.ownedGroupRoles = new Set(ledger.groupRoles);
    this.inDomain = domainFilter(scope.emailDomains);
    this.protectedUsers = new Set(scope.protectedUsers.map(emailKey));
    this.groupInPattern = globMatcher(scope.groupNamePattern);
  }

  // ---- groups -----------------------------------------------------------------------------------

  groups(): void {
    const registered = new Set(this.devin.registeredGroups);
    const current = new Map<string, Map<string | null, string>>();
    for (const gr of this.devin.groupRoles) {
      let m = current.get(gr.group);
      if (!m) {
        m = new Map();
        current.set(gr.group, m);
      }
      m.set(gr.orgId, gr.roleId);
    }

    for (const want of this.desired.groups.values()) {
      const mappings = current.get(want.name) ?? new Map<string | null, string>();
      if (!registered.has(want.name)) {
        this.register.push({ name: want.name, reasons: want.reasons });
      } else if (!this.ownedGroups.has(want.name)) {
        if (this.scope.adopt === 'none') {
          this.notOwned(
            want.name,
            `IdP group "${want.name}" is registered in Devin but was not registered by idsync`,
          );
          continue;
        }
        this.adopt({ type: 'group', group: want.name }, [...want.reasons, 'already registered in Devin']);
      }
      this.managedGroups.add(want.name);
      this.groupMappings(want, mappings);
    }

    for (const name of [...registered].sort()) {
      if (this.desired.groups.has(name) || !this.groupInPattern(name)) continue;
      const mappings = current.get(name) ?? new Map<string | null, string>();
      if (!this.ownedGroups.has(name)) {
        if (this.scope.adopt !== 'all') continue;
        this.adopt({ type: 'group', group: name }, [
          'scope.adopt is "all": in-pattern groups are taken over',
        ]);
      }
      const why = `no mapping selects a directory group for "${name}" any more`;
      if (this.scope.deprovision === 'report') {
        this.warnings.push({
          code: 'deprovision-report',
          message: `${why}; not removed (scope.deprovision is "report")`,
          subject: name,
        });
        continue;
      }
      const remaining = this.removeOrgMappings(
        name,
        mappings,
        () => true,
        () => why,
      );
      const ent = mappings.get(null);
      // Devin keeps org mappings only beside an enterprise one, so that goes last, and only when alone.
      const entGone =
        ent === undefined || (remaining === 0 && this.mayManageGroupRole(name, null, ent, false));
      if (ent !== undefined && entGone) this.removeGroupRole(name, null, ent, [why]);
      if (remaining > 0 || !entGone) {
        this.warnings.push({
          code: 'not-owned',
          message: `IdP group "${name}" keeps role mappings idsync does not own, so it stays registered`,
          subject: name,
        });
        continue;
      }
      this.ops.push({
        kind: 'unregisterIdpGroup',
        key: `unregisterIdpGroup/${name}`,
        group: name,
        expected: { registered: true },
        reasons: [why],
      });
    }

    this.register.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (let i = 0; i < this.register.length; i += BULK_LIMIT) {
      const batch = this.register.slice(i, i + BULK_LIMIT);
      this.ops.push({
        kind: 'registerIdpGroups',
        key: `registerIdpGroups/batch-${i / BULK_LIMIT + 1}`,
        groups: batch.map((b) => b.name),
        expected: { registered: false },
        reasons: batch.map((b) => `${b.name}: ${b.reasons.join('; ')}`),
      });
    }
  }

  private groupMappings(want: DesiredGroup, current: Map<string | null, string>): void {
    const name = want.name;
    const remaining =
      this.removeOrgMappings(
        name,
        current,
        (orgId) => !want.orgRoles.has(orgId),
        (org) => `mappings for "${name}" give no role in ${org}`,
      ) + want.orgRoles.size;
    for (const [orgId, grant] of want.orgRoles) this.setGroupRole(name, orgId, grant, current.get(orgId));
    const ent = current.get(null);
    if (want.enterpriseRole) {
      this.setGroupRole(name, null, want.enterpriseRole, ent);
    } else if (ent !== undefined && remaining === 0 && this.mayManageGroupRole(name, null, ent, false)) {
      this.removeGroupRole(name, null, ent, [`mappings for "${name}" give no enterprise role`]);
    }
  }

  /**
   * Removes the org mappings `unwanted` selects that idsync may remove; returns how many org
   * mappings stay (kept by the filter or not idsync's).
   */
  private removeOrgMappings(
    name: string,
    current: Map<string | null, string>,
    unwanted: (orgId: string) => boolean,
    reason: (orgName: string) => string,
  ): number {
    let remaining = 0;
    for (const [orgId, roleId] of current) {
      if (orgId === null || !unwanted(orgId)) continue;
      if (this.mayManageGroupRole(name, orgId, roleId, false)) {
        this.removeGroupRole(name, orgId, roleId, [reason(this.orgName(orgId))]);
      } else remaining++;
    }
    return remaining;
  }

  private setGroupRole(
    group: string,
    orgId: string | null,
    grant: Grant,
    currentRoleId: string | undefined,
  ): void {
    if (currentRoleId === grant.role.id) {
      // Already right. Under adopt, take ownership so later changes are idsync's to make.
      if (!this.ownedGroupRoles.has(groupRoleKey(group, orgId)) && this.scope.adopt !== 'none') {
        this.adopt({ type: 'groupRole', group, orgId }, grant.reasons);
      }
      return;
    }
    if (currentRoleId !== undefined && !this.mayManageGroupRole(group, orgId, currentRoleId, true)) {
      this.notOwned(
        group,
        `the ${orgId ? `${this.orgName(orgId)} ` : 'enterprise '}role mapping of IdP group "${group}" was not made by idsync`,
      );
      return;
    }
    const expected = { role: currentRoleId === undefined ? null : this.role(currentRoleId) };
    if (orgId === null) {
      this.ops.push({
        kind: 'setGroupEnterpriseRole',
        key: `setGroupEnterpriseRole/${group}`,
        group,
        role: grant.role,
        expected,
        reasons: grant.reasons,
      });
    } else {
      this.ops.push({
        kind: 'setGroupOrgRole',
        key: `setGroupOrgRole/${orgId}/${group}`,
        group,
        org: this.org(orgId),
        role: grant.role,
        expected,
        reasons: grant.reasons,
      });
    }
  }

  private removeGroupRole(group: string, orgId: string | null, roleId: string, reasons: string[]): void {
    const expected = { role: this.role(roleId) };
    if (orgId === null) {
      this.ops.push({
        kind: 'removeGroupEnterpriseRole',
        key: `removeGroupEnterpriseRole/${group}`,
        group,
        expected,
        reasons,
      });
    } else {
      this.ops.push({
        kind: 'removeGroupOrgRole',
        key: `removeGroupOrgRole/${orgId}/${group}`,
        group,
        org: this.org(orgId),
        expected,
        reasons,
      });
    }
  }

  /**
   * Whether idsync may change or remove an existing mapping, adopting it (as an op) when the mode
   * allows: a mapping the config wants on a managed group under adopt ≥ matching; anything in
   * scope under adopt: all.
   */
  private mayManageGroupRole(group: string, orgId: string | null, roleId: string, wanted: boolean): boolean {
    if (this.ownedGroupRoles.has(groupRoleKey(group, orgId))) return true;
    const adoptable = wanted
      ? this.scope.adopt !== 'none' && this.managedGroups.has(group)
      : this.scope.adopt === 'all';
    if (!adoptable) return false;
    const scopeName = orgId ? this.orgName(orgId) : 'enterprise';
    this.adopt({ type: 'groupRole', group, orgId }, [
      `existing ${scopeName} mapping of "${group}" → ${this.role(roleId).name}`,
    ]);
    return true;
  }

  // ---- users ------------------------------------------------------------------------------------

  users(): void {
    // Devin's users by email key, as positions in devin.users, so the second pass below knows the
    // ones the first matched without another lookup per user into a map this size. Two Devin users
    // with one email (the last one is the match, as before) are rare: their key is looked up.
    const devinUsers = this.devin.users;
    const keys: Array<string | undefined> = new Array(devinUsers.length);
    const byEmail = new Map<string, number>();
    const sharedKeys = new Set<string>();
    for (let i = 0; i < devinUsers.length; i++) {
      const email = (devinUsers[i] as DevinUser).email;
      if (!email) continue;
      const key = emailKey(email);
      keys[i] = key;
      const size = byEmail.size;
      byEmail.set(key, i);
      if (byEmail.size === size) sharedKeys.add(key);
    }
    const matched = new Uint8Array(devinUsers.length);

    for (const [key, want] of this.desired.users) {
      const at = byEmail.get(key);
      if (at !== undefined) matched[at] = 1;
      if (this.desired.frozenEmails.has(key)) continue;
      this.managedUsers++;
      const have = at === undefined ? undefined : devinUsers[at];
      if (this.protectedUsers.has(key)) {
        if (!have || !this.sameAccess(have, want)) {
          this.warnings.push({
            code: 'protected-user',
            message: `${want.email} is in scope.protectedUsers; its access is left as it is`,
            subject: key,
          });
        }
        continue;
      }
      if (have && !this.ownedUsers.has(key)) {
        if (this.scope.adopt === 'none') {
          this.notOwned(key, `${want.email} is in Devin but was not invited by idsync`);
          continue;
        }
        this.adopt({ type: 'user', email: want.email }, [
          ...this.entReasons(want),
          'already a direct member of Devin',
        ]);
      }
      if (!have || have.enterpriseRoleId === null) {
        // No direct enterprise role yet: an invite gives one (IdP-only and org-only members too).
        const batch = this.invites.get(want.enterpriseRole.role.id) ?? {
          role: want.enterpriseRole.role,
          people: [],
        };
        batch.people.push({ email: want.email, reasons: this.entReasons(want) });
        this.invites.set(want.enterpriseRole.role.id, batch);
        for (const [orgId, grant] of want.orgRoles) {
          const current = have?.orgRoles[orgId];
          if (current === grant.role.id) continue;
          if (current === undefined) this.addOrgUser(want, have?.id ?? null, grant);
          else this.setOrgUserRole(want, have?.id as string, grant, current);
        }
        if (have) this.removeUnwantedOrgs(have, want.orgRoles, want.email);
        continue;
      }
      if (have.enterpriseRoleId !== want.enterpriseRole.role.id) {
        this.ops.push({
          kind: 'setUserEnterpriseRole',
          key: `setUserEnterpriseRole/${key}`,
          email: want.email,
          userId: have.id,
          role: want.enterpriseRole.role,
          expected: { role: this.role(have.enterpriseRoleId) },
          reasons: this.entReasons(want),
        });
      }
      for (const [orgId, grant] of want.orgRoles) {
        const current = have.orgRoles[orgId];
        if (current === grant.role.id) continue;
        if (current === undefined) this.addOrgUser(want, have.id, grant);
        else this.setOrgUserRole(want, have.id, grant, current);
      }
      this.removeUnwantedOrgs(have, want.orgRoles, want.email);
    }

    for (let i = 0; i < devinUsers.length; i++) {
      const have = devinUsers[i] as DevinUser;
      const key = keys[i];
      if (!have.email || key === undefined || matched[i] === 1) continue;
      if (sharedKeys.has(key) && this.desired.users.has(key)) continue;
      if (this.desired.frozenEmails.has(key)) continue;
      if (!this.inDomain(have.email) || this.protectedUsers.has(key)) continue;
      if (!this.ownedUsers.has(key)) {
        if (this.scope.adopt !== 'all') continue;
        this.adopt({ type: 'user', email: have.email }, [
          'scope.adopt is "all": in-scope direct users are taken over',
        ]);
      }
      this.managedUsers++;
      const why = `${have.email} is no longer granted direct access by any mapping`;
      if (this.scope.deprovision === 'report') {
        this.warnings.push({
          code: 'deprovision-report',
          message: `${why}; not removed (scope.deprovision is "report")`,
          subject: key,
        });
        continue;
      }
      for (const [orgId, roleId] of Object.entries(have.orgRoles)) {
        this.ops.push({
          kind: 'removeOrgUser',
          key: `removeOrgUser/${orgId}/${key}`,
          email: have.email,
          userId: have.id,
          org: this.org(orgId),
          expected: { role: this.role(roleId) },
          reasons: [why],
        });
      }
      this.ops.push({
        kind: 'removeUser',
        key: `removeUser/${key}`,
        email: have.email,
        userId: have.id,
        expected: { role: have.enterpriseRoleId === null ? null : this.role(have.enterpriseRoleId) },
        reasons: [why],
      });
    }

    for (const { role, people } of [...this.invites.values()].sort((a, b) =>
      a.role.id < b.role.id ? -1 : 1,
    )) {
      people.sort((a, b) => (emailKey(a.email) < emailKey(b.email) ? -1 : 1));
      for (let i = 0; i < people.length; i += BULK_LIMIT) {
        const batch = people.slice(i, i + BULK_LIMIT);
        this.ops.push({
          kind: 'inviteUsers',
          key: `inviteUsers/${role.id}/batch-${i / BULK_LIMIT + 1}`,
          emails: batch.map((p) => p.email),
          role,
          expected: { member: false },
          reasons: batch.flatMap((p) => p.reasons),
        });
      }
    }
  }

  private removeUnwantedOrgs(have: DevinUser, wanted: ReadonlyMap<string, unknown>, email: string): void {
    // for…in, not Object.entries: this runs for every user at every run, and entries() builds two
    // arrays per user only to find, nearly always, nothing to remove.
    for (const orgId in have.orgRoles) {
      if (!Object.hasOwn(have.orgRoles, orgId) || wanted.has(orgId)) continue;
      const roleId = have.orgRoles[orgId] as string;
      const why = `${email} is no longer granted a role in ${this.orgName(orgId)} by any mapping`;
      if (this.scope.deprovision === 'report') {
        this.warnings.push({
          code: 'deprovision-report',
          message: `${why}; not removed (scope.deprovision is "report")`,
          subject: emailKey(email),
        });
        continue;
      }
      this.ops.push({
        kind: 'removeOrgUser',
        key: `removeOrgUser/${orgId}/${emailKey(email)}`,
        email,
        userId: have.id,
        org: this.org(orgId),
        expected: { role: this.role(roleId) },
        reasons: [why],
      });
    }
  }

  private addOrgUser(want: DesiredUser, userId: string | null, grant: OrgGrant): void {
    this.ops.push({
      kind: 'addOrgUser',
      key: `addOrgUser/${grant.org.id}/${emailKey(want.email)}`,
      email: want.email,
      userId,
      org: grant.org,
      role: grant.role,
      expected: { role: null },
      reasons: this.desired.explain(want, grant, grant.org.name),
    });
  }

  private setOrgUserRole(want: DesiredUser, userId: string, grant: OrgGrant, currentRoleId: string): void {
    this.ops.push({
      kind: 'setOrgUserRole',
      key: `setOrgUserRole/${grant.org.id}/${emailKey(want.email)}`,
      email: want.email,
      userId,
      org: grant.org,
      role: grant.role,
      expected: { role: this.role(currentRoleId) },
      reasons: this.desired.explain(want, grant, grant.org.name),
    });
  }

  private entReasons(want: DesiredUser): string[] {
    return this.desired.explain(want, want.enterpriseRole, 'enterprise');
  }

  private sameAccess(have: DevinUser, want: DesiredUser): boolean {
    if (have.enterpriseRoleId !== want.enterpriseRole.role.id) return false;
    const orgs = Object.entries(have.orgRoles);
    return orgs.length === want.orgRoles.size && orgs.every(([o, r]) => want.orgRoles.get(o)?.role.id === r);
  }

  // ---- the last enterprise admin ----------------------------------------------------------------

  /**
   * Never leave Devin without a direct enterprise admin: the op that would remove the last one is
   * dropped. Fail closed on which roles are admin (roles.ts): a holder of a role that *may* be
   * admin (by id, well-known name, permissions, or a role id Devin did not list) is protected, but
   * only holders of a role that *certainly* is admin count as the admins that remain.
   */
  keepLastAdmin(): void {
    const adminRoles = enterpriseAdminRoles(this.devin.roles);
    const known = new Set(this.devin.roles.map((r) => r.id));
    const certain = (roleId: string | null) => roleId !== null && adminRoles.certain.has(roleId);
    const possible = (roleId: string | null) =>
      roleId !== null && (adminRoles.possible.has(roleId) || !known.has(roleId));
    const admins = this.devin.users.filter((u) => possible(u.enterpriseRoleId));
    if (admins.length === 0) return;
    const gained = this.ops.some(
      (o) => (o.kind === 'inviteUsers' || o.kind === 'setUserEnterpriseRole') && certain(o.role.id),
    );
    if (gained) return;
    const adminIds = new Set(admins.map((u) => u.id));
    const losing = this.ops.filter(
      (o): o is Extract<Op, { kind: 'removeUser' | 'setUserEnterpriseRole' }> =>
        (o.kind === 'removeUser' || (o.kind === 'setUserEnterpriseRole' && !certain(o.role.id))) &&
        adminIds.has(o.userId),
    );
    const losingIds = new Set(losing.map((o) => o.userId));
    if (losingIds.size === 0) return;
    if (admins.some((u) => certain(u.enterpriseRoleId) && !losingIds.has(u.id))) return;
    // Keep a certain admin when one is losing the role, else a possible one; the smallest id, so
    // plans are deterministic.
    const losingAdmins = admins.filter((u) => losingIds.has(u.id));
    const pick = losingAdmins.filter((u) => certain(u.enterpriseRoleId));
    const keep = (pick.length > 0 ? pick : losingAdmins).map((u) => u.id).sort()[0] as string;
    const kept = this.devin.users.find((u) => u.id === keep);
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const o = this.ops[i] as Op;
      if (
        'userId' in o &&
        o.userId === keep &&
        (o.kind === 'removeUser' || o.kind === 'setUserEnterpriseRole' || o.kind === 'removeOrgUser')
      ) {
        this.ops.splice(i, 1);
      }
    }
    this.warnings.push({
      code: 'last-admin',
      message: `${kept?.email ?? keep} is the last enterprise admin; idsync will not remove or demote them`,
      subject: kept?.email ? emailKey(kept.email) : keep,
    });
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private adopt(target: AdoptTarget, reasons: string[]): void {
    const subject =
      target.type === 'user'
        ? emailKey(target.email)
        : target.type === 'group'
          ? target.group
          : `${target.orgId ?? '*'}/${target.group}`;
    const key = `adopt/${target.type}/${subject}`;
    if (this.adopted.has(key)) return;
    this.adopted.add(key);
    this.ops.push({ kind: 'adopt', key, target, expected: { exists: true }, reasons });
  }

  private notOwned(subject: string, message: string): void {
    this.warnings.push({
      code: 'not-owned',
      message: `${message}; left alone (set scope.adopt to "matching" to manage it)`,
      subject,
    });
  }

  private role(id: string): RoleRef;
  private role(id: string | null): RoleRef | null;
  private role(id: string | null): RoleRef | null {
    if (id === null) return null;
    return this.roles.get(id) ?? { id, name: id };
  }

  private org(id: string): OrgRef {
    return this.orgs.get(id) ?? { id, name: id };
  }

  private orgName(id: string): string {
    return this.org(id).name;
  }

  sortedOps(): Op[] {
    const rank = new Map(OP_ORDER.map((k, i) => [k, i]));
    return [...this.ops].sort(
      (a, b) =>
        (rank.get(a.kind) as number) - (rank.get(b.kind) as number) ||
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
  }
}

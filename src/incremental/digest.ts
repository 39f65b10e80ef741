// What the directory asked of Devin at a run, per subject, in a few bytes: a user's enterprise role
// and org roles, a group's registration and role mappings. Comparing this run's digests with the
// last run's tells which users and groups the directory changed, at the level that matters (after
// nesting, mappings and precedence), so an incremental run re-reads from Devin exactly those.
import type { DesiredState } from '../reconcile/desiredState.js';

export interface DesiredDigests {
  /** email key → `enterpriseRoleId|orgId=roleId,…` (org ids sorted); `~` marks a frozen email. */
  users: Map<string, string>;
  /** IdP group name → `enterpriseRoleId|orgId=roleId,…`. */
  groups: Map<string, string>;
}

/** The subjects an incremental run re-reads from Devin. */
export interface Subjects {
  /** Email keys. */
  users: Set<string>;
  /** Group names. Any group re-reads the group listings (Devin has no GET of one registration). */
  groups: Set<string>;
}

export function emptySubjects(): Subjects {
  return { users: new Set(), groups: new Set() };
}

export function addSubjects(into: Subjects, more: Subjects): Subjects {
  for (const u of more.users) into.users.add(u);
  for (const g of more.groups) into.groups.add(g);
  return into;
}

function roles(entRoleId: string | null, orgRoles: Map<string, { role: { id: string } }>): string {
  const orgs: string[] = [];
  for (const [orgId, grant] of orgRoles) orgs.push(`${orgId}=${grant.role.id}`);
  orgs.sort();
  return `${entRoleId ?? ''}|${orgs.join(',')}`;
}

/**
 * A user's digest, shared by every user with the same roles: most users hold one of a few
 * combinations (no org role, or one), so those are looked up in small maps keyed by the role and
 * org ids instead of built as a new string per user of the directory at every run. Equal digests
 * are then the same string, which the comparison with the last run's checks fastest.
 */
function userDigests(): (entRoleId: string, orgRoles: Map<string, { role: { id: string } }>) => string {
  const none = new Map<string, string>();
  const one = new Map<string, Map<string, Map<string, string>>>();
  return (entRoleId, orgRoles) => {
    if (orgRoles.size === 0) {
      let d = none.get(entRoleId);
      if (d === undefined) {
        d = roles(entRoleId, orgRoles);
        none.set(entRoleId, d);
      }
      return d;
    }
    if (orgRoles.size > 1) return roles(entRoleId, orgRoles);
    const [[orgId, grant]] = orgRoles as unknown as [[string, { role: { id: string } }]];
    let byOrg = one.get(entRoleId);
    if (!byOrg) {
      byOrg = new Map();
      one.set(entRoleId, byOrg);
    }
    let byRole = byOrg.get(orgId);
    if (!byRole) {
      byRole = new Map();
      byOrg.set(orgId, byRole);
    }
    let d = byRole.get(grant.role.id);
    if (d === undefined) {
      d = roles(entRoleId, orgRoles);
      byRole.set(grant.role.id, d);
    }
    return d;
  };
}

export function digestDesired(desired: DesiredState): DesiredDigests {
  const users = new Map<string, string>();
  const digestOf = userDigests();
  for (const [key, user] of desired.users)
    users.set(key, digestOf(user.enterpriseRole.role.id, user.orgRoles));
  for (const key of desired.frozenEmails) users.set(key, `~${users.get(key) ?? ''}`);
  const groups = new Map<string, string>();
  for (const [name, group] of desired.groups) {
    groups.set(name, roles(group.enterpriseRole?.role.id ?? null, group.orgRoles));
  }
  return { users, groups };
}

/** Subjects whose digest differs between two runs, including those only one of them names. */
export function changedSubjects(before: DesiredDigests, after: DesiredDigests): Subjects {
  const out = emptySubjects();
  diffInto(before.users, after.users, out.users);
  diffInto(before.groups, after.groups, out.groups);
  return out;
}

/**
 * Keys of `a` and `b` whose values differ or that only one holds. Two runs over the same directory
 * list subjects in nearly the same order (a new user is one more key somewhere in the middle), so
 * both maps are walked side by side: equal keys are compared at once, and a key out of step waits
 * in a small map until the other side reaches it. Hash lookups into maps of 100,000 keys, which
 * cost more than all the rest, are only made in those small maps.
 */
function diffInto(a: Map<string, string>, b: Map<string, string>, into: Set<string>): void {
  const waitingA = new Map<string, string>();
  const waitingB = new Map<string, string>();
  const ia = a.entries();
  const ib = b.entries();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done && y.done) break;
    if (!x.done && !y.done && x.value[0] === y.value[0]) {
      if (x.value[1] !== y.value[1]) into.add(x.value[0]);
      continue;
    }
    if (!x.done) meet(x.value[0], x.value[1], waitingB, waitingA, into);
    if (!y.done) meet(y.value[0], y.value[1], waitingA, waitingB, into);
  }
  // Keys only one side holds.
  for (const k of waitingA.keys()) into.add(k);
  for (const k of waitingB.keys()) into.add(k);
}

/** A key out of step: compared with the other side's if that one passed it already, else kept. */
function meet(
  key: string,
  value: string,
  other: Map<string, string>,
  mine: Map<string, string>,
  into: Set<string>,
): void {
  const seen = other.get(key);
  if (seen === undefined) {
    mine.set(key, value);
    return;
  }
  other.delete(key);
  if (seen !== value) into.add(key);
}

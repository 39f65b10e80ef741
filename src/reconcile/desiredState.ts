// desiredState: what Devin should hold according to the directory and the mappings, each fact with
// the reasons a reviewer can check. Pure. Directory data problems become warnings, never crashes.

import {
  type Expansion,
  expandGroup,
  findGroupCycles,
  indexGroups,
  nestingPath,
} from '../directory/expand.js';
import { normalizeDirectoryId } from '../directory/ids.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../directory/types.js';
import type { DevinSnapshot } from '../model/devin.js';
import { emailKey } from '../state/ledger.js';
import { validEmail } from './email.js';
import { globMatcher } from './glob.js';
import type { HoldReason, MappedGroupStat, OrgRef, PlanWarning, RoleRef } from './plan.js';
import type { GroupSelector, MappingSpec, SyncPolicy } from './policy.js';
import { createResolver, higherRole, PolicyResolutionError, type Resolver } from './resolve.js';
import { normaliseDn, selectGroups } from './select.js';

export interface Grant<Why = string> {
  role: RoleRef;
  reasons: Why[];
}

/**
 * Why a user holds a grant: the mapping and where in its group the user sits. Kept as references
 * and rendered only for users that end up in an op, so a 100k-user plan does not build 100k strings.
 */
export interface UserWhy {
  mapping: number;
  expansion: Expansion;
  userId: string;
}

export type UserGrant = Grant<UserWhy>;

export interface DesiredGroup {
  /** Name registered in Devin. */
  name: string;
  enterpriseRole: Grant | null;
  /** org id → grant */
  orgRoles: Map<string, Grant & { org: OrgRef }>;
  reasons: string[];
  /** Ids of the directory groups mapped onto this name. */
  sources: Set<string>;
}

export interface DesiredUser {
  email: string;
  name: string;
  enterpriseRole: UserGrant;
  orgRoles: Map<string, UserGrant & { org: OrgRef }>;
}

/**
 * How far a mapping could be used this run. A mapping that selects nothing, or whose group cannot be
 * used, says nothing about who should lose access: the fail-closed pass (failClosed.ts) holds back
 * the removals and downgrades it could explain.
 */
export interface MappingUse {
  index: number;
  /** Stable across reordering of the config: the selector and the IdP name template. */
  key: string;
  spec: MappingSpec;
  enterpriseRole: RoleRef | null;
  orgs: Array<{ org: OrgRef; role: RoleRef }>;
  /** Why the users it grants are not fully known this run (no group selected, a member list unreadable). */
  users: HoldReason[];
  /** Why the IdP groups it registers are not fully known this run (no group, a name idsync may not manage). */
  groups: HoldReason[];
}

export interface DesiredState {
  /** by IdP group name */
  groups: Map<string, DesiredGroup>;
  /** by lower-cased email: users who get direct access */
  users: Map<string, DesiredUser>;
  /** Emails idsync must not touch this run (ambiguous in the directory). */
  frozenEmails: Set<string>;
  warnings: PlanWarning[];
  orgs: Map<string, OrgRef>;
  mappingUse: MappingUse[];
  /** Every directory group a mapping selected, with the users it grants: the next run's shrink base. */
  mappedGroups: MappedGroupStat[];
  /** Directory id → email key of every user granted direct access. */
  userIds: Record<string, string>;
  /** The role of the two that wins when both are granted in one scope. */
  higherRole(a: RoleRef, b: RoleRef): RoleRef;
  /** `alice@corp → Platform/org_admin via sre ⊂ platform-admins (mappings[0])`, one line per reason. */
  explain(user: DesiredUser, grant: UserGrant, scope: string): string[];
}

interface ResolvedMapping {
  index: number;
  spec: MappingSpec;
  enterpriseRole: RoleRef | null;
  orgs: Array<{ org: OrgRef; role: RoleRef }>;
}

export function desiredState(
  policy: SyncPolicy,
  directory: DirectorySnapshot,
  devin: DevinSnapshot,
): DesiredState {
  const resolver = createResolver(policy, devin);
  const mappings = resolveMappings(policy, resolver);
  if (resolver.problems.length > 0) throw new PolicyResolutionError(resolver.problems);

  const warnings: PlanWarning[] = [...directory.warnings];
  const index = indexGroups(directory.groups);
  warnings.push(...findGroupCycles(index));
  // Directory id → position in directory.users: a user's verdict and email key are kept by position,
  // in arrays, rather than in more maps of 100,000 string keys (map lookups are most of the cost).
  const positionOf = new Map<string, number>();
  for (let i = 0; i < directory.users.length; i++) {
    positionOf.set((directory.users[i] as DirectoryUser).id, i);
  }
  const inScopeDomain = domainFilter(policy.scope.emailDomains);
  const groupNameAllowed = globMatcher(policy.scope.groupNamePattern);
  const ambiguous = ambiguousEmails(directory.users);
  const orgs = new Map(devin.orgs.map((o) => [o.id, { id: o.id, name: o.name }]));

  const groups = new Map<string, DesiredGroup>();
  const users = new Map<string, DesiredUser>();
  // An email two enabled users share is left alone everywhere, deprovisioning included.
  const frozenEmails = ambiguous;
  const expansions = new Map<string, Expansion>();
  const warned = new Set<string>();
  const warnOnce = (w: PlanWarning) => {
    const k = `${w.code}\u0000${w.subject ?? w.message}`;
    if (warned.has(k)) return;
    warned.add(k);
    warnings.push(w);
  };

  // A user in many mapped groups is judged once: the checks (an email regex among them) are per
  // user, and their warnings are said once anyway.
  const userIds: Record<string, string> = {};
  // undefined: not judged yet; null: not usable; otherwise the email key.
  const keys: Array<string | null | undefined> = new Array(directory.users.length);
  const emails: Array<string | undefined> = new Array(directory.users.length);
  const usableOnce = (user: DirectoryUser, at: number): string | null => {
    let key = keys[at];
    if (key === undefined) {
      const email = usable(user, ambiguous, inScopeDomain, policy, warnOnce);
      key = email === undefined ? null : emailKey(email);
      keys[at] = key;
      emails[at] = email;
      // Only provisioning mappings ask, so a usable user is granted access: record who they are.
      if (key !== null) userIds[user.id] = key;
    }
    return key;
  };
  // Nested groups whose member list could not be read, per expansion (shared by mappings).
  const unreadableOf = new Map<Expansion, DirectoryGroup[]>();
  const unreadableIn = (expansion: Expansion): DirectoryGroup[] => {
    let list = unreadableOf.get(expansion);
    if (!list) {
      list = [];
      for (const id of expansion.parent.keys()) {
        const sub = index.byId.get(id);
        if (sub?.unreadable !== undefined) list.push(sub);
      }
      unreadableOf.set(expansion, list);
    }
    return list;
  };
  const mappingUse: MappingUse[] = [];
  const mappedGroups = new Map<string, MappedGroupStat>();
  for (const m of mappings) {
    const where = `mappings[${m.index}] (${describeSelector(m.spec.group)})`;
    const use: MappingUse = {
      index: m.index,
      key: mappingKey(m.spec),
      spec: m.spec,
      enterpriseRole: m.enterpriseRole,
      orgs: m.orgs,
      users: [],
      groups: [],
    };
    mappingUse.push(use);
    const provisions = m.spec.provisionUsers && m.enterpriseRole !== null;
    const selected = selectGroups(m.spec.group, directory.groups);
    if (selected.length === 0) {
      warnings.push({
        code: 'no-group-matched',
        message: `${where} matches no directory group`,
        subject: `mappings[${m.index}]`,
      });
      const hold: HoldReason = {
        guard: 'selector-miss',
        message: `${where} selects no directory group this run, so idsync cannot tell who it grants; if the group is gone on purpose, remove the mapping`,
      };
      use.groups.push(hold);
      if (provisions) use.users.push(hold);
      continue;
    }
    for (const g of selected) {
      const idpName = renderIdpGroupName(m.spec.idpGroupName, g);
      const badName = invalidIdpGroupName(idpName);
      if (badName !== undefined) {
        warnOnce({
          code: 'invalid-idp-group-name',
          message: `IdP group name ${JSON.stringify(idpName)} (from directory group ${g.name}, ${where}) ${badName}; not registered`,
          subject: idpName,
        });
        use.groups.push({
          guard: 'group-out-of-scope',
          message: `${where}: directory group ${g.name} gives the IdP group name ${JSON.stringify(idpName)}, which ${badName}`,
        });
      } else if (!groupNameAllowed(idpName)) {
        // Registry scope is not user access: the group's members are still granted below.
        warnOnce({
          code: 'out-of-scope',
          message: `IdP group "${idpName}" (from directory group ${g.name}) is outside scope.groupNamePattern "${policy.scope.groupNamePattern}"; its registry entry is not managed, its members' access still is`,
          subject: idpName,
        });
        use.groups.push({
          guard: 'group-out-of-scope',
          message: `${where}: directory group ${g.name} gives the IdP group "${idpName}", outside scope.groupNamePattern "${policy.scope.groupNamePattern}" (renamed?)`,
        });
      } else {
        const why = `mappings[${m.index}] selects directory group ${g.name}`;
        mergeGroup(groups, idpName, m, why, resolver, warnOnce, g);
      }

      const stat = mappedGroups.get(g.id) ?? { id: g.id, name: g.name, members: 0, mappings: [] };
      if (!stat.mappings.includes(use.key)) stat.mappings.push(use.key);
      mappedGroups.set(g.id, stat);
      if (!provisions) continue;
      let expansion = expansions.get(g.id);
      if (!expansion) {
        expansion = expandGroup(index, g.id);
        expansions.set(g.id, expansion);
      }
      for (const sub of unreadableIn(expansion)) {
        use.users.push({
          guard: 'group-unreadable',
          message: `${where}: the member list of ${sub.id === g.id ? 'directory group' : `${g.name}'s nested group`} ${sub.name} could not be read (${sub.unreadable}), so it may look emptier than it is`,
        });
      }
      let members = 0;
      for (const userId of expansion.holder.keys()) {
        const at = positionOf.get(userId);
        if (at === undefined) continue;
        const user = directory.users[at] as DirectoryUser;
        members++;
        const key = usableOnce(user, at);
        if (key === null) continue;
        grantUser(
          users,
          user,
          key,
          emails[at] as string,
          m,
          { mapping: m.index, expansion, userId },
          resolver,
        );
      }
      stat.members = Math.max(stat.members, members);
    }
  }
  const explain = (user: DesiredUser, grant: UserGrant, scope: string): string[] =>
    grant.reasons.map((why) => {
      const via = nestingPath(why.expansion, why.userId)
        .reverse()
        .map((id) => index.byId.get(id)?.name ?? id)
        .join(' ⊂ ');
      return `${user.email} → ${scope}/${grant.role.name} via ${via} (mappings[${why.mapping}])`;
    });
  return {
    groups,
    users,
    frozenEmails,
    warnings,
    orgs,
    mappingUse,
    mappedGroups: [...mappedGroups.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    userIds,
    higherRole: (a, b) => higherRole(resolver, a, b),
    explain,
  };
}

/** Identifies a mapping across runs whatever its position in the config. */
export function mappingKey(spec: MappingSpec): string {
  const [k, v] = Object.entries(spec.group)[0] as [string, string];
  const value = k === 'id' ? normalizeDirectoryId(v) : k === 'dn' ? normaliseDn(v) : v.toLowerCase();
  return JSON.stringify([k, value, spec.idpGroupName]);
}

/**
 * Why Devin cannot hold this IdP group name, or undefined. Devin addresses a group by its name as a
 * path segment (`/idp-groups/{idp_group_name}`): a `/` cannot round-trip (an encoded `%2F` is
 * decoded or refused by proxies before the API sees it), so such a group could be registered but
 * never read back or removed.
 */
export function invalidIdpGroupName(name: string): string | undefined {
  if (name.trim() === '') return 'is empty';
  if (name.includes('/'))
    return 'contains "/", which cannot round-trip through the API path {idp_group_name}';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains control characters';
  if (name !== name.trim()) return 'starts or ends with white space';
  return undefined;
}

function resolveMappings(policy: SyncPolicy, resolver: Resolver): ResolvedMapping[] {
  return policy.mappings.map((spec, index) => {
    const where = `mappings[${index}]`;
    const enterpriseRole = spec.enterpriseRole
      ? (resolver.role(`${where}.enterpriseRole`, spec.enterpriseRole, 'enterprise') ?? null)
      : null;
    const orgs: ResolvedMapping['orgs'] = [];
    spec.orgs.forEach((grant, j) => {
      const org = resolver.org(`${where}.orgs[${j}].org`, grant.org);
      const role = resolver.role(`${where}.orgs[${j}].role`, grant.role, 'org');
      if (org && role) orgs.push({ org, role });
    });
    return { index, spec, enterpriseRole, orgs };
  });
}

function mergeGroup(
  groups: Map<string, DesiredGroup>,
  idpName: string,
  m: ResolvedMapping,
  why: string,
  resolver: Resolver,
  warn: (w: PlanWarning) => void,
  source: DirectoryGroup,
): void {
  let entry = groups.get(idpName);
  if (!entry) {
    entry = { name: idpName, enterpriseRole: null, orgRoles: new Map(), reasons: [], sources: new Set() };
    groups.set(idpName, entry);
  }
  entry.sources.add(source.id);
  if (entry.sources.size === 2) {
    warn({
      code: 'idp-group-name-conflict',
      message: `several directory groups map to the IdP group "${idpName}"; the highest role of each scope wins`,
      subject: idpName,
    });
  }
  entry.reasons.push(why);
  if (m.enterpriseRole) entry.enterpriseRole = pick(resolver, entry.enterpriseRole, m.enterpriseRole, why);
  for (const { org, role } of m.orgs) {
    const current = entry.orgRoles.get(org.id);
    entry.orgRoles.set(org.id, { org, ...pick(resolver, current ?? null, role, why) });
  }
}

function grantUser(
  users: Map<string, DesiredUser>,
  user: DirectoryUser,
  key: string,
  email: string,
  m: ResolvedMapping,
  why: UserWhy,
  resolver: Resolver,
): void {
  const enterpriseRole = m.enterpriseRole as RoleRef;
  const entry = users.get(key);
  if (!entry) {
    // A user's first grant, the common case: built without comparing roles (but for one mapping
    // naming an org twice).
    // One reasons array for all of them: pick() never changes one in place, it copies.
    const reasons = [why];
    const orgRoles = new Map<string, UserGrant & { org: OrgRef }>();
    for (const { org, role } of m.orgs) {
      const current = orgRoles.get(org.id);
      const grant = current ? pick(resolver, current, role, why) : { role, reasons };
      orgRoles.set(org.id, { org, role: grant.role, reasons: grant.reasons });
    }
    users.set(key, {
      email: email.trim(),
      name: user.name,
      enterpriseRole: { role: enterpriseRole, reasons },
      orgRoles,
    });
    return;
  }
  entry.enterpriseRole = pick(resolver, entry.enterpriseRole, enterpriseRole, why);
  for (const { org, role } of m.orgs) {
    const current = entry.orgRoles.get(org.id);
    const grant = pick(resolver, current ?? null, role, why);
    entry.orgRoles.set(org.id, { org, role: grant.role, reasons: grant.reasons });
  }
}

/** Keeps the higher role; the reasons of an equal grant accumulate, a lower one is not a reason. */
function pick<W>(resolver: Resolver, current: Grant<W> | null, role: RoleRef, why: W): Grant<W> {
  if (!current) return { role, reasons: [why] };
  if (current.role.id === role.id) return { role, reasons: [...current.reasons, why] };
  const winner = higherRole(resolver, current.role, role);
  return winner.id === current.role.id ? current : { role, reasons: [why] };
}

/** The user's email if idsync may give them direct access; otherwise a warning says why not. */
function usable(
  user: DirectoryUser,
  ambiguous: Set<string>,
  inScopeDomain: (email: string) => boolean,
  policy: SyncPolicy,
  warn: (w: PlanWarning) => void,
): string | undefined {
  const who = user.ref ? `${user.name} (${user.ref})` : user.name;
  if (!user.enabled) {
    warn({
      code: 'user-disabled',
      message: `${who} is disabled in the directory; no access is granted`,
      subject: user.id,
    });
    return undefined;
  }
  const email = user.email?.trim();
  if (!email) {
    warn({ code: 'user-without-email', message: `${who} has no email address; skipped`, subject: user.id });
    return undefined;
  }
  if (!validEmail(email)) {
    warn({
      code: 'invalid-email',
      message: `${who} has the address ${JSON.stringify(email)}, which is not a valid email address (Devin would refuse it, and with it the whole invite batch); skipped until it is fixed`,
      subject: user.id,
    });
    return undefined;
  }
  if (ambiguous.has(emailKey(email))) {
    warn({
      code: 'duplicate-email',
      message: `${email} belongs to more than one enabled directory user; idsync leaves it untouched until that is fixed`,
      subject: emailKey(email),
    });
    return undefined;
  }
  if (!inScopeDomain(email)) {
    warn({
      code: 'out-of-scope',
      message: `${email} is outside scope.emailDomains (${policy.scope.emailDomains.join(', ')}); skipped`,
      subject: emailKey(email),
    });
    return undefined;
  }
  return email;
}

/** Emails held by more than one enabled user. A disabled old account beside a new one is not ambiguous. */
function ambiguousEmails(users: readonly DirectoryUser[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const u of users) {
    if (!u.enabled || !u.email?.trim()) continue;
    const k = emailKey(u.email);
    // One lookup per user, not two: this runs over every directory user at every run.
    const size = seen.size;
    seen.add(k);
    if (seen.size === size) twice.add(k);
  }
  return twice;
}

export function domainFilter(domains: readonly string[]): (email: string) => boolean {
  if (domains.length === 0) return () => true;
  const set = new Set(domains.map((d) => d.trim().toLowerCase().replace(/^@/, '')));
  return (email) => {
    const at = email.lastIndexOf('@');
    return (
      at > 0 &&
      set.has(
        email
          .slice(at + 1)
          .trim()
          .toLowerCase(),
      )
    );
  };
}

function describeSelector(s: GroupSelector): string {
  const [k, v] = Object.entries(s)[0] as [string, string];
  return `${k} ${JSON.stringify(v)}`;
}

export function renderIdpGroupName(template: string, g: DirectoryGroup): string {
  return template.replace(/\{(name|id|dn)\}/g, (_, key: 'name' | 'id' | 'dn') =>
    key === 'name' ? g.name : key === 'id' ? g.id : (g.dn ?? g.name),
  );
}

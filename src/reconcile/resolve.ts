// Names in the config (roles, orgs) resolved against what Devin really has. An unknown name is a
// config error that lists what Devin does have, so the fix is one read away.
import type { DevinOrg, DevinRole, DevinSnapshot } from '../model/devin.js';
import type { OrgRef, RoleRef } from './plan.js';
import type { SyncPolicy } from './policy.js';
import { BUILT_IN_RANK, type BuiltInKind, classifyRoles } from './roles.js';

export class PolicyResolutionError extends Error {
  constructor(readonly problems: string[]) {
    super(`the config names things Devin does not have:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyResolutionError';
  }
}

export interface Resolver {
  role(where: string, nameOrId: string, type: 'enterprise' | 'org'): RoleRef | undefined;
  org(where: string, nameOrId: string): OrgRef | undefined;
  /** Lower = wins. */
  rank(role: RoleRef): number;
  problems: string[];
}

/** The literal built-in ids, for configs written against an account that has them. */
const LITERAL_IDS: Readonly<Record<string, BuiltInKind>> = {
  account_admin: 'enterprise-admin',
  account_member: 'enterprise-member',
  org_admin: 'org-admin',
  org_member: 'org-member',
  org_deepwiki: 'org-deepwiki',
};

export function createResolver(policy: SyncPolicy, devin: DevinSnapshot): Resolver {
  const problems: string[] = [];
  const rolesById = new Map(devin.roles.map((r) => [r.id, r]));
  const rolesByName = groupBy(devin.roles, (r) => r.name.toLowerCase());
  const orgsById = new Map(devin.orgs.map((o) => [o.id, o]));
  const orgsByName = groupBy(devin.orgs, (o) => o.name.toLowerCase());
  // Built-in roles by id or well-known name (roles.ts): accounts whose default roles have generated
  // ids still rank Admin above Member.
  const builtIns = classifyRoles(devin.roles);

  const listRoles = (type: 'enterprise' | 'org') =>
    devin.roles
      .filter((r) => r.type === type)
      .map((r) => `${r.name} (${r.id})`)
      .join(', ') || 'none';
  const listOrgs = () => devin.orgs.map((o) => `${o.name} (${o.id})`).join(', ') || 'none';

  /**
   * By id, else by name within `type` when given: accounts name the enterprise and the org
   * defaults alike ("Admin", "Member"; Cognition's provider looks them up by name and role_type).
   */
  const findRole = (where: string, key: string, type?: 'enterprise' | 'org'): DevinRole | undefined => {
    const byId = rolesById.get(key);
    if (byId) return byId;
    const named = rolesByName.get(key.toLowerCase()) ?? [];
    const ofType = type === undefined ? [] : named.filter((r) => r.type === type);
    // A name of the other type only is kept, so the error says "an enterprise role where…".
    const byName = ofType.length > 0 ? ofType : named;
    if (byName.length > 1) {
      problems.push(
        `${where}: role name "${key}" is ambiguous (${byName.map((r) => r.id).join(', ')}); use the id`,
      );
      return undefined;
    }
    if (byName[0]) return byName[0];
    // "account_admin" on an account whose Admin role has a generated id: the one role identified
    // as that built-in, and only when exactly one is (otherwise the unknown name is reported).
    const kind = LITERAL_IDS[key];
    const aliased = kind === undefined ? undefined : builtIns.roleOf(kind);
    return aliased === undefined ? undefined : rolesById.get(aliased);
  };

  const precedence = new Map<string, number>();
  policy.rolePrecedence.forEach((key, i) => {
    // A name both types use ("Admin") ranks both roles; within one type it must be unique.
    const named = rolesById.has(key) ? [] : (rolesByName.get(key.toLowerCase()) ?? []);
    const types = new Set(named.map((r) => r.type));
    if (named.length > 1 && types.size === named.length) {
      for (const r of named) if (!precedence.has(r.id)) precedence.set(r.id, i);
      return;
    }
    const role = findRole(`rolePrecedence[${i}]`, key);
    if (!role) {
      problems.push(
        `rolePrecedence[${i}]: no role "${key}"; Devin has: ${devin.roles.map((r) => `${r.name} (${r.id})`).join(', ')}`,
      );
      return;
    }
    if (!precedence.has(role.id)) precedence.set(role.id, i);
  });

  return {
    problems,
    role(where, key, type) {
      const role = findRole(where, key, type);
      if (!role) {
        if (!problems.some((p) => p.startsWith(`${where}:`))) {
          problems.push(`${where}: no ${type} role "${key}"; Devin has: ${listRoles(type)}`);
        }
        return undefined;
      }
      if (role.type !== type) {
        problems.push(
          `${where}: "${key}" is an ${role.type} role, but an ${type} role is needed here; Devin's ${type} roles: ${listRoles(type)}`,
        );
        return undefined;
      }
      return { id: role.id, name: role.name };
    },
    org(where, key) {
      const org: DevinOrg | undefined =
        orgsById.get(key) ??
        (() => {
          const byName = orgsByName.get(key.toLowerCase()) ?? [];
          if (byName.length > 1) {
            problems.push(
              `${where}: organization name "${key}" is ambiguous (${byName.map((o) => o.id).join(', ')}); use the id`,
            );
            return undefined;
          }
          if (byName.length === 0)
            problems.push(`${where}: no organization "${key}"; Devin has: ${listOrgs()}`);
          return byName[0];
        })();
      return org ? { id: org.id, name: org.name } : undefined;
    },
    rank(role) {
      const explicit = precedence.get(role.id);
      if (explicit !== undefined) return explicit;
      const kind = builtIns.kindOf(role.id);
      // Listed roles outrank built-ins, which outrank unlisted custom roles.
      return kind !== undefined ? 1_000 + BUILT_IN_RANK.indexOf(kind) : 2_000;
    },
  };
}

/** The role that wins when several mappings grant one scope; ties go to the smaller id, so plans are deterministic. */
export function higherRole(resolver: Resolver, a: RoleRef, b: RoleRef): RoleRef {
  const ra = resolver.rank(a);
  const rb = resolver.rank(b);
  if (ra !== rb) return ra < rb ? a : b;
  return a.id <= b.id ? a : b;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

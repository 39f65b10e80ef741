// Role and org names in the config, resolved against what Devin has (docs/design.md §4): an id matches
// exactly, a name case-insensitively. Pure, so `validate` and the planner share one rule and one
// wording for "no such org".
import type { DevinOrg, DevinRole } from '../model/devin.js';
import type { SyncPolicy } from '../reconcile/policy.js';
import { type ConfigPath, formatPath } from './paths.js';

export interface DevinRefs {
  roles: readonly DevinRole[];
  orgs: readonly DevinOrg[];
}

export interface ReferenceProblem {
  path: ConfigPath;
  /** What is wrong, without the path: `no organization "Platfrom"; Devin has: Data (org-data), …`. */
  detail: string;
  /** Path and detail: `mappings[0].orgs[0].org: no organization "Platfrom"; Devin has: …`. */
  message: string;
}

export interface ResolvedReferences {
  /** Keyed by the value as written in the config. */
  orgs: Map<string, DevinOrg>;
  roles: Map<string, DevinRole>;
}

/** Past this many, listing every org in a message stops helping. */
const MAX_LISTED = 30;

interface Named {
  id: string;
  name: string;
}

function listing(items: readonly Named[]): string {
  if (items.length === 0) return 'none';
  const sorted = [...items].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  const shown = sorted.slice(0, MAX_LISTED).map((i) => `${i.name} (${i.id})`);
  const more = sorted.length - shown.length;
  return more > 0 ? `${shown.join(', ')}, and ${more} more` : shown.join(', ');
}

/** Id first (exact), then name (exact case, then any case), so `Platform` and `platform` can coexist. */
export function matchByIdOrName<T extends Named>(wanted: string, items: readonly T[]): T[] {
  const byId = items.filter((i) => i.id === wanted);
  if (byId.length > 0) return byId;
  const exact = items.filter((i) => i.name === wanted);
  if (exact.length > 0) return exact;
  const lower = wanted.toLowerCase();
  return items.filter((i) => i.name.toLowerCase() === lower);
}

const ROLE_KIND = { enterprise: 'enterprise role', org: 'organization role', any: 'role' } as const;

export function resolveDevinReferences(
  policy: SyncPolicy,
  devin: DevinRefs,
): {
  problems: ReferenceProblem[];
  resolved: ResolvedReferences;
} {
  const problems: ReferenceProblem[] = [];
  const resolved: ResolvedReferences = { orgs: new Map(), roles: new Map() };
  const fail = (path: ConfigPath, detail: string): void => {
    problems.push({ path, detail, message: `${formatPath(path)}: ${detail}` });
  };

  const org = (path: ConfigPath, wanted: string): void => {
    const found = matchByIdOrName(wanted, devin.orgs);
    const [only] = found;
    if (found.length === 1 && only) resolved.orgs.set(wanted, only);
    else if (found.length === 0)
      fail(path, `no organization ${JSON.stringify(wanted)}; Devin has: ${listing(devin.orgs)}`);
    else fail(path, `${JSON.stringify(wanted)} matches several organizations: ${listing(found)}; use the id`);
  };

  const role = (path: ConfigPath, wanted: string, kind: keyof typeof ROLE_KIND): void => {
    const candidates = kind === 'any' ? devin.roles : devin.roles.filter((r) => r.type === kind);
    const found = matchByIdOrName(wanted, candidates);
    const [only] = found;
    if (found.length === 1 && only) {
      resolved.roles.set(wanted, only);
      return;
    }
    if (found.length > 1) {
      fail(
        path,
        `${JSON.stringify(wanted)} matches several ${ROLE_KIND[kind]}s: ${listing(found)}; use the id`,
      );
      return;
    }
    const [other] = matchByIdOrName(wanted, devin.roles);
    const has = `Devin's ${ROLE_KIND[kind]}s: ${listing(candidates)}`;
    if (other) {
      fail(
        path,
        `${JSON.stringify(wanted)} is an ${ROLE_KIND[other.type]}, expected an ${ROLE_KIND[kind]}; ${has}`,
      );
    } else {
      fail(path, `no ${ROLE_KIND[kind]} ${JSON.stringify(wanted)}; Devin has: ${listing(candidates)}`);
    }
  };

  policy.mappings.forEach((m, i) => {
    if (m.enterpriseRole !== undefined)
      role(['mappings', i, 'enterpriseRole'], m.enterpriseRole, 'enterprise');
    m.orgs.forEach((grant, j) => {
      org(['mappings', i, 'orgs', j, 'org'], grant.org);
      role(['mappings', i, 'orgs', j, 'role'], grant.role, 'org');
    });
  });
  policy.rolePrecedence.forEach((r, i) => {
    role(['rolePrecedence', i], r, 'any');
  });
  return { problems, resolved };
}

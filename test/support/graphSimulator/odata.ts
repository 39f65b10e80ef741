// OData pieces of the Graph routes: $select validation against the properties Graph knows (a typo in
// a configured attribute must fail as it does against Graph, not come back as null), object shapes,
// the small $filter subset the source uses, and the opaque page-token store behind $skiptoken.
import { randomBytes } from 'node:crypto';
import type { Directory, GroupRec } from './directory.js';
import type { SimUser } from './types.js';

const USER_PROPERTIES = [
  'id',
  'displayName',
  'mail',
  'userPrincipalName',
  'accountEnabled',
  'givenName',
  'surname',
  'jobTitle',
  'department',
  'companyName',
  'employeeId',
  'employeeType',
  'officeLocation',
  'mobilePhone',
  'businessPhones',
  'preferredLanguage',
  'mailNickname',
  'otherMails',
  'proxyAddresses',
  'userType',
  'externalUserState',
  'creationType',
  'createdDateTime',
  'deletedDateTime',
  'city',
  'country',
  'state',
  'streetAddress',
  'postalCode',
  'usageLocation',
  'identities',
  'onPremisesSamAccountName',
  'onPremisesUserPrincipalName',
  'onPremisesImmutableId',
  'onPremisesSyncEnabled',
  'onPremisesDistinguishedName',
  'onPremisesDomainName',
  'onPremisesSecurityIdentifier',
  'onPremisesExtensionAttributes',
  'securityIdentifier',
  'employeeHireDate',
  'ageGroup',
  'faxNumber',
  'imAddresses',
  'showInAddressList',
];

/** What /users returns without $select (Graph v1.0: note that accountEnabled is not among them). */
export const USER_DEFAULT_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
];

const GROUP_PROPERTIES = [
  'id',
  'displayName',
  'description',
  'mail',
  'mailEnabled',
  'mailNickname',
  'securityEnabled',
  'groupTypes',
  'createdDateTime',
  'deletedDateTime',
  'visibility',
  'classification',
  'membershipRule',
  'membershipRuleProcessingState',
  'onPremisesSyncEnabled',
  'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier',
  'onPremisesDomainName',
  'onPremisesNetBiosName',
  'securityIdentifier',
  'proxyAddresses',
  'isAssignableToRole',
  'expirationDateTime',
  'renewedDateTime',
  'uniqueName',
];

export const GROUP_DEFAULT_PROPERTIES = [
  'id',
  'displayName',
  'description',
  'groupTypes',
  'mail',
  'mailEnabled',
  'mailNickname',
  'securityEnabled',
  'createdDateTime',
];

const COLLECTIONS = new Set([
  'businessPhones',
  'otherMails',
  'proxyAddresses',
  'groupTypes',
  'imAddresses',
  'identities',
]);

export type SelectTarget = 'user' | 'group' | 'directoryObject' | 'groupDelta';

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Canonical property names of a $select, or null for the default set; members allowed for group delta. */
export function parseSelect(
  raw: string | undefined,
  target: SelectTarget,
  dir: Directory,
): Parsed<string[] | null> {
  if (raw === undefined) return { ok: true, value: null };
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return { ok: true, value: null };
  const out: string[] = [];
  const typeName = target === 'user' ? 'user' : target === 'directoryObject' ? 'directoryObject' : 'group';
  for (const n of names) {
    const canonical = canonicalProperty(n, target, dir);
    if (!canonical) {
      return {
        ok: false,
        message: `Parsing OData Select and Expand failed: Could not find a property named '${n}' on type 'microsoft.graph.${typeName}'.`,
      };
    }
    if (!out.includes(canonical)) out.push(canonical);
  }
  return { ok: true, value: out };
}

function findIn(list: readonly string[], lower: string): string | undefined {
  return list.find((p) => p.toLowerCase() === lower);
}

function canonicalProperty(name: string, target: SelectTarget, dir: Directory): string | undefined {
  const lower = name.toLowerCase();
  const user = (): string | undefined =>
    findIn(USER_PROPERTIES, lower) ??
    dir.userPropertyNames.get(lower) ??
    (/^extension_[0-9a-f]{32}_\w+$/i.test(name) ? name : undefined);
  const group = (): string | undefined => findIn(GROUP_PROPERTIES, lower);
  switch (target) {
    case 'user':
      return user();
    case 'group':
      return group();
    case 'groupDelta':
      return lower === 'members' ? 'members' : group();
    case 'directoryObject':
      return user() ?? group();
  }
}

export function userJson(u: SimUser, select: readonly string[] | null): Record<string, unknown> {
  const props = select ?? USER_DEFAULT_PROPERTIES;
  const out: Record<string, unknown> = {};
  for (const p of props) {
    const v = u[p];
    out[p] = v === undefined ? (COLLECTIONS.has(p) ? [] : null) : v;
  }
  out.id = u.id;
  return out;
}

function groupValue(g: GroupRec, p: string): unknown {
  if (p === 'id') return g.id;
  if (p === 'displayName') return g.displayName;
  if (p in g.extra) return g.extra[p];
  switch (p) {
    case 'groupTypes':
    case 'proxyAddresses':
      return [];
    case 'mailEnabled':
      return false;
    case 'securityEnabled':
      return true;
    case 'mailNickname':
      return g.displayName.replace(/[^A-Za-z0-9]/g, '') || 'group';
    case 'createdDateTime':
      return '2024-01-01T00:00:00Z';
    default:
      return null;
  }
}

export function groupJson(g: GroupRec, select: readonly string[] | null): Record<string, unknown> {
  const props = (select ?? GROUP_DEFAULT_PROPERTIES).filter((p) => p !== 'members');
  const out: Record<string, unknown> = {};
  for (const p of props) out[p] = groupValue(g, p);
  out.id = g.id;
  return out;
}

/** A member of a directoryObject collection (users and groups together), tagged with @odata.type. */
export function directoryObjectJson(
  dir: Directory,
  k: string,
  select: readonly string[] | null,
): Record<string, unknown> | undefined {
  const u = dir.users.get(k);
  if (u) return { '@odata.type': '#microsoft.graph.user', ...userJson(u, select) };
  const g = dir.groups.get(k);
  if (g) {
    const props = select ? select.filter((p) => GROUP_PROPERTIES.includes(p)) : null;
    return { '@odata.type': '#microsoft.graph.group', ...groupJson(g, props) };
  }
  return undefined;
}

// ---- $filter: `prop eq 'v'` clauses joined by `or`, `prop in ('a','b')`, startswith(prop,'v') --------

export interface FilterClause {
  prop: string;
  op: 'eq' | 'startswith';
  value: string;
}

const FILTERABLE: Record<'user' | 'group', string[]> = {
  user: ['id', 'userPrincipalName', 'mail', 'displayName'],
  group: ['id', 'displayName', 'mail'],
};

export function parseFilter(raw: string, target: 'user' | 'group'): Parsed<FilterClause[]> {
  let i = 0;
  const s = raw;
  const ws = (): void => {
    while (i < s.length && s[i] === ' ') i++;
  };
  const ident = (): string => {
    ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  const str = (): string | undefined => {
    ws();
    if (s[i] !== "'") return undefined;
    i++;
    let out = '';
    while (i < s.length) {
      if (s[i] === "'") {
        if (s[i + 1] === "'") {
          out += "'";
          i += 2;
          continue;
        }
        i++;
        return out;
      }
      out += s[i++];
    }
    return undefined;
  };
  const lit = (c: string): boolean => {
    ws();
    if (s[i] !== c) return false;
    i++;
    return true;
  };
  const prop = (name: string): string | undefined =>
    FILTERABLE[target].find((p) => p.toLowerCase() === name.toLowerCase());
  const bad = (): Parsed<FilterClause[]> => ({
    ok: false,
    message: `Unsupported or invalid query filter clause specified for property '${raw}' of resource '${target === 'user' ? 'User' : 'Group'}'.`,
  });
  const clauses: FilterClause[] = [];
  for (;;) {
    const word = ident();
    if (word.toLowerCase() === 'startswith') {
      if (!lit('(')) return bad();
      const p = prop(ident());
      if (!p || !lit(',')) return bad();
      const v = str();
      if (v === undefined || !lit(')')) return bad();
      clauses.push({ prop: p, op: 'startswith', value: v });
    } else {
      const p = prop(word);
      if (!p) return bad();
      const op = ident().toLowerCase();
      if (op === 'eq') {
        const v = str();
        if (v === undefined) return bad();
        clauses.push({ prop: p, op: 'eq', value: v });
      } else if (op === 'in') {
        if (!lit('(')) return bad();
        do {
          const v = str();
          if (v === undefined) return bad();
          clauses.push({ prop: p, op: 'eq', value: v });
        } while (lit(','));
        if (!lit(')')) return bad();
      } else return bad();
    }
    ws();
    if (i >= s.length) break;
    if (ident().toLowerCase() !== 'or') return bad();
  }
  return { ok: true, value: clauses };
}

/** Directory string comparisons are case-insensitive. */
export function matches(value: unknown, c: FilterClause): boolean {
  if (typeof value !== 'string') return false;
  const v = value.toLowerCase();
  const want = c.value.toLowerCase();
  return c.op === 'eq' ? v === want : v.startsWith(want);
}

// ---- page tokens ------------------------------------------------------------------------------

/**
 * Opaque tokens for $skiptoken/$deltatoken. Each token names an immutable state, so following the same
 * link twice (a client retrying after a timeout) returns the same page. Oldest tokens go first once
 * the store is full.
 */
export class TokenStore<T> {
  private readonly map = new Map<string, T>();
  constructor(private readonly cap = 100_000) {}

  put(state: T): string {
    const t = randomBytes(18).toString('base64url');
    this.map.set(t, state);
    if (this.map.size > this.cap) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return t;
  }

  get(token: string): T | undefined {
    return this.map.get(token);
  }
}

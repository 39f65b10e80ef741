// Which of Devin's roles are the built-in ones. Pure.
//
// Roles cannot be told apart by id alone. the Devin API docs lists the literal ids account_admin,
// account_member, org_admin, org_member and org_deepwiki. But Cognition's own Terraform provider
// says per-account default roles "have generated IDs but a well-known name" (e.g. "Member"), and it
// looks them up by id first, then by name, within one role_type. Its examples use the names "Admin"
// and "Member" for both the enterprise and the org roles, and other snapshots show "Org Admin",
// "Org Member" and "DeepWiki". So a role is matched by its literal id first, then by a well-known
// name within its type, and, where the API sends them (RoleDetailResponse.permissions), by its
// permissions.
//
// FAIL CLOSED: a name that two roles of the same type both claim identifies neither of them.
// The last-admin guard does not rank roles. It needs two answers: who certainly can administer the
// account (counted as the admins that remain), and who might (every such holder is protected).

export type BuiltInKind =
  | 'enterprise-admin'
  | 'enterprise-member'
  | 'org-admin'
  | 'org-member'
  | 'org-deepwiki';

/** What the classification reads of a role: the snapshot's DevinRole fits. */
export interface RoleLike {
  id: string;
  name: string;
  type: 'enterprise' | 'org';
  /** Only when the API sends them (RoleDetailResponse); absent means unknown, not none. */
  permissions?: readonly string[] | undefined;
}

/** Highest first within each type: admin over member (over deepwiki). */
export const BUILT_IN_RANK: readonly BuiltInKind[] = [
  'enterprise-admin',
  'enterprise-member',
  'org-admin',
  'org-member',
  'org-deepwiki',
];

/** The permission that lets a role manage membership, and so restore anyone's access. */
export const ADMIN_PERMISSION = 'ManageAccountMembership';

interface KindSpec {
  kind: BuiltInKind;
  type: 'enterprise' | 'org';
  ids: readonly string[];
  /** Normalised (see normaliseName). */
  names: readonly string[];
}

const SPECS: readonly KindSpec[] = [
  {
    kind: 'enterprise-admin',
    type: 'enterprise',
    ids: ['account_admin', 'enterprise_admin'],
    names: ['admin', 'administrator', 'account admin', 'enterprise admin', 'account administrator'],
  },
  {
    kind: 'enterprise-member',
    type: 'enterprise',
    ids: ['account_member', 'enterprise_member'],
    names: ['member', 'account member', 'enterprise member', 'user', 'account user'],
  },
  {
    kind: 'org-admin',
    type: 'org',
    ids: ['org_admin', 'organization_admin'],
    names: ['admin', 'administrator', 'org admin', 'organization admin', 'org administrator'],
  },
  {
    kind: 'org-member',
    type: 'org',
    ids: ['org_member', 'organization_member'],
    names: ['member', 'org member', 'organization member', 'user', 'org user'],
  },
  {
    kind: 'org-deepwiki',
    type: 'org',
    ids: ['org_deepwiki', 'organization_deepwiki'],
    names: ['deepwiki', 'deepwiki user', 'deepwiki only', 'org deepwiki', 'deepwiki member'],
  },
];

/** Lower case; runs of white space, '_' and '-' become one space. "Org_Admin" → "org admin". */
export function normaliseName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');
}

function byId(role: RoleLike): BuiltInKind | undefined {
  return SPECS.find((s) => s.type === role.type && s.ids.includes(role.id))?.kind;
}

function byName(role: RoleLike): BuiltInKind | undefined {
  const name = normaliseName(role.name);
  return SPECS.find((s) => s.type === role.type && s.names.includes(name))?.kind;
}

/** Permissions, when the API gave them, that contradict the kind a name suggests. */
function contradicts(role: RoleLike, kind: BuiltInKind): boolean {
  if (role.permissions === undefined || role.type !== 'enterprise') return false;
  const manages = role.permissions.includes(ADMIN_PERMISSION);
  return kind === 'enterprise-admin' ? !manages : manages;
}

/**
 * The kind this role looks like on its own: a literal id wins. A well-known name counts only
 * within the role's type, and not when the permissions contradict it. Does not look at the other
 * roles; classifyRoles does, and is what callers should use.
 */
export function builtInKind(role: RoleLike): BuiltInKind | undefined {
  const id = byId(role);
  if (id !== undefined) return id;
  const name = byName(role);
  if (name === undefined || contradicts(role, name)) return undefined;
  return name;
}

export interface RoleClassification {
  /** role id → kind, for roles identified without ambiguity. */
  kinds: ReadonlyMap<string, BuiltInKind>;
  /** Kinds that several roles claim by name, and that therefore no role gets. */
  ambiguous: readonly BuiltInKind[];
  kindOf(roleId: string): BuiltInKind | undefined;
  /** The one role of this kind, if exactly one was identified. */
  roleOf(kind: BuiltInKind): string | undefined;
}

/**
 * Identifies the built-in roles among all of Devin's roles. A literal id beats a name. If no id
 * matches, the kind goes to the single role that has a well-known name for it. Two such roles
 * make the kind ambiguous, and neither gets it.
 */
export function classifyRoles(roles: readonly RoleLike[]): RoleClassification {
  const kinds = new Map<string, BuiltInKind>();
  const ambiguous: BuiltInKind[] = [];
  for (const spec of SPECS) {
    const ofType = roles.filter((r) => r.type === spec.type);
    const ids = ofType.filter((r) => spec.ids.includes(r.id));
    const chosen = ids.length > 0 ? ids : ofType.filter((r) => builtInKind(r) === spec.kind);
    if (ids.length === 0 && chosen.length > 1) {
      ambiguous.push(spec.kind);
      continue;
    }
    for (const r of chosen) kinds.set(r.id, spec.kind);
  }
  return {
    kinds,
    ambiguous,
    kindOf: (roleId) => kinds.get(roleId),
    roleOf: (kind) => {
      const ids = [...kinds].filter(([, k]) => k === kind).map(([id]) => id);
      return ids.length === 1 ? ids[0] : undefined;
    },
  };
}

export interface AdminRoles {
  /** Roles whose holders certainly administer the account: the ones counted as remaining admins. */
  certain: ReadonlySet<string>;
  /**
   * Roles whose holders may administer it. Every certain role is here, and so is every enterprise
   * role that a name, the permissions or an ambiguous match ties to admin. Holders of these
   * are never all removed at once.
   */
  possible: ReadonlySet<string>;
}

/** The enterprise roles that make their holder an account admin, read both ways (see AdminRoles). */
export function enterpriseAdminRoles(roles: readonly RoleLike[]): AdminRoles {
  const classified = classifyRoles(roles);
  const certain = new Set<string>();
  const possible = new Set<string>();
  for (const r of roles) {
    if (r.type !== 'enterprise') continue;
    const manages = r.permissions?.includes(ADMIN_PERMISSION) === true;
    if (classified.kindOf(r.id) === 'enterprise-admin' || manages) certain.add(r.id);
    if (
      certain.has(r.id) ||
      byId(r) === 'enterprise-admin' ||
      byName(r) === 'enterprise-admin' ||
      /admin|owner/i.test(r.name)
    )
      possible.add(r.id);
  }
  return { certain, possible };
}

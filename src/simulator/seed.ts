import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

// The seed is snake_case like the API. Defaults keep hand-written test seeds short; `dump()` always
// writes every field, so a dump re-seeds to the same state.

const SeedToken = z.strictObject({
  token: z.string().min(1),
  principal_type: z.literal('service_user').default('service_user'),
  service_user_id: z.string().min(1),
  service_user_name: z.string().min(1),
  /** null = enterprise service user; set = organization service user of that org. */
  org_id: z.string().min(1).nullable().default(null),
  permissions: z.array(z.string().min(1)),
});

const SeedOrganization = z.strictObject({
  org_id: z.string().min(1),
  name: z.string().min(1),
  created_at: z.number().int().default(1700000000),
  updated_at: z.number().int().default(1700000000),
  max_session_acu_limit: z.number().int().nullable().default(null),
  max_cycle_acu_limit: z.number().int().nullable().default(null),
});

const SeedRole = z.strictObject({
  /** The built-ins' literal ids (account_admin, …) or generated ones (`role-<32 hex>`). */
  role_id: z.string().min(1),
  role_name: z.string().min(1),
  role_type: z.enum(['enterprise', 'org']),
  /** Optional: served by GET /enterprise/roles like RoleDetailResponse.permissions. */
  permissions: z.array(z.string().min(1)).optional(),
});

const SeedUser = z.strictObject({
  user_id: z.string().min(1),
  email: z.string().trim().min(1).includes('@'),
  name: z.string().nullable().default(null),
  /** The direct enterprise role; null = no direct enterprise assignment. */
  enterprise_role_id: z.string().min(1).nullable().default(null),
  /** Direct organization roles: org_id -> role_id. */
  org_roles: z.record(z.string(), z.string().min(1)).default({}),
  /** Unix seconds; the docs do not state the unit, seconds like created_at. */
  enterprise_joined_at: z.number().int().nullable().default(null),
});

const SeedGroupMapping = z.strictObject({
  idp_group_name: z.string().min(1),
  /** null = the group's enterprise mapping; set = its mapping in that org. */
  org_id: z.string().min(1).nullable().default(null),
  role_id: z.string().min(1),
});

const SeedIdpMembership = z.strictObject({
  email: z.string().trim().min(1).includes('@'),
  name: z.string().nullable().default(null),
  /** Optional: defaults to the user with that email in `users`, else a stable id derived from the email. */
  user_id: z.string().min(1).optional(),
  groups: z.array(z.string().min(1)),
});

const SeedShape = z.strictObject({
  tokens: z.array(SeedToken).default([]),
  organizations: z.array(SeedOrganization).default([]),
  roles: z.array(SeedRole).default([]),
  users: z.array(SeedUser).default([]),
  idp_groups: z.array(z.string().min(1)).default([]),
  group_mappings: z.array(SeedGroupMapping).default([]),
  idp_memberships: z.array(SeedIdpMembership).default([]),
});

type SeedShapeOut = z.output<typeof SeedShape>;

function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

function checkCrossReferences(seed: SeedShapeOut, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) =>
    ctx.addIssue({ code: 'custom', path, message });

  const orgs = new Set<string>();
  seed.organizations.forEach((o, i) => {
    if (orgs.has(o.org_id)) issue(['organizations', i, 'org_id'], `duplicate org_id "${o.org_id}"`);
    orgs.add(o.org_id);
  });
  const roles = new Map<string, 'enterprise' | 'org'>();
  seed.roles.forEach((r, i) => {
    if (roles.has(r.role_id)) issue(['roles', i, 'role_id'], `duplicate role_id "${r.role_id}"`);
    roles.set(r.role_id, r.role_type);
  });
  const roleOfType = (path: Array<string | number>, roleId: string, type: 'enterprise' | 'org') => {
    const t = roles.get(roleId);
    if (t === undefined) issue(path, `unknown role "${roleId}"`);
    else if (t !== type) issue(path, `role "${roleId}" is an ${t} role; an ${type} role is required here`);
  };
  const tokens = new Set<string>();
  seed.tokens.forEach((t, i) => {
    if (tokens.has(t.token)) issue(['tokens', i, 'token'], 'duplicate token');
    tokens.add(t.token);
    if (t.org_id !== null && !orgs.has(t.org_id))
      issue(['tokens', i, 'org_id'], `unknown organization "${t.org_id}"`);
  });

  const userIds = new Map<string, string>(); // user_id -> email key
  const emails = new Map<string, string>(); // email key -> user_id
  seed.users.forEach((u, i) => {
    if (userIds.has(u.user_id)) issue(['users', i, 'user_id'], `duplicate user_id "${u.user_id}"`);
    const key = emailKey(u.email);
    if (emails.has(key)) issue(['users', i, 'email'], `duplicate email "${u.email}"`);
    userIds.set(u.user_id, key);
    emails.set(key, u.user_id);
    if (u.enterprise_role_id !== null)
      roleOfType(['users', i, 'enterprise_role_id'], u.enterprise_role_id, 'enterprise');
    for (const [orgId, roleId] of Object.entries(u.org_roles)) {
      if (!orgs.has(orgId)) issue(['users', i, 'org_roles', orgId], `unknown organization "${orgId}"`);
      roleOfType(['users', i, 'org_roles', orgId], roleId, 'org');
    }
  });

  const groups = new Set<string>();
  seed.idp_groups.forEach((g, i) => {
    if (groups.has(g)) issue(['idp_groups', i], `duplicate idp group "${g}"`);
    groups.add(g);
  });
  const mapped = new Set<string>();
  seed.group_mappings.forEach((m, i) => {
    if (!groups.has(m.idp_group_name))
      issue(['group_mappings', i, 'idp_group_name'], `idp group "${m.idp_group_name}" is not in idp_groups`);
    if (m.org_id !== null && !orgs.has(m.org_id))
      issue(['group_mappings', i, 'org_id'], `unknown organization "${m.org_id}"`);
    roleOfType(['group_mappings', i, 'role_id'], m.role_id, m.org_id === null ? 'enterprise' : 'org');
    const key = `${m.idp_group_name}\u0000${m.org_id ?? ''}`;
    if (mapped.has(key))
      issue(
        ['group_mappings', i],
        `idp group "${m.idp_group_name}" is mapped twice in ${m.org_id ?? 'the enterprise'}`,
      );
    mapped.add(key);
  });

  const memberEmails = new Set<string>();
  const memberIds = new Set<string>();
  seed.idp_memberships.forEach((m, i) => {
    const key = emailKey(m.email);
    if (memberEmails.has(key)) issue(['idp_memberships', i, 'email'], `duplicate email "${m.email}"`);
    memberEmails.add(key);
    const byEmail = emails.get(key);
    if (m.user_id !== undefined) {
      if (memberIds.has(m.user_id))
        issue(['idp_memberships', i, 'user_id'], `duplicate user_id "${m.user_id}"`);
      memberIds.add(m.user_id);
      const email = userIds.get(m.user_id);
      if (email !== undefined && email !== key)
        issue(['idp_memberships', i, 'user_id'], `user "${m.user_id}" has a different email in users`);
      if (byEmail !== undefined && byEmail !== m.user_id)
        issue(['idp_memberships', i, 'user_id'], `users has "${m.email}" as "${byEmail}"`);
    }
    // Group names here need not be registered: the IdP sends whatever groups a person is in, and only
    // registered groups with mappings yield roles.
  });
}

/** zod schema of the simulator seed JSON, including cross-reference checks. */
export const SimulatorSeed = SeedShape.superRefine(checkCrossReferences);
export type SimulatorSeed = z.output<typeof SimulatorSeed>;
/** What a caller may write (defaults filled in by parsing). */
export type SimulatorSeedInput = z.input<typeof SimulatorSeed>;

export class SeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedError';
  }
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out || '(root)';
}

export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
}

/** Parses and cross-checks a seed object; throws SeedError naming `source` and the zod path. */
export function parseSeed(input: unknown, source = 'seed'): SimulatorSeed {
  const r = SimulatorSeed.safeParse(input);
  if (!r.success) throw new SeedError(`invalid simulator seed ${source}: ${formatZodError(r.error)}`);
  return r.data;
}

export async function loadSeedFile(path: string): Promise<SimulatorSeed> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SeedError(`cannot read simulator seed ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SeedError(`simulator seed ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSeed(json, path);
}

/** A stable user id for an email the seed gave no id for (IdP-only people, new invitees). */
export function userIdForEmail(email: string, taken: (id: string) => boolean): string {
  for (let n = 0; ; n++) {
    const h = createHash('sha256')
      .update(`idsync-sim:${emailKey(email)}:${n}`)
      .digest('hex');
    const id = `user-${h.slice(0, 32)}`;
    if (!taken(id)) return id;
  }
}

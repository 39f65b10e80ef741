import { mulberry32 } from './prng.js';
import type { SimulatorSeed } from './seed.js';

export interface GenerateSeedOptions {
  /** Direct enterprise users (each has a direct enterprise role). */
  users: number;
  /** Registered IdP groups, each with an enterprise mapping; about half also get one org mapping. */
  groups: number;
  orgs: number;
  /** default 'cog_bench_token' (enterprise, all permissions) */
  token?: string;
  /** Direct org memberships per user, default 1 (capped at `orgs`). */
  orgMembershipsPerUser?: number;
  /** PRNG seed, default 42. Same options + seed => identical output. */
  seed?: number;
}

export const BUILTIN_ROLES: SimulatorSeed['roles'] = [
  { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' },
  { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
  { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' },
  { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
  { role_id: 'org_deepwiki', role_name: 'DeepWiki', role_type: 'org' },
];

export const ALL_PERMISSIONS = [
  'ReadAccountMeta',
  'ViewAccountMembership',
  'ManageAccountMembership',
  'ManageOrganizations',
  'ViewOrgMembership',
] as const;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * A deterministic large seed for tests and benchmarks. Users are `user-<32 hex>` (random, so the
 * id sort order differs from the email order) with emails user000001@corp.example; every 50th user
 * (and at least the first two) is an account_admin. Every other user is in one IdP group, so about
 * half the users also have IdP-derived assignments.
 */
export function generateSeed(o: GenerateSeedOptions): SimulatorSeed {
  const rand = mulberry32(o.seed ?? 42);
  const hex = (len: number) => {
    let s = '';
    while (s.length < len)
      s += Math.floor(rand() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    return s.slice(0, len);
  };
  const width = Math.max(6, String(o.users).length);
  const per = Math.min(o.orgMembershipsPerUser ?? 1, o.orgs);

  const organizations: SimulatorSeed['organizations'] = [];
  for (let i = 1; i <= o.orgs; i++)
    organizations.push({
      org_id: `org-${hex(12)}`,
      name: `Org ${pad(i, 4)}`,
      created_at: 1700000000 + i,
      updated_at: 1700000000 + i,
      max_session_acu_limit: null,
      max_cycle_acu_limit: null,
    });
  const roles = [
    ...BUILTIN_ROLES,
    { role_id: `role-${hex(32)}`, role_name: 'Contractor', role_type: 'org' as const },
  ];

  const users: SimulatorSeed['users'] = [];
  const ids = new Set<string>();
  for (let i = 1; i <= o.users; i++) {
    let id = `user-${hex(32)}`;
    while (ids.has(id)) id = `user-${hex(32)}`;
    ids.add(id);
    const orgRoles: Record<string, string> = {};
    if (per > 0) {
      const start = Math.floor(rand() * o.orgs);
      for (let k = 0; k < per; k++) {
        const org = organizations[(start + k) % o.orgs] as SimulatorSeed['organizations'][number];
        orgRoles[org.org_id] = i % 10 === 0 ? 'org_admin' : 'org_member';
      }
    }
    users.push({
      user_id: id,
      email: `user${pad(i, width)}@corp.example`,
      name: `User ${pad(i, width)}`,
      enterprise_role_id: i <= 2 || i % 50 === 0 ? 'account_admin' : 'account_member',
      org_roles: orgRoles,
      enterprise_joined_at: 1700000000 + i,
    });
  }

  const groupNames: string[] = [];
  const mappings: SimulatorSeed['group_mappings'] = [];
  for (let g = 1; g <= o.groups; g++) {
    const name = `devin-group-${pad(g, 4)}`;
    groupNames.push(name);
    mappings.push({ idp_group_name: name, org_id: null, role_id: 'account_member' });
    const org = organizations[(g - 1) % Math.max(1, o.orgs)];
    if (g % 2 === 1 && org)
      mappings.push({ idp_group_name: name, org_id: org.org_id, role_id: 'org_member' });
  }

  const memberships: SimulatorSeed['idp_memberships'] = [];
  if (groupNames.length > 0)
    users.forEach((u, i) => {
      if (i % 2 === 0)
        memberships.push({
          email: u.email,
          name: u.name,
          user_id: u.user_id,
          groups: [groupNames[(i / 2) % groupNames.length] as string],
        });
    });

  return {
    tokens: [
      {
        token: o.token ?? 'cog_bench_token',
        principal_type: 'service_user',
        service_user_id: 'service-user-bench',
        service_user_name: 'idsync-bench',
        org_id: null,
        permissions: [...ALL_PERMISSIONS],
      },
    ],
    organizations,
    roles,
    users,
    idp_groups: groupNames,
    group_mappings: mappings,
    idp_memberships: memberships,
  };
}

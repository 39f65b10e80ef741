// Generates the demo company "Example Corp": config/demo/directory.json (the `file` directory source)
// and config/demo/devin-seed.json (the Devin simulator's starting state). Deterministic: the same
// script writes byte-identical files, so the committed output can be checked by re-running it.
//
//   npx tsx scripts/generate-demo.ts
//
// The people the e2e test names are written out by hand below; everyone else is drawn from fixed
// name lists with a seeded PRNG. The edge cases a real directory has are placed on purpose (see
// config/demo/README.md): disabled users, a user without email, a shared email, a contractor
// outside the email domain, a group cycle and a member id that resolves to nothing.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/simulator/prng.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'demo');
const DOMAIN = 'corp.example';

/** An entryUUID-like id that depends only on `key`, so a rename in this script keeps ids stable. */
function uuid(key: string): string {
  const h = createHash('sha256').update(`example-corp:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface Person {
  handle: string;
  name: string;
  email: string | null;
  enabled: boolean;
  department: string;
  title: string;
  employeeType?: 'contractor';
}

// ---- the people the tests and the README name -----------------------------------------------------

const named: Record<string, Person[]> = {
  it: [
    p('maria.garcia', 'Maria Garcia', 'it', 'IT Manager'),
    p('david.kim', 'David Kim', 'it', 'Identity Engineer'),
    p('priya.shah', 'Priya Shah', 'it', 'Systems Administrator'),
  ],
  sre: [
    p('alice.nguyen', 'Alice Nguyen', 'platform', 'Site Reliability Engineer'),
    p('sofia.rossi', 'Sofia Rossi', 'platform', 'Senior SRE'),
    p('noah.schmidt', 'Noah Schmidt', 'platform', 'SRE, data platform'),
    { ...p('marcus.webb', 'Marcus Webb', 'platform', 'SRE'), enabled: false },
    {
      handle: 'raj.patel',
      name: 'Raj Patel',
      email: 'raj.patel@contractor.example',
      enabled: true,
      department: 'platform',
      title: 'SRE (contractor)',
      employeeType: 'contractor',
    },
  ],
  platform: [p('ken.tanaka', 'Ken Tanaka', 'platform', 'Platform Engineering Lead')],
  data: [
    p('james.wilson', 'James Wilson', 'data', 'Data Engineer'),
    p('lena.fischer', 'Lena Fischer', 'data', 'Head of Data'),
    { ...p('hannah.berg', 'Hannah Berg', 'data', 'Data Engineer'), enabled: false },
    { ...p('data-pipeline-bot', 'Data pipeline (service account)', 'data', 'Service account'), email: null },
    // One person, two enabled directory entries (a rehire whose old entry was never closed).
    p('sam.lee', 'Sam Lee', 'data', 'Data Engineer'),
    { ...p('sam.lee', 'Samuel Lee', 'data', 'Data Engineer'), handle: 'sam.lee.2' },
  ],
  analytics: [p('omar.haddad', 'Omar Haddad', 'data', 'Analytics Engineer')],
  backend: [{ ...p('elena.petrova', 'Elena Petrova', 'engineering', 'Backend Engineer'), enabled: false }],
  finance: [p('olivia.chen', 'Olivia Chen', 'finance', 'Financial Analyst')],
};

function p(handle: string, name: string, department: string, title: string): Person {
  return { handle, name, email: `${handle}@${DOMAIN}`, enabled: true, department, title };
}

// ---- everyone else -------------------------------------------------------------------------------

const FIRST = [
  'Aaron',
  'Abigail',
  'Adrian',
  'Aisha',
  'Akira',
  'Amara',
  'Andre',
  'Anika',
  'Ben',
  'Bianca',
  'Carlos',
  'Chloe',
  'Daniel',
  'Dara',
  'Diego',
  'Emma',
  'Ethan',
  'Fatima',
  'Felix',
  'Gabriel',
  'Grace',
  'Hana',
  'Hugo',
  'Ines',
  'Isaac',
  'Ivy',
  'Jonas',
  'Julia',
  'Kai',
  'Kenji',
  'Laura',
  'Leo',
  'Lucia',
  'Malik',
  'Maya',
  'Mei',
  'Mila',
  'Nadia',
  'Nico',
  'Nina',
  'Oscar',
  'Paula',
  'Pedro',
  'Quinn',
  'Rafael',
  'Rosa',
  'Ruben',
  'Sara',
  'Selin',
  'Simon',
  'Tara',
  'Theo',
  'Uma',
  'Vera',
  'Wei',
  'Xavier',
  'Yara',
  'Yusuf',
  'Zara',
  'Zoe',
];
const LAST = [
  'Adams',
  'Alvarez',
  'Bakker',
  'Banerjee',
  'Becker',
  'Bianchi',
  'Brooks',
  'Campbell',
  'Castro',
  'Costa',
  'Dubois',
  'Eriksen',
  'Ferreira',
  'Fontaine',
  'Gomez',
  'Hansen',
  'Hoffmann',
  'Ibrahim',
  'Ito',
  'Jansen',
  'Johansson',
  'Kaur',
  'Keller',
  'Kowalski',
  'Larsen',
  'Lopez',
  'Martin',
  'Meyer',
  'Moreau',
  'Murphy',
  'Nakamura',
  'Novak',
  'Okafor',
  'Olsen',
  'Park',
  'Perez',
  'Quinn',
  'Reyes',
  'Richter',
  'Romano',
  'Santos',
  'Silva',
  'Singh',
  'Sorensen',
  'Suzuki',
  'Takahashi',
  'Torres',
  'Vargas',
  'Visser',
  'Wagner',
  'Walsh',
  'Weber',
  'Yamamoto',
  'Young',
  'Zhang',
  'Zimmermann',
];

/** Team → [department, headcount including the named people, job titles]. */
const TEAMS: Array<[team: string, department: string, size: number, titles: string[]]> = [
  ['it', 'it', 6, ['IT Support Engineer', 'Systems Administrator']],
  [
    'execs',
    'executive',
    5,
    [
      'Chief Executive Officer',
      'Chief Technology Officer',
      'Chief Financial Officer',
      'VP Engineering',
      'VP Sales',
    ],
  ],
  ['sre', 'platform', 8, ['Site Reliability Engineer']],
  ['platform', 'platform', 14, ['Platform Engineer', 'Senior Platform Engineer']],
  ['data', 'data', 16, ['Data Engineer', 'Senior Data Engineer']],
  ['analytics', 'data', 8, ['Analytics Engineer', 'Data Analyst']],
  ['frontend', 'engineering', 18, ['Frontend Engineer', 'Senior Frontend Engineer']],
  ['design-systems', 'engineering', 6, ['Design Systems Engineer', 'Product Designer']],
  ['backend', 'engineering', 26, ['Backend Engineer', 'Senior Backend Engineer', 'Staff Engineer']],
  ['research', 'research', 26, ['Research Scientist', 'Research Engineer']],
  ['security', 'security', 10, ['Security Engineer', 'Security Analyst']],
  ['sales', 'sales', 32, ['Account Executive', 'Sales Engineer', 'Sales Manager']],
  ['people-ops', 'people', 12, ['People Partner', 'Recruiter']],
  ['finance', 'finance', 12, ['Accountant', 'Financial Analyst']],
];

const rand = mulberry32(20260401);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;

const taken = new Set<string>(Object.values(named).flatMap((ps) => ps.map((x) => x.handle)));
const members = new Map<string, Person[]>();
for (const [team, department, size, titles] of TEAMS) {
  const people = [...(named[team] ?? [])];
  while (people.length < size) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const handle = `${first}.${last}`.toLowerCase();
    if (taken.has(handle)) continue;
    taken.add(handle);
    people.push(p(handle, `${first} ${last}`, department, pick(titles)));
  }
  members.set(team, people);
}

const byTeam = (team: string): Person[] => members.get(team) ?? [];
const handles = (team: string): string[] => byTeam(team).map((x) => x.handle);
const one = (team: string, handle: string): Person => {
  const found = byTeam(team).find((x) => x.handle === handle);
  if (!found) throw new Error(`no ${handle} in ${team}`);
  return found;
};

// ---- groups ---------------------------------------------------------------------------------------

interface GroupSpec {
  name: string;
  users: string[];
  groups: string[];
  /** Raw member ids that resolve to nothing (a deleted account still listed). */
  dangling?: string[];
}

const groups: GroupSpec[] = [
  {
    name: 'everyone',
    users: [],
    groups: ['engineering', 'research', 'security', 'sales', 'people-ops', 'finance', 'it', 'execs'],
  },
  { name: 'engineering', users: [], groups: ['platform', 'data', 'frontend', 'backend'] },
  { name: 'platform', users: handles('platform'), groups: ['sre'] },
  { name: 'sre', users: handles('sre'), groups: [] },
  // Noah is on call for the data platform, so he sits in analytics too; Priya (IT) helps the data team.
  { name: 'data', users: [...handles('data'), 'priya.shah'], groups: ['analytics'] },
  { name: 'analytics', users: [...handles('analytics'), 'noah.schmidt'], groups: [] },
  // The cycle: someone nested these two groups in each other.
  { name: 'frontend', users: handles('frontend'), groups: ['design-systems'] },
  { name: 'design-systems', users: handles('design-systems'), groups: ['frontend'] },
  { name: 'backend', users: handles('backend'), groups: [] },
  { name: 'research', users: handles('research'), groups: [] },
  {
    name: 'security',
    users: handles('security'),
    groups: [],
    dangling: [uuid('user:deleted:former.employee')],
  },
  { name: 'sales', users: handles('sales'), groups: [] },
  { name: 'people-ops', users: handles('people-ops'), groups: [] },
  { name: 'finance', users: handles('finance'), groups: [] },
  { name: 'it', users: handles('it'), groups: [] },
  { name: 'execs', users: handles('execs'), groups: [] },
  // The groups Devin cares about.
  { name: 'devin-admins', users: ['maria.garcia', 'david.kim', 'priya.shah'], groups: [] },
  { name: 'devin-platform-admins', users: ['ken.tanaka'], groups: ['sre'] },
  { name: 'devin-eng-platform', users: [], groups: ['platform'] },
  { name: 'devin-eng-frontend', users: [], groups: ['frontend'] },
  { name: 'devin-eng-backend', users: [], groups: ['backend'] },
  { name: 'devin-data', users: [], groups: ['data'] },
  { name: 'devin-research', users: [], groups: ['research'] },
];

const everyone = [...new Map([...members.values()].flat().map((x) => [x.handle, x])).values()];
const userId = (handle: string) => uuid(`user:${handle}`);
const groupId = (name: string) => uuid(`group:${name}`);
const known = new Set(everyone.map((x) => x.handle));
for (const g of groups) {
  for (const h of g.users) if (!known.has(h)) throw new Error(`group ${g.name}: unknown user ${h}`);
}

const directory = {
  users: everyone.map((x) => ({
    id: userId(x.handle),
    email: x.email,
    name: x.name,
    enabled: x.enabled,
    attrs: {
      department: x.department,
      title: x.title,
      ...(x.employeeType ? { employeeType: x.employeeType } : {}),
    },
  })),
  groups: groups.map((g) => ({
    id: groupId(g.name),
    name: g.name,
    dn: `cn=${g.name},ou=groups,dc=corp,dc=example`,
    members: [...g.users.map(userId), ...g.groups.map(groupId), ...(g.dangling ?? [])],
  })),
};

// ---- Devin before idsync ---------------------------------------------------------------------------

const ANALYST_ROLE = 'role-8d2f4c6a1e3b5d7f9a0c2e4b6d8f1a3c';
const JOINED = 1735689600; // 2025-01-01

const seedUser = (
  email: string,
  name: string,
  enterpriseRole: string,
  orgRoles: Record<string, string> = {},
  joinedDays = 0,
) => ({
  user_id: `user-${createHash('sha256').update(`example-corp:devin:${email}`).digest('hex').slice(0, 32)}`,
  email,
  name,
  enterprise_role_id: enterpriseRole,
  org_roles: orgRoles,
  enterprise_joined_at: JOINED + joinedDays * 86400,
});

const email = (handle: string) => `${handle}@${DOMAIN}`;
const idp = (handle: string, team: string, idpGroups: string[]) => ({
  email: email(handle),
  name: one(team, handle).name,
  groups: idpGroups,
});

const seed = {
  tokens: [
    {
      token: 'cog_demo_idsync_token',
      principal_type: 'service_user',
      service_user_id: 'service-user-idsync',
      service_user_name: 'idsync',
      org_id: null,
      permissions: [
        'ReadAccountMeta',
        'ViewAccountMembership',
        'ManageAccountMembership',
        'ManageOrganizations',
      ],
    },
  ],
  organizations: [
    {
      org_id: 'org-platform',
      name: 'Platform',
      created_at: 1733011200,
      updated_at: 1733011200,
      max_session_acu_limit: null,
      max_cycle_acu_limit: null,
    },
    {
      org_id: 'org-data',
      name: 'Data',
      created_at: 1733097600,
      updated_at: 1740000000,
      max_session_acu_limit: 50,
      max_cycle_acu_limit: 2000,
    },
    {
      org_id: 'org-research',
      name: 'Research',
      created_at: 1733184000,
      updated_at: 1733184000,
      max_session_acu_limit: null,
      max_cycle_acu_limit: 5000,
    },
  ],
  roles: [
    { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' },
    { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
    { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' },
    { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
    { role_id: 'org_deepwiki', role_name: 'DeepWiki', role_type: 'org' },
    { role_id: ANALYST_ROLE, role_name: 'Analyst', role_type: 'org' },
  ],
  users: [
    // The break-glass admin: not in the directory, protected by scope.protectedUsers.
    seedUser('breakglass@corp.example', 'Break-glass admin', 'account_admin'),
    // Invited by hand before idsync; the mappings want them, so adopt: matching takes them over.
    seedUser(email('maria.garcia'), 'Maria Garcia', 'account_admin', {}, 3),
    seedUser(email('sofia.rossi'), 'Sofia Rossi', 'account_member', { 'org-platform': 'org_member' }, 10),
    seedUser(
      email('james.wilson'),
      'James Wilson',
      'account_member',
      { 'org-data': 'org_member', 'org-research': 'org_member' },
      12,
    ),
    // Made an admin by hand during an incident and never changed back.
    seedUser(email('lena.fischer'), 'Lena Fischer', 'account_admin', { 'org-data': 'org_member' }, 20),
    seedUser(email('ken.tanaka'), 'Ken Tanaka', 'account_member', {}, 31),
    // Left the company: no longer in the directory, but invited by hand, so idsync does not own it.
    seedUser('tom.baker@corp.example', 'Tom Baker', 'account_member', { 'org-data': 'org_member' }, 40),
    // Finance, in no mapped group: invited by hand for a one-off project.
    seedUser(email('olivia.chen'), 'Olivia Chen', 'account_member', {}, 55),
    // A vendor's support engineer: outside scope.emailDomains, never touched.
    seedUser(
      'vendor.support@partner.example',
      'Partner support',
      'account_member',
      { 'org-research': 'org_deepwiki' },
      60,
    ),
  ],
  idp_groups: ['devin-legacy', 'devin-research'],
  group_mappings: [
    // Registered in the UI long ago; idsync must leave it alone (its name matches devin-*, but no
    // mapping wants it and adopt is "matching", not "all").
    { idp_group_name: 'devin-legacy', org_id: null, role_id: 'account_member' },
    { idp_group_name: 'devin-legacy', org_id: 'org-research', role_id: 'org_member' },
    // Registered by hand with an enterprise role only; the mappings want it, so idsync adopts it.
    { idp_group_name: 'devin-research', org_id: null, role_id: 'account_member' },
  ],
  // People who have signed in with SSO: the IdP sends their groups; Devin ignores unregistered ones.
  idp_memberships: [
    idp('alice.nguyen', 'sre', [
      'everyone',
      'engineering',
      'platform',
      'sre',
      'devin-eng-platform',
      'devin-platform-admins',
    ]),
    ...byTeam('backend')
      .filter((x) => x.enabled)
      .slice(0, 4)
      .map((x) => ({
        email: x.email as string,
        name: x.name,
        groups: ['everyone', 'engineering', 'backend', 'devin-eng-backend'],
      })),
    ...byTeam('research')
      .slice(0, 5)
      .map((x) => ({
        email: x.email as string,
        name: x.name,
        groups: ['everyone', 'research', 'devin-research', 'devin-legacy'],
      })),
  ],
};

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'directory.json'), `${JSON.stringify(directory, null, 2)}\n`);
writeFileSync(join(OUT, 'devin-seed.json'), `${JSON.stringify(seed, null, 2)}\n`);
const enabled = directory.users.filter((u) => u.enabled).length;
process.stdout.write(
  `wrote ${OUT}/directory.json (${directory.users.length} users, ${enabled} enabled, ${directory.groups.length} groups) and devin-seed.json (${seed.users.length} direct users)\n`,
);

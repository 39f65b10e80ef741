// Devin API simulator: seed loading and validation, generated seeds, dump/re-seed round trips.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSeed,
  loadSeedFile,
  SeedError,
  SimulatorSeed,
  type SimulatorSeedInput,
  startSimulator,
} from '../../src/simulator/index.js';
import { api, DEMO_SEED_PATH, loadDemoSeed, type Page, type UserOut, walk } from '../support/simulator.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-sim-seed-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function seedFile(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('the demo seed (config/simulator-seed.json)', () => {
  it('is small and believable', async () => {
    const seed = await loadDemoSeed();
    expect(seed.organizations.map((o) => o.name)).toEqual(['Platform', 'Data', 'Research']);
    expect(seed.roles.map((r) => r.role_id).slice(0, 5)).toEqual([
      'account_admin',
      'account_member',
      'org_admin',
      'org_member',
      'org_deepwiki',
    ]);
    expect(seed.roles.filter((r) => r.role_type === 'org' && r.role_id.startsWith('role-'))).toHaveLength(1);
    expect(seed.users).toHaveLength(12);
    expect(seed.users.filter((u) => u.enterprise_role_id === 'account_admin')).toHaveLength(2);
    expect(seed.group_mappings.some((m) => m.org_id === null)).toBe(true);
    expect(seed.group_mappings.some((m) => m.org_id !== null)).toBe(true);
    const direct = new Set(seed.users.map((u) => u.email));
    expect(seed.idp_memberships.filter((m) => !direct.has(m.email)).length).toBeGreaterThanOrEqual(3);
    expect(seed.tokens).toHaveLength(1);
    expect(seed.tokens[0]).toMatchObject({ token: 'cog_demo_idsync_token', org_id: null });
    expect(seed.tokens[0]?.permissions).toEqual(
      expect.arrayContaining([
        'ReadAccountMeta',
        'ViewAccountMembership',
        'ManageAccountMembership',
        'ManageOrganizations',
      ]),
    );
  });
});

describe('loadSeedFile errors name the file and the problem', () => {
  const base = (): SimulatorSeedInput => ({
    organizations: [{ org_id: 'org-a', name: 'A' }],
    roles: [
      { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' },
      { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
    ],
    users: [{ user_id: 'user-1', email: 'a@corp.example', enterprise_role_id: 'account_admin' }],
    idp_groups: ['g'],
  });

  const cases: Array<[string, (s: SimulatorSeedInput) => unknown, RegExp]> = [
    [
      'unknown role',
      (s) => ({ ...s, users: [{ user_id: 'u', email: 'x@y', enterprise_role_id: 'nope' }] }),
      /users\[0\]\.enterprise_role_id: unknown role "nope"/,
    ],
    [
      'wrong role type',
      (s) => ({ ...s, users: [{ user_id: 'u', email: 'x@y', enterprise_role_id: 'org_member' }] }),
      /users\[0\]\.enterprise_role_id: .*org role/,
    ],
    [
      'unknown org',
      (s) => ({ ...s, users: [{ user_id: 'u', email: 'x@y', org_roles: { 'org-z': 'org_member' } }] }),
      /users\[0\]\.org_roles\["org-z"\]: unknown organization/,
    ],
    [
      'unregistered group',
      (s) => ({ ...s, group_mappings: [{ idp_group_name: 'h', role_id: 'account_admin' }] }),
      /group_mappings\[0\]\.idp_group_name: .*not in idp_groups/,
    ],
    [
      'mapping org',
      (s) => ({ ...s, group_mappings: [{ idp_group_name: 'g', org_id: 'org-z', role_id: 'org_member' }] }),
      /group_mappings\[0\]\.org_id: unknown organization/,
    ],
    [
      'mapping type',
      (s) => ({ ...s, group_mappings: [{ idp_group_name: 'g', org_id: null, role_id: 'org_member' }] }),
      /group_mappings\[0\]\.role_id/,
    ],
    [
      'token org',
      (s) => ({
        ...s,
        tokens: [
          { token: 't', service_user_id: 's', service_user_name: 'n', org_id: 'org-z', permissions: [] },
        ],
      }),
      /tokens\[0\]\.org_id/,
    ],
    [
      'duplicate email',
      (s) => ({ ...s, users: [...(s.users ?? []), { user_id: 'user-2', email: 'A@corp.example' }] }),
      /users\[1\]\.email: duplicate/,
    ],
    ['bad email', (s) => ({ ...s, users: [{ user_id: 'u', email: 'no-at-sign' }] }), /users\[0\]\.email/],
    ['unknown field', (s) => ({ ...s, userz: [] }), /userz/],
  ];

  for (const [name, mutate, pattern] of cases) {
    it(name, async () => {
      const path = await seedFile(`${name.replace(/ /g, '-')}.json`, mutate(base()));
      const err = await loadSeedFile(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SeedError);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(pattern);
    });
  }

  it('missing file and invalid JSON', async () => {
    const missing = join(dir, 'nope.json');
    await expect(loadSeedFile(missing)).rejects.toThrow(new RegExp(`cannot read simulator seed ${missing}`));
    const bad = await seedFile('bad.json', '{ not json');
    await expect(loadSeedFile(bad)).rejects.toThrow(/is not valid JSON/);
  });

  it('the base seed itself is fine, with defaults filled in', async () => {
    const seed = await loadSeedFile(await seedFile('ok.json', base()));
    expect(seed.users[0]).toEqual({
      user_id: 'user-1',
      email: 'a@corp.example',
      name: null,
      enterprise_role_id: 'account_admin',
      org_roles: {},
      enterprise_joined_at: null,
    });
    expect(seed.organizations[0]).toMatchObject({ created_at: 1700000000, max_cycle_acu_limit: null });
    expect(seed.tokens).toEqual([]);
  });
});

describe('generateSeed', () => {
  it('is deterministic and valid', () => {
    const a = generateSeed({ users: 500, groups: 10, orgs: 4, seed: 1 });
    expect(generateSeed({ users: 500, groups: 10, orgs: 4, seed: 1 })).toEqual(a);
    expect(generateSeed({ users: 500, groups: 10, orgs: 4, seed: 2 })).not.toEqual(a);
    expect(SimulatorSeed.safeParse(a).success).toBe(true);
    expect(a.users).toHaveLength(500);
    expect(a.organizations).toHaveLength(4);
    expect(a.idp_groups).toHaveLength(10);
    expect(a.users[0]?.email).toBe('user000001@corp.example');
    expect(a.users[499]?.email).toBe('user000500@corp.example');
    for (const u of a.users) {
      expect(u.user_id).toMatch(/^user-[0-9a-f]{32}$/);
      expect(Object.keys(u.org_roles)).toHaveLength(1);
    }
    expect(a.users.filter((u) => u.enterprise_role_id === 'account_admin').length).toBeGreaterThanOrEqual(2);
    const ent = a.group_mappings.filter((m) => m.org_id === null);
    expect(ent).toHaveLength(10);
    expect(a.group_mappings.length - ent.length).toBe(5);
    expect(a.tokens).toEqual([
      expect.objectContaining({
        token: 'cog_bench_token',
        org_id: null,
        permissions: expect.arrayContaining(['ManageAccountMembership', 'ManageOrganizations']),
      }),
    ]);
  });

  it('honours orgMembershipsPerUser and token', () => {
    const s = generateSeed({ users: 50, groups: 2, orgs: 5, orgMembershipsPerUser: 3, token: 'cog_x' });
    for (const u of s.users) expect(Object.keys(u.org_roles)).toHaveLength(3);
    expect(s.tokens[0]?.token).toBe('cog_x');
    const none = generateSeed({ users: 5, groups: 0, orgs: 2, orgMembershipsPerUser: 0 });
    for (const u of none.users) expect(u.org_roles).toEqual({});
    expect(none.idp_memberships).toEqual([]);
  });

  it('builds 50,000 users fast', () => {
    const t0 = performance.now();
    const s = generateSeed({ users: 50_000, groups: 100, orgs: 10 });
    expect(s.users).toHaveLength(50_000);
    expect(new Set(s.users.map((u) => u.user_id)).size).toBe(50_000);
    expect(performance.now() - t0).toBeLessThan(3_000);
  });
});

describe('dump() and reset()', () => {
  it('dump re-seeds to the same state, including removed users keeping their ids', async () => {
    const sim = await startSimulator({ seed: await loadSeedFile(DEMO_SEED_PATH) });
    try {
      const c = api(sim.url);
      const invited = await c.post<UserOut[]>('/v3/enterprise/members/users', {
        emails: ['roundtrip@corp.example', 'linus.torvalds@corp.example'],
        enterprise_role_id: 'account_member',
      });
      expect(invited.status).toBe(200);
      const id = invited.body[0]?.user_id as string;
      await c.del(`/v3/enterprise/members/users/${id}`);
      await c.post('/v3/enterprise/idp-groups', { idp_group_names: ['devin-roundtrip'] });
      await c.post('/v3/enterprise/members/idp-groups/devin-roundtrip', { role_id: 'account_member' });
      await c.post('/v3/enterprise/organizations/org-data/members/idp-groups/devin-roundtrip', {
        role_id: 'org_member',
      });

      const dump = sim.dump();
      const again = await startSimulator({ seed: dump });
      try {
        expect(again.dump()).toEqual(dump);
        const a = await walk<UserOut>(api(again.url), '/v3/enterprise/members/users');
        const b = await walk<UserOut>(c, '/v3/enterprise/members/users');
        expect(a.items).toEqual(b.items);
        const reinvite = await api(again.url).post<UserOut[]>('/v3/enterprise/members/users', {
          emails: ['roundtrip@corp.example'],
          enterprise_role_id: 'account_member',
        });
        expect(reinvite.body[0]?.user_id).toBe(id);
      } finally {
        await again.close();
      }

      sim.reset(generateSeed({ users: 3, groups: 1, orgs: 1, token: 'cog_demo_idsync_token' }));
      expect((await c.get<Page<UserOut>>('/v3/enterprise/members/users')).body.total).toBe(3);
      sim.reset();
      expect((await c.get<Page<UserOut>>('/v3/enterprise/members/users')).body.total).toBe(12);
      expect(() => sim.reset({ users: [{ user_id: 'x', email: 'bad' }] })).toThrow(SeedError);
    } finally {
      await sim.close();
    }
  });

  it('startSimulator refuses an invalid seed with a SeedError', async () => {
    await expect(
      startSimulator({
        seed: { idp_groups: ['g'], group_mappings: [{ idp_group_name: 'g', role_id: 'r' }] },
      }),
    ).rejects.toThrow(/group_mappings\[0\]\.role_id: unknown role "r"/);
  });
});

// Devin API simulator: cursor pagination (`first` 1–200, opaque `after`), email filters, scale.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSeed, type SimulatorSeed } from '../../src/simulator/index.js';
import {
  type IdpUserOut,
  type Page,
  type Problem,
  startTestSimulator,
  type TestSimulator,
  type UserOut,
  walk,
} from '../support/simulator.js';

const TOKEN = 'cog_pagination_token';

describe('pagination over 1,000 generated users', () => {
  let seed: SimulatorSeed;
  let sim: TestSimulator;

  beforeAll(async () => {
    seed = generateSeed({ users: 1000, groups: 12, orgs: 4, token: TOKEN, seed: 3 });
    sim = await startTestSimulator({ seed });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('a cursor walk returns every user exactly once, then end_cursor null', async () => {
    const { items, pages } = await walk<UserOut>(sim.api(TOKEN), '/v3/enterprise/members/users', 37);
    expect(pages).toBe(Math.ceil(1000 / 37));
    const ids = items.map((u) => u.user_id);
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual(seed.users.map((u) => u.user_id).sort());
    // Stable sort key: the walk is in user_id order.
    expect(ids).toEqual([...ids].sort());
  });

  it('first defaults to 100, accepts 1 and 200, and reports total', async () => {
    const c = sim.api(TOKEN);
    const def = await c.get<Page<UserOut>>('/v3/enterprise/members/users');
    expect(def.body.items).toHaveLength(100);
    expect(def.body).toMatchObject({ has_next_page: true, total: 1000 });
    expect(typeof def.body.end_cursor).toBe('string');
    expect((await c.get<Page<UserOut>>('/v3/enterprise/members/users?first=1')).body.items).toHaveLength(1);
    expect((await c.get<Page<UserOut>>('/v3/enterprise/members/users?first=200')).body.items).toHaveLength(
      200,
    );
  });

  it('first outside 1–200 or not an integer is a 422 naming query.first', async () => {
    for (const bad of ['0', '201', 'abc', '1.5', '-1', '', '1e2']) {
      const res = await sim.api(TOKEN).get(`/v3/enterprise/members/users?first=${encodeURIComponent(bad)}`);
      expect(res.status, `first=${bad}`).toBe(422);
      const p = res.body as Problem;
      expect(p.errors?.[0]?.loc).toEqual(['query', 'first']);
    }
    expect((await sim.api(TOKEN).get('/v3/enterprise/members/users?first=5&first=6')).status).toBe(422);
    expect((await sim.api(TOKEN).get('/v3/enterprise/roles?first=0')).status).toBe(422);
    expect((await sim.api(TOKEN).get('/v3/enterprise/idp-groups?first=500')).status).toBe(422);
  });

  it('a garbage or foreign cursor is a 422 naming query.after', async () => {
    const c = sim.api(TOKEN);
    const idpPage = await c.get<Page<IdpUserOut>>('/v3/enterprise/members/idp-users?first=2');
    const idpCursor = idpPage.body.end_cursor as string;
    const orgs = seed.organizations.map((o) => o.org_id);
    const orgPage = await c.get<Page<UserOut>>(
      `/v3/enterprise/organizations/${orgs[0]}/members/users?first=2`,
    );
    const orgCursor = orgPage.body.end_cursor as string;
    const forged = Buffer.from(JSON.stringify({ hello: 'world' })).toString('base64url');
    const cases: Array<[string, string]> = [
      ['/v3/enterprise/members/users', 'not-a-cursor!'],
      ['/v3/enterprise/members/users', 'eyJsYXN0X2lkIjoiYWJjMTIzIn0='],
      ['/v3/enterprise/members/users', forged],
      ['/v3/enterprise/members/users', ''],
      ['/v3/enterprise/members/users', idpCursor],
      [`/v3/enterprise/organizations/${orgs[1]}/members/users`, orgCursor],
    ];
    for (const [path, after] of cases) {
      const res = await c.get(`${path}?after=${encodeURIComponent(after)}`);
      expect(res.status, `${path} after=${after}`).toBe(422);
      expect((res.body as Problem).errors?.[0]?.loc).toEqual(['query', 'after']);
    }
    // The same list under the other prefix accepts it.
    const beta = await c.get<Page<IdpUserOut>>(`/v3beta1/enterprise/members/idp-users?after=${idpCursor}`);
    expect(beta.status).toBe(200);
  });

  it('email filter: exact, case-insensitive, trimmed; never a substring match', async () => {
    const c = sim.api(TOKEN);
    const target = seed.users[4] as SimulatorSeed['users'][number];
    const q = encodeURIComponent(`  ${target.email.toUpperCase()} `);
    const hit = await c.get<Page<UserOut>>(`/v3/enterprise/members/users?email=${q}`);
    expect(hit.body.items.map((u) => u.user_id)).toEqual([target.user_id]);
    expect(hit.body).toMatchObject({ has_next_page: false, end_cursor: null, total: 1 });
    const partial = await c.get<Page<UserOut>>('/v3/enterprise/members/users?email=user00000');
    expect(partial.body.items).toEqual([]);
    expect((await c.get<Page<UserOut>>('/v3/enterprise/members/users?email=')).body.items).toEqual([]);
    // On the IdP list, only IdP-derived users match (generated: every other user is in a group).
    const inGroup = seed.idp_memberships[0]?.email as string;
    const notInGroup = seed.users[1]?.email as string;
    expect(
      (await c.get<Page<IdpUserOut>>(`/v3/enterprise/members/idp-users?email=${inGroup}`)).body.items,
    ).toHaveLength(1);
    expect(
      (await c.get<Page<IdpUserOut>>(`/v3/enterprise/members/idp-users?email=${notInGroup}`)).body.items,
    ).toEqual([]);
  });

  it('every list endpoint pages consistently with the state', async () => {
    const c = sim.api(TOKEN);
    const dump = sim.dump();
    const org = dump.organizations[0]?.org_id as string;
    expect((await walk(c, '/v3/enterprise/roles', 2)).items).toHaveLength(dump.roles.length);
    expect((await walk(c, '/v3/enterprise/organizations', 1)).items).toHaveLength(dump.organizations.length);
    expect((await walk(c, '/v3/enterprise/idp-groups', 5)).items).toHaveLength(dump.idp_groups.length);
    const entMapped = dump.group_mappings.filter((m) => m.org_id === null).length;
    expect((await walk(c, '/v3/enterprise/members/idp-groups', 5)).items).toHaveLength(entMapped);
    const orgMapped = dump.group_mappings.filter((m) => m.org_id === org).length;
    expect((await walk(c, `/v3/enterprise/organizations/${org}/members/idp-groups`, 1)).items).toHaveLength(
      orgMapped,
    );
    const orgUsers = dump.users.filter((u) => org in u.org_roles).length;
    expect((await walk(c, `/v3/enterprise/organizations/${org}/members/users`, 50)).items).toHaveLength(
      orgUsers,
    );
    const idp = await walk<IdpUserOut>(c, '/v3/enterprise/members/idp-users', 200);
    expect(idp.items).toHaveLength(dump.idp_memberships.length);
    const orgIdp = await walk<IdpUserOut>(c, `/v3/enterprise/organizations/${org}/members/idp-users`, 200);
    for (const u of orgIdp.items) expect(u.idp_role_assignments.every((a) => a.org_id === org)).toBe(true);
  });
});

describe('keyset pagination under concurrent writes', () => {
  it('never skips or repeats a user that existed for the whole walk', async () => {
    const seed = generateSeed({
      users: 600,
      groups: 0,
      orgs: 1,
      token: TOKEN,
      orgMembershipsPerUser: 0,
      seed: 9,
    });
    const sim = await startTestSimulator({ seed });
    try {
      const c = sim.api(TOKEN);
      const removed = new Set<string>();
      const seen: string[] = [];
      let after: string | null = null;
      let round = 0;
      for (;;) {
        const qs: string = `first=50${after ? `&after=${after}` : ''}`;
        const res = await c.get<Page<UserOut>>(`/v3/enterprise/members/users?${qs}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((u) => u.user_id));
        // Between pages: invite 20 new people and remove 5 members (some before, some after the cursor).
        round++;
        const emails = Array.from({ length: 20 }, (_, i) => `late${round}-${i}@corp.example`);
        expect(
          (await c.post('/v3/enterprise/members/users', { emails, enterprise_role_id: 'account_member' }))
            .status,
        ).toBe(200);
        for (const u of seed.users.slice(round * 7, round * 7 + 5)) {
          if (u.enterprise_role_id === 'account_admin') continue;
          if ((await c.del(`/v3/enterprise/members/users/${u.user_id}`)).status === 200)
            removed.add(u.user_id);
        }
        if (!res.body.has_next_page) break;
        after = res.body.end_cursor;
      }
      expect(new Set(seen).size).toBe(seen.length);
      const stable = seed.users.map((u) => u.user_id).filter((id) => !removed.has(id));
      const seenSet = new Set(seen);
      expect(stable.filter((id) => !seenSet.has(id))).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});

describe('scale', () => {
  it('walks 20,000 users at first=200 quickly, and an email lookup stays fast', async () => {
    const seed = generateSeed({ users: 20_000, groups: 40, orgs: 5, token: TOKEN, seed: 4 });
    const sim = await startTestSimulator({ seed });
    try {
      const started = performance.now();
      const { items, pages } = await walk<UserOut>(sim.api(TOKEN), '/v3/enterprise/members/users', 200);
      const elapsed = performance.now() - started;
      expect(items).toHaveLength(20_000);
      expect(pages).toBe(100);
      expect(elapsed).toBeLessThan(8_000);
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) {
        const u = seed.users[i * 397] as SimulatorSeed['users'][number];
        const res = await sim.api(TOKEN).get<Page<UserOut>>(`/v3/enterprise/members/users?email=${u.email}`);
        expect(res.body.items[0]?.user_id).toBe(u.user_id);
      }
      expect(performance.now() - t0).toBeLessThan(2_000);
    } finally {
      await sim.close();
    }
  });
});

// Devin API simulator: enterprise and organization users, direct vs IdP-derived membership.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SimulatorSeed } from '../../src/simulator/index.js';
import {
  type IdpUserOut,
  type Page,
  type Problem,
  startTestSimulator,
  type TestSimulator,
  type UserOut,
} from '../support/simulator.js';

let sim: TestSimulator;
let seed: SimulatorSeed;

/** user_id of a demo-seed person, direct or IdP-only. */
function idOf(email: string): string {
  const u = seed.users.find((x) => x.email === email);
  if (u) return u.user_id;
  const m = seed.idp_memberships.find((x) => x.email === email);
  if (m?.user_id) return m.user_id;
  throw new Error(`no ${email} in the demo seed`);
}

const ADA = 'ada.lovelace@corp.example'; // direct admin, org_admin in platform
const GRACE = 'grace.hopper@corp.example'; // direct admin + IdP admin (devin-admins)
const BARBARA = 'barbara.liskov@corp.example'; // direct member + IdP (devin-platform)
const KATHERINE = 'katherine.johnson@corp.example'; // direct member, no orgs
const LINUS = 'linus.torvalds@corp.example'; // IdP-only (devin-platform)
const HEDY = 'hedy.lamarr@corp.example'; // IdP-only (devin-data + unregistered devin-contractors)
const TIM = 'tim.berners-lee@corp.example'; // only unmapped/unregistered groups: not a user

const USERS = '/v3/enterprise/members/users';
const user = (email: string) => `${USERS}/${idOf(email)}`;
const orgUser = (org: string, email: string) =>
  `/v3/enterprise/organizations/${org}/members/users/${idOf(email)}`;

beforeAll(async () => {
  sim = await startTestSimulator();
  seed = sim.dump();
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.reset();
});

async function expectStatus(p: Promise<{ status: number; body: unknown }>, status: number, detail?: RegExp) {
  const res = await p;
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  if (detail) expect((res.body as Problem).detail).toMatch(detail);
  return res.body as Problem;
}

describe('listings: direct vs IdP-derived', () => {
  it('the users list holds only people with a direct assignment; idp-users only derived ones', async () => {
    const direct = await sim.api().get<Page<UserOut>>(`${USERS}?first=200`);
    const emails = direct.body.items.map((u) => u.email);
    expect(emails).toHaveLength(12);
    expect(emails).toContain(ADA);
    expect(emails).not.toContain(LINUS);
    const ada = direct.body.items.find((u) => u.email === ADA) as UserOut;
    expect(ada.role_assignments).toEqual([
      { role: { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' }, org_id: null },
      { role: { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' }, org_id: 'org-platform' },
    ]);
    expect(typeof ada.enterprise_joined_at).toBe('number');
    expect(ada).not.toHaveProperty('idp_role_assignments');

    const idp = await sim.api().get<Page<IdpUserOut>>('/v3/enterprise/members/idp-users');
    expect(idp.body.items.map((u) => u.email).sort()).toEqual(
      [BARBARA, GRACE, HEDY, 'john.backus@corp.example', LINUS].sort(),
    );
    const linus = idp.body.items.find((u) => u.email === LINUS) as IdpUserOut;
    expect(linus.idp_role_assignments).toEqual([
      {
        role: { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
        idp_group_name: 'devin-platform',
        org_id: null,
      },
      {
        role: { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
        idp_group_name: 'devin-platform',
        org_id: 'org-platform',
      },
    ]);
    // Unregistered groups yield nothing.
    const hedy = idp.body.items.find((u) => u.email === HEDY) as IdpUserOut;
    expect(new Set(hedy.idp_role_assignments.map((a) => a.idp_group_name))).toEqual(new Set(['devin-data']));
  });

  it('GET user returns both kinds; 404 for someone with no assignment at all', async () => {
    const grace = await sim.api().get<UserOut>(user(GRACE));
    expect(grace.status).toBe(200);
    expect(grace.body.role_assignments.map((a) => [a.role.role_id, a.org_id])).toEqual([
      ['account_admin', null],
      ['org_admin', 'org-data'],
      ['org_admin', 'org-platform'],
    ]);
    expect(grace.body.idp_role_assignments?.map((a) => [a.idp_group_name, a.role.role_id, a.org_id])).toEqual(
      [
        ['devin-admins', 'account_admin', null],
        ['devin-platform', 'account_member', null],
        ['devin-platform', 'org_member', 'org-platform'],
      ],
    );
    expect(typeof grace.body.enterprise_joined_at).toBe('number');
    const linus = await sim.api().get<UserOut>(user(LINUS));
    expect(linus.body.role_assignments).toEqual([]);
    expect(linus.body.idp_role_assignments).toHaveLength(2);
    expect(linus.body.enterprise_joined_at).toBeNull();
    await expectStatus(sim.api().get(user(TIM)), 404);
    await expectStatus(sim.api().get(`${USERS}/user-00000000000000000000000000000000`), 404);
  });

  it('organization lists are filtered to that organization', async () => {
    const direct = await sim
      .api()
      .get<Page<UserOut>>('/v3/enterprise/organizations/org-platform/members/users');
    const emails = direct.body.items.map((u) => u.email);
    expect(emails).toContain(ADA);
    expect(emails).toContain(GRACE);
    expect(emails).not.toContain(LINUS);
    for (const u of direct.body.items) {
      expect(u.role_assignments).toHaveLength(1);
      expect(u.role_assignments[0]?.org_id).toBe('org-platform');
    }
    const idp = await sim
      .api()
      .get<Page<IdpUserOut>>('/v3/enterprise/organizations/org-platform/members/idp-users');
    expect(idp.body.items.map((u) => u.email).sort()).toEqual(
      [BARBARA, GRACE, 'john.backus@corp.example', LINUS].sort(),
    );
    for (const u of idp.body.items)
      expect(u.idp_role_assignments.every((a) => a.org_id === 'org-platform')).toBe(true);
    const research = await sim
      .api()
      .get<Page<IdpUserOut>>('/v3/enterprise/organizations/org-research/members/idp-users');
    expect(research.body.items.map((u) => u.email)).toEqual(['john.backus@corp.example']);
    await expectStatus(sim.api().get('/v3/enterprise/organizations/org-nope/members/users'), 404);
    await expectStatus(sim.api().get('/v3/enterprise/organizations/org-nope/members/idp-users'), 404);
  });
});

describe('invite (POST /enterprise/members/users)', () => {
  it('creates direct enterprise assignments and returns User[] in request order', async () => {
    const res = await sim.api().post<UserOut[]>(USERS, {
      emails: ['zoe@corp.example', ' Adam@Corp.Example '],
      enterprise_role_id: 'account_member',
    });
    expect(res.status).toBe(200);
    expect(res.body.map((u) => u.email)).toEqual(['zoe@corp.example', 'Adam@Corp.Example']);
    for (const u of res.body) {
      expect(u.user_id).toMatch(/^user-[0-9a-f]{32}$/);
      expect(u.role_assignments).toEqual([
        { role: { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' }, org_id: null },
      ]);
    }
    const found = await sim.api().get<Page<UserOut>>(`${USERS}?email=adam@corp.example`);
    expect(found.body.items[0]?.user_id).toBe(res.body[1]?.user_id);
    expect(typeof found.body.items[0]?.enterprise_joined_at).toBe('number');
    const entry = sim.requests().at(-2);
    expect(entry).toMatchObject({
      method: 'POST',
      route: USERS,
      applied: true,
      effectful: true,
      status: 200,
    });
  });

  it('422 for an empty list, more than 100, duplicates, a value without @, or a bad body', async () => {
    const role = 'account_member';
    await expectStatus(sim.api().post(USERS, { emails: [], enterprise_role_id: role }), 422);
    const many = Array.from({ length: 101 }, (_, i) => `u${i}@corp.example`);
    const tooMany = await expectStatus(
      sim.api().post(USERS, { emails: many, enterprise_role_id: role }),
      422,
    );
    expect(tooMany.errors?.[0]?.loc).toEqual(['body', 'emails']);
    const dup = await expectStatus(
      sim.api().post(USERS, { emails: ['a@corp.example', 'A@corp.example '], enterprise_role_id: role }),
      422,
    );
    expect(dup.errors?.[0]?.loc).toEqual(['body', 'emails', 1]);
    const noAt = await expectStatus(
      sim.api().post(USERS, { emails: ['ok@corp.example', 'not-an-email'], enterprise_role_id: role }),
      422,
    );
    expect(noAt.errors?.[0]?.loc).toEqual(['body', 'emails', 1]);
    const missing = await expectStatus(sim.api().post(USERS, { emails: ['x@corp.example'] }), 422);
    expect(missing.errors?.[0]?.loc).toEqual(['body', 'enterprise_role_id']);
    await expectStatus(sim.api().post(USERS, { emails: 'x@corp.example', enterprise_role_id: role }), 422);
    expect(sim.dump().users).toHaveLength(12);
  });

  it('404 for an unknown role, 422 for an organization role', async () => {
    await expectStatus(
      sim.api().post(USERS, { emails: ['x@corp.example'], enterprise_role_id: 'role-nope' }),
      404,
    );
    const p = await expectStatus(
      sim.api().post(USERS, { emails: ['x@corp.example'], enterprise_role_id: 'org_member' }),
      422,
    );
    expect(p.errors?.[0]?.loc).toEqual(['body', 'enterprise_role_id']);
  });

  it('409 and nothing applied when any email already has a direct enterprise role', async () => {
    const p = await expectStatus(
      sim.api().post(USERS, {
        emails: ['fresh@corp.example', ADA.toUpperCase()],
        enterprise_role_id: 'account_member',
      }),
      409,
    );
    expect(p.detail).toContain(ADA.toUpperCase());
    expect((await sim.api().get<Page<UserOut>>(`${USERS}?email=fresh@corp.example`)).body.items).toEqual([]);
    expect(sim.requests().at(-2)).toMatchObject({ status: 409, outcome: 'rejected', applied: false });
  });

  it('an IdP-only person gets a direct assignment on the same user_id', async () => {
    const res = await sim
      .api()
      .post<UserOut[]>(USERS, { emails: [LINUS], enterprise_role_id: 'account_member' });
    expect(res.status).toBe(200);
    expect(res.body[0]?.user_id).toBe(idOf(LINUS));
    const got = await sim.api().get<UserOut>(user(LINUS));
    expect(got.body.role_assignments).toHaveLength(1);
    expect(got.body.idp_role_assignments).toHaveLength(2);
    expect((await sim.api().get<Page<UserOut>>(`${USERS}?email=${LINUS}`)).body.items).toHaveLength(1);
    expect(
      (await sim.api().get<Page<IdpUserOut>>(`/v3/enterprise/members/idp-users?email=${LINUS}`)).body.items,
    ).toHaveLength(1);
  });

  it('keeps user_ids stable per email across remove and re-invite', async () => {
    const [first] = (
      await sim
        .api()
        .post<UserOut[]>(USERS, { emails: ['again@corp.example'], enterprise_role_id: 'account_member' })
    ).body;
    const id = first?.user_id as string;
    expect((await sim.api().del(`${USERS}/${id}`)).status).toBe(200);
    await expectStatus(sim.api().get(`${USERS}/${id}`), 404);
    const [second] = (
      await sim
        .api()
        .post<UserOut[]>(USERS, { emails: ['Again@corp.example'], enterprise_role_id: 'account_admin' })
    ).body;
    expect(second?.user_id).toBe(id);
  });
});

describe('PATCH /enterprise/members/users/{user_id}', () => {
  it('changes the direct enterprise role', async () => {
    const res = await sim.api().patch<UserOut>(user(KATHERINE), { role_id: 'account_admin' });
    expect(res.status).toBe(200);
    expect(res.body.role_assignments[0]?.role.role_id).toBe('account_admin');
    expect(sim.requests().at(-1)).toMatchObject({ applied: true });
    await sim.api().patch(user(KATHERINE), { role_id: 'account_admin' });
    expect(sim.requests().at(-1)).toMatchObject({ status: 200, applied: false });
  });

  it('404 unknown user or role, 422 org role, 409 without a direct enterprise role', async () => {
    await expectStatus(sim.api().patch(`${USERS}/user-nope`, { role_id: 'account_member' }), 404);
    await expectStatus(sim.api().patch(user(TIM), { role_id: 'account_member' }), 404);
    await expectStatus(sim.api().patch(user(KATHERINE), { role_id: 'role-nope' }), 404);
    await expectStatus(sim.api().patch(user(KATHERINE), { role_id: 'org_admin' }), 422);
    await expectStatus(sim.api().patch(user(KATHERINE), {}), 422);
    await expectStatus(sim.api().patch(user(LINUS), { role_id: 'account_admin' }), 409, /IdP/);
  });

  it('with an IdP-derived admin present, every direct admin may be demoted', async () => {
    expect((await sim.api().patch(user(ADA), { role_id: 'account_member' })).status).toBe(200);
    expect((await sim.api().patch(user(GRACE), { role_id: 'account_member' })).status).toBe(200);
  });
});

describe('DELETE /enterprise/members/users/{user_id}', () => {
  it('404 unknown; 409 IdP-derived only; 409 while direct org roles remain', async () => {
    await expectStatus(sim.api().del(`${USERS}/user-nope`), 404);
    await expectStatus(sim.api().del(user(LINUS)), 409, /derived from IdP groups/);
    await expectStatus(sim.api().del(user(BARBARA)), 409, /remove organization memberships first/);
  });

  it('removes the direct assignment and returns the User; IdP-derived access remains', async () => {
    expect((await sim.api().del(orgUser('org-platform', BARBARA))).status).toBe(200);
    const res = await sim.api().del<UserOut>(user(BARBARA));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user_id: idOf(BARBARA), email: BARBARA, role_assignments: [] });
    expect((await sim.api().get<Page<UserOut>>(`${USERS}?email=${BARBARA}`)).body.items).toEqual([]);
    const still = await sim.api().get<UserOut>(user(BARBARA));
    expect(still.status).toBe(200);
    expect(still.body.role_assignments).toEqual([]);
    expect(still.body.idp_role_assignments?.length).toBeGreaterThan(0);

    const k = await sim.api().del<UserOut>(user(KATHERINE));
    expect(k.status).toBe(200);
    await expectStatus(sim.api().get(user(KATHERINE)), 404);
  });
});

describe('the last account_admin', () => {
  it('cannot be demoted or removed (counting direct and IdP-derived admins)', async () => {
    const only = await startTestSimulator({
      seed: {
        ...seed,
        // No IdP admin mapping: the two direct admins are the only ones.
        group_mappings: seed.group_mappings.filter((m) => m.role_id !== 'account_admin'),
      },
    });
    try {
      const c = only.api();
      expect((await c.patch(user(ADA), { role_id: 'account_member' })).status).toBe(200);
      const p = await c.patch<Problem>(user(GRACE), { role_id: 'account_member' });
      expect(p.status).toBe(409);
      expect(p.body.detail).toMatch(/last holder of account_admin/);
      await c.del(orgUser('org-platform', GRACE));
      await c.del(orgUser('org-data', GRACE));
      expect((await c.del(user(GRACE))).status).toBe(409);
      // Re-mapping an admin group gives a second holder; then Grace can go.
      expect(
        (await c.post('/v3/enterprise/members/idp-groups/devin-admins', { role_id: 'account_admin' })).status,
      ).toBe(200);
      expect((await c.patch(user(GRACE), { role_id: 'account_member' })).status).toBe(200);
    } finally {
      await only.close();
    }
  });
});

describe('organization users', () => {
  const PLATFORM = 'org-platform';
  const RESEARCH = 'org-research';

  it('POST assigns a direct org role (User back); PATCH changes it; DELETE removes it', async () => {
    const add = await sim.api().post<UserOut>(orgUser(RESEARCH, KATHERINE), { role_id: 'org_member' });
    expect(add.status).toBe(200);
    expect(add.body.role_assignments.map((a) => [a.role.role_id, a.org_id])).toEqual([
      ['account_member', null],
      ['org_member', RESEARCH],
    ]);
    const list = await sim
      .api()
      .get<Page<UserOut>>(`/v3/enterprise/organizations/${RESEARCH}/members/users?email=${KATHERINE}`);
    expect(list.body.items).toHaveLength(1);
    const custom = seed.roles.find((r) => r.role_id.startsWith('role-'))?.role_id as string;
    const patched = await sim.api().patch<UserOut>(orgUser(RESEARCH, KATHERINE), { role_id: custom });
    expect(patched.body.role_assignments[1]?.role).toMatchObject({
      role_id: custom,
      role_name: 'Contractor',
    });
    const removed = await sim.api().del<UserOut>(orgUser(RESEARCH, KATHERINE));
    expect(removed.status).toBe(200);
    expect(removed.body.role_assignments).toHaveLength(1);
    const after = await sim
      .api()
      .get<Page<UserOut>>(`/v3/enterprise/organizations/${RESEARCH}/members/users?email=${KATHERINE}`);
    expect(after.body.items).toEqual([]);
  });

  it('POST: 404 org/user/role, 422 enterprise role, 409 without direct enterprise role, 409 already in org', async () => {
    await expectStatus(sim.api().post(orgUser('org-nope', KATHERINE), { role_id: 'org_member' }), 404);
    await expectStatus(
      sim
        .api()
        .post(`/v3/enterprise/organizations/${RESEARCH}/members/users/user-nope`, { role_id: 'org_member' }),
      404,
    );
    await expectStatus(sim.api().post(orgUser(RESEARCH, KATHERINE), { role_id: 'role-nope' }), 404);
    await expectStatus(sim.api().post(orgUser(RESEARCH, KATHERINE), { role_id: 'account_member' }), 422);
    await expectStatus(
      sim.api().post(orgUser(RESEARCH, LINUS), { role_id: 'org_member' }),
      409,
      /enterprise/,
    );
    await expectStatus(
      sim.api().post(orgUser(PLATFORM, ADA), { role_id: 'org_member' }),
      409,
      /already has a role/,
    );
  });

  it('PATCH/DELETE: 404 without a direct role there, 409 when the role there is only IdP-derived', async () => {
    await expectStatus(sim.api().patch(orgUser(RESEARCH, KATHERINE), { role_id: 'org_member' }), 404);
    await expectStatus(sim.api().del(orgUser(RESEARCH, KATHERINE)), 404);
    await expectStatus(
      sim.api().patch(orgUser(PLATFORM, LINUS), { role_id: 'org_admin' }),
      409,
      /derived from IdP/,
    );
    await expectStatus(sim.api().del(orgUser(PLATFORM, LINUS)), 409);
    await expectStatus(sim.api().patch(orgUser(PLATFORM, ADA), { role_id: 'account_admin' }), 422);
    await expectStatus(sim.api().del(orgUser('org-nope', ADA)), 404);
    // Barbara has both there: the direct one is editable.
    expect((await sim.api().patch(orgUser(PLATFORM, BARBARA), { role_id: 'org_admin' })).status).toBe(200);
  });
});

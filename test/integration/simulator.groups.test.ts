// Devin API simulator: IdP group registry and enterprise / organization role mappings.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type IdpGroupOut,
  type IdpUserOut,
  type Page,
  type Problem,
  startTestSimulator,
  type TestSimulator,
  type UserOut,
} from '../support/simulator.js';

let sim: TestSimulator;

beforeAll(async () => {
  sim = await startTestSimulator();
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.reset();
});

const REGISTRY = '/v3/enterprise/idp-groups';
const ENT = '/v3/enterprise/members/idp-groups';
const org = (orgId: string) => `/v3/enterprise/organizations/${orgId}/members/idp-groups`;
const enc = encodeURIComponent;

async function status(p: Promise<{ status: number; body: unknown }>, expected: number, detail?: RegExp) {
  const res = await p;
  expect(res.status, JSON.stringify(res.body)).toBe(expected);
  if (detail) expect((res.body as Problem).detail).toMatch(detail);
  return res;
}

describe('registry', () => {
  it('lists registered groups sorted by name', async () => {
    const res = await sim.api().get<Page<{ idp_group_name: string }>>(REGISTRY);
    expect(res.body.items.map((g) => g.idp_group_name)).toEqual([
      'devin-admins',
      'devin-data',
      'devin-platform',
      'devin-research-leads',
      'devin-unmapped',
    ]);
    expect(res.body).toMatchObject({ total: 5, has_next_page: false, end_cursor: null });
  });

  it('POST registers new names, ignores existing ones, and returns only the new ones', async () => {
    const res = await sim.api().post<Array<{ idp_group_name: string }>>(REGISTRY, {
      idp_group_names: ['devin-new', 'devin-admins', 'devin-new', 'Devin-New'],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([{ idp_group_name: 'devin-new' }, { idp_group_name: 'Devin-New' }]);
    expect(sim.requests().at(-1)).toMatchObject({ applied: true });
    const again = await sim.api().post(REGISTRY, { idp_group_names: ['devin-admins'] });
    expect(again.body).toEqual([]);
    expect(sim.requests().at(-1)).toMatchObject({ status: 200, applied: false });
  });

  it('POST 422: empty list, more than 100, blank or non-string names', async () => {
    await status(sim.api().post(REGISTRY, { idp_group_names: [] }), 422);
    const many = Array.from({ length: 101 }, (_, i) => `g${i}`);
    await status(sim.api().post(REGISTRY, { idp_group_names: many }), 422);
    const blank = await status(sim.api().post(REGISTRY, { idp_group_names: ['ok', '  '] }), 422);
    expect((blank.body as Problem).errors?.[0]?.loc).toEqual(['body', 'idp_group_names', 1]);
    await status(sim.api().post(REGISTRY, { idp_group_names: [7] }), 422);
    await status(sim.api().post(REGISTRY, {}), 422);
    expect(sim.dump().idp_groups).toHaveLength(5);
  });

  it('DELETE: 404 unknown, 409 while mapped, else returns the group', async () => {
    await status(sim.api().del(`${REGISTRY}/never-registered`), 404);
    await status(sim.api().del(`${REGISTRY}/devin-admins`), 409, /role mappings/);
    const res = await status(sim.api().del(`${REGISTRY}/devin-unmapped`), 200);
    expect(res.body).toEqual({ idp_group_name: 'devin-unmapped' });
    expect(sim.dump().idp_groups).not.toContain('devin-unmapped');
  });

  it('names with slashes, spaces and ampersands work as encoded path segments', async () => {
    const name = 'devin/contract team & friends';
    await status(sim.api().post(REGISTRY, { idp_group_names: [name] }), 200);
    await status(sim.api().post(`${ENT}/${enc(name)}`, { role_id: 'account_member' }), 200);
    const got = await sim.api().get<IdpGroupOut>(`${ENT}/${enc(name)}`);
    expect(got.body.idp_group_name).toBe(name);
    expect(sim.requests().at(-1)?.route).toBe('/v3/enterprise/members/idp-groups/{idp_group_name}');
    await status(sim.api().del(`${ENT}/${enc(name)}`), 200);
    await status(sim.api().del(`${REGISTRY}/${enc(name)}`), 200);
  });
});

describe('enterprise mappings', () => {
  it('the list holds only groups with an enterprise mapping, each with that one assignment', async () => {
    const res = await sim.api().get<Page<IdpGroupOut>>(ENT);
    expect(res.body.items.map((g) => g.idp_group_name)).toEqual([
      'devin-admins',
      'devin-data',
      'devin-platform',
      'devin-research-leads',
    ]);
    expect(res.body.items[0]?.role_assignments).toEqual([
      { role: { role_id: 'account_admin', role_name: 'Admin', role_type: 'enterprise' }, org_id: null },
    ]);
    for (const g of res.body.items) expect(g.role_assignments.every((a) => a.org_id === null)).toBe(true);
  });

  it('GET: 404 unregistered, an empty assignment list for a registered unmapped group', async () => {
    await status(sim.api().get(`${ENT}/nope`), 404);
    const res = await sim.api().get<IdpGroupOut>(`${ENT}/devin-unmapped`);
    expect(res.body).toEqual({ idp_group_name: 'devin-unmapped', role_assignments: [] });
  });

  it('POST: 404 unregistered / unknown role, 422 org role, 409 already mapped; then members derive it', async () => {
    await status(sim.api().post(`${ENT}/nope`, { role_id: 'account_member' }), 404);
    await status(sim.api().post(`${ENT}/devin-unmapped`, { role_id: 'role-nope' }), 404);
    await status(sim.api().post(`${ENT}/devin-unmapped`, { role_id: 'org_member' }), 422);
    await status(sim.api().post(`${ENT}/devin-admins`, { role_id: 'account_member' }), 409, /PATCH/);
    await status(sim.api().get(`/v3/enterprise/members/users/${timId()}`), 404);
    const res = await status(sim.api().post(`${ENT}/devin-unmapped`, { role_id: 'account_member' }), 200);
    expect((res.body as IdpGroupOut).role_assignments).toHaveLength(1);
    // Tim is in devin-unmapped: now an IdP-derived member.
    const tim = await sim.api().get<UserOut>(`/v3/enterprise/members/users/${timId()}`);
    expect(tim.status).toBe(200);
    expect(tim.body.idp_role_assignments).toEqual([
      {
        role: { role_id: 'account_member', role_name: 'Member', role_type: 'enterprise' },
        idp_group_name: 'devin-unmapped',
        org_id: null,
      },
    ]);
    const idp = await sim
      .api()
      .get<Page<IdpUserOut>>('/v3/enterprise/members/idp-users?email=tim.berners-lee@corp.example');
    expect(idp.body.items).toHaveLength(1);
  });

  it('PATCH changes the role; PATCH/DELETE 404 when not mapped; DELETE 409 while org mappings exist', async () => {
    const p = await status(sim.api().patch(`${ENT}/devin-data`, { role_id: 'account_admin' }), 200);
    expect((p.body as IdpGroupOut).role_assignments[0]?.role.role_id).toBe('account_admin');
    await status(sim.api().patch(`${ENT}/devin-data`, { role_id: 'org_admin' }), 422);
    await status(sim.api().patch(`${ENT}/devin-unmapped`, { role_id: 'account_member' }), 404);
    await status(sim.api().patch(`${ENT}/nope`, { role_id: 'account_member' }), 404);
    await status(sim.api().del(`${ENT}/devin-unmapped`), 404);
    await status(sim.api().del(`${ENT}/devin-data`), 409, /organization mappings/);
    await status(sim.api().del(`${org('org-data')}/devin-data`), 200);
    const d = await status(sim.api().del(`${ENT}/devin-data`), 200);
    expect(d.body).toEqual({ idp_group_name: 'devin-data', role_assignments: [] });
    // Hedy's only mapped group is gone: she no longer exists as a user.
    const hedy = await sim
      .api()
      .get<Page<IdpUserOut>>('/v3/enterprise/members/idp-users?email=hedy.lamarr@corp.example');
    expect(hedy.body.items).toEqual([]);
  });
});

describe('organization mappings', () => {
  it('list and GET are filtered to that organization', async () => {
    const list = await sim.api().get<Page<IdpGroupOut>>(org('org-platform'));
    expect(list.body.items).toEqual([
      {
        idp_group_name: 'devin-platform',
        role_assignments: [
          {
            role: { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' },
            org_id: 'org-platform',
          },
        ],
      },
    ]);
    const none = await sim.api().get<IdpGroupOut>(`${org('org-platform')}/devin-data`);
    expect(none.body).toEqual({ idp_group_name: 'devin-data', role_assignments: [] });
    await status(sim.api().get(`${org('org-platform')}/nope`), 404);
    await status(sim.api().get(`${org('org-nope')}/devin-data`), 404);
    await status(sim.api().get(org('org-nope')), 404);
  });

  it('POST: 404 org/group/role, 422 enterprise role, 409 without an enterprise mapping, 409 already mapped', async () => {
    await status(sim.api().post(`${org('org-nope')}/devin-data`, { role_id: 'org_member' }), 404);
    await status(sim.api().post(`${org('org-data')}/nope`, { role_id: 'org_member' }), 404);
    await status(sim.api().post(`${org('org-platform')}/devin-data`, { role_id: 'role-nope' }), 404);
    await status(sim.api().post(`${org('org-platform')}/devin-data`, { role_id: 'account_member' }), 422);
    await status(
      sim.api().post(`${org('org-platform')}/devin-unmapped`, { role_id: 'org_member' }),
      409,
      /enterprise mapping first/,
    );
    await status(sim.api().post(`${org('org-data')}/devin-data`, { role_id: 'org_admin' }), 409, /already/);
    const ok = await status(
      sim.api().post(`${org('org-research')}/devin-data`, { role_id: 'org_member' }),
      200,
    );
    expect((ok.body as IdpGroupOut).role_assignments).toEqual([
      { role: { role_id: 'org_member', role_name: 'Org Member', role_type: 'org' }, org_id: 'org-research' },
    ]);
    const idp = await sim
      .api()
      .get<Page<IdpUserOut>>('/v3/enterprise/organizations/org-research/members/idp-users');
    expect(idp.body.items.map((u) => u.email)).toContain('hedy.lamarr@corp.example');
  });

  it('PATCH/DELETE: 404 when not mapped there; PATCH checks the role type', async () => {
    await status(sim.api().patch(`${org('org-research')}/devin-data`, { role_id: 'org_admin' }), 404);
    await status(sim.api().del(`${org('org-research')}/devin-data`), 404);
    await status(sim.api().patch(`${org('org-data')}/devin-data`, { role_id: 'account_admin' }), 422);
    const p = await status(sim.api().patch(`${org('org-data')}/devin-data`, { role_id: 'org_admin' }), 200);
    expect((p.body as IdpGroupOut).role_assignments[0]?.role.role_id).toBe('org_admin');
    const d = await status(sim.api().del(`${org('org-data')}/devin-data`), 200);
    expect(d.body).toEqual({ idp_group_name: 'devin-data', role_assignments: [] });
    expect(
      sim.dump().group_mappings.some((m) => m.idp_group_name === 'devin-data' && m.org_id === 'org-data'),
    ).toBe(false);
  });

  it('the same routes answer under /v3beta1', async () => {
    const res = await sim
      .api()
      .get<Page<IdpGroupOut>>('/v3beta1/enterprise/organizations/org-data/members/idp-groups');
    expect(res.status).toBe(200);
    expect(res.body.items.map((g) => g.idp_group_name)).toEqual(['devin-data']);
    await status(sim.api().post('/v3beta1/enterprise/idp-groups', { idp_group_names: ['beta-group'] }), 200);
    expect(sim.requests().at(-1)?.route).toBe('/v3beta1/enterprise/idp-groups');
  });
});

function timId(): string {
  return sim.dump().idp_memberships.find((m) => m.email === 'tim.berners-lee@corp.example')
    ?.user_id as string;
}

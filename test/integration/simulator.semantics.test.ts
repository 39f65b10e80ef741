// The two readings of what the docs leave open, over HTTP against the demo seed. Strict answers 409
// where a client must not rely on an effect. Lenient cascades removals, answers a DELETE with 204,
// makes a re-invite a no-op, and 404s a mapping read where there is no mapping. In both, a bad
// email refuses the whole invite batch with 422.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SEMANTICS } from '../../src/simulator/index.js';
import { type Problem, startTestSimulator, type TestSimulator, type UserOut } from '../support/simulator.js';

const ALAN = 'alan.turing@corp.example';

describe.each(SEMANTICS)('%s semantics', (semantics) => {
  const strict = semantics === 'strict';
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({ semantics });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.reset();
  });
  const userId = (email: string) => sim.dump().users.find((u) => u.email === email)?.user_id as string;
  const mappings = (group: string) =>
    sim
      .dump()
      .group_mappings.filter((m) => m.idp_group_name === group)
      .map((m) => m.org_id ?? '*');

  it('removing a user with org roles: 409, or a cascade (204)', async () => {
    const res = await sim.api().del<Problem>(`/v3/enterprise/members/users/${userId(ALAN)}`);
    expect(res.status).toBe(strict ? 409 : 204);
    const after = sim.dump().users.find((u) => u.email === ALAN);
    expect(after?.org_roles).toEqual(strict ? { 'org-research': 'org_admin' } : {});
    expect(after?.enterprise_role_id).toBe(strict ? 'account_member' : null);
  });

  it('unregistering a mapped group: 409, or its mappings go with it', async () => {
    const res = await sim.api().del('/v3/enterprise/idp-groups/devin-platform');
    expect(res.status).toBe(strict ? 409 : 204);
    expect(mappings('devin-platform')).toEqual(strict ? ['*', 'org-platform'] : []);
    expect(sim.dump().idp_groups.includes('devin-platform')).toBe(strict);
    // What is gone is gone from every listing.
    const orgGroups = await sim
      .api()
      .get<{ items: Array<{ idp_group_name: string }> }>(
        '/v3/enterprise/organizations/org-platform/members/idp-groups',
      );
    expect(orgGroups.body.items.some((g) => g.idp_group_name === 'devin-platform')).toBe(strict);
  });

  it('deleting an enterprise mapping with org mappings: 409, or the org mappings go too', async () => {
    const res = await sim.api().del('/v3/enterprise/members/idp-groups/devin-data');
    expect(res.status).toBe(strict ? 409 : 204);
    expect(mappings('devin-data')).toEqual(strict ? ['*', 'org-data'] : []);
    // Lenient: a registered group with no mapping in a scope reads as 404 ("no mapping").
    const read = await sim.api().get('/v3/enterprise/organizations/org-data/members/idp-groups/devin-data');
    expect(read.status).toBe(strict ? 200 : 404);
  });

  it('re-inviting a direct member: 409 for the batch, or a no-op that keeps their role', async () => {
    const res = await sim.api().post<UserOut[]>('/v3/enterprise/members/users', {
      emails: [ALAN, 'newcomer@corp.example'],
      enterprise_role_id: 'account_admin',
    });
    expect(res.status).toBe(strict ? 409 : 200);
    if (!strict) {
      expect(
        res.body.map((u) => [u.email, u.role_assignments.find((a) => a.org_id === null)?.role.role_id]),
      ).toEqual([
        [ALAN, 'account_member'],
        ['newcomer@corp.example', 'account_admin'],
      ]);
    }
    expect(sim.dump().users.find((u) => u.email === ALAN)?.enterprise_role_id).toBe('account_member');
    expect(sim.dump().users.some((u) => u.email === 'newcomer@corp.example')).toBe(!strict);
  });

  it('an invalid email refuses the whole batch with 422, naming it', async () => {
    const res = await sim.api().post<Problem>('/v3/enterprise/members/users', {
      emails: ['fine@corp.example', 'not an email'],
      enterprise_role_id: 'account_member',
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { loc: ['body', 'emails', 1], msg: '"not an email" is not an email address', type: 'value_error' },
    ]);
    expect(sim.dump().users.some((u) => u.email === 'fine@corp.example')).toBe(false);
  });
});

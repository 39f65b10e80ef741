// Devin API simulator: authentication, permissions, error format, prefixes, 404/405/501, admin routes.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { NOT_IMPLEMENTED_ROUTES, type SimulatorSeed, startSimulator } from '../../src/simulator/index.js';
import {
  api,
  DEMO_TOKEN,
  loadDemoSeed,
  type Page,
  type Problem,
  startTestSimulator,
  type TestSimulator,
  type UserOut,
} from '../support/simulator.js';

const READER = 'cog_reader_only';
const MANAGER = 'cog_manager_only';
const NOTHING = 'cog_no_permissions';
const ORG_VIEWER = 'cog_org_platform_viewer';
const ORG_BARE = 'cog_org_platform_bare';

function token(
  t: string,
  permissions: string[],
  org_id: string | null = null,
): SimulatorSeed['tokens'][number] {
  return {
    token: t,
    principal_type: 'service_user',
    service_user_id: `service-user-${t}`,
    service_user_name: t,
    org_id,
    permissions,
  };
}

let seed: SimulatorSeed;
let sim: TestSimulator;

beforeAll(async () => {
  seed = await loadDemoSeed();
  seed.tokens.push(
    token(READER, ['ReadAccountMeta', 'ViewAccountMembership']),
    token(MANAGER, ['ManageAccountMembership']),
    token(NOTHING, []),
    token(ORG_VIEWER, ['ViewOrgMembership'], 'org-platform'),
    token(ORG_BARE, [], 'org-platform'),
  );
  sim = await startTestSimulator({ seed });
});
afterAll(async () => {
  await sim.close();
});

function expectProblem(
  res: { status: number; headers: Headers; body: unknown },
  status: number,
  path: string,
) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const p = res.body as Problem;
  expect(p).toMatchObject({ type: 'about:blank', status, instance: path });
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
  return p;
}

describe('authentication', () => {
  it('401 without an Authorization header, with a bad scheme, or with an unknown token', async () => {
    const path = '/v3/enterprise/members/users';
    expectProblem(await sim.api(null).get(path), 401, path);
    const basic = await fetch(sim.url + path, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    const unknown = await sim.api('cog_not_a_real_token_123').get(path);
    const p = expectProblem(unknown, 401, path);
    expect(p.title).toBe('Unauthorized');
    expect(JSON.stringify(p)).not.toContain('cog_not_a_real_token_123');
  });

  it('401 comes before anything else, even on unknown resources and 501 paths', async () => {
    expect((await sim.api(null).get('/v3/enterprise/members/users/user-nope')).status).toBe(401);
    expect((await sim.api(null).get('/v3/enterprise/audit-logs')).status).toBe(401);
  });

  it('/v3/self answers any valid token, with principal_type', async () => {
    for (const t of [NOTHING, ORG_BARE]) {
      const res = await sim.api(t).get('/v3/self');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        principal_type: 'service_user',
        service_user_id: `service-user-${t}`,
      });
    }
    expect((await sim.api(DEMO_TOKEN).get('/v3/self')).body).toEqual({
      principal_type: 'service_user',
      service_user_id: 'service-user-idsync',
      service_user_name: 'idsync',
      org_id: null,
    });
    expect((await sim.api(ORG_VIEWER).get('/v3/self')).body).toMatchObject({ org_id: 'org-platform' });
  });

  it('/v3beta1/enterprise/self has the older shape (no principal_type)', async () => {
    const res = await sim.api().get('/v3beta1/enterprise/self');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      service_user_id: 'service-user-idsync',
      service_user_name: 'idsync',
      org_id: null,
    });
    expect((await sim.api(NOTHING).get('/v3beta1/enterprise/self')).status).toBe(403);
    expect((await sim.api(ORG_VIEWER).get('/v3beta1/enterprise/self')).status).toBe(403);
  });
});

describe('permissions', () => {
  it('reads accept ViewAccountMembership or ManageAccountMembership', async () => {
    for (const t of [READER, MANAGER, DEMO_TOKEN]) {
      expect((await sim.api(t).get('/v3/enterprise/members/users')).status).toBe(200);
      expect((await sim.api(t).get('/v3/enterprise/roles')).status).toBe(200);
      expect((await sim.api(t).get('/v3/enterprise/idp-groups')).status).toBe(200);
    }
  });

  it('403 names the missing permission and never the token', async () => {
    const path = '/v3/enterprise/members/users';
    const res = await sim
      .api(READER)
      .post(path, { emails: ['x@corp.example'], enterprise_role_id: 'account_member' });
    const p = expectProblem(res, 403, path);
    expect(p.title).toBe('Forbidden');
    expect(p.detail).toContain('ManageAccountMembership');
    expect(JSON.stringify(p)).not.toContain(READER);
    // Nothing was applied.
    expect(sim.dump().users.some((u) => u.email === 'x@corp.example')).toBe(false);

    const roles = expectProblem(
      await sim.api(NOTHING).get('/v3/enterprise/roles'),
      403,
      '/v3/enterprise/roles',
    );
    expect(roles.detail).toMatch(/ViewAccountMembership or ManageAccountMembership/);
  });

  it('organizations need ManageOrganizations', async () => {
    const orgs = await sim.api(READER).get('/v3/enterprise/organizations');
    expect(orgs.status).toBe(403);
    expect((orgs.body as Problem).detail).toContain('ManageOrganizations');
    expect((await sim.api(READER).get('/v3/enterprise/organizations/org-platform')).status).toBe(403);
    const ok = await sim.api().get<Page<{ org_id: string; name: string }>>('/v3/enterprise/organizations');
    expect(ok.status).toBe(200);
    expect(ok.body.items.map((o) => o.name).sort()).toEqual(['Data', 'Platform', 'Research']);
    const one = await sim.api().get('/v3/enterprise/organizations/org-data');
    expect(one.body).toMatchObject({ org_id: 'org-data', name: 'Data', max_session_acu_limit: 50 });
    expectProblem(
      await sim.api().get('/v3/enterprise/organizations/org-nope'),
      404,
      '/v3/enterprise/organizations/org-nope',
    );
  });

  it('an organization token gets 403 on every /enterprise path', async () => {
    for (const path of [
      '/v3/enterprise/members/users',
      '/v3/enterprise/roles',
      '/v3beta1/enterprise/idp-groups',
    ]) {
      const res = await sim.api(ORG_VIEWER).get(path);
      expect(res.status, path).toBe(403);
    }
  });

  it('org-scoped v3beta1 reads: own org with ViewOrgMembership, or an enterprise reader', async () => {
    const path = '/v3beta1/organizations/org-platform/members/users';
    const own = await sim.api(ORG_VIEWER).get<Page<UserOut>>(path);
    expect(own.status).toBe(200);
    expect(own.body.items.length).toBeGreaterThan(0);
    for (const u of own.body.items)
      expect(u.role_assignments.every((a) => a.org_id === 'org-platform')).toBe(true);
    expect(
      (await sim.api(ORG_VIEWER).get('/v3beta1/organizations/org-platform/members/idp-users')).status,
    ).toBe(200);
    expect((await sim.api(ORG_VIEWER).get('/v3beta1/organizations/org-data/members/users')).status).toBe(403);
    expect((await sim.api(ORG_BARE).get(path)).status).toBe(403);
    expect((await sim.api(READER).get(path)).status).toBe(200);
    expect((await sim.api(NOTHING).get(path)).status).toBe(403);
    expect((await sim.api(READER).get('/v3beta1/organizations/org-nope/members/users')).status).toBe(404);
    // Only the v3beta1 prefix was documented for these.
    expect((await sim.api(READER).get('/v3/organizations/org-platform/members/users')).status).toBe(404);
  });

  it('org-scoped GET user shows only that organization, and 404s for non-members', async () => {
    const ada = seed.users.find(
      (u) => u.email === 'ada.lovelace@corp.example',
    ) as SimulatorSeed['users'][number];
    const res = await sim
      .api(ORG_VIEWER)
      .get<UserOut>(`/v3beta1/organizations/org-platform/members/users/${ada.user_id}`);
    expect(res.status).toBe(200);
    expect(res.body.role_assignments).toEqual([
      { role: { role_id: 'org_admin', role_name: 'Org Admin', role_type: 'org' }, org_id: 'org-platform' },
    ]);
    const other = await sim
      .api(READER)
      .get(`/v3beta1/organizations/org-research/members/users/${ada.user_id}`);
    expect(other.status).toBe(404);
  });
});

describe('prefixes, unknown paths and methods', () => {
  it('serves identity routes under /v3beta1 too, logging the prefix used', async () => {
    sim.clearRequests();
    const v3 = await sim.api().get<Page<UserOut>>('/v3/enterprise/members/users');
    const beta = await sim.api().get<Page<UserOut>>('/v3beta1/enterprise/members/users');
    expect(beta.status).toBe(200);
    expect(beta.body).toEqual(v3.body);
    expect(sim.counts()).toMatchObject({
      'GET /v3/enterprise/members/users': 1,
      'GET /v3beta1/enterprise/members/users': 1,
    });
    expect(sim.requests().map((r) => r.route)).toEqual([
      '/v3/enterprise/members/users',
      '/v3beta1/enterprise/members/users',
    ]);
  });

  it('answers 501 Not Implemented on the subset paths outside identity', async () => {
    expect(NOT_IMPLEMENTED_ROUTES.length).toBe(17);
    for (const { method, route } of NOT_IMPLEMENTED_ROUTES) {
      const path = route.replace('{org_id}', 'org-platform').replace('{service_user_id}', 'service-user-x');
      const res = await sim
        .api()
        .request(method, path, method === 'GET' || method === 'DELETE' ? undefined : {});
      const p = expectProblem(res, 501, path);
      expect(p.title).toBe('Not Implemented');
    }
  });

  it('404 ProblemDetail for an unknown path, 405 with Allow for a wrong method', async () => {
    expectProblem(await sim.api().get('/v3/enterprise/nothing-here'), 404, '/v3/enterprise/nothing-here');
    expectProblem(await sim.api().get('/v3/self/'), 404, '/v3/self/');
    const res = await sim.api().request('PUT', '/v3/enterprise/members/users/user-x', { role_id: 'x' });
    const p = expectProblem(res, 405, '/v3/enterprise/members/users/user-x');
    expect(p.title).toBe('Method Not Allowed');
    expect(res.headers.get('allow')).toBe('GET, PATCH, DELETE, HEAD');
    expect((await sim.api().request('DELETE', '/v3/enterprise/roles')).status).toBe(405);
  });

  it('422 for malformed JSON; an empty body with a JSON content type is "no body"', async () => {
    const res = await sim.api().post('/v3/enterprise/idp-groups', '{"idp_group_names": [');
    const p = expectProblem(res, 422, '/v3/enterprise/idp-groups');
    expect(p.errors?.[0]?.loc).toEqual(['body']);
    const empty = await fetch(`${sim.url}/v3/enterprise/members/users/user-nope`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${DEMO_TOKEN}`, 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(404);
    const missing = await sim.api().post('/v3/enterprise/members/users');
    expect(missing.status).toBe(422);
    expect((missing.body as Problem).errors?.[0]?.loc).toEqual(['body']);
  });
});

describe('admin routes', () => {
  it('are not registered unless admin is true', async () => {
    sim.clearRequests();
    for (const [method, path] of [
      ['GET', '/_sim/state'],
      ['POST', '/_sim/reset'],
      ['GET', '/_sim/faults'],
      ['GET', '/_sim/requests'],
    ] as const) {
      const res = await api(sim.url, null).request(method, path);
      expect(res.status, path).toBe(404);
    }
    expect(sim.requests()).toEqual([]);
  });

  it('with admin: state, reset, faults and the request log, without auth and unaffected by faults', async () => {
    const seed2 = await loadDemoSeed();
    const admin = await startTestSimulator({ seed: seed2, admin: true });
    try {
      const anon = api(admin.url, null);
      await admin.api().post('/v3/enterprise/idp-groups', { idp_group_names: ['devin-admin-test'] });
      const state = await anon.get<SimulatorSeed>('/_sim/state');
      expect(state.status).toBe(200);
      expect(state.body.idp_groups).toContain('devin-admin-test');

      const reqs = await anon.get<{ entries: Array<{ route: string }>; counts: Record<string, number> }>(
        '/_sim/requests',
      );
      expect(reqs.body.entries.map((e) => e.route)).toEqual(['/v3/enterprise/idp-groups']);
      expect(reqs.body.counts).toEqual({ 'POST /v3/enterprise/idp-groups': 1 });

      const put = await anon.request('PUT', '/_sim/faults', { seed: 3, rules: [{ errorRate: 1 }] });
      expect(put.status).toBe(200);
      expect((await anon.get('/_sim/faults')).body).toEqual({ seed: 3, rules: [{ errorRate: 1 }] });
      expect((await admin.api().get('/v3/self')).status).toBe(503);
      expect((await anon.get('/_sim/state')).status).toBe(200);
      expect((await anon.request('PUT', '/_sim/faults', { rules: [{ errorRate: 2 }] })).status).toBe(422);
      await anon.request('PUT', '/_sim/faults', { rules: [] });

      expect((await anon.del('/_sim/requests')).status).toBe(204);
      expect((await anon.get<{ entries: unknown[] }>('/_sim/requests')).body.entries).toEqual([]);

      expect((await anon.post('/_sim/reset')).status).toBe(200);
      expect(admin.dump().idp_groups).not.toContain('devin-admin-test');

      const small: SimulatorSeed = {
        ...seed2,
        idp_groups: ['only-this'],
        group_mappings: [],
        idp_memberships: [],
      };
      expect((await anon.post('/_sim/reset', small)).status).toBe(200);
      expect(admin.dump().idp_groups).toEqual(['only-this']);
      const bad = await anon.post('/_sim/reset', { ...seed2, users: [{ user_id: 'u', email: 'nope' }] });
      expect(bad.status).toBe(422);
      expect((bad.body as Problem).detail).toContain('users[0].email');
      // The log never holds /_sim requests.
      expect(admin.requests()).toEqual([]);
    } finally {
      await admin.close();
    }
  });
});

describe('logging', () => {
  it('never logs the Authorization header or the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const secret = 'cog_simulator_log_secret_77';
    const s = await loadDemoSeed();
    s.tokens.push(token(secret, ['ViewAccountMembership']));
    const logged = await startSimulator({
      seed: s,
      logger: createLogger({ level: 'trace', destination: sink }),
    });
    try {
      await api(logged.url, secret).get('/v3/enterprise/members/users');
      await api(logged.url, secret).post('/v3/enterprise/idp-groups', { idp_group_names: ['x'] });
      await api(logged.url, `${secret}_wrong`).get('/v3/self');
    } finally {
      await logged.close();
    }
    expect(lines.length).toBeGreaterThan(3);
    const text = lines.join('\n');
    expect(text).not.toContain(secret);
    expect(text.toLowerCase()).not.toContain('bearer');
  });
});

// Contract tests: every request the client sends and every response the simulator gives must
// conform to spec/devin-v3-identity.openapi.yaml (facts from Devin's public docs). A recording
// proxy on loopback sits between the two, so what is checked is exactly what crossed the wire.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevinApiError, DevinClient } from '../../src/devin/index.js';
import {
  generateSeed,
  NOT_IMPLEMENTED_ROUTES,
  type RunningSimulator,
  type SimulatorSeed,
  startSimulator,
} from '../../src/simulator/index.js';
import { OpenApiContract } from '../support/openapi.js';
import { type RecordingProxy, startRecordingProxy } from '../support/recordingProxy.js';

const TOKEN = 'cog_contract_token';
const READ_ONLY_TOKEN = 'cog_contract_read_only';

const contract = new OpenApiContract();
let sim: RunningSimulator;
let proxy: RecordingProxy;
let seed: SimulatorSeed;

async function expectStatus(p: Promise<unknown>, status: number): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DevinApiError);
  expect((err as DevinApiError).status).toBe(status);
}

/** Drives every client method, the happy paths and the documented refusals. */
async function runScenario(): Promise<void> {
  const client = new DevinClient({ baseUrl: proxy.url, token: TOKEN, maxRequestsPerSecond: 0 });
  const org = seed.organizations[0]?.org_id as string;
  const someone = seed.users.find((u) => u.enterprise_role_id) as SimulatorSeed['users'][number];

  await client.getSelf();
  await client.listOrganizations();
  await client.getOrganization(org);
  await client.listRoles();
  await client.listUsers();
  await client.listUsers({ email: String(someone.email) });
  await client.getUser(someone.user_id as string);
  await client.listIdpUsers();
  await client.listIdpUsers({ email: 'idp.only@corp.example' });

  const [alice] = await client.inviteUsers(
    ['contract.alice@corp.example', 'contract.bob@corp.example'],
    'account_member',
  );
  const aliceId = alice?.user_id as string;
  await client.updateUserRole(aliceId, 'account_admin');
  await client.addOrgUser(org, aliceId, 'org_member');
  await client.updateOrgUserRole(org, aliceId, 'org_admin');
  await client.listOrgUsers(org);
  await client.listOrgUsers(org, { email: 'contract.alice@corp.example' });
  await client.listOrgIdpUsers(org);
  await client.listOrgIdpUsers(org, { email: 'idp.only@corp.example' });
  await client.removeOrgUser(org, aliceId);
  await client.removeUser(aliceId);

  const group = 'devin-contract/with spaces & slash';
  await client.registerIdpGroups([group]);
  await client.listIdpGroups();
  await client.assignEnterpriseGroupRole(group, 'account_member');
  await client.getEnterpriseGroupRole(group);
  await client.updateEnterpriseGroupRole(group, 'account_admin');
  await client.listEnterpriseGroupRoles();
  await client.assignOrgGroupRole(org, group, 'org_member');
  await client.getOrgGroupRole(org, group);
  await client.updateOrgGroupRole(org, group, 'org_admin');
  await client.listOrgGroupRoles(org);
  await client.removeOrgGroupRole(org, group);
  await client.removeEnterpriseGroupRole(group);
  await client.unregisterIdpGroup(group);

  // The documented refusals, so their bodies are checked too.
  await expectStatus(client.getUser('user-missing'), 404);
  await expectStatus(client.inviteUsers([String(someone.email)], 'account_member'), 409);
  await client.registerIdpGroups(['devin-contract-unmapped']);
  await expectStatus(client.assignOrgGroupRole(org, 'devin-contract-unmapped', 'org_member'), 409);
  await expectStatus(client.updateUserRole(someone.user_id as string, 'org_member'), 422);
  await expectStatus(client.addOrgUser(org, someone.user_id as string, 'account_member'), 422);
  client.close();

  const beta = new DevinClient({
    baseUrl: proxy.url,
    token: TOKEN,
    apiPrefix: '/v3beta1',
    maxRequestsPerSecond: 0,
  });
  await beta.getSelf();
  await beta.listUsers();
  beta.close();

  const readOnly = new DevinClient({ baseUrl: proxy.url, token: READ_ONLY_TOKEN, maxRequestsPerSecond: 0 });
  await readOnly.listUsers();
  await expectStatus(readOnly.registerIdpGroups(['devin-denied']), 403);
  await expectStatus(readOnly.listOrganizations(), 403);
  readOnly.close();

  const stranger = new DevinClient({ baseUrl: proxy.url, token: 'cog_unknown', maxRequestsPerSecond: 0 });
  await expectStatus(stranger.getSelf(), 401);
  stranger.close();
}

beforeAll(async () => {
  seed = generateSeed({ users: 40, groups: 6, orgs: 2, token: TOKEN, seed: 5 });
  seed.tokens.push({
    token: READ_ONLY_TOKEN,
    principal_type: 'service_user',
    service_user_id: 'service-user-readonly',
    service_user_name: 'read only',
    org_id: null,
    permissions: ['ReadAccountMeta', 'ViewAccountMembership'],
  });
  const mapped = seed.group_mappings.find((m) => m.org_id === null)?.idp_group_name as string;
  seed.idp_memberships.push({ email: 'idp.only@corp.example', name: 'IdP Only', groups: [mapped] });
  sim = await startSimulator({ seed });
  proxy = await startRecordingProxy(sim.url);
  await runScenario();
});

afterAll(async () => {
  await proxy?.close();
  await sim?.close();
});

describe('Devin contract (spec/devin-v3-identity.openapi.yaml)', () => {
  it('every request the client sent conforms to the spec', () => {
    expect(proxy.exchanges.length).toBeGreaterThan(40);
    const problems = proxy.exchanges.flatMap((x) => contract.checkRequest(x));
    expect(problems).toEqual([]);
  });

  it('every response the simulator gave conforms to the spec', () => {
    const problems = proxy.exchanges.flatMap((x) => contract.checkResponse(x));
    expect(problems).toEqual([]);
  });

  it('exercised every identity operation of the spec the simulator implements', () => {
    const notImplemented = new Set(NOT_IMPLEMENTED_ROUTES.map((r) => `${r.method} ${r.route}`));
    // Org-scoped reads (/v3beta1/organizations/...) are for org service users; idsync uses the
    // enterprise-scoped twins, and the simulator tests cover those routes.
    const expected = contract
      .operations()
      .filter((o) => !notImplemented.has(`${o.method} ${o.template}`))
      .filter((o) => !o.template.startsWith('/v3beta1/organizations/'))
      .map((o) => `${o.method} ${o.template}`)
      .sort();
    const seen = new Set(
      proxy.exchanges.map((x) => {
        const op = contract.find(x.method, x.path);
        return op ? `${op.method} ${op.template}` : `${x.method} ${x.path}`;
      }),
    );
    expect(expected.filter((o) => !seen.has(o))).toEqual([]);
    expect(expected.length).toBe(28);
  });

  it('the simulator answers its error statuses with spec-conformant bodies', async () => {
    const exchanges = [];
    const cases: Array<[string, string, number, unknown?]> = [
      ['GET', '/v3/enterprise/members/users?first=0', 422],
      ['GET', '/v3/enterprise/members/users?first=201', 422],
      ['GET', '/v3/enterprise/members/users?after=not-a-cursor', 422],
      ['POST', '/v3/enterprise/members/users', 422, { emails: [] }],
      ['POST', '/v3/enterprise/idp-groups', 422, { idp_group_names: [] }],
      ['GET', '/v3/enterprise/organizations/org-nope', 404],
      ['DELETE', '/v3/enterprise/idp-groups/never-registered', 404],
    ];
    for (const [method, path, status, body] of cases) {
      const res = await fetch(proxy.url + path, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await res.arrayBuffer();
      expect(res.status, `${method} ${path}`).toBe(status);
      exchanges.push(proxy.exchanges.at(-1));
    }
    const problems = exchanges.flatMap((x) => (x ? contract.checkResponse(x) : ['missing exchange']));
    expect(problems).toEqual([]);
  });
});

describe('subset paths outside identity', () => {
  it('answer 501 Not Implemented, and these are exactly the ones', async () => {
    const listed = NOT_IMPLEMENTED_ROUTES.map((r) => `${r.method} ${r.route}`).sort();
    expect(listed).toEqual(
      [
        'DELETE /v3/enterprise/members/service-users/{service_user_id}',
        'DELETE /v3/enterprise/organizations/{org_id}',
        'DELETE /v3/enterprise/organizations/{org_id}/members/service-users/{service_user_id}',
        'GET /v3/enterprise/audit-logs',
        'GET /v3/enterprise/members/service-users',
        'GET /v3/enterprise/members/service-users/{service_user_id}',
        'GET /v3/enterprise/org-group-limits',
        'GET /v3/enterprise/organizations/{org_id}/members/service-users',
        'PATCH /v3/enterprise/members/service-users/{service_user_id}',
        'PATCH /v3/enterprise/organizations/{org_id}',
        'PATCH /v3/enterprise/organizations/{org_id}/members/service-users/{service_user_id}',
        'POST /v3/enterprise/members/service-users/{service_user_id}',
        'POST /v3/enterprise/organizations',
        'POST /v3/enterprise/organizations/{org_id}/members/service-users/{service_user_id}',
        'POST /v3beta1/enterprise/service-users',
        'POST /v3beta1/organizations/{org_id}/service-users',
        'PUT /v3/enterprise/org-group-limits',
      ].sort(),
    );
    // Every spec operation is either implemented or in that list.
    const specOps = contract.operations().map((o) => `${o.method} ${o.template}`);
    expect(listed.every((r) => specOps.includes(r))).toBe(true);
    for (const { method, route } of NOT_IMPLEMENTED_ROUTES) {
      const path = route.replace('{org_id}', 'org-x').replace('{service_user_id}', 'service-user-x');
      const res = await fetch(sim.url + path, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
      });
      const body = (await res.json()) as { status: number; title: string };
      expect(res.status, `${method} ${route}`).toBe(501);
      expect(body).toMatchObject({ status: 501, title: 'Not Implemented' });
    }
  });
});

// DevinClient against the simulator running as a real HTTP server on loopback.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DevinApiError,
  DevinBulkError,
  DevinClient,
  type DevinClientOptions,
  DevinNetworkError,
  readDevinSnapshot,
} from '../../src/devin/index.js';
import { createLogger } from '../../src/log/logger.js';
import {
  generateSeed,
  type RunningSimulator,
  type SimulatorSeed,
  startSimulator,
} from '../../src/simulator/index.js';

const TOKEN = 'cog_client_test_secret_5f1e2d';

function seedWith(users: number, groups = 10, orgs = 3): SimulatorSeed {
  return generateSeed({ users, groups, orgs, token: TOKEN, seed: 7 });
}

function clientFor(sim: RunningSimulator, options: Partial<DevinClientOptions> = {}): DevinClient {
  return new DevinClient({
    baseUrl: sim.url,
    token: TOKEN,
    maxRequestsPerSecond: 0,
    retry: { baseDelayMs: 10, maxDelayMs: 100 },
    ...options,
  });
}

function countOf(sim: RunningSimulator, method: string, route: string): number {
  return sim.requests().filter((r) => r.method === method && r.route === route).length;
}

describe('DevinClient against the simulator', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startSimulator({ seed: seedWith(10_000, 50, 5) });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('pages through 10,000 users, each exactly once, in the fewest requests', async () => {
    sim.clearRequests();
    const client = clientFor(sim);
    const users = await client.listUsers();
    client.close();
    expect(users).toHaveLength(10_000);
    expect(new Set(users.map((u) => u.user_id)).size).toBe(10_000);
    expect(countOf(sim, 'GET', '/v3/enterprise/members/users')).toBe(50);
  });

  it('honours a smaller page size', async () => {
    sim.clearRequests();
    const client = clientFor(sim, { pageSize: 100 });
    const groups = await client.listIdpGroups();
    client.close();
    expect(groups).toHaveLength(50);
    expect(countOf(sim, 'GET', '/v3/enterprise/idp-groups')).toBe(1);
    const dump = sim.dump();
    expect(groups.sort()).toEqual([...dump.idp_groups].sort());
  });

  it('finds a user by email, case-insensitively', async () => {
    const client = clientFor(sim);
    const target = sim.dump().users[1234];
    const found = await client.findUserByEmail(String(target?.email).toUpperCase());
    client.close();
    expect(found?.user_id).toBe(target?.user_id);
  });

  it('raises a typed error naming method, route and the problem, for a 404', async () => {
    const client = clientFor(sim);
    const err = await client.getUser('user-does-not-exist').catch((e: unknown) => e);
    client.close();
    expect(err).toBeInstanceOf(DevinApiError);
    const apiErr = err as DevinApiError;
    expect(apiErr.status).toBe(404);
    expect(apiErr.method).toBe('GET');
    expect(apiErr.route).toBe('/v3/enterprise/members/users/{user_id}');
    expect(apiErr.problem?.status).toBe(404);
    expect(apiErr.message).toMatch(/GET \/v3\/enterprise\/members\/users\/user-does-not-exist failed: 404/);
  });

  it('reads a snapshot that matches the simulator state', async () => {
    const client = clientFor(sim, { maxConcurrency: 4 });
    const snap = await readDevinSnapshot(client);
    client.close();
    const dump = sim.dump();
    expect(snap.orgs.map((o) => o.id).sort()).toEqual(dump.organizations.map((o) => o.org_id).sort());
    expect(snap.roles).toHaveLength(dump.roles.length);
    expect(snap.registeredGroups.sort()).toEqual([...dump.idp_groups].sort());
    expect(snap.groupRoles).toHaveLength(dump.group_mappings.length);
    const direct = dump.users.filter(
      (u) => u.enterprise_role_id || Object.keys(u.org_roles ?? {}).length > 0,
    );
    expect(snap.users).toHaveLength(direct.length);
    const sample = direct[42];
    const mine = snap.users.find((u) => u.id === sample?.user_id);
    expect(mine?.enterpriseRoleId).toBe(sample?.enterprise_role_id ?? null);
    expect(mine?.orgRoles).toEqual(sample?.org_roles ?? {});
  });
});

describe('DevinClient retries (docs/design.md §7)', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startSimulator({ seed: seedWith(1_000) });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('rides out a 429 storm, waiting as long as Retry-After says', async () => {
    sim.reset();
    sim.setFaults({
      seed: 1,
      rules: [
        {
          match: { method: 'GET', route: '/v3/enterprise/members/users' },
          rateLimit: { capacity: 3, refillPerSecond: 4 },
        },
      ],
    });
    const client = clientFor(sim, { pageSize: 100 });
    const users = await client.listUsers();
    client.close();
    sim.setFaults({ rules: [] });
    expect(users).toHaveLength(1_000);
    const log = sim.requests().filter((r) => r.route === '/v3/enterprise/members/users');
    const limited = log.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    for (const hit of limited) {
      const nextTry = log.find((r) => r.seq > hit.seq);
      if (nextTry) expect(nextTry.at - hit.at).toBeGreaterThanOrEqual(900);
    }
    expect(log.filter((r) => r.status === 200)).toHaveLength(10);
  });

  it('accepts Retry-After as an HTTP date', async () => {
    sim.reset();
    sim.setFaults({
      rules: [
        {
          match: { method: 'GET', route: '/v3/enterprise/roles' },
          rateLimit: { capacity: 1, refillPerSecond: 1, retryAfter: 'http-date' },
        },
      ],
    });
    const client = clientFor(sim);
    await client.listRoles();
    const roles = await client.listRoles();
    client.close();
    sim.setFaults({ rules: [] });
    expect(roles.length).toBeGreaterThan(0);
    expect(sim.requests().filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(1);
  });

  it('fails fast when Retry-After is longer than the policy allows', async () => {
    sim.reset();
    sim.setFaults({
      rules: [
        { match: { route: '/v3/enterprise/roles' }, rateLimit: { capacity: 0, refillPerSecond: 0.01 } },
      ],
    });
    const client = clientFor(sim, { retry: { maxRetryAfterMs: 5_000 } });
    const started = Date.now();
    const err = await client.listRoles().catch((e: unknown) => e);
    client.close();
    sim.setFaults({ rules: [] });
    expect(err).toBeInstanceOf(DevinApiError);
    expect((err as DevinApiError).status).toBe(429);
    expect((err as DevinApiError).retryAfterMs).toBeGreaterThan(5_000);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('retries GETs through a 5xx burst', async () => {
    sim.reset();
    sim.setFaults({
      seed: 3,
      rules: [{ match: { method: 'GET' }, errorRate: 1, errorStatus: 503, times: 4 }],
    });
    const client = clientFor(sim);
    const orgs = await client.listOrganizations();
    client.close();
    expect(orgs.length).toBe(3);
    const log = sim.requests();
    expect(log.filter((r) => r.status === 503)).toHaveLength(4);
    expect(log.at(-1)?.status).toBe(200);
  });

  it('retries GETs under a random 50% 5xx rate and still reads everything', async () => {
    sim.reset();
    sim.setFaults({ seed: 11, rules: [{ match: { method: 'GET' }, errorRate: 0.5, errorStatus: 502 }] });
    const client = clientFor(sim, {
      pageSize: 50,
      retry: { maxAttempts: 12, baseDelayMs: 5, maxDelayMs: 20 },
    });
    const users = await client.listUsers();
    client.close();
    sim.setFaults({ rules: [] });
    expect(new Set(users.map((u) => u.user_id)).size).toBe(1_000);
    expect(sim.requests().filter((r) => r.status === 502).length).toBeGreaterThan(5);
  });

  it('does not retry a POST that got a 5xx', async () => {
    sim.reset();
    sim.setFaults({ rules: [{ match: { method: 'POST' }, errorRate: 1, errorStatus: 500 }] });
    const client = clientFor(sim);
    const err = await client.registerIdpGroups(['devin-new']).catch((e: unknown) => e);
    client.close();
    sim.setFaults({ rules: [] });
    expect(err).toBeInstanceOf(DevinApiError);
    expect((err as DevinApiError).status).toBe(500);
    expect(countOf(sim, 'POST', '/v3/enterprise/idp-groups')).toBe(1);
  });

  it('retries a POST refused with 429', async () => {
    sim.reset();
    sim.setFaults({
      rules: [
        {
          match: { method: 'POST', route: '/v3/enterprise/idp-groups' },
          rateLimit: { capacity: 0, refillPerSecond: 2 },
          times: 1,
        },
      ],
    });
    const client = clientFor(sim);
    await client.registerIdpGroups(['devin-after-429']);
    client.close();
    sim.setFaults({ rules: [] });
    expect(sim.dump().idp_groups).toContain('devin-after-429');
    const posts = sim.requests().filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.status)).toEqual([429, 200]);
  });

  it('surfaces a POST whose connection dropped after the server applied it, without re-sending', async () => {
    sim.reset();
    sim.setFaults({
      rules: [
        { match: { method: 'POST', route: '/v3/enterprise/members/users' }, dropAfterApplyRate: 1, times: 1 },
      ],
    });
    const client = clientFor(sim);
    const roleId = 'account_member';
    const err = await client.inviteUsers(['late.arrival@corp.example'], roleId).catch((e: unknown) => e);
    client.close();
    sim.setFaults({ rules: [] });
    expect(err).toBeInstanceOf(DevinNetworkError);
    expect((err as DevinNetworkError).sent).toBe(true);
    expect((err as DevinNetworkError).message).toMatch(/may have been applied/);
    const posts = sim.requests().filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]?.outcome).toBe('dropped-after-apply');
    expect(posts[0]?.applied).toBe(true);
    expect(sim.dump().users.some((u) => u.email === 'late.arrival@corp.example')).toBe(true);
  });

  it('does not re-send a PATCH whose connection dropped before the server applied it either', async () => {
    sim.reset();
    const victim = sim.dump().users.find((u) => u.enterprise_role_id === 'account_member');
    sim.setFaults({ rules: [{ match: { method: 'PATCH' }, dropRate: 1, times: 1 }] });
    const client = clientFor(sim);
    const err = await client
      .updateUserRole(String(victim?.user_id), 'account_admin')
      .catch((e: unknown) => e);
    client.close();
    sim.setFaults({ rules: [] });
    // The request was fully written, so the client cannot know it was not applied.
    expect(err).toBeInstanceOf(DevinNetworkError);
    expect(sim.requests().filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });

  it('retries a GET whose connection dropped', async () => {
    sim.reset();
    sim.setFaults({ rules: [{ match: { method: 'GET' }, dropRate: 1, times: 2 }] });
    const client = clientFor(sim);
    const roles = await client.listRoles();
    client.close();
    sim.setFaults({ rules: [] });
    expect(roles.length).toBeGreaterThan(0);
    expect(sim.requests().map((r) => r.outcome)).toEqual([
      'dropped-before-apply',
      'dropped-before-apply',
      'ok',
    ]);
  });

  it('retries a POST that never reached a server (connection refused) and reports it unsent', async () => {
    const closed = await startSimulator({ seed: seedWith(1) });
    const url = closed.url;
    await closed.close();
    const client = new DevinClient({
      baseUrl: url,
      token: TOKEN,
      maxRequestsPerSecond: 0,
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const err = await client.registerIdpGroups(['x']).catch((e: unknown) => e);
    client.close();
    expect(err).toBeInstanceOf(DevinNetworkError);
    expect((err as DevinNetworkError).sent).toBe(false);
    expect((err as DevinNetworkError).attempts).toBe(3);
    expect((err as DevinNetworkError).code).toBe('ECONNREFUSED');
  });

  it('times out a slow request per attempt', async () => {
    sim.reset();
    sim.setFaults({ rules: [{ match: { route: '/v3/enterprise/roles' }, latencyMs: 400 }] });
    const client = clientFor(sim, {
      timeoutMs: 100,
      retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    });
    const err = await client.listRoles().catch((e: unknown) => e);
    client.close();
    sim.setFaults({ rules: [] });
    expect(err).toBeInstanceOf(DevinNetworkError);
    expect((err as DevinNetworkError).code).toBe('ETIMEDOUT');
    expect((err as DevinNetworkError).attempts).toBe(2);
  });
});

describe('DevinClient limits and bulk calls', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startSimulator({ seed: seedWith(300) });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('keeps at most maxConcurrency requests in flight', async () => {
    sim.reset();
    sim.setFaults({ rules: [{ match: { method: 'GET' }, latencyMs: 60 }] });
    const client = clientFor(sim, { maxConcurrency: 2 });
    const ids = sim
      .dump()
      .users.slice(0, 8)
      .map((u) => u.user_id);
    const started = Date.now();
    await Promise.all(ids.map((id) => client.getUser(id)));
    const elapsed = Date.now() - started;
    client.close();
    sim.setFaults({ rules: [] });
    // 8 requests of ≥60 ms, two at a time: at least 4 rounds.
    expect(elapsed).toBeGreaterThanOrEqual(4 * 60 - 10);
    const log = sim.requests();
    // In flight when each request arrived: those that started no later and had not finished yet.
    const peak = Math.max(
      ...log.map((a) => log.filter((b) => b.at <= a.at && a.at < b.at + b.durationMs - 5).length),
    );
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('keeps to maxRequestsPerSecond', async () => {
    sim.reset();
    const client = clientFor(sim, { maxRequestsPerSecond: 20, maxConcurrency: 8 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 40 }, () => client.listRoles()));
    const elapsed = Date.now() - started;
    client.close();
    // A one-second burst of 20, then 20 more at 20/s.
    expect(elapsed).toBeGreaterThanOrEqual(900);
  });

  it('splits invites and registrations at 100 per call', async () => {
    sim.reset();
    sim.clearRequests();
    const client = clientFor(sim);
    const emails = Array.from({ length: 250 }, (_, i) => `bulk${i}@corp.example`);
    const invited = await client.inviteUsers(emails, 'account_member');
    const names = Array.from({ length: 150 }, (_, i) => `devin-bulk-${i}`);
    await client.registerIdpGroups(names);
    client.close();
    expect(invited).toHaveLength(250);
    expect(countOf(sim, 'POST', '/v3/enterprise/members/users')).toBe(3);
    expect(countOf(sim, 'POST', '/v3/enterprise/idp-groups')).toBe(2);
    const dump = sim.dump();
    expect(dump.idp_groups.filter((g) => g.startsWith('devin-bulk-'))).toHaveLength(150);
  });

  it('reports which batches were applied when a later batch fails', async () => {
    sim.reset();
    const existing = sim.dump().users.find((u) => u.enterprise_role_id)?.email as string;
    const emails = [...Array.from({ length: 100 }, (_, i) => `first${i}@corp.example`), existing];
    const client = clientFor(sim);
    const err = await client.inviteUsers(emails, 'account_member').catch((e: unknown) => e);
    client.close();
    expect(err).toBeInstanceOf(DevinBulkError);
    const bulk = err as DevinBulkError;
    expect(bulk.applied).toHaveLength(100);
    expect(bulk.notApplied).toEqual([existing]);
    expect(bulk.cause).toBeInstanceOf(DevinApiError);
    expect((bulk.cause as DevinApiError).status).toBe(409);
  });

  it('works under the /v3beta1 prefix, including the older self shape', async () => {
    sim.reset();
    const client = clientFor(sim, { apiPrefix: '/v3beta1' });
    const self = await client.getSelf();
    const roles = await client.listRoles();
    client.close();
    expect(self).toMatchObject({ service_user_id: expect.any(String) });
    expect('principal_type' in self).toBe(false);
    expect(roles.length).toBeGreaterThan(0);
    expect(sim.requests().every((r) => r.route.startsWith('/v3beta1/'))).toBe(true);
  });

  it('refuses bad settings with a clear message', () => {
    const base = { baseUrl: sim.url, token: TOKEN };
    expect(() => new DevinClient({ ...base, baseUrl: 'ftp://x' })).toThrow(/baseUrl must be http/);
    expect(() => new DevinClient({ ...base, baseUrl: 'not a url' })).toThrow(/not a URL/);
    expect(() => new DevinClient({ ...base, apiPrefix: 'v3' })).toThrow(/apiPrefix/);
    expect(() => new DevinClient({ ...base, pageSize: 201 })).toThrow(/pageSize/);
    expect(() => new DevinClient({ ...base, token: '' })).toThrow(/token/);
  });
});

describe('the token never leaks', () => {
  it('appears in no error message, error property or log line', async () => {
    const secret = 'cog_never_print_me_0a9b8c7d';
    const seed = generateSeed({ users: 5, groups: 2, orgs: 1, token: secret });
    const sim = await startSimulator({ seed });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'trace', destination: sink });
    const errors: unknown[] = [];
    const good = new DevinClient({
      baseUrl: sim.url,
      token: secret,
      logger,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const wrong = new DevinClient({
      baseUrl: sim.url,
      token: `${secret}x`,
      logger,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    sim.setFaults({ rules: [{ match: { route: '/v3/enterprise/roles' }, errorRate: 1 }] });
    for (const call of [
      () => good.getUser('nobody'),
      () => good.listRoles(),
      () => good.inviteUsers([String(seed.users[0]?.email)], 'account_member'),
      () => wrong.listUsers(),
      () => good.assignOrgGroupRole('org-missing', 'g', 'org_member'),
    ]) {
      errors.push(await call().catch((e: unknown) => e));
    }
    sim.setFaults({ rules: [{ match: { method: 'POST' }, dropAfterApplyRate: 1 }] });
    errors.push(await good.registerIdpGroups(['devin-x']).catch((e: unknown) => e));
    good.close();
    wrong.close();
    await sim.close();

    expect(errors.every((e) => e instanceof Error)).toBe(true);
    expect((errors[3] as DevinApiError).status).toBe(401);
    const text = [
      ...errors.map(
        (e) =>
          `${(e as Error).message}\n${(e as Error).stack}\n${JSON.stringify(e)}\n${String((e as Error).cause)}`,
      ),
      ...lines,
    ].join('\n');
    expect(lines.length).toBeGreaterThan(5);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('never_print_me');
  });
});

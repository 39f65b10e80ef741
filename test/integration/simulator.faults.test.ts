// Devin API simulator: fault injection (latency, 429 + Retry-After, errors, dropped connections) and the request log.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../../src/simulator/index.js';
import {
  api,
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
  sim.setFaults({ rules: [] });
  sim.reset();
});

const ROLES = '/v3/enterprise/roles';
const USERS = '/v3/enterprise/members/users';
const invite = (email: string) => ({ emails: [email], enterprise_role_id: 'account_member' });
const exists = (email: string) => sim.dump().users.some((u) => u.email === email);

describe('latency', () => {
  it('delays matching requests only, and the log records the duration', async () => {
    sim.setFaults({ rules: [{ match: { route: ROLES }, latencyMs: 150, jitterMs: 20 }] });
    const t0 = performance.now();
    expect((await sim.api().get(ROLES)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    const t1 = performance.now();
    await sim.api().get('/v3/self');
    expect(performance.now() - t1).toBeLessThan(140);
    const [slow, fast] = sim.requests();
    expect(slow?.durationMs).toBeGreaterThanOrEqual(145);
    expect(slow?.durationMs).toBeLessThan(1000);
    expect(fast?.durationMs).toBeLessThan(140);
  });
});

describe('rate limiting', () => {
  it('429 ProblemDetail with Retry-After in whole seconds when the bucket is empty', async () => {
    sim.setFaults({
      rules: [{ match: { method: 'GET', route: ROLES }, rateLimit: { capacity: 2, refillPerSecond: 0.5 } }],
    });
    expect((await sim.api().get(ROLES)).status).toBe(200);
    expect((await sim.api().get(ROLES)).status).toBe(200);
    const limited = await sim.api().get<Problem>(ROLES);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.body).toMatchObject({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      instance: ROLES,
    });
    // Other routes are not limited by this rule.
    expect((await sim.api().get('/v3/self')).status).toBe(200);
    expect(sim.requests().map((r) => r.outcome)).toEqual(['ok', 'ok', 'rate-limited', 'ok']);
  });

  it('refills over time', async () => {
    sim.setFaults({ rules: [{ match: { route: ROLES }, rateLimit: { capacity: 1, refillPerSecond: 10 } }] });
    expect((await sim.api().get(ROLES)).status).toBe(200);
    const limited = await sim.api().get(ROLES);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 150));
    expect((await sim.api().get(ROLES)).status).toBe(200);
  });

  it('Retry-After as an HTTP date', async () => {
    sim.setFaults({
      rules: [
        {
          match: { route: ROLES },
          rateLimit: { capacity: 0, refillPerSecond: 0.2, retryAfter: 'http-date' },
        },
      ],
    });
    const res = await sim.api().get(ROLES);
    expect(res.status).toBe(429);
    const value = res.headers.get('retry-after') as string;
    expect(value).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const wait = Date.parse(value) - Date.now();
    expect(wait).toBeGreaterThan(3_000);
    expect(wait).toBeLessThanOrEqual(6_000);
  });

  it('a 429 is never applied', async () => {
    sim.setFaults({ rules: [{ match: { method: 'POST' }, rateLimit: { capacity: 0, refillPerSecond: 1 } }] });
    expect((await sim.api().post(USERS, invite('limited@corp.example'))).status).toBe(429);
    expect(exists('limited@corp.example')).toBe(false);
    expect(sim.requests()[0]).toMatchObject({
      status: 429,
      outcome: 'rate-limited',
      applied: false,
      effectful: true,
    });
  });
});

describe('injected errors', () => {
  it('errorRate 1 answers 503 ProblemDetail by default, or errorStatus, and applies nothing', async () => {
    sim.setFaults({ rules: [{ errorRate: 1 }] });
    const res = await sim.api().post<Problem>(USERS, invite('err@corp.example'));
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 503, title: 'Service Unavailable', instance: USERS });
    expect(exists('err@corp.example')).toBe(false);
    sim.setFaults({ rules: [{ match: { method: 'GET' }, errorRate: 1, errorStatus: 502 }] });
    expect((await sim.api().get(ROLES)).status).toBe(502);
    expect(sim.requests().map((r) => [r.status, r.outcome])).toEqual([
      [503, 'error-injected'],
      [502, 'error-injected'],
    ]);
  });

  it('draws are reproducible for a given seed', async () => {
    const run = async () => {
      sim.setFaults({ seed: 42, rules: [{ errorRate: 0.5 }] });
      const out: number[] = [];
      for (let i = 0; i < 24; i++) out.push((await sim.api().get('/v3/self')).status);
      return out;
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(a).toContain(503);
    expect(a).toContain(200);
  });

  it('`times` makes a rule apply to the next N matching requests only', async () => {
    sim.setFaults({ rules: [{ match: { method: 'GET', route: ROLES }, errorRate: 1, times: 2 }] });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await sim.api().get(ROLES)).status);
    // A non-matching request does not use up the rule.
    expect((await sim.api().get('/v3/self')).status).toBe(200);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('a route without the version prefix matches both /v3 and /v3beta1', async () => {
    sim.setFaults({ rules: [{ match: { route: '/enterprise/roles' }, errorRate: 1 }] });
    expect((await sim.api().get('/v3/enterprise/roles')).status).toBe(503);
    expect((await sim.api().get('/v3beta1/enterprise/roles')).status).toBe(503);
    expect((await sim.api().get('/v3/enterprise/idp-groups')).status).toBe(200);
    sim.setFaults({ rules: [{ match: { route: '/v3/enterprise/members/users/{user_id}' }, errorRate: 1 }] });
    expect((await sim.api().get(`${USERS}/anyone`)).status).toBe(503);
    expect((await sim.api().get(USERS)).status).toBe(200);
  });
});

describe('dropped connections', () => {
  it('dropRate 1: the fetch fails, nothing is applied, the log says dropped-before-apply', async () => {
    sim.setFaults({ rules: [{ match: { method: 'POST', route: USERS }, dropRate: 1 }] });
    await expect(sim.api().post(USERS, invite('dropped@corp.example'))).rejects.toThrow();
    expect(exists('dropped@corp.example')).toBe(false);
    expect(sim.requests()).toEqual([
      expect.objectContaining({
        method: 'POST',
        route: USERS,
        status: null,
        outcome: 'dropped-before-apply',
        applied: false,
        effectful: true,
      }),
    ]);
  });

  it('dropAfterApplyRate 1: the fetch fails but the write happened, and the log says so', async () => {
    sim.setFaults({ rules: [{ match: { method: 'POST' }, dropAfterApplyRate: 1, times: 1 }] });
    await expect(sim.api().post(USERS, invite('applied@corp.example'))).rejects.toThrow();
    expect(exists('applied@corp.example')).toBe(true);
    const [entry] = sim.requests();
    expect(entry).toMatchObject({
      status: null,
      outcome: 'dropped-after-apply',
      applied: true,
      effectful: true,
    });
    // The rule expired: a retry now gets the honest answer (409, already a member) and applies nothing.
    const retry = await sim.api().post(USERS, invite('applied@corp.example'));
    expect(retry.status).toBe(409);
    expect(sim.requests().at(-1)).toMatchObject({ status: 409, outcome: 'rejected', applied: false });
  });

  it('the server keeps serving other connections after drops', async () => {
    sim.setFaults({ rules: [{ match: { method: 'GET', route: ROLES }, dropRate: 1, times: 3 }] });
    for (let i = 0; i < 3; i++) await expect(sim.api().get(ROLES)).rejects.toThrow();
    const ok = await sim.api().get<{ items: unknown[] }>(ROLES);
    expect(ok.status).toBe(200);
    expect(ok.body.items.length).toBe(6);
  });
});

describe('request log', () => {
  it('records every request with template, path, status and outcome; counts() aggregates', async () => {
    sim.clearRequests();
    const ada = sim.dump().users[0] as { user_id: string };
    await sim.api().get(`${USERS}/${ada.user_id}`);
    await sim.api().get(`${USERS}/${ada.user_id}`);
    await sim.api().patch<UserOut>(`${USERS}/${ada.user_id}`, { role_id: 'account_admin' });
    await sim.api().get('/v3/nowhere');
    await api(sim.url, null).get(ROLES);
    const log: RequestLogEntry[] = sim.requests();
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(log[0]).toMatchObject({
      method: 'GET',
      route: '/v3/enterprise/members/users/{user_id}',
      path: `${USERS}/${ada.user_id}`,
      status: 200,
      outcome: 'ok',
      applied: false,
      effectful: false,
    });
    expect(log[2]).toMatchObject({ method: 'PATCH', effectful: true, applied: false, status: 200 });
    expect(log[3]).toMatchObject({ route: '(unmatched)', status: 404, outcome: 'rejected' });
    expect(log[4]).toMatchObject({ status: 401, outcome: 'rejected' });
    expect(sim.counts()).toEqual({
      'GET /v3/enterprise/members/users/{user_id}': 2,
      'PATCH /v3/enterprise/members/users/{user_id}': 1,
      'GET (unmatched)': 1,
      'GET /v3/enterprise/roles': 1,
    });
    for (const e of log) expect(e.at).toBeGreaterThan(Date.now() - 60_000);
    sim.clearRequests();
    expect(sim.requests()).toEqual([]);
    expect(sim.counts()).toEqual({});
  });

  it('reset() restores the original seed and clears the log; faults survive it', async () => {
    await sim.api().post(USERS, invite('temp@corp.example'));
    sim.setFaults({ rules: [{ match: { route: ROLES }, errorRate: 1 }] });
    sim.reset();
    expect(exists('temp@corp.example')).toBe(false);
    expect(sim.requests()).toEqual([]);
    expect((await sim.api().get(ROLES)).status).toBe(503);
  });
});

// The simulator's hidden rate limit: a token bucket over every API request, answered 429 with
// Retry-After in seconds and a ProblemDetail beyond it, counted apart from the fault rules; set
// programmatically, over the admin routes, and from the CLI.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { DEMO_TOKEN, type Problem, startTestSimulator, type TestSimulator } from '../support/simulator.js';

describe('the hidden rate limit', () => {
  let sim: TestSimulator;

  beforeAll(async () => {
    sim = await startTestSimulator({ admin: true, rateLimit: { requestsPerSecond: 2, burst: 3 } });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('lets the burst through, then answers 429 with Retry-After in whole seconds and a ProblemDetail', async () => {
    sim.setRateLimit({ requestsPerSecond: 2, burst: 3 });
    sim.clearRequests();
    const api = sim.api();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await api.get<Problem>('/v3/enterprise/roles'));
    expect(answers.slice(0, 3).map((a) => a.status)).toEqual([200, 200, 200]);
    const refused = answers.find((a) => a.status === 429);
    expect(refused).toBeDefined();
    expect(refused?.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(refused?.headers.get('content-type')).toMatch(/application\/json/);
    expect(refused?.body).toMatchObject({ type: 'about:blank', status: 429, title: 'Too Many Requests' });
    expect(refused?.body.detail).toMatch(/rate limit/i);
    // Counted on its own, and in the request log as rate-limited.
    const stats = sim.rateLimitStats();
    expect(stats.limit).toEqual({ requestsPerSecond: 2, burst: 3 });
    expect(stats.admitted + stats.limited).toBe(5);
    expect(stats.limited).toBe(answers.filter((a) => a.status === 429).length);
    const logged = sim.requests().filter((r) => r.outcome === 'rate-limited');
    expect(logged).toHaveLength(stats.limited);
    expect(logged.every((r) => r.status === 429)).toBe(true);
  });

  it('refills at the rate: a client that waits Retry-After gets through', async () => {
    sim.setRateLimit({ requestsPerSecond: 2, burst: 1 });
    const api = sim.api();
    expect((await api.get('/v3/enterprise/roles')).status).toBe(200);
    const refused = await api.get('/v3/enterprise/roles');
    expect(refused.status).toBe(429);
    const seconds = Number(refused.headers.get('retry-after'));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    expect((await api.get('/v3/enterprise/roles')).status).toBe(200);
  });

  it('comes before the fault rules, and stays when they are replaced', async () => {
    sim.setRateLimit({ requestsPerSecond: 1, burst: 1 });
    sim.setFaults({ rules: [{ errorRate: 1, errorStatus: 503 }] });
    const api = sim.api();
    expect((await api.get('/v3/enterprise/roles')).status).toBe(503);
    expect((await api.get('/v3/enterprise/roles')).status).toBe(429);
    sim.setFaults({ rules: [] });
    expect((await api.get('/v3/enterprise/roles')).status).toBe(429);
    expect(sim.rateLimitStats().limited).toBe(2);
  });

  it('is read and set over /_sim/rate-limit (null removes it), which it never limits', async () => {
    const admin = sim.api(null);
    const set = await admin.request('PUT', '/_sim/rate-limit', { requestsPerSecond: 1, burst: 1 });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ limit: { requestsPerSecond: 1, burst: 1 }, admitted: 0, limited: 0 });
    const api = sim.api();
    await api.get('/v3/enterprise/roles');
    await api.get('/v3/enterprise/roles');
    for (let i = 0; i < 5; i++) expect((await admin.get('/_sim/rate-limit')).status).toBe(200);
    expect((await admin.get('/_sim/rate-limit')).body).toMatchObject({ admitted: 1, limited: 1 });
    expect((await admin.request('PUT', '/_sim/rate-limit', { requestsPerSecond: 0 })).status).toBe(422);
    const off = await admin.request('PUT', '/_sim/rate-limit', null);
    expect(off.body).toMatchObject({ limit: null });
    for (let i = 0; i < 5; i++) expect((await api.get('/v3/enterprise/roles')).status).toBe(200);
  });
});

describe('idsync simulator --rate-limit', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('starts with the hidden limit', async () => {
    child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'simulator',
        '--admin',
        '--rate-limit',
        '3',
        '--rate-burst',
        '2',
      ],
      { cwd: ROOT, env: { ...process.env, IDSYNC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /IDSYNC_SIMULATOR_URL=(\S+)/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child?.on('exit', (code) => reject(new Error(`simulator exited with ${code}: ${out}`)));
    });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${url}/v3/enterprise/roles`, {
        headers: { authorization: `Bearer ${DEMO_TOKEN}` },
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses).toContain(429);
    const stats = await (await fetch(`${url}/_sim/rate-limit`)).json();
    expect(stats).toMatchObject({ limit: { requestsPerSecond: 3, burst: 2 } });
  });
});

// Probes, /metrics and /api/runs over real HTTP, and the log scanned for the secrets the requests
// carried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/server/index.js';
import { FakeRunService, startServer, type TestServer } from '../support/fakeRunService.js';

const ADMIN_TOKEN = 'adm_tok_5c1f0e9d8b7a';
const WEBHOOK_SECRET = 'whsec_api_test_77aa';
const CLIENT_STATE = 'gcs_api_test_19b3';

async function call(
  s: TestServer,
  method: string,
  path: string,
  opts: { token?: string | null; headers?: Record<string, string>; body?: unknown } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(s.url + path, {
    method,
    headers,
    body:
      opts.body === undefined
        ? undefined
        : typeof opts.body === 'string'
          ? opts.body
          : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

/** Sample value of a series in the Prometheus text format, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('probes', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.close());

  it('/healthz is 200 while the process lives', async () => {
    const res = await call(s, 'GET', '/healthz', { token: null });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz follows runs.ready(): 200, 503 when not ready, 503 when it throws or hangs', async () => {
    let res = await call(s, 'GET', '/readyz', { token: null });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { redis: true, config: true } });

    s.runs.readiness = { ready: false, checks: { redis: false, config: true } };
    res = await call(s, 'GET', '/readyz', { token: null });
    expect(res.status).toBe(503);
    expect(res.json()).toEqual({ status: 'not-ready', checks: { redis: false, config: true } });

    const original = s.runs.ready.bind(s.runs);
    s.runs.ready = () => Promise.reject(new Error('ECONNREFUSED 10.0.0.7:6379'));
    res = await call(s, 'GET', '/readyz', { token: null });
    expect(res.status).toBe(503);
    expect(res.text).not.toContain('10.0.0.7');

    s.runs.ready = () => new Promise(() => {});
    const started = Date.now();
    res = await call(s, 'GET', '/readyz', { token: null });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    s.runs.ready = original;
  });

  it('unknown routes are JSON 404s', async () => {
    const res = await call(s, 'GET', '/nope?x=1', { token: null });
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no such route' });
  });
});

describe('/metrics', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.close());

  const scrape = async () => {
    const res = await call(s, 'GET', '/metrics', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text;
  };

  it('serves every idsync_ metric of docs/design.md §9 and the process defaults, in a parseable text format', async () => {
    const text = await scrape();
    for (const [name, type] of [
      ['idsync_runs_total', 'counter'],
      ['idsync_phase_duration_seconds', 'histogram'],
      ['idsync_ops_total', 'counter'],
      ['idsync_plan_ops', 'gauge'],
      ['idsync_guardrail_blocks_total', 'counter'],
      ['idsync_source_objects', 'gauge'],
      ['idsync_devin_requests_total', 'counter'],
      ['idsync_last_success_timestamp_seconds', 'gauge'],
      ['idsync_webhook_to_converged_seconds', 'histogram'],
      ['idsync_process_cpu_user_seconds_total', 'counter'],
      ['idsync_process_resident_memory_bytes', 'gauge'],
      ['idsync_nodejs_eventloop_lag_seconds', 'gauge'],
    ] as const) {
      expect(text, name).toContain(`# TYPE ${name} ${type}\n`);
      expect(text, name).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    // Every sample line: name, optional labels, a float as Go's ParseFloat (Prometheus) reads it,
    // where NaN and Inf are case-insensitive (prom-client writes an unset summary as `Nan`).
    const sampleLine =
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|nan|[+-]inf)$/i;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(sampleLine);
    }
    expect(sample(text, 'idsync_runs_total{trigger="webhook",outcome="failed"}')).toBe(0);
  });

  it('moves when the run machinery reports through DaemonMetrics', async () => {
    const m = s.metrics;
    m.runFinished('webhook', 'succeeded');
    m.runFinished('webhook', 'succeeded');
    m.runFinished('schedule', 'partial');
    m.phaseDuration('plan', 1.5);
    m.phaseDuration('apply', 12);
    m.opSettled('inviteUsers', 'applied');
    m.opSettled('inviteUsers', 'applied');
    m.opSettled('removeUser', 'failed');
    m.planSize(42);
    m.guardrailBlocked();
    m.sourceObjects(10_000, 1_000);
    m.devinRequest('GET /v3/enterprise/members/users', 200);
    m.devinRequest('GET /v3/enterprise/members/users', 429);
    m.devinRequest('POST /v3/enterprise/members/users', 'network');
    m.lastSuccess(1_750_000_000);
    m.webhookToConverged(4.2);
    m.webhookToConverged(Number.NaN);
    m.planSize(-1);

    const text = await scrape();
    expect(sample(text, 'idsync_runs_total{trigger="webhook",outcome="succeeded"}')).toBe(2);
    expect(sample(text, 'idsync_runs_total{trigger="schedule",outcome="partial"}')).toBe(1);
    expect(sample(text, 'idsync_phase_duration_seconds_count{phase="plan"}')).toBe(1);
    expect(sample(text, 'idsync_phase_duration_seconds_sum{phase="apply"}')).toBe(12);
    expect(sample(text, 'idsync_phase_duration_seconds_bucket{le="2.5",phase="plan"}')).toBe(1);
    expect(sample(text, 'idsync_ops_total{kind="inviteUsers",outcome="applied"}')).toBe(2);
    expect(sample(text, 'idsync_ops_total{kind="removeUser",outcome="failed"}')).toBe(1);
    expect(sample(text, 'idsync_plan_ops')).toBe(42);
    expect(sample(text, 'idsync_guardrail_blocks_total')).toBe(1);
    expect(sample(text, 'idsync_source_objects{kind="users"}')).toBe(10_000);
    expect(sample(text, 'idsync_source_objects{kind="groups"}')).toBe(1_000);
    expect(
      sample(text, 'idsync_devin_requests_total{route="GET /v3/enterprise/members/users",status="429"}'),
    ).toBe(1);
    expect(
      sample(text, 'idsync_devin_requests_total{route="POST /v3/enterprise/members/users",status="network"}'),
    ).toBe(1);
    expect(sample(text, 'idsync_last_success_timestamp_seconds')).toBe(1_750_000_000);
    expect(sample(text, 'idsync_webhook_to_converged_seconds_count')).toBe(1);
    expect(sample(text, 'idsync_webhook_to_converged_seconds_bucket{le="5"}')).toBe(1);
  });
});

describe('/api/runs', () => {
  let s: TestServer;
  let awaiting: string;
  let succeeded: string;
  let queued: string;
  beforeAll(async () => {
    const runs = new FakeRunService();
    awaiting = runs.add({ status: 'awaiting-approval', trigger: 'schedule' }).id;
    succeeded = runs.add({ status: 'succeeded', trigger: 'webhook', reason: 'hr' }).id;
    queued = runs.add({ status: 'queued' }).id;
    runs.reports.set(succeeded, {
      md: '# Plan\n\n- invite alice@corp.example\n',
      json: '{"version":1,"ops":[]}',
      html: '<!doctype html><title>Plan</title>',
    });
    s = await startServer({ runs, server: { adminToken: ADMIN_TOKEN } });
  });
  afterAll(() => s.close());

  it('refuses a missing, wrong or non-bearer token with 401 and a Bearer challenge', async () => {
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`;
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${ADMIN_TOKEN}x` },
      { authorization: ADMIN_TOKEN },
      { authorization: basic },
    ];
    for (const headers of attempts) {
      const res = await call(s, 'GET', '/api/runs', { token: null, headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="idsync"');
      expect(res.json()).toEqual({ error: 'unauthorized', message: 'missing or wrong admin token' });
    }
    for (const path of [`/api/runs/${succeeded}`, `/api/runs/${succeeded}/report.md`]) {
      expect((await call(s, 'GET', path, { token: null })).status).toBe(401);
    }
    expect((await call(s, 'POST', '/api/runs', { token: 'wrong', body: {} })).status).toBe(401);
    expect((await call(s, 'POST', `/api/runs/${awaiting}/approve`, { token: 'wrong' })).status).toBe(401);
    expect(s.runs.triggers).toEqual([]);
    expect(s.runs.approvals).toEqual([]);
    // The scheme is case-insensitive.
    expect(
      (
        await call(s, 'GET', '/api/runs', {
          token: null,
          headers: { authorization: `bearer ${ADMIN_TOKEN}` },
        })
      ).status,
    ).toBe(200);
  });

  it('lists runs newest first, honouring ?limit=', async () => {
    const res = await call(s, 'GET', '/api/runs');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const all = res.json().runs as Array<{ id: string }>;
    expect(all.map((r) => r.id)).toEqual([queued, succeeded, awaiting]);
    const limited = (await call(s, 'GET', '/api/runs?limit=1')).json().runs as Array<{ id: string }>;
    expect(limited.map((r) => r.id)).toEqual([queued]);
    for (const bad of ['0', 'abc', '-1', '1.5', '100000']) {
      const r = await call(s, 'GET', `/api/runs?limit=${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.json().error).toBe('bad_request');
    }
  });

  it('gets one run, 404 for an unknown id', async () => {
    const res = await call(s, 'GET', `/api/runs/${succeeded}`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: succeeded, status: 'succeeded', reason: 'hr' });
    const missing = await call(s, 'GET', '/api/runs/run-999');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no run run-999' });
  });

  it('serves reports with their content types, 404 when there is none', async () => {
    const md = await call(s, 'GET', `/api/runs/${succeeded}/report.md`);
    expect(md.status).toBe(200);
    expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(md.text).toBe('# Plan\n\n- invite alice@corp.example\n');
    const json = await call(s, 'GET', `/api/runs/${succeeded}/report.json`);
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(json.json()).toEqual({ version: 1, ops: [] });
    const html = await call(s, 'GET', `/api/runs/${succeeded}/report.html`);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html.text).toContain('<title>Plan</title>');

    const none = await call(s, 'GET', `/api/runs/${queued}/report.html`);
    expect(none.status).toBe(404);
    expect(none.json()).toEqual({ error: 'not_found', message: `run ${queued} has no report yet` });
    expect((await call(s, 'GET', '/api/runs/run-999/report.md')).json().message).toBe('no run run-999');
    expect((await call(s, 'GET', `/api/runs/${succeeded}/report.pdf`)).status).toBe(404);
  });

  it('POST /api/runs asks for an api run: 202 with the run id and its location', async () => {
    const res = await call(s, 'POST', '/api/runs', { body: { reason: 'after the reorg' } });
    expect(res.status).toBe(202);
    const body = res.json();
    expect(body).toEqual({ runId: expect.any(String), coalesced: false });
    expect(res.headers.get('location')).toBe(`/api/runs/${body.runId}`);
    const bare = await call(s, 'POST', '/api/runs');
    expect(bare.status).toBe(202);
    expect(bare.json()).toEqual({ runId: body.runId, coalesced: true });
    expect(s.runs.triggers).toEqual([{ trigger: 'api', reason: 'after the reorg' }, { trigger: 'api' }]);

    for (const bad of ['{"reason":', '{"reason":1}', '[]']) {
      const r = await call(s, 'POST', '/api/runs', { body: bad });
      expect(r.status, bad).toBe(400);
      expect(r.json().error).toBe('bad_request');
    }
    expect(s.runs.triggers).toHaveLength(2);
  });

  it('approve and reject record the bearer as "admin-token", whatever X-Idsync-Actor claims, with the comment', async () => {
    const runs = s.runs;
    const res = await call(s, 'POST', `/api/runs/${awaiting}/approve`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: awaiting, status: 'applying', approvedBy: 'admin-token' });
    expect(res.json()).not.toHaveProperty('approvalComment');

    const other = runs.add({ status: 'awaiting-approval' }).id;
    const claimed = await call(s, 'POST', `/api/runs/${other}/approve`, {
      headers: { 'x-idsync-actor': 'alice@corp.example' },
      body: { comment: '  reviewed in CHG-4711  ' },
    });
    expect(claimed.status).toBe(200);
    expect(runs.approvals.at(-1)).toEqual({ id: other, by: 'admin-token', comment: 'reviewed in CHG-4711' });
    expect(claimed.json()).toMatchObject({
      approvedBy: 'admin-token',
      approvalComment: 'reviewed in CHG-4711',
    });

    const third = runs.add({ status: 'awaiting-approval' }).id;
    const rejected = await call(s, 'POST', `/api/runs/${third}/reject`, {
      body: { comment: 'not during the freeze' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.json()).toMatchObject({
      id: third,
      status: 'rejected',
      rejectedBy: 'admin-token',
      rejectionComment: 'not during the freeze',
      rejectedAt: expect.any(String),
    });
    expect((await call(s, 'POST', `/api/runs/${third}/reject`)).status).toBe(409);
    expect((await call(s, 'POST', `/api/runs/${third}/approve`)).status).toBe(409);
    expect((await call(s, 'POST', '/api/runs/run-999/reject')).status).toBe(404);
    expect((await call(s, 'POST', `/api/runs/${third}/reject`, { token: 'wrong' })).status).toBe(401);

    const fourth = runs.add({ status: 'awaiting-approval' }).id;
    for (const bad of [
      '{"comment":1}',
      '{"comment":"a\\u0007b"}',
      '{"by":"alice"}',
      JSON.stringify({ comment: 'x'.repeat(2001) }),
    ]) {
      const r = await call(s, 'POST', `/api/runs/${fourth}/approve`, { body: bad });
      expect(r.status, bad).toBe(400);
    }
    expect(runs.runs.get(fourth)?.status).toBe('awaiting-approval');

    const metrics = await call(s, 'GET', '/metrics', { token: null });
    expect(sample(metrics.text, 'idsync_approvals_total{decision="approved",auth="admin-token"}')).toBe(2);
    expect(sample(metrics.text, 'idsync_approvals_total{decision="rejected",auth="admin-token"}')).toBe(1);
    expect(sample(metrics.text, 'idsync_approvals_total{decision="approved",auth="oidc"}')).toBe(0);
  });

  it('maps RunNotFoundError to 404 and RunStateError to 409 with its message', async () => {
    const missing = await call(s, 'POST', '/api/runs/run-999/approve');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no run run-999' });
    const wrongState = await call(s, 'POST', `/api/runs/${succeeded}/approve`);
    expect(wrongState.status).toBe(409);
    expect(wrongState.json()).toEqual({
      error: 'conflict',
      message: `run ${succeeded} is succeeded, not awaiting approval`,
    });
  });

  it('hides internal errors behind a generic 500', async () => {
    const original = s.runs.list.bind(s.runs);
    s.runs.list = () => Promise.reject(new Error('WRONGTYPE Operation against a key at idsync:runs'));
    const res = await call(s, 'GET', '/api/runs');
    s.runs.list = original;
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal error' });
  });
});

describe('without an admin token', () => {
  it('/api and /admin answer 404', async () => {
    const s = await startServer({ server: {} });
    try {
      for (const path of ['/api/runs', '/api/runs/run-1', '/admin/queues', '/admin/queues/']) {
        const res = await call(s, 'GET', path, { token: 'anything' });
        expect(res.status, path).toBe(404);
      }
      expect((await call(s, 'POST', '/api/runs', { body: {} })).status).toBe(404);
      expect(s.runs.triggers).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('the log', () => {
  it('never contains the admin token, the webhook secret or signature, or the Graph clientState', async () => {
    const s = await startServer({
      server: { adminToken: ADMIN_TOKEN, webhookSecret: WEBHOOK_SECRET, graphClientState: CLIENT_STATE },
      logLevel: 'trace',
    });
    const basic = Buffer.from(`someone:${ADMIN_TOKEN}`).toString('base64');
    const body = JSON.stringify({ reason: 'log scan' });
    const signature = signWebhook(WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000));
    try {
      await call(s, 'GET', '/api/runs');
      await call(s, 'POST', '/api/runs', { body: { reason: 'x' } });
      await call(s, 'GET', '/api/runs', { token: `${ADMIN_TOKEN}-wrong` });
      await call(s, 'GET', '/admin/queues/', { token: null, headers: { authorization: `Basic ${basic}` } });
      await call(s, 'GET', '/admin/queues/', { token: null });
      const post = (b: string, headers: Record<string, string>) =>
        fetch(`${s.url}/webhooks/resync`, { method: 'POST', body: b, headers });
      expect(
        (await post(body, { 'content-type': 'application/json', 'x-idsync-signature': signature })).status,
      ).toBe(202);
      await post(body, { 'content-type': 'application/json', 'x-idsync-signature': signature }); // replay
      await post('{"reason":', {
        'content-type': 'application/json',
        'x-idsync-signature': signWebhook(WEBHOOK_SECRET, '{"reason":', Math.floor(Date.now() / 1000)),
      });
      const graph = (state: string) =>
        fetch(`${s.url}/webhooks/graph`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ value: [{ clientState: state, resource: 'Users/1' }] }),
        });
      expect((await graph(CLIENT_STATE)).status).toBe(202);
      expect((await graph(`${CLIENT_STATE}-forged`)).status).toBe(401);
      s.runs.triggerError = new Error('enqueue failed');
      expect((await graph(CLIENT_STATE)).status).toBe(503);
    } finally {
      await s.close();
    }
    const log = s.logText();
    // The scan means something only if the requests were logged at all.
    expect(log).toContain('"path":"/api/runs"');
    expect(log).toContain('"path":"/webhooks/resync"');
    expect(log).toContain('"path":"/webhooks/graph"');
    for (const secret of [
      ADMIN_TOKEN,
      basic,
      WEBHOOK_SECRET,
      signature,
      signature.split('v1=')[1] ?? '?',
      CLIENT_STATE,
    ]) {
      expect(log).not.toContain(secret);
    }
  });
});

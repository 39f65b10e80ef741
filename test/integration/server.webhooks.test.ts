// The two webhooks over real HTTP: every refusal leaves the run service untouched, and the accepted
// ones ask for exactly one run each.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/server/index.js';
import { type StartOptions, startServer, type TestServer } from '../support/fakeRunService.js';

const SECRET = 'whsec_test_3f9a1c2e7b';
const CLIENT_STATE = 'graph-client-state-8d2e41';
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface Sent {
  status: number;
  headers: Headers;
  text: string;
  json(): unknown;
}

async function post(url: string, body: string | undefined, headers: Record<string, string>): Promise<Sent> {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('POST /webhooks/resync', () => {
  let s: TestServer;
  beforeEach(async () => {
    s = await startServer({ server: { webhookSecret: SECRET } });
  });
  afterEach(() => s.close());

  const resync = (body: string, signature: string | undefined, contentType = 'application/json') =>
    post(`${s.url}/webhooks/resync`, body, {
      'content-type': contentType,
      ...(signature === undefined ? {} : { 'x-idsync-signature': signature }),
    });
  const signed = (body: string, t = nowSeconds()) => resync(body, signWebhook(SECRET, body, t));

  it('accepts a good signature with 202 and asks for exactly one run', async () => {
    const before = Date.now();
    const res = await signed(JSON.stringify({ reason: 'hr: alice joined platform' }));
    expect(res.status).toBe(202);
    expect(res.json()).toEqual({ runId: 'run-1', coalesced: false });
    expect(s.runs.triggers).toHaveLength(1);
    const t = s.runs.triggers[0];
    expect(t?.trigger).toBe('webhook');
    expect(t?.reason).toBe('hr: alice joined platform');
    expect(t?.receivedAt).toBeGreaterThanOrEqual(before);
    expect(t?.receivedAt).toBeLessThanOrEqual(Date.now());
  });

  it('accepts an empty body (no reason) and charset parameters', async () => {
    const res = await signed('');
    expect(res.status).toBe(202);
    const res2 = await resync(
      '{}',
      signWebhook(SECRET, '{}', nowSeconds()),
      'application/json; charset=utf-8',
    );
    expect(res2.status).toBe(202);
    expect(s.runs.triggers.map((t) => t.reason)).toEqual([undefined, undefined]);
  });

  it('refuses a bad signature, a stale or future timestamp, a missing or malformed header: 401', async () => {
    const body = JSON.stringify({ reason: 'x' });
    const t = nowSeconds();
    const cases: Array<[string | undefined, RegExp]> = [
      [signWebhook('not-the-secret', body, t), /does not match/],
      [signWebhook(SECRET, `${body} `, t), /does not match/],
      // Well past the 300 s window either way, so a slow machine cannot bring them back inside it.
      [signWebhook(SECRET, body, t - 400), /old/],
      [signWebhook(SECRET, body, t + 400), /future/],
      [undefined, /missing/],
      ['', /missing/],
      [`t=${t}`, /malformed/],
      [`t=${t},v1=abc`, /malformed/],
      [`v1=${'0'.repeat(64)}`, /malformed/],
      [`t=${t},t=${t},v1=${'0'.repeat(64)}`, /malformed/],
    ];
    for (const [signature, message] of cases) {
      const res = await resync(body, signature);
      expect(res.status, String(signature)).toBe(401);
      expect(res.json()).toEqual({ error: 'unauthorized', message: expect.stringMatching(message) });
    }
    expect(s.runs.triggers).toEqual([]);
  });

  it('accepts a timestamp just inside the window', async () => {
    expect((await signed('{"reason":"a"}', nowSeconds() - 290)).status).toBe(202);
    expect((await signed('{"reason":"b"}', nowSeconds() + 290)).status).toBe(202);
  });

  it('refuses a replayed body and signature: 401, one run only', async () => {
    const body = JSON.stringify({ reason: 'once' });
    const signature = signWebhook(SECRET, body, nowSeconds());
    expect((await resync(body, signature)).status).toBe(202);
    const again = await resync(body, signature);
    expect(again.status).toBe(401);
    expect(again.json()).toMatchObject({ message: expect.stringMatching(/already used/) });
    // The same copy sent concurrently: exactly one of them gets through.
    const body2 = JSON.stringify({ reason: 'twice at once' });
    const sig2 = signWebhook(SECRET, body2, nowSeconds());
    const both = await Promise.all([resync(body2, sig2), resync(body2, sig2)]);
    expect(both.map((r) => r.status).sort()).toEqual([202, 401]);
    expect(s.runs.triggers).toHaveLength(2);
  });

  it('refuses a body over 1 MiB with 413, even when signed', async () => {
    const body = JSON.stringify({ reason: 'big', pad: 'x'.repeat(1024 * 1024) });
    const res = await signed(body);
    expect(res.status).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(s.runs.triggers).toEqual([]);
  });

  it('refuses a content type other than JSON with 415, even when signed', async () => {
    const body = JSON.stringify({ reason: 'x' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      const res = await resync(body, signWebhook(SECRET, body, nowSeconds()), type);
      expect(res.status, type).toBe(415);
      expect(res.json()).toMatchObject({ error: 'unsupported_media_type' });
    }
    const none = await fetch(`${s.url}/webhooks/resync`, {
      method: 'POST',
      headers: { 'x-idsync-signature': signWebhook(SECRET, '', nowSeconds()) },
    });
    expect(none.status).toBe(415);
    expect(s.runs.triggers).toEqual([]);
  });

  it('refuses signed bodies that are not JSON or carry a bad reason: 400', async () => {
    for (const body of [
      '{"reason":',
      '[1,2]',
      '"x"',
      '{"reason":5}',
      '{"reason":""}',
      '{"reason":"a\\u0000b"}',
    ]) {
      const res = await signed(body);
      expect(res.status, body).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad_request' });
      // The client's bytes are not echoed into the error.
      expect(res.text).not.toContain('"reason":');
    }
    expect(s.runs.triggers).toEqual([]);
  });

  it('answers 503 when the run service fails, and the same request may then be retried', async () => {
    const body = JSON.stringify({ reason: 'retry me' });
    const signature = signWebhook(SECRET, body, nowSeconds());
    s.runs.triggerError = new Error('redis down');
    const failed = await resync(body, signature);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(failed.text).not.toContain('redis down');
    s.runs.triggerError = undefined;
    expect((await resync(body, signature)).status).toBe(202);
  });

  it('answers 100 signed calls sent at once, all with 202, coalesced into one run', async () => {
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => signed(JSON.stringify({ reason: `change ${i}` }))),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(202));
    expect(s.runs.triggers).toHaveLength(100);
    // What the server relays from the service: one new run, the rest joined it.
    const bodies = responses.map((r) => r.json() as { runId: string; coalesced: boolean });
    expect(new Set(bodies.map((b) => b.runId)).size).toBe(1);
    expect(bodies.filter((b) => !b.coalesced)).toHaveLength(1);
  });

  it('is counted by outcome in /metrics', async () => {
    await signed('{}');
    await resync('{}', 'garbage');
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain('idsync_webhook_requests_total{hook="resync",outcome="accepted"} 1');
    expect(text).toContain('idsync_webhook_requests_total{hook="resync",outcome="unauthorized"} 1');
  });
});

describe('the signature window', () => {
  it("is measured against the server's clock (deps.now)", async () => {
    const fixed = 1_700_000_000_000;
    const s = await startServer({ server: { webhookSecret: SECRET }, now: () => fixed });
    try {
      const send = (t: number) =>
        post(`${s.url}/webhooks/resync`, '{}', {
          'content-type': 'application/json',
          'x-idsync-signature': signWebhook(SECRET, '{}', t),
        });
      expect((await send(nowSeconds())).status).toBe(401);
      expect((await send(fixed / 1000 - 299)).status).toBe(202);
      expect(s.runs.triggers).toEqual([{ trigger: 'webhook', reason: undefined, receivedAt: fixed }]);
    } finally {
      await s.close();
    }
  });
});

describe('POST /webhooks/graph', () => {
  let s: TestServer;
  beforeEach(async () => {
    s = await startServer({ server: { graphClientState: CLIENT_STATE } });
  });
  afterEach(() => s.close());

  const notify = (items: Array<Record<string, unknown>>) =>
    post(`${s.url}/webhooks/graph`, JSON.stringify({ value: items }), { 'content-type': 'application/json' });
  const item = (clientState: string | undefined) => ({
    subscriptionId: 'a3b1c2d4-0000-4000-8000-000000000001',
    changeType: 'updated',
    resource: 'Users/11111111-2222-3333-4444-555555555555',
    ...(clientState === undefined ? {} : { clientState }),
  });

  it('echoes the decoded validationToken as text/plain, without auth, well within 10 s', async () => {
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 1+2 &x';
    const started = Date.now();
    const res = await post(`${s.url}/webhooks/graph?validationToken=${encodeURIComponent(token)}`, '', {
      'content-type': 'text/plain; charset=utf-8',
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toBe(token);
    // Also with no body and no content type at all.
    const bare = await fetch(`${s.url}/webhooks/graph?validationToken=abc%20def`, { method: 'POST' });
    expect(bare.status).toBe(200);
    expect(await bare.text()).toBe('abc def');
    expect(s.runs.triggers).toEqual([]);
  });

  it('refuses a notification whose clientState does not match: 401, nothing triggered', async () => {
    for (const items of [[item('wrong')], [item(undefined)], [item(CLIENT_STATE), item('forged')]]) {
      const res = await notify(items);
      expect(res.status).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthorized' });
    }
    expect(s.runs.triggers).toEqual([]);
  });

  it('refuses a body that is not a notification: 400', async () => {
    for (const body of ['not json', '{}', '{"value":[]}', '{"value":[{"clientState":7}]}']) {
      const res = await post(`${s.url}/webhooks/graph`, body, { 'content-type': 'application/json' });
      expect(res.status, body).toBe(400);
    }
    expect(s.runs.triggers).toEqual([]);
  });

  it('answers a genuine notification with 202 quickly and asks for one graph run', async () => {
    const started = Date.now();
    const res = await notify([item(CLIENT_STATE), item(CLIENT_STATE)]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(202);
    expect(s.runs.triggers).toHaveLength(1);
    expect(s.runs.triggers[0]).toMatchObject({ trigger: 'graph', receivedAt: expect.any(Number) });
  });

  it('answers within 3 s even when the enqueue hangs (503, so Graph redelivers)', async () => {
    s.runs.triggerDelayMs = 6000;
    const started = Date.now();
    const res = await notify([item(CLIENT_STATE)]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(503);
  });
});

describe('POST /webhooks/graph with subscriptions idsync manages', () => {
  const OURS = 'b1c2d3e4-0000-4000-8000-0000000000a1';
  const THEIRS = 'b1c2d3e4-0000-4000-8000-0000000000b2';
  const OUR_STATE = 'random-per-subscription-state-5e1f';
  let s: TestServer;
  let lifecycle: Array<{ id: string; event: string; managed: boolean }>;
  let registryDelayMs: number;
  const start = (opts: StartOptions) =>
    startServer({
      ...opts,
      graph: {
        clientStates: async (ids) => {
          if (registryDelayMs > 0) await new Promise((r) => setTimeout(r, registryDelayMs));
          return new Map(ids.filter((id) => id === OURS).map((id) => [id, OUR_STATE]));
        },
        lifecycle: async (id, event, managed) => {
          lifecycle.push({ id, event, managed });
        },
      },
    });
  beforeEach(() => {
    lifecycle = [];
    registryDelayMs = 0;
  });
  afterEach(() => s.close());

  const notify = (items: Array<Record<string, unknown>>) =>
    post(`${s.url}/webhooks/graph`, JSON.stringify({ value: items }), { 'content-type': 'application/json' });
  const change = (subscriptionId: string, clientState: string | null) => ({
    subscriptionId,
    clientState,
    changeType: 'updated',
    resource: 'Groups/11111111-2222-3333-4444-555555555555',
  });

  it('checks each item against its own subscription, and the static clientState only for the others', async () => {
    s = await start({ server: { graphClientState: CLIENT_STATE } });
    expect((await notify([change(OURS, OUR_STATE)])).status).toBe(202);
    expect((await notify([change(THEIRS, CLIENT_STATE)])).status).toBe(202);
    expect((await notify([change(OURS, OUR_STATE), change(THEIRS, CLIENT_STATE)])).status).toBe(202);
    // Ours does not take the static secret, and no other subscription takes ours.
    expect((await notify([change(OURS, CLIENT_STATE)])).status).toBe(401);
    expect((await notify([change(THEIRS, OUR_STATE)])).status).toBe(401);
    expect((await notify([change(OURS, null)])).status).toBe(401);
    expect(s.runs.triggers).toHaveLength(3);
    expect(s.runs.triggers.every((t) => t.trigger === 'graph')).toBe(true);
  });

  it('is served without a static clientState, and then refuses every subscription it does not manage', async () => {
    s = await start({ server: {} });
    const token = 'a b&c';
    const hs = await post(`${s.url}/webhooks/graph?validationToken=${encodeURIComponent(token)}`, '', {});
    expect(hs.status).toBe(200);
    expect(hs.text).toBe(token);
    expect((await notify([change(THEIRS, 'anything')])).status).toBe(401);
    expect((await notify([change(OURS, OUR_STATE)])).status).toBe(202);
  });

  it('hands lifecycle events over; missed also asks for a run, the others do not', async () => {
    s = await start({ server: { graphClientState: CLIENT_STATE } });
    const event = (subscriptionId: string, clientState: string, lifecycleEvent: string) => ({
      subscriptionId,
      clientState,
      lifecycleEvent,
      resource: '/groups',
    });
    expect((await notify([event(OURS, OUR_STATE, 'reauthorizationRequired')])).status).toBe(202);
    expect((await notify([event(OURS, OUR_STATE, 'subscriptionRemoved')])).status).toBe(202);
    expect(s.runs.triggers).toEqual([]);
    expect((await notify([event(THEIRS, CLIENT_STATE, 'missed')])).status).toBe(202);
    expect(s.runs.triggers).toHaveLength(1);
    expect(s.runs.triggers[0]).toMatchObject({
      trigger: 'graph',
      reason: 'Graph missed notifications: full directory read',
    });
    expect(lifecycle).toEqual([
      { id: OURS, event: 'reauthorizationRequired', managed: true },
      { id: OURS, event: 'subscriptionRemoved', managed: true },
      { id: THEIRS, event: 'missed', managed: false },
    ]);
    // A forged lifecycle event reaches nobody.
    expect((await notify([event(OURS, 'forged', 'missed')])).status).toBe(401);
    expect(lifecycle).toHaveLength(3);
  });

  it('answers 503 within 3 s when the registry does not answer, and triggers nothing', async () => {
    s = await start({ server: {} });
    registryDelayMs = 6000;
    const started = Date.now();
    const res = await notify([change(OURS, OUR_STATE)]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(503);
    expect(s.runs.triggers).toEqual([]);
  });
});

describe('webhooks that are not configured', () => {
  it('answer 404 and trigger nothing', async () => {
    const s = await startServer({ server: {} });
    try {
      const body = '{}';
      const resync = await post(`${s.url}/webhooks/resync`, body, {
        'content-type': 'application/json',
        'x-idsync-signature': signWebhook(SECRET, body, nowSeconds()),
      });
      expect(resync.status).toBe(404);
      expect(resync.json()).toMatchObject({ error: 'not_found' });
      const graph = await post(`${s.url}/webhooks/graph`, JSON.stringify({ value: [{ clientState: 'x' }] }), {
        'content-type': 'application/json',
      });
      expect(graph.status).toBe(404);
      expect((await fetch(`${s.url}/webhooks/graph?validationToken=x`, { method: 'POST' })).status).toBe(404);
      expect(s.runs.triggers).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

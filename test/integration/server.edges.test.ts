// Issue 9: the HTTP edges. What the router and Node refuse before any route runs (a malformed
// %-escape, an over-long path segment, unparsable bytes, oversized headers) is answered in the
// app's own `{error, message}` shape, never quotes the path back, and, like every response, carries
// `X-Content-Type-Options: nosniff`. Raw sockets send what fetch would refuse to.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/fakeRunService.js';

const ADMIN = 'admin-token-edges-5b7e21c9';
const SECRET = 'whsec_edges_1a2b3c4d5e';
const CLIENT_STATE = 'graph-state-edges-77aa';

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends `request` as is and reads until the server closes (every request here says close). */
function raw(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      const split = data.indexOf('\r\n\r\n');
      const head = split === -1 ? data : data.slice(0, split);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
      if (!m) return reject(new Error(`no HTTP response: ${JSON.stringify(data.slice(0, 200))}`));
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status: Number(m[1]), headers, body: split === -1 ? '' : data.slice(split + 4) });
    });
    socket.write(request);
  });
}

const get = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;

let s: TestServer;
let port: number;
beforeAll(async () => {
  s = await startServer({
    server: { adminToken: ADMIN, webhookSecret: SECRET, graphClientState: CLIENT_STATE },
    logLevel: 'info',
  });
  port = Number(new URL(s.url).port);
});
afterAll(() => s.close());

describe("the router's and Node's refusals", () => {
  const cases: Array<{ what: string; request: string; status: number; error: string; quoted?: string }> = [
    {
      what: 'a malformed %-escape',
      request: get('/api/runs/%zz<b>'),
      status: 400,
      error: 'bad_request',
      quoted: '%zz',
    },
    {
      what: 'a truncated UTF-8 escape, no auth',
      request: get('/webhooks/%E0%A4%A'),
      status: 400,
      error: 'bad_request',
      quoted: '%E0',
    },
    {
      what: 'a path segment over the router limit',
      request: get(`/api/runs/${'q'.repeat(300)}`, `Authorization: Bearer ${ADMIN}\r\n`),
      status: 414,
      error: 'uri_too_long',
      quoted: 'qqqq',
    },
    {
      what: 'an unknown path with markup',
      request: get('/<script>alert(1)</script>'),
      status: 404,
      error: 'not_found',
      quoted: 'script',
    },
    { what: 'bytes that are not HTTP', request: 'HELLO THERE\r\n\r\n', status: 400, error: 'bad_request' },
    {
      what: 'headers over the size limit',
      request: get('/healthz', `X-Big: ${'b'.repeat(20_000)}\r\n`),
      status: 431,
      error: 'headers_too_large',
      quoted: 'bbbb',
    },
  ];

  for (const c of cases) {
    it(`${c.what}: ${c.status} in the app's shape, nothing quoted back, nosniff`, async () => {
      const res = await raw(port, c.request);
      expect(res.status).toBe(c.status);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['error', 'message']);
      expect(body.error).toBe(c.error);
      if (c.quoted) expect(res.body).not.toContain(c.quoted);
      // The router's refusals come before auth and must not tell a caller more than a 401 would.
      expect(res.body).not.toMatch(/FST_|statusCode/);
    });
  }
});

describe('GET /api/runs/ (an empty id)', () => {
  it('is a 404 in the app shape behind the token, a 401 without it', async () => {
    const res = await fetch(`${s.url}/api/runs/`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', message: 'no such run' });
    for (const path of ['/api/runs//report.md', '/api/runs//approve']) {
      const r = await fetch(`${s.url}${path}`, {
        method: path.endsWith('approve') ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(r.status, path).toBe(404);
      expect(await r.json()).toMatchObject({ error: 'not_found' });
    }
    expect((await fetch(`${s.url}/api/runs/`)).status).toBe(401);
    expect(s.runs.approvals).toEqual([]);
  });
});

describe('X-Content-Type-Options: nosniff', () => {
  it('is on every response: probes, API, reports, webhooks, errors', async () => {
    const run = s.runs.add({ status: 'awaiting-approval' });
    s.runs.reports.set(run.id, { html: '<p>r</p>', md: '# r', json: '{}' });
    const auth = { authorization: `Bearer ${ADMIN}` };
    const body = '{"reason":"edges"}';
    const t = Math.floor(Date.now() / 1000);
    const requests: Array<[string, string, RequestInit]> = [
      ['healthz', '/healthz', {}],
      ['readyz', '/readyz', {}],
      ['metrics', '/metrics', {}],
      ['list', '/api/runs', { headers: auth }],
      ['one', `/api/runs/${run.id}`, { headers: auth }],
      ['report.html', `/api/runs/${run.id}/report.html`, { headers: auth }],
      ['report.md', `/api/runs/${run.id}/report.md`, { headers: auth }],
      ['401', '/api/runs', {}],
      ['404 run', '/api/runs/nope', { headers: auth }],
      ['405-ish', '/healthz', { method: 'DELETE' }],
      [
        'webhook 202',
        '/webhooks/resync',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-idsync-signature': signWebhook(SECRET, body, t) },
          body,
        },
      ],
      [
        'webhook 415',
        '/webhooks/resync',
        { method: 'POST', headers: { 'content-type': 'text/plain' }, body },
      ],
      [
        'webhook 413',
        '/webhooks/resync',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: 'x'.repeat(1024 * 1024 + 1),
        },
      ],
      ['graph handshake', '/webhooks/graph?validationToken=abc', { method: 'POST' }],
      ['dashboard 401', '/admin/queues', {}],
    ];
    const missing: string[] = [];
    for (const [what, path, init] of requests) {
      const res = await fetch(`${s.url}${path}`, init);
      await res.arrayBuffer();
      if (res.headers.get('x-content-type-options') !== 'nosniff') missing.push(`${what} (${res.status})`);
    }
    expect(missing).toEqual([]);
  });
});

// Issue 9: slow and idle clients cannot hold the server's sockets. Raw `net` sockets on loopback
// play the clients: one that sends its headers a byte at a time (slowloris), one that uploads a
// body a byte at a time, and hundreds that connect and say nothing. The real server runs with its
// default limits (headers 5 s, whole request 10 s), except where a test sets a small cap.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_LIMITS } from '../../src/server/limits.js';
import { startServer, type TestServer } from '../support/fakeRunService.js';
import { freePort } from '../support/redis.js';

const SECRET = 'whsec_timeouts_7c1d9e2a4b';
/** Node sweeps connections every 500 ms; a loaded machine adds its own delay on top. */
const SLACK_MS = 5_000;

interface RawClient {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves with ms since connect when the server closed the connection. */
  closed: Promise<number>;
}

/** Every client a test opened, destroyed after it (a server that never cuts them must not hang the suite). */
const opened: RawClient[] = [];

function rawClient(port: number): Promise<RawClient> {
  return new Promise<RawClient>((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    // A reset is also the server letting go.
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) => socket.once('close', () => done(Date.now() - started)));
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  }).then((c) => {
    opened.push(c);
    return c;
  });
}

/** How long `closed` took, or Infinity when the server still held the socket after `limitMs`. */
function closedWithin(c: RawClient, limitMs: number): Promise<number> {
  return Promise.race([
    c.closed,
    new Promise<number>((r) => setTimeout(() => r(Number.POSITIVE_INFINITY), limitMs)),
  ]);
}

/** Writes `text` one byte every `everyMs` until the socket closes; returns how many were sent. */
function trickle(c: RawClient, text: string, everyMs: number): { sent: () => number } {
  let i = 0;
  const timer = setInterval(() => {
    if (c.socket.destroyed || !c.socket.writable || i >= text.length) return;
    c.socket.write(text[i] ?? '');
    i++;
  }, everyMs);
  void c.closed.then(() => clearInterval(timer));
  return { sent: () => i };
}

const portOf = (s: TestServer) => Number(new URL(s.url).port);

let s: TestServer | undefined;
afterEach(async () => {
  for (const c of opened.splice(0)) c.socket.destroy();
  await s?.close();
  s = undefined;
});

describe('slow clients are cut off', () => {
  it('a slowloris client (headers a byte every 100 ms) and an idle one: 408 and closed within headersTimeout', async () => {
    s = await startServer({ server: { webhookSecret: SECRET }, logLevel: 'info' });
    const port = portOf(s);
    const slow = await rawClient(port);
    // Never ends: the header block has no blank line.
    const dribble = trickle(slow, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(5000)}`, 100);
    const idle = await rawClient(port);

    const bound = DEFAULT_HTTP_LIMITS.headersTimeoutMs + SLACK_MS;
    const [slowMs, idleMs] = await Promise.all([
      closedWithin(slow, bound + 1000),
      closedWithin(idle, bound + 1000),
    ]);
    console.log(`slowloris cut after ${slowMs} ms (${dribble.sent()} bytes sent), idle after ${idleMs} ms`);
    expect(slowMs).toBeLessThan(bound);
    expect(idleMs).toBeLessThan(bound);
    // Cut because of the timeout, not at once for some other reason.
    expect(slowMs).toBeGreaterThan(DEFAULT_HTTP_LIMITS.headersTimeoutMs - 1_000);
    for (const c of [slow, idle]) {
      const text = c.received();
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(text.toLowerCase()).toContain('x-content-type-options: nosniff');
      expect(text).toContain('{"error":"request_timeout","message":"the request was not received in time"}');
    }
  });

  it('a slow body upload (a byte every 100 ms) to the webhook: cut within requestTimeout, nothing triggered', async () => {
    s = await startServer({ server: { webhookSecret: SECRET }, logLevel: 'info' });
    const c = await rawClient(portOf(s));
    const body = JSON.stringify({ reason: 'x'.repeat(400) });
    c.socket.write(
      `POST /webhooks/resync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Idsync-Signature: t=1,v1=${'0'.repeat(64)}\r\n\r\n`,
    );
    const dribble = trickle(c, body, 100);
    const ms = await closedWithin(c, DEFAULT_HTTP_LIMITS.requestTimeoutMs + SLACK_MS + 1000);
    console.log(`slow upload cut after ${ms} ms, ${dribble.sent()} of ${body.length} body bytes sent`);
    expect(ms).toBeLessThan(DEFAULT_HTTP_LIMITS.requestTimeoutMs + SLACK_MS);
    expect(ms).toBeGreaterThan(DEFAULT_HTTP_LIMITS.requestTimeoutMs - 1_000);
    expect(dribble.sent()).toBeLessThan(body.length);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(s.runs.triggers).toEqual([]);
  });
});

describe('many idle connections', () => {
  it('600 idle connections: /healthz still answers at once, and every one is closed within headersTimeout', async () => {
    s = await startServer({ logLevel: 'info' });
    const port = portOf(s);
    const clients = await Promise.all(Array.from({ length: 600 }, () => rawClient(port)));
    const started = Date.now();
    const health = await fetch(`${s.url}/healthz`);
    const healthMs = Date.now() - started;
    expect(health.status).toBe(200);
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    expect(healthMs).toBeLessThan(2_000);
    const limit = DEFAULT_HTTP_LIMITS.headersTimeoutMs + SLACK_MS + 1000;
    const closedAfter = await Promise.all(clients.map((c) => closedWithin(c, limit)));
    const slowest = Math.max(...closedAfter);
    console.log(
      `/healthz in ${healthMs} ms beside 600 idle sockets; the last one closed after ${slowest} ms`,
    );
    expect(slowest).toBeLessThan(DEFAULT_HTTP_LIMITS.headersTimeoutMs + SLACK_MS);
  });

  it('beyond maxConnections new connections are closed at once, and the probe port still answers /healthz', async () => {
    const probePort = await freePort();
    s = await startServer({
      server: {
        adminToken: 'admin-token-timeouts-3e8f',
        probePort,
        // Long enough that the holders are not cut while the test looks.
        limits: { maxConnections: 200, headersTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
      },
      logLevel: 'info',
    });
    const port = portOf(s);
    const holders = await Promise.all(Array.from({ length: 200 }, () => rawClient(port)));
    // Accepted by the kernel, then dropped by the server without a byte.
    const extra = await Promise.all(Array.from({ length: 50 }, () => rawClient(port)));
    const extraClosed = await Promise.all(extra.map((c) => closedWithin(c, 3000)));
    expect(Math.max(...extraClosed)).toBeLessThan(2_000);
    expect(extra.every((c) => c.received() === '')).toBe(true);
    expect(holders.every((c) => !c.socket.destroyed)).toBe(true);

    const started = Date.now();
    const probe = await fetch(`http://127.0.0.1:${probePort}/healthz`, {
      signal: AbortSignal.timeout(10_000),
    });
    const probeMs = Date.now() - started;
    expect(probe.status).toBe(200);
    expect(await probe.json()).toEqual({ status: 'ok' });
    expect((await fetch(`http://127.0.0.1:${probePort}/readyz`)).status).toBe(200);
    // The probe port serves the probes only: the admin API stays on the main port.
    const api = await fetch(`http://127.0.0.1:${probePort}/api/runs`, {
      headers: { authorization: 'Bearer admin-token-timeouts-3e8f' },
    });
    expect(api.status).toBe(404);
    expect(api.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await api.json()).toMatchObject({ error: 'not_found' });
    console.log(`probe /healthz in ${probeMs} ms with the main port at its cap of 200`);
    expect(probeMs).toBeLessThan(2_000);
    for (const c of holders) c.socket.destroy();
  });
});

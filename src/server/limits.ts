// Timeouts and caps of the HTTP server (issue 9). Without them a client that sends its headers or
// body a byte at a time, or opens a connection and says nothing, holds a socket for minutes; enough
// of them use every file descriptor and /healthz is refused. With them:
// - an idle or slow unauthenticated client is answered 408 and disconnected within
//   headersTimeoutMs (request line and headers) or requestTimeoutMs (the whole request), plus up to
//   CHECK_INTERVAL_MS, Node's sweep of open connections;
// - an idle keep-alive connection closes after keepAliveTimeoutMs;
// - a connection silent both ways for connectionTimeoutMs is destroyed, even with a response
//   pending (every handler answers well before: its run-service calls have deadlines of seconds);
// - at most maxConnections are open on the main port; the probe port has its own cap.
import type { HttpLimits } from '../config/types.js';

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  connectionTimeoutMs: 60_000,
  maxConnections: 1_000,
  maxRequestsPerSocket: 100,
};

/** How often Node checks open connections against headersTimeout and requestTimeout. */
export const CHECK_INTERVAL_MS = 500;
/** Connections the probe port accepts: probes are few; this only bounds a flood on that port. */
export const PROBE_MAX_CONNECTIONS = 64;
/** Every request body is at most this (the webhooks set the same bound on their own routes). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export function resolveLimits(given: Partial<HttpLimits> | undefined): HttpLimits {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof HttpLimits>) {
    const v = given?.[key];
    if (v !== undefined) limits[key] = v;
  }
  // Node refuses a headersTimeout above requestTimeout; the schema refuses it too.
  limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return limits;
}

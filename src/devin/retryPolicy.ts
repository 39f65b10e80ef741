// When to retry a Devin call and how long to wait: pure functions, so the rules of docs/design.md §7 are
// tested on their own, away from sockets and clocks.

export interface RetryPolicy {
  /** Total tries, including the first. */
  maxAttempts: number;
  /** Backoff base: the cap of the first retry's random delay. */
  baseDelayMs: number;
  /** Ceiling of any computed backoff. */
  maxDelayMs: number;
  /** A Retry-After longer than this fails the call instead of stalling the sync. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 120_000,
};

const IDEMPOTENT = new Set(['GET', 'HEAD', 'DELETE', 'PUT', 'OPTIONS']);

export type Failure = { kind: 'status'; status: number } | { kind: 'network'; sent: boolean };

/**
 * GET/DELETE are retried on 429, 5xx and any connection error. POST/PATCH only on 429 (the request
 * was refused before being processed) and on connection errors raised before the request was
 * written: anything else may have been applied, and re-sending could apply it twice.
 */
export function isRetryable(method: string, failure: Failure): boolean {
  const idempotent = IDEMPOTENT.has(method.toUpperCase());
  if (failure.kind === 'network') return idempotent || !failure.sent;
  if (failure.status === 429) return true;
  return idempotent && failure.status >= 500 && failure.status <= 599;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base·2^(retry-1))]. */
export function backoffDelayMs(
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds,
 * or undefined when the header is absent or unreadable (then backoff applies).
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (/^\d+\.\d+$/.test(v)) return Math.ceil(Number(v) * 1000);
  // HTTP-dates name a weekday and a month; bare numbers like "-5" would otherwise parse as a year.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

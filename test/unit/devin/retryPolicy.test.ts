import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  parseRetryAfter,
} from '../../../src/devin/retryPolicy.js';

describe('isRetryable (docs/design.md §7)', () => {
  const cases: Array<[string, Parameters<typeof isRetryable>[1], boolean]> = [
    ['GET', { kind: 'status', status: 429 }, true],
    ['GET', { kind: 'status', status: 500 }, true],
    ['GET', { kind: 'status', status: 503 }, true],
    ['GET', { kind: 'status', status: 404 }, false],
    ['GET', { kind: 'status', status: 409 }, false],
    ['GET', { kind: 'network', sent: true }, true],
    ['DELETE', { kind: 'status', status: 502 }, true],
    ['DELETE', { kind: 'network', sent: true }, true],
    ['POST', { kind: 'status', status: 429 }, true],
    ['POST', { kind: 'status', status: 500 }, false],
    ['POST', { kind: 'status', status: 503 }, false],
    ['POST', { kind: 'network', sent: false }, true],
    ['POST', { kind: 'network', sent: true }, false],
    ['PATCH', { kind: 'status', status: 429 }, true],
    ['PATCH', { kind: 'status', status: 502 }, false],
    ['PATCH', { kind: 'network', sent: true }, false],
    ['PATCH', { kind: 'network', sent: false }, true],
    ['POST', { kind: 'status', status: 422 }, false],
  ];
  it.each(cases)('%s %o → %s', (method, failure, expected) => {
    expect(isRetryable(method, failure)).toBe(expected);
  });
});

describe('backoffDelayMs: exponential with full jitter', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
  it('grows as base·2^(n-1) at the top of the jitter range', () => {
    const top = () => 0.999999;
    expect(backoffDelayMs(1, policy, top)).toBe(99);
    expect(backoffDelayMs(2, policy, top)).toBe(199);
    expect(backoffDelayMs(3, policy, top)).toBe(399);
    expect(backoffDelayMs(10, policy, top)).toBe(999);
  });
  it('reaches down to zero (full jitter)', () => {
    expect(backoffDelayMs(5, policy, () => 0)).toBe(0);
  });
  it('spreads delays across the range', () => {
    const seen = new Set(Array.from({ length: 200 }, () => Math.floor(backoffDelayMs(4, policy) / 100)));
    expect(seen.size).toBeGreaterThan(5);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });
  it('reads an HTTP-date', () => {
    expect(parseRetryAfter('Sun, 29 Nov 2026 12:00:07 GMT', now)).toBe(7000);
  });
  it('clamps a date in the past to zero', () => {
    expect(parseRetryAfter('Sun, 29 Nov 2026 11:59:00 GMT', now)).toBe(0);
  });
  it('ignores absent or unreadable values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

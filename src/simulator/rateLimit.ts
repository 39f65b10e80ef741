// The simulator's hidden rate limit: a token bucket over every API request, which clients are not
// told about, as Devin publishes none. Over the limit a request gets 429 with Retry-After in whole
// seconds (as an HTTP server sends it) and a ProblemDetail body, before any fault rule or route
// sees it. Apart from the fault rules (src/simulator/faults.ts) on purpose: tests and benchmarks
// replace those freely, and the limit is a property of the "server", counted on its own.
import { z } from 'zod';

export interface HiddenRateLimit {
  /** Requests per second the bucket refills. */
  requestsPerSecond: number;
  /** Requests the bucket holds (how many may come at once). Default: one second's worth. */
  burst?: number;
}

export const HiddenRateLimitSchema = z.strictObject({
  requestsPerSecond: z.number().positive().max(1_000_000),
  burst: z.number().min(1).max(1_000_000).optional(),
});

export interface RateLimitStats {
  /** null: no hidden limit. */
  limit: { requestsPerSecond: number; burst: number } | null;
  /** Requests let through, and refused with 429, since the limit was set or the counts cleared. */
  admitted: number;
  limited: number;
}

export class HiddenRateLimiter {
  private rps = 0;
  private burst = 0;
  private tokens = 0;
  private refilledAt = 0;
  private admitted = 0;
  private limited = 0;
  private on = false;

  constructor(
    limit?: HiddenRateLimit | null,
    private readonly clock: () => number = Date.now,
  ) {
    this.set(limit ?? null);
  }

  /** Replaces the limit (null: none); the bucket starts full and the counts at zero. */
  set(limit: HiddenRateLimit | null): void {
    this.clear();
    if (limit === null) {
      this.on = false;
      return;
    }
    const l = HiddenRateLimitSchema.parse(limit);
    this.on = true;
    this.rps = l.requestsPerSecond;
    this.burst = l.burst ?? Math.max(1, l.requestsPerSecond);
    this.tokens = this.burst;
    this.refilledAt = this.clock();
  }

  /** null when the request may pass, else the Retry-After value (seconds) to answer with. */
  take(): string | null {
    if (!this.on) return null;
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rps);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.admitted++;
      return null;
    }
    this.limited++;
    // Whole seconds, rounded up, never 0: a client that waits that long finds a token.
    return String(Math.max(1, Math.ceil((1 - this.tokens) / this.rps)));
  }

  stats(): RateLimitStats {
    return {
      limit: this.on ? { requestsPerSecond: this.rps, burst: this.burst } : null,
      admitted: this.admitted,
      limited: this.limited,
    };
  }

  clear(): void {
    this.admitted = 0;
    this.limited = 0;
  }
}

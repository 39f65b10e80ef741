// Client-side politeness: a request-per-second budget (token bucket) and a cap on requests in
// flight. A 429's Retry-After pauses every caller sharing this limiter, not only the one that saw it.

export interface LimiterOptions {
  /** 0 or Infinity: no rate limit. */
  requestsPerSecond: number;
  /** Requests in flight at once. */
  concurrency: number;
  now?: () => number;
}

export class RequestLimiter {
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly now: () => number;

  constructor(options: LimiterOptions) {
    if (!(options.concurrency >= 1))
      throw new RangeError(`concurrency must be ≥ 1, got ${options.concurrency}`);
    if (!(options.requestsPerSecond >= 0)) {
      throw new RangeError(`requestsPerSecond must be ≥ 0, got ${options.requestsPerSecond}`);
    }
    this.now = options.now ?? Date.now;
    this.rate = options.requestsPerSecond > 0 ? options.requestsPerSecond : Number.POSITIVE_INFINITY;
    // One second's worth of burst, so a steady budget is not wasted by timer granularity.
    this.burst = Number.isFinite(this.rate) ? Math.max(1, this.rate) : Number.POSITIVE_INFINITY;
    this.tokens = this.burst;
    this.lastRefill = this.now();
    this.concurrency = options.concurrency;
  }

  /** Waits for a concurrency slot and a rate token; returns the release function. */
  async acquire(): Promise<() => void> {
    if (this.inFlight >= this.concurrency) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      await this.takeToken();
    } catch (err) {
      this.release();
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  /** Holds every caller until `untilMs` (epoch ms). */
  pause(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }

  private release(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter, so inFlight stays the same.
    if (next) next();
    else this.inFlight--;
  }

  private async takeToken(): Promise<void> {
    for (;;) {
      const now = this.now();
      if (now < this.pausedUntil) {
        await sleep(this.pausedUntil - now);
        continue;
      }
      if (!Number.isFinite(this.rate)) return;
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
      this.lastRefill = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

// The request budget against a model of Devin's hidden limit, in simulated time: the real
// RequestLimiter (and through it the real controller of src/devin/adaptiveRate.ts) on vitest's fake
// clock, callers that behave as DevinClient does on a 429 (report it, wait out the Retry-After or
// the backoff, send again), and a Devin that decides on arrival as the simulator does, answers a
// refusal at once and anything else after the latency. The simulator's own bucket
// (src/simulator/rateLimit.ts) is the default model; a fixed window and other Retry-After styles
// stand for the Devins we cannot rule out.
import { vi } from 'vitest';
import type { RateSettings } from '../../src/devin/adaptiveRate.js';
import { type BudgetStore, LocalBudgetStore } from '../../src/devin/budget.js';
import { RequestLimiter } from '../../src/devin/limiter.js';
import { backoffDelayMs, DEFAULT_RETRY_POLICY } from '../../src/devin/retryPolicy.js';
import { HiddenRateLimiter } from '../../src/simulator/rateLimit.js';

export type DevinLimitModel =
  /**
   * A token bucket: `rate`/s, holding `burst` (default one second's worth, as the simulator);
   * `changes` sets another rate from a time on (ms into the run), with the bucket full again.
   */
  | {
      kind: 'bucket';
      rate: number;
      burst?: number;
      retryAfter?: RetryAfterStyle;
      changes?: ReadonlyArray<{ atMs: number; rate: number }>;
    }
  /** At most `count` requests per fixed window of `windowMs`, counted from the first request. */
  | { kind: 'window'; count: number; windowMs: number; retryAfter?: RetryAfterStyle };

/**
 * How the 429 says when to come back: whole seconds rounded up (what an HTTP server sends, and the
 * simulator), the exact time to the next token, or nothing (the client's backoff applies).
 */
export type RetryAfterStyle = 'seconds' | 'exact' | 'none';

export interface BudgetRun {
  devin: DevinLimitModel;
  /** Simulated length of the run, ms: callers always have work to send. */
  durationMs: number;
  /** devin.maxRequestsPerSecond (default 100, as the bench). */
  ceiling?: number;
  /** devin.maxConcurrency (default 4, as the bench). */
  concurrency?: number;
  /** Round trip of an admitted request, ms (default 20, as the bench's simulator). */
  latencyMs?: number;
  /** The budget's store: pass the one of an earlier run to start from what it learned. */
  store?: BudgetStore;
  /** Start of the simulated clock (epoch ms); a second run continues after the first. */
  startMs?: number;
  /** Tuning of the controller. */
  rate?: Partial<Omit<RateSettings, 'ceiling'>>;
  /**
   * Replicas sharing one budget (default 1): each its own limiter and callers, all on one store
   * that says it is shared (so they lease tokens and carry news as with Redis).
   */
  replicas?: number;
  /** The callers have work this share of the time only: busy, then idle, in cycles of `cycleMs`. */
  duty?: { busy: number; cycleMs: number };
}

export interface BudgetOutcome {
  admitted: number;
  refused: number;
  /** Admitted ÷ what Devin's limit allowed over the run (its rate × the span, plus its burst). */
  share: number;
  /** Refused ÷ all requests. */
  refusedShare: number;
  /** The budget's rate at the end, and its cuts. */
  rate: number;
  cuts: number;
  /** Where the clock ended (for a second run). */
  endMs: number;
  /** The share of the time the callers had work (`duty`), 1 without. */
  busyShare: number;
  /** Admitted requests per second of the run, for a failing test to show. */
  timeline: number[];
}

/** The limit's own decision on arrival: null admitted, else the Retry-After in ms (or undefined). */
type Decide = (now: number) => { ok: true } | { ok: false; retryAfterMs: number | undefined };

function devinModel(
  m: DevinLimitModel,
  start: number,
): { decide: Decide; allowed: (endMs: number) => number } {
  const style = m.retryAfter ?? 'seconds';
  const say = (exactMs: number) =>
    style === 'none' ? undefined : style === 'exact' ? Math.max(1, Math.ceil(exactMs)) : exactMs;
  if (m.kind === 'bucket') {
    const burstOf = (rate: number) => (m.burst === undefined ? Math.max(1, rate) : (m.burst * rate) / m.rate);
    const changes = [...(m.changes ?? [])].sort((a, b) => a.atMs - b.atMs);
    let rate = m.rate;
    let burst = burstOf(rate);
    // The simulator's bucket, on the fake clock: its whole-second Retry-After is what it sends.
    const hidden = new HiddenRateLimiter({ requestsPerSecond: rate, burst }, () => Date.now());
    // A shadow of it for the exact time to the next token (HiddenRateLimiter rounds up).
    let tokens = burst;
    let at = start;
    let next = 0;
    return {
      decide: (now) => {
        for (; next < changes.length && (changes[next]?.atMs ?? 0) <= now - start; next++) {
          rate = (changes[next] as { rate: number }).rate;
          burst = burstOf(rate);
          hidden.set({ requestsPerSecond: rate, burst });
          tokens = burst;
          at = now;
        }
        tokens = Math.min(burst, tokens + ((now - at) / 1000) * rate);
        at = now;
        const seconds = hidden.take();
        if (seconds === null) {
          tokens -= 1;
          return { ok: true };
        }
        const exactMs = ((1 - tokens) / rate) * 1000;
        return { ok: false, retryAfterMs: style === 'seconds' ? Number(seconds) * 1000 : say(exactMs) };
      },
      // Each rate over its span, and each full bucket (at the start and at every change).
      allowed: (endMs) => {
        let total = 0;
        let from = 0;
        let r = m.rate;
        for (const c of changes.filter((c) => c.atMs < endMs - start)) {
          total += (r * (c.atMs - from)) / 1000 + burstOf(r);
          from = c.atMs;
          r = c.rate;
        }
        return total + (r * (endMs - start - from)) / 1000 + burstOf(r);
      },
    };
  }
  let windowStart: number | null = null;
  let used = 0;
  return {
    decide: (now) => {
      windowStart ??= now;
      while (now >= windowStart + m.windowMs) {
        windowStart += m.windowMs;
        used = 0;
      }
      if (used < m.count) {
        used++;
        return { ok: true };
      }
      const leftMs = windowStart + m.windowMs - now;
      return { ok: false, retryAfterMs: style === 'seconds' ? Math.ceil(leftMs / 1000) * 1000 : say(leftMs) };
    },
    allowed: (endMs) => Math.ceil((endMs - start) / m.windowMs) * m.count,
  };
}

/** One store for every replica, saying it is shared: leases and news as through Redis. */
function sharedStore(): BudgetStore {
  const inner = new LocalBudgetStore(() => Date.now());
  return { shared: true, exchange: (x) => inner.exchange(x) };
}

/** A deterministic stand-in for Math.random, for the backoff's jitter. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** One run on vitest's fake clock (installed and removed here). */
export async function runBudget(run: BudgetRun): Promise<BudgetOutcome> {
  vi.useFakeTimers({ now: run.startMs ?? 1_700_000_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  try {
    return await runOnFakeClock(run);
  } finally {
    vi.useRealTimers();
  }
}

async function runOnFakeClock(run: BudgetRun): Promise<BudgetOutcome> {
  const latency = run.latencyMs ?? 20;
  const concurrency = run.concurrency ?? 4;
  const replicas = run.replicas ?? 1;
  const start = Date.now();
  const model = devinModel(run.devin, start);
  const store = run.store ?? (replicas > 1 ? sharedStore() : undefined);
  const limiters = Array.from(
    { length: replicas },
    () =>
      new RequestLimiter({
        requestsPerSecond: run.ceiling ?? 100,
        concurrency,
        ...(store ? { store } : {}),
        ...(run.rate ? { rate: run.rate } : {}),
      }),
  );
  const random = prng(7);
  const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
  const timeline: number[] = [];
  let admitted = 0;
  let refused = 0;
  let stop = false;
  const idleFor = (now: number) => {
    if (!run.duty) return 0;
    const into = (now - start) % run.duty.cycleMs;
    const busyMs = run.duty.busy * run.duty.cycleMs;
    return into < busyMs ? 0 : run.duty.cycleMs - into;
  };
  const caller = async (limiter: RequestLimiter) => {
    let attempt = 1;
    while (!stop) {
      const idle = idleFor(Date.now());
      if (idle > 0) {
        await wait(idle);
        continue;
      }
      const release = await limiter.acquire();
      if (stop) {
        release();
        break;
      }
      // On its way (half a millisecond on loopback); Devin decides on arrival.
      await wait(0.5);
      const d = model.decide(Date.now());
      if (d.ok) {
        await wait(latency);
        admitted++;
        const sec = Math.floor((Date.now() - start) / 1000);
        timeline[sec] = (timeline[sec] ?? 0) + 1;
        release({ kind: 'ok' });
        attempt = 1;
        continue;
      }
      await wait(0.5);
      refused++;
      // As DevinClient: the budget pauses for Retry-After, else the backoff, and so does the caller.
      const pauseMs = d.retryAfterMs ?? backoffDelayMs(attempt, DEFAULT_RETRY_POLICY, random);
      release({ kind: 'throttled', pauseMs });
      attempt = Math.min(attempt + 1, DEFAULT_RETRY_POLICY.maxAttempts);
      await wait(pauseMs);
    }
  };
  const callers = limiters.flatMap((l) => Array.from({ length: concurrency }, () => caller(l)));
  await vi.advanceTimersByTimeAsync(run.durationMs);
  stop = true;
  const end = Date.now();
  // Let what is in flight finish (counted: it was sent within the run).
  await vi.advanceTimersByTimeAsync(30 * 60_000);
  await Promise.all(callers);
  const info = (limiters[0] as RequestLimiter).info();
  const total = admitted + refused;
  const busyShare = run.duty ? run.duty.busy : 1;
  return {
    admitted,
    refused,
    share: admitted / model.allowed(end),
    refusedShare: total === 0 ? 0 : refused / total,
    rate: info.rate,
    cuts: info.cuts,
    endMs: Date.now(),
    busyShare,
    timeline: Array.from(timeline, (x) => x ?? 0),
  };
}

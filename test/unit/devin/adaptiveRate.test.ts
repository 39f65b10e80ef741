// The adaptive rate controller on plain data and a fake clock: its rules one by one, then the whole
// loop (controller + token bucket + a modelled Devin with a hidden token bucket) run in simulated
// time, which shows what the rules are for: most of the limit, few 429s, at any limit.
import { describe, expect, it } from 'vitest';
import {
  burstFor,
  initialState,
  onSuccess,
  onThrottle,
  pauseLeft,
  type RateSettings,
  type RateState,
  rateSettings,
  recoveryMs,
  takeTokens,
} from '../../../src/devin/adaptiveRate.js';

const T0 = 1_700_000_000_000;

/** Reports limited sending every `stepMs` for `ms`. */
function sendLimited(state: RateState, s: RateSettings, from: number, ms: number, stepMs = 50): RateState {
  let st = state;
  for (let t = stepMs; t <= ms; t += stepMs) st = onSuccess(st, s, from + t, true);
  return st;
}

describe('rate settings', () => {
  it('start at the initial rate, never above the ceiling', () => {
    expect(initialState(rateSettings(100), T0).rate).toBe(10);
    expect(initialState(rateSettings(3), T0).rate).toBe(3);
    expect(() => rateSettings(0)).toThrow(/ceiling/);
    expect(() => rateSettings(Number.POSITIVE_INFINITY)).toThrow(/ceiling/);
    expect(() => rateSettings(10, { beta: 1 })).toThrow(/beta/);
  });
});

describe('slow start', () => {
  const s = rateSettings(1000);

  it('doubles the rate every doublingMs of limited sending', () => {
    const st = sendLimited(initialState(s, T0), s, T0, 2 * s.doublingMs);
    expect(st.rate).toBeCloseTo(s.initial * 4, 5);
    expect(st.wmax).toBeNull();
  });

  it('learns nothing from requests the budget did not hold back', () => {
    let st = initialState(s, T0);
    for (let t = 50; t <= 10_000; t += 50) st = onSuccess(st, s, T0 + t, false);
    expect(st.rate).toBe(s.initial);
  });

  it('advances at most maxStepMs per report: sparse limited requests grow the rate slowly', () => {
    let st = initialState(s, T0);
    // One limited request every 2 s for 8 s: 4 steps of 250 ms, not 8 s.
    for (let t = 2000; t <= 8000; t += 2000) st = onSuccess(st, s, T0 + t, true);
    expect(st.clockMs).toBe(4 * s.maxStepMs);
    expect(st.rate).toBeCloseTo(s.initial * 2 ** ((4 * s.maxStepMs) / s.doublingMs), 5);
  });

  it('stops at the ceiling', () => {
    const low = rateSettings(25);
    const st = sendLimited(initialState(low, T0), low, T0, 20_000);
    expect(st.rate).toBe(25);
  });
});

describe('a 429', () => {
  const s = rateSettings(1000);

  it('ends the slow start: the limit is taken as half the rate, and the rate cut below that', () => {
    const before = sendLimited(initialState(s, T0), s, T0, 2 * s.doublingMs); // 40/s
    const at = T0 + 2000;
    const st = onThrottle(before, s, at, 1000);
    expect(st.wmax).toBeCloseTo(before.rate * s.slowStartBeta, 5);
    expect(st.rate).toBeCloseTo(before.rate * s.slowStartBeta * s.beta, 5);
    expect(st.cuts).toBe(1);
    expect(st.clockMs).toBe(0);
    expect(pauseLeft(st, at)).toBe(1000);
    expect(pauseLeft(st, at + 1000)).toBe(0);
  });

  it('cuts once per congestion event: 429s during the pause or the quiet time only extend the pause', () => {
    const cut = onThrottle(sendLimited(initialState(s, T0), s, T0, 2000), s, T0 + 2000, 1000);
    const again = onThrottle(cut, s, T0 + 2100, 2000);
    expect(again.rate).toBe(cut.rate);
    expect(again.cuts).toBe(1);
    expect(again.pausedUntil).toBe(T0 + 4100);
    // After the quiet time, a 429 is news: the rate is still too high.
    const later = onThrottle(again, s, T0 + 5000, 1000);
    expect(later.cuts).toBe(2);
    // Below the last estimate of the limit: that estimate comes down too (fast convergence).
    expect(later.wmax).toBeCloseTo(cut.rate * s.beta, 5);
    expect(later.rate).toBeCloseTo(cut.rate * s.beta * s.beta, 5);
  });

  it('without Retry-After still cuts, and covers requests in flight for quietMs', () => {
    const st = onThrottle(initialState(s, T0), s, T0, 0);
    expect(st.cuts).toBe(1);
    expect(st.quietUntil).toBe(T0 + s.quietMs);
    expect(onThrottle(st, s, T0 + s.quietMs - 1, 0).cuts).toBe(1);
  });

  it('pauses at most maxPauseMs, even for an absurd or unreadable Retry-After', () => {
    expect(pauseLeft(onThrottle(initialState(s, T0), s, T0, 86_400_000), T0)).toBe(s.maxPauseMs);
    expect(pauseLeft(onThrottle(initialState(s, T0), s, T0, Number.NaN), T0)).toBe(s.maxPauseMs);
    expect(pauseLeft(onThrottle(initialState(s, T0), s, T0, -5), T0)).toBe(0);
  });

  it('never cuts below the floor', () => {
    let st = initialState(s, T0);
    for (let i = 0; i < 50; i++) st = onThrottle(st, s, T0 + i * 10_000, 0);
    expect(st.rate).toBe(s.floor);
  });

  it('reports from before the pause ended do not run the clock through it', () => {
    const cut = onThrottle(initialState(s, T0), s, T0, 5000);
    const st = sendLimited(cut, s, T0, 4900);
    expect(st.clockMs).toBe(0);
    expect(st.rate).toBe(cut.rate);
  });
});

describe('CUBIC recovery', () => {
  const s = rateSettings(1000);
  // A budget that learned 40/s: the last 429 came at 40/s.
  const learned: RateState = { ...initialState(s, T0), wmax: 40, rate: 40 * s.beta, clockMs: 0 };

  it('climbs back to the rate of the last 429 in recoveryMs, fast at first and flat near it', () => {
    const k = recoveryMs(40, s);
    expect(k).toBe(s.recoveryMs);
    const quarter = sendLimited(learned, s, T0, k / 4);
    const half = sendLimited(learned, s, T0, k / 2);
    const full = sendLimited(learned, s, T0, k);
    expect(full.rate).toBeCloseTo(40, 5);
    // Concave: the first quarter gains more than the second.
    expect(quarter.rate - learned.rate).toBeGreaterThan(half.rate - quarter.rate);
    // Most of the way back by half time: CUBIC's plateau is what keeps the average near the limit.
    expect(half.rate).toBeGreaterThan(38);
  });

  it('then probes above it, slowly at first, faster later', () => {
    const k = recoveryMs(40, s);
    const a = sendLimited(learned, s, T0, k * 1.5).rate;
    const b = sendLimited(learned, s, T0, k * 2).rate;
    expect(a).toBeGreaterThan(40);
    expect(a - 40).toBeLessThan(b - a);
  });

  it('counts the recovery in requests at low rates, so 429s stay a small share there too', () => {
    // 5/s: 100 requests take 20 s, longer than recoveryMs.
    expect(recoveryMs(5, s)).toBe((s.recoveryRequests / 5) * 1000);
    expect(recoveryMs(5, s)).toBeGreaterThan(s.recoveryMs);
  });

  it('aims lower when a 429 strikes below the last one (fast convergence)', () => {
    const at = T0 + 10_000;
    const st = onThrottle({ ...learned, rate: 30 }, s, at, 1000);
    expect(st.wmax).toBeCloseTo(30 * s.beta, 5);
    expect(st.rate).toBeCloseTo((st.wmax as number) * s.beta, 5);
  });
});

describe('token bucket', () => {
  it('grants whole tokens up to the burst and says how long until the next', () => {
    const t = takeTokens({ tokens: 2.5, refilledAt: T0 }, 10, 5, T0, 4);
    expect(t.granted).toBe(2);
    expect(t.bucket.tokens).toBeCloseTo(0.5, 9);
    expect(t.waitMs).toBe(50);
    const later = takeTokens(t.bucket, 10, 5, T0 + 1000, 10);
    expect(later.granted).toBe(5);
  });

  it('holds nothing during a pause and starts empty after it', () => {
    const t = takeTokens({ tokens: 5, refilledAt: T0 }, 10, 5, T0, 1, T0 + 700);
    expect(t.granted).toBe(0);
    expect(t.waitMs).toBe(700);
    const after = takeTokens(t.bucket, 10, 5, T0 + 700, 1);
    expect(after.granted).toBe(0);
    expect(takeTokens(t.bucket, 10, 5, T0 + 800, 1).granted).toBe(1);
  });

  it('keeps at least one token of burst', () => {
    expect(burstFor(2, 200)).toBe(1);
    expect(burstFor(100, 200)).toBe(20);
  });
});

/**
 * The whole loop in simulated time, 1 ms steps: `concurrency` callers with endless work, this
 * process's bucket fed by the controller, and a Devin whose hidden bucket holds one second of
 * `limit` and answers 429 with Retry-After in whole seconds. Returns throughput as a share of the
 * limit and the share of 429s.
 */
function simulate(limit: number, seconds: number, ceiling = 100): { share: number; throttled: number } {
  const s = rateSettings(ceiling);
  const latency = 20;
  const concurrency = 4;
  let st = initialState(s, 0);
  let bucket = { tokens: 1, refilledAt: 0 };
  const server = { tokens: limit, at: 0 };
  const inFlight: Array<{ at: number; ok: boolean; retryAfter: number; limited: boolean }> = [];
  let ok = 0;
  let throttled = 0;
  let waitingSince: number | null = null;
  const end = seconds * 1000;
  for (let t = 0; t < end; t++) {
    for (let i = inFlight.length - 1; i >= 0; i--) {
      const r = inFlight[i] as (typeof inFlight)[number];
      if (r.at > t) continue;
      inFlight.splice(i, 1);
      if (r.ok) {
        ok++;
        st = onSuccess(st, s, t, r.limited);
      } else {
        throttled++;
        st = onThrottle(st, s, t, r.retryAfter * 1000);
      }
    }
    while (inFlight.length < concurrency) {
      const take = takeTokens(bucket, st.rate, burstFor(st.rate, 200), t, 1, st.pausedUntil);
      bucket = take.bucket;
      if (take.granted === 0) {
        waitingSince ??= t;
        break;
      }
      const limited = waitingSince !== null && t > waitingSince;
      waitingSince = null;
      server.tokens = Math.min(limit, server.tokens + ((t - server.at) / 1000) * limit);
      server.at = t;
      const admitted = server.tokens >= 1;
      if (admitted) server.tokens -= 1;
      const retryAfter = Math.max(1, Math.ceil((1 - server.tokens) / limit));
      inFlight.push({ at: t + latency, ok: admitted, retryAfter, limited });
    }
  }
  return { share: ok / seconds / limit, throttled: throttled / (ok + throttled) };
}

describe('the loop against a hidden limit, in simulated time', () => {
  for (const limit of [5, 20, 50]) {
    it(`gets most of a ${limit}/s limit with few 429s, from a ceiling of 100/s`, () => {
      const r = simulate(limit, 120);
      expect(r.share).toBeGreaterThan(0.9);
      expect(r.throttled).toBeLessThan(0.02);
    });
  }

  it('never goes above the ceiling when the limit is higher', () => {
    const r = simulate(500, 30, 40);
    expect(r.throttled).toBe(0);
    // The ceiling of 40/s, after a slow start from 10/s: at most 40 × 30 requests.
    expect(r.share * 500 * 30).toBeLessThanOrEqual(40 * 30);
    expect(r.share * 500).toBeGreaterThan(35);
  });
});

// The adaptive rate controller on plain data and a fake clock, rule by rule. The whole loop (the
// real limiter and this controller against a modelled Devin) is test/unit/devin/budgetLoop.test.ts.
import { describe, expect, it } from 'vitest';
import {
  burstFor,
  estimateLimit,
  initialState,
  onDelivered,
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

/** Send times `from`, `from + every`, … : `n` requests Devin admitted. */
function admitted(from: number, n: number, every: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i * every);
}

describe('rate settings', () => {
  it('start at the initial rate, never above the ceiling', () => {
    expect(initialState(rateSettings(100), T0).rate).toBe(10);
    expect(initialState(rateSettings(3), T0).rate).toBe(3);
    expect(() => rateSettings(0)).toThrow(/ceiling/);
    expect(() => rateSettings(Number.POSITIVE_INFINITY)).toThrow(/ceiling/);
    expect(() => rateSettings(10, { beta: 1 })).toThrow(/beta/);
    expect(() => rateSettings(10, { bins: 0 })).toThrow(/bins/);
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

  it('at a low rate a step may span two request intervals, so the clock keeps time there', () => {
    const st: RateState = { ...initialState(s, T0), rate: 2, wmax: 2, confidence: 'measured' };
    // Limited at 2/s: a report every 500 ms, each a full step (not 250 ms).
    const after = sendLimited(st, s, T0, 4000, 500);
    expect(after.clockMs).toBe(4000);
  });

  it('stops at the ceiling', () => {
    const low = rateSettings(25);
    const st = sendLimited(initialState(low, T0), low, T0, 20_000);
    expect(st.rate).toBe(25);
  });
});

describe('the first 429: the limit from what Devin admitted', () => {
  const s = rateSettings(100);

  it('is estimated from the admitted count and the assumed burst, not cut from the rate that met it', () => {
    // Devin at 5/s with a bucket of one second (5): 8 requests at 10/s went through, the 9th not.
    const st = onDelivered(initialState(s, T0), s, admitted(T0, 8, 100));
    // 8 admitted over 0.8 s with a burst of one second: 8 < 5 × 1.8 < 9, so the limit is in 4.44 … 5.
    const sample = estimateLimit(st, s, T0 + 800);
    expect(sample.lo).toBeCloseTo(8 / 1.8, 5);
    expect(sample.hi).toBeCloseTo(9 / 1.8, 5);
    expect(sample.measured).toBe(false);
    for (const rateThen of [10, 20, 40]) {
      const cut = onThrottle({ ...st, rate: rateThen }, s, T0 + 801, 1000, T0 + 800);
      expect(cut.wmax).toBeCloseTo((8 / 1.8 + 9 / 1.8) / 2, 5);
      expect(cut.rate).toBeCloseTo(s.beta * (cut.wmax as number), 5);
      expect(cut.confidence).toBe('prior');
      expect(cut.cuts).toBe(1);
      expect(pauseLeft(cut, T0 + 801)).toBe(1000);
    }
  });

  it('picks the window where the rate was above the limit, leaving out the slow start below it', () => {
    // Devin at 20/s: the slow start sent 5/s for 4 s (all admitted, the bucket overflowing), then
    // 40/s for 1 s until Devin's bucket (20) ran dry: 20 + 20 × 1 = 40 admitted in that second.
    const slow = admitted(T0, 20, 200);
    const fast = admitted(T0 + 4000, 40, 25);
    const st = onDelivered(initialState(s, T0), s, [...slow, ...fast]);
    const sample = estimateLimit(st, s, T0 + 5000);
    // Over the whole run: 60 / (5 + 1) = 10/s. Over the last second: 40 / (1 + 1) = 20/s.
    expect(sample.lo).toBeCloseTo(20, 5);
    expect(sample.fromMs).toBe(T0 + 4000);
  });

  it('with nothing to count (the first request refused): a blind cut, held only briefly', () => {
    const st = { ...initialState(s, T0), rate: 16 };
    const cut = onThrottle(st, s, T0, 1000);
    expect(cut.wmax).toBe(16 * s.slowStartBeta);
    expect(cut.confidence).toBe('guess');
    expect(recoveryMs(cut.wmax as number, 'guess', s)).toBeLessThan(
      recoveryMs(cut.wmax as number, 'prior', s),
    );
  });
});

describe('a later 429', () => {
  const s = rateSettings(100);
  // The first 429 of the test above: the limit in 4.44 … 5, a mark at T0 + 800, a second's pause.
  const first = onThrottle(
    onDelivered(initialState(s, T0), s, admitted(T0, 8, 100)),
    s,
    T0 + 801,
    1000,
    T0 + 800,
  );

  it('between two 429s needs no assumption: what was admitted is what Devin refilled, ±1', () => {
    // No Retry-After (a pause of 0): 12 admitted at 5/s right after the first 429, then a 429.
    const noPause = onThrottle(
      onDelivered(initialState(s, T0), s, admitted(T0, 8, 100)),
      s,
      T0 + 801,
      0,
      T0 + 800,
    );
    const st = onDelivered(noPause, s, admitted(T0 + 801, 12, 200));
    const sample = estimateLimit(st, s, T0 + 3200);
    expect(sample.measured).toBe(true);
    expect(sample.lo).toBeCloseTo(11 / 2.4, 5);
    expect(sample.hi).toBeCloseTo(13 / 2.4, 5);
    // 4.58 … 5.42, and 4.44 … 5 before: they agree on 4.58 … 5, known to ±4 %.
    const cut = onThrottle(st, s, T0 + 3201, 1000, T0 + 3200);
    expect(cut.lo).toBeCloseTo(11 / 2.4, 5);
    expect(cut.hi).toBeCloseTo(5, 5);
    expect(cut.wmax).toBeCloseTo((11 / 2.4 + 5) / 2, 5);
    expect(cut.confidence).toBe('measured');
    expect(cut.cuts).toBe(2);
  });

  it('after a pause, counts the window from its end too, with the burst the pause may have refilled', () => {
    // A second's pause, then 12 admitted at 5/s from its end: over the whole interval (pause
    // included) 11 … 13 in 3.4 s, but from the pause's end 12 < limit × (1 + 2.45).
    const st = onDelivered(first, s, admitted(T0 + 1801, 12, 200));
    const sample = estimateLimit(st, s, T0 + 4200);
    expect(sample.lo).toBeCloseTo(12 / (1 + 2.45), 5);
    expect(sample.fromMs).toBe(T0 + 1750);
    expect(sample.hi).toBeCloseTo(13 / 3.4, 5);
  });

  it('corrects a first estimate that a bigger burst than assumed made too high', () => {
    // Devin at 5/s with 25 of burst: 30 went through in the first second, read as 15/s.
    const high = onThrottle(
      onDelivered(initialState(s, T0), s, admitted(T0, 30, 33)),
      s,
      T0 + 1001,
      1000,
      T0 + 1000,
    );
    expect(high.wmax).toBeGreaterThan(14);
    // At 14/s after the pause Devin's bucket (5 refilled) lasts half a second: 8 admitted, a 429.
    const st = onDelivered(high, s, admitted(T0 + 2001, 8, 71));
    const cut = onThrottle(st, s, T0 + 2570, 1000, T0 + 2569);
    // 8 < limit × (1 + 0.569), and 7 … 9 over the 1.569 s since the last 429: the range
    // 5.1 … 5.74 does not meet 15 … 15.5, and replaces it.
    expect(cut.lo).toBeCloseTo(8 / 1.569, 3);
    expect(cut.hi).toBeCloseTo(9 / 1.569, 3);
    expect(cut.wmax).toBeLessThan(6);
  });

  it('counts requests sent before the 429 but answered after it for the estimate they belong to', () => {
    const late = onDelivered(first, s, [T0 + 750]);
    expect(late.wmax).toBeCloseTo((first.wmax as number) + 1 / 1.8, 5);
    expect(late.lo).toBeCloseTo(first.lo + 1 / 1.8, 5);
    // …and not for the next interval, which starts at the mark.
    expect(late.delivered).toBe(0);
    expect(onDelivered(first, s, [T0 + 900]).delivered).toBe(1);
  });

  it('met while probing above the estimate keeps it, and trusts it more', () => {
    const st: RateState = { ...first, clockMs: recoveryMs(first.wmax as number, 'prior', s) + 1000 };
    // The interval counts the time spent below the limit: it shows less than the estimate.
    const probed = onDelivered(st, s, admitted(T0 + 1801, 20, 250));
    const cut = onThrottle(probed, s, T0 + 6802, 1000, T0 + 6801);
    expect(cut.wmax).toBe(first.wmax);
    expect(cut.confidence).toBe('measured');
  });

  it('cuts once per congestion event: 429s during the pause or the quiet time only extend the pause', () => {
    const again = onThrottle(first, s, T0 + 900, 2000);
    expect(again.rate).toBe(first.rate);
    expect(again.cuts).toBe(1);
    expect(again.pausedUntil).toBe(T0 + 2900);
    // After the quiet time, a 429 is news.
    const later = onThrottle(onDelivered(again, s, admitted(T0 + 3000, 5, 100)), s, T0 + 5000, 1000);
    expect(later.cuts).toBe(2);
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
    const st = sendLimited(first, s, T0 + 801, 900);
    expect(st.clockMs).toBe(0);
    expect(st.rate).toBe(first.rate);
  });
});

describe('CUBIC recovery around the estimate', () => {
  const s = rateSettings(1000);
  const learned: RateState = { ...initialState(s, T0), wmax: 40, rate: 40 * s.beta, confidence: 'measured' };

  it('climbs back to the estimate in K, fast at first and flat near it', () => {
    const k = recoveryMs(40, 'measured', s);
    expect(k).toBe(s.recoveryMs);
    const quarter = sendLimited(learned, s, T0, k / 4);
    const half = sendLimited(learned, s, T0, k / 2);
    const full = sendLimited(learned, s, T0, k);
    expect(full.rate).toBeCloseTo(40, 5);
    expect(quarter.rate - learned.rate).toBeGreaterThan(half.rate - quarter.rate);
    expect(half.rate).toBeGreaterThan(39.5);
  });

  it('then probes above it, slowly at first, faster later', () => {
    const k = recoveryMs(40, 'measured', s);
    const a = sendLimited(learned, s, T0, k * 1.5).rate;
    const b = sendLimited(learned, s, T0, k * 2).rate;
    expect(a).toBeGreaterThan(40);
    expect(a - 40).toBeLessThan(b - a);
    expect(b).toBeCloseTo(40 * (1 + s.probeGain), 5);
  });

  it('counts K in requests at low rates, so 429s stay a small share there too', () => {
    expect(recoveryMs(5, 'measured', s)).toBe((s.recoveryRequests / 5) * 1000);
    expect(recoveryMs(5, 'measured', s)).toBeGreaterThan(s.recoveryMs);
  });

  it('checks an estimate sooner the less it is known', () => {
    expect(recoveryMs(5, 'prior', s)).toBeLessThan(recoveryMs(5, 'measured', s));
    expect(recoveryMs(5, 'guess', s)).toBeLessThan(recoveryMs(5, 'prior', s));
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

  it('holds nothing during a pause and one request as it ends, no burst', () => {
    const t = takeTokens({ tokens: 5, refilledAt: T0 }, 10, 5, T0, 1, T0 + 700);
    expect(t.granted).toBe(0);
    expect(t.waitMs).toBe(700);
    const after = takeTokens(t.bucket, 10, 5, T0 + 700, 3);
    expect(after.granted).toBe(1);
    expect(after.waitMs).toBe(100);
  });

  it('keeps at least one token of burst', () => {
    expect(burstFor(2, 200)).toBe(1);
    expect(burstFor(100, 200)).toBe(20);
  });
});

// The adaptive budget's whole loop in simulated time: the real RequestLimiter and controller, and
// callers that do what DevinClient does on a 429, against a modelled Devin (test/support/
// budgetModel.ts: by default the simulator's own hidden bucket, one second of burst, Retry-After in
// whole seconds, answers after 20 ms) with the bench's settings (ceiling 100/s, 4 in flight).
// The goal of issue 13: ≥ 90 % of any hidden limit, ≤ 2 % of requests answered 429, in a run as
// short as the bench's (30 s) and in a long one. Each case prints its figures when it fails.
import { describe, expect, it } from 'vitest';
import { LocalBudgetStore } from '../../../src/devin/budget.js';
import { type BudgetOutcome, type BudgetRun, runBudget } from '../../support/budgetModel.js';

const LIMITS = [2, 3, 5, 8, 13, 20, 50, 100];
const SHORT = 30_000;
const LONG = 300_000;

function show(r: BudgetOutcome): string {
  const total = r.admitted + r.refused;
  return `${(100 * r.share).toFixed(1)} % of the limit, ${r.refused} of ${total} answered 429 (${(100 * r.refusedShare).toFixed(2)} %), rate at the end ${r.rate.toFixed(1)}/s; admitted per second: ${r.timeline.slice(0, 60).join(' ')}`;
}

async function run(r: BudgetRun): Promise<BudgetOutcome> {
  return runBudget({ ceiling: 100, concurrency: 4, latencyMs: 20, ...r });
}

/**
 * 429s allowed: 2 % of the requests, or two. A first run meets at least one (its slow start ends
 * at a 429), and at 2/s that one only places the limit within a quarter (2 or 3 requests went
 * through before it: 1.8 … 2.7/s); the second 429 that pins it down is 3 % of a 30 s run's 60
 * requests. No controller that starts above the limit and is told nothing does better there.
 */
function allowed429s(r: BudgetOutcome): number {
  return Math.max(2, 0.02 * (r.admitted + r.refused));
}

describe("against the simulator's hidden bucket", () => {
  for (const limit of LIMITS) {
    it(`${limit}/s: a first run of 30 s gets ≥ 90 % of it, with few 429s`, async () => {
      const r = await run({ devin: { kind: 'bucket', rate: limit }, durationMs: SHORT });
      const why = `${limit}/s, 30 s: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refused, why).toBeLessThanOrEqual(allowed429s(r));
    });

    it(`${limit}/s: a run of 300 s gets ≥ 90 % with ≤ 2 % of 429s, and a second run starts from what it learned`, async () => {
      const store = new LocalBudgetStore(() => Date.now());
      const r = await run({ devin: { kind: 'bucket', rate: limit }, durationMs: LONG, store });
      const why = `${limit}/s, 300 s: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
      // The daemon keeps the budget in Redis between runs; the next one, a minute later, needs no
      // slow start: ≤ 2 % even in 30 s, where a first run at 2/s needs its two 429s.
      const again = await run({
        devin: { kind: 'bucket', rate: limit },
        durationMs: SHORT,
        store,
        startMs: r.endMs + 60_000,
      });
      const whyAgain = `${limit}/s, second run of 30 s: ${show(again)}`;
      expect(again.share, whyAgain).toBeGreaterThanOrEqual(0.9);
      expect(again.refusedShare, whyAgain).toBeLessThanOrEqual(0.02);
    });
  }

  it('never goes above the ceiling when the limit is higher, and gets close to it', async () => {
    const r = await run({ devin: { kind: 'bucket', rate: 500 }, durationMs: SHORT, ceiling: 40 });
    expect(r.refused).toBe(0);
    expect(r.admitted).toBeLessThanOrEqual(40 * 30 + 8);
    expect(r.admitted).toBeGreaterThan(0.9 * 40 * 30);
  });

  it('two replicas sharing one budget get the limit together, not each', async () => {
    for (const limit of [5, 20]) {
      const r = await run({ devin: { kind: 'bucket', rate: limit }, durationMs: LONG, replicas: 2 });
      const why = `${limit}/s, two replicas: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });

  it('follows a limit that Devin halves after a minute', async () => {
    for (const limit of [5, 20, 50]) {
      const devin = { kind: 'bucket', rate: limit, changes: [{ atMs: 60_000, rate: limit / 2 }] } as const;
      const r = await run({ devin, durationMs: LONG });
      const why = `${limit}/s then ${limit / 2}/s: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
      expect(r.rate, why).toBeLessThan(limit / 2);
    }
  });

  it('finds a limit that Devin doubles, without a 429 storm', async () => {
    for (const limit of [5, 20]) {
      const devin = { kind: 'bucket', rate: limit, changes: [{ atMs: 60_000, rate: 2 * limit }] } as const;
      const r = await run({ devin, durationMs: LONG });
      const why = `${limit}/s then ${2 * limit}/s: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.85);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });

  it('a client with work only half the time stays polite when its work comes back', async () => {
    const r = await run({
      devin: { kind: 'bucket', rate: 20 },
      durationMs: LONG,
      duty: { busy: 0.5, cycleMs: 10_000 },
    });
    expect(r.refusedShare, show(r)).toBeLessThanOrEqual(0.02);
    // Half the time busy: about half of the limit, plus what the idle half let Devin's bucket fill.
    expect(r.share, show(r)).toBeGreaterThanOrEqual(0.45);
  });
});

// Devin documents none of this; the simulator's bucket is one reading. Under the others the budget
// must converge (few 429s, no storm), if not always to 90 %.
describe('against Devins that limit otherwise', () => {
  it('Retry-After to the millisecond, or none at all (the client backs off): the same goals', async () => {
    for (const retryAfter of ['exact', 'none'] as const) {
      for (const limit of [3, 5, 20, 50]) {
        for (const durationMs of [SHORT, LONG]) {
          const r = await run({ devin: { kind: 'bucket', rate: limit, retryAfter }, durationMs });
          const why = `${limit}/s, Retry-After ${retryAfter}, ${durationMs / 1000} s: ${show(r)}`;
          expect(r.share, why).toBeGreaterThanOrEqual(0.9);
          expect(r.refused, why).toBeLessThanOrEqual(allowed429s(r));
        }
      }
    }
  });

  it('a bucket of ten seconds (a first estimate too high, corrected by the next 429)', async () => {
    for (const limit of [2, 5, 20, 50]) {
      const r = await run({ devin: { kind: 'bucket', rate: limit, burst: 10 * limit }, durationMs: LONG });
      const why = `${limit}/s, 10 s of burst: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });

  it('a bucket of a fifth of a second (estimates too low): fewer requests, still few 429s', async () => {
    for (const limit of [5, 20, 50]) {
      const r = await run({
        devin: { kind: 'bucket', rate: limit, burst: Math.max(1, limit / 5) },
        durationMs: LONG,
      });
      const why = `${limit}/s, 0.2 s of burst: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.7);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });

  it('a quota per minute (Retry-After until the window ends)', async () => {
    for (const limit of [2, 20]) {
      const r = await run({
        devin: { kind: 'window', count: 60 * limit, windowMs: 60_000 },
        durationMs: LONG,
      });
      const why = `${60 * limit} a minute: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.9);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });

  it('a quota per second (no burst to speak of)', async () => {
    for (const limit of [5, 20]) {
      const r = await run({ devin: { kind: 'window', count: limit, windowMs: 1000 }, durationMs: LONG });
      const why = `${limit} a second: ${show(r)}`;
      expect(r.share, why).toBeGreaterThanOrEqual(0.7);
      expect(r.refusedShare, why).toBeLessThanOrEqual(0.02);
    }
  });
});

// The adaptive request budget end to end in one process: a real DevinClient against the simulator
// as a real HTTP server with a hidden rate limit. Assertions are on counts and ratios with wide
// margins, never on how long something took: this machine is shared and busy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevinClient, type DevinClientOptions } from '../../src/devin/index.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';

const TOKEN = 'cog_budget_test_token_4c1a';

function clientFor(sim: RunningSimulator, options: Partial<DevinClientOptions> = {}): DevinClient {
  return new DevinClient({
    baseUrl: sim.url,
    token: TOKEN,
    maxConcurrency: 4,
    retry: { baseDelayMs: 10, maxDelayMs: 100 },
    ...options,
  });
}

/** `callers` loops of `call`, until `successes` calls have succeeded between them. */
async function drive(successes: number, callers: number, call: () => Promise<unknown>): Promise<void> {
  let done = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (done < successes) {
        await call();
        done++;
      }
    }),
  );
}

/** Requests the simulator logged, per second, over the span from the first to the last. */
function perSecond(sim: RunningSimulator, filter: (status: number | null) => boolean): number {
  const log = sim.requests();
  const at = log.map((e) => e.at);
  const seconds = (Math.max(...at) - Math.min(...at)) / 1000;
  return log.filter((e) => filter(e.status)).length / Math.max(seconds, 0.001);
}

describe('the adaptive budget against a hidden limit', () => {
  let sim: RunningSimulator;
  /** The share of 429s the adaptive budget met in the first test, for the fixed one to compare. */
  let adaptiveThrottled = 0.02;

  beforeAll(async () => {
    sim = await startSimulator({
      seed: generateSeed({ users: 20, groups: 2, orgs: 1, token: TOKEN, seed: 3 }),
      faults: { rules: [{ latencyMs: 20 }] },
    });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('converges near a limit of 20/s from a ceiling of 100/s, with few 429s', async () => {
    sim.setRateLimit({ requestsPerSecond: 20 });
    sim.clearRequests();
    const client = clientFor(sim, { maxRequestsPerSecond: 100 });
    await drive(240, 4, () => client.listRoles());
    client.close();
    const { admitted, limited } = sim.rateLimitStats();
    const share = perSecond(sim, (s) => s === 200) / 20;
    adaptiveThrottled = limited / (admitted + limited);
    console.info(
      `adaptive vs 20/s: ${admitted} admitted, ${limited} refused (${((100 * limited) / (admitted + limited)).toFixed(1)} %), ${(100 * share).toFixed(0)} % of the limit; rate now ${client.budget().rate.toFixed(1)}/s after ${client.budget().cuts} cut(s)`,
    );
    // The simulator's own bucket caps what gets through; what matters is how close we come to it
    // and how rarely we hit it. Expected about 90 % and 1–2 %; margins for a busy machine.
    expect(share).toBeGreaterThan(0.65);
    expect(limited / (admitted + limited)).toBeLessThan(0.05);
    expect(client.budget().cuts).toBeGreaterThanOrEqual(1);
    expect(client.budget().rate).toBeLessThan(40);
  });

  it('fixed at the ceiling (adaptiveRate false), the same work meets many more 429s', async () => {
    sim.setRateLimit({ requestsPerSecond: 20 });
    sim.clearRequests();
    const client = clientFor(sim, { maxRequestsPerSecond: 100, adaptiveRate: false });
    await drive(120, 4, () => client.listRoles());
    client.close();
    const { admitted, limited } = sim.rateLimitStats();
    const throttled = limited / (admitted + limited);
    console.info(
      `fixed 100/s vs 20/s: ${admitted} admitted, ${limited} refused (${(100 * throttled).toFixed(1)} %)`,
    );
    expect(client.budget()).toMatchObject({ rate: 100, cuts: 0 });
    // Every pause ends in a burst at the ceiling that empties Devin's bucket at once: about one
    // 429 per second (4 %), where the adaptive budget meets one every several seconds.
    expect(throttled).toBeGreaterThan(Math.max(0.02, 1.5 * adaptiveThrottled));
  });

  it('never exceeds the ceiling when the limit is above it, and gets close to the ceiling', async () => {
    sim.setRateLimit({ requestsPerSecond: 1000 });
    sim.clearRequests();
    const ceiling = 30;
    const client = clientFor(sim, { maxRequestsPerSecond: ceiling, maxConcurrency: 8 });
    await drive(200, 8, () => client.listRoles());
    client.close();
    expect(sim.rateLimitStats().limited).toBe(0);
    expect(client.budget().rate).toBe(ceiling);
    // Arrivals in any one-second window: the rate plus the adaptive bucket's fifth of a second,
    // and a little for arrivals bunched on their way.
    const at = sim
      .requests()
      .map((e) => e.at)
      .sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < at.length; i++) {
      while ((at[i] as number) - (at[j] as number) >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    expect(peak).toBeLessThanOrEqual(ceiling * 1.2 + 3);
    // After the slow start (10/s, doubling each second), most of the run goes at the ceiling.
    expect(perSecond(sim, (s) => s === 200)).toBeGreaterThan(ceiling * 0.6);
  });
});

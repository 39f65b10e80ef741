import { describe, expect, it } from 'vitest';
import { type BudgetStore, LocalBudgetStore } from '../../../src/devin/budget.js';
import { LimiterAbortedError, RequestLimiter, sleep } from '../../../src/devin/limiter.js';
import { runTaskPool } from '../../../src/util/taskPool.js';

describe('RequestLimiter', () => {
  it('never lets more than `concurrency` requests run at once', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 0, concurrency: 3 });
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const release = await limiter.acquire();
        running++;
        peak = Math.max(peak, running);
        await sleep(5);
        running--;
        release();
      }),
    );
    expect(peak).toBe(3);
  });

  it('fixed (adaptive: false): spends at most one second of burst, then the steady rate', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 50, concurrency: 100, adaptive: false });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 75 }, async () => {
        (await limiter.acquire())();
      }),
    );
    const elapsed = Date.now() - started;
    // 50 from the burst, 25 more at 50/s ≈ 500 ms.
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(2000);
  });

  it('holds every caller while paused', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 0, concurrency: 4 });
    limiter.pause(Date.now() + 300);
    const started = Date.now();
    (await limiter.acquire())();
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('adaptive: starts below the ceiling, and a 429 pauses every caller and cuts the rate', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 100, concurrency: 8 });
    expect(limiter.info().rate).toBe(10);
    const first = await limiter.acquire();
    first({ kind: 'throttled', pauseMs: 300 });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        (await limiter.acquire())({ kind: 'ok' });
      }),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(limiter.info().cuts).toBe(1);
    expect(limiter.info().rate).toBeLessThan(10);
  });

  it('adaptive: the rate grows while requests go through and the budget holds them back', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 1000, concurrency: 4 });
    // ~1.5 s of limited sending at 10/s and up: the slow start doubles it at least once.
    const until = Date.now() + 1500;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < until) (await limiter.acquire())({ kind: 'ok' });
      }),
    );
    expect(limiter.info().rate).toBeGreaterThan(20);
    expect(limiter.info().cuts).toBe(0);
  });

  it('stops waiting when the signal aborts (a long Retry-After must not hold a shutdown)', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 10, concurrency: 1 });
    (await limiter.acquire())({ kind: 'throttled', pauseMs: 60_000 });
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    setTimeout(() => ac.abort(), 20);
    await expect(waiting).rejects.toBeInstanceOf(LimiterAbortedError);
  });

  it('a 429 reported while an exchange with the store is on its way still reaches the store', async () => {
    // A shared store whose answers can be held back, as a slow Redis would.
    const inner = new LocalBudgetStore();
    const cuts: number[] = [];
    let hold: Promise<void> | undefined;
    const store: BudgetStore = {
      shared: true,
      exchange: async (x) => {
        if (x.update) cuts.push(x.update.state.cuts);
        if (hold) await hold;
        return inner.exchangeNow(x);
      },
    };
    const limiter = new RequestLimiter({ requestsPerSecond: 100, concurrency: 4, store });
    const first = await limiter.acquire();
    let open: () => void = () => {};
    hold = new Promise((r) => {
      open = r;
    });
    const second = limiter.acquire();
    await sleep(10);
    // The second acquire's exchange is in flight, without this news.
    first({ kind: 'throttled', pauseMs: 50 });
    hold = undefined;
    open();
    (await second)();
    await sleep(100);
    expect(cuts).toContain(1);
    expect(limiter.info().cuts).toBe(1);
  });

  it('rejects nonsense settings', () => {
    expect(() => new RequestLimiter({ requestsPerSecond: -1, concurrency: 1 })).toThrow(/requestsPerSecond/);
    expect(() => new RequestLimiter({ requestsPerSecond: 1, concurrency: 0 })).toThrow(/concurrency/);
  });
});

describe('runTaskPool', () => {
  it('runs tasks a task discovers, within the bound', async () => {
    const done: string[] = [];
    let running = 0;
    let peak = 0;
    const leaf = (name: string) => async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(2);
      done.push(name);
      running--;
      return undefined;
    };
    await runTaskPool(
      [
        async () => {
          await sleep(1);
          done.push('root');
          return [leaf('a'), leaf('b'), leaf('c'), leaf('d')];
        },
        leaf('x'),
      ],
      2,
    );
    expect(done.sort()).toEqual(['a', 'b', 'c', 'd', 'root', 'x']);
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('rejects with the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) => async () => {
      started.push(i);
      await sleep(1);
      if (i === 1) throw new Error('boom');
      return undefined;
    });
    await expect(runTaskPool(tasks, 2)).rejects.toThrow('boom');
    await sleep(20);
    expect(started.length).toBeLessThanOrEqual(3);
  });

  it('resolves an empty pool', async () => {
    await expect(runTaskPool([], 4)).resolves.toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { RequestLimiter, sleep } from '../../../src/devin/limiter.js';
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

  it('spends at most one second of burst, then the steady rate', async () => {
    const limiter = new RequestLimiter({ requestsPerSecond: 50, concurrency: 100 });
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

// The idle collector's timing (src/daemon/idleGc.ts): one full GC once the process has been quiet,
// never while work goes on, at most one per interval, then a young-generation GC; and the plan
// cache of the op workers that it clears. The GC itself is V8's (exposedGc) in the daemon; here a
// recording stand-in, so the test says when it is called, not what V8 frees.
import { EventEmitter } from 'node:events';
import type { Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OpsCache } from '../../../src/apply/queue/opWorker.js';
import { collectAfterRuns, exposedGc, idleCollector } from '../../../src/daemon/idleGc.js';
import type { Op } from '../../../src/reconcile/plan.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function recorder() {
  const calls: string[] = [];
  const gc = (options?: { type: 'minor' }) => {
    calls.push(options?.type ?? 'major');
  };
  return { calls, gc };
}

describe('idleCollector', () => {
  it('collects once, quietMs after the last of a burst of pokes, then a minor GC settleMs later', () => {
    const { calls, gc } = recorder();
    const idle: string[] = [];
    const c = idleCollector({ gc, quietMs: 2_000, settleMs: 20_000, onIdle: () => idle.push('idle') });
    c.poke();
    vi.advanceTimersByTime(1_500);
    c.poke();
    vi.advanceTimersByTime(1_999);
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(['major']);
    expect(idle).toEqual(['idle']);
    expect(c.collections).toBe(1);
    vi.advanceTimersByTime(20_000);
    expect(calls).toEqual(['major', 'minor']);
    vi.advanceTimersByTime(600_000);
    expect(calls).toEqual(['major', 'minor']);
  });

  it('puts the collection off while work goes on, and the minor GC too', () => {
    const { calls, gc } = recorder();
    const c = idleCollector({ gc, quietMs: 2_000, settleMs: 20_000 });
    c.poke();
    vi.advanceTimersByTime(1_000);
    c.busy();
    vi.advanceTimersByTime(60_000);
    expect(calls).toEqual([]);
    c.poke();
    vi.advanceTimersByTime(2_000);
    expect(calls).toEqual(['major']);
    c.busy();
    vi.advanceTimersByTime(60_000);
    expect(calls).toEqual(['major']);
  });

  it('leaves at least minIntervalMs between two full collections', () => {
    const { calls, gc } = recorder();
    const c = idleCollector({ gc, quietMs: 2_000, minIntervalMs: 5_000, settleMs: 60_000 });
    c.poke();
    vi.advanceTimersByTime(2_000);
    expect(calls).toEqual(['major']);
    c.poke();
    vi.advanceTimersByTime(2_000);
    expect(calls).toEqual(['major']);
    vi.advanceTimersByTime(3_000);
    expect(calls).toEqual(['major', 'major']);
  });

  it('without a GC still runs onIdle, so caches are dropped', () => {
    const idle: string[] = [];
    const c = idleCollector({ gc: null, quietMs: 10, onIdle: () => idle.push('idle') });
    c.poke();
    vi.advanceTimersByTime(10);
    expect(idle).toEqual(['idle']);
    expect(c.collections).toBe(0);
  });

  it('reports the heap before and after, and the code in it', () => {
    const { gc } = recorder();
    const seen: Array<{ heapUsedAfter: number; codeAfter: number; ms: number }> = [];
    const c = idleCollector({ gc, quietMs: 10, onCollected: (x) => seen.push(x) });
    c.poke();
    vi.advanceTimersByTime(10);
    expect(seen).toHaveLength(1);
    const [x] = seen;
    expect(x?.heapUsedAfter).toBeGreaterThan(0);
    expect(x?.codeAfter).toBeGreaterThan(0);
    expect(x?.codeAfter).toBeLessThan(x?.heapUsedAfter ?? 0);
    expect(x?.ms).toBeGreaterThanOrEqual(0);
  });

  it('stop() cancels what is pending', () => {
    const { calls, gc } = recorder();
    const c = idleCollector({ gc, quietMs: 10 });
    c.poke();
    c.stop();
    vi.advanceTimersByTime(1_000);
    expect(calls).toEqual([]);
  });
});

describe('collectAfterRuns', () => {
  const workers = () => {
    const sync = new EventEmitter();
    const ops = new EventEmitter();
    return { sync, ops, asWorkers: [sync as unknown as Worker, ops as unknown as Worker] as const };
  };

  it('collects after the run this process conducted, and drops its ops at once', () => {
    const { calls, gc } = recorder();
    const events: string[] = [];
    const { sync, ops, asWorkers } = workers();
    collectAfterRuns(...asWorkers, {
      gc,
      quietMs: 2_000,
      onRunDone: () => events.push('run done'),
      onIdle: () => events.push('idle'),
    });
    sync.emit('active');
    ops.emit('active');
    // Between two phases the ops queue drains while the run goes on: no idle.
    ops.emit('drained');
    vi.advanceTimersByTime(60_000);
    expect(calls).toEqual([]);
    sync.emit('completed');
    expect(events).toEqual(['run done']);
    vi.advanceTimersByTime(2_000);
    expect(events).toEqual(['run done', 'idle']);
    expect(calls).toEqual(['major']);
  });

  it('on a replica that only ran ops, collects once its queue drained and stayed quiet', () => {
    const { calls, gc } = recorder();
    const { ops, asWorkers } = workers();
    collectAfterRuns(...asWorkers, { gc, quietMs: 2_000 });
    ops.emit('active');
    ops.emit('drained');
    vi.advanceTimersByTime(1_000);
    ops.emit('active');
    vi.advanceTimersByTime(10_000);
    expect(calls).toEqual([]);
    ops.emit('drained');
    vi.advanceTimersByTime(2_000);
    expect(calls).toEqual(['major']);
  });
});

describe('exposedGc', () => {
  it("is V8's gc() in this runtime", () => {
    expect(typeof exposedGc()).toBe('function');
  });
});

describe('OpsCache', () => {
  it('parses a run once until cleared, then again', async () => {
    const reads: string[] = [];
    const ops = [{ kind: 'registerIdpGroups', key: 'k' }] as unknown as Op[];
    const cache = new OpsCache({
      ops: async (runId: string) => {
        reads.push(runId);
        return ops;
      },
    });
    expect(await cache.get('r1')).toBe(ops);
    expect(await cache.get('r1')).toBe(ops);
    expect(reads).toEqual(['r1']);
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
    await cache.get('r1');
    expect(reads).toEqual(['r1', 'r1']);
  });

  it('serves the ops its conductor put without reading them', async () => {
    const reads: string[] = [];
    const cache = new OpsCache({
      ops: async (runId: string) => {
        reads.push(runId);
        return [];
      },
    });
    const ops = [{ kind: 'inviteUsers', key: 'i' }] as unknown as Op[];
    cache.put('r2', ops);
    expect(await cache.get('r2')).toBe(ops);
    expect(reads).toEqual([]);
  });
});

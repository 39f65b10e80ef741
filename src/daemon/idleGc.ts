// A full garbage collection once a run is over and the process has gone quiet.
//
// A run of a big directory allocates hundreds of megabytes that survive young-generation GCs (the
// snapshots, the plan, the reports, the replies of thousands of op jobs) and so land in old space.
// V8 collects old space only when its allocation limit is reached, and an idle daemon allocates
// almost nothing: without a nudge that garbage, and the external memory (Buffers) its dead objects
// hold, stays resident until the next run, measured at 300-380 MB at 10,000 users where the live
// heap is under 60 MB (bench/memory). One full GC after the run frees it, and V8 then returns the
// empty pages to the OS; its memory reducer, which only starts after a full GC, shrinks the rest.
//
// V8 offers no API for this without --expose-gc; the flag is set at run time (a documented V8
// flag, only its JS binding is created here) and the function taken from a fresh context, which
// is the one place V8 installs it after startup.
import { getHeapCodeStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Worker } from 'bullmq';

/**
 * V8's gc(): a full GC without arguments, a young-generation one with `{ type: 'minor' }`. (V8 11,
 * Node 20, reads any options object as minor, so a full GC is only ever asked for without one.)
 */
type Gc = (options?: { type: 'minor' }) => void;

let cached: Gc | null | undefined;

/** V8's gc(), or null where the runtime refuses to expose it. */
export function exposedGc(): Gc | null {
  if (cached !== undefined) return cached;
  const global = (globalThis as { gc?: Gc }).gc;
  if (typeof global === 'function') {
    cached = global;
    return cached;
  }
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    cached = typeof fn === 'function' ? (fn as Gc) : null;
  } catch {
    cached = null;
  }
  return cached;
}

/**
 * A full GC that also compacts every fragmented page. A plain full GC frees the dead objects but
 * evacuates only the emptiest pages: after a 10,000-user run the heap kept 160 MB of pages for
 * 50 MB of live objects. The flag is on for this one collection only, so the GCs V8 starts itself
 * (during runs, where their pause matters) stay as they are.
 */
function compactingGc(gc: Gc): void {
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

export interface IdleCollector {
  /** Something finished (a run, a queue drained): collect once nothing else has happened for `quietMs`. */
  poke(): void;
  /** Work started: no collection until the next poke. */
  busy(): void;
  /** Collections done so far (for tests and the log). */
  readonly collections: number;
  stop(): void;
}

export interface IdleCollectorOptions {
  /** How long nothing must happen after a poke. Default 2 s. */
  quietMs?: number;
  /**
   * At least this long between two collections (default 5 s): with runs back to back (a webhook
   * every few seconds) the daemon would otherwise compact its whole heap after each of them.
   */
  minIntervalMs?: number;
  /** Default: V8's own (exposedGc); null: none, only `onIdle` runs. */
  gc?: Gc | null;
  /** Called first, so what it drops is collected: caches that only a run in progress needs. */
  onIdle?: () => void;
  /**
   * After the full GC, still idle this long: a young-generation GC (a few ms), default 20 s. V8
   * shrinks the young generation (32 MB once a run has grown it) only in a GC that sees a low
   * allocation rate, which the one just after a run never does; its memory reducer may take minutes.
   */
  settleMs?: number;
  /** After each full collection: the heap used before and after it, and its pause. */
  onCollected?: (c: Collection) => void;
}

export interface Collection {
  heapUsedBefore: number;
  /** What the process really keeps between runs. */
  heapUsedAfter: number;
  /**
   * Of that, compiled code and its metadata (bytecode, machine code, deoptimization data): it
   * depends on which functions ran hot, not on the data kept (after a 3,000-op run, 1 MB more of
   * optimized code than after a 20-op one).
   */
  codeAfter: number;
  ms: number;
}

/**
 * Debounced: a burst of finished jobs (a run's last ops, then the run) gives one collection,
 * `quietMs` after the last of them, so no GC pause lands in the middle of work.
 */
export function idleCollector(opts: IdleCollectorOptions = {}): IdleCollector {
  const quietMs = opts.quietMs ?? 2_000;
  const minIntervalMs = opts.minIntervalMs ?? 5_000;
  const settleMs = opts.settleMs ?? 20_000;
  const gc = opts.gc === undefined ? exposedGc() : opts.gc;
  let timer: NodeJS.Timeout | undefined;
  let collections = 0;
  let lastAt = Number.NEGATIVE_INFINITY;
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return {
    poke() {
      cancel();
      const wait = Math.max(quietMs, lastAt + minIntervalMs - performance.now());
      timer = setTimeout(() => {
        timer = undefined;
        opts.onIdle?.();
        if (!gc) return;
        const heapUsedBefore = process.memoryUsage().heapUsed;
        const t0 = performance.now();
        compactingGc(gc);
        lastAt = performance.now();
        collections++;
        if (opts.onCollected) {
          const code = getHeapCodeStatistics();
          opts.onCollected({
            heapUsedBefore,
            heapUsedAfter: process.memoryUsage().heapUsed,
            codeAfter: code.code_and_metadata_size + code.bytecode_and_metadata_size,
            ms: lastAt - t0,
          });
        }
        timer = setTimeout(() => {
          timer = undefined;
          gc({ type: 'minor' });
        }, settleMs);
        timer.unref();
      }, wait);
      // Never what keeps the process alive.
      timer.unref();
    },
    busy: cancel,
    get collections() {
      return collections;
    },
    stop: cancel,
  };
}

/**
 * Collects after a run (the sync worker finished a job) and after the ops queue drained on a
 * replica that conducts no run (its ops are done); an op or a run that starts in between puts it
 * off. While this process conducts a run, the ops queue draining between two phases is no idle.
 */
export function collectAfterRuns(
  sync: Worker,
  ops: Worker,
  opts: IdleCollectorOptions & {
    /**
     * At once when this process's run is over (its ops settled, so nothing of it is needed), even
     * if the next run starts before the process is idle: it then plans without the last one's ops.
     */
    onRunDone?: () => void;
  } = {},
): IdleCollector {
  const collector = idleCollector(opts);
  let conducting = false;
  sync.on('active', () => {
    conducting = true;
    collector.busy();
  });
  ops.on('active', () => collector.busy());
  const runDone = () => {
    conducting = false;
    opts.onRunDone?.();
    collector.poke();
  };
  sync.on('completed', runDone);
  sync.on('failed', runDone);
  ops.on('drained', () => {
    if (!conducting) collector.poke();
  });
  return collector;
}

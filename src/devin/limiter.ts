// Client-side politeness: a cap on requests in flight, and a request budget. The budget is a token
// bucket whose rate either stays at `requestsPerSecond` (fixed) or adapts below it as a ceiling
// (src/devin/adaptiveRate.ts): up while requests go through, down on a 429. A 429's Retry-After
// pauses every caller sharing the budget, not only the one that saw it. The budget lives in a
// BudgetStore: this process's, or one in Redis that every replica shares (src/devin/sharedBudget.ts).
import {
  initialState,
  onDelivered,
  onSuccess,
  onThrottle,
  type RateSettings,
  type RateState,
  rateSettings,
} from './adaptiveRate.js';
import { type BudgetReply, type BudgetStore, LocalBudgetStore } from './budget.js';

export interface LimiterOptions {
  /** The ceiling. 0 or Infinity: no rate limit (nor adaptation), only the concurrency cap and pauses. */
  requestsPerSecond: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Adapt the rate below the ceiling (default true); false: always the ceiling (the old budget). */
  adaptive?: boolean;
  /** Where the budget lives (default: this process). */
  store?: BudgetStore;
  /** Tuning of the controller (tests). */
  rate?: Partial<Omit<RateSettings, 'ceiling'>>;
  /** Told whenever the budget's rate or its count of cuts changes (metrics). */
  onChange?: (info: BudgetInfo) => void;
  /** A shared store failed; requests go on under this process's copy of the budget meanwhile. */
  onStoreError?: (err: unknown) => void;
  now?: () => number;
}

export interface BudgetInfo {
  /** Requests per second granted now (Infinity: no budget). */
  rate: number;
  /** Cuts on 429s since the budget was made (shared: by every replica). */
  cuts: number;
  /** Epoch ms (this process's clock) until which requests wait; 0 if none. */
  pausedUntil: number;
}

/** How a request went, for the budget: `ok` is any answer but a 429. */
export type Feedback = { kind: 'ok' } | { kind: 'throttled'; pauseMs: number };

/** Hands the concurrency slot back; with feedback, also tells the budget how the request went. */
export type Release = (feedback?: Feedback) => void;

export class LimiterAbortedError extends Error {
  constructor() {
    super('aborted while waiting for the request budget');
    this.name = 'LimiterAbortedError';
  }
}

/** The bucket holds this much of the rate: the old fixed budget kept one second of burst. */
const FIXED_BURST_MS = 1000;
/**
 * Adaptive: a fifth of a second. Devin's own bucket is unknown; a short burst keeps the rate the
 * controller chose close to the rate Devin sees, so a 429 says something about that rate.
 */
const ADAPTIVE_BURST_MS = 200;
/** A shared budget hands a replica at most this much of the rate at once (fewer round trips). */
const LEASE_MS = 100;
/** Tokens not spent this soon after they were granted are dropped: no burst from an old lease. */
const LEASE_TTL_MS = 1000;
/** A shared store that takes longer than this is treated as down for a while. */
const STORE_TIMEOUT_MS = 1000;
const STORE_RETRY_MS = 1000;

interface View {
  state: RateState | null;
  version: number;
  /** The store's clock − this process's clock, in ms (0 for this process's own store). */
  offset: number;
}

interface Waiter {
  resolve: (limited: boolean) => void;
  reject: (err: Error) => void;
  /** It had to wait for the rate (not for a slot or a pause). */
  limited: boolean;
}

export class RequestLimiter {
  private readonly concurrency: number;
  private readonly now: () => number;
  /** Undefined: no rate limit at all. */
  private readonly settings: RateSettings | undefined;
  private readonly adaptive: boolean;
  private readonly burstMs: number;
  private readonly store: BudgetStore;
  private readonly fallback: LocalBudgetStore;
  private readonly onChange: ((info: BudgetInfo) => void) | undefined;
  private readonly onStoreError: ((err: unknown) => void) | undefined;

  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readonly tokenWaiters: Waiter[] = [];
  private pumping = false;
  /** Tokens this process holds from the store, and until when they may be spent (local clock). */
  private tokens = 0;
  private tokensUntil = 0;
  /** Local clock: a pause seen here (a 429, `pause()`), before or without the store. */
  private localPauseUntil = 0;

  /** What each store showed last (the shared one and this process's fallback). */
  private readonly views = new Map<BudgetStore, View>();
  private current: View | undefined;
  /** News for the store, applied to its state at the next exchange (this process's clock). */
  private limitedAt: number | null = null;
  /** 429s: when answered, the pause asked for, and when the refused request was sent. */
  private throttles: Array<{ at: number; pauseMs: number; sentAt: number }> = [];
  /** Send times of requests Devin admitted, for the controller's estimate of its limit. */
  private delivered: number[] = [];
  private storeDownUntil = 0;
  private lastInfo: BudgetInfo | undefined;
  /** Ends the pump's current sleep. */
  private wake: (() => void) | undefined;

  constructor(options: LimiterOptions) {
    if (!(options.concurrency >= 1))
      throw new RangeError(`concurrency must be ≥ 1, got ${options.concurrency}`);
    if (!(options.requestsPerSecond >= 0)) {
      throw new RangeError(`requestsPerSecond must be ≥ 0, got ${options.requestsPerSecond}`);
    }
    this.concurrency = options.concurrency;
    this.now = options.now ?? Date.now;
    const ceiling = options.requestsPerSecond;
    this.settings =
      ceiling > 0 && Number.isFinite(ceiling) ? rateSettings(Math.max(1, ceiling), options.rate) : undefined;
    this.adaptive = options.adaptive !== false && this.settings !== undefined;
    this.burstMs = this.adaptive ? ADAPTIVE_BURST_MS : FIXED_BURST_MS;
    this.fallback = new LocalBudgetStore(this.now);
    this.store = options.store ?? this.fallback;
    this.onChange = options.onChange;
    this.onStoreError = options.onStoreError;
  }

  /**
   * Waits for a concurrency slot and a rate token; returns the release function. A `signal` that
   * aborts meanwhile rejects with LimiterAbortedError (a long Retry-After must not hold a shutdown).
   */
  async acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) throw new LimiterAbortedError();
    if (this.inFlight >= this.concurrency) {
      await this.waitForSlot(signal);
    } else {
      this.inFlight++;
    }
    let limited: boolean;
    try {
      limited = await this.takeToken(signal);
    } catch (err) {
      this.release();
      throw err;
    }
    // The request leaves now: what Devin admitted is counted by when it was sent.
    const sentAt = this.now();
    let released = false;
    return (feedback) => {
      if (released) return;
      released = true;
      this.release();
      if (feedback) this.feedback(feedback, limited, sentAt);
    };
  }

  /** Holds every caller of this process until `untilMs` (epoch ms). */
  pause(untilMs: number): void {
    this.localPauseUntil = Math.max(this.localPauseUntil, untilMs);
  }

  /** The budget as last seen (shared: as of this process's last exchange with the store). */
  info(): BudgetInfo {
    if (!this.settings) return { rate: Number.POSITIVE_INFINITY, cuts: 0, pausedUntil: this.localPauseUntil };
    const state = this.current?.state;
    const shared = state ? state.pausedUntil - (this.current?.offset ?? 0) : 0;
    return {
      rate: state?.rate ?? this.startRate(),
      cuts: state?.cuts ?? 0,
      pausedUntil: Math.max(this.localPauseUntil, shared > this.now() ? shared : 0),
    };
  }

  // ---- slots ------------------------------------------------------------------------------------

  private waitForSlot(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.slotWaiters.indexOf(grant);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        reject(new LimiterAbortedError());
      };
      this.slotWaiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    const next = this.slotWaiters.shift();
    // The slot passes straight to the next waiter, so inFlight stays the same.
    if (next) next();
    else this.inFlight--;
  }

  // ---- tokens -----------------------------------------------------------------------------------

  /** Resolves with whether the caller had to wait for the rate. */
  private async takeToken(signal: AbortSignal | undefined): Promise<boolean> {
    if (!this.settings) {
      // No budget: only pauses hold requests back.
      for (;;) {
        const left = this.localPauseUntil - this.now();
        if (left <= 0) return false;
        await sleep(left, signal);
        if (signal?.aborted) throw new LimiterAbortedError();
      }
    }
    if (this.tokenWaiters.length === 0 && this.spendLocalToken()) return false;
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (limited) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(limited);
        },
        reject,
        limited: false,
      };
      const onAbort = () => {
        const i = this.tokenWaiters.indexOf(waiter);
        if (i >= 0) this.tokenWaiters.splice(i, 1);
        // Nobody left to wait for: the pump must not sleep out a long pause (it would keep the
        // process alive after a shutdown).
        if (this.tokenWaiters.length === 0) this.wake?.();
        reject(new LimiterAbortedError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.tokenWaiters.push(waiter);
      this.pump();
    });
  }

  private spendLocalToken(): boolean {
    const now = this.now();
    if (now < this.localPauseUntil || this.tokens < 1) return false;
    if (now > this.tokensUntil) {
      this.tokens = 0;
      return false;
    }
    this.tokens--;
    return true;
  }

  /** One loop per process hands out tokens, fetching them from the store one exchange at a time. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pumpLoop().finally(() => {
      this.pumping = false;
      // News that arrived as the loop ended.
      if (this.tokenWaiters.length > 0 || this.mustReport()) this.pump();
    });
  }

  private async pumpLoop(): Promise<void> {
    for (;;) {
      while (this.tokenWaiters.length > 0 && this.spendLocalToken()) {
        const w = this.tokenWaiters.shift() as Waiter;
        w.resolve(w.limited);
      }
      const pausedFor = this.localPauseUntil - this.now();
      // A 429 is reported before anything else: the other replicas should pause now, not after us.
      const report = this.mustReport();
      if (pausedFor > 0 && this.tokenWaiters.length > 0 && !report) {
        await this.nap(pausedFor);
        continue;
      }
      if (this.tokenWaiters.length === 0 && !report) return;
      const want =
        this.tokenWaiters.length === 0 || pausedFor > 0
          ? 0
          : Math.min(this.tokenWaiters.length, this.leaseSize());
      const reply = await this.exchange(want);
      if (!reply) {
        await this.nap(STORE_RETRY_MS);
        continue;
      }
      this.tokens = reply.granted;
      this.tokensUntil = this.now() + LEASE_TTL_MS;
      for (; this.tokens >= 1 && this.tokenWaiters.length > 0; this.tokens--) {
        const w = this.tokenWaiters.shift() as Waiter;
        w.resolve(w.limited);
      }
      if (this.tokenWaiters.length > 0 && reply.granted < want) {
        const paused = reply.state !== null && reply.state.pausedUntil > reply.now;
        // Waiting out the rate is what "limited" means; waiting out a pause is not.
        if (!paused) for (const w of this.tokenWaiters) w.limited = true;
        await this.nap(Math.max(1, reply.waitMs));
      }
    }
  }

  /** The pump's sleep, cut short by news that must reach the store at once (a 429). */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wake = done;
    });
  }

  /**
   * A 429 not yet in the store, which can take it now. While a shared store is down, the news
   * waits for it (and rides along to the fallback with the token exchanges meanwhile).
   */
  private mustReport(): boolean {
    return this.throttles.length > 0 && !(this.store.shared && this.now() < this.storeDownUntil);
  }

  private leaseSize(): number {
    if (!this.store.shared) return 1;
    const rate = this.current?.state?.rate ?? this.startRate();
    return Math.max(1, Math.floor((rate * LEASE_MS) / 1000));
  }

  private startRate(): number {
    const s = this.settings as RateSettings;
    return this.adaptive ? s.initial : s.ceiling;
  }

  /**
   * One atomic step on the store: our news (limited sending, 429s) applied to the state we last
   * saw, stored if nobody changed it meanwhile, and tokens taken. Undefined: even this process's
   * own store could not answer (it always can).
   */
  private async exchange(want: number): Promise<BudgetReply | undefined> {
    const store = this.store.shared && this.now() < this.storeDownUntil ? this.fallback : this.store;
    const view = this.viewOf(store);
    const now = this.now() + view.offset;
    const base = view.state ?? this.seed(view) ?? this.freshState(now);
    // A copy: a 429 reported while this exchange is on its way is not in it, and must stay news.
    const throttles = [...this.throttles];
    const delivered = this.delivered;
    this.delivered = [];
    const limitedAt = this.limitedAt;
    let next = base;
    if (this.adaptive && limitedAt !== null) {
      next = onSuccess(next, this.settings as RateSettings, limitedAt + view.offset, true);
    }
    next = this.applyNews(next, throttles, delivered, view.offset);
    const update = next !== base || view.state === null ? { version: view.version, state: next } : undefined;
    let reply: BudgetReply;
    try {
      reply = await withTimeout(
        store.exchange({ want, burstMs: this.burstMs, ...(update ? { update } : {}) }),
      );
    } catch (err) {
      // Not stored: the admitted requests are news again (a 429 of theirs may come next).
      this.delivered = delivered.concat(this.delivered);
      if (store === this.fallback) return undefined;
      // Requests go on under this process's copy of the budget, from the last state seen, and the
      // shared store is tried again in a while.
      this.storeDownUntil = this.now() + STORE_RETRY_MS;
      this.onStoreError?.(err);
      return this.exchange(want);
    }
    if (store.shared) view.offset = reply.now - this.now();
    // Our news is in (or there was none): forget what was sent, keep what came since. News given
    // only to the fallback stays for the shared store, so other replicas still hear of a 429 seen
    // while Redis was slow; applying it twice is harmless (a second report of the same 429 falls
    // in its quiet time, a second report of the same limited sending advances nothing).
    if ((reply.stored || !update) && store === this.store) {
      this.throttles = this.throttles.filter((t) => !throttles.includes(t));
      if (this.limitedAt === limitedAt) this.limitedAt = null;
    }
    // Admitted requests are forgotten once any store has counted them, unlike the rest: counted
    // twice (the fallback, then Redis) they would raise the estimate, while lost they only lower it.
    if (update && !reply.stored) this.delivered = delivered.concat(this.delivered);
    view.version = reply.version;
    view.state = reply.state;
    this.current = view;
    this.notify();
    return reply;
  }

  private viewOf(store: BudgetStore): View {
    let view = this.views.get(store);
    if (!view) {
      view = { state: null, version: 0, offset: 0 };
      this.views.set(store, view);
    }
    return view;
  }

  /** A first state for `view` from the other store's, moved onto this one's clock. */
  private seed(view: View): RateState | null {
    const other = this.current;
    if (!other?.state || other === view) return null;
    const d = view.offset - other.offset;
    const s = other.state;
    return {
      ...s,
      lastMs: s.lastMs + d,
      pausedUntil: s.pausedUntil ? s.pausedUntil + d : 0,
      quietUntil: s.quietUntil ? s.quietUntil + d : 0,
    };
  }

  private freshState(now: number): RateState {
    const s = this.settings as RateSettings;
    const state = initialState(s, now);
    return this.adaptive ? state : { ...state, rate: s.ceiling, base: s.ceiling };
  }

  /**
   * This process's news applied to a state, in the order the requests were sent: an admitted
   * request sent before a 429's belongs to the interval that 429 ends, one sent after to the next.
   */
  private applyNews(
    state: RateState,
    throttles: ReadonlyArray<{ at: number; pauseMs: number; sentAt: number }>,
    delivered: readonly number[],
    offset: number,
  ): RateState {
    const s = this.settings as RateSettings;
    const count = (st: RateState, sent: readonly number[]) =>
      this.adaptive && sent.length > 0
        ? onDelivered(
            st,
            s,
            sent.map((d) => d + offset),
          )
        : st;
    let st = state;
    let rest = delivered;
    for (const t of [...throttles].sort((a, b) => a.sentAt - b.sentAt)) {
      st = count(
        st,
        rest.filter((d) => d <= t.sentAt),
      );
      rest = rest.filter((d) => d > t.sentAt);
      st = this.throttled(st, t.at + offset, t.pauseMs, t.sentAt + offset);
    }
    return count(st, rest);
  }

  private throttled(state: RateState, at: number, pauseMs: number, sentAt: number): RateState {
    const s = this.settings as RateSettings;
    if (this.adaptive) return onThrottle(state, s, at, pauseMs, sentAt);
    // Fixed: the pause is shared, the rate stays.
    const pausedUntil = Math.max(state.pausedUntil, at + Math.min(Math.max(0, pauseMs), s.maxPauseMs));
    return { ...state, rate: s.ceiling, pausedUntil };
  }

  // ---- feedback ---------------------------------------------------------------------------------

  private feedback(f: Feedback, limited: boolean, sentAt: number): void {
    if (!this.settings) {
      if (f.kind === 'throttled') this.pause(this.now() + f.pauseMs);
      return;
    }
    if (f.kind === 'ok') {
      if (!this.adaptive) return;
      if (limited) this.limitedAt = this.now();
      this.delivered.push(sentAt);
      return;
    }
    // This process stops at once; the store (and so every replica) at the next exchange, which
    // the pump makes right away.
    const pauseMs = Math.min(Math.max(0, f.pauseMs), (this.settings as RateSettings).maxPauseMs);
    this.pause(this.now() + pauseMs);
    this.tokens = 0;
    this.throttles.push({ at: this.now(), pauseMs, sentAt });
    this.wake?.();
    this.pump();
  }

  private notify(): void {
    if (!this.onChange) return;
    const info = this.info();
    const last = this.lastInfo;
    if (last && last.rate === info.rate && last.cuts === info.cuts && last.pausedUntil === info.pausedUntil)
      return;
    this.lastInfo = info;
    this.onChange(info);
  }
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`budget store gave no answer in ${STORE_TIMEOUT_MS} ms`)),
      STORE_TIMEOUT_MS,
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

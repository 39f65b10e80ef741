// Where the request budget lives: in this process (`idsync apply`, tests), or in Redis for every
// replica at once (src/devin/sharedBudget.ts). Both hold the same two things, a rate controller's
// state (src/devin/adaptiveRate.ts) and the token bucket that state's rate refills, and change them
// in one atomic step, so a replica's view of the rate and the tokens it takes never disagree.
import { type Bucket, burstFor, type RateState, takeTokens } from './adaptiveRate.js';

export interface BudgetExchange {
  /** Tokens wanted now; 0 only stores `update` and reads the state. */
  want: number;
  /**
   * A new controller state computed from the one at `version` (0: none stored yet). Stored only if
   * that is still the current version, so two replicas' updates never overwrite each other: the
   * loser sees the winner's state in the reply and applies its news to that one.
   */
  update?: { version: number; state: RateState };
  /** The bucket holds this many milliseconds of the rate (at least one token). */
  burstMs: number;
}

export interface BudgetReply {
  granted: number;
  /** When fewer tokens than wanted were granted: milliseconds until the next one, or the pause ends. */
  waitMs: number;
  /** The store's clock (epoch ms): every time in `state` is on it. */
  now: number;
  version: number;
  /** null: nothing stored yet (and no update offered). */
  state: RateState | null;
  /** `update` was stored. */
  stored: boolean;
}

/** The small interface a DevinClient takes; the Redis implementation is src/devin/sharedBudget.ts. */
export interface BudgetStore {
  /** Shared with other processes (a failure of the store should not stop requests). */
  readonly shared: boolean;
  exchange(x: BudgetExchange): Promise<BudgetReply>;
}

/** The budget of one process. Synchronous underneath; the promise is only for the interface. */
export class LocalBudgetStore implements BudgetStore {
  readonly shared = false;
  private version = 0;
  private state: RateState | null = null;
  private bucket: Bucket | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  exchange(x: BudgetExchange): Promise<BudgetReply> {
    return Promise.resolve(this.exchangeNow(x));
  }

  exchangeNow(x: BudgetExchange): BudgetReply {
    const now = this.now();
    let stored = false;
    if (x.update && x.update.version === this.version) {
      this.state = x.update.state;
      this.version++;
      stored = true;
    }
    const state = this.state;
    if (!state) return { granted: 0, waitMs: 0, now, version: this.version, state: null, stored };
    const burst = burstFor(state.rate, x.burstMs);
    const take = takeTokens(
      this.bucket ?? { tokens: burst, refilledAt: now },
      state.rate,
      burst,
      now,
      x.want,
      state.pausedUntil,
    );
    this.bucket = take.bucket;
    return { granted: take.granted, waitMs: take.waitMs, now, version: this.version, state, stored };
  }
}

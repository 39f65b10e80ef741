// Memory of webhook signatures already accepted, so a captured request cannot be re-sent while its
// timestamp is still inside the window. An entry is only needed until its `t` leaves the window,
// after which the timestamp check refuses the request anyway.

export class ReplayGuard {
  /** digest → unix second after which the entry is useless. Insertion order ≈ expiry order. */
  private readonly seen = new Map<string, number>();

  /**
   * @param maxEntries bound on memory. Only holders of the secret can add entries, so the bound is
   *   reached only by a sender doing more than maxEntries signed calls per window; beyond it the
   *   oldest entries are forgotten (a replay of those would then be accepted, and coalesce).
   */
  constructor(private readonly maxEntries = 10_000) {}

  /** True the first time `key` is claimed within its lifetime; records it. */
  claim(key: string, expiresAt: number, nowSeconds: number): boolean {
    this.prune(nowSeconds);
    const until = this.seen.get(key);
    if (until !== undefined && until >= nowSeconds) return false;
    this.seen.delete(key);
    this.seen.set(key, expiresAt);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done) break;
      this.seen.delete(oldest.value);
    }
    return true;
  }

  /** Forgets a claim whose request was not carried out, so the sender's retry is not a "replay". */
  release(key: string): void {
    this.seen.delete(key);
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(nowSeconds: number): void {
    // Stops at the first live entry: amortised O(1); stragglers go when the bound evicts them.
    for (const [key, until] of this.seen) {
      if (until >= nowSeconds) break;
      this.seen.delete(key);
    }
  }
}

/**
 * What the resync webhook asks of its replay memory. The daemon keeps it in Redis so that every
 * replica, and a restarted one, refuses a signature any of them accepted.
 * - `claimed`: first use; carry the request out, then `confirm` (or `release` if it failed).
 * - `replayed`: a request with this signature was carried out: 401.
 * - `pending`: another copy is being carried out right now: 503, retry (it may yet fail).
 */
export type ClaimResult = 'claimed' | 'replayed' | 'pending';

export interface ReplayStore {
  /** `expiresAt`: unix second after which the signature is refused as stale anyway. Throws when unreachable. */
  claim(key: string, expiresAt: number, nowSeconds: number): Promise<ClaimResult>;
  /** The claimed request was carried out: remember it until `expiresAt`. */
  confirm(key: string, expiresAt: number, nowSeconds: number): Promise<void>;
  /** The claimed request was not carried out: its sender's retry is not a replay. */
  release(key: string): Promise<void>;
}

/** One process's memory (a single replica; the tests of the HTTP layer). */
export class MemoryReplayStore implements ReplayStore {
  constructor(private readonly guard = new ReplayGuard()) {}

  async claim(key: string, expiresAt: number, nowSeconds: number): Promise<ClaimResult> {
    return this.guard.claim(key, expiresAt, nowSeconds) ? 'claimed' : 'replayed';
  }

  async confirm(): Promise<void> {}

  async release(key: string): Promise<void> {
    this.guard.release(key);
  }
}

/** The few commands of ioredis the Redis store uses (the daemon passes its edge connection). */
export interface ReplayRedis {
  set(key: string, value: string, ex: 'EX', seconds: number, nx: 'NX'): Promise<'OK' | null>;
  set(key: string, value: string, ex: 'EX', seconds: number): Promise<'OK'>;
  get(key: string): Promise<string | null>;
  del(...keys: string[]): Promise<number>;
}

/**
 * How long a claim lasts before its request is known to have been carried out. Longer than any
 * trigger takes (its deadline is 5 s); short, so a claim whose release was lost (Redis went away
 * mid-request) blocks the sender's retries for seconds only.
 */
export const PENDING_CLAIM_SECONDS = 30;
const PENDING = 'pending';
const DONE = 'done';

export class RedisReplayStore implements ReplayStore {
  constructor(
    private readonly redis: ReplayRedis,
    private readonly prefix: string,
  ) {}

  private key(digest: string): string {
    return `${this.prefix}:webhook-seen:${digest}`;
  }

  async claim(digest: string, expiresAt: number, nowSeconds: number): Promise<ClaimResult> {
    const ttl = Math.min(PENDING_CLAIM_SECONDS, Math.max(1, expiresAt - nowSeconds + 1));
    if ((await this.redis.set(this.key(digest), PENDING, 'EX', ttl, 'NX')) === 'OK') return 'claimed';
    return (await this.redis.get(this.key(digest))) === DONE ? 'replayed' : 'pending';
  }

  async confirm(digest: string, expiresAt: number, nowSeconds: number): Promise<void> {
    // Until the timestamp leaves the window: after that, the window check refuses it anyway.
    await this.redis.set(this.key(digest), DONE, 'EX', Math.max(1, expiresAt - nowSeconds + 1));
  }

  async release(digest: string): Promise<void> {
    await this.redis.del(this.key(digest));
  }
}

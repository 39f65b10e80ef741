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

// A request for the next run to read Devin in full instead of planning against the cached copy:
// whoever learns that the copy may be wrong (a DC failover, a 404/409 from Devin, an operator) sets
// it, and the next run consumes it. A key in Redis, so every replica's next run honours it.
import type { Redis } from 'ioredis';

export function fullReconcileKey(prefix: string): string {
  return `${prefix}:devin-cache:full-requested`;
}

/** Asks for a full reconcile at the next run; the reason is shown in that run's plan. */
export async function requestFullReconcile(redis: Redis, prefix: string, reason: string): Promise<void> {
  await redis.set(fullReconcileKey(prefix), reason.slice(0, 500));
}

/** The pending request's reason, taken (deleted) atomically so that only one run honours it. */
export async function takeFullReconcileRequest(redis: Redis, prefix: string): Promise<string | undefined> {
  const reason = await redis.getdel(fullReconcileKey(prefix));
  return reason ?? undefined;
}

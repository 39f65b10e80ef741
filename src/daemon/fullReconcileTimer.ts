// A full reconcile at least every devin.fullReconcileEvery, even when nothing triggers a run: the
// copy of Devin misses whatever others change in Devin until a full read, so its age is bounded
// here. Every replica checks; their triggers coalesce into the one pending run.
import type { Logger } from 'pino';
import { formatAge } from '../util/age.js';
import type { CopyMeta } from './devinCache.js';
import type { RunService } from './types.js';

export interface FullReconcileTimerDeps {
  meta: () => Promise<CopyMeta | undefined>;
  everyMs: number;
  trigger: RunService['trigger'];
  logger: Logger;
  /** How often the copy's age is checked. Default: a tenth of everyMs, at most a minute. */
  checkMs?: number;
  now?: () => number;
}

export function startFullReconcileTimer(deps: FullReconcileTimerDeps): { stop(): void } {
  const now = deps.now ?? Date.now;
  const checkMs = deps.checkMs ?? Math.min(60_000, Math.max(1000, Math.floor(deps.everyMs / 10)));
  const check = async () => {
    const meta = await deps.meta();
    // No copy: the next run reads in full anyway, and something will trigger it.
    if (!meta) return;
    const age = now() - Date.parse(meta.fullReadAt);
    if (age < deps.everyMs) return;
    await deps.trigger({
      trigger: 'schedule',
      reason: `full reconcile: the last full read of Devin was ${formatAge(age)} ago (devin.fullReconcileEvery)`,
    });
  };
  const timer = setInterval(() => {
    check().catch((err: unknown) =>
      deps.logger.warn({ err: (err as Error).message }, 'could not check the age of the copy of Devin'),
    );
  }, checkMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

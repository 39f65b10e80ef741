// Keeps the sync from wedging silently (issue 9). Every replica with workers runs one; each tick:
//
// - Redis lost its data? A marker key (RedisKeys.epoch) is written once per dataset; when it is
//   missing or changed, Redis restarted empty or failed over without persistence. The queue
//   settings that lived there (global concurrency, the job scheduler) are put back, and the replica
//   that writes the new marker triggers one run, which re-plans from a fresh read of the directory
//   and Devin. A run that was being applied is abandoned by its conductor (RunLostError), not
//   resumed: its plan, results and approval are gone, and Devin has moved since it was planned.
// - Is the sync stuck? A run waiting (queued, or planning/applying with nobody conducting it) while
//   no sync job is active, for longer than stuckAfterMs; or Redis's data lost and no run finished
//   since. A waiting run whose job is gone altogether is abandoned (marked failed) instead, since
//   nothing could ever take it. `health()` says so: /readyz answers 503 with `checks.sync: false`,
//   the gauge idsync_run_stuck is 1, and one error line names the reasons.
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { applyJobId, SCHEDULER_ID, SYNC_JOB } from '../apply/queue/names.js';
import type { LoadedConfig } from '../config/index.js';
import type { Notifier } from '../notify/queue.js';
import type { RunStore } from './runStore.js';
import type { RunService, RunStatus } from './types.js';

export interface SyncHealth {
  /** False while the sync is stuck. */
  ok: boolean;
  /** Why, in words (empty when ok). */
  reasons: string[];
}

export const HEALTHY: SyncHealth = { ok: true, reasons: [] };

export interface WatchdogOptions {
  store: RunStore;
  syncQueue: Queue;
  logger: Logger;
  /** Puts back what lived in Redis besides runs: the global concurrency, the job scheduler. */
  restore: () => Promise<void>;
  trigger: RunService['trigger'];
  /** How often to look. Default 5 s. */
  everyMs?: number;
  /** A run waiting this long with nothing active is stuck. Default 60 s. */
  stuckAfterMs?: number;
  /** With `notify:`: an abandoned run is a failed one, and someone should hear of it. */
  notifier?: Pick<Notifier, 'runChanged'>;
}

const WAITING: ReadonlySet<RunStatus> = new Set(['queued', 'planning', 'applying']);
/** Runs looked at per tick: the newest, which is where a wedged sync shows. */
const RECENT = 20;

export class SyncWatchdog {
  private readonly log: Logger;
  private readonly everyMs: number;
  private readonly stuckAfterMs: number;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private epoch: string | undefined;
  /** When this replica found Redis's data lost; cleared once a run finished after it. */
  private lostAt: number | undefined;
  /** Runs seen waiting with nothing active, since when. */
  private readonly idleSince = new Map<string, number>();
  private current: SyncHealth = HEALTHY;

  constructor(private readonly o: WatchdogOptions) {
    this.log = o.logger.child({ component: 'watchdog' });
    this.everyMs = o.everyMs ?? 5_000;
    this.stuckAfterMs = o.stuckAfterMs ?? 60_000;
  }

  /** Writes (or learns) the marker of this Redis's data, then looks every `everyMs`. */
  async start(): Promise<void> {
    this.epoch = (await this.o.store.ensureEpoch(randomUUID())).epoch;
    this.timer = setInterval(() => void this.tick(), this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  health(): SyncHealth {
    return this.current;
  }

  /** One look; a tick still running (Redis down: commands wait) is not started twice. */
  tick(): Promise<void> {
    this.ticking ??= this.look()
      .catch((err: unknown) =>
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'watchdog check failed'),
      )
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async look(): Promise<void> {
    await this.checkEpoch();
    const now = Date.now();
    const reasons: string[] = [];
    const recent = await this.o.store.list(RECENT);

    if (this.lostAt !== undefined) {
      const since = this.lostAt - this.everyMs;
      const recovered = recent.some(
        (r) => !WAITING.has(r.status) && r.startedAt !== undefined && Date.parse(r.startedAt) >= since,
      );
      if (recovered) {
        this.log.info('a run finished since Redis lost its data: the sync works again');
        this.lostAt = undefined;
      } else {
        reasons.push(
          `Redis lost idsync's data ${Math.round((now - this.lostAt) / 1000)} s ago and no run has finished since`,
        );
      }
    }

    const active = await this.o.syncQueue.getActiveCount();
    const seen = new Set<string>();
    if (active === 0) {
      for (const r of recent) {
        if (!WAITING.has(r.status)) continue;
        seen.add(r.id);
        const since = this.idleSince.get(r.id) ?? now;
        this.idleSince.set(r.id, since);
        if (now - since < this.stuckAfterMs) continue;
        // No job at all (Redis lost it but kept the record): nothing will ever take this run.
        const jobId = r.approvedAt !== undefined ? applyJobId(r.id) : r.id;
        if ((await this.o.syncQueue.getJobState(jobId)) === 'unknown') {
          const error = `run ${r.id} was lost in Redis: its record says ${r.status} but its job is gone. The run was abandoned; the next run re-plans from a fresh read`;
          if (await this.o.store.abandon(r, error)) {
            this.log.error({ runId: r.id }, error);
            await this.o.notifier?.runChanged(r.id, 'failed');
          }
          continue;
        }
        reasons.push(
          `run ${r.id} has been ${r.status} for ${Math.round((now - since) / 1000)} s with no run active`,
        );
      }
    }
    for (const id of [...this.idleSince.keys()]) if (!seen.has(id)) this.idleSince.delete(id);
    this.report(reasons);
  }

  private async checkEpoch(): Promise<void> {
    const stored = await this.o.store.epoch();
    if (stored !== undefined && stored === this.epoch) return;
    const { epoch, created } = await this.o.store.ensureEpoch(randomUUID());
    const before = this.epoch;
    this.epoch = epoch;
    if (before === undefined) return;
    this.lostAt = Date.now();
    this.log.error(
      { created },
      "Redis lost idsync's data (restarted empty or failed over without persistence): the run being applied is abandoned, the queue settings are restored, and a new run re-plans from a fresh read. The ownership ledger went too: with adopt: matching it is rebuilt for users still in the directory",
    );
    await this.o.restore();
    if (created) {
      const t = await this.o.trigger({
        trigger: 'startup',
        reason: 'Redis lost its data: re-sync from a fresh read',
      });
      this.log.info({ runId: t.runId }, 'recovery run requested');
    }
  }

  private report(reasons: string[]): void {
    const was = this.current;
    this.current = reasons.length === 0 ? HEALTHY : { ok: false, reasons };
    if (!this.current.ok && (was.ok || was.reasons.join() !== reasons.join())) {
      this.log.error({ reasons }, 'sync stuck');
    } else if (this.current.ok && !was.ok) {
      this.log.info('sync no longer stuck');
    }
  }
}

/**
 * The sync queue's settings in Redis: one run at a time across every replica, and (for `idsync
 * run`) the job scheduler in step with `schedule.every`. Applied at start and again after Redis
 * lost its data.
 */
export async function applyQueueSettings(
  syncQueue: Queue,
  config: LoadedConfig,
  scheduler: boolean,
  log: Logger,
): Promise<void> {
  await syncQueue.setGlobalConcurrency(1);
  if (!scheduler) return;
  if (config.schedule) {
    await syncQueue.upsertJobScheduler(
      SCHEDULER_ID,
      { every: config.schedule.everyMs },
      {
        name: SYNC_JOB.tick,
        data: {},
        opts: { removeOnComplete: { count: 10 }, removeOnFail: { count: 100 } },
      },
    );
    log.info({ every: config.schedule.every }, 'schedule set');
  } else {
    // The schedule lives in Redis: one removed from the config must stop there too.
    await syncQueue.removeJobScheduler(SCHEDULER_ID);
  }
}

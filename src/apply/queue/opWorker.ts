// The processor of `idsync-ops` jobs: one plan op each, through the same idempotent handler the
// inline executor uses (docs/design.md §7). Whatever delivers a job twice (a stalled worker, a retried
// enqueue, Redis restarting) ends in the same Devin state, because the handler re-reads before any
// write whose outcome is unknown, and the result is recorded once.
//
// A shutdown aborts the client: an op cut short that way is no failure of the op. Its job goes
// back to wait with no result and no attempt used, and another worker (or the next process) runs
// it from the start, exactly as after a killed worker.
import { type Job, type Queue, RateLimitError, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import type { DevinClient } from '../../devin/client.js';
import { DevinAbortedError, DevinApiError, DevinNetworkError } from '../../devin/errors.js';
import type { Op } from '../../reconcile/plan.js';
import type { StateStore } from '../../state/ledger.js';
import { handleOp, InviteIncompleteError } from '../inline/index.js';
import type { HandlerOutcome } from '../types.js';
import { OpJobData, type StoredOpResult } from './jobs.js';
import type { QueueMetrics, RunProgressStore } from './types.js';

export interface OpWorkerDeps {
  /** A client that does not wait out 429s itself (retry.maxRetryAfterMs 0): the queue does. */
  client: DevinClient;
  ledger: StateStore;
  progress: RunProgressStore;
  opsQueue: Pick<Queue, 'rateLimit'>;
  metrics: QueueMetrics;
  logger: Logger;
  /** Aborted when the process shuts down: an op cut short goes back to the queue unsettled. */
  signal?: AbortSignal;
  /** The queue pause after a 429 without Retry-After. Default 1 s. */
  defaultRateLimitMs?: number;
  /** A Retry-After longer than this is cut to it, so one bad header cannot stop the queue for a day. */
  maxRateLimitMs?: number;
  /** The parsed plans; the daemon passes its own to clear it when idle. Default: a new one. */
  cache?: OpsCache;
}

export type OpJobOutcome =
  | { settled: StoredOpResult['status'] }
  /** The op had settled already: a second delivery of the same job. */
  | { duplicate: true };

export function createOpProcessor(deps: OpWorkerDeps): (job: Job, token?: string) => Promise<OpJobOutcome> {
  const plans = deps.cache ?? new OpsCache(deps.progress);
  const log = deps.logger.child({ component: 'op-worker' });
  const defaultPause = deps.defaultRateLimitMs ?? 1000;
  const maxPause = deps.maxRateLimitMs ?? 15 * 60_000;

  /** Shutting down: the job goes back to wait for the next worker, without a result. */
  const handBack = async (job: Job, token: string | undefined, key: string): Promise<never> => {
    if (token === undefined) throw new UnrecoverableError(`op ${key} aborted by a shutdown`);
    await job.moveToWait(token);
    log.info({ jobId: job.id, key }, 'op handed back to the queue (shutting down)');
    throw new WaitingError();
  };

  return async (job, token) => {
    if (deps.signal?.aborted) return handBack(job, token, String(job.id));
    const data = OpJobData.parse(job.data);
    const { runId, key } = data;
    if (await deps.progress.hasResult(runId, key)) return { duplicate: true };
    const ops = await plans.get(runId);
    const op = ops?.[data.index];
    if (!op || op.key !== key) {
      throw new UnrecoverableError(`op ${key} is not in the stored plan of run ${runId}`);
    }

    const settle = async (r: Omit<StoredOpResult, 'key' | 'kind' | 'durationMs'>, t0: number) => {
      const result: StoredOpResult = {
        key,
        kind: op.kind,
        ...r,
        durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
      };
      const first = await deps.progress.recordResult(runId, result);
      if (first) deps.metrics.opSettled(op.kind, result.status);
      const fields = { runId, key, kind: op.kind, status: result.status, detail: result.detail };
      if (result.status === 'failed') log.warn({ ...fields, error: result.error }, 'op failed');
      else log.debug(fields, 'op done');
      return { settled: result.status } as const;
    };

    const t0 = performance.now();
    let outcome: HandlerOutcome;
    try {
      outcome = await handleOp(await withKnownUserId(op, runId, deps.progress), { client: deps.client });
    } catch (err) {
      if (deps.signal?.aborted && isAborted(err)) {
        // Whatever the handler managed before the abort, the next delivery re-reads first.
        if (err instanceof InviteIncompleteError && op.kind === 'inviteUsers' && err.confirmed.length > 0) {
          await deps.ledger.recordOp({ ...op, emails: [...err.confirmed] });
        }
        return handBack(job, token, key);
      }
      if (err instanceof InviteIncompleteError && op.kind === 'inviteUsers' && err.confirmed.length > 0) {
        // Those it did invite are idsync's whatever happens next; the ledger must say so now.
        await deps.ledger.recordOp({ ...op, emails: [...err.confirmed] });
      }
      const pause = rateLimitOf(err);
      if (pause !== undefined) {
        // Devin's budget is shared by every replica: pause the whole queue, not this worker. The
        // job goes back to wait without using an attempt.
        const ms = Math.min(maxPause, Math.max(pause ?? defaultPause, 1));
        log.info({ runId, key, pauseMs: ms }, 'devin rate limit: pausing the ops queue');
        await deps.opsQueue.rateLimit(ms);
        throw new RateLimitError();
      }
      const attempts = job.opts.attempts ?? 1;
      const lastAttempt = job.attemptsMade + 1 >= attempts;
      if (!lastAttempt && isTransient(err)) {
        log.info({ runId, key, attempt: job.attemptsMade + 1, err: message(err) }, 'op will be retried');
        throw err;
      }
      return settle(
        {
          status: 'failed',
          error: message(err),
          ...(err instanceof InviteIncompleteError ? { notConfirmed: [...err.notConfirmed] } : {}),
        },
        t0,
      );
    }
    // A failure here fails the attempt: the retry re-runs the handler, which now finds the change
    // already made ('already') and records it then.
    await deps.ledger.recordOp(op);
    return settle({ status: outcome.status, ...(outcome.detail ? { detail: outcome.detail } : {}) }, t0);
  };
}

/**
 * An org add for a user invited earlier in the same plan carries no user id; the orchestrator
 * looked the ids up once after the invites, which saves each op a lookup request. Without one the
 * handler looks the user up itself.
 */
async function withKnownUserId(op: Op, runId: string, progress: RunProgressStore): Promise<Op> {
  if (op.kind !== 'addOrgUser' || op.userId !== null) return op;
  const id = await progress.userId(runId, op.email);
  return id === undefined ? op : { ...op, userId: id };
}

function* causes(err: unknown): Generator<unknown> {
  let e: unknown = err;
  for (let depth = 0; depth < 10 && e !== undefined && e !== null; depth++) {
    yield e;
    e = e instanceof Error ? e.cause : undefined;
  }
}

/** The client was aborted (a shutdown), somewhere in the error's causes. */
function isAborted(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof DevinAbortedError) return true;
  return false;
}

/** Milliseconds to pause for when the failure is Devin's 429 (undefined: not a 429). */
function rateLimitOf(err: unknown): number | null | undefined {
  for (const e of causes(err)) {
    if (e instanceof DevinApiError && e.status === 429) return e.retryAfterMs ?? null;
  }
  return undefined;
}

/** Worth another attempt later: the network, or Devin's own trouble; never a refusal. */
export function isTransient(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof DevinNetworkError) return true;
    if (e instanceof DevinApiError && (e.status >= 500 || e.status === 408 || e.status === 429)) return true;
  }
  return false;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Parsed plans by run: a 10,000-op plan is parsed once per process, not once per op. The daemon
 * clears it once the process is idle (src/daemon/idleGc.ts): the run is over, and its ops (some
 * 9 MB at 10,000 users, ten times that at 100,000) would otherwise stay in memory until four more
 * runs had pushed them out. A run that goes on after that parses its plan again, once.
 */
export class OpsCache {
  private readonly plans = new Map<string, Promise<readonly Op[] | undefined>>();

  constructor(private readonly progress: Pick<RunProgressStore, 'ops'>) {}

  get(runId: string): Promise<readonly Op[] | undefined> {
    let p = this.plans.get(runId);
    if (!p) {
      p = this.progress.ops(runId);
      // Forget a failed read (Redis down), so the next attempt tries again.
      p.catch(() => this.plans.delete(runId));
      this.plans.set(runId, p);
      this.trim();
    }
    return p;
  }

  /** Only the active run (and maybe an approved one) matters; keep a handful. */
  private trim(): void {
    while (this.plans.size > 4) {
      const oldest = this.plans.keys().next().value;
      if (oldest === undefined) break;
      this.plans.delete(oldest);
    }
  }

  /** The ops of a run this process holds already (its conductor's plan): nothing to parse. */
  put(runId: string, ops: readonly Op[]): void {
    this.plans.delete(runId);
    this.plans.set(runId, Promise.resolve(ops));
    this.trim();
  }

  /** Runs cached now. */
  get size(): number {
    return this.plans.size;
  }

  clear(): void {
    this.plans.clear();
  }
}

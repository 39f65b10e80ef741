// RunService over BullMQ and Redis: what the HTTP surface (and the scheduler) call. Triggers
// coalesce through BullMQ deduplication: the pending run job carries a deduplication id, so a
// trigger arriving while one run waits joins it; the run job drops that id as it starts, so a
// trigger arriving during a run waits as the one pending run. With global concurrency 1 on the
// sync queue, that is at most one run active and one pending, whatever the number of replicas.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RunJobData } from '../apply/queue/jobs.js';
import { applyJobId, newRunId, PENDING_RUN_DEDUP_ID, SYNC_JOB } from '../apply/queue/names.js';
import type { DevinClient } from '../devin/client.js';
import { readDevinSnapshot } from '../devin/snapshot.js';
import { findDrift, fingerprintOps } from '../reconcile/index.js';
import type { RunStore } from './runStore.js';
import {
  type DaemonMetrics,
  type ReportFormat,
  RunNotFoundError,
  type RunRecord,
  type RunService,
  RunStateError,
  type TriggerResult,
} from './types.js';
import type { SyncHealth } from './watchdog.js';

export interface QueueRunServiceDeps {
  store: RunStore;
  syncQueue: Queue;
  redis: Redis;
  /** For the staleness check of an approval. */
  readClient: DevinClient;
  logger: Logger;
  /** The watchdog's verdict (src/daemon/watchdog.ts): a stuck sync is not ready. */
  health?: () => SyncHealth;
  /** A rejection ends a run: idsync_runs_total{outcome="rejected"}. */
  metrics?: Pick<DaemonMetrics, 'runFinished'>;
}

/** Most runs a list returns, whatever the caller asks. */
export const MAX_LIST = 200;

export class QueueRunService implements RunService {
  private readonly log: Logger;

  constructor(private readonly deps: QueueRunServiceDeps) {
    this.log = deps.logger.child({ component: 'run-service' });
  }

  async trigger(t: Parameters<RunService['trigger']>[0]): Promise<TriggerResult> {
    const id = newRunId();
    const data: RunJobData = {
      runId: id,
      trigger: t.trigger,
      ...(t.reason !== undefined ? { reason: t.reason } : {}),
    };
    const job = await this.deps.syncQueue.add(SYNC_JOB.run, data, {
      jobId: id,
      deduplication: { id: PENDING_RUN_DEDUP_ID },
    });
    const runId = job.id ?? id;
    const coalesced = runId !== id;
    if (!coalesced) {
      await this.deps.store.create({
        id,
        trigger: t.trigger,
        ...(t.reason !== undefined ? { reason: t.reason } : {}),
        createdAt: new Date().toISOString(),
      });
    }
    if (t.receivedAt !== undefined) await this.deps.store.addReceived(runId, t.receivedAt);
    this.log.debug({ trigger: t.trigger, runId, coalesced }, 'run requested');
    return { runId, coalesced };
  }

  list(limit = 20): Promise<RunRecord[]> {
    return this.deps.store.list(Math.min(Math.max(1, Math.floor(limit)), MAX_LIST));
  }

  get(id: string): Promise<RunRecord | undefined> {
    return this.deps.store.get(id);
  }

  report(id: string, format: ReportFormat): Promise<string | undefined> {
    return this.deps.store.report(id, format);
  }

  async approve(id: string, by: string, comment?: string): Promise<RunRecord> {
    const stored = await this.deps.store.getStored(id);
    if (!stored) throw new RunNotFoundError(id);
    const status = stored.record.status;
    if (status !== 'awaiting-approval') {
      throw new RunStateError(id, status, `run ${id} is ${status}, not awaiting approval`);
    }
    const plan = await this.deps.store.plan(id);
    if (!plan) throw new RunStateError(id, status, `run ${id} has no stored plan to apply`);
    if (fingerprintOps(plan.ops) !== stored.record.plan?.fingerprint) {
      throw new RunStateError(
        id,
        status,
        `run ${id}'s stored plan does not match its fingerprint; refusing to apply it`,
      );
    }
    // Exactly that plan, or nothing: every op not applied yet must still find what it expected.
    const results = await this.deps.store.results(id);
    const open = plan.ops.filter((op) => !results.has(op.key));
    const drift = findDrift(open, await readDevinSnapshot(this.deps.readClient));
    if (drift.length > 0) {
      const lines = drift.slice(0, 20).map((d) => `${d.key}: expected ${d.expected}, found ${d.found}`);
      const more = drift.length > 20 ? `; …and ${drift.length - 20} more` : '';
      throw new RunStateError(
        id,
        status,
        `run ${id}'s plan is stale: Devin changed since it was planned (${drift.length} op(s) drifted): ${lines.join('; ')}${more}. Trigger a new run.`,
      );
    }
    const t = await this.deps.store.transition(id, ['awaiting-approval'], 'queued', {
      approvedBy: by,
      approvedAt: new Date().toISOString(),
      ...(comment !== undefined ? { approvalComment: comment } : {}),
    });
    if (!t.ok) {
      const now = t.status ?? status;
      throw new RunStateError(id, now, `run ${id} is ${now}, not awaiting approval`);
    }
    await this.deps.syncQueue.add(SYNC_JOB.apply, { runId: id }, { jobId: applyJobId(id) });
    this.log.info({ runId: id, approvedBy: by, comment, ops: open.length }, 'run approved');
    const record = await this.deps.store.get(id);
    if (!record) throw new RunNotFoundError(id);
    return record;
  }

  async reject(id: string, by: string, comment?: string): Promise<RunRecord> {
    const at = new Date().toISOString();
    // Compare-and-set, like approve: of an approver and a rejecter racing, exactly one wins.
    const t = await this.deps.store.transition(id, ['awaiting-approval'], 'rejected', {
      rejectedBy: by,
      rejectedAt: at,
      finishedAt: at,
      ...(comment !== undefined ? { rejectionComment: comment } : {}),
    });
    if (!t.ok) {
      if (t.status === undefined) throw new RunNotFoundError(id);
      throw new RunStateError(id, t.status, `run ${id} is ${t.status}, not awaiting approval`);
    }
    const record = await this.deps.store.get(id);
    if (!record) throw new RunNotFoundError(id);
    this.deps.metrics?.runFinished(record.trigger, 'rejected');
    this.log.info({ runId: id, rejectedBy: by, comment }, 'run rejected');
    return record;
  }

  async ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    let redis = false;
    // Stuck: a run waiting with nothing active, or Redis's data lost and no run finished since.
    const sync = this.deps.health?.().ok ?? true;
    try {
      // A connection that is reconnecting would queue the PING until Redis is back.
      if (this.deps.redis.status !== 'ready')
        return { ready: false, checks: { redis: false, config: true, sync } };
      redis = (await withTimeout(this.deps.redis.ping(), 800)) === 'PONG';
    } catch {
      redis = false;
    }
    // The config was loaded and validated before this service existed.
    return { ready: redis && sync, checks: { redis, config: true, sync } };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
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

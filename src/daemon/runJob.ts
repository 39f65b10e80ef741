// The processor of `idsync-sync` jobs: a run (read, plan, guardrails, store, then in auto mode
// apply), the apply of an approved run, and scheduler ticks. One at a time across every replica
// (global concurrency 1), so two runs never plan against each other's half-applied changes.
//
// Shutdown (deps.signal aborted) hands the run back in every phase: reads in flight are abandoned
// (the daemon aborts its Devin clients, the LDAP source drops its connection), a plan not yet
// stored is dropped, a conductor stops between polls; the job goes back to wait and the next
// process re-reads or resumes. A run whose state Redis lost (RunLostError) is marked failed.
import { type Job, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import { ApplyJobData, RunJobData } from '../apply/queue/jobs.js';
import { SYNC_JOB } from '../apply/queue/names.js';
import {
  type ApplyOutcome,
  type ApplyRunDeps,
  applyRun,
  HandBackError,
  RunLostError,
} from '../apply/queue/orchestrator.js';
import type { LoadedConfig } from '../config/index.js';
import type { DevinClient } from '../devin/client.js';
import { readDevinSnapshot } from '../devin/snapshot.js';
import type { DirectorySource } from '../directory/types.js';
import type { Notifier } from '../notify/queue.js';
import { findDrift, type Plan, planSync } from '../reconcile/index.js';
import { renderHtml, renderJson, renderMarkdown } from '../report/index.js';
import { lastRunOf } from '../state/ledger.js';
import type { RedisStateStore } from '../state/redisStateStore.js';
import type { CopyPlanner } from './copyPlanner.js';
import type { DevinCopy } from './devinCache.js';
import { describeRunError } from './errors.js';
import type { RunStore } from './runStore.js';
import type { DaemonMetrics, RunService, RunStatus, RunTrigger } from './types.js';

export interface SyncProcessorDeps {
  config: LoadedConfig;
  logger: Logger;
  metrics: DaemonMetrics;
  store: RunStore;
  ledger: RedisStateStore;
  /** Snapshots and lookups; it waits out 429s itself. */
  readClient: DevinClient;
  source: () => DirectorySource;
  /** Everything the orchestrator needs except what is per run. */
  apply: Omit<ApplyRunDeps, 'progress' | 'logger' | 'metrics' | 'client'>;
  trigger: RunService['trigger'];
  keepRuns: number;
  /** Aborted when the process shuts down: the run in progress is handed back to the queue. */
  signal?: AbortSignal;
  /** Incremental runs against the cached copy of Devin (devin.incremental); absent = every run reads Devin in full. */
  copyPlanner?: CopyPlanner;
  /** With `notify:`: told of every run that reaches a state a human should hear of (src/notify). */
  notifier?: Pick<Notifier, 'runChanged'>;
}

/** Resolves as `work` does, or rejects with HandBackError as soon as `signal` aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new HandBackError());
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Sources that can stop a read part way (LDAP) are told to; the others just finish unheard. */
function abortSource(source: DirectorySource, reason: string): void {
  const s: DirectorySource & { abort?: unknown } = source;
  if (typeof s.abort === 'function') (s.abort as (reason: string) => void).call(source, reason);
}

export function createSyncProcessor(deps: SyncProcessorDeps): (job: Job, token?: string) => Promise<unknown> {
  const log = deps.logger.child({ component: 'run' });
  const applyDeps: ApplyRunDeps = {
    ...deps.apply,
    progress: deps.store,
    client: deps.readClient,
    logger: deps.logger,
    metrics: deps.metrics,
  };

  const finishRun = async (
    id: string,
    trigger: RunTrigger,
    plan: Plan,
    outcome: ApplyOutcome,
    applySeconds: number,
  ): Promise<RunStatus> => {
    deps.metrics.phaseDuration('apply', applySeconds);
    await patchCopy(id, plan);
    if (outcome.held > 0) {
      const waiting = await deps.store.transition(id, ['applying'], 'awaiting-approval', { hold: true });
      if (waiting.ok) await deps.notifier?.runChanged(id, 'awaiting-approval');
      log.info(
        { runId: id, held: outcome.held, counts: outcome.counts },
        'additions applied; removals wait for approval',
      );
      return 'awaiting-approval';
    }
    const status: RunStatus = outcome.counts.failed > 0 ? 'partial' : 'succeeded';
    const finishedAt = new Date();
    const t = await deps.store.transition(id, ['applying'], status, { finishedAt: finishedAt.toISOString() });
    if (!t.ok) return t.status ?? status;
    await settled(id, trigger, status, plan, finishedAt, outcome.counts.skipped === 0);
    await deps.notifier?.runChanged(id, status);
    log.info({ runId: id, status, counts: outcome.counts }, 'run finished');
    return status;
  };

  /**
   * idsync's writes go into the cached copy of Devin. An op that found Devin other than an
   * incremental plan's copy said shows the copy was wrong: a full reconcile runs next.
   */
  const patchCopy = async (id: string, plan: Plan): Promise<void> => {
    if (!deps.copyPlanner) return;
    const results = await deps.store.results(id);
    const contradicted = await deps.copyPlanner.patch(plan, plan.ops, (key) => results.get(key)?.status);
    if (contradicted.length > 0) {
      const reason = `${contradicted.length} op(s) of run ${id} found Devin other than the cached copy said (${contradicted.slice(0, 3).join(', ')})`;
      log.warn(
        { runId: id, contradicted: contradicted.slice(0, 20) },
        'the cached copy of Devin was wrong; a full reconcile runs next',
      );
      await deps.copyPlanner.requestFull(reason);
      await deps.trigger({ trigger: 'schedule', reason: `full reconcile: ${reason}` });
    }
  };

  /** Bookkeeping of a run that reached a final status by applying. */
  const settled = async (
    id: string,
    trigger: RunTrigger,
    status: RunStatus,
    plan: Plan,
    at: Date,
    nothingSkipped: boolean,
  ): Promise<void> => {
    deps.metrics.runFinished(trigger, status);
    if (status !== 'succeeded') return;
    // As in the inline executor: only a complete, fully applied run moves the base of
    // maxSourceShrinkPercent, or a held-back removal would later pass without approval.
    const run = nothingSkipped ? lastRunOf(plan, at) : undefined;
    if (run) await deps.ledger.recordRun(run);
    deps.metrics.lastSuccess(at.getTime() / 1000);
    for (const receivedAt of await deps.store.received(id)) {
      deps.metrics.webhookToConverged((at.getTime() - receivedAt) / 1000);
    }
  };

  const apply = async (
    job: Job,
    id: string,
    trigger: RunTrigger,
    plan: Plan,
    hold: boolean,
  ): Promise<RunStatus> => {
    const t0 = performance.now();
    const jobId = String(job.id);
    const outcome = await applyRun(
      id,
      plan,
      { holdRemovals: hold, lost: () => deps.store.lostParts(id, jobId) },
      applyDeps,
    );
    return finishRun(id, trigger, plan, outcome, (performance.now() - t0) / 1000);
  };

  /** Resumes a run whose conductor died or was handed back (stable job ids make this safe). */
  const resume = async (job: Job, id: string, hold: boolean, trigger: RunTrigger): Promise<RunStatus> => {
    const plan = await deps.store.plan(id);
    if (!plan) {
      await deps.store.transition(id, ['applying'], 'failed', {
        error: 'the stored plan is gone (was Redis flushed?); the next run re-plans',
        finishedAt: new Date().toISOString(),
      });
      deps.metrics.runFinished(trigger, 'failed');
      await deps.notifier?.runChanged(id, 'failed');
      return 'failed';
    }
    log.info({ runId: id }, 'resuming a run');
    return apply(job, id, trigger, plan, hold);
  };

  const fail = async (
    id: string,
    trigger: RunTrigger,
    from: RunStatus[],
    err: unknown,
  ): Promise<RunStatus> => {
    const error = describeRunError(err);
    log.error({ runId: id, error }, 'run failed');
    const t = await deps.store.transition(id, from, 'failed', {
      error,
      finishedAt: new Date().toISOString(),
    });
    if (t.ok) {
      deps.metrics.runFinished(trigger, 'failed');
      await deps.notifier?.runChanged(id, 'failed');
    }
    return 'failed';
  };

  const timed = async <T>(phase: 'read-source' | 'read-devin', read: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const value = await read();
    deps.metrics.phaseDuration(phase, (performance.now() - t0) / 1000);
    return value;
  };

  const plan = async (job: Job, id: string, trigger: RunTrigger): Promise<RunStatus> => {
    if (deps.signal?.aborted) throw new HandBackError();
    const started = await deps.store.transition(id, ['queued', 'planning'], 'planning', {
      startedAt: new Date().toISOString(),
    });
    if (!started.ok) return started.status ?? 'failed';

    let planned: Plan;
    let sourceName: string;
    const source = deps.source();
    const stopSource = () => abortSource(source, 'shutting down');
    deps.signal?.addEventListener('abort', stopSource, { once: true });
    let copy: DevinCopy | undefined;
    try {
      if (deps.copyPlanner) {
        const run = await untilAborted(
          deps.copyPlanner.plan({
            trigger,
            readSource: () => source.read(),
            loadLedger: () => deps.ledger.load(),
          }),
          deps.signal,
        );
        deps.metrics.phaseDuration('read-source', run.timings.readSourceS);
        if (run.timings.readDevinS > 0) deps.metrics.phaseDuration('read-devin', run.timings.readDevinS);
        deps.metrics.phaseDuration('plan', run.timings.planS);
        deps.metrics.sourceObjects(run.directory.users.length, run.directory.groups.length);
        planned = run.plan;
        sourceName = run.directory.source;
        copy = run.copy;
      } else {
        const [directory, devin, ledger] = await untilAborted(
          Promise.all([
            timed('read-source', () => source.read()),
            timed('read-devin', () => readDevinSnapshot(deps.readClient)),
            deps.ledger.load(),
          ]),
          deps.signal,
        );
        deps.metrics.sourceObjects(directory.users.length, directory.groups.length);
        const t0 = performance.now();
        planned = planSync({ policy: deps.config.policy, directory, devin, ledger });
        deps.metrics.phaseDuration('plan', (performance.now() - t0) / 1000);
        sourceName = directory.source;
      }
    } catch (err) {
      // A read cut short by the shutdown is no failure of the run: the next process re-reads.
      if (deps.signal?.aborted) throw new HandBackError();
      return fail(id, trigger, ['planning'], err);
    } finally {
      deps.signal?.removeEventListener('abort', stopSource);
    }
    // Planned but not stored: the next process plans again from fresh reads.
    if (deps.signal?.aborted) throw new HandBackError();
    deps.metrics.planSize(planned.ops.length);
    deps.metrics.heldOps(planned.held.length);
    if (planned.guardrails.verdict === 'blocked') deps.metrics.guardrailBlocked();
    if (planned.held.length > 0) {
      log.warn(
        {
          runId: id,
          held: planned.held.length,
          reasons: [...new Set(planned.held.flatMap((h) => h.reasons.map((r) => r.message)))].slice(0, 5),
        },
        'changes to existing access held back: idsync cannot be sure they are wanted (see the report)',
      );
    }

    const options = { title: `idsync run ${id}`, source: sourceName, devin: deps.config.devin.baseUrl };
    await deps.store.storePlan(id, planned, {
      json: renderJson(planned),
      md: renderMarkdown(planned, options),
      html: renderHtml(planned, options),
    });
    // Redis may have lost its data while the reads ran: the record is gone, and with it the run.
    const lost = await deps.store.lostParts(id, String(job.id));
    if (lost !== undefined) throw new RunLostError(id, lost);
    // What this run read of Devin is the copy the next run starts from. A plan applied at once (auto
    // mode) saves it once, after its writes are patched in; any other plan saves it now.
    if (copy && deps.copyPlanner) {
      if (planned.ops.length > 0 && deps.config.mode === 'auto') deps.copyPlanner.holdUntilPatched(copy);
      else await deps.copyPlanner.save(copy);
    }
    await supersedeOlder(id);
    await deps.store.trim(deps.keepRuns);
    log.info(
      {
        runId: id,
        ops: planned.ops.length,
        summary: planned.summary,
        guardrails: planned.guardrails.verdict,
      },
      'run planned',
    );

    if (planned.ops.length === 0) {
      // Nothing to apply, but held ops mean Devin does not match the directory: not a success.
      const status: RunStatus = planned.held.length > 0 ? 'blocked' : 'succeeded';
      const at = new Date();
      const t = await deps.store.transition(id, ['planning'], status, { finishedAt: at.toISOString() });
      if (t.ok) {
        if (status === 'succeeded') await settled(id, trigger, status, planned, at, true);
        else deps.metrics.runFinished(trigger, status);
        await deps.notifier?.runChanged(id, status);
      }
      return status;
    }
    const blocked = planned.guardrails.verdict === 'blocked';
    if (deps.config.mode === 'review') {
      const waiting = await deps.store.transition(id, ['planning'], 'awaiting-approval', { hold: blocked });
      if (waiting.ok) await deps.notifier?.runChanged(id, 'awaiting-approval');
      return 'awaiting-approval';
    }
    const t = await deps.store.transition(id, ['planning'], 'applying', { hold: blocked });
    if (!t.ok) return t.status ?? 'failed';
    return apply(job, id, trigger, planned, blocked);
  };

  /** A newer plan replaces every older run still waiting for approval. */
  const supersedeOlder = async (id: string): Promise<void> => {
    const mine = await deps.store.createdAtMs(id);
    for (const other of await deps.store.awaitingIds()) {
      if (other === id) continue;
      const when = await deps.store.createdAtMs(other);
      if (mine !== undefined && when !== undefined && when > mine) continue;
      const stored = await deps.store.getStored(other);
      if (!stored) continue;
      // Additions already applied and only the held removals waited: it ends as blocked.
      const status: RunStatus =
        stored.holdRemovals &&
        (stored.record.opCounts?.applied ?? 0) + (stored.record.opCounts?.already ?? 0) > 0
          ? 'blocked'
          : 'superseded';
      const t = await deps.store.transition(other, ['awaiting-approval'], status, {
        supersededBy: id,
        finishedAt: new Date().toISOString(),
      });
      if (t.ok) {
        deps.metrics.runFinished(stored.record.trigger, status);
        await deps.notifier?.runChanged(other, status);
        log.info({ runId: other, by: id, status }, 'run superseded by a newer plan');
      }
    }
  };

  const runJob = async (job: Job): Promise<RunStatus> => {
    const data = RunJobData.parse(job.data);
    // From here on a new trigger must start a new pending run: this one may already have read.
    await job.removeDeduplicationKey();
    await deps.store.create({
      id: data.runId,
      trigger: data.trigger,
      ...(data.reason !== undefined ? { reason: data.reason } : {}),
      createdAt: new Date(job.timestamp).toISOString(),
    });
    const stored = await deps.store.getStored(data.runId);
    if (!stored) throw new Error(`run ${data.runId} has no record`);
    const { record } = stored;
    switch (record.status) {
      case 'queued':
      case 'planning':
        return plan(job, record.id, record.trigger);
      case 'applying':
        return resume(job, record.id, stored.holdRemovals, record.approvedAt ? 'approval' : record.trigger);
      default:
        // Delivered again after it finished (or is waiting for approval): nothing to do.
        return record.status;
    }
  };

  const applyJob = async (job: Job): Promise<RunStatus> => {
    const { runId } = ApplyJobData.parse(job.data);
    const stored = await deps.store.getStored(runId);
    if (!stored) return 'failed';
    if (stored.record.status === 'applying') return resume(job, runId, false, 'approval');
    if (stored.record.status !== 'queued' || stored.record.approvedAt === undefined)
      return stored.record.status;
    const plan = await deps.store.plan(runId);
    if (!plan) return resume(job, runId, false, 'approval');
    // Time passed since the approver's check, and another run may have applied meanwhile.
    const results = await deps.store.results(runId);
    const open = plan.ops.filter((op) => !results.has(op.key));
    try {
      const drift = findDrift(open, await untilAborted(readDevinSnapshot(deps.readClient), deps.signal));
      if (drift.length > 0) {
        const list = drift.slice(0, 20).map((d) => `${d.key}: expected ${d.expected}, found ${d.found}`);
        return fail(
          runId,
          'approval',
          ['queued'],
          new Error(
            `the approved plan went stale before it could be applied (${drift.length} op(s) drifted): ${list.join('; ')}`,
          ),
        );
      }
    } catch (err) {
      // Still approved and queued: the next process checks for drift again.
      if (deps.signal?.aborted) throw new HandBackError();
      return fail(runId, 'approval', ['queued'], err);
    }
    const t = await deps.store.transition(runId, ['queued'], 'applying', { hold: false });
    if (!t.ok) return t.status ?? 'failed';
    log.info({ runId, ops: open.length, approvedBy: stored.record.approvedBy }, 'applying an approved run');
    return apply(job, runId, 'approval', plan, false);
  };

  /** The run's state is gone from Redis: record it as failed (again, if need be) and move on. */
  const abandonLost = async (job: Job, err: RunLostError): Promise<RunStatus> => {
    const asRun = RunJobData.safeParse(job.data);
    const trigger: RunTrigger = asRun.success ? asRun.data.trigger : 'approval';
    const stored = await deps.store.getStored(err.runId).catch(() => undefined);
    const record = stored?.record ?? {
      id: err.runId,
      trigger,
      ...(asRun.success && asRun.data.reason !== undefined ? { reason: asRun.data.reason } : {}),
      createdAt: new Date(job.timestamp).toISOString(),
    };
    log.error({ runId: err.runId, lost: err.what }, err.message);
    if (await deps.store.abandon(record, err.message)) {
      deps.metrics.runFinished(record.trigger, 'failed');
      await deps.notifier?.runChanged(err.runId, 'failed');
    }
    return 'failed';
  };

  return async (job, token) => {
    try {
      switch (job.name) {
        case SYNC_JOB.tick:
          return await deps.trigger({ trigger: 'schedule' });
        case SYNC_JOB.apply:
          return await applyJob(job);
        case SYNC_JOB.run:
          return await runJob(job);
        default:
          log.warn({ name: job.name, id: job.id }, 'unknown job in the sync queue; dropped');
          return undefined;
      }
    } catch (thrown) {
      if (thrown instanceof RunLostError) return abandonLost(job, thrown);
      let err = thrown;
      // Whatever failed while stopping was most likely cut short by the stop itself; the next
      // process finds out again.
      if (deps.signal?.aborted && !(err instanceof HandBackError)) {
        log.info(
          { jobId: job.id, err: describeRunError(err) },
          'failure while shutting down; handing the run back',
        );
        err = new HandBackError();
      }
      if (!(err instanceof HandBackError)) {
        // A run must never stay "applying" with nobody conducting it.
        const named = ApplyJobData.safeParse(job.data);
        if (named.success) {
          const { runId } = named.data;
          const stored = await deps.store.getStored(runId).catch(() => undefined);
          if (stored && ['queued', 'planning', 'applying'].includes(stored.record.status)) {
            await fail(
              runId,
              stored.record.approvedAt ? 'approval' : stored.record.trigger,
              ['queued', 'planning', 'applying'],
              err,
            );
            return 'failed';
          }
        }
        throw err;
      }
      if (token !== undefined) {
        // Shutting down: the run goes back to wait, and whichever replica takes it resumes it.
        await job.moveToWait(token);
        log.info({ jobId: job.id }, 'run handed back to the queue');
        throw new WaitingError();
      }
      throw err;
    }
  };
}

// The queue executor's conductor. A run job, once planned, stays active in `idsync-sync` and walks
// the plan's phases in OP_ORDER: it enqueues one phase's ops as `idsync-ops` jobs (any replica's
// workers take them), waits until every one has a recorded result, then decides the next phase
// from those results: ops whose prerequisite failed are recorded as skipped and never enqueued,
// exactly as the inline executor does.
//
// Why a conductor job and not a FlowProducer tree: a flow fixes the whole graph up front, but what
// phase N+1 may do depends on how phase N ended (skips), a 10,000-op flow is one huge atomic
// write, and a parent waiting for children is not "active", which would let the next run start
// planning while this one's ops still apply. A conductor that dies is a stalled job: another
// replica takes it over and resumes from the recorded results (stable op job ids make the
// re-enqueue a no-op).
//
// A Redis that loses its data (restarted empty, failed over without persistence) takes the run's
// records, results and jobs with it. The conductor checks for that while it waits (RunLostError)
// instead of waiting for results that can never come.
import type { JobsOptions, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { DevinClient } from '../../devin/client.js';
import { changesExistingAccess, OP_ORDER, type Op, type OpKind, type Plan } from '../../reconcile/plan.js';
import { emailKey } from '../../state/ledger.js';
import { Prerequisites } from '../inline/executor.js';
import { OP_STATUSES, type OpStatus } from '../types.js';
import type { OpJobData, StoredOpResult } from './jobs.js';
import { opJobId } from './names.js';
import type { QueueMetrics, RunProgressStore } from './types.js';

export interface ApplyRunDeps {
  opsQueue: Queue;
  progress: RunProgressStore;
  /** Reads the enterprise user list once after the invites (see resolveInvitedIds). */
  client: DevinClient;
  logger: Logger;
  metrics?: QueueMetrics;
  jobOptions: JobsOptions;
  /** How often a phase's progress is checked. Default 100 ms. */
  pollMs?: number;
  /** Without progress for this long, the phase's jobs themselves are inspected. Default 15 s. */
  stuckCheckMs?: number;
  /** How often the run's own records and job are checked for loss (ApplyOptions.lost). Default 1 s. */
  integrityCheckMs?: number;
  /** True once the process is shutting down: the run is handed back (HandBackError). */
  stopping?: () => boolean;
  /**
   * The op workers' plan cache in this process: given the plan being applied, so they use its ops
   * instead of parsing a second copy from Redis (some 50 MB and a second of parsing at 100,000
   * users, in the process that already holds the plan).
   */
  plans?: { put(runId: string, ops: readonly Op[]): void };
}

export interface ApplyOptions {
  /** Guardrails blocked the plan and nobody approved yet: changes to existing access are not started. */
  holdRemovals: boolean;
  /**
   * Says why the run can no longer be conducted (its record, plan or conductor job is gone from
   * Redis), or undefined while all is there. Checked as phases start and while they wait.
   */
  lost?: () => Promise<string | undefined>;
}

export interface ApplyOutcome {
  counts: Record<OpStatus, number>;
  /** Removal ops held back for approval (not settled). */
  held: number;
}

/** The process is stopping: the caller hands the run job back to the queue. */
export class HandBackError extends Error {
  constructor() {
    super('shutting down: run handed back to the queue');
    this.name = 'HandBackError';
  }
}

/**
 * The run's state in Redis is gone (Redis restarted empty or failed over without persistence):
 * its results can never add up, so the conductor stops and the caller abandons the run.
 */
export class RunLostError extends Error {
  constructor(
    readonly runId: string,
    readonly what: string,
  ) {
    super(
      `run ${runId} was lost in Redis while applying (${what}): Redis restarted empty or failed over without persistence. The run was abandoned; the next run re-plans from a fresh read`,
    );
    this.name = 'RunLostError';
  }
}

const ENQUEUE_CHUNK = 500;
const STUCK_SAMPLE = 1000;

export async function applyRun(
  runId: string,
  plan: Plan,
  opts: ApplyOptions,
  deps: ApplyRunDeps,
): Promise<ApplyOutcome> {
  const log = deps.logger.child({ component: 'orchestrator', runId });
  const pollMs = deps.pollMs ?? 100;
  const stuckMs = deps.stuckCheckMs ?? 15_000;
  const watch = new LossWatch(runId, opts.lost, deps.integrityCheckMs ?? 1000);
  // The same ops, in the same order, as the stored ones the jobs index into (storePlan came first).
  deps.plans?.put(runId, plan.ops);
  const indexed = plan.ops.map((op, index) => ({ op, index }));
  const prereqs = new Prerequisites();
  let results = await deps.progress.results(runId);
  let held = 0;
  /** Distinct op keys of the phases started so far: the results count each phase waits for. */
  const target = new Set<string>();

  for (const phase of OP_ORDER) {
    const inPhase = indexed.filter((e) => e.op.kind === phase);
    // A blocked verdict holds back every change to existing access, not only removals: a role
    // change in the same phase as a new mapping waits while the new mapping goes ahead.
    const gated = opts.holdRemovals ? inPhase.filter((e) => changesExistingAccess(e.op)) : [];
    held += gated.filter((e) => !results.has(e.op.key)).length;
    const ops = gated.length === 0 ? inPhase : inPhase.filter((e) => !changesExistingAccess(e.op));
    if (ops.length === 0) continue;
    await watch.check(true);
    for (const e of ops) target.add(e.op.key);

    const toEnqueue: typeof ops = [];
    for (const e of ops) {
      if (results.has(e.op.key)) continue;
      const why = prereqs.missing(e.op);
      if (why === undefined) {
        toEnqueue.push(e);
        continue;
      }
      const skipped: StoredOpResult = {
        key: e.op.key,
        kind: e.op.kind,
        status: 'skipped',
        detail: why,
        durationMs: 0,
      };
      if (await deps.progress.recordResult(runId, skipped)) deps.metrics?.opSettled(e.op.kind, 'skipped');
    }
    if (phase === 'addOrgUser') {
      await resolveInvitedIds(
        runId,
        toEnqueue.map((e) => e.op),
        deps,
        log,
      );
    }

    const t0 = performance.now();
    log.info({ phase, ops: ops.length, enqueued: toEnqueue.length }, 'phase started');
    await enqueue(runId, toEnqueue, deps);
    await waitForPhase(runId, phase, ops, target.size, deps, { pollMs, stuckMs }, watch, log);
    results = await deps.progress.results(runId);
    for (const e of ops) learn(prereqs, e.op, results.get(e.op.key));
    log.info({ phase, seconds: Math.round(performance.now() - t0) / 1000 }, 'phase settled');
  }

  const counts = Object.fromEntries(OP_STATUSES.map((s) => [s, 0])) as Record<OpStatus, number>;
  for (const op of plan.ops) {
    const r = results.get(op.key);
    if (r) counts[r.status]++;
  }
  return { counts, held };
}

/** What a settled op means for later ones, as in the inline executor. */
function learn(prereqs: Prerequisites, op: Op, r: StoredOpResult | undefined): void {
  if (!r || r.status === 'applied' || r.status === 'already') return;
  if (r.status === 'failed' && op.kind === 'inviteUsers' && r.notConfirmed) {
    prereqs.lostEmails(op, r.notConfirmed);
    return;
  }
  prereqs.lost(
    op,
    r.status === 'skipped' ? (r.detail ?? `${op.key} was skipped`) : `prerequisite ${op.key} failed`,
  );
}

async function enqueue(
  runId: string,
  entries: ReadonlyArray<{ op: Op; index: number }>,
  deps: ApplyRunDeps,
): Promise<void> {
  for (let i = 0; i < entries.length; i += ENQUEUE_CHUNK) {
    const chunk = entries.slice(i, i + ENQUEUE_CHUNK);
    await deps.opsQueue.addBulk(
      chunk.map(({ op, index }) => ({
        name: op.kind,
        data: { runId, index, key: op.key } satisfies OpJobData,
        opts: { ...deps.jobOptions, jobId: opJobId(runId, op.key) },
      })),
    );
  }
}

/** Polls at the fastest rate before backing off: 50 × 5 ms. */
const FAST_POLLS = 50;

async function waitForPhase(
  runId: string,
  phase: OpKind,
  ops: ReadonlyArray<{ op: Op; index: number }>,
  target: number,
  deps: ApplyRunDeps,
  timing: { pollMs: number; stuckMs: number },
  watch: LossWatch,
  log: Logger,
): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  // Small phases settle within a few Devin round trips: poll every 5 ms for the first quarter
  // second (one HLEN each, nothing for Redis), then slow down to pollMs. Doubling from the start
  // noticed a 30 ms phase only at 35 or 75 ms, which was most of a one-user run's apply time.
  let delay = Math.min(5, timing.pollMs);
  let polls = 0;
  for (;;) {
    const settled = await deps.progress.settledCount(runId);
    watch.settled(settled);
    if (settled >= target) return;
    if (deps.stopping?.()) throw new HandBackError();
    await watch.check(false);
    if (settled !== last) {
      last = settled;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > timing.stuckMs) {
      await inspectStuck(runId, phase, ops, deps, log);
      lastChange = Date.now();
    }
    await new Promise((r) => setTimeout(r, delay));
    if (++polls >= FAST_POLLS) delay = Math.min(timing.pollMs, delay * 2);
  }
}

/**
 * No op of the phase settled for a while. Normally that is only a long rate-limit pause; but a job
 * can also end without a result (failed by BullMQ after too many stalls, or lost with a Redis that
 * had no persistence). Those are settled or enqueued again here, so a run can never hang.
 */
async function inspectStuck(
  runId: string,
  phase: OpKind,
  ops: ReadonlyArray<{ op: Op; index: number }>,
  deps: ApplyRunDeps,
  log: Logger,
): Promise<void> {
  const results = await deps.progress.results(runId);
  const open = ops.filter((e) => !results.has(e.op.key)).slice(0, STUCK_SAMPLE);
  const lost: Array<{ op: Op; index: number }> = [];
  for (const e of open) {
    const job = await deps.opsQueue.getJob(opJobId(runId, e.op.key));
    if (!job) {
      lost.push(e);
      continue;
    }
    const state = await job.getState();
    if (state === 'failed') {
      const failed: StoredOpResult = {
        key: e.op.key,
        kind: e.op.kind,
        status: 'failed',
        error: job.failedReason || 'the op job failed without a result',
        durationMs: 0,
      };
      if (await deps.progress.recordResult(runId, failed)) deps.metrics?.opSettled(e.op.kind, 'failed');
    } else if (state === 'completed' || state === 'unknown') {
      // Completed without a result means its result write was lost: run it again (idempotent).
      if (state === 'completed') await job.remove().catch(() => undefined);
      lost.push(e);
    }
  }
  if (lost.length > 0) {
    log.warn({ phase, jobs: lost.length }, 'op jobs without a result or a queue entry; enqueuing them again');
    await enqueue(runId, lost, deps);
  } else {
    log.info({ phase, open: open.length }, 'phase waiting (rate limit or slow ops)');
  }
}

/**
 * Notices that the run's state went missing from Redis: results fewer than were once counted (a
 * failover that lost writes), or the record, plan or conductor job gone (ApplyOptions.lost).
 */
class LossWatch {
  private highest = 0;
  private lastCheck = 0;

  constructor(
    private readonly runId: string,
    private readonly lost: (() => Promise<string | undefined>) | undefined,
    private readonly everyMs: number,
  ) {}

  settled(n: number): void {
    if (n < this.highest) {
      throw new RunLostError(this.runId, `${this.highest - n} recorded op result(s) disappeared`);
    }
    this.highest = n;
  }

  async check(now: boolean): Promise<void> {
    if (!this.lost) return;
    if (!now && Date.now() - this.lastCheck < this.everyMs) return;
    this.lastCheck = Date.now();
    const why = await this.lost();
    if (why !== undefined) throw new RunLostError(this.runId, why);
  }
}

/**
 * Org adds of users invited in this same plan carry no user id (Devin assigns it on invite), and
 * the handler would look each one up: one extra request per op. One paged read of the enterprise
 * users after the invite phase finds them all; the handler still looks up any it was not given.
 */
async function resolveInvitedIds(
  runId: string,
  ops: readonly Op[],
  deps: ApplyRunDeps,
  log: Logger,
): Promise<void> {
  const wanted = new Set<string>();
  for (const op of ops) if (op.kind === 'addOrgUser' && op.userId === null) wanted.add(emailKey(op.email));
  // A handful of lookups cost less than reading every page of users.
  if (wanted.size < 50) return;
  try {
    const ids = new Map<string, string>();
    for (const u of await deps.client.listUsers()) {
      const key = u.email ? emailKey(u.email) : undefined;
      if (key !== undefined && wanted.has(key)) ids.set(key, u.user_id);
    }
    await deps.progress.setUserIds(runId, ids);
    log.debug({ wanted: wanted.size, found: ids.size }, 'user ids of invited users resolved');
  } catch (err) {
    log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'could not list users; each org add will look its user up',
    );
  }
}

// Names shared by every replica: queues, job names and ids, Redis keys. Changing one is a
// migration, since replicas of two versions would stop seeing each other's work.
import type { JobsOptions } from 'bullmq';

/** Runs: one active at a time (global concurrency 1), one pending (deduplication). */
export const SYNC_QUEUE = 'idsync-sync';
/** Plan operations of the active run, phase by phase. */
export const OPS_QUEUE = 'idsync-ops';

/** BullMQ's `prefix` and the prefix of idsync's own keys; several deployments can share a Redis. */
export const DEFAULT_PREFIX = 'idsync';

export const SYNC_JOB = {
  /** Plan (and in auto mode apply) a run. */
  run: 'run',
  /** Apply an approved run's plan. */
  apply: 'apply',
  /** A tick of the job scheduler; it asks for a run like any other trigger. */
  tick: 'tick',
} as const;

/** The deduplication id of pending runs: at most one run job waits at a time. */
export const PENDING_RUN_DEDUP_ID = 'pending-run';
export const SCHEDULER_ID = 'idsync-schedule';

/**
 * Custom job ids may not contain ':' (BullMQ's key separator) and may not be integer strings. Op
 * keys are free text (emails, group names), so ':' and '%' are percent-encoded: still readable in
 * the dashboard, and distinct keys stay distinct.
 */
export function sanitizeJobIdPart(text: string): string {
  return text.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

/** Stable per run and op key: a retried enqueue finds the job it already added. */
export function opJobId(runId: string, opKey: string): string {
  return `op-${sanitizeJobIdPart(runId)}-${sanitizeJobIdPart(opKey)}`;
}

export function applyJobId(runId: string): string {
  return `apply-${sanitizeJobIdPart(runId)}`;
}

/** `run-20250312T101530Z-9f3a1c`: sorts by time, never an integer, never a ':'. */
export function newRunId(now: Date = new Date(), random: () => number = Math.random): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const suffix = Math.floor(random() * 0x1000000)
    .toString(16)
    .padStart(6, '0');
  return `run-${stamp}-${suffix}`;
}

export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** Sorted set of run ids by creation time (ms). */
  get runs(): string {
    return `${this.prefix}:runs`;
  }

  /** Set of run ids waiting for approval: what a newer plan supersedes. */
  get awaiting(): string {
    return `${this.prefix}:runs:awaiting`;
  }

  run(id: string): string {
    return `${this.prefix}:run:${id}`;
  }

  /** A marker written once per Redis dataset: missing or changed means Redis lost its data. */
  get epoch(): string {
    return `${this.prefix}:epoch`;
  }

  runPart(id: string, part: RunPart): string {
    return `${this.prefix}:run:${id}:${part}`;
  }

  runParts(id: string): string[] {
    return RUN_PARTS.map((p) => this.runPart(id, p));
  }
}

/** Everything stored for one run besides its record hash; deleted together when it is trimmed. */
export const RUN_PARTS = [
  'plan',
  'ops',
  'report-md',
  'report-html',
  'results',
  'counts',
  'failed',
  'received',
  'userids',
] as const;
export type RunPart = (typeof RUN_PARTS)[number];

export interface JobTuning {
  /** Attempts of an op job (its own retries are on top: the client's, the handler's re-reads). */
  opAttempts: number;
  /** First backoff of a failed op job, doubled each attempt. */
  opBackoffMs: number;
}

export const DEFAULT_JOB_TUNING: JobTuning = { opAttempts: 5, opBackoffMs: 1000 };

export function opJobOptions(t: JobTuning): JobsOptions {
  return {
    attempts: t.opAttempts,
    backoff: { type: 'exponential', delay: t.opBackoffMs },
    // Results live in the run's own keys; finished jobs are kept only for the dashboard.
    removeOnComplete: { count: 1000, age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

export const SYNC_JOB_OPTIONS: JobsOptions = {
  // A run job records its own failure on the run; BullMQ retrying it would only re-plan.
  attempts: 1,
  removeOnComplete: { count: 200 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

// What the queue executor needs from the run's storage. The daemon's RunStore implements it in
// Redis; keeping it an interface keeps src/apply/queue free of the daemon's record keeping.
import type { Op, OpKind } from '../../reconcile/plan.js';
import type { OpStatus } from '../types.js';
import type { StoredOpResult } from './jobs.js';

/**
 * What the queue executor reports while it applies. The daemon's metrics satisfy it; the queue
 * knows nothing else about the daemon.
 */
export interface QueueMetrics {
  opSettled(kind: OpKind, status: OpStatus): void;
}

export interface RunProgressStore {
  /**
   * The run's ops, exactly as planned (and approved); undefined once the run is trimmed. Only the
   * ops: a worker has no use for the rest of the plan (its stats hold an entry per directory user),
   * and parsing all of it put tens of milliseconds on the path of every run's first op.
   */
  ops(runId: string): Promise<readonly Op[] | undefined>;
  results(runId: string): Promise<Map<string, StoredOpResult>>;
  hasResult(runId: string, key: string): Promise<boolean>;
  /**
   * Records how an op ended, once: false when it had already settled (a job delivered twice, e.g.
   * after a stall). Counts and the failed list are updated in the same atomic step.
   */
  recordResult(runId: string, result: StoredOpResult): Promise<boolean>;
  /** Results recorded so far. */
  settledCount(runId: string): Promise<number>;
  /** Enterprise user ids of emails invited earlier in the run (see the orchestrator). */
  setUserIds(runId: string, ids: ReadonlyMap<string, string>): Promise<void>;
  userId(runId: string, email: string): Promise<string | undefined>;
}

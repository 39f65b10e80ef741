// What applying a plan produced, per op and in total. Shared by the inline executor and the queue
// executor so reports, the CLI and the daemon read one shape whichever ran the ops.
import type { OpKind } from '../reconcile/plan.js';

/**
 * - `applied`: idsync wrote to Devin (or, for `adopt`, recorded ownership);
 * - `already`: Devin already held the target, nothing was written;
 * - `skipped`: not attempted (held back by guardrails, or a prerequisite did not succeed);
 * - `failed`: attempted and not achieved; `error` says why.
 */
export type OpStatus = 'applied' | 'already' | 'skipped' | 'failed';

export const OP_STATUSES: readonly OpStatus[] = ['applied', 'already', 'skipped', 'failed'];

export interface OpResult {
  key: string;
  kind: OpKind;
  status: OpStatus;
  /** What happened, in words: "invited 3, 2 already members", "held back by guardrails: …". */
  detail?: string;
  /** The typed error's message (method, path, status, server detail); never a token. */
  error?: string;
  durationMs: number;
}

export interface ExecutionResult {
  /** One per op, in plan order. */
  results: OpResult[];
  counts: Record<OpStatus, number>;
  /** No op failed. Skipped ops do not make a run fail; they are reported. */
  ok: boolean;
  startedAt: string;
  finishedAt: string;
}

/** Emitted when a phase starts (done 0) and after each of its ops settles. */
export interface ProgressEvent {
  phase: OpKind;
  done: number;
  total: number;
  failed: number;
}

/** What an op handler reports when it succeeds; failures are thrown. */
export interface HandlerOutcome {
  status: 'applied' | 'already';
  detail?: string;
}

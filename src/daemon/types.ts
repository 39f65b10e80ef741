// The seam between the daemon's run machinery (queues, workers, Redis; src/apply/queue) and its
// HTTP surface (src/server). The server only ever talks to a RunService and a DaemonMetrics, so
// each side is built and tested on its own.
import type { OpStatus } from '../apply/types.js';
import type { NotifyMetrics } from '../notify/queue.js';
import type { OpKind } from '../reconcile/plan.js';

export const RUN_TRIGGERS = ['startup', 'schedule', 'api', 'webhook', 'graph', 'watch', 'approval'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/**
 * - `queued`: waiting for the single active run slot.
 * - `planning`: reading the source and Devin, planning.
 * - `applying`: its ops are in the ops queue.
 * - `awaiting-approval`: review mode with changes, or blocked by guardrails; waits for approve.
 * - `succeeded` / `partial` (some ops failed) / `failed` (the run itself failed) / `blocked`
 *   (guardrails held back removals and nobody approved, or a plan whose only changes were held
 *   back by a fail-closed guard) / `superseded` (a newer run replaced it
 *   while it waited) / `rejected` (a reviewer turned its plan down) are final.
 */
export type RunStatus =
  | 'queued'
  | 'planning'
  | 'applying'
  | 'awaiting-approval'
  | 'succeeded'
  | 'partial'
  | 'failed'
  | 'blocked'
  | 'superseded'
  | 'rejected';

export const FINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set([
  'succeeded',
  'partial',
  'failed',
  'blocked',
  'superseded',
  'rejected',
]);

export interface RunRecord {
  id: string;
  trigger: RunTrigger;
  /** Free text from the trigger (webhook body `reason`, API caller). */
  reason?: string;
  status: RunStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Present once planned. */
  plan?: {
    fingerprint: string;
    summary: Partial<Record<OpKind, number>>;
    ops: number;
    warnings: number;
    complete: boolean;
    guardrails: { verdict: 'ok' | 'blocked'; reasons: string[] };
    /** Ops a fail-closed guard held back (not applied by this run whatever is approved). */
    held?: number;
  };
  /** Per-status op counts while and after applying. */
  opCounts?: Record<OpStatus, number>;
  failedOps?: Array<{ key: string; kind: OpKind; error: string }>;
  /** Why the run itself failed (source unreadable, config names unknown roles, …). */
  error?: string;
  /**
   * Who approved: the verified identity of a console sign-in (the ID token's email, else
   * `sub:<subject> at <issuer host>`), or `admin-token` for the bearer API and the console's
   * Basic mode.
   */
  approvedBy?: string;
  approvedAt?: string;
  /** The approver's own words, stored as given (bounded, no control characters). */
  approvalComment?: string;
  /** Who turned the plan down (as approvedBy), when, and why (status `rejected`). */
  rejectedBy?: string;
  rejectedAt?: string;
  rejectionComment?: string;
  /** The run that replaced this one (status `superseded`). */
  supersededBy?: string;
}

export type ReportFormat = 'md' | 'json' | 'html';

export class RunNotFoundError extends Error {
  constructor(readonly runId: string) {
    super(`no run ${runId}`);
    this.name = 'RunNotFoundError';
  }
}

/** Approve or reject was called on a run that is not waiting for it, or whose plan went stale. */
export class RunStateError extends Error {
  constructor(
    readonly runId: string,
    readonly status: RunStatus,
    message: string,
  ) {
    super(message);
    this.name = 'RunStateError';
  }
}

export interface TriggerResult {
  /** The run that will carry this trigger (a new one, or the pending one it coalesced into). */
  runId: string;
  /** True when the trigger joined an already pending run instead of creating one. */
  coalesced: boolean;
}

export interface RunService {
  /** Asks for a run. At most one run is active and one pending; further triggers coalesce. */
  trigger(t: {
    trigger: RunTrigger;
    reason?: string;
    /** Epoch ms the webhook arrived: the start of idsync_webhook_to_converged_seconds. */
    receivedAt?: number;
  }): Promise<TriggerResult>;
  /** Newest first. */
  list(limit?: number): Promise<RunRecord[]>;
  get(id: string): Promise<RunRecord | undefined>;
  /** The run's plan report, or undefined when the run has none (yet). */
  report(id: string, format: ReportFormat): Promise<string | undefined>;
  /**
   * Applies exactly the run's plan (after a staleness check) and releases its blocked removals.
   * Throws RunNotFoundError or RunStateError.
   */
  approve(id: string, by: string, comment?: string): Promise<RunRecord>;
  /**
   * Turns a waiting run's plan down: it ends `rejected` and nothing more of it is applied (in auto
   * mode, its additions may already be). Throws RunNotFoundError or RunStateError.
   */
  reject(id: string, by: string, comment?: string): Promise<RunRecord>;
  /** Redis reachable, config loaded: what /readyz reports. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** What the Entra delta source and the Graph subscription manager report (src/directory/entra). */
export interface EntraMetrics {
  /** One delta round ended: `resync` is an incremental round Graph refused (a full one follows). */
  deltaRound(kind: 'full' | 'incremental', outcome: 'ok' | 'failed' | 'resync'): void;
  /** Subscriptions this replica manages (0 on the replicas that do not hold the lease). */
  subscriptionsActive(n: number): void;
  subscriptionOperation(
    operation: 'create' | 'renew' | 'reauthorize' | 'delete',
    outcome: 'ok' | 'failed' | 'gone',
  ): void;
}

/** What the LDAP watermark poller reports (src/daemon/watermark.ts). */
export interface WatchMetrics {
  /** One poll: `first` is the first reading (nothing to compare with), `failed` a read that failed. */
  watermarkPoll(outcome: 'first' | 'same' | 'moved' | 'failover' | 'failed'): void;
  /** From the poll that first saw the watermark move to the run it asked for (debounce included). */
  watermarkToRun(seconds: number): void;
}

/**
 * What the run machinery reports; src/server implements it with prom-client (`idsync_` metrics).
 * The Entra part is optional: only an entra source reports it; the notify part only with `notify:`;
 * the watch part only with an ldap source's `watch:`.
 */
export interface DaemonMetrics extends Partial<EntraMetrics>, Partial<NotifyMetrics>, Partial<WatchMetrics> {
  runFinished(trigger: RunTrigger, status: RunStatus): void;
  phaseDuration(phase: 'read-source' | 'read-devin' | 'plan' | 'apply', seconds: number): void;
  opSettled(kind: OpKind, status: OpStatus): void;
  planSize(ops: number): void;
  guardrailBlocked(): void;
  /** Ops the most recent plan held back (an incomplete read, a mapping that selects nothing, …). */
  heldOps(n: number): void;
  sourceObjects(users: number, groups: number): void;
  devinRequest(route: string, status: number | 'network'): void;
  lastSuccess(epochSeconds: number): void;
  /** From a webhook's arrival to the run that carried it finishing without failures. */
  webhookToConverged(seconds: number): void;
  /** The Devin request budget's rate now, requests/s (docs/rate-limits.md). */
  devinRequestRate?(rate: number): void;
}

export const NO_METRICS: DaemonMetrics = {
  runFinished: () => {},
  phaseDuration: () => {},
  opSettled: () => {},
  planSize: () => {},
  guardrailBlocked: () => {},
  heldOps: () => {},
  sourceObjects: () => {},
  devinRequest: () => {},
  lastSuccess: () => {},
  webhookToConverged: () => {},
};

// The inline executor (docs/design.md §7): one process, phase by phase in OP_ORDER, bounded concurrency
// within a phase. It decides what not to attempt (guardrails, failed prerequisites), runs the
// shared handlers, and writes the ownership ledger as each op succeeds.
import type { Logger } from 'pino';
import type { DevinClient } from '../../devin/client.js';
import { silentLogger } from '../../log/logger.js';
import { removalCount } from '../../reconcile/guardrails.js';
import { changesExistingAccess, OP_ORDER, type Op, type Plan } from '../../reconcile/plan.js';
import { emailKey, lastRunOf, type StateStore } from '../../state/ledger.js';
import {
  type ExecutionResult,
  OP_STATUSES,
  type OpResult,
  type OpStatus,
  type ProgressEvent,
} from '../types.js';
import { handleOp, InviteIncompleteError } from './handlers.js';

export interface ExecuteDeps {
  client: DevinClient;
  state: StateStore;
  logger?: Logger;
  /** Ops of one phase in flight at once. Default 4. The client's own limits still apply. */
  concurrency?: number;
  /**
   * Human approval of a blocked plan (`apply --allow-removals N`): releases its removals and role
   * changes when N is at least their count (`removalCount`). Ops in `plan.held` never run.
   */
  allowRemovals?: number;
  onProgress?: (e: ProgressEvent) => void;
}

export const DEFAULT_CONCURRENCY = 4;

/**
 * Applies `plan`. Op failures are results, not exceptions: the promise rejects only when the run
 * itself cannot be recorded (`state.recordRun`), after every op has settled and been recorded.
 */
export async function executePlan(plan: Plan, deps: ExecuteDeps): Promise<ExecutionResult> {
  const started = new Date();
  const log = (deps.logger ?? silentLogger).child({ component: 'executor' });
  const concurrency = Math.max(1, Math.floor(deps.concurrency ?? DEFAULT_CONCURRENCY));
  const results = new Map<Op, OpResult>();
  const prereqs = new Prerequisites();
  const hold = guardrailHold(plan, deps.allowRemovals);
  let ledgerBroken: string | undefined;
  const progress = (e: ProgressEvent): void => {
    try {
      deps.onProgress?.(e);
    } catch (err) {
      // A broken progress display must not abort an apply half-way.
      log.debug({ err }, 'progress callback failed');
    }
  };

  const runOne = async (op: Op): Promise<OpResult> => {
    const t0 = performance.now();
    const done = (status: OpStatus, extra: { detail?: string; error?: string } = {}): OpResult => ({
      key: op.key,
      kind: op.kind,
      status,
      ...extra,
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    });

    const skip = (why: string): OpResult => {
      prereqs.lost(op, why);
      return done('skipped', { detail: why });
    };
    if (ledgerBroken !== undefined) return skip(`not attempted: ${ledgerBroken}`);
    if (hold !== undefined && changesExistingAccess(op)) return skip(hold);
    const missing = prereqs.missing(op);
    if (missing !== undefined) return skip(missing);

    let outcome: Awaited<ReturnType<typeof handleOp>>;
    try {
      outcome = await handleOp(op, { client: deps.client });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof InviteIncompleteError && op.kind === 'inviteUsers') {
        // Those it did invite are idsync's: record them, or nothing would ever manage them.
        if (err.confirmed.length > 0) {
          const partial = { ...op, emails: [...err.confirmed] };
          ledgerBroken ??= await recordOrExplain(deps.state, partial);
        }
        prereqs.lostEmails(op, err.notConfirmed);
      } else {
        prereqs.lost(op, `prerequisite ${op.key} failed`);
      }
      return done('failed', { error: message });
    }

    const problem = await recordOrExplain(deps.state, op);
    if (problem !== undefined) {
      // Devin changed but the ledger did not: stop, or later ops would create what idsync then
      // forgets it owns. Nothing else starts; the next run re-plans from what Devin holds.
      ledgerBroken = problem;
      return done('failed', { ...(outcome.detail ? { detail: outcome.detail } : {}), error: problem });
    }
    return done(outcome.status, outcome.detail ? { detail: outcome.detail } : {});
  };

  for (const phase of OP_ORDER) {
    const ops = plan.ops.filter((o) => o.kind === phase);
    if (ops.length === 0) continue;
    let finished = 0;
    let failed = 0;
    progress({ phase, done: 0, total: ops.length, failed: 0 });
    await pool(ops, concurrency, async (op) => {
      const result = await runOne(op);
      results.set(op, result);
      finished++;
      if (result.status === 'failed') failed++;
      logResult(log, result);
      progress({ phase, done: finished, total: ops.length, failed });
    });
  }

  const ordered = plan.ops.map((op) => results.get(op) as OpResult);
  const counts = Object.fromEntries(OP_STATUSES.map((s) => [s, 0])) as Record<OpStatus, number>;
  for (const r of ordered) counts[r.status]++;
  const ok = counts.failed === 0;
  const finishedAt = new Date();

  // The last successful run is the base of maxSourceShrinkPercent. A run whose removals were held
  // back must not move it, or the next run would see no shrink and remove without approval.
  if (ok && !ordered.some((r) => r.status === 'skipped')) {
    const run = lastRunOf(plan, finishedAt);
    if (run) await deps.state.recordRun(run);
  }
  log.info({ counts, ok }, 'plan applied');
  return {
    results: ordered,
    counts,
    ok,
    startedAt: started.toISOString(),
    finishedAt: finishedAt.toISOString(),
  };
}

/** Why the plan's removals do not run, or undefined when they may. */
function guardrailHold(plan: Plan, allowRemovals: number | undefined): string | undefined {
  if (plan.guardrails.verdict !== 'blocked') return undefined;
  const needed = removalCount(plan.ops);
  if (allowRemovals !== undefined && allowRemovals >= needed) return undefined;
  const reasons = plan.guardrails.reasons.join('; ') || 'no reason given';
  return `held back by guardrails: ${reasons}`;
}

async function recordOrExplain(state: StateStore, op: Op): Promise<string | undefined> {
  try {
    await state.recordOp(op);
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return `applied in Devin, but the ownership ledger (${state.describe()}) could not be written: ${why}`;
  }
}

function logResult(log: Logger, r: OpResult): void {
  const fields = { key: r.key, kind: r.kind, status: r.status, detail: r.detail, durationMs: r.durationMs };
  if (r.status === 'failed') log.warn({ ...fields, error: r.error }, 'op failed');
  else if (r.status === 'skipped') log.info(fields, 'op skipped');
  else log.debug(fields, 'op done');
}

/**
 * What each op needs from earlier phases, and what an op that did not succeed takes away. An op
 * whose prerequisite failed or was skipped is skipped too: Devin would refuse it (an org mapping
 * needs the enterprise mapping, an org add needs the invite, a user removal needs the org removals
 * first) or it would act on a half-built object.
 */
export class Prerequisites {
  /** What an op needs (see `requires`) → why it is not there. */
  private readonly gone = new Map<string, string>();

  missing(op: Op): string | undefined {
    for (const need of requires(op)) {
      const why = this.gone.get(need);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  /** The op did not succeed: what it would have provided is missing, for `why`. */
  lost(op: Op, why: string): void {
    for (const p of provides(op)) if (!this.gone.has(p)) this.gone.set(p, why);
  }

  lostEmails(op: Op, emails: readonly string[]): void {
    for (const e of emails) {
      const k = `email:${emailKey(e)}`;
      if (!this.gone.has(k)) this.gone.set(k, `prerequisite ${op.key} failed for ${e}`);
    }
  }
}

function requires(op: Op): string[] {
  switch (op.kind) {
    case 'setGroupEnterpriseRole':
      return [`group:${op.group}`];
    case 'setGroupOrgRole':
      return [`group:${op.group}`, `groupEnt:${op.group}`];
    case 'addOrgUser':
      return [`email:${emailKey(op.email)}`];
    case 'removeUser':
      return [`userOrgs:${op.userId}`];
    case 'removeGroupEnterpriseRole':
      return [`groupOrgs:${op.group}`];
    case 'unregisterIdpGroup':
      return [`groupOrgs:${op.group}`, `groupEnt:${op.group}`];
    default:
      return [];
  }
}

function provides(op: Op): string[] {
  switch (op.kind) {
    case 'registerIdpGroups':
      return op.groups.map((g) => `group:${g}`);
    case 'setGroupEnterpriseRole':
    case 'removeGroupEnterpriseRole':
      return [`groupEnt:${op.group}`];
    case 'removeGroupOrgRole':
      return [`groupOrgs:${op.group}`];
    case 'inviteUsers':
      return op.emails.map((e) => `email:${emailKey(e)}`);
    case 'removeOrgUser':
      return [`userOrgs:${op.userId}`];
    default:
      return [];
  }
}

/** Runs `work` over `items`, at most `limit` at once; settles when all have. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// Guardrails (DESIGN §6), fail closed. Pure: the plan, the last successful run and the thresholds
// in; a verdict out. A blocked verdict holds back the plan's removals (additions still apply)
// until a human approves; an incomplete read never gets this far with a removal in it.
import type { LastRun } from '../state/ledger.js';
import { type GuardrailVerdict, type Op, REMOVAL_KINDS } from './plan.js';
import type { GuardrailSpec } from './policy.js';

export interface GuardrailInput {
  ops: readonly Op[];
  /** In-scope users idsync manages: the base of the percentage. */
  managedUsers: number;
  directoryUsers: number;
  lastRun: LastRun | undefined;
  spec: GuardrailSpec;
}

export function guardrails(input: GuardrailInput): GuardrailVerdict {
  const { ops, spec } = input;
  const reasons: string[] = [];
  const userRemovals = ops.filter((o) => o.kind === 'removeUser').length;
  const groupRemovals = ops.filter((o) => o.kind === 'unregisterIdpGroup').length;

  if (userRemovals > spec.maxUserRemovals) {
    reasons.push(`${userRemovals} user removals exceed guardrails.maxUserRemovals (${spec.maxUserRemovals})`);
  }
  if (userRemovals > 0 && input.managedUsers > 0) {
    const percent = (userRemovals / input.managedUsers) * 100;
    if (percent > spec.maxUserRemovalPercent) {
      reasons.push(
        `${userRemovals} of ${input.managedUsers} managed users (${percent.toFixed(1)}%) would be removed, over guardrails.maxUserRemovalPercent (${spec.maxUserRemovalPercent}%)`,
      );
    }
  }
  if (groupRemovals > spec.maxGroupRemovals) {
    reasons.push(
      `${groupRemovals} IdP group removals exceed guardrails.maxGroupRemovals (${spec.maxGroupRemovals})`,
    );
  }
  const last = input.lastRun;
  if (last && last.directoryUsers > 0) {
    const shrink = ((last.directoryUsers - input.directoryUsers) / last.directoryUsers) * 100;
    if (shrink > spec.maxSourceShrinkPercent) {
      reasons.push(
        `the directory shrank by ${shrink.toFixed(1)}% since the last successful run (${last.directoryUsers} → ${input.directoryUsers} users), over guardrails.maxSourceShrinkPercent (${spec.maxSourceShrinkPercent}%)`,
      );
    }
  }
  return { verdict: reasons.length > 0 ? 'blocked' : 'ok', reasons };
}

/**
 * The number a human approves with `apply --allow-removals N`: every removal op, since a blocked
 * verdict holds back all of them, not only the ones that crossed a threshold.
 */
export function removalCount(ops: readonly Op[]): number {
  return ops.filter((o) => REMOVAL_KINDS.has(o.kind)).length;
}

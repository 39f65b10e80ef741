// Guardrails (docs/design.md §6), fail closed. Pure: the plan, the last successful run and the thresholds
// in; a verdict out. A blocked verdict holds back the plan's removals (additions still apply)
// until a human approves; an incomplete read never gets this far with a removal in it.
import type { LastRun } from '../state/ledger.js';
import { changesExistingAccess, type GuardrailVerdict, type MappedGroupStat, type Op } from './plan.js';
import type { GuardrailSpec } from './policy.js';

export interface GuardrailInput {
  ops: readonly Op[];
  /** In-scope users idsync manages: the base of the percentage. */
  managedUsers: number;
  directoryUsers: number;
  /** The groups this run's mappings selected, and the keys of the mappings that provision users. */
  mappedGroups?: readonly MappedGroupStat[];
  provisioningMappings?: ReadonlyMap<string, string>;
  lastRun: LastRun | undefined;
  spec: GuardrailSpec;
}

export function guardrails(input: GuardrailInput): GuardrailVerdict {
  const { ops, spec } = input;
  const reasons: string[] = [];
  // Nothing to hold back: a threshold crossed without a removal is no reason to wait for a human
  // (and an approval of 0 removals would be a hint that approves nothing).
  if (removalCount(ops) === 0) return { verdict: 'ok', reasons: [] };
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
  reasons.push(...groupShrinkReasons(input));
  return { verdict: reasons.length > 0 ? 'blocked' : 'ok', reasons };
}

/**
 * Per mapped group: lost more than maxGroupShrinkPercent of its members, or all of them, or no
 * longer selected by a mapping that selected it last run. A member list an ACL hides, or a group
 * emptied by mistake, then waits for a human instead of removing its people.
 */
function groupShrinkReasons(input: GuardrailInput): string[] {
  const last = input.lastRun?.mappedGroups;
  const mappings = input.provisioningMappings;
  if (!last || !mappings || !input.mappedGroups) return [];
  const max = input.spec.maxGroupShrinkPercent;
  const now = new Map(input.mappedGroups.map((g) => [g.id, g]));
  const reasons: string[] = [];
  for (const before of last) {
    if (before.members === 0) continue;
    const keys = before.mappings.filter((k) => mappings.has(k));
    if (keys.length === 0) continue; // the mapping is gone from the config: that removal is intended
    const where = keys.map((k) => mappings.get(k)).join(', ');
    const current = now.get(before.id);
    if (!current || !keys.some((k) => current.mappings.includes(k))) {
      reasons.push(
        `directory group ${before.name} (${before.members} members last run) is no longer selected by ${where}, over guardrails.maxGroupShrinkPercent (${max}%)`,
      );
      continue;
    }
    const shrink = ((before.members - current.members) / before.members) * 100;
    if (current.members === 0 || shrink > max) {
      reasons.push(
        `directory group ${current.name} (${where}) shrank by ${shrink.toFixed(1)}% since the last successful run (${before.members} → ${current.members} members), over guardrails.maxGroupShrinkPercent (${max}%)`,
      );
    }
  }
  return reasons;
}

/**
 * The number a human approves with `apply --allow-removals N`: every op that changes existing
 * access, since a blocked verdict holds back all of them, not only the ones that crossed a
 * threshold. Additions are never held by a verdict.
 */
export function removalCount(ops: readonly Op[]): number {
  return ops.filter(changesExistingAccess).length;
}

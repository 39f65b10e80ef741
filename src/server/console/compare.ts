// What changed since the previous run: the two plans compared change by change (one per subject of
// an op, as the reports list them), not op by op, because bulk ops (invites, registrations) are
// batched by position and their keys do not follow a person from one plan to the next.
import type { Plan } from '../../reconcile/plan.js';
import { type Change, planChanges } from '../../report/index.js';

export interface PlanComparison {
  /** In this plan, not in the previous one. */
  added: Change[];
  /** In the previous plan, not in this one (applied since, or no longer wanted). */
  gone: Change[];
  /** In both. */
  same: number;
}

/** A change's identity: what it does, to whom, where, to which role. A new target role is a new change. */
export function changeKey(c: Change): string {
  return JSON.stringify([
    c.kind,
    c.subjectType,
    c.subject.toLowerCase(),
    c.org?.id ?? null,
    c.to?.id ?? null,
  ]);
}

export function comparePlans(current: Plan, previous: Plan): PlanComparison {
  const now = planChanges(current);
  const before = planChanges(previous);
  const beforeKeys = new Set(before.map(changeKey));
  const nowKeys = new Set(now.map(changeKey));
  const added = now.filter((c) => !beforeKeys.has(changeKey(c)));
  const gone = before.filter((c) => !nowKeys.has(changeKey(c)));
  return { added, gone, same: now.length - added.length };
}

// planSync: directory snapshot + Devin snapshot + policy + ledger → Plan. The whole decision of a
// run, as a pure function; everything around it only reads inputs and applies the result.

import type { DirectorySnapshot } from '../directory/types.js';
import type { DevinReadInfo, DevinSnapshot } from '../model/devin.js';
import type { OwnershipLedger } from '../state/ledger.js';
import { desiredState } from './desiredState.js';
import { diff } from './diff.js';
import { explainChanges } from './explain.js';
import { failClosed } from './failClosed.js';
import { fingerprintOps } from './fingerprint.js';
import { guardrails } from './guardrails.js';
import type { Op, OpKind, Plan, PlanWarning } from './plan.js';
import type { SyncPolicy } from './policy.js';

export interface PlanInput {
  policy: SyncPolicy;
  directory: DirectorySnapshot;
  devin: DevinSnapshot;
  ledger: OwnershipLedger;
  now?: Date;
  /** How `devin` was read (the daemon's cached copy or a full read): recorded in the plan. */
  devinRead?: DevinReadInfo;
}

/**
 * `desired` may be passed when the caller already computed it from the same policy, directory and
 * Devin orgs and roles (an incremental run plans more than once against one desired state).
 */
export function planSync(
  input: PlanInput,
  desired = desiredState(input.policy, input.directory, input.devin),
): Plan {
  const { policy, directory, devin, ledger } = input;
  const result = diff(desired, devin, ledger, policy.scope);
  const explained = explainChanges({
    ops: result.ops,
    desired,
    directory,
    lastRun: ledger.lastSuccessfulRun,
  });
  const warnings: PlanWarning[] = [...desired.warnings, ...result.warnings, ...explained.warnings];

  const closed = failClosed({
    ops: explained.ops,
    desired,
    complete: directory.complete,
    incompleteReasons: directory.incompleteReasons,
  });
  const ops = closed.ops;
  if (!directory.complete) {
    const why =
      directory.incompleteReasons.length > 0 ? directory.incompleteReasons.join('; ') : 'reason not given';
    const n = closed.held.filter((h) => h.reasons.some((r) => r.guard === 'incomplete-read')).length;
    warnings.unshift({
      code: 'incomplete-read',
      message: `the directory read was incomplete (${why}); ${n} removal(s) and role change(s) held back until a complete read`,
    });
  }
  warnings.push(...closed.warnings);

  const provisioningMappings = new Map(
    desired.mappingUse
      .filter((m) => m.spec.provisionUsers && m.enterpriseRole !== null)
      .map((m) => [m.key, `mappings[${m.index}]`]),
  );
  const verdict = guardrails({
    ops,
    managedUsers: result.managedUsers,
    directoryUsers: directory.users.length,
    mappedGroups: desired.mappedGroups,
    provisioningMappings,
    lastRun: ledger.lastSuccessfulRun,
    spec: policy.guardrails,
  });
  return {
    version: 1,
    createdAt: (input.now ?? new Date()).toISOString(),
    summary: summarise(ops),
    ops,
    held: closed.held,
    warnings,
    guardrails: verdict,
    complete: directory.complete,
    stats: {
      directoryUsers: directory.users.length,
      directoryGroups: directory.groups.length,
      devinUsers: devin.users.length,
      devinGroups: devin.registeredGroups.length,
      managedUsers: result.managedUsers,
      mappedGroups: desired.mappedGroups,
      userIds: desired.userIds,
    },
    fingerprint: fingerprintOps(ops),
    ...(input.devinRead ? { devinRead: input.devinRead } : {}),
  };
}

export function summarise(ops: readonly Op[]): Partial<Record<OpKind, number>> {
  const summary: Partial<Record<OpKind, number>> = {};
  for (const op of ops) summary[op.kind] = (summary[op.kind] ?? 0) + 1;
  return summary;
}

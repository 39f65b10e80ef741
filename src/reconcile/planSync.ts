// planSync: directory snapshot + Devin snapshot + policy + ledger → Plan. The whole decision of a
// run, as a pure function; everything around it only reads inputs and applies the result.

import type { DevinSnapshot } from '../devin/snapshot.js';
import type { DirectorySnapshot } from '../directory/types.js';
import type { OwnershipLedger } from '../state/ledger.js';
import { desiredState } from './desiredState.js';
import { diff } from './diff.js';
import { fingerprintOps } from './fingerprint.js';
import { guardrails } from './guardrails.js';
import {
  type Op,
  type OpKind,
  type Plan,
  type PlanWarning,
  REMOVAL_KINDS,
  ROLE_CHANGE_KINDS,
} from './plan.js';
import type { SyncPolicy } from './policy.js';

export interface PlanInput {
  policy: SyncPolicy;
  directory: DirectorySnapshot;
  devin: DevinSnapshot;
  ledger: OwnershipLedger;
  now?: Date;
}

export function planSync(input: PlanInput): Plan {
  const { policy, directory, devin, ledger } = input;
  const desired = desiredState(policy, directory, devin);
  const result = diff(desired, devin, ledger, policy.scope);
  const warnings: PlanWarning[] = [...desired.warnings, ...result.warnings];
  let ops = result.ops;

  if (!directory.complete) {
    const held = ops.filter(isHeldBackWhenIncomplete);
    ops = ops.filter((o) => !isHeldBackWhenIncomplete(o));
    const why =
      directory.incompleteReasons.length > 0 ? directory.incompleteReasons.join('; ') : 'reason not given';
    warnings.unshift({
      code: 'incomplete-read',
      message: `the directory read was incomplete (${why}); ${held.length} removal(s) and role change(s) held back until a complete read`,
    });
  }

  const verdict = guardrails({
    ops,
    managedUsers: result.managedUsers,
    directoryUsers: directory.users.length,
    lastRun: ledger.lastSuccessfulRun,
    spec: policy.guardrails,
  });
  return {
    version: 1,
    createdAt: (input.now ?? new Date()).toISOString(),
    summary: summarise(ops),
    ops,
    warnings,
    guardrails: verdict,
    complete: directory.complete,
    stats: {
      directoryUsers: directory.users.length,
      directoryGroups: directory.groups.length,
      devinUsers: devin.users.length,
      devinGroups: devin.registeredGroups.length,
      managedUsers: result.managedUsers,
    },
    fingerprint: fingerprintOps(ops),
  };
}

/**
 * With a half-read directory, a missing member looks like a leaver and a half-read admin group like a
 * downgrade: only additions go ahead (DESIGN §3).
 */
function isHeldBackWhenIncomplete(op: Op): boolean {
  if (REMOVAL_KINDS.has(op.kind) || ROLE_CHANGE_KINDS.has(op.kind)) return true;
  return (op.kind === 'setGroupEnterpriseRole' || op.kind === 'setGroupOrgRole') && op.expected.role !== null;
}

export function summarise(ops: readonly Op[]): Partial<Record<OpKind, number>> {
  const summary: Partial<Record<OpKind, number>> = {};
  for (const op of ops) summary[op.kind] = (summary[op.kind] ?? 0) + 1;
  return summary;
}

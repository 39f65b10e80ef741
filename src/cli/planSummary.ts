// The plan as a few lines for a terminal: counts by op kind in execution order, the guardrail
// verdict and the warnings. The full story is in the reports.
import { OP_ORDER, type Op, type OpKind, type Plan, removalCount } from '../reconcile/index.js';
import { KIND_LABELS } from '../report/index.js';

export function planSummaryLines(plan: Plan): string[] {
  const lines: string[] = [];
  if (plan.ops.length === 0) lines.push('No changes: Devin already matches the directory.');
  else {
    const counts = subjectCounts(plan.ops);
    lines.push(`Changes (${plan.ops.length} op${plan.ops.length === 1 ? '' : 's'}):`);
    for (const kind of OP_ORDER) {
      const n = counts.get(kind);
      if (n) lines.push(`  ${String(n).padStart(6)}  ${KIND_LABELS[kind]}`);
    }
  }
  if (!plan.complete)
    lines.push('! The directory read was incomplete: removals and role changes were held back.');
  if (plan.guardrails.verdict === 'blocked') {
    lines.push('! Guardrails block this plan’s removals (additions still apply):');
    for (const r of plan.guardrails.reasons) lines.push(`    - ${r}`);
    lines.push(`  To approve: idsync apply --allow-removals ${removalCount(plan.ops)}`);
  }
  if (plan.warnings.length > 0) {
    const byCode = new Map<string, number>();
    for (const w of plan.warnings) byCode.set(w.code, (byCode.get(w.code) ?? 0) + 1);
    lines.push(`${plan.warnings.length} warning(s): ${[...byCode].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
  }
  lines.push(`fingerprint ${plan.fingerprint}`);
  return lines;
}

/** Bulk ops count their subjects: one invite op for 87 people reads as 87. */
function subjectCounts(ops: readonly Op[]): Map<OpKind, number> {
  const out = new Map<OpKind, number>();
  for (const op of ops) {
    const n =
      op.kind === 'inviteUsers' ? op.emails.length : op.kind === 'registerIdpGroups' ? op.groups.length : 1;
    out.set(op.kind, (out.get(op.kind) ?? 0) + n);
  }
  return out;
}

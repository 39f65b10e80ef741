// The plan as a few lines for a terminal: counts by op kind in execution order, the guardrail
// verdict and the warnings. The full story is in the reports. Hold and guardrail reasons name
// directory groups, so every line goes out with its control characters made visible: a group
// named "\u001b[31mroot" must not colour the terminal, nor "\r" overwrite the verdict.
import { OP_ORDER, type Op, type OpKind, type Plan, removalCount } from '../reconcile/index.js';
import { emptyPlanMessage, KIND_LABELS, subjectCount, terminalText } from '../report/index.js';

export function planSummaryLines(plan: Plan): string[] {
  const lines: string[] = [];
  const counts = subjectCounts(plan.ops);
  const changes = [...counts.values()].reduce((a, b) => a + b, 0);
  // An empty plan from an incomplete read proves nothing: only that what was read needs no change.
  if (plan.ops.length === 0) lines.push(emptyPlanMessage(plan));
  else {
    // Bulk ops count their subjects, so the header counts what the lines under it count.
    const opsNote =
      changes === plan.ops.length ? '' : ` in ${plan.ops.length} op${plan.ops.length === 1 ? '' : 's'}`;
    lines.push(`Changes (${changes}${opsNote}):`);
    for (const kind of OP_ORDER) {
      const n = counts.get(kind);
      if (n) lines.push(`  ${String(n).padStart(6)}  ${KIND_LABELS[kind]}`);
    }
  }
  if (plan.held.length > 0) {
    const held = subjectCounts(plan.held.map((h) => h.op));
    lines.push(
      `! Held back, not applied by this plan (${plan.held.length} op${plan.held.length === 1 ? '' : 's'}):`,
    );
    for (const kind of OP_ORDER) {
      const n = held.get(kind);
      if (n) lines.push(`  ${String(n).padStart(6)}  ${KIND_LABELS[kind]}`);
    }
    const why = new Map<string, string>();
    for (const h of plan.held) for (const r of h.reasons) why.set(`${r.guard}\u0000${r.message}`, r.message);
    for (const m of [...why.values()].slice(0, 5)) lines.push(`    - ${m}`);
    if (why.size > 5) lines.push(`    - …and ${why.size - 5} more reasons (see the report)`);
  }
  if (!plan.complete)
    lines.push(
      '! The directory read was incomplete: every removal and role change is held back until a complete read (exit 5).',
    );
  if (plan.guardrails.verdict === 'blocked') {
    lines.push('! Guardrails block this plan’s removals and role changes (additions still apply):');
    for (const r of plan.guardrails.reasons) lines.push(`    - ${r}`);
    const n = removalCount(plan.ops);
    if (n > 0) lines.push(`  To approve: idsync apply --allow-removals ${n}`);
  }
  if (plan.warnings.length > 0) {
    const byCode = new Map<string, number>();
    for (const w of plan.warnings) byCode.set(w.code, (byCode.get(w.code) ?? 0) + 1);
    lines.push(`${plan.warnings.length} warning(s): ${[...byCode].map(([c, n]) => `${c} ×${n}`).join(', ')}`);
  }
  lines.push(`fingerprint ${plan.fingerprint}`);
  return lines.map(terminalText);
}

/** Bulk ops count their subjects: one invite op for 87 people reads as 87. */
function subjectCounts(ops: readonly Op[]): Map<OpKind, number> {
  const out = new Map<OpKind, number>();
  for (const op of ops) out.set(op.kind, (out.get(op.kind) ?? 0) + subjectCount(op));
  return out;
}

/** Exit codes of every idsync command (docs/design.md §8). */
export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  blocked: 3,
  stalePlan: 4,
  /** The directory read was incomplete: every change to existing access was held back. */
  incomplete: 5,
} as const;

/**
 * What a plan means for the exit code of `plan` and `apply`, fail closed: an incomplete read (5)
 * outranks anything held back or blocked (3), so a script can tell "fix the directory read" from
 * "a human must look".
 */
export function planExitCode(plan: {
  complete: boolean;
  held: readonly unknown[];
  guardrails: { verdict: 'ok' | 'blocked' };
}): number {
  if (!plan.complete) return EXIT.incomplete;
  if (plan.held.length > 0 || plan.guardrails.verdict === 'blocked') return EXIT.blocked;
  return EXIT.ok;
}

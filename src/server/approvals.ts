// idsync_approvals_total{decision,auth}: every approval and rejection, by how the decider signed in
// (`oidc`: the console through the IdP; `admin-token`: the bearer API or the console's Basic mode).
// A spike of admin-token approvals where people are meant to use the console is worth an alert.
import { Counter, type Registry } from 'prom-client';

export type Decision = 'approved' | 'rejected';
export type DecisionAuth = 'oidc' | 'admin-token';

export interface ApprovalCounter {
  inc(decision: Decision, auth: DecisionAuth): void;
}

const counters = new WeakMap<Registry, Counter<'decision' | 'auth'>>();

/** One counter per registry (buildServer may run twice on one registry); none without a registry. */
export function approvalCounter(registry: Registry | undefined): ApprovalCounter {
  if (!registry) return { inc: () => {} };
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'idsync_approvals_total',
      help: 'Runs approved or rejected, by decision and by how the decider authenticated (oidc, admin-token).',
      labelNames: ['decision', 'auth'] as const,
      registers: [registry],
    });
    for (const d of ['approved', 'rejected'])
      for (const a of ['oidc', 'admin-token']) counter.labels(d, a).inc(0);
    counters.set(registry, counter);
  }
  const c = counter;
  return { inc: (decision, auth) => c.labels(decision, auth).inc() };
}

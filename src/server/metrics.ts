// The `idsync_` metrics of docs/design.md §9 on a registry of their own (one per app: building two apps in
// one process, as tests do, must not collide on prom-client's global registry).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type DaemonMetrics, RUN_TRIGGERS, type RunStatus } from '../daemon/types.js';
import type { ExchangeEvent } from '../devin/client.js';

export const METRIC_PREFIX = 'idsync_';

const OUTCOMES: readonly RunStatus[] = [
  'succeeded',
  'partial',
  'failed',
  'blocked',
  'superseded',
  'rejected',
];

/** A metric must never break the run that reports it: bad numbers are dropped, not thrown. */
const usable = (n: number) => Number.isFinite(n) && n >= 0;

export function createMetrics(): { metrics: DaemonMetrics; registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const registers = [registry];

  const runs = new Counter({
    name: 'idsync_runs_total',
    help: 'Runs finished, by what triggered them and how they ended.',
    labelNames: ['trigger', 'outcome'] as const,
    registers,
  });
  // Present from the start, so rate() and "failed runs > 0" alerts work before the first failure.
  for (const trigger of RUN_TRIGGERS) for (const outcome of OUTCOMES) runs.labels(trigger, outcome).inc(0);

  const phases = new Histogram({
    name: 'idsync_phase_duration_seconds',
    help: 'Duration of each phase of a run.',
    labelNames: ['phase'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const ops = new Counter({
    name: 'idsync_ops_total',
    help: 'Plan operations settled, by kind and outcome (applied, already, skipped, failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const planOps = new Gauge({
    name: 'idsync_plan_ops',
    help: 'Operations in the most recent plan.',
    registers,
  });
  const guardrailBlocks = new Counter({
    name: 'idsync_guardrail_blocks_total',
    help: 'Plans whose removals the guardrails held back.',
    registers,
  });
  const heldOps = new Gauge({
    name: 'idsync_plan_held_ops',
    help: 'Operations the most recent plan held back because idsync could not be sure they are wanted (incomplete read, a mapping that selects nothing, an unreadable member list).',
    registers,
  });
  const sourceObjects = new Gauge({
    name: 'idsync_source_objects',
    help: 'Objects read from the directory by the most recent run.',
    labelNames: ['kind'] as const,
    registers,
  });
  const devinRequests = new Counter({
    name: 'idsync_devin_requests_total',
    help: 'HTTP exchanges with the Devin API (one per attempt), by route template and status.',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  const devinRate = new Gauge({
    name: 'idsync_devin_request_rate',
    help: 'Requests per second the Devin request budget grants now: the adaptive rate (shared by the replicas), or maxRequestsPerSecond when fixed; absent without a budget.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'idsync_last_success_timestamp_seconds',
    help: 'Unix time at which the most recent run finished without failures (0: none yet).',
    registers,
  });
  const webhookToConverged = new Histogram({
    name: 'idsync_webhook_to_converged_seconds',
    help: "From a webhook's arrival to the run that carried it finishing without failures.",
    buckets: [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600],
    registers,
  });

  // The Entra delta source and Graph subscriptions (src/directory/entra): zero for other sources.
  const deltaRounds = new Counter({
    name: 'idsync_entra_delta_rounds_total',
    help: 'Entra delta rounds, by kind (full, incremental) and outcome (ok, failed, resync: Graph refused the stored link and a full round followed).',
    labelNames: ['kind', 'outcome'] as const,
    registers,
  });
  const subscriptionsActive = new Gauge({
    name: 'idsync_graph_subscriptions_active',
    help: 'Graph change-notification subscriptions this replica manages (0 on replicas without the lease).',
    registers,
  });
  const subscriptionOps = new Counter({
    name: 'idsync_graph_subscription_operations_total',
    help: 'Graph subscription operations (create, renew, reauthorize, delete) by outcome (ok, failed, gone: Graph no longer had it).',
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  // As for runs: failure alerts work before the first failure.
  for (const kind of ['full', 'incremental'])
    for (const o of ['ok', 'failed']) deltaRounds.labels(kind, o).inc(0);
  for (const o of ['ok', 'failed']) subscriptionOps.labels('renew', o).inc(0);

  // The LDAP watermark poller (src/daemon/watermark.ts): zero for other sources.
  const watermarkPolls = new Counter({
    name: 'idsync_ldap_watermark_polls_total',
    help: 'Polls of the LDAP change watermark by outcome (first: nothing to compare with yet; same; moved: a run follows; failover: another server answers or the watermark went back, a full reconcile follows; failed: the read failed, nothing is triggered).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const o of ['same', 'moved', 'failover', 'failed']) watermarkPolls.labels(o).inc(0);
  const watermarkToRun = new Gauge({
    name: 'idsync_ldap_watermark_to_run_seconds',
    help: 'For the most recent watermark move: seconds from the poll that first saw it to the run it asked for being queued (the debounce included).',
    registers,
  });

  // Notifications (src/notify): a retried message counts once per failed try, then sent or failed.
  const notifications = new Counter({
    name: 'idsync_notifications_total',
    help: 'Notification deliveries by channel (slack, teams, email, webhook) and outcome (sent; retried: a try failed and another follows; failed: given up; duplicate: already sent by another delivery; unqueued: could not be queued).',
    labelNames: ['channel', 'outcome'] as const,
    registers,
  });

  const metrics: DaemonMetrics = {
    notification: (channel, outcome) => notifications.labels(channel, outcome).inc(),
    watermarkPoll: (outcome) => watermarkPolls.labels(outcome).inc(),
    watermarkToRun: (seconds) => {
      if (usable(seconds)) watermarkToRun.set(seconds);
    },
    deltaRound: (kind, outcome) => deltaRounds.labels(kind, outcome).inc(),
    subscriptionsActive: (n) => {
      if (usable(n)) subscriptionsActive.set(n);
    },
    subscriptionOperation: (operation, outcome) => subscriptionOps.labels(operation, outcome).inc(),
    runFinished: (trigger, status) => runs.labels(trigger, status).inc(),
    phaseDuration: (phase, seconds) => {
      if (usable(seconds)) phases.labels(phase).observe(seconds);
    },
    opSettled: (kind, status) => ops.labels(kind, status).inc(),
    planSize: (n) => {
      if (usable(n)) planOps.set(n);
    },
    guardrailBlocked: () => guardrailBlocks.inc(),
    heldOps: (n) => heldOps.set(n),
    sourceObjects: (users, groups) => {
      if (usable(users)) sourceObjects.labels('users').set(users);
      if (usable(groups)) sourceObjects.labels('groups').set(groups);
    },
    devinRequest: (route, status) => devinRequests.labels(route, String(status)).inc(),
    devinRequestRate: (rate) => {
      if (usable(rate)) devinRate.set(rate);
    },
    lastSuccess: (epochSeconds) => {
      if (usable(epochSeconds)) lastSuccess.set(epochSeconds);
    },
    webhookToConverged: (seconds) => {
      if (usable(seconds)) webhookToConverged.observe(seconds);
    },
  };
  return { metrics, registry };
}

/**
 * For `DevinClientOptions.onExchange`. The method goes into the route label because one template
 * serves several verbs (GET and DELETE of a user are different costs and different failures).
 */
export function observeDevinExchanges(metrics: DaemonMetrics): (e: ExchangeEvent) => void {
  return (e) => metrics.devinRequest(`${e.method} ${e.route}`, e.status);
}

export type WebhookHook = 'resync' | 'graph';
export type WebhookOutcome = 'accepted' | 'validation' | 'unauthorized' | 'rejected' | 'failed';

export function webhookOutcome(statusCode: number): WebhookOutcome {
  if (statusCode === 202) return 'accepted';
  if (statusCode < 300) return 'validation';
  if (statusCode === 401) return 'unauthorized';
  return statusCode < 500 ? 'rejected' : 'failed';
}

const webhookCounters = new WeakMap<Registry, Counter<'hook' | 'outcome'>>();

/**
 * The server's own counter of webhook requests by outcome (a burst of `unauthorized` is worth an
 * alert). One per registry, because buildServer may be called more than once on the same one.
 */
export function webhookCounter(registry: Registry): Counter<'hook' | 'outcome'> {
  let counter = webhookCounters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: 'idsync_webhook_requests_total',
      help: 'Webhook requests received, by hook and outcome.',
      labelNames: ['hook', 'outcome'] as const,
      registers: [registry],
    });
    webhookCounters.set(registry, counter);
  }
  return counter;
}

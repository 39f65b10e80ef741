// POST /webhooks/graph: Microsoft Graph change and lifecycle notifications (one route for both: the
// chart's ingress exposes exactly this path, and a lifecycle item says `lifecycleEvent`). Graph's
// deadlines are strict: the validation handshake within 10 s, a notification's 2xx within 3 s, or
// Graph retries and eventually throttles the endpoint. So nothing here waits for more than a
// registry lookup and an enqueue, within one budget.
//
// Each item is checked against the clientState of its own subscription: the random one idsync
// created it with (the registry of src/directory/entra/subscriptions.ts), or, for a subscription
// idsync does not manage, the static `server.graphClientState`. An item that passes neither is
// refused, and with it the whole batch: a forged item must not ride along with genuine ones.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RunService } from '../daemon/types.js';
import { safeEqual } from './auth.js';
import { HttpError, parseJson, parseWith, UnavailableError, withDeadline } from './http.js';
import { requestRun } from './trigger.js';

export const GRAPH_BODY_LIMIT = 1024 * 1024;
/**
 * Well inside Graph's 3 s, for everything a request waits on. When Redis cannot answer in time the
 * answer is a 503, so Graph redelivers rather than the notification being lost behind a 202.
 */
const BUDGET_MS = 2_500;
/** The enqueue's own ceiling within the budget. */
const ENQUEUE_DEADLINE_MS = 2_000;
const EMPTY = Buffer.alloc(0);

const GraphQuery = z.object({ validationToken: z.string().max(16_384).optional() });

export const LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;
export type GraphLifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** Only what routing and authentication need; what changed is read by the delta round. */
const GraphNotifications = z.object({
  value: z
    .array(
      z.object({
        subscriptionId: z.string().min(1).max(200).optional(),
        // Graph sends null for a subscription made without one: never genuine.
        clientState: z.string().nullish(),
        lifecycleEvent: z.string().max(100).optional(),
      }),
    )
    .min(1)
    .max(1000),
});

/** The daemon side of the webhook: the subscription registry and the lifecycle handling. */
export interface GraphSubscriptions {
  /** The clientState of each subscription idsync manages, by id; others are absent. */
  clientStates(ids: readonly string[]): Promise<Map<string, string>>;
  /**
   * clientStates of subscriptions being created (their ids not yet known): accepted for an id the
   * registry does not hold, so the first notification after Graph's 201 is not refused.
   */
  pendingClientStates?(): Promise<string[]>;
  /**
   * A lifecycle event that passed the clientState check. `managed`: the subscription is one of
   * idsync's own. Resolves once the event is recorded (the full-read flag of `missed`, …).
   */
  lifecycle(subscriptionId: string, event: GraphLifecycleEvent, managed: boolean): Promise<void>;
}

export interface GraphWebhookOptions {
  /** server.graphClientState: for subscriptions made outside idsync. */
  clientState?: string;
  /** Present when the daemon manages subscriptions (an entra source). */
  subscriptions?: GraphSubscriptions;
  runs: RunService;
  /** False while the run service is unreachable: notifications get 503 at once (Graph redelivers). */
  available: () => boolean;
  now: () => number;
}

export async function graphWebhook(scope: FastifyInstance, opts: GraphWebhookOptions): Promise<void> {
  // The handshake arrives as text/plain with an empty body and notifications as JSON; take any type
  // as bytes so the handshake can never be refused by a parser before the handler sees it.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: GRAPH_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );

  scope.post('/webhooks/graph', { bodyLimit: GRAPH_BODY_LIMIT }, async (req, reply) => {
    const receivedAt = opts.now();
    const left = (cap = BUDGET_MS) => Math.max(50, Math.min(cap, BUDGET_MS - (opts.now() - receivedAt)));
    const query = parseWith(GraphQuery, req.query, 'query');
    if (query.validationToken !== undefined) {
      // fastify has already URL-decoded the query, which is what Graph expects back.
      req.log.info('graph subscription validation');
      return reply
        .code(200)
        .type('text/plain; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .send(query.validationToken);
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    const body = parseWith(GraphNotifications, parseJson(raw), 'notification');
    if (!opts.available()) throw new UnavailableError('redis is not connected');

    let managed = new Map<string, string>();
    let pending: string[] = [];
    const subs = opts.subscriptions;
    if (subs) {
      const ids = [
        ...new Set(body.value.flatMap((n) => (n.subscriptionId === undefined ? [] : [n.subscriptionId]))),
      ];
      // One lookup for both: the registry's clientStates by id, and those of subscriptions still
      // being created (their ids not stored yet), read in parallel within the same deadline.
      const lookup = Promise.all([
        subs.clientStates(ids),
        subs.pendingClientStates ? subs.pendingClientStates() : Promise.resolve([]),
      ]);
      try {
        [managed, pending] = await withDeadline(lookup, left(1_000), 'registry', (late) => {
          if (!late.ok) req.log.warn({ err: late.error }, 'late subscription registry lookup failed');
        });
      } catch (err) {
        req.log.error({ err }, 'graph notification: subscription registry unreachable');
        throw new UnavailableError('subscription registry unreachable');
      }
    }
    // Every item, each against its own subscription's secret (compared in constant time).
    const genuine = body.value.every((n) => {
      if (typeof n.clientState !== 'string') return false;
      const known = n.subscriptionId === undefined ? undefined : managed.get(n.subscriptionId);
      if (known !== undefined) return safeEqual(n.clientState, known);
      const presented = n.clientState;
      if (pending.some((p) => safeEqual(presented, p))) return true;
      return opts.clientState !== undefined && safeEqual(presented, opts.clientState);
    });
    if (!genuine) {
      req.log.warn({ notifications: body.value.length }, 'graph notification refused: clientState');
      throw new HttpError(401, 'unauthorized', 'clientState does not match');
    }

    const changes = body.value.filter((n) => n.lifecycleEvent === undefined).length;
    let missed = false;
    for (const n of body.value) {
      if (n.lifecycleEvent === undefined) continue;
      const event = (LIFECYCLE_EVENTS as readonly string[]).includes(n.lifecycleEvent)
        ? (n.lifecycleEvent as GraphLifecycleEvent)
        : undefined;
      if (event === undefined) {
        req.log.info({ event: n.lifecycleEvent }, 'graph lifecycle event not handled; ignored');
        continue;
      }
      if (event === 'missed') missed = true;
      const id = n.subscriptionId ?? '';
      if (!opts.subscriptions) {
        req.log.info({ event }, 'graph lifecycle event for a subscription idsync does not manage');
        continue;
      }
      try {
        await withDeadline(
          opts.subscriptions.lifecycle(id, event, managed.has(id)),
          left(1_000),
          'lifecycle',
          (late) => {
            if (!late.ok) req.log.error({ err: late.error, event }, 'late graph lifecycle handling failed');
          },
        );
      } catch (err) {
        req.log.error({ err, event }, 'graph lifecycle event could not be recorded');
        throw new UnavailableError('could not record the lifecycle event');
      }
    }
    if (changes === 0 && !missed) return reply.code(202).send({});
    // Coalesces like every trigger: a burst of notifications gives one run plus at most one pending.
    const reason = missed
      ? 'Graph missed notifications: full directory read'
      : `${changes} Graph notification(s)`;
    const result = await requestRun(
      opts.runs,
      { trigger: 'graph', reason, receivedAt },
      req.log,
      left(ENQUEUE_DEADLINE_MS),
    );
    return reply.code(202).send(result);
  });
}

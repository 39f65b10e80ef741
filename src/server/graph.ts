// POST /webhooks/graph: Microsoft Graph change notifications. Graph's deadlines are
// strict: the validation handshake within 10 s, a notification's 2xx within 3 s, or Graph retries
// and eventually throttles the endpoint. So nothing here waits for more than the enqueue.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RunService } from '../daemon/types.js';
import { safeEqual } from './auth.js';
import { HttpError, parseJson, parseWith, UnavailableError } from './http.js';
import { requestRun } from './trigger.js';

export const GRAPH_BODY_LIMIT = 1024 * 1024;
/**
 * Well inside Graph's 3 s. When the enqueue takes longer (Redis unreachable) the answer is a 503,
 * so Graph redelivers rather than the notification being lost behind a 202.
 */
const ENQUEUE_DEADLINE_MS = 2_000;
const EMPTY = Buffer.alloc(0);

const GraphQuery = z.object({ validationToken: z.string().max(16_384).optional() });

/** Change and lifecycle notifications alike carry `clientState`; nothing else is needed here. */
const GraphNotifications = z.object({
  value: z.array(z.object({ clientState: z.string().optional() })).min(1),
});

export interface GraphWebhookOptions {
  clientState: string;
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
    // Every item: one forged item in a batch of genuine ones would otherwise ride along.
    const genuine = body.value.every(
      (n) => n.clientState !== undefined && safeEqual(n.clientState, opts.clientState),
    );
    if (!genuine) {
      req.log.warn({ notifications: body.value.length }, 'graph notification refused: clientState');
      throw new HttpError(401, 'unauthorized', 'clientState does not match');
    }
    if (!opts.available()) throw new UnavailableError('redis is not connected');
    const result = await requestRun(
      opts.runs,
      { trigger: 'graph', reason: `${body.value.length} Graph notification(s)`, receivedAt },
      req.log,
      ENQUEUE_DEADLINE_MS,
    );
    return reply.code(202).send(result);
  });
}

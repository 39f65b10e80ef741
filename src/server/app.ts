// The daemon's HTTP surface (DESIGN §9). Routes whose secret is not configured are not registered
// at all, so they answer 404 like any unknown path rather than advertising a disabled feature.
import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ServerSettings } from '../config/types.js';
import type { RunService } from '../daemon/types.js';
import { queueDashboard } from './admin.js';
import { runsApi } from './api.js';
import { graphWebhook } from './graph.js';
import { HttpError, handleError, parseJson, pathOf, sendError, withDeadline } from './http.js';
import { type WebhookHook, webhookCounter, webhookOutcome } from './metrics.js';
import { ReplayGuard } from './replay.js';
import { resyncWebhook } from './webhooks.js';

export interface ServerDeps {
  runs: RunService;
  metricsRegistry: Registry;
  logger: Logger;
  server: ServerSettings;
  /** Shown in the dashboard under /admin/queues. */
  queues: Queue[];
  /** Epoch ms; injected by tests of the signature window. */
  now?: () => number;
}

const BODY_LIMIT = 1024 * 1024;
/** Below Kubernetes' default probe timeout (1 s): a hung Redis reads as "not ready", not a timeout. */
const READY_DEADLINE_MS = 900;
/** Probed every few seconds: logged at debug so they do not drown the request log. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const WEBHOOK_ROUTES: Record<string, WebhookHook> = {
  '/webhooks/resync': 'resync',
  '/webhooks/graph': 'graph',
};

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const settings = deps.server;
  const app = Fastify({
    // A child of the daemon's logger inherits its redaction paths (LIBRARIES §7); the cast is the
    // documented workaround for fastify's logger generic (LIBRARIES §6).
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Replaced by the onResponse line below, which never includes headers or the query string.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
  });

  // fastify's own JSON parser puts a snippet of the body in its error message, which would then
  // reach the response and the log.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJson(body));
    } catch (err) {
      done(err instanceof Error ? err : new HttpError(400, 'bad_request', 'unreadable body'), undefined);
    }
  });

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, 404, 'not_found', `no route ${req.method} ${pathOf(req.url)}`),
  );

  const webhooks = webhookCounter(deps.metricsRegistry);
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const path = pathOf(req.url);
    const line = {
      method: req.method,
      path,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      remoteAddress: req.ip,
    };
    if (QUIET_PATHS.has(path)) req.log.debug(line, 'request');
    else req.log.info(line, 'request');
    const hook = req.routeOptions.url === undefined ? undefined : WEBHOOK_ROUTES[req.routeOptions.url];
    if (hook) webhooks.labels(hook, webhookOutcome(reply.statusCode)).inc();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (req, reply) => {
    let state: { ready: boolean; checks: Record<string, boolean> };
    try {
      state = await withDeadline(deps.runs.ready(), READY_DEADLINE_MS, 'ready', (late) => {
        if (!late.ok) req.log.warn({ err: late.error }, 'late readiness check failed');
      });
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
      state = { ready: false, checks: { runService: false } };
    }
    return reply
      .code(state.ready ? 200 : 503)
      .send({ status: state.ready ? 'ready' : 'not-ready', checks: state.checks });
  });

  app.get('/metrics', async (_req, reply) => {
    const registry = deps.metricsRegistry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  if (settings.webhookSecret !== undefined) {
    await app.register(resyncWebhook, {
      secret: settings.webhookSecret,
      runs: deps.runs,
      replay: new ReplayGuard(),
      now,
    });
  }
  if (settings.graphClientState !== undefined) {
    await app.register(graphWebhook, { clientState: settings.graphClientState, runs: deps.runs, now });
  }
  if (settings.adminToken !== undefined) {
    await app.register(runsApi, { adminToken: settings.adminToken, runs: deps.runs });
    await app.register(queueDashboard, { adminToken: settings.adminToken, queues: deps.queues });
  }

  await app.ready();
  return app;
}

// The daemon's HTTP surface (docs/design.md §9). Routes whose secret is not configured are not registered
// at all, so they answer 404 like any unknown path rather than advertising a disabled feature.
import { createServer, type Server } from 'node:http';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { HttpLimits, ServerSettings } from '../config/types.js';
import type { RunService } from '../daemon/types.js';
import { queueDashboard } from './admin.js';
import { runsApi } from './api.js';
import { approvalCounter } from './approvals.js';
import { consoleRoutes } from './console/routes.js';
import { type GraphSubscriptions, graphWebhook } from './graph.js';
import {
  clientErrorHandler,
  HttpError,
  handleError,
  parseJson,
  pathOf,
  sendError,
  sendRawError,
  withDeadline,
} from './http.js';
import { BODY_LIMIT_BYTES, CHECK_INTERVAL_MS, PROBE_MAX_CONNECTIONS, resolveLimits } from './limits.js';
import { type WebhookHook, webhookCounter, webhookOutcome } from './metrics.js';
import { MemoryReplayStore, type ReplayStore } from './replay.js';
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
  /**
   * Webhook signatures already used. Shared by every replica (Redis) in the daemon; the default,
   * in memory, is for a single process (tests).
   */
  replay?: ReplayStore;
  /**
   * False while the run service cannot be reached (Redis down): /api, /admin and the webhooks then
   * answer 503 with Retry-After at once instead of waiting. Default: always available.
   */
  available?: () => boolean;
  /**
   * The Graph subscriptions the daemon manages (an entra source with notifications): their
   * registry and lifecycle handling. With it /webhooks/graph is served even without
   * server.graphClientState.
   */
  graph?: GraphSubscriptions;
}

/** Below Kubernetes' default probe timeout (1 s): a hung Redis reads as "not ready", not a timeout. */
const READY_DEADLINE_MS = 900;
/** Probed every few seconds: logged at debug so they do not drown the request log. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** What the probe port serves (server.probePort). */
const PROBE_PATHS = QUIET_PATHS;
const WEBHOOK_ROUTES: Record<string, WebhookHook> = {
  '/webhooks/resync': 'resync',
  '/webhooks/graph': 'graph',
};

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const available = deps.available ?? (() => true);
  const settings = deps.server;
  const limits = resolveLimits(settings.limits);
  const app = Fastify({
    // A child of the daemon's logger inherits its redaction paths; the cast is the
    // documented workaround for fastify's logger generic.
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Replaced by the onResponse line below, which never includes headers or the query string.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Passed to http.createServer: headersTimeout and the sweep interval have no fastify option.
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: CHECK_INTERVAL_MS },
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // The router's own refusals (a malformed %-escape, an over-long path segment) in the app's
    // error shape. fastify's default quotes the path back, which this never does.
    frameworkErrors: (err, _req, reply) => {
      if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
        return sendError(reply, 414, 'uri_too_long', 'a path segment is too long');
      return sendError(reply, 400, 'bad_request', 'the URL is not valid');
    },
    // Requests Node refuses before fastify sees them: timeouts (408), oversized headers (431),
    // unparsable bytes (400).
    clientErrorHandler: clientErrorHandler(deps.logger.child({ component: 'http' })),
  });
  app.server.maxConnections = limits.maxConnections;

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
  // The path is not quoted back: it is the caller's text, and this body is JSON served to browsers.
  app.setNotFoundHandler((_req, reply) => sendError(reply, 404, 'not_found', 'no such route'));

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
      replay: deps.replay ?? new MemoryReplayStore(),
      available,
      now,
    });
  }
  if (settings.graphClientState !== undefined || deps.graph !== undefined) {
    await app.register(graphWebhook, {
      ...(settings.graphClientState !== undefined ? { clientState: settings.graphClientState } : {}),
      ...(deps.graph !== undefined ? { subscriptions: deps.graph } : {}),
      runs: deps.runs,
      available,
      now,
    });
  }
  if (settings.adminToken !== undefined) {
    await app.register(runsApi, {
      adminToken: settings.adminToken,
      runs: deps.runs,
      available,
      approvals: approvalCounter(deps.metricsRegistry),
    });
    await app.register(queueDashboard, {
      adminToken: settings.adminToken,
      queues: deps.queues,
      available,
    });
  }
  // The review console (src/server/console): OIDC sign-in with server.console, else Basic with the
  // admin token; neither configured, it is not served.
  if (settings.console !== undefined || settings.adminToken !== undefined) {
    await app.register(consoleRoutes, {
      runs: deps.runs,
      queues: deps.queues,
      available,
      settings,
      approvals: approvalCounter(deps.metricsRegistry),
      now,
    });
  }

  const probe = settings.probePort === undefined ? undefined : probeServer(app, limits);
  if (probe) {
    app.addHook('onClose', async () => {
      probe.closeAllConnections();
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    });
  }
  await app.ready();
  if (probe && settings.probePort !== undefined) {
    await listen(probe, settings.host, settings.probePort);
    app.log.info({ port: settings.probePort }, 'probe port listening');
  }
  return app;
}

/**
 * The probe port: the same app, but only its probe routes, and a cap of its own, so a kubelet
 * still gets /healthz while slow or idle clients fill the main port up to maxConnections.
 */
function probeServer(app: FastifyInstance, limits: HttpLimits): Server {
  const probe = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    (req, res) => {
      if (PROBE_PATHS.has(pathOf(req.url ?? ''))) return app.routing(req, res);
      sendRawError(res, 404, 'not_found', 'this port serves /healthz, /readyz and /metrics only');
    },
  );
  probe.maxConnections = PROBE_MAX_CONNECTIONS;
  probe.setTimeout(limits.connectionTimeoutMs);
  probe.on('clientError', clientErrorHandler(app.log));
  return probe;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type FaultConfig, FaultConfigSchema, FaultEngine } from './faults.js';
import { SimError, statusTitle } from './problems.js';
import {
  type HiddenRateLimit,
  HiddenRateLimiter,
  HiddenRateLimitSchema,
  type RateLimitStats,
} from './rateLimit.js';
import { RequestLog, type RequestLogEntry, type RequestOutcome, UNMATCHED_ROUTE } from './requestLog.js';
import {
  authenticate,
  authorize,
  IDENTITY_ROUTES,
  NOT_IMPLEMENTED_DEFS,
  type RouteDef,
  type RouteResult,
  VERSION_PREFIX_RE,
} from './routes.js';
import { formatZodError, parseSeed, SeedError, type SimulatorSeed, type SimulatorSeedInput } from './seed.js';
import { type Semantics, SimState } from './state.js';

export interface RunningSimulator {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  url: string;
  close(): Promise<void>;
  setFaults(f: FaultConfig): void;
  /** Back to the original (or given) seed; clears the request log. Fault rules are kept. */
  reset(seed?: SimulatorSeedInput): void;
  requests(): RequestLogEntry[];
  /** `${method} ${route}` -> count */
  counts(): Record<string, number>;
  clearRequests(): void;
  /** Current state in seed shape (re-seedable). */
  dump(): SimulatorSeed;
  /** The hidden rate limit (null: none); its counts restart. */
  setRateLimit(limit: HiddenRateLimit | null): void;
  /** The hidden limit and how many requests it let through and refused (429). */
  rateLimitStats(): RateLimitStats;
  readonly semantics: Semantics;
}

export interface StartSimulatorOptions {
  seed: SimulatorSeedInput;
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 (a free port) */
  port?: number;
  /** Enable the unauthenticated /_sim/* test routes. */
  admin?: boolean;
  /**
   * How to read what the docs leave open (default `strict`): `strict` answers 409 where a client
   * must not rely on an effect; `lenient` cascades removals and makes re-invites no-ops.
   */
  semantics?: Semantics;
  faults?: FaultConfig;
  /** A token bucket over every API request that clients are not told about (429 beyond it). */
  rateLimit?: HiddenRateLimit;
  logger?: Logger;
}

interface SimRouteConfig {
  simRoute: string;
  effectful: boolean;
}

interface ReqCtx {
  entry: RequestLogEntry;
  t0: number;
  outcome: RequestOutcome | null;
  dropAfterApply: boolean;
  done: boolean;
}

/** Admin bodies carry whole seeds (10k+ users is several MiB); API routes keep fastify's 1 MiB default. */
const ADMIN_BODY_LIMIT = 256 * 1024 * 1024;

const pathOf = (url: string) => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};
const isSimPath = (path: string) => path === '/_sim' || path.startsWith('/_sim/');
const toFastifyUrl = (template: string) => template.replace(/\{(\w+)\}/g, ':$1');
const templateRegex = (template: string) =>
  new RegExp(
    `^${template
      .split(/\{\w+\}/)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]+')}$`,
  );

function sendProblem(reply: FastifyReply, path: string, err: SimError): FastifyReply {
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.toProblem(path));
}

function urlFor(address: AddressInfo): string {
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

export async function startSimulator(o: StartSimulatorOptions): Promise<RunningSimulator> {
  const original = parseSeed(o.seed);
  const semantics = o.semantics ?? 'strict';
  let state = new SimState(original, { validated: true, semantics });
  const log = new RequestLog();
  const faults = new FaultEngine(o.faults);
  const hidden = new HiddenRateLimiter(o.rateLimit ?? null);
  const ctxs = new WeakMap<IncomingMessage, ReqCtx>();

  const app = Fastify({
    ...(o.logger ? { loggerInstance: o.logger as FastifyBaseLogger } : {}),
    // IdP group names are free strings used verbatim as a path segment; 100 (the default) is short.
    routerOptions: { maxParamLength: 1024 },
  });

  // JSON bodies: an empty body is "no body" (a DELETE sent with a JSON content type must not fail),
  // and malformed JSON is a 422 like any other validation failure.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      const msg = `JSON decode error: ${(e as Error).message}`;
      done(
        new SimError(422, statusTitle(422), msg, [{ loc: ['body'], msg, type: 'json_invalid' }]),
        undefined,
      );
    }
  });

  const finish = (ctx: ReqCtx, status: number | null, outcome: RequestOutcome) => {
    if (ctx.done) return;
    ctx.done = true;
    ctx.entry.status = status;
    ctx.entry.outcome = outcome;
    ctx.entry.durationMs = Math.round((performance.now() - ctx.t0) * 1000) / 1000;
  };

  /** Closes the connection without a response (reply.hijack() + socket.destroy()). */
  const drop = (req: FastifyRequest, reply: FastifyReply, ctx: ReqCtx, outcome: RequestOutcome) => {
    finish(ctx, null, outcome);
    reply.hijack();
    req.raw.socket?.destroy();
    return reply;
  };

  app.addHook('onRequest', async (req, reply) => {
    const path = pathOf(req.url);
    if (isSimPath(path)) return;
    const cfg = (req.routeOptions.config ?? {}) as Partial<SimRouteConfig>;
    const route = cfg.simRoute ?? UNMATCHED_ROUTE;
    const ctx: ReqCtx = {
      entry: log.start(req.method, route, path, cfg.effectful ?? false),
      t0: performance.now(),
      outcome: null,
      dropAfterApply: false,
      done: false,
    };
    ctxs.set(req.raw, ctx);
    // The hidden limit is the server's edge: a refused request reaches no fault rule and no route.
    const retryAfter = hidden.take();
    if (retryAfter !== null) {
      ctx.outcome = 'rate-limited';
      reply.header('retry-after', retryAfter);
      return sendProblem(
        reply,
        path,
        new SimError(429, statusTitle(429), `Rate limit exceeded; retry after ${retryAfter} s`),
      );
    }
    const d = faults.decide(req.method, route);
    if (!d) return;
    if (d.latencyMs > 0) await sleep(d.latencyMs);
    if (d.rateLimited !== null) {
      ctx.outcome = 'rate-limited';
      reply.header('retry-after', d.rateLimited);
      return sendProblem(
        reply,
        path,
        new SimError(429, statusTitle(429), `Rate limit exceeded; retry after ${d.rateLimited}`),
      );
    }
    if (d.errorStatus !== null) {
      ctx.outcome = 'error-injected';
      return sendProblem(
        reply,
        path,
        new SimError(d.errorStatus, statusTitle(d.errorStatus), 'Injected fault'),
      );
    }
    if (d.dropBeforeApply) return drop(req, reply, ctx, 'dropped-before-apply');
    ctx.dropAfterApply = d.dropAfterApply;
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const ctx = ctxs.get(req.raw);
    if (ctx) finish(ctx, reply.statusCode, ctx.outcome ?? (reply.statusCode < 400 ? 'ok' : 'rejected'));
    return payload;
  });

  app.setErrorHandler((error, req, reply) => {
    const path = pathOf(req.url);
    if (error instanceof SimError) return sendProblem(reply, path, error);
    const code = (error as { statusCode?: unknown }).statusCode;
    const status = typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
    if (status >= 500) req.log.error({ err: error }, 'simulator: unhandled error');
    const detail = status === 500 ? 'Internal simulator error' : (error as Error).message;
    return sendProblem(reply, path, new SimError(status, statusTitle(status), detail));
  });

  // Unknown path -> 404; known path with another method -> 405 with Allow.
  const known: Array<{ re: RegExp; method: string }> = [];
  const mount = (def: RouteDef) => {
    for (const template of def.templates) {
      known.push({ re: templateRegex(template), method: def.method });
      const bare = template.replace(VERSION_PREFIX_RE, '');
      const config: SimRouteConfig = { simRoute: template, effectful: def.effectful };
      app.route({
        method: def.method,
        url: toFastifyUrl(template),
        config,
        handler: async (req, reply) => {
          const path = pathOf(req.url);
          const ctx = ctxs.get(req.raw);
          const params = req.params as Record<string, string>;
          let result: RouteResult | null = null;
          let error: SimError | null = null;
          try {
            const token = authenticate(state, req.headers.authorization);
            authorize(def.access, token, params);
            result = def.handle({
              state,
              token,
              params,
              query: (req.query ?? {}) as Record<string, unknown>,
              body: req.body,
              list: bare.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(params[n] ?? '')),
            });
          } catch (e) {
            if (!(e instanceof SimError)) throw e;
            error = e;
          }
          if (result?.applied && ctx) ctx.entry.applied = true;
          if (ctx?.dropAfterApply) return drop(req, reply, ctx, 'dropped-after-apply');
          if (error) return sendProblem(reply, path, error);
          // Lenient: a DELETE answers 204 with no body (the docs show 200 with the object).
          if (semantics === 'lenient' && def.method === 'DELETE' && def.effectful)
            return reply.code(204).send();
          return reply.code(200).send((result as RouteResult).body);
        },
      });
    }
  };
  for (const def of IDENTITY_ROUTES) mount(def);
  for (const def of NOT_IMPLEMENTED_DEFS) mount(def);

  const resetTo = (seed?: SimulatorSeedInput) => {
    state = new SimState(seed === undefined ? original : parseSeed(seed), { validated: true, semantics });
    log.clear();
  };

  if (o.admin) {
    const admin = (method: RouteDef['method'], url: string) => known.push({ re: templateRegex(url), method });
    admin('GET', '/_sim/state');
    app.get('/_sim/state', async () => state.dump());
    admin('POST', '/_sim/reset');
    app.post('/_sim/reset', { bodyLimit: ADMIN_BODY_LIMIT }, async (req, reply) => {
      try {
        resetTo(req.body === undefined || req.body === null ? undefined : (req.body as SimulatorSeedInput));
      } catch (e) {
        if (!(e instanceof SeedError)) throw e;
        return sendProblem(reply, '/_sim/reset', new SimError(422, statusTitle(422), e.message, []));
      }
      return { ok: true };
    });
    admin('GET', '/_sim/faults');
    app.get('/_sim/faults', async () => faults.get());
    admin('PUT', '/_sim/faults');
    app.put('/_sim/faults', { bodyLimit: ADMIN_BODY_LIMIT }, async (req, reply) => {
      const r = FaultConfigSchema.safeParse(req.body);
      if (!r.success)
        return sendProblem(
          reply,
          '/_sim/faults',
          new SimError(422, statusTitle(422), formatZodError(r.error), []),
        );
      faults.set(r.data as FaultConfig);
      return faults.get();
    });
    admin('GET', '/_sim/rate-limit');
    app.get('/_sim/rate-limit', async () => hidden.stats());
    admin('PUT', '/_sim/rate-limit');
    app.put('/_sim/rate-limit', async (req, reply) => {
      // null (or no body) removes the limit.
      const body = req.body ?? null;
      const r = HiddenRateLimitSchema.nullable().safeParse(body);
      if (!r.success)
        return sendProblem(
          reply,
          '/_sim/rate-limit',
          new SimError(422, statusTitle(422), formatZodError(r.error), []),
        );
      hidden.set(r.data);
      return hidden.stats();
    });
    admin('GET', '/_sim/requests');
    app.get('/_sim/requests', async () => ({ entries: log.list(), counts: log.counts() }));
    admin('DELETE', '/_sim/requests');
    app.delete('/_sim/requests', async (_req, reply) => {
      log.clear();
      return reply.code(204).send();
    });
  }

  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.url);
    const allowed = [...new Set(known.filter((k) => k.re.test(path)).map((k) => k.method))];
    if (allowed.length > 0) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      reply.header('allow', allowed.join(', '));
      return sendProblem(
        reply,
        path,
        new SimError(
          405,
          statusTitle(405),
          `${req.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
        ),
      );
    }
    return sendProblem(
      reply,
      path,
      new SimError(404, statusTitle(404), `No route for ${req.method} ${path}`),
    );
  });

  await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
  const url = urlFor(app.server.address() as AddressInfo);

  return {
    url,
    close: async () => {
      await app.close();
    },
    setFaults: (f) => faults.set(f),
    reset: resetTo,
    requests: () => log.list(),
    counts: () => log.counts(),
    clearRequests: () => log.clear(),
    dump: () => state.dump(),
    setRateLimit: (limit) => hidden.set(limit),
    rateLimitStats: () => hidden.stats(),
    semantics,
  };
}

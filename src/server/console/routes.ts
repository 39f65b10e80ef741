// The review console under /console: the runs list, a run with its plan, approve and reject. Two
// ways in: OpenID Connect (server.console; the decider is who the ID token says), or, without it,
// HTTP Basic with the admin token (like /admin/queues; the decider is `admin-token`). Every page
// is server-rendered (views.ts) with security headers; every form carries a CSRF token checked
// here; who may decide is checked here on every POST, whatever the page showed.
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerSettings } from '../../config/types.js';
import { RunNotFoundError, type RunRecord, type RunService, RunStateError } from '../../daemon/types.js';
import type { Plan } from '../../reconcile/plan.js';
import { parsePlanJson } from '../../report/index.js';
import type { ApprovalCounter } from '../approvals.js';
import { ADMIN_TOKEN_ACTOR, requireAdmin } from '../auth.js';
import { Comment, DeadlineError, HttpError, UnavailableError, withDeadline } from '../http.js';
import { actorOf, displayName, identityOf, mayApprove } from './approvers.js';
import { ASSETS, PAGE_ASSETS } from './assets.js';
import { comparePlans } from './compare.js';
import { type ConsoleKeys, cookieScope, deriveKeys, parseCookies, serializeCookie } from './cookies.js';
import { CSRF_FIELD, crossOrigin, csrfToken, csrfValid } from './csrf.js';
import { oidcSignIn, type SignIn, SignInError } from './oidc.js';
import {
  CSRF_COOKIE,
  checkCsrfNonce,
  checkFlow,
  checkSession,
  encodeCsrfNonce,
  encodeFlow,
  encodeSession,
  FLOW_COOKIE,
  FLOW_TTL_SECONDS,
  newCsrfNonce,
  newSession,
  SESSION_COOKIE,
  type Session,
  safeNext,
} from './session.js';
import {
  type Chrome,
  messagePage,
  type QueueState,
  runPage,
  runsListPage,
  signInPage,
  type Viewer,
} from './views.js';

export const CONSOLE_PREFIX = '/console';

/** Pages: scripts and styles only from the console itself, no frames, forms only to itself. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const READ_DEADLINE_MS = 5_000;
/** As the API's approve: it reads Devin for the staleness check. */
const DECIDE_DEADLINE_MS = 45_000;
const QUEUE_DEADLINE_MS = 2_000;
const LIST_SHOWN = 50;
/** How far back the previous run is looked for. */
const PREVIOUS_SEARCH = 200;
const FORM_LIMIT_BYTES = 16 * 1024;

export interface ConsoleOptions {
  runs: RunService;
  queues: readonly Queue[];
  available: () => boolean;
  settings: ServerSettings;
  approvals: ApprovalCounter;
  now: () => number;
}

type Who = { mode: 'oidc'; session: Session } | { mode: 'basic'; nonce: string };

declare module 'fastify' {
  interface FastifyRequest {
    consoleWho?: Who;
  }
}

const Decision = z.strictObject({
  [CSRF_FIELD]: z.string(),
  decision: z.enum(['approve', 'reject']),
  // A textarea's line breaks arrive as CRLF (the form encoding says so); stored as \n.
  comment: z.preprocess((v) => (typeof v === 'string' ? v.replace(/\r\n?/g, '\n') : v), Comment.optional()),
});
const RunParams = z.object({ id: z.string().min(1).max(200) });

export async function consoleRoutes(scope: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  const { settings, runs } = opts;
  const oidc = settings.console;
  if (oidc === undefined && settings.adminToken === undefined) return;
  const base =
    settings.publicUrl === undefined ? '' : new URL(settings.publicUrl).pathname.replace(/\/+$/, '');
  const publicOrigin = settings.publicUrl === undefined ? undefined : new URL(settings.publicUrl).origin;
  // Basic mode has no session key of its own: the admin token keys its CSRF tokens (one-way).
  const keys: ConsoleKeys = oidc
    ? deriveKeys(oidc.sessionSecret, 'oidc')
    : deriveKeys(settings.adminToken ?? '', 'basic');
  const signIn: SignIn | undefined = oidc ? oidcSignIn(oidc) : undefined;
  const issuerHost = oidc ? new URL(oidc.issuer).host : '';
  const now = opts.now;

  /**
   * Secure cookies unless the console is reached over plain http on loopback (tests, a sidecar):
   * browsers keep Secure cookies from an http page only on some loopback names, and fetch clients
   * never send them over http. The schema allows http only on loopback.
   */
  const secureFor = (req: FastifyRequest): boolean => {
    if (settings.publicUrl !== undefined) return settings.publicUrl.startsWith('https:');
    const host = req.hostname.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return !(req.protocol === 'http' && /^(localhost|127\.\d+\.\d+\.\d+|::1)$/i.test(host));
  };
  const cookies = (req: FastifyRequest) => {
    const secure = secureFor(req);
    const { prefix, path } = cookieScope(secure, base);
    const jar = parseCookies(req.headers.cookie);
    return {
      get: (name: string) => jar.get(prefix + name),
      set: (reply: FastifyReply, name: string, value: string, maxAge: number) =>
        reply.header('set-cookie', serializeCookie(prefix + name, value, { path, secure, maxAge })),
    };
  };
  const chrome = (viewer?: Viewer): Chrome => ({ base, assets: PAGE_ASSETS, ...(viewer ? { viewer } : {}) });
  const viewerOf = (req: FastifyRequest): Viewer | undefined => {
    const who = req.consoleWho;
    if (!who) return undefined;
    if (who.mode === 'basic') {
      return {
        display: 'admin token',
        mayApprove: true,
        mode: 'basic',
        csrf: csrfToken(keys.csrf, `b:${who.nonce}`),
      };
    }
    return {
      display: displayName(who.session),
      mayApprove: oidc !== undefined && mayApprove(who.session, oidc.approvers),
      mode: 'oidc',
      csrf: csrfToken(keys.csrf, `s:${who.session.sid}`),
    };
  };
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').send(body);
  const bounded = <T>(work: Promise<T>, what: string, ms: number, req: FastifyRequest): Promise<T> =>
    withDeadline(work, ms, what, (late) => {
      if (!late.ok) req.log.warn({ err: late.error, what }, 'late run-service call failed');
    });

  // Pages carry people's names and access: nothing may cache them, frame them or leak their URL.
  scope.addHook('onSend', async (req, reply, payload) => {
    reply.header('content-security-policy', CONSOLE_CSP);
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (!req.url.startsWith(`${CONSOLE_PREFIX}/static/`) || reply.statusCode !== 200)
      reply.header('cache-control', 'no-store');
    return payload;
  });

  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES },
    (_req, body, done) => {
      const form: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(String(body))) if (!(k in form)) form[k] = v;
      done(null, form);
    },
  );

  // Errors as pages, not JSON: this is what a person sees.
  scope.setErrorHandler((err, req, reply) => {
    const page = (status: number, title: string, message: string) =>
      html(
        reply,
        status,
        messagePage(chrome(viewerOf(req)), {
          title,
          message,
          links: [{ href: `${base}/console`, text: 'Back to the runs' }],
        }),
      );
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
      return page(err.status, err.status === 403 ? 'Not allowed' : 'Cannot do that', err.message);
    }
    if (err instanceof RunNotFoundError) return page(404, 'No such run', err.message);
    if (err instanceof RunStateError) return page(409, 'Cannot do that now', err.message);
    if (err instanceof DeadlineError || err instanceof UnavailableError) {
      req.log.warn({ reason: err.message }, 'run service unavailable');
      reply.header('retry-after', '5');
      return page(503, 'Unavailable', 'The run service is unavailable right now; try again in a moment.');
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return page(
        status,
        'Bad request',
        status === 413 ? 'The form is too large.' : 'The request could not be read.',
      );
    }
    req.log.error({ err }, 'console request failed');
    return page(500, 'Something went wrong', 'Internal error; the details are in the log.');
  });

  // ---- static files: no auth (nothing in them is secret), cached for good under hashed names ----
  scope.get(`${CONSOLE_PREFIX}/static/:file`, async (req, reply) => {
    const name = (req.params as { file?: string }).file ?? '';
    const asset = ASSETS.get(name);
    if (!asset) throw new HttpError(404, 'not_found', 'no such file');
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(asset.type)
      .send(asset.body);
  });

  // ---- who is asking -------------------------------------------------------------------------------
  const adminCheck =
    settings.adminToken !== undefined && !oidc
      ? requireAdmin({ adminToken: settings.adminToken, allowBasic: true })
      : undefined;

  /** Pages and forms: sets req.consoleWho, or answers (401 challenge, or a redirect to sign in). */
  const authenticate = async (
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> => {
    if (adminCheck) {
      const refused = await adminCheck(req, reply);
      if (refused) return refused;
      const jar = cookies(req);
      let nonce = checkCsrfNonce(keys.flow, jar.get(CSRF_COOKIE));
      if (nonce === undefined) {
        nonce = newCsrfNonce();
        jar.set(reply, CSRF_COOKIE, encodeCsrfNonce(keys.flow, nonce), 86_400 * 30);
      }
      req.consoleWho = { mode: 'basic', nonce };
      return undefined;
    }
    const jar = cookies(req);
    const check = checkSession(keys.session, jar.get(SESSION_COOKIE), now());
    if (check.ok) {
      req.consoleWho = { mode: 'oidc', session: check.session };
      return undefined;
    }
    if (check.reason !== 'none') jar.set(reply, SESSION_COOKIE, '', 0);
    if (check.reason === 'expired') req.log.info({ reason: check.reason }, 'console session expired');
    const next = req.method === 'GET' ? safeNext(`${base}${req.url}`, base) : `${base}/console`;
    const q = new URLSearchParams({ next, ...(check.reason === 'expired' ? { reason: 'expired' } : {}) });
    return reply.code(303).header('location', `${base}/console/signin?${q}`).send();
  };
  const whenAvailable = async () => {
    if (!opts.available()) throw new UnavailableError('redis is not connected');
  };

  /** State-changing requests: the token bound to this viewer, and not from another origin. */
  const checkForm = (req: FastifyRequest): Record<string, string> => {
    const body = (req.body ?? {}) as Record<string, string>;
    const who = req.consoleWho;
    const binding =
      who === undefined ? undefined : who.mode === 'oidc' ? `s:${who.session.sid}` : `b:${who.nonce}`;
    const host = req.headers.host;
    if (!csrfValid(keys.csrf, binding, body[CSRF_FIELD])) {
      req.log.warn(
        { path: req.routeOptions.url, remoteAddress: req.ip },
        'console form refused: missing or wrong CSRF token',
      );
      throw new HttpError(
        403,
        'csrf',
        'This form is not valid (missing or wrong CSRF token). Reload the page and try again.',
      );
    }
    if (
      crossOrigin(req.headers, {
        ...(publicOrigin ? { origin: publicOrigin } : {}),
        ...(host ? { host } : {}),
      })
    ) {
      req.log.warn(
        { path: req.routeOptions.url, remoteAddress: req.ip },
        'console form refused: sent from another origin',
      );
      throw new HttpError(403, 'cross_origin', 'This form was sent from another site.');
    }
    return body;
  };

  const runIdOf = (params: unknown): string => {
    const r = RunParams.safeParse(params);
    if (!r.success) throw new HttpError(404, 'not_found', 'no such run');
    return r.data.id;
  };

  const planOf = async (id: string, req: FastifyRequest): Promise<Plan | undefined> => {
    const text = await bounded(runs.report(id, 'json'), 'report', READ_DEADLINE_MS, req);
    return text === undefined ? undefined : parsePlanJson(text, `the stored plan of run ${id}`);
  };

  const queueStates = (): Promise<QueueState[]> =>
    Promise.all(
      opts.queues.map(async (q): Promise<QueueState> => {
        if (!opts.available()) return { name: q.name };
        try {
          const counts = await withDeadline(
            q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
            QUEUE_DEADLINE_MS,
            'queue counts',
            () => {},
          );
          return { name: q.name, counts };
        } catch {
          return { name: q.name };
        }
      }),
    );

  // ---- pages -----------------------------------------------------------------------------------
  const pages = { onRequest: [authenticate], preHandler: [whenAvailable] };

  scope.get(CONSOLE_PREFIX, pages, async (req, reply) => {
    const [list, queues] = await Promise.all([
      bounded(runs.list(LIST_SHOWN), 'list', READ_DEADLINE_MS, req),
      queueStates(),
    ]);
    return html(
      reply,
      200,
      runsListPage(chrome(viewerOf(req)), {
        runs: list,
        queues,
        nowMs: now(),
        dashboard: settings.adminToken !== undefined,
      }),
    );
  });
  scope.get(`${CONSOLE_PREFIX}/`, async (_req, reply) =>
    reply.code(308).header('location', `${base}/console`).send(),
  );

  scope.get(`${CONSOLE_PREFIX}/runs/:id`, pages, async (req, reply) => {
    const id = runIdOf(req.params);
    const run = await bounded(runs.get(id), 'get', READ_DEADLINE_MS, req);
    if (!run) throw new RunNotFoundError(id);
    const plan = await planOf(id, req);
    let previous: { run: RunRecord; comparison: ReturnType<typeof comparePlans> } | undefined;
    if (plan) {
      const recent = await bounded(runs.list(PREVIOUS_SEARCH), 'list', READ_DEADLINE_MS, req);
      const at = recent.findIndex((r) => r.id === id);
      const before = at === -1 ? undefined : recent.slice(at + 1).find((r) => r.plan !== undefined);
      const beforePlan = before ? await planOf(before.id, req) : undefined;
      if (before && beforePlan) previous = { run: before, comparison: comparePlans(plan, beforePlan) };
    }
    const done = (req.query as { done?: unknown }).done;
    return html(
      reply,
      200,
      runPage(chrome(viewerOf(req)), {
        run,
        ...(plan ? { plan } : {}),
        ...(previous ? { previous } : {}),
        nowMs: now(),
        ...(done === 'approved' || done === 'rejected' ? { done } : {}),
      }),
    );
  });

  scope.post(`${CONSOLE_PREFIX}/runs/:id/decision`, pages, async (req, reply) => {
    const id = runIdOf(req.params);
    const body = checkForm(req);
    const who = req.consoleWho as Who;
    const viewer = viewerOf(req) as Viewer;
    if (!viewer.mayApprove) {
      req.log.warn(
        {
          runId: id,
          sub: who.mode === 'oidc' ? who.session.sub : undefined,
          email: who.mode === 'oidc' ? who.session.email : undefined,
        },
        'console decision refused: not an approver',
      );
      throw new HttpError(
        403,
        'forbidden',
        `${viewer.display} may look at runs but not approve or reject them: only the people and groups in server.console.approvers can.`,
      );
    }
    const form = Decision.safeParse(body);
    if (!form.success)
      throw new HttpError(
        400,
        'bad_request',
        'The form is not valid: choose approve or reject; a comment has at most 2000 characters and no control characters.',
      );
    const { decision, comment } = form.data;
    const by = who.mode === 'oidc' && oidc ? actorOf(who.session, oidc.issuer) : ADMIN_TOKEN_ACTOR;
    const auth = who.mode === 'oidc' ? 'oidc' : 'admin-token';
    req.log.info({ runId: id, decision, by, comment }, 'console decision');
    if (decision === 'approve') {
      await bounded(runs.approve(id, by, comment), 'approve', DECIDE_DEADLINE_MS, req);
      opts.approvals.inc('approved', auth);
    } else {
      await bounded(runs.reject(id, by, comment), 'reject', READ_DEADLINE_MS, req);
      opts.approvals.inc('rejected', auth);
    }
    const done = decision === 'approve' ? 'approved' : 'rejected';
    return reply
      .code(303)
      .header('location', `${base}/console/runs/${encodeURIComponent(id)}?done=${done}`)
      .send();
  });

  if (!oidc || !signIn) return;

  // ---- OIDC sign-in ------------------------------------------------------------------------------
  scope.get(`${CONSOLE_PREFIX}/signin`, async (req, reply) => {
    const q = req.query as { next?: unknown; reason?: unknown };
    const next = safeNext(q.next, base);
    const reason = q.reason === 'expired' || q.reason === 'signed-out' ? q.reason : undefined;
    return html(
      reply,
      200,
      signInPage(chrome(), {
        loginHref: `${base}/console/login?${new URLSearchParams({ next })}`,
        issuerHost,
        ...(reason ? { reason } : {}),
      }),
    );
  });

  scope.get(`${CONSOLE_PREFIX}/login`, async (req, reply) => {
    const next = safeNext((req.query as { next?: unknown }).next, base);
    let begun: Awaited<ReturnType<SignIn['begin']>>;
    try {
      begun = await signIn.begin(next, now());
    } catch (err) {
      return signInFailed(req, reply, err);
    }
    cookies(req).set(reply, FLOW_COOKIE, encodeFlow(keys.flow, begun.flow), FLOW_TTL_SECONDS);
    return reply.code(303).header('location', begun.url).send();
  });

  scope.get(`${CONSOLE_PREFIX}/callback`, async (req, reply) => {
    const jar = cookies(req);
    const flow = checkFlow(keys.flow, jar.get(FLOW_COOKIE), now());
    jar.set(reply, FLOW_COOKIE, '', 0);
    if (!flow) {
      return html(
        reply,
        400,
        messagePage(chrome(), {
          title: 'Sign-in expired',
          message: 'This sign-in was not started here or took too long. Start again.',
          links: [{ href: `${base}/console/signin`, text: 'Sign in' }],
        }),
      );
    }
    const q = req.url.indexOf('?');
    let claims: Record<string, unknown>;
    try {
      claims = await signIn.finish(q === -1 ? '' : req.url.slice(q), flow);
    } catch (err) {
      return signInFailed(req, reply, err);
    }
    const identity = identityOf(claims, oidc.approvers);
    if (!identity)
      return signInFailed(req, reply, new SignInError('no_subject', 'the ID token has no subject'));
    const session = newSession(identity, now(), oidc.sessionTtlMs);
    const approver = mayApprove(identity, oidc.approvers);
    req.log.info({ sub: identity.sub, email: identity.email, approver }, 'console sign-in');
    jar.set(
      reply,
      SESSION_COOKIE,
      encodeSession(keys.session, session),
      Math.floor(oidc.sessionTtlMs / 1000),
    );
    return reply.code(303).header('location', safeNext(flow.next, base)).send();
  });

  scope.post(`${CONSOLE_PREFIX}/signout`, { onRequest: [authenticate] }, async (req, reply) => {
    checkForm(req);
    cookies(req).set(reply, SESSION_COOKIE, '', 0);
    if (req.consoleWho?.mode === 'oidc')
      req.log.info({ sub: req.consoleWho.session.sub }, 'console sign-out');
    return reply.code(303).header('location', `${base}/console/signin?reason=signed-out`).send();
  });

  const signInFailed = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    const e = err instanceof SignInError ? err : new SignInError('failed', 'sign-in failed');
    req.log.warn({ code: e.code, reason: e.message }, 'console sign-in failed');
    return html(
      reply,
      e.code === 'discovery_failed' ? 502 : 400,
      messagePage(chrome(), {
        title: 'Sign-in failed',
        message: `${e.code}: ${e.message}`,
        links: [{ href: `${base}/console/signin`, text: 'Try again' }],
      }),
    );
  };
}

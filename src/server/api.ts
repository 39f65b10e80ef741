// /api/runs: list, inspect, read reports, trigger, approve, reject. Behind the admin bearer token
// (the hook is added by the caller on this plugin's scope, so every route here is covered). Whoever
// holds the token is recorded as `admin-token`: a header naming someone else would be a claim
// nobody verified (people approve in the console, signed in through the IdP).
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ReportFormat, RunService } from '../daemon/types.js';
import { type ApprovalCounter, approvalCounter } from './approvals.js';
import { ADMIN_TOKEN_ACTOR, requireAdmin } from './auth.js';
import { Comment, HttpError, parseWith, TriggerBody, UnavailableError, withDeadline } from './http.js';
import { requestRun } from './trigger.js';

const TRIGGER_DEADLINE_MS = 5_000;
/** Reads of run records and reports: a few Redis commands. */
const READ_DEADLINE_MS = 5_000;
/**
 * An approval also reads Devin for the staleness check. Below the server's connection timeout
 * (default 60 s), so the caller gets a 503 rather than a dropped connection.
 */
const APPROVE_DEADLINE_MS = 45_000;

const ListQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional(),
});
const RunParams = z.object({ id: z.string().min(1).max(200) });
/** Approve and reject: an optional comment, stored on the run record. */
const DecisionBody = z.strictObject({ comment: Comment.optional() }).optional();

const REPORT_TYPES: Record<ReportFormat, string> = {
  md: 'text/markdown; charset=utf-8',
  json: 'application/json; charset=utf-8',
  html: 'text/html; charset=utf-8',
};
/**
 * The HTML report is self-contained (inline style and script, no fetches). This policy keeps it
 * that way even if directory data ever slipped past its escaping.
 */
const REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface ApiOptions {
  adminToken: string;
  runs: RunService;
  /** idsync_approvals_total; the server's registry. */
  approvals?: ApprovalCounter;
  /** False while the run service is unreachable: 503 at once (after authentication). */
  available: () => boolean;
}

/** `:id` as routed: an empty one (`/api/runs/`) names no run. */
function runId(params: unknown): string {
  const id = (params as { id?: unknown } | undefined)?.id;
  if (id === '' || id === undefined) throw new HttpError(404, 'not_found', 'no such run');
  return parseWith(RunParams, params, 'path').id;
}

export async function runsApi(scope: FastifyInstance, opts: ApiOptions): Promise<void> {
  const { runs } = opts;
  const approvals = opts.approvals ?? approvalCounter(undefined);
  scope.addHook('onRequest', requireAdmin({ adminToken: opts.adminToken, allowBasic: false }));
  scope.addHook('onRequest', async () => {
    if (!opts.available()) throw new UnavailableError('redis is not connected');
  });
  // Every call into the run service is bounded: a slow Redis gives a 503, not a hung request.
  const bounded = <T>(work: Promise<T>, what: string, ms: number, log: FastifyBaseLogger): Promise<T> =>
    withDeadline(work, ms, what, (late) => {
      if (!late.ok) log.warn({ err: late.error, what }, 'late run-service call failed');
    });
  scope.addHook('onSend', async (_req, reply, payload) => {
    // Run records name people and their access: no cache along the way should keep a copy.
    reply.header('cache-control', 'no-store');
    return payload;
  });

  scope.get('/api/runs', async (req) => {
    const { limit } = parseWith(ListQuery, req.query, 'query');
    return { runs: await bounded(runs.list(limit), 'list', READ_DEADLINE_MS, req.log) };
  });

  scope.get('/api/runs/:id', async (req) => {
    const id = runId(req.params);
    const run = await bounded(runs.get(id), 'get', READ_DEADLINE_MS, req.log);
    if (!run) throw new HttpError(404, 'not_found', `no run ${id}`);
    return run;
  });

  for (const format of ['md', 'json', 'html'] as const) {
    scope.get(`/api/runs/:id/report.${format}`, async (req, reply) => {
      const id = runId(req.params);
      const report = await bounded(runs.report(id, format), 'report', READ_DEADLINE_MS, req.log);
      if (report === undefined) {
        // Tell "no such run" from "no report yet" (a queued run has not planned).
        const run = await bounded(runs.get(id), 'get', READ_DEADLINE_MS, req.log);
        throw new HttpError(404, 'not_found', run ? `run ${id} has no report yet` : `no run ${id}`);
      }
      if (format === 'html') reply.header('content-security-policy', REPORT_CSP);
      return reply.type(REPORT_TYPES[format]).send(report);
    });
  }

  scope.post('/api/runs', async (req, reply) => {
    const body = parseWith(TriggerBody, req.body, 'body');
    const result = await requestRun(
      runs,
      { trigger: 'api', reason: body?.reason },
      req.log,
      TRIGGER_DEADLINE_MS,
    );
    return reply
      .code(202)
      .header('location', `/api/runs/${encodeURIComponent(result.runId)}`)
      .send(result);
  });

  // RunNotFoundError → 404 and RunStateError → 409 in the app's error handler. An approval may
  // enqueue the apply, so it gets the longer deadline; a rejection only moves the record.
  const decisions = [
    { verb: 'approve', outcome: 'approved', deadlineMs: APPROVE_DEADLINE_MS, act: runs.approve.bind(runs) },
    { verb: 'reject', outcome: 'rejected', deadlineMs: READ_DEADLINE_MS, act: runs.reject.bind(runs) },
  ] as const;
  for (const d of decisions) {
    scope.post(`/api/runs/:id/${d.verb}`, async (req) => {
      const id = runId(req.params);
      const comment = parseWith(DecisionBody, req.body, 'body')?.comment;
      req.log.info({ runId: id, by: ADMIN_TOKEN_ACTOR }, `${d.verb} requested`);
      const run = await bounded(d.act(id, ADMIN_TOKEN_ACTOR, comment), d.verb, d.deadlineMs, req.log);
      approvals.inc(d.outcome, 'admin-token');
      return run;
    });
  }
}

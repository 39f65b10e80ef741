// /api/runs: list, inspect, read reports, trigger, approve. Behind the admin bearer token (the hook
// is added by the caller on this plugin's scope, so every route here is covered).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ReportFormat, RunService } from '../daemon/types.js';
import { requireAdmin } from './auth.js';
import { HttpError, hasControlCharacters, parseWith, TriggerBody } from './http.js';
import { requestRun } from './trigger.js';

const TRIGGER_DEADLINE_MS = 5_000;
/** Who approved, when the caller does not say (`X-Idsync-Actor`). */
export const DEFAULT_ACTOR = 'api';
export const ACTOR_HEADER = 'x-idsync-actor';

const ListQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional(),
});
const RunParams = z.object({ id: z.string().min(1).max(200) });
/** Stored on the record and shown in reports: printable, bounded. */
const Actor = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !hasControlCharacters(s, false), 'printable text');

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
}

export async function runsApi(scope: FastifyInstance, opts: ApiOptions): Promise<void> {
  const { runs } = opts;
  scope.addHook('onRequest', requireAdmin({ adminToken: opts.adminToken, allowBasic: false }));
  scope.addHook('onSend', async (_req, reply, payload) => {
    // Run records name people and their access: no cache along the way should keep a copy.
    reply.header('cache-control', 'no-store');
    return payload;
  });

  scope.get('/api/runs', async (req) => {
    const { limit } = parseWith(ListQuery, req.query, 'query');
    return { runs: await runs.list(limit) };
  });

  scope.get('/api/runs/:id', async (req) => {
    const { id } = parseWith(RunParams, req.params, 'path');
    const run = await runs.get(id);
    if (!run) throw new HttpError(404, 'not_found', `no run ${id}`);
    return run;
  });

  for (const format of ['md', 'json', 'html'] as const) {
    scope.get(`/api/runs/:id/report.${format}`, async (req, reply) => {
      const { id } = parseWith(RunParams, req.params, 'path');
      const report = await runs.report(id, format);
      if (report === undefined) {
        // Tell "no such run" from "no report yet" (a queued run has not planned).
        const run = await runs.get(id);
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

  scope.post('/api/runs/:id/approve', async (req) => {
    const { id } = parseWith(RunParams, req.params, 'path');
    const header = req.headers[ACTOR_HEADER];
    const by = header === undefined ? DEFAULT_ACTOR : parseWith(Actor, header, `${ACTOR_HEADER} header`);
    req.log.info({ runId: id, by }, 'approve requested');
    // RunNotFoundError → 404 and RunStateError → 409 in the app's error handler.
    return runs.approve(id, by);
  });
}

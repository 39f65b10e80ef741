// The server's shared plumbing: one error shape (`{error, message}`) for every route, JSON parsing
// that never echoes the body back into an error (or a log line), and a deadline for calls into the
// run service so a hung Redis cannot hold a webhook sender past its own timeout.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { RunNotFoundError, RunStateError } from '../daemon/types.js';

export interface ErrorBody {
  error: string;
  message: string;
}

/** Thrown by handlers; the app's error handler turns it into `{error, message}` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string | string[]>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class DeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  503: 'unavailable',
};

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  headers: Readonly<Record<string, string | string[]>> = {},
): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  const body: ErrorBody = { error: code, message };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('statusCode' in err)) return undefined;
  const s = err.statusCode;
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : undefined;
}

/**
 * Root error handler. Client errors say what was wrong; anything else is a 500 whose details go to
 * the log only, so internals (Redis addresses, stack traces) never reach a caller.
 */
export function handleError(
  err: FastifyError | Error,
  req: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err instanceof HttpError) {
    req.log.info({ status: err.status, code: err.code, reason: err.message }, 'request rejected');
    return sendError(reply, err.status, err.code, err.message, err.headers);
  }
  if (err instanceof RunNotFoundError) return sendError(reply, 404, 'not_found', err.message);
  if (err instanceof RunStateError) return sendError(reply, 409, 'conflict', err.message);
  if (err instanceof DeadlineError) {
    req.log.warn({ what: err.what, ms: err.ms }, 'run service too slow');
    return sendError(reply, 503, 'unavailable', 'the run service did not answer in time; retry later', {
      'retry-after': '5',
    });
  }
  const status = statusOf(err);
  if (status !== undefined && status < 500) {
    // fastify's own client errors (413, 415, 400 from a parser): their messages are fixed strings.
    req.log.info({ status, code: 'code' in err ? err.code : undefined }, 'request rejected');
    return sendError(reply, status, CODES[status] ?? 'client_error', err.message);
  }
  req.log.error({ err }, 'request failed');
  return sendError(reply, status ?? 500, CODES[status ?? 500] ?? 'internal', 'internal error');
}

/** Parses a request body; an empty body is `undefined`. The message never quotes the input. */
export function parseJson(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    // Dropping `__proto__` keys keeps a parsed body from ever acting as a prototype when merged.
    return JSON.parse(text, (key, value: unknown) => (key === '__proto__' ? undefined : value));
  } catch {
    throw new HttpError(400, 'bad_request', 'the body is not valid JSON');
  }
}

/** zod at the edge: a failure is a 400 naming the field, never echoing the value. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, 'bad_request', `invalid ${what}: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** The media type of a request without parameters, lower-cased; '' when absent. */
export function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The request path without its query string (which may carry a Graph validation token). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Resolves with the promise's value, or rejects with DeadlineError after `ms`. The work is not
 * cancelled; `onLate` sees how it settled so late failures are still logged.
 */
export function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  what: string,
  onLate: (outcome: { ok: true; value: T } | { ok: false; error: unknown }) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new DeadlineError(what, ms));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) onLate({ ok: true, value });
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (timedOut) onLate({ ok: false, error });
        else reject(error);
      },
    );
  });
}

/** C0 controls and DEL, except tab and newline: they would forge lines in logs and reports. */
export function hasControlCharacters(s: string, allowNewlines: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x7f || (c < 0x20 && !(allowNewlines && (c === 0x09 || c === 0x0a)))) return true;
  }
  return false;
}

/** The optional free text a trigger carries; bounded because it is stored on the run record. */
export const Reason = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .refine((s) => !hasControlCharacters(s, true), 'control characters are not allowed');

export const TriggerBody = z.object({ reason: Reason.optional() }).optional();

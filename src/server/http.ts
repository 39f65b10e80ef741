// The server's shared plumbing: one error shape (`{error, message}`) for every route, JSON parsing
// that never echoes the body back into an error (or a log line), and a deadline for calls into the
// run service so a hung Redis cannot hold a webhook sender past its own timeout.
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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

/**
 * The run service cannot be reached right now (Redis down or not answering): a 503 with
 * Retry-After, and the request was not carried out, so the caller's retry is the way to go.
 */
export class UnavailableError extends Error {
  constructor(message = 'the run service is unavailable') {
    super(message);
    this.name = 'UnavailableError';
  }
}

/** Seconds a caller is told to wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;
export const UNAVAILABLE_HEADERS: Readonly<Record<string, string>> = {
  'retry-after': String(RETRY_AFTER_SECONDS),
};

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
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
  503: 'unavailable',
};

/**
 * The message of a client error raised by fastify itself: a fixed text per status, because some of
 * fastify's own messages quote the request (its Content-Type, its URL).
 */
const MESSAGES: Record<number, string> = {
  400: 'bad request',
  408: 'the request was not received in time',
  413: 'the body is too large',
  414: 'the URL is too long',
  415: 'unsupported Content-Type',
  431: 'the request headers are too large',
};

const NOSNIFF = ['x-content-type-options', 'nosniff'] as const;

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  headers: Readonly<Record<string, string | string[]>> = {},
): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  // Also set here: replies to the router's own errors do not always pass the app's onSend hook.
  reply.header(...NOSNIFF);
  const body: ErrorBody = { error: code, message };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** The same shape on a bare Node response (the probe port's 404). */
export function sendRawError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: code, message } satisfies ErrorBody);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [NOSNIFF[0]]: NOSNIFF[1],
  });
  res.end(body);
}

interface DebugLog {
  debug(obj: object, msg: string): void;
}

/**
 * Node's refusals before a request reaches fastify (the server's clientError event): a timeout
 * (408), oversized headers (431), unparsable bytes (400). Written straight to the socket in the
 * app's error shape, then the socket is closed: such a client gets nothing more from it.
 */
export function clientErrorHandler(log: DebugLog): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const status =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    log.debug({ status, code: err.code, remoteAddress: socket.remoteAddress }, 'client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({
      error: CODES[status] ?? 'bad_request',
      message: MESSAGES[status] ?? 'bad request',
    } satisfies ErrorBody);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'content-type: application/json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        `${NOSNIFF[0]}: ${NOSNIFF[1]}\r\nconnection: close\r\n\r\n${body}`,
      () => socket.destroy(),
    );
    // A peer that stops reading must not keep the socket through the write either.
    setTimeout(() => socket.destroy(), 1000).unref();
  };
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
    return sendError(
      reply,
      503,
      'unavailable',
      'the run service did not answer in time; retry later',
      UNAVAILABLE_HEADERS,
    );
  }
  if (err instanceof UnavailableError) {
    req.log.warn({ reason: err.message }, 'run service unavailable');
    return sendError(
      reply,
      503,
      'unavailable',
      'the run service is unavailable; retry later',
      UNAVAILABLE_HEADERS,
    );
  }
  const status = statusOf(err);
  if (status !== undefined && status < 500) {
    // fastify's own client errors (413, 415, 400 from a parser), with fixed messages.
    req.log.info({ status, code: 'code' in err ? err.code : undefined }, 'request rejected');
    return sendError(
      reply,
      status,
      CODES[status] ?? 'client_error',
      MESSAGES[status] ?? STATUS_CODES[status] ?? 'client error',
    );
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

/** An approver's or rejecter's comment: stored on the run record, shown in the console and logs. */
export const Comment = z
  .string()
  .trim()
  .max(2000)
  .refine((s) => !hasControlCharacters(s, true), 'control characters are not allowed')
  // An empty comment is no comment.
  .transform((s) => (s === '' ? undefined : s));

// Request context and answer helpers shared by the simulator's routes: Graph-shaped JSON errors with
// request-id/client-request-id like Graph sends, and case-insensitive OData query options.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphRequestLogEntry } from './types.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The decoded URL path as sent. */
  path: string;
  /** Path segments, lower-cased (Graph paths are case-insensitive), without the empty leading one. */
  segments: string[];
  /** Query options by lower-case name ($select and $SELECT are the same option); the last value wins. */
  query: Map<string, string>;
  /** The raw query string without the leading '?'. */
  rawQuery: string;
  body: Buffer;
  requestId: string;
  clientRequestId: string;
  log: GraphRequestLogEntry;
}

export function header(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

function baseHeaders(ctx: Ctx): Record<string, string> {
  return { 'request-id': ctx.requestId, 'client-request-id': ctx.clientRequestId };
}

export function send(
  ctx: Ctx,
  status: number,
  body?: string | Buffer,
  headers: Record<string, string | number> = {},
): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  ctx.log.status = status;
  const h: Record<string, string | number> = { ...baseHeaders(ctx), ...headers };
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  else h['content-length'] = 0;
  ctx.res.writeHead(status, h);
  ctx.res.end(body);
}

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, JSON.stringify(body), {
    'content-type':
      'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8',
    ...headers,
  });
}

/** The default Graph error code for a status, as Graph uses them. */
export function defaultGraphCode(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'InvalidAuthenticationToken';
    case 403:
      return 'Authorization_RequestDenied';
    case 404:
      return 'Request_ResourceNotFound';
    case 410:
      return 'resyncRequired';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalServerError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'GatewayTimeout';
    default:
      return status >= 500 ? 'UnknownError' : 'BadRequest';
  }
}

export function graphErrorBody(ctx: Ctx, code: string, message: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': ctx.requestId,
        'client-request-id': ctx.clientRequestId,
      },
    },
  };
}

export function graphError(
  ctx: Ctx,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(ctx, status, graphErrorBody(ctx, code, message), headers);
}

export function newRequestIds(clientRequestId: string | undefined): {
  requestId: string;
  clientRequestId: string;
} {
  const requestId = randomUUID();
  return { requestId, clientRequestId: clientRequestId || requestId };
}

/** Reads a request body up to limit bytes; rejects beyond it. */
export function readBody(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON body; undefined when it is not JSON. */
export function jsonBody(ctx: Ctx): unknown {
  if (ctx.body.length === 0) return undefined;
  try {
    return JSON.parse(ctx.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

// Admin authentication: `Authorization: Bearer <adminToken>` for /api and /admin, and also HTTP
// Basic (any user name, password = adminToken) for /admin so a browser can open the dashboard.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './http.js';

// Comparing keyed digests rather than the strings themselves makes both sides the same length
// (timingSafeEqual requires it) and hides the secret's length from timing.
const COMPARE_KEY = randomBytes(32);

export function safeEqual(given: string, expected: string): boolean {
  const a = createHmac('sha256', COMPARE_KEY).update(given, 'utf8').digest();
  const b = createHmac('sha256', COMPARE_KEY).update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** Who is recorded for anything done with the admin token (bearer API, console in Basic mode). */
export const ADMIN_TOKEN_ACTOR = 'admin-token';

export type Credentials =
  | { scheme: 'bearer'; token: string }
  | { scheme: 'basic'; user: string; password: string };

export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!m?.[1] || !m[2]) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', token: m[2] };
  if (scheme !== 'basic' || !/^[A-Za-z0-9+/]+={0,2}$/.test(m[2])) return undefined;
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function isAuthorized(header: string | undefined, adminToken: string, allowBasic: boolean): boolean {
  const c = parseAuthorization(header);
  if (c?.scheme === 'bearer') return safeEqual(c.token, adminToken);
  if (c?.scheme === 'basic' && allowBasic) return safeEqual(c.password, adminToken);
  return false;
}

export interface AdminAuthOptions {
  adminToken: string;
  /** Accept HTTP Basic too, and challenge with it so browsers prompt. */
  allowBasic: boolean;
}

/** An onRequest hook: 401 with a WWW-Authenticate challenge unless the request carries the token. */
export function requireAdmin(opts: AdminAuthOptions) {
  const challenge = opts.allowBasic
    ? ['Basic realm="idsync", charset="UTF-8"', 'Bearer realm="idsync"']
    : ['Bearer realm="idsync"'];
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (isAuthorized(req.headers.authorization, opts.adminToken, opts.allowBasic)) return undefined;
    req.log.warn({ path: req.routeOptions.url, remoteAddress: req.ip }, 'admin authentication failed');
    return sendError(reply, 401, 'unauthorized', 'missing or wrong admin token', {
      'www-authenticate': challenge,
    });
  };
}

// Cookies of the console, signed with HMAC-SHA256 (node:crypto): `<base64url JSON>.<base64url MAC>`,
// the MAC over the cookie's name and payload, so a value can never be moved from one cookie to
// another (the sign-in flow's to the session's). What a cookie says is checked again server-side
// (its own expiry inside the payload): Max-Age only tells the browser when to drop it.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';

/** Separate keys per use, derived once from the configured secret (HKDF-SHA256). */
export interface ConsoleKeys {
  session: Buffer;
  csrf: Buffer;
  flow: Buffer;
}

export function deriveKeys(secret: string, context: string): ConsoleKeys {
  const key = (info: string) =>
    Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), `idsync console ${context}`, info, 32));
  return { session: key('session cookie'), csrf: key('csrf token'), flow: key('sign-in flow cookie') };
}

const b64 = (buf: Buffer): string => buf.toString('base64url');

function mac(key: Buffer, name: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`${name}=${payload}`, 'utf8').digest();
}

export function sign(key: Buffer, name: string, value: unknown): string {
  const payload = b64(Buffer.from(JSON.stringify(value), 'utf8'));
  return `${payload}.${b64(mac(key, name, payload))}`;
}

/** The value, if the MAC is right and it parses; undefined for anything else. */
export function verify<S extends z.ZodType>(
  key: Buffer,
  name: string,
  cookie: string | undefined,
  schema: S,
): z.output<S> | undefined {
  if (cookie === undefined) return undefined;
  const dot = cookie.indexOf('.');
  if (dot <= 0 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
  const payload = cookie.slice(0, dot);
  const given = Buffer.from(cookie.slice(dot + 1), 'base64url');
  const expected = mac(key, name, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const r = schema.safeParse(parsed);
  return r.success ? r.data : undefined;
}

/** `name=value` pairs of a Cookie header; the first of a repeated name wins (the most specific path). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieAttributes {
  path: string;
  secure: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

/** Always HttpOnly and SameSite=Lax: no script reads them, and no cross-site POST carries them. */
export function serializeCookie(name: string, value: string, a: CookieAttributes): string {
  return [
    `${name}=${value}`,
    `Path=${a.path}`,
    `Max-Age=${Math.max(0, Math.floor(a.maxAge))}`,
    ...(a.maxAge <= 0 ? ['Expires=Thu, 01 Jan 1970 00:00:00 GMT'] : []),
    'HttpOnly',
    'SameSite=Lax',
    ...(a.secure ? ['Secure'] : []),
  ].join('; ');
}

/**
 * Cookie names and where they apply. Over https at the root, the `__Host-` prefix: the browser then
 * accepts the cookie only if it is Secure, host-only and for Path=/, so a sibling subdomain cannot
 * plant one (which a double-submitted CSRF token would otherwise have to fear). Under a path
 * prefix, `__Secure-` and the console's own path. On plain http (loopback only) no prefix, which
 * browsers would refuse there.
 */
export function cookieScope(secure: boolean, basePath: string): { prefix: string; path: string } {
  if (secure && basePath === '') return { prefix: '__Host-', path: '/' };
  if (secure) return { prefix: '__Secure-', path: `${basePath}/console` };
  return { prefix: '', path: basePath === '' ? '/' : `${basePath}/console` };
}

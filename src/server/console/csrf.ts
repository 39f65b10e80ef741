// CSRF tokens of the console's forms: an HMAC of what the token is bound to (the session's random id
// with OIDC; a random cookie in Basic mode, where the browser resends the credentials by itself).
// A cross-site page can make the browser post a form, but cannot read the token out of a console
// page, and SameSite=Lax keeps the session cookie off such posts anyway. Checked server-side on
// every state-changing request, in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CSRF_FIELD = '_csrf';

export function csrfToken(key: Buffer, binding: string): string {
  return createHmac('sha256', key).update(`csrf:${binding}`, 'utf8').digest('base64url');
}

export function csrfValid(key: Buffer, binding: string | undefined, given: unknown): boolean {
  if (binding === undefined || typeof given !== 'string' || given.length > 100) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(csrfToken(key, binding), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Also refused: a form sent from another origin, even one that somehow carried a token. Browsers
 * say where a request comes from in Sec-Fetch-Site (same-origin for the console's own forms); one
 * that does not, in Origin, unless it is "null" (what a page with Referrer-Policy no-referrer, like
 * the console's, sends). Clients with neither (not browsers) rely on the token alone.
 */
export function crossOrigin(
  headers: { origin?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined },
  allowed: { origin?: string; host?: string },
): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = headers.origin;
  if (origin === undefined || origin === 'null') return false;
  if (!URL.canParse(origin)) return true;
  const o = new URL(origin);
  if (allowed.origin !== undefined) return o.origin !== allowed.origin;
  return allowed.host === undefined || o.host !== allowed.host;
}

// What the console remembers about a signed-in person, in a signed cookie (src/server/console/
// cookies.ts): who they are by the ID token's verified claims, and only those of their groups that
// the approvers list names (a full groups claim can be hundreds of ids, past a cookie's 4 KiB). Who
// may approve is decided again on every request from these and the current config, so removing
// someone from approvers takes effect at once; adding takes effect at their next sign-in.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { sign, verify } from './cookies.js';

export const SESSION_COOKIE = 'idsync-session';
export const FLOW_COOKIE = 'idsync-signin';
/** Basic mode: the random value the CSRF token is bound to (there is no session to bind it to). */
export const CSRF_COOKIE = 'idsync-csrf';

/** How long a started sign-in may take at the IdP. */
export const FLOW_TTL_SECONDS = 600;

export interface Identity {
  sub: string;
  /** Only when the IdP did not say it is unverified. Lower-cased. */
  email?: string;
  name?: string;
  /** The person's groups that server.console.approvers names. */
  groups: string[];
}

const Text = z.string().min(1).max(512);

const SessionSchema = z.strictObject({
  v: z.literal(1),
  /** Random: what the session's CSRF token is bound to. */
  sid: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  sub: Text,
  email: Text.optional(),
  name: Text.optional(),
  groups: z.array(Text).max(100),
  /** Epoch seconds. */
  iat: z.number().int(),
  exp: z.number().int(),
});
export type Session = z.output<typeof SessionSchema>;

export type SessionCheck =
  | { ok: true; session: Session }
  | { ok: false; reason: 'none' | 'invalid' | 'expired' };

export function newSession(identity: Identity, nowMs: number, ttlMs: number): Session {
  const iat = Math.floor(nowMs / 1000);
  return {
    v: 1,
    sid: randomBytes(16).toString('base64url'),
    sub: identity.sub,
    ...(identity.email !== undefined ? { email: identity.email } : {}),
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    groups: identity.groups.slice(0, 100),
    iat,
    exp: iat + Math.floor(ttlMs / 1000),
  };
}

export function encodeSession(key: Buffer, session: Session): string {
  return sign(key, SESSION_COOKIE, session);
}

export function checkSession(key: Buffer, cookie: string | undefined, nowMs: number): SessionCheck {
  if (cookie === undefined || cookie === '') return { ok: false, reason: 'none' };
  const session = verify(key, SESSION_COOKIE, cookie, SessionSchema);
  if (!session) return { ok: false, reason: 'invalid' };
  if (session.exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, session };
}

const FlowSchema = z.strictObject({
  v: z.literal(1),
  state: Text,
  nonce: Text,
  verifier: Text,
  /** Where to go once signed in: a console path (checked by safeNext when it was stored). */
  next: z.string().max(2048),
  exp: z.number().int(),
});
export type Flow = z.output<typeof FlowSchema>;

export function encodeFlow(key: Buffer, flow: Flow): string {
  return sign(key, FLOW_COOKIE, flow);
}

export function checkFlow(key: Buffer, cookie: string | undefined, nowMs: number): Flow | undefined {
  const flow = verify(key, FLOW_COOKIE, cookie, FlowSchema);
  return flow && flow.exp * 1000 > nowMs ? flow : undefined;
}

const Nonce = z.string().regex(/^[A-Za-z0-9_-]{22}$/);

export function newCsrfNonce(): string {
  return randomBytes(16).toString('base64url');
}

export function encodeCsrfNonce(key: Buffer, nonce: string): string {
  return sign(key, CSRF_COOKIE, nonce);
}

export function checkCsrfNonce(key: Buffer, cookie: string | undefined): string | undefined {
  return verify(key, CSRF_COOKIE, cookie, Nonce);
}

/**
 * A path inside the console to return to after sign-in, or the runs list. Never another origin:
 * `//evil.example`, `/\evil.example` and anything not under /console are refused.
 */
export function safeNext(next: unknown, basePath: string): string {
  const home = `${basePath}/console`;
  if (typeof next !== 'string' || next.length > 2048) return home;
  if (!next.startsWith(`${home}/`) && next !== home && !next.startsWith(`${home}?`)) return home;
  if (/[\\\s]|\/\/|[^\x21-\x7e]/.test(next)) return home;
  return next;
}

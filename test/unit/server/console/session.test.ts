// Signed cookies, sessions, CSRF tokens and the redirect after sign-in, as pure functions: a tampered,
// moved, expired or forged value is refused; a token bound to one session is worth nothing in
// another; a return path never leaves the console.
import { describe, expect, it } from 'vitest';
import { actorOf, displayName, identityOf, mayApprove } from '../../../../src/server/console/approvers.js';
import {
  cookieScope,
  deriveKeys,
  parseCookies,
  serializeCookie,
  sign,
} from '../../../../src/server/console/cookies.js';
import { crossOrigin, csrfToken, csrfValid } from '../../../../src/server/console/csrf.js';
import {
  checkCsrfNonce,
  checkFlow,
  checkSession,
  encodeCsrfNonce,
  encodeFlow,
  encodeSession,
  FLOW_COOKIE,
  newSession,
  SESSION_COOKIE,
  safeNext,
} from '../../../../src/server/console/session.js';

const keys = deriveKeys('k'.repeat(40), 'oidc');
const NOW = Date.parse('2026-03-01T12:00:00Z');
const HOUR = 3_600_000;
const alice = { sub: 'u-1', email: 'alice@corp.example', name: 'Alice', groups: ['g-approvers'] };

describe('sessions', () => {
  it('round-trips, and expires at its TTL by the server clock', () => {
    const s = newSession(alice, NOW, 8 * HOUR);
    const cookie = encodeSession(keys.session, s);
    expect(checkSession(keys.session, cookie, NOW + 8 * HOUR - 1000)).toEqual({ ok: true, session: s });
    expect(checkSession(keys.session, cookie, NOW + 8 * HOUR)).toEqual({ ok: false, reason: 'expired' });
    expect(checkSession(keys.session, undefined, NOW)).toEqual({ ok: false, reason: 'none' });
    expect(s.sid).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newSession(alice, NOW, HOUR).sid).not.toBe(s.sid);
  });

  it('refuses a tampered payload, a forged MAC, another key, and a value signed for another cookie', () => {
    const s = newSession(alice, NOW, HOUR);
    const cookie = encodeSession(keys.session, s);
    const [payload, mac] = cookie.split('.') as [string, string];
    const longer = Buffer.from(JSON.stringify({ ...s, exp: s.exp + 365 * 86_400 })).toString('base64url');
    for (const bad of [
      `${longer}.${mac}`,
      `${payload}.${'A'.repeat(43)}`,
      `${payload}.${mac}x`,
      payload,
      encodeSession(deriveKeys('another key of forty characters!!!!!!!!', 'oidc').session, s),
      // The same key, but the MAC names the flow cookie: a value cannot move between cookies.
      sign(keys.session, FLOW_COOKIE, s),
      sign(keys.session, SESSION_COOKIE, { ...s, v: 2 }),
    ]) {
      expect(checkSession(keys.session, bad, NOW), bad).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it('the sign-in flow cookie expires after its 10 minutes; the CSRF nonce is its own cookie', () => {
    const flow = {
      v: 1 as const,
      state: 's',
      nonce: 'n',
      verifier: 'v',
      next: '/console',
      exp: NOW / 1000 + 600,
    };
    const cookie = encodeFlow(keys.flow, flow);
    expect(checkFlow(keys.flow, cookie, NOW)).toEqual(flow);
    expect(checkFlow(keys.flow, cookie, NOW + 600_000)).toBeUndefined();
    expect(checkFlow(keys.session, cookie, NOW)).toBeUndefined();
    const nonce = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(checkCsrfNonce(keys.flow, encodeCsrfNonce(keys.flow, nonce))).toBe(nonce);
    expect(checkCsrfNonce(keys.flow, cookie)).toBeUndefined();
  });

  it('keys differ by purpose and by mode', () => {
    const basic = deriveKeys('k'.repeat(40), 'basic');
    expect(new Set([keys.session, keys.csrf, keys.flow, basic.csrf].map((k) => k.toString('hex'))).size).toBe(
      4,
    );
  });
});

describe('cookies', () => {
  it('parses a Cookie header; the first of a name wins', () => {
    expect([...parseCookies('a=1; b = two=2 ;a=3; =x; junk')]).toEqual([
      ['a', '1'],
      ['b', 'two=2'],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('are HttpOnly and SameSite=Lax, Secure when asked, and deleted with Max-Age=0', () => {
    expect(serializeCookie('__Host-s', 'v', { path: '/', secure: true, maxAge: 3600 })).toBe(
      '__Host-s=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure',
    );
    expect(serializeCookie('s', '', { path: '/console', secure: false, maxAge: 0 })).toBe(
      's=; Path=/console; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
  });

  it('are __Host- at the root over https, __Secure- under a prefix, plain only on http', () => {
    expect(cookieScope(true, '')).toEqual({ prefix: '__Host-', path: '/' });
    expect(cookieScope(true, '/idsync')).toEqual({ prefix: '__Secure-', path: '/idsync/console' });
    expect(cookieScope(false, '')).toEqual({ prefix: '', path: '/' });
  });
});

describe('CSRF', () => {
  it('a token is valid only for what it is bound to', () => {
    const t = csrfToken(keys.csrf, 's:session-1');
    expect(csrfValid(keys.csrf, 's:session-1', t)).toBe(true);
    expect(csrfValid(keys.csrf, 's:session-2', t)).toBe(false);
    expect(csrfValid(keys.csrf, undefined, t)).toBe(false);
    expect(csrfValid(keys.csrf, 's:session-1', undefined)).toBe(false);
    expect(csrfValid(keys.csrf, 's:session-1', '')).toBe(false);
    expect(csrfValid(keys.csrf, 's:session-1', [t])).toBe(false);
    expect(csrfValid(deriveKeys('x'.repeat(40), 'oidc').csrf, 's:session-1', t)).toBe(false);
  });

  it('a form from another origin or site is refused; Origin: null (no-referrer) leaves it to the token', () => {
    const allowed = { origin: 'https://idsync.corp.example' };
    expect(crossOrigin({ 'sec-fetch-site': 'same-origin', origin: 'null' }, allowed)).toBe(false);
    expect(crossOrigin({ 'sec-fetch-site': 'same-site' }, allowed)).toBe(true);
    expect(crossOrigin({ 'sec-fetch-site': 'cross-site' }, allowed)).toBe(true);
    expect(crossOrigin({ origin: 'https://idsync.corp.example' }, allowed)).toBe(false);
    expect(crossOrigin({ origin: 'https://evil.example' }, allowed)).toBe(true);
    expect(crossOrigin({ origin: 'null' }, allowed)).toBe(false);
    expect(crossOrigin({}, allowed)).toBe(false);
    expect(crossOrigin({ origin: 'http://127.0.0.1:8080' }, { host: '127.0.0.1:8080' })).toBe(false);
    expect(crossOrigin({ origin: 'http://127.0.0.1:9090' }, { host: '127.0.0.1:8080' })).toBe(true);
  });
});

describe('the return path after sign-in', () => {
  it('stays inside the console', () => {
    expect(safeNext('/console/runs/run-1?done=approved', '')).toBe('/console/runs/run-1?done=approved');
    expect(safeNext('/idsync/console', '/idsync')).toBe('/idsync/console');
    for (const bad of [
      'https://evil.example/console',
      '//evil.example/console',
      '/console//evil.example',
      '/console\\evil',
      '/consolex',
      '/api/runs',
      '/console/\u202e',
      42,
      undefined,
    ]) {
      expect(safeNext(bad, ''), String(bad)).toBe('/console');
    }
  });
});

describe('who may approve', () => {
  const approvers = { emails: ['alice@corp.example'], groups: ['g-approvers'], groupsClaim: 'groups' };

  it('by email (case-insensitive) unless the IdP says it is unverified; by a listed group', () => {
    const a = identityOf({ sub: 'u-1', email: 'Alice@Corp.Example', name: 'Alice' }, approvers);
    expect(a).toEqual({ sub: 'u-1', email: 'alice@corp.example', name: 'Alice', groups: [] });
    expect(mayApprove(a as NonNullable<typeof a>, approvers)).toBe(true);
    const unverified = identityOf(
      { sub: 'u-2', email: 'alice@corp.example', email_verified: false },
      approvers,
    );
    expect(unverified).toEqual({ sub: 'u-2', groups: [] });
    expect(mayApprove(unverified as NonNullable<typeof unverified>, approvers)).toBe(false);
    const member = identityOf(
      { sub: 'u-3', groups: ['g-staff', 'g-approvers', 'g-approvers', 7] },
      approvers,
    );
    expect(member?.groups).toEqual(['g-approvers']);
    expect(mayApprove(member as NonNullable<typeof member>, approvers)).toBe(true);
    const other = identityOf({ sub: 'u-4', email: 'bob@corp.example', groups: ['g-staff'] }, approvers);
    expect(mayApprove(other as NonNullable<typeof other>, approvers)).toBe(false);
  });

  it('reads the configured claim; an overage marker instead of groups gives none; no sub, no identity', () => {
    const roles = { ...approvers, groupsClaim: 'roles' };
    expect(identityOf({ sub: 'u', roles: ['g-approvers'], groups: [] }, roles)?.groups).toEqual([
      'g-approvers',
    ]);
    expect(identityOf({ sub: 'u', _claim_names: { groups: 'src1' } }, approvers)?.groups).toEqual([]);
    expect(identityOf({ email: 'alice@corp.example' }, approvers)).toBeUndefined();
    expect(identityOf({ sub: 'u', preferred_username: 'alice@tenant' }, approvers)?.name).toBe(
      'alice@tenant',
    );
  });

  it('records the email, else the subject at its issuer; shows name and email', () => {
    expect(actorOf({ sub: 'u-1', email: 'alice@corp.example' }, 'https://login.example/t/v2.0')).toBe(
      'alice@corp.example',
    );
    expect(actorOf({ sub: 'u-1' }, 'https://login.example/t/v2.0')).toBe('sub:u-1 at login.example');
    expect(displayName(alice)).toBe('Alice <alice@corp.example>');
    expect(displayName({ sub: 'u-9' })).toBe('u-9');
  });
});

import { describe, expect, it } from 'vitest';
import { isAuthorized, parseAuthorization, safeEqual } from '../../../src/server/auth.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('safeEqual', () => {
  it('compares strings of any lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('', 'x')).toBe(false);
  });
});

describe('parseAuthorization', () => {
  it('reads Bearer and Basic, case-insensitively', () => {
    expect(parseAuthorization('Bearer t0k')).toEqual({ scheme: 'bearer', token: 't0k' });
    expect(parseAuthorization('bearer t0k')).toEqual({ scheme: 'bearer', token: 't0k' });
    expect(parseAuthorization(`BASIC ${b64('u:p:w')}`)).toEqual({
      scheme: 'basic',
      user: 'u',
      password: 'p:w',
    });
    expect(parseAuthorization(`Basic ${b64(':pw')}`)).toEqual({ scheme: 'basic', user: '', password: 'pw' });
  });

  it('returns undefined for anything else', () => {
    for (const h of [
      undefined,
      '',
      'Bearer',
      'Bearer a b',
      't0k',
      `Basic ${b64('nocolon')}`,
      'Basic !!',
      'Digest x',
    ])
      expect(parseAuthorization(h), String(h)).toBeUndefined();
  });
});

describe('isAuthorized', () => {
  it('accepts the token as a bearer, and as a Basic password only where allowed', () => {
    expect(isAuthorized('Bearer sekret', 'sekret', false)).toBe(true);
    expect(isAuthorized('Bearer sekreT', 'sekret', true)).toBe(false);
    expect(isAuthorized(`Basic ${b64('anyone:sekret')}`, 'sekret', true)).toBe(true);
    expect(isAuthorized(`Basic ${b64('anyone:sekret')}`, 'sekret', false)).toBe(false);
    expect(isAuthorized(`Basic ${b64('sekret:')}`, 'sekret', true)).toBe(false);
    expect(isAuthorized(undefined, 'sekret', true)).toBe(false);
  });
});

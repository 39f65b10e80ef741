// DN normalisation: the same entry written by different tools must give one key, and different
// entries must not collide. The fast path for plain DNs is held against the full parser.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DnSyntaxError,
  escapeDnValue,
  isWithin,
  normalizeDn,
  normalizeDnSlow,
  parseDn,
  stripOptionalUid,
} from '../../../src/directory/dn.js';

describe('normalizeDn', () => {
  it.each([
    [
      'case of types and values',
      'CN=John Smith,OU=People,DC=Example,DC=Com',
      'cn=john smith,ou=people,dc=example,dc=com',
    ],
    [
      'spaces around = and ,',
      ' cn = John Smith , ou= People ,dc =example',
      'cn=john smith,ou=people,dc=example',
    ],
    ['an escaped comma', 'cn=Smith\\, John,ou=people', 'cn=smith\\, john,ou=people'],
    ['a hex-escaped comma', 'cn=Smith\\2C John,ou=people', 'cn=smith\\, john,ou=people'],
    ['a hex-escaped comma, lower-case hex', 'cn=Smith\\2c John,ou=people', 'cn=smith\\, john,ou=people'],
    ['an escaped plus', 'cn=A\\+B,ou=people', 'cn=a\\+b,ou=people'],
    ['an escaped backslash', 'cn=Back\\\\slash,ou=people', 'cn=back\\\\slash,ou=people'],
    ['a hex-escaped backslash', 'cn=Back\\5Cslash,ou=people', 'cn=back\\\\slash,ou=people'],
    ['a leading hash', 'cn=\\#Hash,ou=people', 'cn=\\#hash,ou=people'],
    ['a hex-escaped leading hash', 'cn=\\23Hash,ou=people', 'cn=\\#hash,ou=people'],
    ['escaped quotes', 'cn=\\"Q\\",ou=people', 'cn=\\"q\\",ou=people'],
    ['hex-escaped quotes', 'cn=\\22Q\\22,ou=people', 'cn=\\"q\\",ou=people'],
    ['an escaped leading space', 'cn=\\ Lead,ou=people', 'cn=\\ lead,ou=people'],
    ['a hex-escaped leading space', 'cn=\\20Lead,ou=people', 'cn=\\ lead,ou=people'],
    ['an escaped trailing space', 'cn=Trail\\ ,ou=people', 'cn=trail\\ ,ou=people'],
    ['unescaped trailing spaces are insignificant', 'cn=Trail   ,ou=people', 'cn=trail,ou=people'],
    ['non-ASCII characters', 'cn=Zoë Ångström,ou=people', 'cn=zoë ångström,ou=people'],
    [
      'non-ASCII as UTF-8 hex escapes',
      'cn=Zo\\C3\\AB \\C3\\85ngstr\\C3\\B6m,ou=people',
      'cn=zoë ångström,ou=people',
    ],
    ['decomposed Unicode (NFD)', 'cn=Zoe\u0308,ou=people', 'cn=zoë,ou=people'],
    ['CJK', 'cn=山田 太郎,ou=People', 'cn=山田 太郎,ou=people'],
    ['multi-valued RDN order', 'uid=jdoe+CN=John,ou=people', 'cn=john+uid=jdoe,ou=people'],
    [
      'long type names',
      'commonName=John,organizationalUnitName=people,domainComponent=example',
      'cn=john,ou=people,dc=example',
    ],
    ['OIDs as types', '2.5.4.3=John,OID.2.5.4.11=people', 'cn=john,ou=people'],
    ['BER hex values', 'cn=#04044A6F686E,ou=people', 'cn=john,ou=people'],
    ['RFC 1779 quoting', 'cn="Smith, John",ou=people', 'cn=smith\\, john,ou=people'],
    ['semicolon separators', 'cn=John;ou=people', 'cn=john,ou=people'],
    ['other specials escaped one way', 'cn=a\\<b\\>c\\;d\\=e,ou=x', 'cn=a\\<b\\>c\\;d=e,ou=x'],
    ['the empty DN', '', ''],
  ])('%s', (_name, input, expected) => {
    expect(normalizeDn(input)).toBe(expected);
    expect(normalizeDnSlow(input)).toBe(expected);
  });

  it('keeps different entries apart', () => {
    const keys = [
      'cn=A\\+B,ou=p',
      'cn=A+uid=B,ou=p',
      'cn=A\\,B,ou=p',
      'cn=A,cn=B,ou=p',
      'cn=\\ A,ou=p',
      'cn=\\#A,ou=p',
      'cn=#04012341,ou=p',
    ].map(normalizeDn);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it.each([
    ['cn=a,,ou=b', 6, 'expected an attribute type'],
    ['cn', 3, 'expected "=" after "cn"'],
    ['cn=a\\zz,ou=b', 5, 'invalid escape "\\z"'],
    ['cn=a\\', 5, 'a "\\" at the end of the DN'],
    ['cn=a"b', 5, 'unescaped "\\""'],
    ['c n=a', 1, 'expected "=" after "c"'],
    ['cn=\\C3,ou=b', 4, 'hex escapes that are not valid UTF-8'],
    ['cn=#0g', 4, 'expected an even number of hex digits'],
  ])('rejects %j with a column', (dn, column, reason) => {
    let err: unknown;
    try {
      parseDn(dn);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DnSyntaxError);
    const syntax = err as DnSyntaxError;
    expect(syntax.reason).toContain(reason);
    if (dn !== 'c n=a') expect(syntax.column).toBe(column);
  });

  // Arbitrary values: printable ASCII with every special character, non-ASCII, spaces at the ends.
  const value = fc.string({
    unit: fc.oneof(
      fc.constantFrom(' ', ',', '+', '"', '\\', '<', '>', ';', '#', '=', 'é', 'Ω', '山', '\u0301'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    ),
    minLength: 1,
    maxLength: 12,
  });
  const type = fc.constantFrom('cn', 'CN', 'uid', 'ou', 'dc', 'commonName');
  const dnParts = fc.array(fc.array(fc.tuple(type, value), { minLength: 1, maxLength: 2 }), {
    minLength: 1,
    maxLength: 4,
  });
  const hexEscape = (v: string) =>
    [...Buffer.from(v, 'utf8')].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');

  it('gives one key for the escaped and the fully hex-escaped form of any DN', () => {
    fc.assert(
      fc.property(dnParts, (rdns) => {
        const plain = rdns.map((r) => r.map(([t, v]) => `${t}=${escapeDnValue(v)}`).join('+')).join(',');
        const hexed = rdns.map((r) => r.map(([t, v]) => `${t} = ${hexEscape(v)}`).join(' + ')).join(' , ');
        expect(normalizeDn(hexed)).toBe(normalizeDn(plain));
      }),
    );
  });

  it('round-trips: parsing an escaped value gives the value back', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(parseDn(`cn=${escapeDnValue(v)}`)).toEqual([[{ type: 'cn', value: v }]]);
      }),
    );
  });

  it('the fast path for plain DNs agrees with the full parser', () => {
    const plainValue = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', ' ', '-', '.', '_', '@', '=', '(', '*'),
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(type, plainValue), { minLength: 1, maxLength: 5 }), (parts) => {
        const dn = parts.map(([t, v]) => ` ${t} =${v}`).join(',');
        let slow: string | Error;
        try {
          slow = normalizeDnSlow(dn);
        } catch (e) {
          slow = e as Error;
        }
        if (slow instanceof Error) expect(() => normalizeDn(dn)).toThrow(DnSyntaxError);
        else expect(normalizeDn(dn)).toBe(slow);
      }),
    );
  });
});

describe('isWithin', () => {
  const base = normalizeDn('ou=People,dc=example,dc=com');
  it.each([
    ['uid=a,ou=people,dc=example,dc=com', true],
    ['ou=people,dc=example,dc=com', true],
    ['uid=a,ou=sub,ou=people,dc=example,dc=com', true],
    ['uid=a,ou=otherpeople,dc=example,dc=com', false],
    ['cn=x\\,ou=people,dc=example,dc=com', false],
    ['uid=a,dc=example,dc=com', false],
    ['cn=x\\\\,ou=people,dc=example,dc=com', true],
  ])('%s → %s', (dn, within) => {
    expect(isWithin(normalizeDn(dn), base)).toBe(within);
  });
  it('everything is within the empty base', () => {
    expect(isWithin('cn=x', '')).toBe(true);
  });
});

describe('stripOptionalUid', () => {
  it("drops a uniqueMember's bit-string suffix only", () => {
    expect(stripOptionalUid("uid=a,ou=p#'0101'B")).toBe('uid=a,ou=p');
    expect(stripOptionalUid('cn=a#b,ou=p')).toBe('cn=a#b,ou=p');
  });
});

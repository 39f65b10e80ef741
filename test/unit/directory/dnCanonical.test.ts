// normalizeDn's shortest path: a plain DN that is canonical but for case is answered by lower-casing
// it (dn.ts, isCanonicalPlain). Held against the full parser on DNs written the way servers and
// tools write them: no spaces, spaces around separators, long type names, OIDs, empty values,
// stray commas; every answer (or DnSyntaxError) must be the parser's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DnSyntaxError, normalizeDn, normalizeDnSlow } from '../../../src/directory/dn.js';

const type = fc.constantFrom(
  'cn',
  'CN',
  'uid',
  'Ou',
  'dc',
  'o',
  'commonName',
  'userid',
  'surname',
  'sn',
  'givenName',
  '2.5.4.3',
  '0.9.2342.19200300.100.1.25',
  '1.2',
  '1..2',
  '1.',
  'x-y_z9',
  'a b',
  '',
);
const value = fc.string({
  unit: fc.constantFrom('a', 'Z', 'q', '0', ' ', '-', '.', '_', '@', '=', '(', '*', ','),
  maxLength: 8,
});
const space = fc.constantFrom('', '', '', ' ', '  ');

function agree(dn: string): void {
  let slow: string | Error;
  try {
    slow = normalizeDnSlow(dn);
  } catch (e) {
    slow = e as Error;
  }
  if (slow instanceof Error) expect(() => normalizeDn(dn)).toThrow(DnSyntaxError);
  else expect(normalizeDn(dn)).toBe(slow);
}

describe('normalizeDn on plain DNs', () => {
  it('agrees with the full parser however the RDNs are spaced and spelled', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(space, type, space, value, space), { minLength: 1, maxLength: 5 }),
        fc.constantFrom('', ',', ' ,'),
        (parts, tail) => {
          agree(parts.map(([a, t, b, v, c]) => `${a}${t}${b}=${v}${c}`).join(',') + tail);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['uid=User000001,ou=People,dc=Example,dc=com', 'uid=user000001,ou=people,dc=example,dc=com'],
    ['CN=Smith John,OU=People,DC=corp,DC=example', 'cn=smith john,ou=people,dc=corp,dc=example'],
    ['commonName=x,dc=y', 'cn=x,dc=y'],
    ['2.5.4.3=x', 'cn=x'],
    ['cn=', 'cn='],
    ['', ''],
    ['cn=a=b,dc=c', 'cn=a=b,dc=c'],
  ])('%s → %s', (dn, canonical) => {
    expect(normalizeDn(dn)).toBe(canonical);
    agree(dn);
  });

  it.each(['cn=a,', ',cn=a', 'cn=a,,dc=b', 'cn', '1.=x', 'a b=c'])('%s is what the parser says', (dn) => {
    agree(dn);
  });
});

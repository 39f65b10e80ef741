// Configured filters: valid ones reach the server exactly as written (including UTF-8 escapes,
// numeric OIDs and extensible matches ldapts' own parser gets wrong), invalid ones are reported
// with the column of the problem.
import { BerWriter, EqualityFilter, type Filter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import {
  checkFilter,
  compileFilter,
  describeFilterProblem,
  equalityFilter,
  escapeFilterValue,
  parseFilter,
} from '../../../../src/directory/ldap/filter.js';

const ber = (f: Filter): string => {
  const w = new BerWriter();
  f.write(w);
  return w.buffer.toString('hex');
};

describe('parseFilter accepts RFC 4515 filters', () => {
  it.each([
    '(objectClass=inetOrgPerson)',
    '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))',
    '(&(objectClass=user)(!(objectClass=computer)))',
    '(userAccountControl:1.2.840.113556.1.4.803:=2)',
    '(memberOf:1.2.840.113556.1.4.1941:=cn=Admins,ou=groups,dc=corp,dc=example)',
    '(cn:dn:2.5.13.5:=John)',
    '(:dn:2.5.13.5:=John)',
    '(cn=*)',
    '(cn=J*o*n)',
    '(cn=*ohn)',
    '(cn=Jo*)',
    '(cn>=M)',
    '(cn<=M)',
    '(cn~=Jon)',
    '(cn;lang-de=Johann)',
    '(cn:=John)',
    '(2.5.4.3=John)',
    '(cn=)',
    '(cn=a\\2ab\\28c\\29\\5c)',
    '(cn=Zoë)',
    '(cn=Zo\\c3\\ab)',
    '(objectGUID=\\e0\\04\\25\\3f\\89\\4f\\d3\\11\\9a\\0c\\03\\05\\e8\\2c\\33\\01)',
    'objectClass=person',
    '  (cn=x)  ',
  ])('%s', (f) => {
    expect(checkFilter(f)).toBeUndefined();
  });

  it('sends UTF-8 hex escapes as the character they encode', () => {
    expect(ber(compileFilter('(cn=Zo\\c3\\ab)'))).toBe(
      ber(new EqualityFilter({ attribute: 'cn', value: 'Zoë' })),
    );
    expect(ber(compileFilter('(cn=Zoë)'))).toBe(ber(new EqualityFilter({ attribute: 'cn', value: 'Zoë' })));
  });

  it('sends binary equality values as raw bytes', () => {
    const guid = Buffer.from('e004253f894fd3119a0c0305e82c3301', 'hex');
    const f = compileFilter(`(objectGUID=${escapeFilterValue(guid)})`);
    expect(ber(f)).toBe(ber(new EqualityFilter({ attribute: 'objectGUID', value: guid })));
  });

  it('builds the expected tree', () => {
    expect(parseFilter('(&(cn=a*b*c)(!(sn=*)))')).toEqual({
      kind: 'and',
      children: [
        { kind: 'substring', attribute: 'cn', initial: 'a', any: ['b'], final: 'c' },
        { kind: 'not', child: { kind: 'present', attribute: 'sn' } },
      ],
    });
    expect(parseFilter('(userAccountControl:1.2.840.113556.1.4.803:=2)')).toEqual({
      kind: 'extensible',
      attribute: 'userAccountControl',
      dnAttributes: false,
      rule: '1.2.840.113556.1.4.803',
      value: '2',
    });
  });
});

describe('parseFilter reports the column of the problem', () => {
  it.each([
    ['', 1, 'the filter is empty'],
    ['(&(objectClass=user)(cn=x', 26, 'missing ")": the "(" at column 21 is not closed'],
    ['(cn=a))', 7, 'unexpected ")" after the end of the filter'],
    ['(cn=a(b)', 6, 'unescaped "(" in a value (write \\28)'],
    ['(cn=\\zz)', 5, 'invalid escape "\\z"'],
    ['(cn=\\2)', 5, 'invalid escape "\\2"'],
    ['(&)', 3, 'an AND needs at least one filter inside'],
    ['(|(a=b)x)', 8, 'expected ")" but found "x"'],
    ['(=x)', 2, 'expected an attribute name, found "="'],
    ['(cn~=x*)', 7, 'unescaped "*" in a value'],
    ['(cn!x)', 4, 'expected "=", "~=", ">=", "<=" or ":" after the attribute "cn"'],
    ['(cn:x)', 6, 'expected ":=" in an extensible match'],
    ['(:=x)', 2, 'needs a matching rule'],
    ['(-cn=x)', 2, 'expected an attribute name, found "-"'],
    ['(1.2..3=x)', 2, 'invalid attribute name "1.2..3"'],
    ['(cn=a*\\ff)', 7, 'not UTF-8 text can only be matched with "="'],
    ['objectClass=user)', 17, 'unexpected ")" after the end of the filter'],
    ['  (cn=a(b)', 8, 'unescaped "("'],
  ])('%j at column %i', (filter, column, reason) => {
    const problem = checkFilter(filter);
    expect(problem?.column).toBe(column);
    expect(problem?.reason).toContain(reason);
  });

  it('the config message shows the filter, the reason and the column', () => {
    const problem = checkFilter('(&(objectClass=user)(cn=x');
    expect(problem && describeFilterProblem(problem)).toBe(
      'expected an LDAP filter (RFC 4515), found "(&(objectClass=user)(cn=x": column 26: missing ")": the "(" at column 21 is not closed',
    );
  });
});

describe('values put into filters', () => {
  it('are escaped (RFC 4515)', () => {
    expect(escapeFilterValue('a*b(c)\\d')).toBe('a\\2ab\\28c\\29\\5cd');
    expect(equalityFilter('cn', '*)(uid=*')).toBe('(cn=\\2a\\29\\28uid=\\2a)');
    // and parse back to the literal value
    expect(parseFilter(equalityFilter('cn', '*)(uid=*'))).toEqual({
      kind: 'equal',
      attribute: 'cn',
      value: Buffer.from('*)(uid=*'),
    });
  });
});

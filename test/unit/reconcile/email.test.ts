// validEmail: the ASCII fast path and the per-domain memo must judge exactly as the Unicode rule.
import { describe, expect, it } from 'vitest';
import { validEmail } from '../../../src/reconcile/email.js';

describe('validEmail', () => {
  it.each([
    'alice@corp.example',
    "o'brien+devin@corp.example",
    'jörg@corp.example',
    'user@bücher.example',
    'a.b.c@sub.corp.example',
  ])('accepts %s', (e) => expect(validEmail(e)).toBe(true));

  it.each([
    'sp aced@corp.example',
    'x@evil.example@corp.example',
    '.dot@corp.example',
    'dot.@corp.example',
    'a..b@corp.example',
    'alice@corp',
    'alice@-corp.example',
    'alice@corp.123',
    'alice@',
    '@corp.example',
    `${'a'.repeat(65)}@corp.example`,
  ])('refuses %s', (e) => expect(validEmail(e)).toBe(false));

  it('judges a domain the same the second time (memoised), good and bad alike', () => {
    for (let i = 0; i < 3; i++) {
      expect(validEmail(`u${i}@memo.example`)).toBe(true);
      expect(validEmail(`u${i}@bad_domain.example`)).toBe(false);
    }
    // A bad local part is refused even when its domain is already known to be good.
    expect(validEmail('bad local@memo.example')).toBe(false);
  });

  it('stays correct past the memo bound', () => {
    for (let i = 0; i < 1500; i++) expect(validEmail(`u@d${i}.example`)).toBe(true);
    expect(validEmail('u@d5.example')).toBe(true);
    expect(validEmail('u@d5_.example')).toBe(false);
  });
});

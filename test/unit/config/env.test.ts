// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are config text in ${VAR} syntax
import { describe, expect, it } from 'vitest';
import { expand } from '../../../src/config/env.js';
import { editDistance, suggest } from '../../../src/config/suggest.js';

describe('expand', () => {
  const env = { HOST: 'dc1.corp', PORT: '636', EMPTY: '' };

  it.each([
    ['ldaps://${HOST}:${PORT}', 'ldaps://dc1.corp:636'],
    ['${EMPTY}', ''],
    ['no variables', 'no variables'],
    ['$${HOST} is literal', '${HOST} is literal'],
    ['$$${HOST}', '$${HOST}'], // left to right: a lone $, then an escaped ${
    ['cost: $5', 'cost: $5'],
    ['$HOST without braces', '$HOST without braces'],
  ])('%s', (text, value) => {
    expect(expand(text, env)).toMatchObject({ ok: true, value });
  });

  it('reports each unset or malformed reference with its offset', () => {
    expect(expand('a ${MISSING} b ${2BAD} c ${UNCLOSED', env)).toEqual({
      ok: false,
      errors: [
        { offset: 2, message: 'environment variable MISSING is not set' },
        {
          offset: 15,
          message:
            'invalid variable reference "${2BAD}": expected ${NAME} with letters, digits and _ (write $${ for a literal ${)',
        },
        { offset: 25, message: 'unterminated variable reference "${UNCLOSED": expected ${NAME}' },
      ],
    });
  });
});

describe('suggest', () => {
  it('finds likely typos and nothing else', () => {
    expect(suggest('devn', ['source', 'devin', 'mappings'])).toBe('devin');
    expect(suggest('tokne', ['token', 'tokenFile'])).toBe('token');
    expect(suggest('bindDn', ['bindDN', 'bindPassword'])).toBe('bindDN');
    expect(suggest('mapping', ['mappings', 'mode'])).toBe('mappings');
    expect(suggest('url', ['path', 'type'])).toBeUndefined();
    expect(suggest('everything', ['none', 'matching', 'all'])).toBeUndefined();
  });

  it('counts a transposition as one edit', () => {
    expect(editDistance('tokne', 'token')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

/** Glob (`*` any run of characters, `?` one character), whole-string and case-insensitive. */
export function globMatcher(pattern: string): (value: string) => boolean {
  const source = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`, 'i');
  return (value) => re.test(value);
}

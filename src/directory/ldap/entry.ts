// Reading ldapts entries the same way everywhere: the reader (read.ts) and the validate probe
// (probe.ts) must agree on what an attribute, a value and an id are, or validate could pass a
// directory the sync then reads differently.
import type { Entry } from 'ldapts';
import { normalizeDirectoryId } from '../ids.js';
import { guidFromBytes } from './guid.js';

export type Value = Entry[string];

/** An attribute of an entry, whatever case the server spelled its name in. */
export function attr(entry: Entry, name: string): Value | undefined {
  const direct = entry[name];
  if (direct !== undefined) return direct;
  const want = name.toLowerCase();
  for (const key of Object.keys(entry)) {
    if (key.toLowerCase() === want) return entry[key];
  }
  return undefined;
}

export function strings(value: Value | undefined): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Buffer.isBuffer(value)) return [value.toString('utf8')];
  return (value as Array<string | Buffer>).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

export const isGuidAttribute = (name: string): boolean => /guid$/i.test(name);

/**
 * The stable id, canonical (ids.ts: GUIDs lower case without braces), so that a mapping or a ledger
 * entry written in another tool's spelling still names the same user or group.
 */
export function idValue(value: Value | undefined, attribute: string): string | undefined {
  const raw = rawIdValue(value, attribute);
  return raw === undefined ? undefined : normalizeDirectoryId(raw);
}

/** GUID attributes decoded from their 16 bytes, other binary ids as hex, text as is. */
function rawIdValue(value: Value | undefined, attribute: string): string | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  if (isGuidAttribute(attribute)) {
    // A GUID whose bytes happen to be valid UTF-8 may arrive as a string; the decoding was
    // lossless, so re-encoding gives the bytes back.
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    if (bytes.length === 16) return guidFromBytes(bytes);
    if (typeof v === 'string' && v.trim() !== '') return v.trim().toLowerCase();
    return undefined;
  }
  if (typeof v !== 'string') return v.length === 0 ? undefined : v.toString('hex');
  const t = v.trim();
  return t === '' ? undefined : t;
}

/**
 * Schema MUST: a group of these classes (lower-cased) always has a value of this attribute (the
 * memberof overlay and refint put a placeholder in when the last member goes). None read means none
 * readable.
 */
export const REQUIRED_MEMBER_ATTRIBUTE: Readonly<Record<string, { attribute: string; className: string }>> = {
  groupofnames: { attribute: 'member', className: 'groupOfNames' },
  groupofuniquenames: { attribute: 'uniqueMember', className: 'groupOfUniqueNames' },
};

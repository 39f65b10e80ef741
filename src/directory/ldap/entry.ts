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
  if (raw === undefined) return undefined;
  // What normalizeDirectoryId would return unchanged (entryUUID as OpenLDAP prints it, every
  // objectGUID decoded here), without its regex and copies: once per entry of a full read.
  return isCanonicalGuid(raw) ? raw : normalizeDirectoryId(raw);
}

/** `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex, nothing around it. */
function isCanonicalGuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) {
      return false;
    }
  }
  return true;
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

// ---- entries as ldapts parsed them --------------------------------------------------------------
//
// The full read takes entries before ldapts' toObject (see search.ts): toObject builds a keyed
// object per entry (lower-casing every attribute name with toLocaleLowerCase on the way) which the
// reader then only looked values up in and copied out of. At 100,000 users that was a third of the
// client's time. These helpers read the parsed attribute list directly and give back exactly what
// attr() would have found in toObject's result, so both forms of an entry read alike.

/** One attribute of a parsed entry: ldapts' Attribute, or an Entry's key converted (asRawEntry). */
export interface RawAttribute {
  readonly type: string;
  /** Decoded values; a value that is not valid UTF-8 stays a Buffer. */
  readonly values: ReadonlyArray<string | Buffer>;
  /** Every value undecoded (ldapts); absent when `values` are already final (converted from an Entry). */
  readonly parsedBuffers?: readonly Buffer[];
}

/** A search result entry before toObject: the DN and the attributes in the order the server sent. */
export interface RawEntry {
  readonly name: string;
  readonly attributes: readonly RawAttribute[];
}

/**
 * The attribute `name` as attr() finds it in toObject's result: spelled exactly so first, else the
 * first in any case. (A server sends each attribute once per entry, RFC 4511 §4.1.7.)
 */
export function rawAttribute(entry: RawEntry, name: string): RawAttribute | undefined {
  const list = entry.attributes;
  for (let i = 0; i < list.length; i++) {
    const a = list[i] as RawAttribute;
    if (a.type === name) return a;
  }
  const want = name.toLowerCase();
  for (let i = 0; i < list.length; i++) {
    const a = list[i] as RawAttribute;
    if (a.type.length === want.length && a.type.toLowerCase() === want) return a;
  }
  return undefined;
}

/**
 * The values toObject hands out for an attribute: all undecoded when the attribute is one of the
 * explicit buffer attributes or any value was not valid UTF-8, else the decoded ones.
 */
function chosenValues(a: RawAttribute, asBuffers: boolean): ReadonlyArray<string | Buffer> {
  const buffers = a.parsedBuffers;
  if (buffers === undefined) return a.values;
  if (asBuffers) return buffers;
  const values = a.values;
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'string') return buffers;
  return values;
}

/** The attribute's value as attr() returns it from toObject's result (one value bare, else a list). */
export function rawValue(a: RawAttribute | undefined, asBuffers = false): Value | undefined {
  if (a === undefined) return undefined;
  const list = chosenValues(a, asBuffers);
  return (list.length === 1 ? list[0] : list) as Value;
}

/**
 * strings(attr(...)) for a parsed attribute, without a copy when every value is text. The list
 * returned may be the attribute's own: read it, do not change it.
 */
export function rawStrings(a: RawAttribute | undefined, asBuffers = false): readonly string[] {
  if (a === undefined) return [];
  const list = chosenValues(a, asBuffers);
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'string') {
      return list.map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
    }
  }
  return list as readonly string[];
}

/**
 * Reads parsed entries of one search as attr() and strings() read toObject's result of it: the
 * search's explicit buffer attributes (exact spelling, as ldapts matches them) come undecoded.
 */
export class RawEntryReader {
  private readonly bufferTypes: ReadonlySet<string>;

  constructor(explicitBufferAttributes: readonly string[]) {
    this.bufferTypes = new Set(explicitBufferAttributes);
  }

  value(entry: RawEntry, name: string): Value | undefined {
    const a = rawAttribute(entry, name);
    return a === undefined ? undefined : rawValue(a, this.asBuffers(a));
  }

  strings(entry: RawEntry, name: string): readonly string[] {
    const a = rawAttribute(entry, name);
    return a === undefined ? [] : rawStrings(a, this.asBuffers(a));
  }

  private asBuffers(a: RawAttribute): boolean {
    return this.bufferTypes.size > 0 && this.bufferTypes.has(a.type);
  }
}

/** An Entry (toObject's form) as a RawEntry whose values are final, for a client without the raw path. */
export function asRawEntry(entry: Entry): RawEntry {
  const attributes: RawAttribute[] = [];
  for (const type of Object.keys(entry)) {
    if (type === 'dn') continue;
    const v = entry[type] as Value;
    attributes.push({ type, values: Array.isArray(v) ? v : [v] });
  }
  return { name: entry.dn, attributes };
}

// Range retrieval of large multi-valued attributes (Active Directory's MaxValRange, 1500 values by
// default). For a big group AD answers `member;range=0-1499` instead of `member`, and ldapts adds
// an empty `member` beside it because `member` was asked for: read naively, the group looks
// empty. The rest is fetched slice by slice with `member;range=<lo>-*` until a slice ends in `*`.
// https://learn.microsoft.com/en-us/windows/win32/adsi/attribute-range-retrieval
import type { Entry } from 'ldapts';
import { type RawEntry, rawStrings } from './entry.js';

export interface RangeSlice {
  lo: number;
  /** Last index returned, or '*' when the slice reaches the end of the values. */
  hi: number | '*';
}

/** `member;range=0-1499` → attribute `member`, slice 0-1499. Undefined without a range option. */
export function parseRangedDescription(
  description: string,
): { attribute: string; slice: RangeSlice } | undefined {
  const parts = description.split(';');
  const attribute = parts[0] ?? '';
  for (const option of parts.slice(1)) {
    const m = /^range=(\d+)-(\d+|\*)$/i.exec(option);
    if (!m) continue;
    const lo = Number(m[1]);
    const hi = m[2] === '*' ? '*' : Number(m[2]);
    if (hi !== '*' && hi < lo) return undefined;
    return { attribute, slice: { lo, hi } };
  }
  return undefined;
}

/** The attribute description asking for values from `lo`: a fixed slice when `size` is set, else to the end. */
export function rangeDescription(attribute: string, lo: number, size?: number): string {
  return `${attribute};range=${lo}-${size === undefined ? '*' : lo + size - 1}`;
}

function toStrings(value: Entry[string] | undefined): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

export interface RangedValues {
  description: string;
  slice: RangeSlice;
  values: string[];
}

/**
 * The ranged form of `attribute` in an entry, if the server sent one. A ranged key without values
 * is ldapts echoing an attribute that was asked for but not returned: no range at all.
 */
export function rangedValues(entry: Entry, attribute: string): RangedValues | undefined {
  const want = attribute.toLowerCase();
  for (const key of Object.keys(entry)) {
    if (key === 'dn') continue;
    const parsed = parseRangedDescription(key);
    if (!parsed || parsed.attribute.toLowerCase() !== want) continue;
    const values = toStrings(entry[key]);
    if (values.length === 0) continue;
    return { description: key, slice: parsed.slice, values };
  }
  return undefined;
}

/** rangedValues for an entry as ldapts parsed it (entry.ts): the same answer, read off the attribute list. */
export function rawRangedValues(entry: RawEntry, attribute: string): RangedValues | undefined {
  const want = attribute.toLowerCase();
  for (const a of entry.attributes) {
    // Most attributes carry no option at all: skip them without splitting.
    if (!a.type.includes(';')) continue;
    const parsed = parseRangedDescription(a.type);
    if (!parsed || parsed.attribute.toLowerCase() !== want) continue;
    const values = rawStrings(a);
    if (values.length === 0) continue;
    return { description: a.type, slice: parsed.slice, values: [...values] };
  }
  return undefined;
}

export class RangeReadError extends Error {
  constructor(
    /** The first index the failed request asked for. */
    readonly lo: number,
    readonly reason: string,
  ) {
    super(`range ${lo}-* failed: ${reason}`);
    this.name = 'RangeReadError';
  }
}

/** Reads one slice: a base-scope search of the entry for `description`. */
export type SliceFetcher = (description: string) => Promise<Entry | undefined>;

/** A hard stop for a server that keeps answering without making progress. */
const MAX_SLICES = 100_000;

/**
 * Appends the values from index `from` onwards to `into`, slice by slice. Throws RangeReadError
 * naming the slice that failed; the values read before it stay in `into`.
 */
export async function readRemainingSlices(
  fetch: SliceFetcher,
  attribute: string,
  from: number,
  size: number | undefined,
  into: string[],
): Promise<number> {
  let lo = from;
  for (let n = 1; n <= MAX_SLICES; n++) {
    let entry: Entry | undefined;
    try {
      entry = await fetch(rangeDescription(attribute, lo, size));
    } catch (err) {
      throw new RangeReadError(lo, err instanceof Error ? err.message : String(err));
    }
    if (!entry)
      throw new RangeReadError(lo, 'the entry was not returned (deleted or moved during the read?)');
    const got = rangedValues(entry, attribute);
    if (!got) throw new RangeReadError(lo, `the server returned no ${attribute};range= values`);
    if (got.slice.lo !== lo) {
      throw new RangeReadError(
        lo,
        `the server answered with ${got.description} instead of a slice from ${lo}`,
      );
    }
    into.push(...got.values);
    if (got.slice.hi === '*') return n;
    lo = got.slice.hi + 1;
  }
  throw new RangeReadError(lo, `more than ${MAX_SLICES} slices`);
}

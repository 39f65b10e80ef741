import { MAX_PAGE_SIZE } from '../devin/schemas.js';
import { invalid } from './problems.js';

/**
 * A set of string keys kept sorted (code-unit order), so a page is a binary search plus a slice.
 * Insert/delete are O(n) memmoves, which is cheap next to an HTTP round trip even at 100k keys.
 */
export class SortedKeys {
  private keys: string[];

  constructor(keys: Iterable<string> = []) {
    this.keys = [...new Set(keys)].sort(compareKeys);
  }

  get size(): number {
    return this.keys.length;
  }

  /** First index whose key is >= k. */
  private lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose key is > k. */
  upperBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(k: string): boolean {
    return this.keys[this.lowerBound(k)] === k;
  }

  add(k: string): boolean {
    const i = this.lowerBound(k);
    if (this.keys[i] === k) return false;
    this.keys.splice(i, 0, k);
    return true;
  }

  delete(k: string): boolean {
    const i = this.lowerBound(k);
    if (this.keys[i] !== k) return false;
    this.keys.splice(i, 1);
    return true;
  }

  slice(start: number, end: number): string[] {
    return this.keys.slice(start, end);
  }

  values(): readonly string[] {
    return this.keys;
  }
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface PageRequest {
  /** The sort key of the last item already seen (decoded from the cursor), or null for page one. */
  afterKey: string | null;
  first: number;
}

export interface PageResult<T> {
  items: T[];
  /** Sort key of the last item on this page when there is a next page, else null. */
  lastKey: string | null;
  hasNext: boolean;
  total: number;
}

/**
 * Keyset pagination: the page holds keys strictly greater than the cursor's key, so concurrent
 * inserts and deletes never make a walk skip or repeat an item that existed throughout.
 */
export function pageOf<T>(keys: SortedKeys, req: PageRequest, map: (key: string) => T): PageResult<T> {
  const start = req.afterKey === null ? 0 : keys.upperBound(req.afterKey);
  const end = Math.min(start + req.first, keys.size);
  const slice = keys.slice(start, end);
  const hasNext = end < keys.size;
  return {
    items: slice.map(map),
    lastKey: hasNext ? (slice[slice.length - 1] ?? null) : null,
    hasNext,
    total: keys.size,
  };
}

/** A page over an explicit (already filtered, sorted) list, e.g. the 0-or-1 result of an email filter. */
export function pageOfList<T>(
  keys: readonly string[],
  req: PageRequest,
  map: (key: string) => T,
): PageResult<T> {
  return pageOf(new SortedKeys(keys), req, map);
}

export const DEFAULT_PAGE_SIZE = 100;

/** `first`: an integer 1–200, default 100. Anything else is a 422. */
export function parseFirst(raw: unknown): number {
  if (raw === undefined) return DEFAULT_PAGE_SIZE;
  const msg = `first must be an integer between 1 and ${MAX_PAGE_SIZE}`;
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) throw invalid(['query', 'first'], msg, 'int_parsing');
  const n = Number(raw);
  if (n < 1) throw invalid(['query', 'first'], msg, 'greater_than_equal');
  if (n > MAX_PAGE_SIZE) throw invalid(['query', 'first'], msg, 'less_than_equal');
  return n;
}

interface CursorPayload {
  v: 1;
  /** The list the cursor belongs to: the request path without the version prefix. */
  r: string;
  /** Sort key of the last item returned. */
  k: string;
}

export function encodeCursor(list: string, lastKey: string): string {
  const payload: CursorPayload = { v: 1, r: list, k: lastKey };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/**
 * Decodes `after`. Garbage, or a cursor minted by another list, is a 422: the real API documents
 * the cursor as opaque, and silently restarting a walk would make a client loop or miss items.
 */
export function decodeCursor(raw: unknown, list: string): string | null {
  if (raw === undefined) return null;
  const bad = (why: string) => invalid(['query', 'after'], `invalid cursor: ${why}`, 'value_error');
  if (typeof raw !== 'string') throw bad('expected a single value');
  if (raw === '' || !/^[A-Za-z0-9_-]+={0,2}$/.test(raw)) throw bad('not a cursor returned by this API');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor returned by this API');
  }
  if (
    typeof payload !== 'object' ||
    payload === null ||
    (payload as CursorPayload).v !== 1 ||
    typeof (payload as CursorPayload).r !== 'string' ||
    typeof (payload as CursorPayload).k !== 'string'
  )
    throw bad('not a cursor returned by this API');
  const p = payload as CursorPayload;
  if (p.r !== list) throw bad('the cursor belongs to a different list');
  return p.k;
}

// JSON text in pieces, for documents too big to hold as one string. The JSON report of a
// 100,000-op plan is some 68 million characters, and since its reasons hold a "→" V8 stores it with
// two bytes a character: 136 MB for the string, as much again when its trailing newline's cons
// string is flattened for gzip, 68 MB more for the UTF-8 Buffer gzip makes of it, on top of a
// canonical copy of every op. Written piece by piece into a gzip stream (gzipChunks) none of that
// exists at once: the pieces are an op each, and only the compressed bytes add up.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, type ZlibOptions } from 'node:zlib';

/** An array whose elements are made (mapped) only as they are written. */
export class Mapped<T, U> {
  constructor(
    readonly items: readonly T[],
    readonly map: (item: T) => U,
  ) {}

  /** Written whole (below the streamed depth), it is the mapped array. */
  toJSON(): U[] {
    return this.items.map(this.map);
  }
}

const hasToJson = (v: unknown): boolean =>
  v !== null &&
  typeof v === 'object' &&
  !(v instanceof Mapped) &&
  typeof (v as { toJSON?: unknown }).toJSON === 'function';

const isPlain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * The text of `JSON.stringify(value, null, space)`, byte for byte, in pieces: objects and arrays
 * down to `depth` levels are written member by member (a `Mapped` as the array it stands for),
 * anything deeper in one piece by JSON.stringify itself. Values JSON.stringify would call toJSON
 * on (called here without the key), and objects that are not plain, are always written in one
 * piece, as it writes them.
 */
export function* jsonChunks(value: unknown, space = '', depth = 1, indent = ''): Generator<string> {
  if (value instanceof Mapped) {
    yield* arrayChunks(value.items.length, (i) => value.map(value.items[i]), space, depth, indent);
    return;
  }
  if (depth <= 0 || value === null || typeof value !== 'object' || hasToJson(value)) {
    yield whole(value, space, indent) ?? 'null';
    return;
  }
  if (Array.isArray(value)) {
    const items: readonly unknown[] = value;
    yield* arrayChunks(items.length, (i) => items[i], space, depth, indent);
    return;
  }
  if (!isPlain(value)) {
    yield whole(value, space, indent) ?? 'null';
    return;
  }
  const record = value as Record<string, unknown>;
  const inner = indent + space;
  let first = true;
  for (const key of Object.keys(record)) {
    const v = record[key];
    // Members JSON.stringify leaves out: undefined, functions, symbols, and a toJSON that says undefined.
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    const head = `${first ? '{' : ','}${space ? `\n${inner}` : ''}${JSON.stringify(key)}:${space ? ' ' : ''}`;
    if (hasToJson(v)) {
      const text = whole(v, space, inner);
      if (text === undefined) continue;
      first = false;
      yield head + text;
      continue;
    }
    first = false;
    yield head;
    yield* jsonChunks(v, space, depth - 1, inner);
  }
  yield first ? '{}' : space ? `\n${indent}}` : '}';
}

function* arrayChunks(
  length: number,
  at: (i: number) => unknown,
  space: string,
  depth: number,
  indent: string,
): Generator<string> {
  if (length === 0) {
    yield '[]';
    return;
  }
  const inner = indent + space;
  for (let i = 0; i < length; i++) {
    yield `${i === 0 ? '[' : ','}${space ? `\n${inner}` : ''}`;
    const v = at(i);
    // Elements JSON.stringify writes as null.
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') yield 'null';
    else yield* jsonChunks(v, space, depth - 1, inner);
  }
  yield space ? `\n${indent}]` : ']';
}

/** JSON.stringify of a value written at `indent` (its inner lines shifted to that depth). */
function whole(value: unknown, space: string, indent: string): string | undefined {
  const text: string | undefined = JSON.stringify(value, null, space);
  if (text === undefined || !space || !indent) return text;
  // JSON text has no raw line breaks inside strings: every one is layout.
  return text.replaceAll('\n', `\n${indent}`);
}

/** Pieces joined into writes of about this many characters (a zlib call each). */
const BATCH_CHARS = 64 * 1024;

function* batched(chunks: Iterable<string>): Generator<string> {
  let batch = '';
  for (const c of chunks) {
    batch += c;
    if (batch.length >= BATCH_CHARS) {
      yield batch;
      batch = '';
    }
  }
  if (batch) yield batch;
}

/**
 * The gzip of the pieces' UTF-8 text, as gzip() of their concatenation would make it, without
 * ever holding that concatenation. Compression runs off the event loop as gzip() does.
 */
export async function gzipChunks(chunks: Iterable<string>, options: ZlibOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    Readable.from(batched(chunks), { objectMode: false }),
    createGzip(options),
    async (source: AsyncIterable<Buffer>) => {
      for await (const b of source) parts.push(b);
    },
  );
  return Buffer.concat(parts);
}

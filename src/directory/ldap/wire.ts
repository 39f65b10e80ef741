// Search result entries decoded straight off the wire for the full read (search.ts), ahead of
// ldapts' message parser. Profiled at 100,000 users, ldapts spent more on each entry than the
// reader did: a BER reader and a message object per entry, an Attribute, a Buffer view and a
// fatal TextDecoder call per value, and the Buffer views for the garbage collector to trace.
//
// Only what this decodes is taken from ldapts: well-formed SearchResultEntry messages of the one
// search in flight, without controls. Every other message (the search's result with its paging
// cookie, references, notices), and any entry that is not exactly as expected, is handed to
// ldapts' own parser as the complete message it is, so ldapts still answers for everything it
// answered for: errors, controls, the request's promise. Values are decoded as ldapts decodes them
// (RawEntry, entry.ts): text when the bytes are UTF-8, else the bytes; a leading BOM dropped, as
// its TextDecoder drops it; `;binary` attributes and the explicit buffer attributes as bytes.
import type { RawAttribute, RawEntry } from './entry.js';

/** ldapts' MessageParser as the client's socket handler calls it. */
export interface MessageReader {
  read(data: Buffer, messageDetailsByMessageId: unknown): void;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const SET = 0x31;
const SEARCH_RESULT_ENTRY = 0x64;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

const MAX_KNOWN_TYPES = 32;

/** An attribute type as decoded, with the bytes it came as. */
interface KnownType {
  bytes: Buffer;
  type: string;
  binary: boolean;
  /** One of the explicit buffer attributes (exact spelling, as ldapts compares them). */
  explicit: boolean;
}

/**
 * Stands in for the client's message parser while one search request is in flight: frames the
 * incoming bytes into LDAP messages, decodes that request's entries itself (to `onEntry`) and
 * passes every other message, complete, to ldapts' parser. `detach` gives ldapts back anything
 * not yet framed.
 */
export class EntryWire implements MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the message being collected needs in all, once its header is read. */
  private needed = 0;
  /** Something unexpected in the framing: from then on ldapts parses everything itself. */
  private passthrough = false;
  private readonly bufferTypes: ReadonlySet<string>;
  private readonly types: KnownType[] = [];

  constructor(
    private readonly ldapts: MessageReader,
    private readonly messageId: number,
    explicitBufferAttributes: readonly string[],
    private readonly onEntry: (entry: RawEntry) => void,
  ) {
    this.bufferTypes = new Set(explicitBufferAttributes);
  }

  read(data: Buffer, details: unknown): void {
    if (this.passthrough) {
      this.ldapts.read(data, details);
      return;
    }
    this.chunks.push(data);
    this.buffered += data.length;
    // A message larger than a socket read (a group with thousands of members) is joined once,
    // when it is all there, not once per read.
    if (this.buffered < this.needed) return;
    const buf =
      this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    this.needed = 0;
    let off = 0;
    while (off < buf.length) {
      const content = messageHeader(buf, off);
      if (content === -1) {
        // Not an LDAP message frame as expected: ldapts decides what it is.
        this.passthrough = true;
        this.ldapts.read(buf.subarray(off), details);
        return;
      }
      if (content === INCOMPLETE || tlvEnd > buf.length) {
        this.needed = content === INCOMPLETE ? 0 : tlvEnd - off;
        break;
      }
      const end = tlvEnd;
      if (!this.decodeEntry(buf, content, end)) this.ldapts.read(buf.subarray(off, end), details);
      off = end;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.chunks.push(rest);
      this.buffered = rest.length;
    }
  }

  /** ldapts reads on: bytes of a message not yet complete go to its parser. */
  detach(details: unknown): void {
    if (this.buffered > 0) this.ldapts.read(Buffer.concat(this.chunks, this.buffered), details);
    this.chunks = [];
    this.buffered = 0;
  }

  /** One message's content (messageID onwards); false: not one of ours to decode, or not as expected. */
  private decodeEntry(buf: Buffer, start: number, end: number): boolean {
    let p = start;
    if (buf[p] !== INTEGER) return false;
    const idLength = buf[p + 1] as number;
    if (idLength < 1 || idLength > 4 || p + 2 + idLength > end) return false;
    let id = 0;
    for (let k = 0; k < idLength; k++) id = id * 256 + (buf[p + 2 + k] as number);
    if (id !== this.messageId) return false;
    p += 2 + idLength;
    if (buf[p] !== SEARCH_RESULT_ENTRY) return false;
    const op = body(buf, p, end);
    // Controls after the entry: ldapts reads those.
    if (op < 0 || tlvEnd !== end) return false;
    if (buf[op] !== OCTET_STRING) return false;
    const nameStart = body(buf, op, end);
    if (nameStart < 0) return false;
    const nameEnd = tlvEnd;
    if (buf[nameEnd] !== SEQUENCE) return false;
    const listStart = body(buf, nameEnd, end);
    if (listStart < 0 || tlvEnd !== end) return false;
    const attributes: RawAttribute[] = [];
    for (let q = listStart; q < end; ) {
      if (buf[q] !== SEQUENCE) return false;
      const attributeStart = body(buf, q, end);
      if (attributeStart < 0) return false;
      const attributeEnd = tlvEnd;
      if (buf[attributeStart] !== OCTET_STRING) return false;
      const typeStart = body(buf, attributeStart, attributeEnd);
      if (typeStart < 0) return false;
      const typeEnd = tlvEnd;
      const parsed = this.decodeAttribute(buf, this.typeAt(buf, typeStart, typeEnd), typeEnd, attributeEnd);
      if (parsed === undefined) return false;
      attributes.push(parsed);
      q = attributeEnd;
    }
    this.onEntry({ name: buf.toString('utf8', nameStart, nameEnd), attributes });
    return true;
  }

  /**
   * The attribute type at these bytes. Every entry of a search repeats the same few types, so
   * they are decoded once and recognised by their bytes after that (a string fewer per value
   * read, and one decoding call fewer).
   */
  private typeAt(buf: Buffer, start: number, end: number): KnownType {
    const n = end - start;
    next: for (const known of this.types) {
      const bytes = known.bytes;
      if (bytes.length !== n) continue;
      for (let k = 0; k < n; k++) if (bytes[k] !== buf[start + k]) continue next;
      return known;
    }
    const type = buf.toString('utf8', start, end);
    const known: KnownType = {
      bytes: Buffer.from(buf.subarray(start, end)),
      type,
      // As ldapts' Attribute: values of a `;binary` attribute are never decoded.
      binary: /;binary$/i.test(type),
      explicit: this.bufferTypes.has(type),
    };
    // Range options (member;range=0-1499) make types that do not repeat: the list stays short.
    if (this.types.length < MAX_KNOWN_TYPES) this.types.push(known);
    return known;
  }

  /** The value set from `start` to `end` (the attribute's end); undefined if not as expected. */
  private decodeAttribute(
    buf: Buffer,
    known: KnownType,
    start: number,
    end: number,
  ): RawAttribute | undefined {
    const type = known.type;
    const values: Array<string | Buffer> = [];
    if (start === end) return { type, values };
    if (buf[start] !== SET) return undefined;
    const setStart = body(buf, start, end);
    if (setStart < 0 || tlvEnd !== end) return undefined;
    const binary = known.binary;
    let needBuffers = binary || known.explicit;
    for (let v = setStart; v < end; ) {
      if (buf[v] !== OCTET_STRING) return undefined;
      const valueStart = body(buf, v, end);
      if (valueStart < 0) return undefined;
      const valueEnd = tlvEnd;
      v = valueEnd;
      if (binary) {
        values.push(buf.subarray(valueStart, valueEnd));
        continue;
      }
      const text = buf.toString('utf8', valueStart, valueEnd);
      // Decoded leniently; only a value whose text shows a replacement character or starts with
      // a BOM can differ from ldapts' fatal decoder, and that one is decoded its way.
      if (text.length > 0 && (text.charCodeAt(0) === 0xfeff || text.includes('\uFFFD'))) {
        const bytes = buf.subarray(valueStart, valueEnd);
        try {
          values.push(fatalUtf8.decode(bytes));
        } catch {
          values.push(bytes);
          needBuffers = true;
        }
      } else {
        values.push(text);
      }
    }
    if (!needBuffers) return { type, values };
    const parsedBuffers: Buffer[] = [];
    for (let v = setStart; v < end; v = tlvEnd) {
      const valueStart = body(buf, v, end);
      parsedBuffers.push(buf.subarray(valueStart, tlvEnd));
    }
    return { type, values, parsedBuffers };
  }
}

const INCOMPLETE = -2;

/** Set by messageHeader and body: one past the last byte of the element just read. */
let tlvEnd = 0;

/**
 * The LDAPMessage frame at `off`: the offset of its content (tlvEnd: its end, which may lie beyond
 * the bytes at hand), -1 if it is not one, INCOMPLETE if its header is cut off.
 */
function messageHeader(buf: Buffer, off: number): number {
  if (buf[off] !== SEQUENCE) return -1;
  if (off + 2 > buf.length) return INCOMPLETE;
  const first = buf[off + 1] as number;
  if (first < 0x80) {
    tlvEnd = off + 2 + first;
    return off + 2;
  }
  const n = first & 0x7f;
  // Indefinite lengths and lengths over 4 bytes: ldapts refuses them with its own error.
  if (n === 0 || n > 4) return -1;
  if (off + 2 + n > buf.length) return INCOMPLETE;
  let length = 0;
  for (let k = 0; k < n; k++) length = length * 256 + (buf[off + 2 + k] as number);
  tlvEnd = off + 2 + n + length;
  return off + 2 + n;
}

/**
 * The content offset of the element at `p` (any tag; tlvEnd: its end), or -1 when its length
 * is malformed or it does not end by `limit`. A scratch variable, not an object per element:
 * this runs for every value of every entry.
 */
function body(buf: Buffer, p: number, limit: number): number {
  if (p + 2 > limit) return -1;
  const first = buf[p + 1] as number;
  let start: number;
  let length: number;
  if (first < 0x80) {
    start = p + 2;
    length = first;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || p + 2 + n > limit) return -1;
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + (buf[p + 2 + k] as number);
    start = p + 2 + n;
  }
  tlvEnd = start + length;
  return tlvEnd > limit ? -1 : start;
}

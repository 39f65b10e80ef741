// wire.ts decodes a search's entries ahead of ldapts' parser and hands it everything else. Held
// against ldapts' own MessageParser on the same byte stream: random entries (long and short BER
// lengths, values that are not UTF-8, a BOM, ;binary types, explicit buffer attributes, no
// attributes at all), mixed with another request's entries, entries carrying controls and the
// search's result, cut into random socket reads. Every entry must read the same through both
// (entry.ts's reader), and every message wire.ts does not decode must reach ldapts whole.
import fc from 'fast-check';
import { BerWriter, Control, MessageParser, SearchEntry, SearchResponse } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { type RawEntry, RawEntryReader } from '../../../../src/directory/ldap/entry.js';
import { EntryWire } from '../../../../src/directory/ldap/wire.js';

const OURS = 7;

/** What ldapts' parser emits (its MessageResponse type is not exported). */
type MessageResponse = { messageId: number };

interface EntrySpec {
  messageId: number;
  dn: Buffer;
  attributes: Array<[string, Buffer[]]>;
  withControl: boolean;
}

function encodeEntry(e: EntrySpec): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(e.messageId);
  w.startSequence(0x64);
  w.writeBuffer(e.dn, 0x04);
  w.startSequence();
  for (const [type, values] of e.attributes) {
    w.startSequence();
    w.writeString(type);
    w.startSequence(0x31);
    for (const v of values) w.writeBuffer(v, 0x04);
    w.endSequence();
    w.endSequence();
  }
  w.endSequence();
  w.endSequence();
  if (e.withControl) {
    w.startSequence(0xa0);
    new Control('1.2.3.4', { critical: false }).write(w);
    w.endSequence();
  }
  w.endSequence();
  return w.buffer;
}

/** SearchResultDone, success. */
function encodeDone(messageId: number): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  w.startSequence(0x65);
  w.writeEnumeration(0);
  w.writeString('');
  w.writeString('');
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

const bytes = fc.oneof(
  fc.constantFrom(
    Buffer.from('alice'),
    Buffer.from('Zoë 山田'),
    Buffer.from([0xef, 0xbb, 0xbf, 0x61]),
    Buffer.from([0xff, 0xfe]),
    Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate written as UTF-8: not UTF-8
    Buffer.from('\uFFFD', 'utf8'), // a real replacement character, valid UTF-8
    Buffer.alloc(0),
  ),
  fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 120, max: 600 }).map((n) => Buffer.alloc(n, 0x61)), // long-form lengths
);
const types = fc.constantFrom('cn', 'member', 'objectGUID', 'objectguid', 'userCertificate;binary', 'mail');
const entrySpec = fc.record({
  messageId: fc.constantFrom(OURS, OURS, OURS, 8),
  dn: fc.oneof(fc.constant(Buffer.from('uid=a,ou=people,dc=example,dc=com')), bytes),
  attributes: fc.uniqueArray(fc.tuple(types, fc.array(bytes, { maxLength: 3 })), {
    selector: ([t]) => t,
    maxLength: 5,
  }),
  withControl: fc.boolean(),
});

function chunked(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    if (p > prev) out.push(stream.subarray(prev, p));
    prev = p;
  }
  return out;
}

const NAMES = ['cn', 'CN', 'member', 'objectGUID', 'objectguid', 'userCertificate;binary', 'mail', 'none'];

function sameEntry(ours: RawEntry, theirs: SearchEntry, explicit: string[]): void {
  expect(ours.name).toBe(theirs.name);
  expect(ours.attributes.map((a) => a.type)).toEqual(theirs.attributes.map((a) => a.type));
  const mine = new RawEntryReader(explicit);
  for (const name of NAMES) {
    expect(mine.value(ours, name)).toEqual(mine.value(theirs, name));
    expect(mine.strings(ours, name)).toEqual(mine.strings(theirs, name));
  }
}

describe('EntryWire', () => {
  it('decodes its request’s entries as ldapts does and hands ldapts every other message whole', () => {
    fc.assert(
      fc.property(
        fc.array(entrySpec, { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.subarray(['objectGUID', 'objectguid', 'cn']),
        (specs, cuts, explicit) => {
          const stream = Buffer.concat([...specs.map(encodeEntry), encodeDone(OURS)]);

          // ldapts alone.
          const reference: MessageResponse[] = [];
          const alone = new MessageParser();
          alone.on('message', (m: MessageResponse) => reference.push(m));
          for (const chunk of chunked(stream, cuts)) alone.read(chunk, new Map());

          // wire.ts in front of another ldapts parser.
          const decoded: RawEntry[] = [];
          const passed: MessageResponse[] = [];
          const behind = new MessageParser();
          behind.on('message', (m: MessageResponse) => passed.push(m));
          const wire = new EntryWire(behind, OURS, explicit, (e) => decoded.push(e));
          for (const chunk of chunked(stream, cuts)) wire.read(chunk, new Map());
          wire.detach(new Map());

          const expectedDecoded = specs.flatMap((s, i) =>
            s.messageId === OURS && !s.withControl ? [reference[i] as SearchEntry] : [],
          );
          expect(decoded).toHaveLength(expectedDecoded.length);
          decoded.forEach((e, i) => {
            sameEntry(e, expectedDecoded[i] as SearchEntry, explicit);
          });
          const expectedPassed = reference.filter(
            (m, i) => !(m instanceof SearchEntry) || specs[i]?.messageId !== OURS || specs[i]?.withControl,
          );
          expect(passed.map((m) => [m.constructor.name, m.messageId])).toEqual(
            expectedPassed.map((m) => [m.constructor.name, m.messageId]),
          );
          expect(passed.at(-1)).toBeInstanceOf(SearchResponse);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('joins a message spread over many reads (3-byte BER lengths)', () => {
    const big = encodeEntry({
      messageId: OURS,
      dn: Buffer.from('cn=big'),
      attributes: [['member', Array.from({ length: 3000 }, (_, i) => Buffer.from(`uid=user${i},ou=people`))]],
      withControl: false,
    });
    const decoded: RawEntry[] = [];
    const wire = new EntryWire(new MessageParser(), OURS, [], (e) => decoded.push(e));
    for (let off = 0; off < big.length; off += 1000) wire.read(big.subarray(off, off + 1000), new Map());
    expect(decoded).toHaveLength(1);
    expect(new RawEntryReader([]).strings(decoded[0] as RawEntry, 'member')).toHaveLength(3000);
  });

  it('leaves a stream it cannot frame to ldapts from there on', () => {
    const got: MessageResponse[] = [];
    const behind = new MessageParser();
    behind.on('message', (m: MessageResponse) => got.push(m));
    behind.on('error', () => undefined);
    const decoded: RawEntry[] = [];
    const wire = new EntryWire(behind, OURS, [], (e) => decoded.push(e));
    const entry = encodeEntry({
      messageId: OURS,
      dn: Buffer.from('cn=a'),
      attributes: [['cn', [Buffer.from('a')]]],
      withControl: false,
    });
    wire.read(Buffer.concat([entry, Buffer.from([0x04, 0x00]), encodeDone(OURS)]), new Map());
    expect(decoded.map((e) => e.name)).toEqual(['cn=a']);
    // What follows the junk is ldapts' to make sense of (it skips nothing): no entry invented.
    expect(got.some((m) => m instanceof SearchEntry)).toBe(false);
  });

  it('keeps values of explicit buffer attributes as bytes, as ldapts does', () => {
    const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const decoded: RawEntry[] = [];
    const wire = new EntryWire(new MessageParser(), OURS, ['objectGUID'], (e) => decoded.push(e));
    wire.read(
      encodeEntry({
        messageId: OURS,
        dn: Buffer.from('cn=a'),
        attributes: [['objectGUID', [guid]]],
        withControl: false,
      }),
      new Map(),
    );
    expect(new RawEntryReader(['objectGUID']).value(decoded[0] as RawEntry, 'objectGUID')).toEqual(guid);
  });
});

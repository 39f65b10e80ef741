// The full read looks values up in entries as ldapts parses them (entry.ts: RawEntryReader,
// rawRangedValues), not in toObject's result; validate's probe still reads toObject's result with
// attr() and strings(). The two must read every entry alike, or validate could pass a directory
// the sync then reads differently. Entries here go through ldapts' own BER writer and parser, so
// values that are not UTF-8 come back as Buffers exactly as from a server, and each lookup is
// compared with what attr()/strings()/idValue()/rangedValues() find in toObject's result, for
// random attribute names (case variants, range options), values (invalid UTF-8, a BOM, empty),
// requested attributes and explicit buffer attributes.
import fc from 'fast-check';
import { Attribute, BerReader, BerWriter, Client, SearchEntry } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { normalizeDirectoryId } from '../../../../src/directory/ids.js';
import {
  asRawEntry,
  attr,
  idValue,
  RawEntryReader,
  strings,
  type Value,
} from '../../../../src/directory/ldap/entry.js';
import { guidFromBytes } from '../../../../src/directory/ldap/guid.js';
import { rangedValues, rawRangedValues } from '../../../../src/directory/ldap/ranges.js';
import { readsRaw } from '../../../../src/directory/ldap/search.js';

/** An Attribute as ldapts' parser builds it from the wire (decoded values, and the raw bytes). */
function parsed(type: string, values: Buffer[]): Attribute {
  const writer = new BerWriter();
  new Attribute({ type, values }).write(writer);
  const attribute = new Attribute();
  attribute.parse(new BerReader(writer.buffer));
  return attribute;
}

const NAMES = [
  'member',
  'Member',
  'member;range=0-1',
  'Member;Range=2-*',
  'objectGUID',
  'objectguid',
  'entryUUID',
  'cn',
  'CN',
  'memberOf',
  'mail',
];
const bytes = fc.oneof(
  fc.constantFrom(
    Buffer.from('alice'),
    Buffer.from(' spaced '),
    Buffer.from('uid=a,ou=people,dc=example,dc=com'),
    Buffer.from([0xef, 0xbb, 0xbf, 0x61]), // a BOM, which the decoder drops and toString keeps
    Buffer.from([0xff, 0xfe, 0x00]), // not UTF-8
    Buffer.from('33221100-5544-7766-8899-aabbccddeeff'),
    Buffer.alloc(0),
  ),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
);
const entryArb = fc.record({
  attributes: fc.uniqueArray(fc.tuple(fc.constantFrom(...NAMES), fc.array(bytes, { maxLength: 3 })), {
    selector: ([type]) => type,
    maxLength: 6,
  }),
  requested: fc.subarray(['member', 'objectGUID', 'entryUUID', 'cn', 'memberOf', 'mail']),
  explicit: fc.subarray(['objectGUID', 'objectguid', 'entryUUID']),
});

/** toObject's `[]` for a requested attribute that did not come reads like one that is absent. */
const absentAsUndefined = (v: Value | undefined): Value | undefined =>
  Array.isArray(v) && v.length === 0 ? undefined : v;

describe('entries as parsed read like toObject results', () => {
  it('every lookup gives the same value, strings, id and ranged values', () => {
    fc.assert(
      fc.property(entryArb, ({ attributes, requested, explicit }) => {
        const raw = new SearchEntry({
          messageId: 1,
          name: 'cn=x,dc=example',
          attributes: attributes.map(([type, values]) => parsed(type, values)),
        });
        const object = raw.toObject(requested, explicit);
        const reader = new RawEntryReader(explicit);
        // The same entry through the fallback (a client without ldapts' internals).
        const converted = asRawEntry(object);
        const plain = new RawEntryReader([]);
        for (const name of [...NAMES, 'memberof', 'MAIL', 'absent']) {
          const expected = absentAsUndefined(attr(object, name));
          expect(absentAsUndefined(reader.value(raw, name))).toEqual(expected);
          expect(absentAsUndefined(plain.value(converted, name))).toEqual(expected);
          expect([...reader.strings(raw, name)]).toEqual(strings(attr(object, name)));
          expect([...plain.strings(converted, name)]).toEqual(strings(attr(object, name)));
          expect(idValue(reader.value(raw, name), name)).toBe(idValue(attr(object, name), name));
        }
        for (const name of ['member', 'MEMBER', 'memberOf']) {
          expect(rawRangedValues(raw, name)).toEqual(rangedValues(object, name));
          expect(rawRangedValues(converted, name)).toEqual(rangedValues(object, name));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the ldapts in use', () => {
  it('still has the internals the raw path uses (else reads fall back to toObject, correct but slower)', () => {
    expect(readsRaw(new Client({ url: 'ldap://127.0.0.1:1' }))).toBe(true);
  });
});

describe('per-entry fast paths give what the general code gives', () => {
  it('guidFromBytes: the first three fields little-endian, the rest in order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const hex = (idx: number[]) => Buffer.from(idx.map((k) => b[k] as number)).toString('hex');
        const expected = [
          hex([3, 2, 1, 0]),
          hex([5, 4]),
          hex([7, 6]),
          hex([8, 9]),
          hex([10, 11, 12, 13, 14, 15]),
        ];
        expect(guidFromBytes(b)).toBe(expected.join('-'));
      }),
    );
  });

  it('a text id is canonical exactly as normalizeDirectoryId makes it', () => {
    const hexChar = fc.constantFrom(...'0123456789abcdefABCDEF-{} g'.split(''));
    const guidLike = fc.oneof(
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid().map((u) => `{${u}}`),
      fc.uuid().map((u) => ` ${u} `),
      fc.string({ unit: hexChar, minLength: 30, maxLength: 40 }),
    );
    fc.assert(
      fc.property(guidLike, (id) => {
        const trimmed = id.trim();
        expect(idValue(id, 'entryUUID')).toBe(trimmed === '' ? undefined : normalizeDirectoryId(trimmed));
      }),
    );
  });
});

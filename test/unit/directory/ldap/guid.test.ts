// objectGUID bytes ↔ the GUID string AD tools show (first three fields little-endian).
import { describe, expect, it } from 'vitest';
import { GuidError, guidFromBytes, guidToBytes } from '../../../../src/directory/ldap/guid.js';

describe('objectGUID', () => {
  it('reads the first three fields little-endian and the rest in order', () => {
    const bytes = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    expect(guidFromBytes(bytes)).toBe('33221100-5544-7766-8899-aabbccddeeff');
  });

  it('matches what PowerShell shows for a real objectGUID', () => {
    // [guid]'3f2504e0-4f89-11d3-9a0c-0305e82c3301'.ToByteArray()
    const bytes = Uint8Array.from([
      0xe0, 0x04, 0x25, 0x3f, 0x89, 0x4f, 0xd3, 0x11, 0x9a, 0x0c, 0x03, 0x05, 0xe8, 0x2c, 0x33, 0x01,
    ]);
    expect(guidFromBytes(bytes)).toBe('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
  });

  it('round-trips through guidToBytes, accepting braces and upper case', () => {
    const guid = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
    expect(guidFromBytes(guidToBytes(`{${guid.toUpperCase()}}`))).toBe(guid);
  });

  it('rejects anything but 16 bytes, and malformed strings', () => {
    expect(() => guidFromBytes(Buffer.alloc(15))).toThrow(GuidError);
    expect(() => guidFromBytes(Buffer.alloc(17))).toThrow('an objectGUID is 16 bytes, found 17');
    expect(() => guidToBytes('not-a-guid')).toThrow(GuidError);
  });
});

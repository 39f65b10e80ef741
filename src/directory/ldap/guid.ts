// Active Directory's objectGUID is 16 raw bytes. Its usual string form (what PowerShell, ADSI
// Edit and Entra Connect show) reads the first three fields little-endian, so the bytes are not
// simply hex-printed in order: bytes 00 11 22 33 44 55 66 77 ... print as 33221100-5544-7766-....

export class GuidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuidError';
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** 16 objectGUID bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case. */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new GuidError(`an objectGUID is 16 bytes, found ${bytes.length}`);
  }
  const b = bytes;
  const le = (...idx: number[]) => hex(Uint8Array.from(idx.map((k) => b[k] as number)));
  return [le(3, 2, 1, 0), le(5, 4), le(7, 6), hex(b.subarray(8, 10)), hex(b.subarray(10, 16))].join('-');
}

const GUID = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** The inverse: a GUID string → the 16 bytes AD stores (for a filter such as `(objectGUID=\33\22...)`). */
export function guidToBytes(guid: string): Buffer {
  const m = GUID.exec(guid.trim());
  if (!m)
    throw new GuidError(
      `expected a GUID such as 33221100-5544-7766-8899-aabbccddeeff, found ${JSON.stringify(guid)}`,
    );
  const [, a, b, c, d, e] = m as unknown as [string, string, string, string, string, string];
  const rev = (h: string) => Buffer.from(h, 'hex').reverse();
  return Buffer.concat([rev(a), rev(b), rev(c), Buffer.from(d, 'hex'), Buffer.from(e, 'hex')]);
}

// Active Directory's objectGUID is 16 raw bytes. Its usual string form (what PowerShell, ADSI
// Edit and Entra Connect show) reads the first three fields little-endian, so the bytes are not
// simply hex-printed in order: bytes 00 11 22 33 44 55 66 77 ... print as 33221100-5544-7766-....

export class GuidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuidError';
  }
}

/** Two lower-case hex digits per byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * 16 objectGUID bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case. Once per user and group
 * of an AD read, so spelled out byte by byte rather than through intermediate buffers.
 */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) {
    throw new GuidError(`an objectGUID is 16 bytes, found ${bytes.length}`);
  }
  const h = (k: number): string => HEX[bytes[k] as number] as string;
  return `${h(3)}${h(2)}${h(1)}${h(0)}-${h(5)}${h(4)}-${h(7)}${h(6)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
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

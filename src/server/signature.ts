// `X-Idsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. Pure functions:
// the clock and the replay memory are the caller's. Signing the timestamp with the body is what
// makes the replay window meaningful: an old body cannot be re-sent under a fresh `t`.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-idsync-signature';
/** How far `t` may be from the server's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

function hmacHex(secret: string, t: number, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

/** The header value a sender puts on a request whose raw body is `body`, signed at `t` (seconds). */
export function signWebhook(secret: string, body: string, t: number): string {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`t must be unix seconds, got ${t}`);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

export interface ParsedSignature {
  t: number;
  /** Every `v1` the header carried (a sender rotating secrets may send one per secret). */
  v1: string[];
}

/**
 * Reads the header. Unknown keys are ignored so a future scheme (`v2=`) can be sent alongside
 * `v1`; a header without a well-formed `t` and at least one well-formed `v1` is undefined.
 */
export function parseSignatureHeader(header: string | undefined): ParsedSignature | undefined {
  if (header === undefined || header.length > 2048) return undefined;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !UNIX_SECONDS.test(value)) return undefined;
      t = Number(value);
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) return undefined;
      v1.push(value.toLowerCase());
    }
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}

export type VerifyResult =
  | {
      ok: true;
      t: number;
      /** The HMAC that matched: what the replay memory keys on (it covers `t` and the body). */
      digest: string;
    }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'future' | 'mismatch' };

export interface VerifyInput {
  secret: string;
  header: string | undefined;
  rawBody: Buffer | string;
  nowSeconds: number;
  toleranceSeconds?: number;
}

export function verifyWebhookSignature(input: VerifyInput): VerifyResult {
  if (input.header === undefined || input.header === '') return { ok: false, reason: 'missing' };
  const parsed = parseSignatureHeader(input.header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const tolerance = input.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS;
  // The window is checked before the HMAC so an old capture is refused without touching the secret.
  if (parsed.t < input.nowSeconds - tolerance) return { ok: false, reason: 'stale' };
  if (parsed.t > input.nowSeconds + tolerance) return { ok: false, reason: 'future' };
  const expectedHex = hmacHex(input.secret, parsed.t, input.rawBody);
  const expected = Buffer.from(expectedHex, 'hex');
  let matched = false;
  for (const candidate of parsed.v1) {
    // Both sides are 32 bytes: the header grammar admits only 64 hex digits.
    const given = Buffer.from(candidate, 'hex');
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true, t: parsed.t, digest: expectedHex } : { ok: false, reason: 'mismatch' };
}

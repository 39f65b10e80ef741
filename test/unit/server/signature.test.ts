import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSignatureHeader, signWebhook, verifyWebhookSignature } from '../../../src/server/signature.js';

const SECRET = 'whsec_unit';
const NOW = 1_750_000_000;

describe('signWebhook', () => {
  it('is t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    const body = '{"reason":"x"}';
    const hex = createHmac('sha256', SECRET).update(`${NOW}.${body}`).digest('hex');
    expect(signWebhook(SECRET, body, NOW)).toBe(`t=${NOW},v1=${hex}`);
  });

  it('refuses a timestamp that is not whole unix seconds', () => {
    expect(() => signWebhook(SECRET, '', 1.5)).toThrow(RangeError);
    expect(() => signWebhook(SECRET, '', -1)).toThrow(RangeError);
  });
});

describe('parseSignatureHeader', () => {
  const hex = 'a'.repeat(64);
  it('reads t and every v1, in any order, ignoring unknown keys', () => {
    expect(parseSignatureHeader(`t=5,v1=${hex}`)).toEqual({ t: 5, v1: [hex] });
    expect(parseSignatureHeader(` v1=${hex.toUpperCase()} , t=5, v2=zz, v1=${'b'.repeat(64)}`)).toEqual({
      t: 5,
      v1: [hex, 'b'.repeat(64)],
    });
  });

  it('rejects what is not exactly the grammar', () => {
    for (const h of [
      undefined,
      '',
      't=5',
      `v1=${hex}`,
      `t=5,v1=${hex.slice(1)}`,
      `t=5,v1=${hex}0`,
      `t=5,v1=${'g'.repeat(64)}`,
      `t=-5,v1=${hex}`,
      `t=5.0,v1=${hex}`,
      `t=1e3,v1=${hex}`,
      `t=5,t=6,v1=${hex}`,
      `t=5;v1=${hex}`,
      `t=5,v1=${hex},junk`,
      `t=5,v1=${hex},${'x'.repeat(3000)}=1`,
    ])
      expect(parseSignatureHeader(h), String(h)).toBeUndefined();
  });
});

describe('verifyWebhookSignature', () => {
  const verify = (header: string | undefined, rawBody: string | Buffer, nowSeconds = NOW) =>
    verifyWebhookSignature({ secret: SECRET, header, rawBody, nowSeconds });

  it('accepts its own signature over the same bytes, as string or Buffer', () => {
    const body = '{"reason":"ünïcode"}';
    const header = signWebhook(SECRET, body, NOW);
    expect(verify(header, body)).toMatchObject({ ok: true, t: NOW });
    expect(verify(header, Buffer.from(body, 'utf8'))).toMatchObject({ ok: true, t: NOW });
  });

  it('holds a 300 s window either way, inclusive', () => {
    const at = (t: number) => verify(signWebhook(SECRET, '{}', t), '{}');
    expect(at(NOW - 300).ok).toBe(true);
    expect(at(NOW + 300).ok).toBe(true);
    expect(at(NOW - 301)).toEqual({ ok: false, reason: 'stale' });
    expect(at(NOW + 301)).toEqual({ ok: false, reason: 'future' });
  });

  it('names why it refused', () => {
    expect(verify(undefined, '{}')).toEqual({ ok: false, reason: 'missing' });
    expect(verify('t=1', '{}')).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(signWebhook('other', '{}', NOW), '{}')).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('accepts when any v1 matches (a sender mid-rotation sends one per secret)', () => {
    const good = signWebhook(SECRET, '{}', NOW).split('v1=')[1];
    expect(verify(`t=${NOW},v1=${'0'.repeat(64)},v1=${good}`, '{}').ok).toBe(true);
  });

  it('the digest it reports depends on t and body, so it can key replay memory', () => {
    const a = verify(signWebhook(SECRET, '{}', NOW), '{}');
    const b = verify(signWebhook(SECRET, '{}', NOW - 1), '{}');
    const c = verify(signWebhook(SECRET, '{ }', NOW), '{ }');
    const digests = [a, b, c].map((r) => (r.ok ? r.digest : undefined));
    expect(new Set(digests).size).toBe(3);
  });

  it('property: any change to the body, the timestamp or the secret breaks the signature', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.nat({ max: 254 }),
        fc.nat(),
        fc.integer({ min: -300, max: 300 }),
        (text, flip, at, skew) => {
          const t = NOW + skew;
          const header = signWebhook(SECRET, text, t);
          // What goes on the wire, and so what the server verifies: the UTF-8 bytes.
          const bytes = Buffer.from(text, 'utf8');
          expect(verify(header, bytes).ok).toBe(true);
          if (bytes.length > 0) {
            const tampered = Buffer.from(bytes);
            const i = at % tampered.length;
            tampered[i] = (tampered[i] ?? 0) ^ (flip + 1);
            expect(verify(header, tampered)).toEqual({ ok: false, reason: 'mismatch' });
          }
          const retimed = header.replace(/^t=\d+/, `t=${t + 1}`);
          expect(verify(retimed, bytes).ok).toBe(false);
          expect(
            verifyWebhookSignature({ secret: `${SECRET}x`, header, rawBody: bytes, nowSeconds: NOW }).ok,
          ).toBe(false);
        },
      ),
    );
  });
});

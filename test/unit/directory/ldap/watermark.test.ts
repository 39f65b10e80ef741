// The pure half of the LDAP watermark (src/directory/ldap/watermark.ts): how two readings compare
// for each kind, where the newest change is found, which naming context is read.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareWatermark,
  contextFor,
  explainChange,
  kindOffered,
  newestTick,
  ORDERED,
  parseCsn,
  parseGeneralizedTime,
  type Watermark,
} from '../../../../src/directory/ldap/watermark.js';

const usn = (value: string, server = 'dsServiceName=CN=NTDS Settings,CN=DC1 invocationId=a'): Watermark => ({
  kind: 'highestCommittedUSN',
  server,
  value,
});
const csn = (time: string, sid = '000', count = '000000') => `${time}Z#${count}#${sid}#000000`;
const ctx = (value: string, server = 'entryUUID=u1'): Watermark => ({ kind: 'contextCSN', server, value });

describe('compareWatermark', () => {
  it('highestCommittedUSN: same, moved, and back is a failover (a DC restored from a backup)', () => {
    expect(compareWatermark(usn('4100'), usn('4100'))).toBe('same');
    expect(compareWatermark(usn('4100'), usn('4101'))).toBe('moved');
    // Numbers, not strings: 999 < 1000.
    expect(compareWatermark(usn('999'), usn('1000'))).toBe('moved');
    expect(compareWatermark(usn('18446744073709551615'), usn('18446744073709551616'))).toBe('moved');
    expect(compareWatermark(usn('4100'), usn('4099'))).toBe('failover');
    expect(explainChange(usn('4100'), usn('4099')).why).toMatch(/went back from 4100 to 4099/);
  });

  it('another DC (dsServiceName or invocationId) is a failover whichever way the USN went', () => {
    const other = 'dsServiceName=CN=NTDS Settings,CN=DC2 invocationId=b';
    expect(compareWatermark(usn('4100'), usn('9000', other))).toBe('failover');
    expect(compareWatermark(usn('4100'), usn('4100', other))).toBe('failover');
    expect(explainChange(usn('1'), usn('2', other)).why).toMatch(/a different server answers .*DC2/);
  });

  it('another kind of watermark (syncprov loaded or removed) is a failover', () => {
    const a = ctx(csn('20240101120000.000001'));
    const b: Watermark = { kind: 'entryCSN', server: 'entryUUID=u1', value: csn('20240101120000.000001') };
    expect(compareWatermark(a, b)).toBe('failover');
  });

  it('contextCSN: per server id; one id going back or gone is a failover even if another moved', () => {
    const one = csn('20240101120000.000001', '001');
    const two = csn('20240101120000.000005', '002');
    const twoLater = csn('20240101120001.000000', '002');
    const oneEarlier = csn('20240101115959.000000', '001');
    expect(compareWatermark(ctx(`${one} ${two}`), ctx(`${two} ${one}`))).toBe('same');
    expect(compareWatermark(ctx(`${one} ${two}`), ctx(`${one} ${twoLater}`))).toBe('moved');
    // A new provider's first change.
    expect(compareWatermark(ctx(one), ctx(`${one} ${two}`))).toBe('moved');
    expect(compareWatermark(ctx(`${one} ${two}`), ctx(`${oneEarlier} ${twoLater}`))).toBe('failover');
    expect(compareWatermark(ctx(`${one} ${two}`), ctx(twoLater))).toBe('failover');
    expect(compareWatermark(ctx(one), ctx(one, 'entryUUID=u2'))).toBe('failover');
  });

  it('a value that is not one of its kind is never taken as "same"', () => {
    expect(compareWatermark(usn('12'), usn('twelve'))).toBe('failover');
    expect(compareWatermark(ctx(csn('20240101120000.000001')), ctx('garbage'))).toBe('failover');
  });

  it('entryCSN and modifyTimestamp order by time, not by spelling', () => {
    const e = (value: string): Watermark => ({ kind: 'entryCSN', server: '', value });
    expect(compareWatermark(e(csn('20240101120000.000001')), e(csn('20240101120000.000002')))).toBe('moved');
    expect(
      compareWatermark(e(csn('20240101120000.000001')), e(csn('20240101120000.000001', '000', '000001'))),
    ).toBe('moved');
    const t = (value: string): Watermark => ({ kind: 'modifyTimestamp', server: '', value });
    expect(compareWatermark(t('20240101120000Z'), t('20240101130000+0100'))).toBe('same');
    expect(compareWatermark(t('20240101120000Z'), t('20240101120001Z'))).toBe('moved');
    expect(compareWatermark(t('20240101120000Z'), t('20231231235959Z'))).toBe('failover');
  });

  it('property: USNs compare as numbers, and compare(a, b) is the mirror of compare(b, a)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.bigInt({ min: 0n, max: 2n ** 64n }), (a, b) => {
        const ab = compareWatermark(usn(String(a)), usn(String(b)));
        const ba = compareWatermark(usn(String(b)), usn(String(a)));
        if (a === b) return ab === 'same' && ba === 'same';
        return a < b ? ab === 'moved' && ba === 'failover' : ab === 'failover' && ba === 'moved';
      }),
    );
  });
});

describe('the values', () => {
  it('parses CSNs and GeneralizedTime', () => {
    expect(parseCsn('20261201233655.367707Z#000000#000#000000')).toEqual({
      micros: Date.UTC(2026, 11, 1, 23, 36, 55) * 1000 + 367707,
      sid: '000',
    });
    expect(parseCsn('20261201233655Z#000000#000#000000')).toBeUndefined();
    expect(parseGeneralizedTime('20240229235959Z')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(parseGeneralizedTime('20240101000000.5Z')).toBe(Date.UTC(2024, 0, 1) + 500);
    expect(parseGeneralizedTime('20240101010000+0100')).toBe(Date.UTC(2024, 0, 1));
    expect(parseGeneralizedTime('yesterday')).toBeUndefined();
  });

  it('the lower bounds sort exactly where the values they bound do', () => {
    const e = ORDERED.entryCSN;
    const value = '20261201233655.367707Z#000000#000#000000';
    const tick = e.tickOf(value) as number;
    expect(e.lowerBound(tick) <= value).toBe(true);
    expect(e.lowerBound(tick + 1) > value).toBe(true);
    const m = ORDERED.modifyTimestamp;
    expect(m.lowerBound(m.tickOf('20240101120000Z') as number)).toBe('20240101120000Z');
    expect(m.newerThan('20240101120000Z')).toBe('20240101120001Z');
    expect(m.isNewer('20240101120000Z', '20240101120000Z')).toBe(false);
    expect(e.isNewer(value, value)).toBe(false);
  });
});

describe('newestTick', () => {
  it('finds the newest tick with a change in about 2·log2(range) probes, wherever the guess is', async () => {
    for (const [lo, newest, guess] of [
      [1_000, 1_000, 5_000],
      [1_000, 4_321, 5_000],
      [1_000, 987_654, 5_000], // the server's clock is ahead of ours
      [1_000, 1_001, 1_000],
    ] as const) {
      let probes = 0;
      const found = await newestTick(lo, guess, async (t) => {
        probes++;
        return t <= newest;
      });
      expect(found).toBe(newest);
      expect(probes).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(Math.max(newest, guess) - lo + 2)) + 2);
    }
  });
});

describe('where and what', () => {
  it('reads the longest naming context that holds both bases', () => {
    const contexts = ['dc=example,dc=com', 'ou=people,dc=example,dc=com', 'dc=other,dc=org'];
    expect(contextFor(contexts, 'ou=People,dc=example,dc=com', 'ou=groups,dc=example,dc=com')).toBe(
      'dc=example,dc=com',
    );
    expect(contextFor(contexts, 'ou=a,ou=People,dc=example,dc=com', 'ou=b,ou=people,DC=Example,dc=com')).toBe(
      'ou=people,dc=example,dc=com',
    );
    expect(contextFor(contexts, 'ou=people,dc=example,dc=com', 'ou=groups,dc=other,dc=org')).toBeUndefined();
    // No namingContexts shown: the bases' common ancestor.
    expect(contextFor([], 'ou=People,DC=Example,dc=com', 'ou=groups,dc=example,dc=com')).toBe(
      'dc=example,dc=com',
    );
  });

  it('prefers contextCSN, then entryCSN, then modifyTimestamp', () => {
    const c = csn('20240101120000.000001');
    expect(kindOffered({ contextCSN: [c], entryCSN: [c], modifyTimestamp: ['20240101120000Z'] })).toBe(
      'contextCSN',
    );
    expect(kindOffered({ contextCSN: [], entryCSN: [c], modifyTimestamp: ['20240101120000Z'] })).toBe(
      'entryCSN',
    );
    expect(kindOffered({ contextCSN: [], entryCSN: [], modifyTimestamp: ['20240101120000Z'] })).toBe(
      'modifyTimestamp',
    );
    expect(kindOffered({ contextCSN: [], entryCSN: [], modifyTimestamp: [] })).toBeUndefined();
  });
});

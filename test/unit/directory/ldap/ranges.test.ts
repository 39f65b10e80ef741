// Range retrieval (`member;range=0-1499`): parsing the option, spotting the ranged key ldapts
// hands over beside an empty `member`, and the slice loop, including a failed slice.
import type { Entry } from 'ldapts';
import { describe, expect, it } from 'vitest';
import {
  parseRangedDescription,
  RangeReadError,
  rangeDescription,
  rangedValues,
  readRemainingSlices,
} from '../../../../src/directory/ldap/ranges.js';

describe('range options', () => {
  it.each([
    ['member;range=0-1499', { attribute: 'member', slice: { lo: 0, hi: 1499 } }],
    ['member;range=1500-*', { attribute: 'member', slice: { lo: 1500, hi: '*' } }],
    ['Member;Range=3000-4499', { attribute: 'Member', slice: { lo: 3000, hi: 4499 } }],
    ['member;binary;range=0-*', { attribute: 'member', slice: { lo: 0, hi: '*' } }],
    ['member', undefined],
    ['member;range=10-5', undefined],
    ['member;range=a-b', undefined],
  ])('%s', (description, expected) => {
    expect(parseRangedDescription(description)).toEqual(expected);
  });

  it('asks for a fixed slice when a size is set, else to the end', () => {
    expect(rangeDescription('member', 0, 500)).toBe('member;range=0-499');
    expect(rangeDescription('member', 1500)).toBe('member;range=1500-*');
  });

  it('finds the ranged key beside the empty `member` ldapts adds', () => {
    const entry: Entry = { dn: 'cn=big', member: [], 'member;range=0-1': ['a', 'b'] };
    expect(rangedValues(entry, 'member')).toEqual({
      description: 'member;range=0-1',
      slice: { lo: 0, hi: 1 },
      values: ['a', 'b'],
    });
  });

  it('a single value comes as a string; an empty ranged key is no range at all', () => {
    expect(rangedValues({ dn: 'x', 'member;range=4-*': 'e' }, 'member')?.values).toEqual(['e']);
    expect(rangedValues({ dn: 'x', 'member;range=0-4': [] }, 'member')).toBeUndefined();
    expect(rangedValues({ dn: 'x', member: ['a'] }, 'member')).toBeUndefined();
  });
});

/** A fake server holding `values`, slicing at `max` per answer like AD's MaxValRange. */
function server(values: string[], max: number, failAt?: number) {
  const asked: string[] = [];
  const fetch = async (description: string): Promise<Entry | undefined> => {
    asked.push(description);
    const parsed = parseRangedDescription(description);
    if (!parsed) throw new Error('bad request');
    const { lo, hi } = parsed.slice;
    if (lo === failAt) throw new Error('Connection closed before message response was received');
    const end = Math.min(values.length - 1, lo + max - 1, hi === '*' ? Number.POSITIVE_INFINITY : hi);
    const last = end === values.length - 1;
    return {
      dn: 'cn=big',
      member: [],
      [`member;range=${lo}-${last ? '*' : end}`]: values.slice(lo, end + 1),
    };
  };
  return { fetch, asked };
}

describe('readRemainingSlices', () => {
  const values = Array.from({ length: 2000 }, (_, i) => `uid=u${i}`);

  it('follows server-driven slices until one ends in *', async () => {
    const s = server(values, 1500);
    const into = values.slice(0, 1500);
    const slices = await readRemainingSlices(s.fetch, 'member', 1500, undefined, into);
    expect(slices).toBe(1);
    expect(into).toEqual(values);
    expect(s.asked).toEqual(['member;range=1500-*']);
  });

  it('asks for fixed slices when rangeSize is set', async () => {
    const s = server(values, 1500);
    const into = values.slice(0, 300);
    await readRemainingSlices(s.fetch, 'member', 300, 300, into);
    expect(into).toEqual(values);
    expect(s.asked).toEqual([
      'member;range=300-599',
      'member;range=600-899',
      'member;range=900-1199',
      'member;range=1200-1499',
      'member;range=1500-1799',
      'member;range=1800-2099',
    ]);
  });

  it('names the failed slice and keeps what was read before it', async () => {
    const s = server(values, 500, 1000);
    const into = values.slice(0, 500);
    const err = await readRemainingSlices(s.fetch, 'member', 500, undefined, into).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeReadError);
    expect((err as RangeReadError).lo).toBe(1000);
    expect(into).toHaveLength(1000);
  });

  it('fails on an answer that is not the slice asked for, or no slice at all', async () => {
    const wrong = async (): Promise<Entry> => ({ dn: 'x', 'member;range=0-*': ['a'] });
    await expect(readRemainingSlices(wrong, 'member', 5, undefined, [])).rejects.toThrow(
      'instead of a slice from 5',
    );
    const none = async (): Promise<Entry> => ({ dn: 'x', member: [] });
    await expect(readRemainingSlices(none, 'member', 5, undefined, [])).rejects.toThrow(
      'no member;range= values',
    );
    const gone = async (): Promise<undefined> => undefined;
    await expect(readRemainingSlices(gone, 'member', 5, undefined, [])).rejects.toThrow('not returned');
  });
});

// JSON in pieces (src/report/jsonChunks.ts): the pieces join to exactly what JSON.stringify writes,
// for any JSON value, indent and streamed depth; the plan and ops renderers built on them write
// what they wrote as one string; gzipChunks inflates back to the joined text.
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parsePlanJson,
  renderJson,
  renderJsonChunks,
  renderOpsJson,
  renderOpsJsonChunks,
} from '../../../src/report/json.js';
import { gzipChunks, jsonChunks, Mapped } from '../../../src/report/jsonChunks.js';
import { loadPlan } from './fixtures.js';

const joined = (it: Iterable<string>) => [...it].join('');

describe('jsonChunks', () => {
  it('joins to JSON.stringify(value, null, space) for any JSON value, space and depth', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom('', '  ', '\t', '    '),
        fc.integer({ min: 0, max: 4 }),
        (value, space, depth) => {
          expect(joined(jsonChunks(value, space, depth))).toBe(JSON.stringify(value, null, space));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes what JSON.stringify writes for members it leaves out or turns into null', () => {
    const value = {
      a: undefined,
      b: () => 1,
      c: Symbol('s'),
      d: [undefined, () => 1, Symbol('t'), 1],
      e: new Date(0),
      f: { toJSON: () => undefined },
      g: new Map([[1, 2]]),
      h: {},
      i: [],
      j: Object.assign(Object.create(null), { k: 1 }),
    };
    for (const space of ['', '  '])
      for (const depth of [0, 1, 2, 3])
        expect(joined(jsonChunks(value, space, depth))).toBe(JSON.stringify(value, null, space));
  });

  it('writes a Mapped as the array it stands for, mapping each item only as it is written', () => {
    const seen: number[] = [];
    const m = new Mapped([1, 2, 3], (n) => {
      seen.push(n);
      return { n, twice: n * 2 };
    });
    const pieces = jsonChunks({ list: m }, '  ', 2);
    expect(pieces.next().value).toContain('"list"');
    expect(seen).toEqual([]);
    const rest = [...pieces].join('');
    expect(seen).toEqual([1, 2, 3]);
    expect(`{\n  "list": ${rest}`).toBe(JSON.stringify({ list: m }, null, '  '));
    // Below the streamed depth it is written whole, as JSON.stringify writes it (toJSON).
    expect(joined(jsonChunks({ list: m }, '  ', 0))).toBe(JSON.stringify({ list: m.toJSON() }, null, '  '));
  });
});

describe('the plan and ops renderers in pieces', () => {
  it('join to the text they write, which is JSON.stringify of their own content', () => {
    for (const name of ['typical', 'empty'] as const) {
      const plan = loadPlan(name);
      const text = renderJson(plan);
      expect(joined(renderJsonChunks(plan))).toBe(text);
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
      expect(parsePlanJson(text, name)).toEqual(plan);
      const ops = renderOpsJson(plan.ops);
      expect(joined(renderOpsJsonChunks(plan.ops))).toBe(ops);
      expect(ops).toBe(JSON.stringify(JSON.parse(ops)));
    }
  });
});

describe('gzipChunks', () => {
  it('inflates to the joined text, UTF-8 and all, across batch boundaries', async () => {
    const pieces = Array.from({ length: 5_000 }, (_, i) => `{"n":${i},"s":"é → ${'x'.repeat(i % 50)}"},`);
    const z = await gzipChunks(pieces);
    expect(gunzipSync(z).toString('utf8')).toBe(pieces.join(''));
    expect(gunzipSync(await gzipChunks([])).toString('utf8')).toBe('');
  });
});

// fingerprintOps hashes the ops an op at a time: the same fingerprint as the sha256 of their whole
// canonical JSON, which plans stored before (and `apply plan.json` files) carry.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprintOps } from '../../../src/reconcile/fingerprint.js';
import type { Op } from '../../../src/reconcile/plan.js';
import { loadPlan } from '../report/fixtures.js';

const whole = (ops: readonly Op[]) =>
  `sha256:${createHash('sha256').update(canonicalJson(ops)).digest('hex')}`;

describe('fingerprintOps', () => {
  it('is the sha256 of the whole canonical JSON, for no op, one and many', () => {
    const ops = loadPlan('typical').ops;
    expect(ops.length).toBeGreaterThan(1);
    for (const list of [[], ops.slice(0, 1), ops]) expect(fingerprintOps(list)).toBe(whole(list));
  });

  it('hashes text beyond Latin-1 as UTF-8, as the whole string was', () => {
    const ops = loadPlan('typical').ops.map((op) => ({ ...op, reasons: ['Zoë → 日本語 ✓'] }));
    expect(fingerprintOps(ops)).toBe(whole(ops));
  });
});

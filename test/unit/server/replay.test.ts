import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../../src/server/replay.js';

describe('ReplayGuard', () => {
  it('lets a key through once while it lives, and again after it expired', () => {
    const g = new ReplayGuard();
    expect(g.claim('a', 1300, 1000)).toBe(true);
    expect(g.claim('a', 1300, 1200)).toBe(false);
    expect(g.claim('a', 1300, 1300)).toBe(false);
    expect(g.claim('a', 1700, 1301)).toBe(true);
  });

  it('forgets a released claim (the request it guarded was not carried out)', () => {
    const g = new ReplayGuard();
    expect(g.claim('a', 1300, 1000)).toBe(true);
    g.release('a');
    expect(g.claim('a', 1300, 1000)).toBe(true);
  });

  it('drops expired entries as time passes, and stays within its bound', () => {
    const g = new ReplayGuard(100);
    for (let i = 0; i < 50; i++) g.claim(`old-${i}`, 1000 + i, 900);
    g.claim('fresh', 5000, 2000);
    expect(g.size).toBe(1);
    for (let i = 0; i < 1000; i++) g.claim(`k-${i}`, 9000, 3000);
    expect(g.size).toBe(100);
    // The newest are the ones kept.
    expect(g.claim('k-999', 9000, 3000)).toBe(false);
    expect(g.claim('k-0', 9000, 3000)).toBe(true);
  });
});

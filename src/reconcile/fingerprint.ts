import { createHash } from 'node:crypto';
import type { Op } from './plan.js';

/**
 * sha256 over the ops in canonical JSON (keys sorted): two plans with the same changes and the same
 * expected states have the same fingerprint, whenever and wherever they were made. The text is
 * hashed an op at a time, the same bytes as canonicalJson(ops): made whole, it was the biggest
 * thing a 100,000-op plan built (tens of millions of characters, two bytes each since the reasons
 * hold a '→', and the pieces it was joined from), which the daemon must hold at its peak.
 */
export function fingerprintOps(ops: readonly Op[]): string {
  const hash = createHash('sha256');
  hash.update('[');
  ops.forEach((op, i) => {
    if (i > 0) hash.update(',');
    hash.update(canonicalJson(op));
  });
  hash.update(']');
  return `sha256:${hash.digest('hex')}`;
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

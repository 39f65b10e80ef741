import { createHash } from 'node:crypto';
import type { Op } from './plan.js';

/**
 * sha256 over the ops in canonical JSON (keys sorted): two plans with the same changes and the same
 * expected states have the same fingerprint, whenever and wherever they were made.
 */
export function fingerprintOps(ops: readonly Op[]): string {
  return `sha256:${createHash('sha256').update(canonicalJson(ops)).digest('hex')}`;
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

// The stored form of the last successful run, one definition for every store: a base that cannot
// be parsed is refused, never guessed (a guessed base would let a shrink pass unnoticed).
import { z } from 'zod';
import type { LastRun } from './ledger.js';

const count = z.number().int().nonnegative();

export const LastRunSchema = z.object({
  at: z.string(),
  directoryUsers: count,
  fingerprint: z.string(),
  mappedGroups: z
    .array(z.object({ id: z.string(), name: z.string(), members: count, mappings: z.array(z.string()) }))
    .optional(),
  // One entry per directory user, parsed at every run's start while the Devin reads are in
  // flight: a plain loop checks it several times faster than z.record, with the same verdict.
  userIds: z
    .custom<Record<string, string>>(isStringRecord, { error: 'expected an object of strings' })
    .optional(),
});

function isStringRecord(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const key in v) {
    if (!Object.hasOwn(v, key) || typeof (v as Record<string, unknown>)[key] !== 'string') return false;
  }
  return true;
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesLastRun: Same<z.infer<typeof LastRunSchema>, LastRun> = true;
void schemaMatchesLastRun;

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
  userIds: z.record(z.string(), z.string()).optional(),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesLastRun: Same<z.infer<typeof LastRunSchema>, LastRun> = true;
void schemaMatchesLastRun;

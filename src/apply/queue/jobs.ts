// The data of every job and of every op result as they cross Redis: parsed with zod on the way in,
// because another replica (maybe another version) wrote them.
import { z } from 'zod';
import { OP_ORDER, type OpKind } from '../../reconcile/plan.js';
import { OP_STATUSES, type OpResult, type OpStatus } from '../types.js';

// The daemon's RUN_TRIGGERS, repeated because executors do not import the daemon (a unit test compares them).
const RUN_TRIGGERS = ['startup', 'schedule', 'api', 'webhook', 'graph', 'watch', 'approval'] as const;

export const RunJobData = z.object({
  runId: z.string().min(1),
  trigger: z.enum(RUN_TRIGGERS),
  reason: z.string().optional(),
});
export type RunJobData = z.infer<typeof RunJobData>;

export const ApplyJobData = z.object({ runId: z.string().min(1) });
export type ApplyJobData = z.infer<typeof ApplyJobData>;

/** An op job names its op in the run's stored plan; the op itself is read from there. */
export const OpJobData = z.object({
  runId: z.string().min(1),
  /** Position in plan.ops: the lookup. */
  index: z.int().nonnegative(),
  /** The op's key: checked against the plan, so a job can never apply another op. */
  key: z.string().min(1),
});
export type OpJobData = z.infer<typeof OpJobData>;

/** How one op of a run ended, as stored in the run's results hash (field = op key). */
export interface StoredOpResult extends OpResult {
  /** A failed invite: the emails not confirmed, whose org adds must be skipped. */
  notConfirmed?: string[];
}

export const StoredOpResult = z.object({
  key: z.string(),
  kind: z.enum(OP_ORDER as [OpKind, ...OpKind[]]),
  status: z.enum(OP_STATUSES as [OpStatus, ...OpStatus[]]),
  detail: z.string().optional(),
  error: z.string().optional(),
  durationMs: z.number(),
  notConfirmed: z.array(z.string()).optional(),
});

export function parseStoredResult(text: string): StoredOpResult | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = StoredOpResult.safeParse(json);
  return r.success ? stripUndefined(r.data) : undefined;
}

function stripUndefined(r: z.infer<typeof StoredOpResult>): StoredOpResult {
  const out: StoredOpResult = { key: r.key, kind: r.kind, status: r.status, durationMs: r.durationMs };
  if (r.detail !== undefined) out.detail = r.detail;
  if (r.error !== undefined) out.error = r.error;
  if (r.notConfirmed !== undefined) out.notConfirmed = r.notConfirmed;
  return out;
}

// Run records, their plans and reports, and their op results, in Redis, shared by every replica.
// Status changes are compare-and-set (a Lua script), because a worker finishing a run, an approver
// and a newer run superseding it can all race for the same record. The last `keepRuns` runs are
// kept; older finished ones are deleted with everything stored for them.
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { parseStoredResult, type StoredOpResult } from '../apply/queue/jobs.js';
import { RedisKeys, SYNC_QUEUE } from '../apply/queue/names.js';
import type { RunProgressStore } from '../apply/queue/types.js';
import { OP_STATUSES, type OpStatus } from '../apply/types.js';
import { OP_ORDER, type Op, type OpKind, type Plan } from '../reconcile/plan.js';
import { parseOpsJson, parsePlanJson, renderOpsJson } from '../report/index.js';
import { emailKey } from '../state/ledger.js';
import {
  FINAL_RUN_STATUSES,
  type ReportFormat,
  RUN_TRIGGERS,
  type RunRecord,
  type RunStatus,
  type RunTrigger,
} from './types.js';

const STATUSES = [
  'queued',
  'planning',
  'applying',
  'awaiting-approval',
  'succeeded',
  'partial',
  'failed',
  'blocked',
  'superseded',
  'rejected',
] as const satisfies readonly RunStatus[];

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** Failed ops listed on a record; the full list is in the run's report of results. */
export const MAX_FAILED_LISTED = 500;

const PlanSummary = z.object({
  fingerprint: z.string(),
  summary: z.partialRecord(z.enum(OP_ORDER as [OpKind, ...OpKind[]]), z.number()),
  ops: z.number(),
  warnings: z.number(),
  complete: z.boolean(),
  guardrails: z.object({ verdict: z.enum(['ok', 'blocked']), reasons: z.array(z.string()) }),
  held: z.number().optional(),
});

const RecordHash = z.object({
  id: z.string(),
  trigger: z.enum(RUN_TRIGGERS),
  reason: z.string().optional(),
  status: z.enum(STATUSES),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  plan: z.string().optional(),
  error: z.string().optional(),
  approvedBy: z.string().optional(),
  approvedAt: z.string().optional(),
  approvalComment: z.string().optional(),
  rejectedBy: z.string().optional(),
  rejectedAt: z.string().optional(),
  rejectionComment: z.string().optional(),
  supersededBy: z.string().optional(),
  hold: z.enum(['0', '1']).optional(),
});

const FailedEntry = z.object({
  key: z.string(),
  kind: z.enum(OP_ORDER as [OpKind, ...OpKind[]]),
  error: z.string(),
});

/** Fields a status change may set along with the status. */
export interface RunFields {
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  approvedBy?: string;
  approvedAt?: string;
  approvalComment?: string;
  rejectedBy?: string;
  rejectedAt?: string;
  rejectionComment?: string;
  supersededBy?: string;
  /** Guardrails held the removals back in auto mode: a resumed run must hold them too. */
  hold?: boolean;
}

export type TransitionResult = { ok: true; from: RunStatus } | { ok: false; status: RunStatus | undefined };

/** A record plus what only the machinery needs. */
export interface StoredRun {
  record: RunRecord;
  holdRemovals: boolean;
}

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1`;

const TRANSITION = `
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {0, ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {0, cur} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 4))
if ARGV[2] == 'awaiting-approval' then redis.call('SADD', KEYS[2], ARGV[1])
else redis.call('SREM', KEYS[2], ARGV[1]) end
return {1, cur}`;

const RECORD_RESULT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[4]) end
return 1`;

interface RunStoreCommands {
  idsyncCreateRun(runKey: string, runsKey: string, ...args: string[]): Promise<number>;
  idsyncTransition(runKey: string, awaitingKey: string, ...args: string[]): Promise<[number, string]>;
  idsyncRecordResult(
    results: string,
    counts: string,
    failed: string,
    key: string,
    json: string,
    status: string,
    failedJson: string,
  ): Promise<number>;
}

export class RunStore implements RunProgressStore {
  readonly keys: RedisKeys;
  private readonly cmd: RunStoreCommands;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
    // defineCommand is idempotent per connection; several stores may share one.
    redis.defineCommand('idsyncCreateRun', { numberOfKeys: 2, lua: CREATE });
    redis.defineCommand('idsyncTransition', { numberOfKeys: 2, lua: TRANSITION });
    redis.defineCommand('idsyncRecordResult', { numberOfKeys: 3, lua: RECORD_RESULT });
    this.cmd = redis as unknown as RunStoreCommands;
  }

  /** Creates the record unless it exists (a worker may have started the run first). */
  async create(r: { id: string; trigger: RunTrigger; reason?: string; createdAt: string }): Promise<boolean> {
    const fields = ['id', r.id, 'trigger', r.trigger, 'status', 'queued', 'createdAt', r.createdAt];
    if (r.reason !== undefined) fields.push('reason', r.reason);
    const score = String(Date.parse(r.createdAt));
    return (
      (await this.cmd.idsyncCreateRun(this.keys.run(r.id), this.keys.runs, r.id, score, ...fields)) === 1
    );
  }

  /** Moves the run to `to` if it is in one of `from`, setting `fields` with it. */
  async transition(
    id: string,
    from: readonly RunStatus[],
    to: RunStatus,
    fields: RunFields = {},
  ): Promise<TransitionResult> {
    const args: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      args.push(k, k === 'hold' ? (v ? '1' : '0') : String(v));
    }
    const [ok, cur] = await this.cmd.idsyncTransition(
      this.keys.run(id),
      this.keys.awaiting,
      id,
      to,
      from.join(','),
      ...args,
    );
    const parsed = z.enum(STATUSES).safeParse(cur);
    if (ok === 1 && parsed.success) return { ok: true, from: parsed.data };
    return { ok: false, status: parsed.success ? parsed.data : undefined };
  }

  async get(id: string): Promise<RunRecord | undefined> {
    return (await this.getStored(id))?.record;
  }

  async getStored(id: string): Promise<StoredRun | undefined> {
    // One transaction, so the status, the counts and the failed list are read at one instant.
    const res = await this.redis
      .multi()
      .hgetall(this.keys.run(id))
      .hgetall(this.keys.runPart(id, 'counts'))
      .lrange(this.keys.runPart(id, 'failed'), 0, MAX_FAILED_LISTED - 1)
      .exec();
    if (!res) throw new Error(`reading run ${id}: the transaction was aborted`);
    const values = res.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    return toStored(values[0], values[1], values[2]);
  }

  /** Newest first. */
  async list(limit = 20): Promise<RunRecord[]> {
    const ids = await this.redis.zrevrange(this.keys.runs, 0, Math.max(0, limit - 1));
    const runs = await Promise.all(ids.map((id) => this.get(id)));
    return runs.filter((r): r is RunRecord => r !== undefined);
  }

  /** Creation time (ms) of a run, from the index. */
  async createdAtMs(id: string): Promise<number | undefined> {
    const score = await this.redis.zscore(this.keys.runs, id);
    return score === null ? undefined : Number(score);
  }

  async awaitingIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.awaiting);
  }

  async storePlan(
    id: string,
    plan: Plan,
    reports: { json: string; md: string; html: string },
  ): Promise<void> {
    const summary: RunRecord['plan'] = {
      fingerprint: plan.fingerprint,
      summary: plan.summary,
      ops: plan.ops.length,
      warnings: plan.warnings.length,
      complete: plan.complete,
      guardrails: { verdict: plan.guardrails.verdict, reasons: [...plan.guardrails.reasons] },
      held: plan.held.length,
    };
    // Reports of a 10,000-op plan are megabytes of repetitive text: gzip (off the event loop)
    // cuts what keepRuns runs cost in Redis by an order of magnitude.
    const [json, ops, md, html] = await Promise.all([
      gzip(reports.json),
      gzip(renderOpsJson(plan.ops)),
      gzip(reports.md),
      gzip(reports.html),
    ]);
    const res = await this.redis
      .multi()
      .set(this.keys.runPart(id, 'plan'), json)
      .set(this.keys.runPart(id, 'ops'), ops)
      .set(this.keys.runPart(id, 'report-md'), md)
      .set(this.keys.runPart(id, 'report-html'), html)
      .hset(this.keys.run(id), 'plan', JSON.stringify(summary))
      .exec();
    for (const [err] of res ?? []) if (err) throw err;
  }

  async plan(id: string): Promise<Plan | undefined> {
    const text = await this.text(this.keys.runPart(id, 'plan'));
    return text === undefined ? undefined : parsePlanJson(text, `the stored plan of run ${id}`);
  }

  async ops(id: string): Promise<readonly Op[] | undefined> {
    const text = await this.text(this.keys.runPart(id, 'ops'));
    // A run stored by a version without the ops part (an upgrade mid-run) still has its plan.
    if (text === undefined) return (await this.plan(id))?.ops;
    return parseOpsJson(text, `the stored ops of run ${id}`);
  }

  report(id: string, format: ReportFormat): Promise<string | undefined> {
    const part = format === 'json' ? 'plan' : format === 'md' ? 'report-md' : 'report-html';
    return this.text(this.keys.runPart(id, part));
  }

  private async text(key: string): Promise<string | undefined> {
    const buf = await this.redis.getBuffer(key);
    return buf === null ? undefined : (await gunzip(buf)).toString('utf8');
  }

  // ---- op results (RunProgressStore) ------------------------------------------------------------

  async results(id: string): Promise<Map<string, StoredOpResult>> {
    const hash = await this.redis.hgetall(this.keys.runPart(id, 'results'));
    const out = new Map<string, StoredOpResult>();
    for (const [key, text] of Object.entries(hash)) {
      const r = parseStoredResult(text);
      if (r) out.set(key, r);
    }
    return out;
  }

  async hasResult(id: string, key: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.runPart(id, 'results'), key)) === 1;
  }

  async recordResult(id: string, r: StoredOpResult): Promise<boolean> {
    const failed =
      r.status === 'failed' ? JSON.stringify({ key: r.key, kind: r.kind, error: r.error ?? 'failed' }) : '';
    const n = await this.cmd.idsyncRecordResult(
      this.keys.runPart(id, 'results'),
      this.keys.runPart(id, 'counts'),
      this.keys.runPart(id, 'failed'),
      r.key,
      JSON.stringify(r),
      r.status,
      failed,
    );
    return n === 1;
  }

  settledCount(id: string): Promise<number> {
    return this.redis.hlen(this.keys.runPart(id, 'results'));
  }

  async setUserIds(id: string, ids: ReadonlyMap<string, string>): Promise<void> {
    if (ids.size === 0) return;
    const key = this.keys.runPart(id, 'userids');
    const entries = [...ids];
    for (let i = 0; i < entries.length; i += 1000) {
      await this.redis.hset(key, Object.fromEntries(entries.slice(i, i + 1000)));
    }
  }

  async userId(id: string, email: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.runPart(id, 'userids'), emailKey(email))) ?? undefined;
  }

  // ---- losing Redis's data ---------------------------------------------------------------------

  /**
   * Why a run being conducted can no longer be (its record, its plan or the conductor's own job is
   * gone: Redis restarted empty or failed over without persistence), or undefined while all three
   * are there. `conductorJobId` is the sync job's id (the run id, or `apply-<run id>`).
   */
  async lostParts(id: string, conductorJobId: string): Promise<string | undefined> {
    const res = await this.redis
      .multi()
      .exists(this.keys.run(id))
      .exists(this.keys.runPart(id, 'plan'))
      .exists(`${this.keys.prefix}:${SYNC_QUEUE}:${conductorJobId}`)
      .exec();
    if (!res) throw new Error(`checking run ${id}: the transaction was aborted`);
    const [record, plan, job] = res.map(([err, n]) => {
      if (err) throw err;
      return n === 1;
    });
    const gone = [
      ...(record ? [] : ['its record']),
      ...(plan ? [] : ['its plan']),
      ...(job ? [] : ['its conductor job']),
    ];
    return gone.length === 0 ? undefined : `${gone.join(', ')} gone from Redis`;
  }

  /**
   * Marks a run whose state was lost as failed with `error`; its record is written again first if
   * that went too, so /api/runs still tells what happened to it. False if it had already finished.
   */
  async abandon(
    r: { id: string; trigger: RunTrigger; reason?: string; createdAt: string },
    error: string,
  ): Promise<boolean> {
    await this.create(r);
    const t = await this.transition(r.id, ['queued', 'planning', 'applying'], 'failed', {
      error,
      finishedAt: new Date().toISOString(),
    });
    return t.ok;
  }

  /**
   * The marker of this Redis's data: written once (SET NX), it vanishes with everything else when
   * Redis loses its data, which is how a replica notices the loss. Returns the marker now stored.
   */
  async ensureEpoch(candidate: string): Promise<{ epoch: string; created: boolean }> {
    const created = (await this.redis.set(this.keys.epoch, candidate, 'NX')) === 'OK';
    if (created) return { epoch: candidate, created };
    return { epoch: (await this.redis.get(this.keys.epoch)) ?? candidate, created };
  }

  async epoch(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.epoch)) ?? undefined;
  }

  // ---- webhook arrivals -------------------------------------------------------------------------

  async addReceived(id: string, epochMs: number): Promise<void> {
    await this.redis.rpush(this.keys.runPart(id, 'received'), String(epochMs));
  }

  async received(id: string): Promise<number[]> {
    const list = await this.redis.lrange(this.keys.runPart(id, 'received'), 0, -1);
    return list.map(Number).filter((n) => Number.isFinite(n));
  }

  // ---- retention --------------------------------------------------------------------------------

  /**
   * Deletes the oldest finished runs beyond `keep`. A run still queued, applying or awaiting
   * approval is never deleted under its worker or approver; it goes once it has finished.
   */
  async trim(keep: number): Promise<number> {
    const total = await this.redis.zcard(this.keys.runs);
    if (total <= keep) return 0;
    const oldest = await this.redis.zrange(this.keys.runs, 0, total - keep - 1);
    let removed = 0;
    for (const id of oldest) {
      const status = await this.redis.hget(this.keys.run(id), 'status');
      if (status !== null && !FINAL_RUN_STATUSES.has(status as RunStatus)) continue;
      await this.redis
        .multi()
        .del(this.keys.run(id), ...this.keys.runParts(id))
        .zrem(this.keys.runs, id)
        .srem(this.keys.awaiting, id)
        .exec();
      removed++;
    }
    return removed;
  }
}

function toStored(hash: unknown, counts: unknown, failed: unknown): StoredRun | undefined {
  if (hash === null || typeof hash !== 'object' || Object.keys(hash).length === 0) return undefined;
  const h = RecordHash.safeParse(hash);
  if (!h.success) throw new Error(`run record is not readable: ${h.error.issues[0]?.message ?? 'invalid'}`);
  const r = h.data;
  const record: RunRecord = {
    id: r.id,
    trigger: r.trigger,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    status: r.status,
    createdAt: r.createdAt,
  };
  if (r.startedAt !== undefined) record.startedAt = r.startedAt;
  if (r.finishedAt !== undefined) record.finishedAt = r.finishedAt;
  if (r.plan !== undefined) {
    const p = PlanSummary.safeParse(safeJson(r.plan));
    if (p.success) record.plan = p.data;
  }
  const c = z.record(z.string(), z.string()).safeParse(counts);
  if (c.success && Object.keys(c.data).length > 0) {
    const opCounts = Object.fromEntries(OP_STATUSES.map((s) => [s, 0])) as Record<OpStatus, number>;
    for (const s of OP_STATUSES) opCounts[s] = Number(c.data[s] ?? 0);
    record.opCounts = opCounts;
  }
  const f = z.array(z.string()).safeParse(failed);
  if (f.success && f.data.length > 0) {
    record.failedOps = f.data.flatMap((text) => {
      const e = FailedEntry.safeParse(safeJson(text));
      return e.success ? [e.data] : [];
    });
  }
  if (r.error !== undefined) record.error = r.error;
  if (r.approvedBy !== undefined) record.approvedBy = r.approvedBy;
  if (r.approvedAt !== undefined) record.approvedAt = r.approvedAt;
  if (r.approvalComment !== undefined) record.approvalComment = r.approvalComment;
  if (r.rejectedBy !== undefined) record.rejectedBy = r.rejectedBy;
  if (r.rejectedAt !== undefined) record.rejectedAt = r.rejectedAt;
  if (r.rejectionComment !== undefined) record.rejectionComment = r.rejectionComment;
  if (r.supersededBy !== undefined) record.supersededBy = r.supersededBy;
  return { record, holdRemovals: r.hold === '1' };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

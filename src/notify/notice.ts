// What a notification is about, as plain data: the run's state when it reached one worth telling a
// human, cut down to what a message may carry. Built once, when the hook fires, and carried in the
// queued job, so a message sent minutes later (after retries) still says what was true then.
//
// Directory-derived text (guardrail reasons, error lines, the trigger's reason) is made safe here
// once for every channel: control and bidi characters shown as `\uXXXX`, email addresses and known
// secrets replaced, and each text capped. Channels still escape for their own markup.
import type { RunRecord, RunStatus, RunTrigger } from '../daemon/types.js';
import { OP_ORDER, type OpKind, REMOVAL_KINDS } from '../reconcile/plan.js';
import { showControls } from '../report/text.js';

/** The run states that notify. */
export const NOTIFY_EVENTS = ['awaiting-approval', 'blocked', 'failed', 'partial'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const NOTIFY_CHANNELS = ['slack', 'teams', 'email', 'webhook'] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

/** Guardrail reasons listed in a message; the rest are counted. */
export const MAX_REASONS = 5;
/** Characters of one free text (an error line, a reason). */
export const MAX_TEXT = 400;

export interface Notice {
  runId: string;
  event: NotifyEvent;
  status: RunStatus;
  trigger: RunTrigger;
  /** The trigger's free text (webhook body `reason`, API caller), made safe. */
  reason?: string;
  /** `${server.publicUrl}/console/runs/<id>`. */
  link: string;
  createdAt: string;
  finishedAt?: string;
  plan?: {
    ops: number;
    /** Ops by kind, in execution order. */
    byKind: Array<{ kind: OpKind; ops: number }>;
    /** Removal ops (users, org memberships, group mappings, registry entries). */
    removals: number;
    held: number;
    complete: boolean;
    warnings: number;
    guardrails: { verdict: 'ok' | 'blocked'; reasons: string[]; more: number };
  };
  /** While and after applying. */
  opCounts?: { applied: number; already: number; skipped: number; failed: number };
  /** The first failed op's error line, made safe (never its key: that is an email or a group). */
  firstFailure?: string;
  /** Why the run itself failed: its first line, made safe. */
  error?: string;
  /** The newer run that replaced this one. */
  supersededBy?: string;
}

/**
 * The event a run's record stands for, or undefined when it is not one that notifies. A run waiting
 * for approval because guardrails blocked its removals is `blocked`: the more urgent of the two.
 */
export function eventOf(record: Pick<RunRecord, 'status' | 'plan'>): NotifyEvent | undefined {
  switch (record.status) {
    case 'awaiting-approval':
      return record.plan?.guardrails.verdict === 'blocked' ? 'blocked' : 'awaiting-approval';
    case 'blocked':
    case 'failed':
    case 'partial':
      return record.status;
    default:
      return undefined;
  }
}

/**
 * Whether `notify.on` asks for `event` of this record. A guardrail-blocked run that waits for
 * approval is both: it is sent when either is asked for (once, as `blocked`).
 */
export function wanted(event: NotifyEvent, status: RunStatus, on: readonly NotifyEvent[]): boolean {
  if (on.includes(event)) return true;
  return event === 'blocked' && status === 'awaiting-approval' && on.includes('awaiting-approval');
}

/** `https://idsync.corp.example/prefix` + `/console/runs/<id>` (the seam with the console). */
export function runLink(publicUrl: string, runId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/console/runs/${encodeURIComponent(runId)}`;
}

// An address anywhere in a text: a local part, @, a domain with a dot. Loose on purpose: a false
// positive hides a word, a miss leaks a person.
const EMAIL = /[^\s@<>()[\]"'`,;:]+@[^\s@<>()[\]"'`,;:]+\.[^\s@<>()[\]"'`,;:]+/g;

/**
 * Directory or server text, safe for any channel: its first line only, controls visible, emails
 * and the given secrets replaced, at most `max` characters.
 */
export function safeText(text: string, secrets: readonly string[] = [], max = MAX_TEXT): string {
  let out = text.split(/\r?\n/, 1)[0] ?? '';
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  out = showControls(out).replace(EMAIL, '[email]');
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

/** The notice of `record` for `event`; `secrets` are replaced wherever they would appear. */
export function noticeOf(
  record: RunRecord,
  event: NotifyEvent,
  publicUrl: string,
  secrets: readonly string[] = [],
): Notice {
  const safe = (t: string) => safeText(t, secrets);
  const notice: Notice = {
    runId: record.id,
    event,
    status: record.status,
    trigger: record.trigger,
    link: runLink(publicUrl, record.id),
    createdAt: record.createdAt,
  };
  if (record.reason !== undefined && record.reason !== '') notice.reason = safe(record.reason);
  if (record.finishedAt !== undefined) notice.finishedAt = record.finishedAt;
  const p = record.plan;
  if (p) {
    const byKind = OP_ORDER.flatMap((kind) => {
      const n = p.summary[kind] ?? 0;
      return n > 0 ? [{ kind, ops: n }] : [];
    });
    notice.plan = {
      ops: p.ops,
      byKind,
      removals: byKind.filter((k) => REMOVAL_KINDS.has(k.kind)).reduce((a, k) => a + k.ops, 0),
      held: p.held ?? 0,
      complete: p.complete,
      warnings: p.warnings,
      guardrails: {
        verdict: p.guardrails.verdict,
        reasons: p.guardrails.reasons.slice(0, MAX_REASONS).map(safe),
        more: Math.max(0, p.guardrails.reasons.length - MAX_REASONS),
      },
    };
  }
  if (record.opCounts) {
    const { applied, already, skipped, failed } = record.opCounts;
    notice.opCounts = { applied, already, skipped, failed };
  }
  const first = record.failedOps?.[0];
  if (first) notice.firstFailure = safe(first.error);
  if (record.error !== undefined) notice.error = safe(record.error);
  if (record.supersededBy !== undefined) notice.supersededBy = record.supersededBy;
  return notice;
}

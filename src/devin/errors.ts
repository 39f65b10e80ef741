// Typed failures of the Devin client. Each carries the method and the route template (never the
// URL's secrets, never the token) so a log line or a report says exactly which call failed.
import type { LegacyErrorBody, ProblemDetail } from './schemas.js';

export interface RequestContext {
  method: string;
  /** Route template, e.g. `/v3/enterprise/members/users/{user_id}`. */
  route: string;
  /** The concrete path that was called (ids only; no query secrets exist in this API). */
  path: string;
  attempts: number;
}

export abstract class DevinError extends Error {
  readonly method: string;
  readonly route: string;
  readonly path: string;
  readonly attempts: number;

  constructor(message: string, ctx: RequestContext, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.method = ctx.method;
    this.route = ctx.route;
    this.path = ctx.path;
    this.attempts = ctx.attempts;
  }
}

/** The API answered with a non-2xx status. */
export class DevinApiError extends DevinError {
  readonly status: number;
  readonly problem: ProblemDetail | undefined;
  readonly legacy: LegacyErrorBody | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    ctx: RequestContext,
    status: number,
    body: { problem?: ProblemDetail | undefined; legacy?: LegacyErrorBody | undefined; raw?: string },
    retryAfterMs?: number,
  ) {
    super(
      `${ctx.method} ${ctx.path} failed: ${status} ${describeBody(status, body)}${attemptsNote(ctx)}`,
      ctx,
    );
    this.status = status;
    this.problem = body.problem;
    this.legacy = body.legacy;
    this.retryAfterMs = retryAfterMs;
  }

  /** The human explanation the server gave, whichever error shape it used. */
  get detail(): string | undefined {
    if (this.problem) return this.problem.detail ?? this.problem.title;
    const d = this.legacy?.detail;
    if (typeof d === 'string') return d;
    return d?.map((e) => e.msg).join('; ');
  }
}

/**
 * The connection failed or timed out. `sent` says whether the request had been fully written
 * before the failure: when it had, the server may have applied it, so a write must not be
 * blindly re-sent (docs/design.md §7); the caller re-reads the target instead.
 */
export class DevinNetworkError extends DevinError {
  readonly sent: boolean;
  readonly code: string | undefined;

  constructor(ctx: RequestContext, sent: boolean, code: string | undefined, cause: unknown) {
    const what = code === 'ETIMEDOUT' ? 'timed out' : `connection failed (${code ?? 'unknown'})`;
    const when = sent
      ? 'after the request was sent; it may have been applied'
      : 'before the request was sent';
    super(`${ctx.method} ${ctx.path} ${what} ${when}${attemptsNote(ctx)}`, ctx, { cause });
    this.sent = sent;
    this.code = code;
  }
}

/** A 2xx body that does not match the documented schema: a contract break, never retried. */
export class DevinResponseError extends DevinError {
  readonly issues: string[];

  constructor(ctx: RequestContext, issues: string[]) {
    super(
      `${ctx.method} ${ctx.path} returned a body that does not match the API schema: ${issues.join('; ')}`,
      ctx,
    );
    this.issues = issues;
  }
}

/** The server's cursors went round in a circle: following them would never end. */
export class DevinPaginationError extends DevinError {
  readonly cursor: string;

  constructor(ctx: RequestContext, cursor: string, reason: string) {
    super(`${ctx.method} ${ctx.route} pagination failed: ${reason}`, ctx);
    this.cursor = cursor;
  }
}

/**
 * The client was aborted (`DevinClient.abort()`): the caller no longer wants the answer, so the
 * request was stopped or never started. Not a failure of Devin: never retried, never logged as
 * one. `sent` says whether it had been completely written: a write may then have been applied.
 */
export class DevinAbortedError extends DevinError {
  readonly sent: boolean;

  constructor(ctx: RequestContext, sent: boolean, reason?: string) {
    super(`${ctx.method} ${ctx.path} aborted${reason ? `: ${reason}` : ''}`, ctx);
    this.sent = sent;
  }
}

function attemptsNote(ctx: RequestContext): string {
  return ctx.attempts > 1 ? ` (after ${ctx.attempts} attempts)` : '';
}

function describeBody(
  status: number,
  body: { problem?: ProblemDetail | undefined; legacy?: LegacyErrorBody | undefined; raw?: string },
): string {
  if (body.problem) {
    const p = body.problem;
    const fields = p.errors?.length ? ` [${p.errors.map((e) => JSON.stringify(e)).join(', ')}]` : '';
    return `${p.title}${p.detail ? `: ${p.detail}` : ''}${fields}`;
  }
  const d = body.legacy?.detail;
  if (typeof d === 'string') return d;
  if (d) return d.map((e) => `${(e.loc ?? []).join('.')}: ${e.msg}`).join('; ');
  const raw = body.raw?.trim();
  return raw ? raw.slice(0, 200) : statusText(status);
}

function statusText(status: number): string {
  return status >= 500 ? 'server error' : 'error';
}

export type RequestOutcome =
  | 'ok'
  | 'rejected'
  | 'rate-limited'
  | 'error-injected'
  | 'dropped-before-apply'
  | 'dropped-after-apply';

export interface RequestLogEntry {
  seq: number;
  method: string;
  /** Route template with {params}, prefix as requested (e.g. /v3beta1/...); '(unmatched)' for unknown paths. */
  route: string;
  /** Request path without the query string. */
  path: string;
  /** null = connection dropped without a response. */
  status: number | null;
  outcome: RequestOutcome;
  /** An effectful write changed state. */
  applied: boolean;
  /** POST/PATCH/DELETE on an identity route. */
  effectful: boolean;
  /** Epoch ms when the request arrived. */
  at: number;
  durationMs: number;
}

export const UNMATCHED_ROUTE = '(unmatched)';

/** Every non-/_sim request, in arrival order, plus per `${method} ${route}` counts. */
export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private tally = new Map<string, number>();
  private seq = 0;

  /** Records an arriving request; the caller fills in status/outcome/duration when it ends. */
  start(method: string, route: string, path: string, effectful: boolean): RequestLogEntry {
    const entry: RequestLogEntry = {
      seq: ++this.seq,
      method,
      route,
      path,
      status: null,
      outcome: 'ok',
      applied: false,
      effectful,
      at: Date.now(),
      durationMs: 0,
    };
    this.entries.push(entry);
    const key = `${method} ${route}`;
    this.tally.set(key, (this.tally.get(key) ?? 0) + 1);
    return entry;
  }

  list(): RequestLogEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.tally);
  }

  clear(): void {
    this.entries = [];
    this.tally = new Map();
    this.seq = 0;
  }
}

// Microsoft Graph over node:https: a bearer token per request, a timeout per attempt, JSON in and
// out, and the waiting Graph asks for. 429, 503 and 504 are retried honouring Retry-After (else
// backoff, never at once) until retryBudgetMs of waiting is spent; a 401 gets one fresh token (the
// cached one may have been revoked, or its lifetime outlived); anything else that is not 2xx is a
// GraphError naming the route, Graph's code and request-id, and on a 403 the application
// permission the route needs. Paging follows @odata.nextLink verbatim (it is opaque), but only on
// Graph's own origin: the token is never sent anywhere else.
import type { Agent } from 'node:https';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EntraSourceConfig } from '../../config/types.js';
import { parseRetryAfter } from '../../devin/retryPolicy.js';
import { silentLogger } from '../../log/logger.js';
import type { TokenProvider } from './auth.js';
import { describeTransport, EntraAbortedError, GraphError, isTransientTransport } from './errors.js';
import { backoffMs, entraAgent, type HttpAnswer, send, sleep } from './http.js';

export { GraphError } from './errors.js';

export type GraphMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface GraphRequestInit {
  body?: unknown;
  headers?: Record<string, string>;
  /** Non-2xx statuses returned instead of thrown (e.g. 404 on a PATCH of a vanished subscription). */
  accept?: number[];
  signal?: AbortSignal;
}

export interface GraphAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const RETRYABLE = new Set([429, 503, 504]);

/** `{ error: { code, message } }`, Graph's error body. */
const GraphErrorBody = z.object({
  error: z.object({ code: z.string().optional(), message: z.string().optional() }).loose(),
});

const Page = z
  .object({
    value: z.array(z.unknown()),
    '@odata.nextLink': z.string().optional(),
    '@odata.deltaLink': z.string().optional(),
  })
  .loose();

/**
 * The application permission a route needs, least privilege first: what a 403 there means is
 * missing. Subscriptions need the permission of the resource they watch.
 */
export function permissionFor(path: string, body?: unknown): string | undefined {
  const p = path.replace(/^\/(?:v1\.0|beta)(?=\/)/, '');
  if (/^\/users(?:\/|$|\?)/.test(p)) return 'User.Read.All';
  if (/^\/groups(?:\/|$|\?)/.test(p)) return 'GroupMember.Read.All';
  if (/^\/subscriptions/.test(p)) {
    const resource = (body as { resource?: unknown } | undefined)?.resource;
    if (typeof resource === 'string') {
      if (/^\/?users/i.test(resource)) return 'User.Read.All';
      // Graph's subscription table names Group.Read.All for groups, not GroupMember.Read.All.
      if (/^\/?groups/i.test(resource)) return 'Group.Read.All';
    }
  }
  return undefined;
}

export class GraphClient {
  private readonly config: EntraSourceConfig;
  private readonly tokens: TokenProvider;
  private readonly log: Logger;
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly controller = new AbortController();
  /** Requests made, for logs and the benchmark. */
  requests = 0;

  constructor(opts: { config: EntraSourceConfig; tokens: TokenProvider; logger?: Logger; agent?: Agent }) {
    this.config = opts.config;
    this.tokens = opts.tokens;
    this.log = (opts.logger ?? silentLogger).child({ component: 'graph' });
    this.agent = opts.agent ?? entraAgent(opts.config);
    this.origin = new URL(opts.config.graphBaseUrl).origin;
  }

  /** Stops every request in flight (they reject with EntraAbortedError) and refuses new ones. */
  abort(reason = 'aborted by the caller'): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Releases the kept-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  /**
   * A relative path is under `${graphBaseUrl}/v1.0` unless it names its version (`/v1.0/…`,
   * `/beta/…`); an absolute URL (a nextLink, a deltaLink) must be on Graph's origin.
   */
  resolve(pathOrUrl: string): URL {
    if (/^https?:\/\//i.test(pathOrUrl)) {
      const url = new URL(pathOrUrl);
      if (url.origin !== this.origin) {
        throw new GraphError(
          `Graph handed out a link to ${url.origin}, not ${this.origin} (graphBaseUrl): not followed, so the token is not sent there`,
          { status: 0, code: 'foreignLink', path: url.pathname },
        );
      }
      return url;
    }
    const path = pathOrUrl.startsWith('/') ? pathOrUrl : `/${pathOrUrl}`;
    const versioned = /^\/(?:v1\.0|beta)(?:\/|$)/.test(path) ? path : `/v1.0${path}`;
    return new URL(`${this.config.graphBaseUrl}${versioned}`);
  }

  async request(method: GraphMethod, pathOrUrl: string, init: GraphRequestInit = {}): Promise<GraphAnswer> {
    const url = this.resolve(pathOrUrl);
    const path = url.pathname;
    const signal = init.signal
      ? AbortSignal.any([this.controller.signal, init.signal])
      : this.controller.signal;
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const started = Date.now();
    let waited = 0;
    let refreshed = false;
    for (let retry = 1; ; retry++) {
      this.stopIfAborted(signal, method, path);
      const token = await this.tokens.token({ signal });
      let answer: HttpAnswer;
      try {
        this.requests++;
        answer = await send(this.agent, {
          method,
          url: url.href,
          timeoutMs: this.config.timeoutMs,
          signal,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...init.headers,
          },
          ...(body === undefined ? {} : { body }),
        });
      } catch (err) {
        this.stopIfAborted(signal, method, path);
        // A lost connection may have carried a POST that was applied: only reads go again.
        const wait = backoffMs(retry);
        if (
          (method === 'GET' || method === 'DELETE') &&
          isTransientTransport(err) &&
          waited + wait <= this.config.retryBudgetMs
        ) {
          this.log.info(
            { path, waitMs: wait, err: (err as Error).message },
            'Graph request failed; trying again',
          );
          waited += wait;
          await this.pause(wait, signal, method, path);
          continue;
        }
        throw new GraphError(
          `${method} ${this.origin}${path} failed: ${describeTransport(err, this.config.caFile)}`,
          { status: 0, code: 'transport', path },
          { cause: err },
        );
      }
      if (answer.status === 401 && !refreshed) {
        // Once: a token Graph no longer takes (revoked, clock skew) is replaced, not retried as is.
        refreshed = true;
        await this.tokens.token({ forceRefresh: true, signal });
        continue;
      }
      if (RETRYABLE.has(answer.status)) {
        const after = parseRetryAfter(answer.headers['retry-after']);
        const wait = after ?? backoffMs(retry);
        if (waited + wait <= this.config.retryBudgetMs) {
          this.log.info({ path, status: answer.status, waitMs: wait }, 'Graph asked to wait; waiting');
          waited += wait;
          await this.pause(wait, signal, method, path);
          continue;
        }
        throw this.error(method, path, answer, init.body, {
          budget: `after waiting ${Math.round(waited / 1000)} s of retryBudgetMs (${this.config.retryBudgetMs} ms)${after !== undefined ? `, Retry-After ${Math.round(after / 1000)} s more` : ''}`,
        });
      }
      const ok = answer.status >= 200 && answer.status < 300;
      if (!ok && !(init.accept ?? []).includes(answer.status))
        throw this.error(method, path, answer, init.body);
      this.log.debug({ method, path, status: answer.status, ms: Date.now() - started }, 'Graph request');
      return { status: answer.status, headers: answer.headers, body: parseJson(answer, method, path) };
    }
  }

  /** Follows @odata.nextLink verbatim; yields each page's items (parsed by `item`) and, last, the deltaLink. */
  async *pages<T>(
    pathOrUrl: string,
    item: z.ZodType<T>,
    init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): AsyncGenerator<{ items: T[]; deltaLink?: string }> {
    let next: string | undefined = pathOrUrl;
    const seen = new Set<string>();
    while (next !== undefined) {
      const url = this.resolve(next).href;
      if (seen.has(url)) {
        throw new GraphError(
          `Graph's nextLink points back at a page already read (${new URL(url).pathname}): stopped`,
          {
            status: 0,
            code: 'pagingLoop',
            path: new URL(url).pathname,
          },
        );
      }
      seen.add(url);
      const res = await this.request('GET', url, init);
      const page = Page.safeParse(res.body);
      if (!page.success) {
        throw new GraphError(
          `GET ${new URL(url).pathname} answered without a value list: ${shortIssue(page.error)}`,
          {
            status: res.status,
            code: 'unexpectedResponse',
            path: new URL(url).pathname,
          },
        );
      }
      const items: T[] = [];
      for (const [i, raw] of page.data.value.entries()) {
        const parsed = item.safeParse(raw);
        if (!parsed.success) {
          throw new GraphError(
            `GET ${new URL(url).pathname}: item ${i} of the page is not what was asked for: ${shortIssue(parsed.error)}`,
            { status: res.status, code: 'unexpectedResponse', path: new URL(url).pathname },
          );
        }
        items.push(parsed.data);
      }
      next = page.data['@odata.nextLink'];
      const deltaLink = page.data['@odata.deltaLink'];
      yield { items, ...(next === undefined && deltaLink !== undefined ? { deltaLink } : {}) };
    }
  }

  private stopIfAborted(signal: AbortSignal, method: string, path: string): void {
    if (signal.aborted) {
      throw new EntraAbortedError(`${method} ${path} aborted: ${String(signal.reason ?? 'aborted')}`);
    }
  }

  private async pause(ms: number, signal: AbortSignal, method: string, path: string): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch {
      this.stopIfAborted(signal, method, path);
    }
  }

  private error(
    method: string,
    path: string,
    answer: HttpAnswer,
    body: unknown,
    extra: { budget?: string } = {},
  ): GraphError {
    const parsed = GraphErrorBody.safeParse(safeJson(answer.text));
    const code = parsed.success ? parsed.data.error.code : undefined;
    const message = parsed.success ? parsed.data.error.message : undefined;
    const requestId = answer.headers['request-id'] ?? answer.headers['client-request-id'];
    const permission = answer.status === 403 ? permissionFor(path, body) : undefined;
    const what = [code, message?.replace(/\.+$/, '')].filter((s) => s !== undefined && s !== '').join(': ');
    const parts = [
      `${method} ${path} failed: ${answer.status}${what ? ` ${what}` : ''}`,
      extra.budget,
      requestId ? `request-id ${requestId}` : undefined,
    ].filter((s): s is string => s !== undefined);
    const hint = permission
      ? `; the app registration needs the Microsoft Graph application permission ${permission} with admin consent`
      : '';
    return new GraphError(`${parts.join(', ')}${hint}`, {
      status: answer.status,
      path,
      ...(code === undefined ? {} : { code }),
      ...(requestId === undefined ? {} : { requestId }),
      ...(permission === undefined ? {} : { permissionHint: permission }),
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseJson(answer: HttpAnswer, method: string, path: string): unknown {
  if (answer.text === '' || answer.status === 204) return undefined;
  const ct = answer.headers['content-type'] ?? '';
  if (!/json/i.test(ct)) return answer.text;
  const v = safeJson(answer.text);
  if (v === undefined) {
    throw new GraphError(`${method} ${path} answered ${answer.status} with JSON that does not parse`, {
      status: answer.status,
      code: 'unexpectedResponse',
      path,
    });
  }
  return v;
}

function shortIssue(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  return `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`;
}

// DevinClient: the identity endpoints of the Devin v3 API, with the retry,
// rate-limit and pagination rules of docs/design.md §7. A thin shell: every response is parsed with the
// zod schemas at this edge, and the rest of idsync trusts the types.
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { silentLogger } from '../log/logger.js';
import type { BudgetStore } from './budget.js';
import {
  DevinAbortedError,
  DevinApiError,
  DevinError,
  DevinNetworkError,
  DevinResponseError,
  type RequestContext,
} from './errors.js';
import { type BudgetInfo, LimiterAbortedError, type Release, RequestLimiter } from './limiter.js';
import { collectAll, paginate } from './pagination.js';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  type Failure,
  isRetryable,
  parseRetryAfter,
  type RetryPolicy,
} from './retryPolicy.js';
import { fillRoute, ROUTES, selfRoute } from './routes.js';
import {
  EnterpriseUser,
  IdpGroup,
  IdpGroupResponse,
  IdpGroupUser,
  LegacyErrorBody,
  MAX_INVITE_EMAILS,
  MAX_PAGE_SIZE,
  MAX_REGISTER_GROUPS,
  Organization,
  type Page,
  ProblemDetail,
  paginated,
  Role,
  Self,
  User,
  UserWithIdpRoles,
} from './schemas.js';
import { createTransport, type Transport, TransportError } from './transport.js';

export interface DevinClientOptions {
  /** e.g. https://api.devin.ai, or a dedicated deployment's own API domain. */
  baseUrl: string;
  /** `/v3` (default) or `/v3beta1`. */
  apiPrefix?: string;
  /** Service-user token (`cog_…`). Never logged, never put in an error. */
  token: string;
  /**
   * Client-side budget, the ceiling of the adaptive rate; 0 = unlimited (and nothing adapts).
   * Default 10.
   */
  maxRequestsPerSecond?: number;
  /**
   * Adapt the rate below maxRequestsPerSecond: grow while requests go through, cut on a 429
   * (docs/rate-limits.md). Default true; false keeps the rate at maxRequestsPerSecond.
   */
  adaptiveRate?: boolean;
  /**
   * Where the budget lives: default this process. The daemon passes one in Redis
   * (src/devin/sharedBudget.ts), so every replica and both of its clients share one rate and pause.
   */
  budget?: BudgetStore;
  /** Told when the budget's rate, cuts or pause change (the daemon's gauges). */
  onBudget?: (info: BudgetInfo) => void;
  /** Requests in flight at once. Default 4. */
  maxConcurrency?: number;
  /** Per-request timeout (one attempt). Default 30 s. */
  timeoutMs?: number;
  /** `first` for list calls, 1–200. Default 200 (the fewest round trips). */
  pageSize?: number;
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  /** Injected for deterministic tests of the backoff; defaults to Math.random. */
  random?: () => number;
  /** Observes every HTTP exchange (one per attempt): for metrics. */
  onExchange?: (e: ExchangeEvent) => void;
}

export interface ExchangeEvent {
  method: string;
  route: string;
  /** HTTP status, or `network` when no response arrived. */
  status: number | 'network';
  durationMs: number;
  attempt: number;
}

export interface ClientStats {
  /** HTTP exchanges made, retries included. */
  requests: number;
  retries: number;
  byRoute: Record<string, number>;
}

export interface ListOptions {
  /** Exact (case-insensitive) email filter, where the endpoint supports it. */
  email?: string;
}

/** A bulk call split into batches failed part way: what was applied is known and reported. */
export class DevinBulkError extends Error {
  constructor(
    readonly operation: string,
    /** Items of the batches that succeeded before the failure. */
    readonly applied: readonly string[],
    /** Items of the failed batch and of the batches never sent. */
    readonly notApplied: readonly string[],
    override readonly cause: DevinError,
  ) {
    super(
      `${operation}: batch failed after ${applied.length} item(s) were applied; ${notApplied.length} not applied: ${cause.message}`,
    );
    this.name = 'DevinBulkError';
  }
}

export class DevinClientConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevinClientConfigError';
  }
}

type Query = Record<string, string | number | undefined>;

interface CallSpec<S extends z.ZodType> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  route: string;
  params?: Record<string, string>;
  query?: Query;
  body?: unknown;
  schema: S;
}

const PageOf = {
  organizations: paginated(Organization),
  roles: paginated(Role),
  users: paginated(EnterpriseUser),
  orgUsers: paginated(User),
  idpUsers: paginated(IdpGroupUser),
  idpGroups: paginated(IdpGroupResponse),
  groupRoles: paginated(IdpGroup),
};

export class DevinClient {
  readonly baseUrl: URL;
  readonly apiPrefix: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly retry: RetryPolicy;
  private readonly limiter: RequestLimiter;
  private readonly transport: Transport;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly onExchange: ((e: ExchangeEvent) => void) | undefined;
  private readonly counters: ClientStats = { requests: 0, retries: 0, byRoute: {} };
  private readonly aborter = new AbortController();

  constructor(options: DevinClientOptions) {
    this.baseUrl = parseBaseUrl(options.baseUrl);
    this.apiPrefix = normalisePrefix(options.apiPrefix ?? '/v3');
    if (!options.token || /\s/.test(options.token)) {
      throw new DevinClientConfigError('devin token is empty or contains white space');
    }
    this.token = options.token;
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 30_000);
    this.pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > MAX_PAGE_SIZE) {
      throw new DevinClientConfigError(
        `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${this.pageSize}`,
      );
    }
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!Number.isInteger(this.retry.maxAttempts) || this.retry.maxAttempts < 1) {
      throw new DevinClientConfigError(
        `retry.maxAttempts must be an integer ≥ 1, got ${this.retry.maxAttempts}`,
      );
    }
    const concurrency = options.maxConcurrency ?? 4;
    this.log = (options.logger ?? silentLogger).child({ component: 'devin-client' });
    try {
      this.limiter = new RequestLimiter({
        requestsPerSecond: options.maxRequestsPerSecond ?? 10,
        concurrency,
        adaptive: options.adaptiveRate ?? true,
        ...(options.budget ? { store: options.budget } : {}),
        ...(options.onBudget ? { onChange: options.onBudget } : {}),
        onStoreError: (err) =>
          this.log.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'shared request budget unavailable; this process keeps its own budget meanwhile',
          ),
      });
    } catch (err) {
      throw new DevinClientConfigError((err as Error).message);
    }
    this.transport = createTransport(concurrency);
    this.random = options.random ?? Math.random;
    this.onExchange = options.onExchange;
    // One abort listener per request in flight or waiting to retry: more than the default 10 may be.
    setMaxListeners(0, this.aborter.signal);
  }

  /**
   * Stops the client quietly, for a caller that no longer wants the answers (the directory read
   * failed): requests in flight, waiting for a slot or for a retry, and every later call reject
   * with DevinAbortedError, which is never retried and never logged as a failure.
   */
  abort(reason = 'aborted by the caller'): void {
    if (!this.aborter.signal.aborted) this.aborter.abort(reason);
  }

  get aborted(): boolean {
    return this.aborter.signal.aborted;
  }

  /** Releases pooled connections. */
  close(): void {
    this.transport.close();
  }

  stats(): ClientStats {
    return { ...this.counters, byRoute: { ...this.counters.byRoute } };
  }

  /** The request budget as this client last saw it (rate, cuts, pause). */
  budget(): BudgetInfo {
    return this.limiter.info();
  }

  // ---- self -------------------------------------------------------------------------------------

  getSelf(): Promise<Self> {
    return this.call({ method: 'GET', route: selfRoute(this.apiPrefix), schema: Self });
  }

  // ---- organizations and roles ------------------------------------------------------------------

  listOrganizations(): Promise<Organization[]> {
    return this.listAll(ROUTES.organizations, {}, PageOf.organizations);
  }

  getOrganization(orgId: string): Promise<Organization> {
    return this.call({
      method: 'GET',
      route: ROUTES.organization,
      params: { org_id: orgId },
      schema: Organization,
    });
  }

  /** Enterprise and org roles together; tell them apart by `role_type`. */
  listRoles(): Promise<Role[]> {
    return this.listAll(ROUTES.roles, {}, PageOf.roles);
  }

  // ---- enterprise users -------------------------------------------------------------------------

  /** Users with direct role assignments only (IdP-derived members: `listIdpUsers`). */
  listUsers(options: ListOptions = {}): Promise<EnterpriseUser[]> {
    return this.listAll(ROUTES.users, {}, PageOf.users, { email: options.email });
  }

  /** Pages of direct users, for callers that stream. */
  userPages(): AsyncGenerator<EnterpriseUser[], void, undefined> {
    return this.pages(ROUTES.users, {}, PageOf.users, {});
  }

  /** The direct member with this email (exact, case-insensitive), if any. */
  async findUserByEmail(email: string): Promise<EnterpriseUser | undefined> {
    const wanted = email.trim().toLowerCase();
    const users = await this.listUsers({ email: email.trim() });
    return users.find((u) => u.email?.trim().toLowerCase() === wanted);
  }

  /** Both direct and IdP-derived assignments. A 404 means the user is not in the enterprise. */
  getUser(userId: string): Promise<UserWithIdpRoles> {
    return this.call({
      method: 'GET',
      route: ROUTES.user,
      params: { user_id: userId },
      schema: UserWithIdpRoles,
    });
  }

  listIdpUsers(options: ListOptions = {}): Promise<IdpGroupUser[]> {
    return this.listAll(ROUTES.idpUsers, {}, PageOf.idpUsers, { email: options.email });
  }

  /**
   * Invites with one enterprise role, in batches of at most 100 (the documented maximum). Batches
   * run one after another so a failure leaves a clear line between applied and not applied.
   */
  async inviteUsers(emails: readonly string[], enterpriseRoleId: string): Promise<User[]> {
    const out: User[] = [];
    await this.inBatches('inviteUsers', emails, MAX_INVITE_EMAILS, async (batch) => {
      const users = await this.call({
        method: 'POST',
        route: ROUTES.users,
        body: { emails: batch, enterprise_role_id: enterpriseRoleId },
        schema: User.array(),
      });
      out.push(...users);
    });
    return out;
  }

  updateUserRole(userId: string, roleId: string): Promise<User> {
    return this.call({
      method: 'PATCH',
      route: ROUTES.user,
      params: { user_id: userId },
      body: { role_id: roleId },
      schema: User,
    });
  }

  /**
   * DELETEs: the docs say 200 with the object, but an empty body or a 204 is success too (the
   * object is then undefined), as for Cognition's own client.
   */
  removeUser(userId: string): Promise<User | undefined> {
    return this.call({
      method: 'DELETE',
      route: ROUTES.user,
      params: { user_id: userId },
      schema: User.optional(),
    });
  }

  // ---- organization users -----------------------------------------------------------------------

  listOrgUsers(orgId: string, options: ListOptions = {}): Promise<User[]> {
    return this.listAll(ROUTES.orgUsers, { org_id: orgId }, PageOf.orgUsers, { email: options.email });
  }

  listOrgIdpUsers(orgId: string, options: ListOptions = {}): Promise<IdpGroupUser[]> {
    return this.listAll(ROUTES.orgIdpUsers, { org_id: orgId }, PageOf.idpUsers, { email: options.email });
  }

  /** The user must be an enterprise member without a direct role in that org. */
  addOrgUser(orgId: string, userId: string, roleId: string): Promise<User> {
    return this.orgUserWrite('POST', orgId, userId, roleId);
  }

  updateOrgUserRole(orgId: string, userId: string, roleId: string): Promise<User> {
    return this.orgUserWrite('PATCH', orgId, userId, roleId);
  }

  /** An empty body or a 204 is success (undefined). */
  removeOrgUser(orgId: string, userId: string): Promise<User | undefined> {
    return this.call({
      method: 'DELETE',
      route: ROUTES.orgUser,
      params: { org_id: orgId, user_id: userId },
      schema: User.optional(),
    });
  }

  // ---- IdP group registry -----------------------------------------------------------------------

  async listIdpGroups(): Promise<string[]> {
    const groups = await this.listAll(ROUTES.idpGroups, {}, PageOf.idpGroups);
    return groups.map((g) => g.idp_group_name);
  }

  /**
   * Registers names in batches of at most 100. The API ignores names already registered; what it
   * returns for them is undocumented, so callers get back the names they asked for, not the body.
   */
  async registerIdpGroups(names: readonly string[]): Promise<string[]> {
    await this.inBatches('registerIdpGroups', names, MAX_REGISTER_GROUPS, async (batch) => {
      await this.call({
        method: 'POST',
        route: ROUTES.idpGroups,
        body: { idp_group_names: batch },
        schema: IdpGroupResponse.array(),
      });
    });
    return [...names];
  }

  /** An empty body or a 204 is success (undefined). */
  unregisterIdpGroup(name: string): Promise<IdpGroupResponse | undefined> {
    return this.call({
      method: 'DELETE',
      route: ROUTES.idpGroup,
      params: { idp_group_name: name },
      schema: IdpGroupResponse.optional(),
    });
  }

  // ---- group role mappings: enterprise ----------------------------------------------------------

  listEnterpriseGroupRoles(): Promise<IdpGroup[]> {
    return this.listAll(ROUTES.enterpriseGroupRoles, {}, PageOf.groupRoles);
  }

  getEnterpriseGroupRole(name: string): Promise<IdpGroup> {
    return this.call({
      method: 'GET',
      route: ROUTES.enterpriseGroupRole,
      params: { idp_group_name: name },
      schema: IdpGroup,
    });
  }

  assignEnterpriseGroupRole(name: string, roleId: string): Promise<IdpGroup> {
    return this.groupRoleWrite('POST', ROUTES.enterpriseGroupRole, { idp_group_name: name }, roleId);
  }

  updateEnterpriseGroupRole(name: string, roleId: string): Promise<IdpGroup> {
    return this.groupRoleWrite('PATCH', ROUTES.enterpriseGroupRole, { idp_group_name: name }, roleId);
  }

  /** An empty body or a 204 is success (undefined). */
  removeEnterpriseGroupRole(name: string): Promise<IdpGroup | undefined> {
    return this.call({
      method: 'DELETE',
      route: ROUTES.enterpriseGroupRole,
      params: { idp_group_name: name },
      schema: IdpGroup.optional(),
    });
  }

  // ---- group role mappings: organization --------------------------------------------------------

  listOrgGroupRoles(orgId: string): Promise<IdpGroup[]> {
    return this.listAll(ROUTES.orgGroupRoles, { org_id: orgId }, PageOf.groupRoles);
  }

  getOrgGroupRole(orgId: string, name: string): Promise<IdpGroup> {
    return this.call({
      method: 'GET',
      route: ROUTES.orgGroupRole,
      params: { org_id: orgId, idp_group_name: name },
      schema: IdpGroup,
    });
  }

  /** Devin rejects an org mapping for a group without an enterprise mapping: create that first. */
  assignOrgGroupRole(orgId: string, name: string, roleId: string): Promise<IdpGroup> {
    return this.groupRoleWrite('POST', ROUTES.orgGroupRole, { org_id: orgId, idp_group_name: name }, roleId);
  }

  updateOrgGroupRole(orgId: string, name: string, roleId: string): Promise<IdpGroup> {
    return this.groupRoleWrite('PATCH', ROUTES.orgGroupRole, { org_id: orgId, idp_group_name: name }, roleId);
  }

  /** An empty body or a 204 is success (undefined). */
  removeOrgGroupRole(orgId: string, name: string): Promise<IdpGroup | undefined> {
    return this.call({
      method: 'DELETE',
      route: ROUTES.orgGroupRole,
      params: { org_id: orgId, idp_group_name: name },
      schema: IdpGroup.optional(),
    });
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private orgUserWrite(
    method: 'POST' | 'PATCH',
    orgId: string,
    userId: string,
    roleId: string,
  ): Promise<User> {
    return this.call({
      method,
      route: ROUTES.orgUser,
      params: { org_id: orgId, user_id: userId },
      body: { role_id: roleId },
      schema: User,
    });
  }

  private groupRoleWrite(
    method: 'POST' | 'PATCH',
    route: string,
    params: Record<string, string>,
    roleId: string,
  ): Promise<IdpGroup> {
    return this.call({ method, route, params, body: { role_id: roleId }, schema: IdpGroup });
  }

  private async inBatches(
    operation: string,
    items: readonly string[],
    size: number,
    run: (batch: string[]) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < items.length; i += size) {
      const batch = items.slice(i, i + size);
      try {
        await run(batch);
      } catch (err) {
        if (err instanceof DevinError && i > 0) {
          throw new DevinBulkError(operation, items.slice(0, i), items.slice(i), err);
        }
        throw err;
      }
    }
  }

  private pages<T>(
    route: string,
    params: Record<string, string>,
    schema: z.ZodType<Page<T>>,
    query: Query,
  ): AsyncGenerator<T[], void, undefined> {
    const path = this.apiPrefix + fillRoute(route, params);
    return paginate(
      (after) =>
        this.call({
          method: 'GET',
          route,
          params,
          query: { ...query, first: this.pageSize, after },
          schema,
        }),
      { method: 'GET', route: this.apiPrefix + route, path },
    );
  }

  private listAll<T>(
    route: string,
    params: Record<string, string>,
    schema: z.ZodType<Page<T>>,
    query: Query = {},
  ): Promise<T[]> {
    return collectAll(this.pages(route, params, schema, query));
  }

  private async call<S extends z.ZodType>(spec: CallSpec<S>): Promise<z.output<S>> {
    const path = this.apiPrefix + fillRoute(spec.route, spec.params ?? {});
    const url = new URL(this.baseUrl.pathname.replace(/\/$/, '') + path, this.baseUrl);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    const route = this.apiPrefix + spec.route;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/json',
      'user-agent': 'idsync',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 1; ; attempt++) {
      const ctx: RequestContext = { method: spec.method, route, path, attempts: attempt };
      if (this.aborted) throw this.abortedError(ctx, false);
      let release: Release;
      try {
        release = await this.limiter.acquire(this.aborter.signal);
      } catch (err) {
        if (err instanceof LimiterAbortedError) throw this.abortedError(ctx, false);
        throw err;
      }
      if (this.aborted) {
        release();
        throw this.abortedError(ctx, false);
      }
      const started = performance.now();
      let failure: Failure;
      let retryAfterMs: number | undefined;
      /** How long a 429 holds every caller of the budget back. */
      let throttleMs: number | undefined;
      let error: DevinError;
      try {
        this.count(route);
        const res = await this.transport.send({
          url,
          method: spec.method,
          headers,
          body,
          timeoutMs: this.timeoutMs,
          signal: this.aborter.signal,
        });
        retryAfterMs = parseRetryAfter(headerValue(res.headers['retry-after']));
        if (res.status === 429) {
          // A 429 means Devin wants every caller to slow down, not just this one: the budget
          // pauses them all (every replica, when shared) and cuts the rate.
          throttleMs = retryAfterMs ?? backoffDelayMs(attempt, this.retry, this.random);
          release({ kind: 'throttled', pauseMs: throttleMs });
        } else {
          // Any other answer says the rate was acceptable; Devin's own 5xx trouble says nothing.
          release(res.status < 500 ? { kind: 'ok' } : undefined);
        }
        const durationMs = performance.now() - started;
        this.observe({ method: spec.method, route, status: res.status, durationMs, attempt });
        if (res.status >= 200 && res.status < 300) return this.parseBody(ctx, res.body, spec.schema);
        error = new DevinApiError(ctx, res.status, this.parseErrorBody(res.body), retryAfterMs);
        failure = { kind: 'status', status: res.status };
      } catch (err) {
        release();
        if (!(err instanceof TransportError)) throw err;
        if (this.aborted) throw this.abortedError(ctx, err.sent);
        const durationMs = performance.now() - started;
        this.observe({ method: spec.method, route, status: 'network', durationMs, attempt });
        error = new DevinNetworkError(ctx, err.sent, err.code, err.cause);
        failure = { kind: 'network', sent: err.sent };
      }

      // Aborted while the answer was on its way: not a failure to retry or to report.
      if (this.aborted) throw this.abortedError(ctx, failure.kind === 'status' || failure.sent);
      if (attempt >= this.retry.maxAttempts || !isRetryable(spec.method, failure)) throw error;
      if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) throw error;
      const delay = retryAfterMs ?? throttleMs ?? backoffDelayMs(attempt, this.retry, this.random);
      this.counters.retries++;
      this.log.warn(
        {
          method: spec.method,
          route,
          status: failure.kind === 'status' ? failure.status : 'network',
          attempt,
          delay,
        },
        'devin request failed; retrying',
      );
      await abortableSleep(delay, this.aborter.signal);
    }
  }

  private abortedError(ctx: RequestContext, sent: boolean): DevinAbortedError {
    const reason = this.aborter.signal.reason;
    return new DevinAbortedError(ctx, sent, typeof reason === 'string' ? reason : undefined);
  }

  private parseBody<S extends z.ZodType>(ctx: RequestContext, text: string, schema: S): z.output<S> {
    let json: unknown;
    try {
      // An empty body (a 204, or a DELETE answered with nothing) parses as undefined: only schemas
      // that allow it (the DELETEs) accept it.
      json = text.trim() === '' ? undefined : JSON.parse(text);
    } catch {
      throw new DevinResponseError(ctx, ['body is not JSON']);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new DevinResponseError(
        ctx,
        parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
      );
    }
    return parsed.data;
  }

  private parseErrorBody(text: string): {
    problem?: ProblemDetail | undefined;
    legacy?: LegacyErrorBody | undefined;
    raw?: string;
  } {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { raw: this.scrub(text) };
    }
    const problem = ProblemDetail.safeParse(json);
    if (problem.success) return { problem: scrubDeep(problem.data, this.token) };
    const legacy = LegacyErrorBody.safeParse(json);
    if (legacy.success) return { legacy: scrubDeep(legacy.data, this.token) };
    return { raw: this.scrub(text) };
  }

  /** Defence in depth: a server that echoes the token must not put it into our errors. */
  private scrub(text: string): string {
    return text.split(this.token).join('[REDACTED]');
  }

  private count(route: string): void {
    this.counters.requests++;
    this.counters.byRoute[route] = (this.counters.byRoute[route] ?? 0) + 1;
  }

  private observe(e: ExchangeEvent): void {
    this.log.debug(e, 'devin request');
    this.onExchange?.(e);
  }
}

/** `sleep`, cut short by an abort (the caller then finds the client aborted). */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function scrubDeep<T>(value: T, token: string): T {
  return JSON.parse(JSON.stringify(value).split(token).join('[REDACTED]')) as T;
}

function parseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DevinClientConfigError(`devin baseUrl is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DevinClientConfigError(`devin baseUrl must be http(s), got ${url.protocol}`);
  }
  if (url.username || url.password)
    throw new DevinClientConfigError('devin baseUrl must not carry credentials');
  return url;
}

function normalisePrefix(prefix: string): string {
  if (!/^\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix)) {
    throw new DevinClientConfigError(`devin apiPrefix must look like /v3, got ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new DevinClientConfigError(`${name} must be > 0, got ${value}`);
  return value;
}

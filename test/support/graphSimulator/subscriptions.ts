// Graph change-notification subscriptions: create (with the validation handshake Graph does before
// it answers 201: a token with characters that need URL encoding, sent encoded in the query, and the
// decoded token expected back as text/plain within 10 s), renew by PATCH within the 41760-minute cap,
// delete, reauthorize; change notifications POSTed after directory mutations and lifecycle
// notifications on demand. Every POST is tracked so tests can wait for them with settled().
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { USER_READERS } from './graph.js';
import { type Ctx, graphError, jsonBody, send, sendJson } from './http.js';
import type { GraphPermission, LifecycleEvent, SimDelivery, SimSubscription } from './types.js';

const GROUP_SUBSCRIBERS: readonly GraphPermission[] = ['Group.Read.All', 'Directory.Read.All'];

/** Graph's maximum lifetime for user, group and other directory subscriptions. */
export const MAX_SUBSCRIPTION_MINUTES = 41_760;
const CHANGE_TYPES = new Set(['created', 'updated', 'deleted']);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

interface SubRec {
  id: string;
  resource: string;
  kind: 'users' | 'groups';
  changeType: string;
  changeTypes: Set<string>;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  expiresAt: number;
  clientState?: string;
}

export interface SubscriptionsOptions {
  url: string;
  tenantId: string;
  clientId: string;
  validationTimeoutMs: number;
  notificationTimeoutMs: number;
  ca?: string;
}

interface PostResult {
  status: number;
  body: string;
  contentType: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Subscriptions {
  private readonly subs = new Map<string, SubRec>();
  private readonly inflight = new Set<Promise<unknown>>();
  readonly deliveries: SimDelivery[] = [];
  private readonly abort = new AbortController();
  private readonly servicePrincipalId = randomUUID();

  constructor(private readonly o: SubscriptionsOptions) {}

  // ---- outbound POSTs ---------------------------------------------------------------------------

  private post(url: string, body: string, contentType: string, timeoutMs: number): Promise<PostResult> {
    const p = new Promise<PostResult>((resolve, reject) => {
      const u = new URL(url);
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
        u,
        {
          method: 'POST',
          headers: {
            'content-type': contentType,
            'content-length': Buffer.byteLength(body),
            'user-agent': 'Microsoft-Graph-ChangeNotifications (idsync simulator)',
          },
          ca: this.o.ca,
          signal: this.abort.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 64 * 1024) chunks.push(c);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              contentType: String(res.headers['content-type'] ?? ''),
            });
          });
          res.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });
    this.track(p);
    return p;
  }

  private track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
  }

  /** Resolves when every POST started so far (and any they led to) has settled. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  async close(): Promise<void> {
    this.abort.abort(new Error('graph simulator stopped'));
    await this.settled();
  }

  private deliverJson(
    sub: SubRec,
    url: string,
    kind: 'change' | 'lifecycle',
    body: unknown,
  ): Promise<number> {
    const entry: SimDelivery = { subscriptionId: sub.id, url, kind, body };
    this.deliveries.push(entry);
    return this.post(
      url,
      JSON.stringify(body),
      'application/json; charset=utf-8',
      this.o.notificationTimeoutMs,
    ).then(
      (r) => {
        entry.status = r.status;
        return r.status;
      },
      (e: unknown) => {
        entry.error = e instanceof Error ? e.message : String(e);
        throw e;
      },
    );
  }

  // ---- state ------------------------------------------------------------------------------------

  private live(id: string): SubRec | undefined {
    const s = this.subs.get(id);
    if (s && s.expiresAt <= Date.now()) {
      this.subs.delete(id);
      return undefined;
    }
    return s;
  }

  list(): SimSubscription[] {
    const out: SimSubscription[] = [];
    for (const id of [...this.subs.keys()]) {
      const s = this.live(id);
      if (s) out.push(this.publicView(s));
    }
    return out;
  }

  drop(id: string): void {
    this.subs.delete(id);
  }

  private publicView(s: SubRec): SimSubscription {
    const v: SimSubscription = {
      id: s.id,
      resource: s.resource,
      changeType: s.changeType,
      notificationUrl: s.notificationUrl,
      expirationDateTime: new Date(s.expiresAt).toISOString(),
    };
    if (s.lifecycleNotificationUrl !== undefined) v.lifecycleNotificationUrl = s.lifecycleNotificationUrl;
    if (s.clientState !== undefined) v.clientState = s.clientState;
    return v;
  }

  private json(s: SubRec): Record<string, unknown> {
    return {
      id: s.id,
      resource: s.resource,
      applicationId: this.o.clientId,
      changeType: s.changeType,
      clientState: s.clientState ?? null,
      notificationUrl: s.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: s.lifecycleNotificationUrl ?? null,
      expirationDateTime: new Date(s.expiresAt).toISOString(),
      creatorId: this.servicePrincipalId,
      includeResourceData: null,
      latestSupportedTlsVersion: 'v1_2',
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    };
  }

  // ---- notifications ----------------------------------------------------------------------------

  /** Sends a change notification to every live subscription on the resource that wants this change type. */
  notify(kind: 'users' | 'groups', id: string, changeType: 'updated' | 'deleted'): void {
    for (const sid of [...this.subs.keys()]) {
      const s = this.live(sid);
      if (!s || s.kind !== kind || !s.changeTypes.has(changeType)) continue;
      const resource = `${kind === 'users' ? 'Users' : 'Groups'}/${id}`;
      const body = {
        value: [
          {
            id: randomUUID(),
            subscriptionId: s.id,
            subscriptionExpirationDateTime: new Date(s.expiresAt).toISOString(),
            changeType,
            resource,
            resourceData: {
              '@odata.type': kind === 'users' ? '#Microsoft.Graph.User' : '#Microsoft.Graph.Group',
              '@odata.id': resource,
              id,
              organizationId: this.o.tenantId,
            },
            clientState: s.clientState ?? null,
            tenantId: this.o.tenantId,
          },
        ],
      };
      this.deliverJson(s, s.notificationUrl, 'change', body).catch(() => {
        // recorded in deliveries(); Graph would retry later, the simulator does not
      });
    }
  }

  sendLifecycle(id: string, event: LifecycleEvent): Promise<number> {
    const s = this.live(id);
    if (!s) return Promise.reject(new Error(`graph simulator: no subscription ${id}`));
    if (!s.lifecycleNotificationUrl) {
      return Promise.reject(new Error(`graph simulator: subscription ${id} has no lifecycleNotificationUrl`));
    }
    const body = {
      value: [
        {
          subscriptionId: s.id,
          subscriptionExpirationDateTime: new Date(s.expiresAt).toISOString(),
          tenantId: this.o.tenantId,
          organizationId: this.o.tenantId,
          clientState: s.clientState ?? null,
          lifecycleEvent: event,
          resource: s.resource,
        },
      ],
    };
    // Graph sends subscriptionRemoved once the subscription is already gone.
    if (event === 'subscriptionRemoved') this.subs.delete(id);
    return this.deliverJson(s, s.lifecycleNotificationUrl, 'lifecycle', body);
  }

  // ---- routes -----------------------------------------------------------------------------------

  /** Handles /v1.0/subscriptions routes; false when the path is not one of them. */
  async handle(ctx: Ctx, roles: ReadonlySet<GraphPermission>): Promise<boolean> {
    const s = ctx.segments.slice(1);
    if (s[0] !== 'subscriptions') return false;
    if (s.length === 1 && ctx.method === 'POST') await this.create(ctx, roles);
    else if (s.length === 1 && ctx.method === 'GET') {
      sendJson(ctx, 200, {
        '@odata.context': `${this.o.url}/v1.0/$metadata#subscriptions`,
        value: this.list().map((v) => this.json(this.subs.get(v.id)!)),
      });
    } else if (s.length === 2 || (s.length === 3 && s[2] === 'reauthorize')) {
      const id = [...this.subs.keys()].find((k) => k.toLowerCase() === s[1]) ?? s[1]!;
      const sub = this.live(id);
      if (!sub) {
        graphError(
          ctx,
          404,
          'ResourceNotFound',
          `The object was not found. Subscription '${s[1]}' does not exist.`,
        );
      } else if (s.length === 3) {
        if (ctx.method !== 'POST') return false;
        send(ctx, 204);
      } else if (ctx.method === 'GET') {
        sendJson(ctx, 200, {
          '@odata.context': `${this.o.url}/v1.0/$metadata#subscriptions/$entity`,
          ...this.json(sub),
        });
      } else if (ctx.method === 'PATCH') this.renew(ctx, sub);
      else if (ctx.method === 'DELETE') {
        this.subs.delete(sub.id);
        send(ctx, 204);
      } else return false;
    } else return false;
    return true;
  }

  private expiry(raw: unknown): { ok: true; at: number } | { ok: false; message: string } {
    if (typeof raw !== 'string') return { ok: false, message: 'expirationDateTime is required.' };
    const at = Date.parse(raw);
    if (Number.isNaN(at)) return { ok: false, message: `expirationDateTime '${raw}' is not a valid date.` };
    const now = Date.now();
    if (at <= now) return { ok: false, message: 'Subscription expiration must be in the future.' };
    if (at > now + MAX_SUBSCRIPTION_MINUTES * 60_000) {
      return {
        ok: false,
        message: `Subscription expiration can only be ${MAX_SUBSCRIPTION_MINUTES} minutes in the future.`,
      };
    }
    return { ok: true, at };
  }

  private checkUrl(raw: unknown, name: string): { ok: true; url: string } | { ok: false; message: string } {
    if (typeof raw !== 'string') return { ok: false, message: `${name} is required.` };
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return { ok: false, message: `${name} '${raw}' is not a valid URL.` };
    }
    // Graph requires https; the simulator also takes http on a loopback host, a concession to tests.
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
      return { ok: false, message: `${name} must use the https scheme.` };
    }
    return { ok: true, url: raw };
  }

  private async create(ctx: Ctx, roles: ReadonlySet<GraphPermission>) {
    const body = jsonBody(ctx);
    if (!isRecord(body))
      return graphError(ctx, 400, 'InvalidRequest', 'The request body must be a JSON object.');
    const resourceRaw = body.resource;
    const resource = typeof resourceRaw === 'string' ? resourceRaw.replace(/^\//, '').toLowerCase() : '';
    if (resource !== 'users' && resource !== 'groups') {
      return graphError(
        ctx,
        400,
        'InvalidRequest',
        `Resource '${String(resourceRaw)}' is not supported by the simulator.`,
      );
    }
    // As Graph's subscription table: groups need Group.Read.All; GroupMember.Read.All, enough to
    // read every member list and groups/delta, is not enough to subscribe.
    const needs = resource === 'users' ? USER_READERS : GROUP_SUBSCRIBERS;
    if (!needs.some((p) => roles.has(p))) {
      return graphError(
        ctx,
        403,
        'Authorization_RequestDenied',
        'Insufficient privileges to complete the operation.',
      );
    }
    const changeType = typeof body.changeType === 'string' ? body.changeType : '';
    const types = changeType.split(',').map((t) => t.trim());
    if (changeType === '' || types.some((t) => !CHANGE_TYPES.has(t))) {
      return graphError(ctx, 400, 'InvalidRequest', `changeType '${changeType}' is invalid.`);
    }
    const notification = this.checkUrl(body.notificationUrl, 'notificationUrl');
    if (!notification.ok) return graphError(ctx, 400, 'InvalidRequest', notification.message);
    let lifecycle: string | undefined;
    if (body.lifecycleNotificationUrl !== undefined && body.lifecycleNotificationUrl !== null) {
      const l = this.checkUrl(body.lifecycleNotificationUrl, 'lifecycleNotificationUrl');
      if (!l.ok) return graphError(ctx, 400, 'InvalidRequest', l.message);
      lifecycle = l.url;
    }
    const exp = this.expiry(body.expirationDateTime);
    if (!exp.ok) return graphError(ctx, 400, 'InvalidRequest', exp.message);
    let clientState: string | undefined;
    if (body.clientState !== undefined && body.clientState !== null) {
      if (typeof body.clientState !== 'string' || body.clientState.length > 128) {
        return graphError(
          ctx,
          400,
          'InvalidRequest',
          'clientState must be a string of at most 128 characters.',
        );
      }
      clientState = body.clientState;
    }
    if (body.includeResourceData === true) {
      return graphError(
        ctx,
        400,
        'InvalidRequest',
        'includeResourceData is not supported for users and groups.',
      );
    }
    const sub: SubRec = {
      id: randomUUID(),
      resource: String(resourceRaw),
      kind: resource,
      changeType,
      changeTypes: new Set(types),
      notificationUrl: notification.url,
      expiresAt: exp.at,
    };
    if (lifecycle !== undefined) sub.lifecycleNotificationUrl = lifecycle;
    if (clientState !== undefined) sub.clientState = clientState;
    for (const url of lifecycle === undefined ? [notification.url] : [notification.url, lifecycle]) {
      const problem = await this.validate(sub.id, url);
      if (problem) {
        return graphError(
          ctx,
          400,
          'ValidationError',
          `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ${problem}`,
        );
      }
    }
    this.subs.set(sub.id, sub);
    sendJson(ctx, 201, {
      '@odata.context': `${this.o.url}/v1.0/$metadata#subscriptions/$entity`,
      ...this.json(sub),
    });
  }

  /** The handshake; returns what went wrong, or undefined. */
  private async validate(subscriptionId: string, url: string): Promise<string | undefined> {
    // Like Graph's: spaces and colons, plus '+', '/' and '=' from base64, all of which need encoding.
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()} +${randomBytes(9).toString('base64')}/=`;
    const target = `${url}${url.includes('?') ? '&' : '?'}validationToken=${encodeURIComponent(token)}`;
    const entry: SimDelivery = { subscriptionId, url, kind: 'validation' };
    this.deliveries.push(entry);
    try {
      const r = await this.post(target, '', 'text/plain', this.o.validationTimeoutMs);
      entry.status = r.status;
      if (r.status !== 200) return `The endpoint answered ${r.status}.`;
      if (!r.contentType.toLowerCase().startsWith('text/plain')) {
        entry.error = `content-type ${r.contentType || '(none)'}`;
        return `The answer's Content-Type was '${r.contentType}', not text/plain.`;
      }
      if (r.body !== token) {
        entry.error = 'the body was not the decoded validation token';
        return 'The answer was not the decoded validation token.';
      }
      return undefined;
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e);
      return `The endpoint could not be reached: ${entry.error}`;
    }
  }

  private renew(ctx: Ctx, sub: SubRec) {
    const body = jsonBody(ctx);
    if (!isRecord(body))
      return graphError(ctx, 400, 'InvalidRequest', 'The request body must be a JSON object.');
    const exp = this.expiry(body.expirationDateTime);
    if (!exp.ok) return graphError(ctx, 400, 'InvalidRequest', exp.message);
    sub.expiresAt = exp.at;
    sendJson(ctx, 200, {
      '@odata.context': `${this.o.url}/v1.0/$metadata#subscriptions/$entity`,
      ...this.json(sub),
    });
  }
}

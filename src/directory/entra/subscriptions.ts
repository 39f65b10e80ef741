// Graph change-notification subscriptions for /users and /groups (docs/entra.md): created when
// `source.notifications.publicUrl` is set, renewed well before they expire, recreated when gone,
// and their lifecycle events handled. A notification only says "something changed": the run it
// triggers reads the change with a delta round (deltaSource.ts), so nothing here depends on what a
// notification carries besides its subscription id and clientState.
//
// Exactly one replica manages subscriptions at a time: a lease in Redis (SET NX PX, renewed on
// every tick, released on shutdown). The others take over within one lease time when the holder
// dies. Subscriptions are left in place on shutdown: they live in Graph, not in this process, and
// the next holder carries on with them. The registry (one Redis hash, subscription id → record with
// its random clientState) is what every replica's /webhooks/graph checks notifications against.
// A subscription with our notificationUrl that the registry does not know (a crash between Graph's
// 201 and the registry write, a registry lost with Redis's data) is deleted: nobody could check its
// notifications.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Lease } from '../../daemon/lease.js';
import type { EntraMetrics } from '../../daemon/types.js';
import { type GraphClient, GraphError } from './graphClient.js';

export const SUBSCRIBED_RESOURCES = ['/users', '/groups'] as const;
export type SubscribedResource = (typeof SUBSCRIBED_RESOURCES)[number];
/** A user or group deleted arrives first as `updated` (soft delete); `deleted` on a hard delete. */
export const CHANGE_TYPE = 'updated,deleted';
/**
 * Change and lifecycle notifications share one route: the chart's ingress exposes exactly
 * /webhooks/graph, and the body tells them apart (`lifecycleEvent`).
 */
export const WEBHOOK_PATH = '/webhooks/graph';
/** Graph's ceiling for directory resources (just under 29 days). */
export const MAX_LIFETIME_MINUTES = 41_760;

export interface NotificationSettings {
  /** Where Graph reaches this daemon, e.g. https://idsync.corp.example (no trailing path). */
  publicUrl: string;
  lifetimeMinutes: number;
  renewBeforeMinutes: number;
}

export function notificationUrl(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${WEBHOOK_PATH}`;
}

export function subscriptionKeys(prefix: string): { registry: string; lease: string; pending: string } {
  return {
    registry: `${prefix}:entra:subscriptions`,
    lease: `${prefix}:entra:subscriptions:lease`,
    pending: `${prefix}:entra:subscriptions:pending`,
  };
}

/**
 * How long a clientState counts as pending: from before the create request until the registry
 * holds its id. Graph validates the URL and may deliver the first notification before its 201
 * reaches us; the create's own timeout bounds the wait, this only bounds a crashed manager's leftovers.
 */
const PENDING_MS = 5 * 60_000;

const Resource = z.enum(SUBSCRIBED_RESOURCES);

/** One subscription this deployment made, as kept in the registry. */
export const SubscriptionRecord = z.object({
  id: z.string().min(1),
  resource: Resource,
  clientState: z.string().min(1).max(128),
  expirationDateTime: z.iso.datetime({ offset: true }),
  notificationUrl: z.string(),
  createdAt: z.iso.datetime(),
});
export type SubscriptionRecord = z.infer<typeof SubscriptionRecord>;

/** What Graph answers for a subscription (create, renew, get, list). */
const GraphSubscription = z.looseObject({
  id: z.string().min(1),
  resource: z.string().optional(),
  notificationUrl: z.string().optional(),
  expirationDateTime: z.string(),
});

/** A Graph subscription's resource as one of ours: `users`, `/Users` and `/users` are the same. */
export function resourceOf(resource: string | undefined): SubscribedResource | undefined {
  const r = `/${(resource ?? '').replace(/^\/+/, '').toLowerCase()}`;
  return (SUBSCRIBED_RESOURCES as readonly string[]).includes(r) ? (r as SubscribedResource) : undefined;
}

/** The random secret Graph echoes in every notification of one subscription (≤ 128 characters). */
export function newClientState(): string {
  return randomBytes(48).toString('base64url');
}

// ---- the registry ----------------------------------------------------------------------------------

/** The Redis hash of our subscriptions: read by every replica's webhook, written by the holder. */
export class SubscriptionRegistry {
  private readonly key: string;
  private readonly pendingKey: string;
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = subscriptionKeys(prefix).registry;
    this.pendingKey = subscriptionKeys(prefix).pending;
  }

  /**
   * The clientStates of subscriptions being created, whose ids are not known yet: a notification
   * Graph sends between its 201 and our registry write would otherwise be refused with a 401,
   * which Graph does not redeliver.
   */
  async pendingClientStates(nowMs = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(this.pendingKey, nowMs, '+inf');
  }

  async addPending(clientState: string, nowMs = Date.now()): Promise<void> {
    await this.redis
      .multi()
      .zremrangebyscore(this.pendingKey, '-inf', nowMs)
      .zadd(this.pendingKey, nowMs + PENDING_MS, clientState)
      .exec();
  }

  async removePending(clientState: string): Promise<void> {
    await this.redis.zrem(this.pendingKey, clientState);
  }

  async all(): Promise<SubscriptionRecord[]> {
    const raw = await this.redis.hgetall(this.key);
    const out: SubscriptionRecord[] = [];
    for (const text of Object.values(raw)) {
      const rec = parseRecord(text);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** The clientState of each id the registry holds; unknown (or unreadable) ids are absent. */
  async clientStates(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (ids.length === 0) return out;
    const texts = await this.redis.hmget(this.key, ...ids);
    ids.forEach((id, i) => {
      const rec = parseRecord(texts[i] ?? null);
      if (rec && rec.id === id) out.set(id, rec.clientState);
    });
    return out;
  }

  async put(rec: SubscriptionRecord): Promise<void> {
    await this.redis.hset(this.key, rec.id, JSON.stringify(rec));
  }

  async remove(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, id)) > 0;
  }
}

function parseRecord(text: string | null): SubscriptionRecord | undefined {
  if (text === null) return undefined;
  try {
    const r = SubscriptionRecord.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

// ---- the manager -----------------------------------------------------------------------------------

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface SubscriptionManagerOptions {
  client: Pick<GraphClient, 'request' | 'pages'>;
  /** A connection that waits out Redis outages (the daemon's workers' connection). */
  redis: Redis;
  prefix: string;
  settings: NotificationSettings;
  logger: Logger;
  metrics?: Partial<EntraMetrics>;
  /** A `missed` lifecycle event: the next round must be a full read (deltaSource's flag). */
  requestFullRead: (why: string) => Promise<void>;
  /** Lease time; ticks come at a third of it. Default 60 s. */
  leaseMs?: number;
  /** How often the holder lists Graph's subscriptions to find dropped and stray ones. Default 10 min. */
  verifyEveryMs?: number;
  /** Epoch ms; tests move it to reach renewal time. */
  now?: () => number;
}

export interface SubscriptionStatus {
  holder: boolean;
  subscriptions: SubscriptionRecord[];
}

/** Renewal and recreation runs in one replica; lifecycle events arrive at any replica's webhook. */
export class SubscriptionManager {
  readonly registry: SubscriptionRegistry;
  private readonly log: Logger;
  private readonly lease: Lease;
  private readonly leaseMs: number;
  private readonly verifyEveryMs: number;
  private readonly now: () => number;
  private readonly url: string;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly tickMs: number;
  private ticking: Promise<void> | undefined;
  private again = false;
  private holding = false;
  private stopped = false;
  private lastVerifiedAt = 0;
  private known: SubscriptionRecord[] = [];

  constructor(private readonly o: SubscriptionManagerOptions) {
    this.log = o.logger.child({ component: 'graph-subscriptions' });
    this.registry = new SubscriptionRegistry(o.redis, o.prefix);
    this.leaseMs = o.leaseMs ?? 60_000;
    this.lease = new Lease(o.redis, subscriptionKeys(o.prefix).lease, this.leaseMs);
    this.verifyEveryMs = o.verifyEveryMs ?? 10 * 60_000;
    this.tickMs = Math.max(50, Math.floor(this.leaseMs / 3));
    this.now = o.now ?? Date.now;
    this.url = notificationUrl(o.settings.publicUrl);
    if (o.settings.lifetimeMinutes > MAX_LIFETIME_MINUTES)
      throw new RangeError(`notifications.lifetimeMinutes is at most ${MAX_LIFETIME_MINUTES}`);
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops renewing and releases the lease; the subscriptions stay for the next holder. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    this.timer = undefined;
    await this.ticking;
    if (this.holding) {
      this.holding = false;
      await this.lease
        .release()
        .catch((err: unknown) => this.log.warn({ err: text(err) }, 'lease release failed'));
      this.log.info('subscription lease released');
    }
    this.o.metrics?.subscriptionsActive?.(0);
  }

  status(): SubscriptionStatus {
    return { holder: this.holding, subscriptions: this.holding ? [...this.known] : [] };
  }

  /** One look (also run on demand: a lifecycle event, a test); never two at once. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        let ok = false;
        try {
          ok = await this.look();
        } catch (err) {
          this.log.warn({ err: text(err) }, 'subscription check failed');
        }
        this.retryAfterFailure(ok);
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /**
   * A failed look is tried again sooner than the next tick, backing off (2 s, 4 s, … up to the
   * tick): the first subscription of a starting daemon races its own HTTP server's listen, whose
   * handshake Graph needs, and an hour without notifications for one 503 would be a poor trade.
   */
  private retryAfterFailure(ok: boolean): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (ok || this.stopped || this.timer === undefined) {
      this.failures = 0;
      return;
    }
    this.failures++;
    const ms = Math.min(this.tickMs, 1_000 * 2 ** Math.min(this.failures, 10));
    this.retryTimer = setTimeout(() => void this.tick(), ms);
    this.retryTimer.unref();
  }

  /**
   * A lifecycle event of one of our subscriptions, already authenticated by its clientState.
   * Resolves once what must not be lost is recorded (the full-read flag, the registry change);
   * the Graph calls that follow happen after it (the webhook has 3 s to answer).
   */
  async lifecycle(subscriptionId: string, event: LifecycleEvent): Promise<void> {
    this.log.info({ subscriptionId, event }, 'graph lifecycle event');
    switch (event) {
      case 'missed':
        // Graph dropped notifications it could not deliver: only a full read finds what they said.
        await this.o.requestFullRead(`Graph reported missed notifications (subscription ${subscriptionId})`);
        return;
      case 'subscriptionRemoved':
        // Gone at Graph: forget it, and the holder creates a new one.
        await this.registry.remove(subscriptionId);
        void this.tick();
        return;
      case 'reauthorizationRequired':
        void this.reauthorize(subscriptionId).catch((err: unknown) =>
          this.log.warn({ subscriptionId, err: text(err) }, 'reauthorization failed'),
        );
        return;
    }
  }

  /** One look; true when everything it tried worked. */
  private async look(): Promise<boolean> {
    if (this.stopped) return true;
    const held = await this.lease.hold();
    if (held !== this.holding) {
      this.holding = held;
      this.log.info({ holder: held }, held ? 'subscription lease taken' : 'subscription lease lost');
      // A new holder looks at Graph's list at once: the previous one may have died mid-change.
      if (held) this.lastVerifiedAt = 0;
    }
    if (!held) {
      this.known = [];
      this.o.metrics?.subscriptionsActive?.(0);
      return true;
    }
    let ok = true;
    let records = await this.registry.all();
    if (this.now() - this.lastVerifiedAt >= this.verifyEveryMs) {
      try {
        records = await this.verify(records);
        this.lastVerifiedAt = this.now();
      } catch (err) {
        // Renewals matter more than the check: they go ahead on what the registry says.
        ok = false;
        this.log.warn({ err: text(err) }, "could not check Graph's list of subscriptions");
      }
    }
    // Each resource on its own: a failure for one must not leave the other unrenewed.
    for (const resource of SUBSCRIBED_RESOURCES) {
      if (this.stopped) return ok;
      try {
        await this.keep(resource, records);
      } catch (err) {
        ok = false;
        this.log.warn({ resource, err: text(err) }, 'subscription upkeep failed');
      }
    }
    this.known = await this.registry.all();
    this.o.metrics?.subscriptionsActive?.(this.known.length);
    return ok;
  }

  /** One resource's subscription: created when missing, renewed when due, duplicates deleted. */
  private async keep(resource: SubscribedResource, records: readonly SubscriptionRecord[]): Promise<void> {
    const mine = records
      .filter((r) => r.resource === resource)
      .sort((a, b) => Date.parse(b.expirationDateTime) - Date.parse(a.expirationDateTime));
    // Two for one resource (a holder that died between create and cleanup): keep the longest-lived.
    for (const extra of mine.slice(1)) await this.remove(extra, 'a duplicate');
    const current = mine[0];
    if (!current) await this.create(resource);
    else if (
      Date.parse(current.expirationDateTime) - this.now() <=
      this.o.settings.renewBeforeMinutes * 60_000
    )
      await this.renew(current);
  }

  /** Graph's own list against the registry: drops the records of gone subscriptions, deletes strays. */
  private async verify(records: SubscriptionRecord[]): Promise<SubscriptionRecord[]> {
    const live = new Map<string, z.infer<typeof GraphSubscription>>();
    for await (const page of this.o.client.pages('/subscriptions', GraphSubscription)) {
      for (const s of page.items) live.set(s.id, s);
    }
    const ids = new Set(records.map((r) => r.id));
    for (const s of live.values()) {
      if (ids.has(s.id) || s.notificationUrl !== this.url) continue;
      this.log.warn(
        { subscriptionId: s.id, resource: s.resource },
        'deleting a subscription to our webhook that the registry does not know',
      );
      await this.deleteAtGraph(s.id);
    }
    const kept: SubscriptionRecord[] = [];
    for (const r of records) {
      if (live.has(r.id)) {
        kept.push(r);
        continue;
      }
      this.log.warn(
        { subscriptionId: r.id, resource: r.resource },
        'subscription gone at Graph; recreating it',
      );
      this.o.metrics?.subscriptionOperation?.('renew', 'gone');
      await this.registry.remove(r.id);
    }
    return kept;
  }

  private expiry(): string {
    return new Date(this.now() + this.o.settings.lifetimeMinutes * 60_000).toISOString();
  }

  private async create(resource: SubscribedResource): Promise<void> {
    const clientState = newClientState();
    const expirationDateTime = this.expiry();
    let created: z.infer<typeof GraphSubscription>;
    await this.registry.addPending(clientState, this.now());
    try {
      // Graph validates both URLs (the handshake on /webhooks/graph) before it answers 201.
      const res = await this.o.client.request('POST', '/subscriptions', {
        body: {
          changeType: CHANGE_TYPE,
          notificationUrl: this.url,
          lifecycleNotificationUrl: this.url,
          resource,
          expirationDateTime,
          clientState,
        },
      });
      created = GraphSubscription.parse(res.body);
    } catch (err) {
      this.o.metrics?.subscriptionOperation?.('create', 'failed');
      await this.registry.removePending(clientState);
      throw new SubscriptionError('create', resource, undefined, err);
    }
    await this.registry.put({
      id: created.id,
      resource,
      clientState,
      expirationDateTime: normalizeTime(created.expirationDateTime, expirationDateTime),
      notificationUrl: this.url,
      createdAt: new Date(this.now()).toISOString(),
    });
    await this.registry.removePending(clientState);
    this.o.metrics?.subscriptionOperation?.('create', 'ok');
    this.log.info(
      { subscriptionId: created.id, resource, expires: created.expirationDateTime },
      'graph subscription created',
    );
  }

  private async renew(rec: SubscriptionRecord): Promise<void> {
    const expirationDateTime = this.expiry();
    let res: Awaited<ReturnType<GraphClient['request']>>;
    try {
      res = await this.o.client.request('PATCH', `/subscriptions/${encodeURIComponent(rec.id)}`, {
        body: { expirationDateTime },
        accept: [404],
      });
    } catch (err) {
      this.o.metrics?.subscriptionOperation?.('renew', 'failed');
      throw new SubscriptionError('renew', rec.resource, rec.id, err);
    }
    if (res.status === 404) {
      this.o.metrics?.subscriptionOperation?.('renew', 'gone');
      this.log.warn(
        { subscriptionId: rec.id, resource: rec.resource },
        'subscription gone at renewal; recreating it',
      );
      await this.registry.remove(rec.id);
      await this.create(rec.resource);
      return;
    }
    const body = GraphSubscription.safeParse(res.body);
    const expires = normalizeTime(
      body.success ? body.data.expirationDateTime : undefined,
      expirationDateTime,
    );
    await this.registry.put({ ...rec, expirationDateTime: expires });
    this.o.metrics?.subscriptionOperation?.('renew', 'ok');
    this.log.info({ subscriptionId: rec.id, resource: rec.resource, expires }, 'graph subscription renewed');
  }

  /** reauthorizationRequired: reauthorize; a subscription Graph no longer has is recreated. */
  private async reauthorize(id: string): Promise<void> {
    const rec = (await this.registry.all()).find((r) => r.id === id);
    if (!rec) return;
    let res: Awaited<ReturnType<GraphClient['request']>>;
    try {
      res = await this.o.client.request('POST', `/subscriptions/${encodeURIComponent(id)}/reauthorize`, {
        accept: [404],
      });
    } catch (err) {
      this.o.metrics?.subscriptionOperation?.('reauthorize', 'failed');
      // A renewal reauthorizes too; the holder's next tick would try it anyway.
      this.log.warn({ subscriptionId: id, err: text(err) }, 'reauthorize failed; renewing instead');
      await this.renew(rec);
      return;
    }
    if (res.status === 404) {
      this.o.metrics?.subscriptionOperation?.('reauthorize', 'gone');
      await this.registry.remove(id);
      void this.tick();
      return;
    }
    this.o.metrics?.subscriptionOperation?.('reauthorize', 'ok');
    this.log.info({ subscriptionId: id, resource: rec.resource }, 'graph subscription reauthorized');
  }

  private async remove(rec: SubscriptionRecord, why: string): Promise<void> {
    this.log.warn({ subscriptionId: rec.id, resource: rec.resource }, `deleting ${why} subscription`);
    await this.deleteAtGraph(rec.id);
    await this.registry.remove(rec.id);
  }

  private async deleteAtGraph(id: string): Promise<void> {
    try {
      await this.o.client.request('DELETE', `/subscriptions/${encodeURIComponent(id)}`, { accept: [404] });
      this.o.metrics?.subscriptionOperation?.('delete', 'ok');
    } catch (err) {
      this.o.metrics?.subscriptionOperation?.('delete', 'failed');
      throw new SubscriptionError('delete', undefined, id, err);
    }
  }
}

export class SubscriptionError extends Error {
  constructor(
    readonly operation: 'create' | 'renew' | 'reauthorize' | 'delete',
    readonly resource: SubscribedResource | undefined,
    readonly subscriptionId: string | undefined,
    cause: unknown,
  ) {
    super(
      `could not ${operation} the Graph subscription${resource ? ` for ${resource}` : ''}${subscriptionId ? ` ${subscriptionId}` : ''}: ${text(cause)}`,
      { cause },
    );
    this.name = 'SubscriptionError';
  }
}

/** Graph's expirationDateTime as an ISO string; what we asked for when it sends none or junk. */
function normalizeTime(given: string | undefined, fallback: string): string {
  const ms = given === undefined ? Number.NaN : Date.parse(given);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : fallback;
}

function text(err: unknown): string {
  if (err instanceof GraphError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

// The daemon's Entra parts (docs/entra.md): the delta source its runs read from, the Graph
// subscription manager, what /webhooks/graph checks notifications against, and the timer of the
// full reconcile. `idsync plan` and `apply` never come here: they read in full every time.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EntraSourceConfig } from '../config/types.js';
import { entraTokenProvider } from '../directory/entra/auth.js';
import { DeltaStateStore, EntraDeltaSource } from '../directory/entra/deltaSource.js';
import { GraphClient } from '../directory/entra/graphClient.js';
import { SubscriptionManager } from '../directory/entra/subscriptions.js';
import type { GroupSelector } from '../reconcile/policy.js';
import type { GraphSubscriptions } from '../server/graph.js';
import { formatAge } from '../util/age.js';
import type { DaemonMetrics, RunService } from './types.js';

export interface EntraPartsOptions {
  config: EntraSourceConfig;
  selectors: readonly GroupSelector[];
  /** The daemon's own connection (waits out outages). */
  redis: Redis;
  prefix: string;
  logger: Logger;
  metrics: DaemonMetrics;
  trigger: RunService['trigger'];
  /** This process serves /webhooks/graph and may manage subscriptions (`idsync run`). */
  serves: boolean;
  /** This process keeps the schedules (`idsync run`): the full reconcile's timer runs here. */
  scheduler: boolean;
  /** The server has a static graphClientState (subscriptions made outside idsync). */
  staticClientState: boolean;
  tuning?: { leaseMs?: number; verifyEveryMs?: number; fullReadCheckMs?: number };
}

export interface EntraParts {
  source: EntraDeltaSource;
  store: DeltaStateStore;
  manager: SubscriptionManager | undefined;
  /** For buildServer: undefined when /webhooks/graph has nothing to check notifications against. */
  graph: GraphSubscriptions | undefined;
  start(): void;
  /** Stops renewing, releases the lease, stops the full-read timer; Redis stays open. */
  close(): Promise<void>;
  /** Releases the read client's sockets, once no run can read any more. */
  dispose(): void;
}

export function createEntraParts(o: EntraPartsOptions): EntraParts {
  const log = o.logger.child({ component: 'entra' });
  // One token provider (one MSAL application, one token cache) for the process; a client each for
  // runs and for subscriptions, so a shutdown that aborts the read leaves the lease release alone.
  const tokens = entraTokenProvider(o.config, o.logger);
  const store = new DeltaStateStore(o.redis, o.prefix);
  const readClient = new GraphClient({ config: o.config, tokens, logger: o.logger });
  const subscriptionClient = new GraphClient({ config: o.config, tokens, logger: o.logger });
  const source = new EntraDeltaSource({
    config: o.config,
    selectors: o.selectors,
    store,
    client: readClient,
    logger: o.logger,
    metrics: o.metrics,
  });
  const settings = o.config.notifications;
  const manager =
    settings && o.serves
      ? new SubscriptionManager({
          client: subscriptionClient,
          redis: o.redis,
          prefix: o.prefix,
          settings,
          logger: o.logger,
          metrics: o.metrics,
          requestFullRead: (why) => store.requestFullRead(why),
          ...(o.tuning?.leaseMs !== undefined ? { leaseMs: o.tuning.leaseMs } : {}),
          ...(o.tuning?.verifyEveryMs !== undefined ? { verifyEveryMs: o.tuning.verifyEveryMs } : {}),
        })
      : undefined;
  const graph: GraphSubscriptions | undefined =
    o.serves && (manager || o.staticClientState)
      ? {
          clientStates: (ids) => (manager ? manager.registry.clientStates(ids) : Promise.resolve(new Map())),
          pendingClientStates: () => (manager ? manager.registry.pendingClientStates() : Promise.resolve([])),
          async lifecycle(id, event, managed) {
            if (manager && managed) return manager.lifecycle(id, event);
            // A subscription made outside idsync: its renewal is not ours, but what it missed is.
            if (event === 'missed')
              await store.requestFullRead(`Graph reported missed notifications (subscription ${id})`);
            else
              log.info(
                { subscriptionId: id, event },
                'lifecycle event of a subscription idsync does not manage',
              );
          },
        }
      : undefined;
  const fullReads = o.scheduler
    ? new FullReadTimer({
        store,
        everyMs: o.config.fullReadEvery * 1000,
        checkMs: o.tuning?.fullReadCheckMs,
        trigger: o.trigger,
        logger: log,
      })
    : undefined;
  return {
    source,
    store,
    manager,
    graph,
    start() {
      manager?.start();
      fullReads?.start();
    },
    async close() {
      fullReads?.stop();
      await manager?.stop();
      subscriptionClient.close();
    },
    dispose() {
      readClient.close();
    },
  };
}

/**
 * The full reconcile's own schedule: Graph does not replay notifications it failed to deliver, and
 * a delta round sees only what changed, so once `fullReadEvery` has passed since the last full
 * round a run is asked for, and the delta source makes it a full one. Runs in every `idsync run`
 * replica; their triggers coalesce into the one pending run.
 */
export class FullReadTimer {
  private timer: NodeJS.Timeout | undefined;
  private triggeredFor: number | undefined;
  private triggeredAt = 0;
  private missingSince: number | undefined;
  private readonly checkMs: number;

  constructor(
    private readonly o: {
      store: Pick<DeltaStateStore, 'lastFullReadAt'>;
      everyMs: number;
      checkMs?: number | undefined;
      trigger: RunService['trigger'];
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.checkMs = o.checkMs ?? Math.max(1_000, Math.min(60_000, Math.floor(o.everyMs / 10)));
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async check(): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    let last: number | undefined;
    try {
      last = await this.o.store.lastFullReadAt();
    } catch {
      return; // Redis away: the watchdog says so; the next check tries again.
    }
    const retryMs = Math.min(this.o.everyMs, 15 * 60_000);
    let reason: string;
    if (last === undefined) {
      // Never read (the startup run failed, or is still reading a big tenant): ask again only once
      // it has stayed so for a while, so a long first read is not doubled.
      this.missingSince ??= now;
      if (now - this.missingSince < retryMs) return;
      reason = 'full Entra read: the directory has not been read yet';
    } else {
      this.missingSince = undefined;
      if (now - last < this.o.everyMs) return;
      reason = `full Entra read: the last was ${formatAge(now - last)} ago (fullReadEvery)`;
    }
    // Once per overdue full read, again only if it stays overdue (that run failed) for a while.
    const key = last ?? -1;
    if (this.triggeredFor === key && now - this.triggeredAt < retryMs) return;
    this.triggeredFor = key;
    this.triggeredAt = now;
    try {
      const r = await this.o.trigger({ trigger: 'schedule', reason });
      this.o.logger.info({ runId: r.runId, coalesced: r.coalesced }, `${reason}: run requested`);
    } catch (err) {
      this.triggeredFor = undefined;
      this.o.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'could not request the full Entra read',
      );
    }
  }
}

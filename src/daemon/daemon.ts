// The run machinery of one replica: Redis connection, the two queues, the run store and ledger, the
// workers, the scheduler. `idsync run` starts it with the HTTP server in front; `idsync worker`
// starts only the workers. Every replica is equal: any of them may take a run or an op.
import { hostname } from 'node:os';
import { type Queue as BullQueue, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  DEFAULT_JOB_TUNING,
  DEFAULT_PREFIX,
  OPS_QUEUE,
  opJobOptions,
  SYNC_JOB_OPTIONS,
  SYNC_QUEUE,
} from '../apply/queue/names.js';
import { createOpProcessor, OpsCache } from '../apply/queue/opWorker.js';
import { type LoadedConfig, parseDuration } from '../config/index.js';
import { DevinClient } from '../devin/client.js';
import { RedisBudgetStore } from '../devin/sharedBudget.js';
import { resolveSettings } from '../directory/ldap/profiles.js';
import { createNotifyParts, type Notifier } from '../notify/queue.js';
import { secretsOf } from '../notify/secrets.js';
import type { GraphSubscriptions } from '../server/graph.js';
import { observeDevinExchanges } from '../server/metrics.js';
import { RedisStateStore } from '../state/redisStateStore.js';
import { directorySourceFor } from '../sync/inputs.js';
import { CopyPlanner } from './copyPlanner.js';
import { DevinCache } from './devinCache.js';
import { createEdge, type Edge } from './edge.js';
import { createEntraParts, type EntraParts } from './entra.js';
import { requestFullReconcile, takeFullReconcileRequest } from './fullReconcile.js';
import { startFullReconcileTimer } from './fullReconcileTimer.js';
import { collectAfterRuns, type IdleCollector } from './idleGc.js';
import { IncrementalLdapSource } from './ldapIncremental.js';
import { createRedis, describeRedis } from './redisOptions.js';
import { createSyncProcessor } from './runJob.js';
import { QueueRunService } from './runService.js';
import { RunStore } from './runStore.js';
import { type DaemonMetrics, NO_METRICS, type TriggerResult } from './types.js';
import { applyQueueSettings, type SyncHealth, SyncWatchdog } from './watchdog.js';
import { WatermarkPoller } from './watermark.js';

export interface DaemonTuning {
  /** Key prefix of the queues and of idsync's own keys. Default `idsync`. */
  prefix: string;
  /** Op jobs one process runs at once. Default: twice devin.maxConcurrency. */
  opConcurrency: number;
  /** How long a worker's claim on a job lasts without renewal (BullMQ lockDuration). */
  lockDurationMs: number;
  /** How often workers look for jobs whose worker died (BullMQ stalledInterval). */
  stalledIntervalMs: number;
  /** Stalls a job survives before it fails. */
  maxStalledCount: number;
  opAttempts: number;
  opBackoffMs: number;
  /** How often the conductor checks a phase's progress. */
  pollMs: number;
  /** Without progress for this long, the conductor inspects the phase's jobs. */
  stuckCheckMs: number;
  /** How often the watchdog looks for lost Redis data and stuck runs (src/daemon/watchdog.ts). */
  watchdogMs: number;
  /** A run waiting this long with no run active makes the sync "stuck" (/readyz 503). */
  stuckAfterMs: number;
  /** Entra: the subscription lease (renewed at a third of it) and how often Graph's list is checked. */
  graphLeaseMs?: number;
  graphVerifyEveryMs?: number;
  /** Entra: how often to look whether the full reconcile (fullReadEvery) is due. */
  fullReadCheckMs?: number;
  /** LDAP watch: the polling lease (default max(10 s, 3 intervals)). */
  watchLeaseMs?: number;
  /** Quiet after a run before its garbage is collected (src/daemon/idleGc.ts; default 2 s). */
  idleCollectQuietMs?: number;
}

export const DEFAULT_TUNING: Omit<DaemonTuning, 'opConcurrency'> = {
  prefix: DEFAULT_PREFIX,
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  maxStalledCount: 5,
  opAttempts: DEFAULT_JOB_TUNING.opAttempts,
  opBackoffMs: DEFAULT_JOB_TUNING.opBackoffMs,
  pollMs: 100,
  stuckCheckMs: 15_000,
  watchdogMs: 5_000,
  stuckAfterMs: 60_000,
};

export interface DaemonOptions {
  /** Must have `redis`. */
  config: LoadedConfig;
  logger: Logger;
  metrics?: DaemonMetrics;
  /** Take runs and ops from the queues. */
  workers: boolean;
  /** Keep the job scheduler in step with `schedule.every` (only `idsync run`). */
  scheduler: boolean;
  tuning?: Partial<DaemonTuning>;
  /**
   * Resolve only once Redis has answered and the queues are set up (default). `idsync run` passes
   * false so its HTTP server listens while Redis is still down; it then awaits `started`.
   */
  waitForRedis?: boolean;
  /**
   * This process serves /webhooks/graph (`idsync run`): with an entra source and
   * source.notifications it takes part in managing the Graph subscriptions. Default: `scheduler`.
   */
  serves?: boolean;
}

export interface Daemon {
  service: QueueRunService;
  /** For the HTTP surface: fails fast while Redis is unreachable (src/daemon/edge.ts). */
  edge: Edge;
  /** Settles once Redis answered, the queues are set up and the workers run. */
  started: Promise<void>;
  store: RunStore;
  ledger: RedisStateStore;
  queues: BullQueue[];
  redis: Redis;
  /** The watchdog's verdict: stuck runs, Redis data lost (always healthy without workers). */
  health(): SyncHealth;
  /** Entra only: the delta source, the subscription manager. */
  entra: EntraParts | undefined;
  /** An ldap source with `watch:` in `idsync run`: the watermark poller. */
  watch: WatermarkPoller | undefined;
  /** With `notify:`: the hook that queues a run's messages (src/notify). */
  notifier: Notifier | undefined;
  /** For buildServer's `graph`: what /webhooks/graph checks notifications against. */
  graph: GraphSubscriptions | undefined;
  /** Stop taking jobs, hand back or finish running ones, then close Redis last. */
  close(): Promise<void>;
}

export class RedisNotConfiguredError extends Error {
  constructor(command: string) {
    super(`${command} needs redis.url in the config (the queue, the run records and the ledger live there)`);
    this.name = 'RedisNotConfiguredError';
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, logger } = opts;
  if (!config.redis) throw new RedisNotConfiguredError('the daemon');
  const metrics = opts.metrics ?? NO_METRICS;
  const tuning: DaemonTuning = {
    ...DEFAULT_TUNING,
    opConcurrency: Math.max(2, config.devin.maxConcurrency * 2),
    ...opts.tuning,
  };
  const log = logger.child({ component: 'daemon' });

  // maxRetriesPerRequest: null: commands wait for a reconnect instead of failing, which BullMQ
  // workers require and which lets a run ride out a Redis restart or a Sentinel failover.
  const redisSettings = config.redis;
  const redis = createRedis(redisSettings, 'workers');
  const where = describeRedis(redisSettings);
  redis.on('error', (err: Error) => log.warn({ err: err.message, redis: where }, 'redis connection error'));

  const connection = { connection: redis, prefix: tuning.prefix };
  const syncQueue = new Queue(SYNC_QUEUE, { ...connection, defaultJobOptions: SYNC_JOB_OPTIONS });
  const jobOptions = opJobOptions({ opAttempts: tuning.opAttempts, opBackoffMs: tuning.opBackoffMs });
  const opsQueue = new Queue(OPS_QUEUE, { ...connection, defaultJobOptions: jobOptions });
  for (const q of [syncQueue, opsQueue])
    q.on('error', (err: Error) => log.warn({ err: err.message, queue: q.name }, 'queue error'));

  const store = new RunStore(redis, tuning.prefix);
  // Its own queue; its worker runs in every process with workers (`idsync run` and `idsync worker`).
  const notify = config.notify
    ? createNotifyParts({
        settings: config.notify,
        redis,
        prefix: tuning.prefix,
        runs: store,
        logger,
        metrics,
        secrets: secretsOf(config),
        workers: opts.workers,
      })
    : undefined;
  const ledger = new RedisStateStore(redis, tuning.prefix);
  const onExchange = observeDevinExchanges(metrics);
  // One request budget for both clients of every replica, in Redis (docs/rate-limits.md).
  const budget = {
    budget: new RedisBudgetStore(redis, tuning.prefix),
    onBudget: (b: { rate: number }) => metrics.devinRequestRate?.(b.rate),
  };
  const readClient = new DevinClient({ ...config.devin, logger, onExchange, ...budget });
  const devinCache = new DevinCache(redis, tuning.prefix);
  let fullReconcileTimer: { stop(): void } | undefined;
  const service = new QueueRunService({
    store,
    syncQueue,
    redis,
    readClient,
    logger,
    health: (): SyncHealth => watchdog.health(),
    metrics,
  });
  const watchdog: SyncWatchdog = new SyncWatchdog({
    store,
    syncQueue,
    logger,
    restore: () => applyQueueSettings(syncQueue, config, opts.scheduler, log),
    ...(notify ? { notifier: notify.notifier } : {}),
    trigger: (t): Promise<TriggerResult> => service.trigger(t),
    everyMs: tuning.watchdogMs,
    stuckAfterMs: tuning.stuckAfterMs,
  });
  // Made on first use: `idsync worker` has no HTTP surface and needs no second connection.
  let edge: Edge | undefined;
  const edgeFor = (): Edge => {
    edge ??= createEdge({
      redis: redisSettings,
      prefix: tuning.prefix,
      readClient,
      logger,
      readiness: service,
      metrics,
    });
    return edge;
  };

  // An entra source reads by delta rounds on a state kept in Redis, the same instance for every run
  // of this process (the state itself is in Redis, shared by the replicas).
  const serves = opts.serves ?? opts.scheduler;
  const entra =
    config.source.type === 'entra'
      ? createEntraParts({
          config: config.source,
          selectors: config.policy.mappings.map((m) => m.group),
          redis,
          prefix: tuning.prefix,
          logger,
          metrics,
          trigger: (t) => service.trigger(t),
          serves,
          scheduler: opts.scheduler,
          staticClientState: config.server?.graphClientState !== undefined,
          tuning: {
            ...(tuning.graphLeaseMs !== undefined ? { leaseMs: tuning.graphLeaseMs } : {}),
            ...(tuning.graphVerifyEveryMs !== undefined ? { verifyEveryMs: tuning.graphVerifyEveryMs } : {}),
            ...(tuning.fullReadCheckMs !== undefined ? { fullReadCheckMs: tuning.fullReadCheckMs } : {}),
          },
        })
      : undefined;

  // An ldap source with `watch:` polls its change watermark where the schedules are kept (`idsync
  // run`); one replica at a time, by a lease (src/daemon/watermark.ts).
  const watch =
    config.source.type === 'ldap' && config.source.watch?.enabled === true && opts.scheduler
      ? new WatermarkPoller({
          settings: resolveSettings(config.source),
          watch: config.source.watch,
          redis,
          prefix: tuning.prefix,
          logger,
          metrics,
          trigger: (t) => service.trigger(t),
          ...(tuning.watchLeaseMs !== undefined ? { leaseMs: tuning.watchLeaseMs } : {}),
        })
      : undefined;

  // With the watch, a run reads only the LDAP entries changed since the last read, merged into the
  // last snapshot kept in Redis, and in full every fullReadEvery (src/daemon/ldapIncremental.ts).
  const ldapIncremental =
    config.source.type === 'ldap' && config.source.watch?.enabled === true
      ? new IncrementalLdapSource({
          config: config.source,
          redis,
          prefix: tuning.prefix,
          logger,
          fullReadEveryMs: parseDuration(config.source.watch.fullReadEvery ?? '1h') ?? 3_600_000,
        })
      : undefined;

  let stopping = false;
  // Aborted by close(): reads and op requests in flight stop, and their runs are handed back.
  const stop = new AbortController();
  const workers: Worker[] = [];
  let opsClient: DevinClient | undefined;
  let idleGc: IdleCollector | undefined;
  if (opts.workers) {
    // 429s are not waited out inside the client: the op worker pauses the whole queue instead.
    opsClient = new DevinClient({
      ...config.devin,
      logger,
      retry: { maxRetryAfterMs: 0 },
      onExchange,
      ...budget,
    });
    const workerOptions = {
      ...connection,
      lockDuration: tuning.lockDurationMs,
      stalledInterval: tuning.stalledIntervalMs,
      maxStalledCount: tuning.maxStalledCount,
      // Shown in the dashboard as the job's `processedBy`: which replica (pod, pid) has it.
      name: `${hostname()}/${process.pid}`,
      // Started in `started`, once the global concurrency of the sync queue is set.
      autorun: false,
    };
    // Shared by the op workers and this process's conductor, which hands them its plan.
    const opsCache = new OpsCache(store);
    const copyPlanner = new CopyPlanner({
      config,
      cache: devinCache,
      client: readClient,
      logger,
      takeFullRequest: () => takeFullReconcileRequest(redis, tuning.prefix),
      requestFull: (reason) => requestFullReconcile(redis, tuning.prefix, reason),
    });
    const syncWorker = new Worker(
      SYNC_QUEUE,
      createSyncProcessor({
        copyPlanner,
        config,
        logger,
        metrics,
        store,
        ledger,
        readClient,
        source: () => entra?.source ?? ldapIncremental ?? directorySourceFor(config.source, logger),
        apply: {
          opsQueue,
          jobOptions,
          pollMs: tuning.pollMs,
          stuckCheckMs: tuning.stuckCheckMs,
          stopping: () => stopping,
          plans: opsCache,
        },
        trigger: (t) => service.trigger(t),
        keepRuns: config.redis.keepRuns,
        ...(notify ? { notifier: notify.notifier } : {}),
        signal: stop.signal,
      }),
      { ...workerOptions, concurrency: 1 },
    );
    const rps = config.devin.maxRequestsPerSecond;
    const opsWorker = new Worker(
      OPS_QUEUE,
      createOpProcessor({
        cache: opsCache,
        client: opsClient,
        ledger,
        progress: store,
        opsQueue,
        metrics,
        logger,
        signal: stop.signal,
      }),
      {
        ...workerOptions,
        concurrency: tuning.opConcurrency,
        // Shared by every replica, at the ceiling (maxRequestsPerSecond): an op is one request or
        // two, so it never holds jobs below the adaptive rate, which the clients' shared budget
        // enforces. A limiter must exist for queue.rateLimit() (429s) to take effect, hence the
        // huge default.
        limiter:
          rps > 0
            ? { max: Math.max(1, Math.floor(rps)), duration: 1000 }
            : { max: 1_000_000, duration: 1000 },
      },
    );
    for (const w of [syncWorker, opsWorker]) {
      w.on('error', (err: Error) => log.warn({ err: err.message, queue: w.name }, 'worker error'));
    }
    workers.push(syncWorker, opsWorker);
    // A finished run's garbage would otherwise stay resident while the daemon idles (idleGc.ts).
    idleGc = collectAfterRuns(syncWorker, opsWorker, {
      ...(tuning.idleCollectQuietMs !== undefined ? { quietMs: tuning.idleCollectQuietMs } : {}),
      onIdle: () => opsCache.clear(),
      onRunDone: () => opsCache.clear(),
      onCollected: (c) =>
        log.debug(
          {
            heapUsedBefore: c.heapUsedBefore,
            heapUsedAfter: c.heapUsedAfter,
            codeAfter: c.codeAfter,
            ms: Math.round(c.ms),
          },
          'idle: garbage of the last run collected',
        ),
    });
  }

  const started = (async () => {
    // One run at a time across every replica, whatever each worker's own concurrency.
    await syncQueue.setGlobalConcurrency(1);
    if (stopping) return;
    for (const w of workers)
      w.run().catch((err: unknown) => log.error({ err, queue: w.name }, 'worker stopped'));
    // The same settings again after Redis lost its data (the watchdog).
    await applyQueueSettings(syncQueue, config, opts.scheduler, log);
    if (opts.workers && !stopping) await watchdog.start();
    if (!stopping) notify?.start();
    if (!stopping) entra?.start();
    if (!stopping) watch?.start();
    if (!stopping && opts.scheduler && config.devinCopy.incremental) {
      fullReconcileTimer = startFullReconcileTimer({
        meta: () => devinCache.meta(),
        everyMs: config.devinCopy.fullReconcileEveryMs,
        trigger: (t) => service.trigger(t),
        logger: log,
      });
    }
    log.info(
      {
        workers: opts.workers,
        scheduler: opts.scheduler,
        mode: config.mode,
        opConcurrency: tuning.opConcurrency,
      },
      'run machinery started',
    );
  })();
  // Observed here so an early failure is never unhandled; callers still see it on `started`.
  started.catch(() => undefined);
  if (opts.waitForRedis !== false) await started;

  return {
    service,
    get edge() {
      return edgeFor();
    },
    started,
    store,
    ledger,
    queues: [syncQueue, opsQueue, ...(notify ? [notify.queue] : [])],
    redis,
    health: () => (opts.workers ? watchdog.health() : { ok: true, reasons: [] }),
    entra,
    watch,
    notifier: notify?.notifier,
    graph: entra?.graph,
    async close() {
      stopping = true;
      // Reads and op requests in flight stop now (a slow Devin must not hold the shutdown): the
      // conductor hands its run back, op jobs go back to wait unsettled.
      stop.abort();
      readClient.abort('shutting down');
      ldapIncremental?.abort('shutting down');
      opsClient?.abort('shutting down');
      await watchdog.stop();
      fullReconcileTimer?.stop();
      // Stops renewing and releases the subscription lease (another replica takes over at once);
      // the subscriptions themselves stay in Graph for it.
      await entra?.close();
      // Releases the watch lease, so another replica polls at once.
      await watch?.stop();
      // Waits for running jobs: op jobs finish (each is one op); a conductor sees `stopping` and
      // hands its run back to the queue for another replica.
      await Promise.all(workers.map((w) => w.close()));
      idleGc?.stop();
      // After the sync worker: a run handed back or failed on the way out may still queue a message.
      await notify?.close();
      await Promise.all([syncQueue.close(), opsQueue.close(), edge?.close()]);
      readClient.close();
      opsClient?.close();
      entra?.dispose();
      await redis.quit().catch(() => redis.disconnect());
      log.info('run machinery stopped');
    },
  };
}

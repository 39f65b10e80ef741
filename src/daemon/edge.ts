// What the HTTP surface of `idsync run` talks to (issue 9): the run service over a Redis connection
// of its own that never waits for Redis. The workers' connection queues commands until Redis is
// back (BullMQ needs that, and a run rides out a restart with it); a request must not. On this one:
// - a request finds Redis unreachable at once (`available()` false, or no offline queue) and gets
//   a 503 with Retry-After, and what it asked for is never sent later: no queued command is
//   replayed on reconnect, so a webhook answered 503 does not queue a run when Redis returns;
// - a command that Redis does not answer fails after EDGE_COMMAND_TIMEOUT_MS;
// - webhook signatures already used live in Redis (RedisReplayStore), shared by every replica.
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { SYNC_JOB_OPTIONS, SYNC_QUEUE } from '../apply/queue/names.js';
import type { RedisSettings } from '../config/types.js';
import type { DevinClient } from '../devin/client.js';
import { UnavailableError } from '../server/http.js';
import { RedisReplayStore, type ReplayStore } from '../server/replay.js';
import { createRedis } from './redisOptions.js';
import { QueueRunService } from './runService.js';
import { RunStore } from './runStore.js';
import type { DaemonMetrics, RunService } from './types.js';

export const EDGE_COMMAND_TIMEOUT_MS = 2_000;

export interface Edge {
  /** For the HTTP surface: every call fails fast with UnavailableError while Redis is away. */
  runs: RunService;
  replay: ReplayStore;
  /** The edge connection is up. */
  available(): boolean;
  close(): Promise<void>;
}

export interface EdgeOptions {
  /** The config's redis block (src/daemon/redisOptions.ts). */
  redis: RedisSettings;
  prefix: string;
  readClient: DevinClient;
  logger: Logger;
  /** /readyz: the daemon's own service, with whatever readiness inputs it has. */
  readiness: Pick<RunService, 'ready'>;
  /** A rejection through the HTTP surface ends a run: it is counted like any other. */
  metrics?: Pick<DaemonMetrics, 'runFinished'>;
}

/** ioredis' and BullMQ's ways of saying "Redis is not there". */
const UNREACHABLE =
  /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|^LOADING|^READONLY|^MASTERDOWN|^CLUSTERDOWN|MaxRetriesPerRequest/;

export function isRedisUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || UNREACHABLE.test(err.message);
}

export function createEdge(o: EdgeOptions): Edge {
  const log = o.logger.child({ component: 'http-redis' });
  // No offline queue, no resend of in-flight commands, no retries (redisOptions 'edge').
  const redis = createRedis(o.redis, 'edge', { commandTimeout: EDGE_COMMAND_TIMEOUT_MS });
  // The workers' connection already logs the outage at warn.
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis connection error'));
  const syncQueue = new Queue(SYNC_QUEUE, {
    connection: redis,
    prefix: o.prefix,
    defaultJobOptions: SYNC_JOB_OPTIONS,
  });
  syncQueue.on('error', (err: Error) => log.debug({ err: err.message }, 'queue error'));
  const inner = new QueueRunService({
    store: new RunStore(redis, o.prefix),
    syncQueue,
    redis,
    readClient: o.readClient,
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  const available = () => redis.status === 'ready';

  const guarded =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (!available()) throw new UnavailableError('redis is not connected');
      try {
        return await f(...args);
      } catch (err) {
        if (isRedisUnreachable(err)) {
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'redis unreachable');
          throw new UnavailableError('redis is unreachable');
        }
        throw err;
      }
    };

  const runs: RunService = {
    trigger: guarded((t: Parameters<RunService['trigger']>[0]) => inner.trigger(t)),
    list: guarded((limit?: number) => inner.list(limit)),
    get: guarded((id: string) => inner.get(id)),
    report: guarded((id: string, format: Parameters<RunService['report']>[1]) => inner.report(id, format)),
    approve: guarded((id: string, by: string, comment?: string) => inner.approve(id, by, comment)),
    reject: guarded((id: string, by: string, comment?: string) => inner.reject(id, by, comment)),
    ready: () => o.readiness.ready(),
  };
  const store = new RedisReplayStore(redis, o.prefix);
  const replay: ReplayStore = {
    claim: guarded((key: string, expiresAt: number, now: number) => store.claim(key, expiresAt, now)),
    confirm: guarded((key: string, expiresAt: number, now: number) => store.confirm(key, expiresAt, now)),
    release: guarded((key: string) => store.release(key)),
  };

  return {
    runs,
    replay,
    available,
    async close() {
      await syncQueue.close().catch(() => undefined);
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

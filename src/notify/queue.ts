// The shell around the pure parts: a hook that turns a run's state into queued deliveries (one job
// per channel, on its own queue `idsync-notify`), and the worker that sends them with retries.
//
// One message per run, event and channel, whatever fires the hook twice (two places, two replicas,
// a redelivered run job) and whatever redelivers a job (a stalled worker, a retry): before sending,
// a delivery claims `<prefix>:notify:<run>:<event>:<channel>` with SET NX, holding its own delivery
// id. The claim sits in the worker, just before the send, and not at enqueue: a delivery whose send
// failed still holds it, so its own retries pass while any other delivery of the same message finds
// it taken. After the receiver accepted, the claim becomes `sent:<id>`, so a retry of a delivery that
// did get through (its worker died before BullMQ heard) stops there too. The one gap left is a
// worker dying between the receiver's answer and that mark: the retry sends again, which is why the
// generic webhook carries X-Idsync-Delivery for the receiver to dedupe on.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RUN_TRIGGERS, type RunRecord, type RunStatus } from '../daemon/types.js';
import { OP_ORDER, type OpKind } from '../reconcile/plan.js';
import { type ChannelSender, DeliveryError } from './delivery.js';
import { emailSender } from './email.js';
import {
  eventOf,
  NOTIFY_CHANNELS,
  NOTIFY_EVENTS,
  type Notice,
  type NotifyChannel,
  noticeOf,
  safeText,
  wanted,
} from './notice.js';
import type { NotifySettings } from './settings.js';
import { slackSender } from './slack.js';
import { teamsSender } from './teams.js';
import { webhookSender } from './webhook.js';

export const NOTIFY_QUEUE = 'idsync-notify';
export const NOTIFY_JOB = 'notify';
/** How long a claim is kept: far longer than any retry schedule, and run ids are never reused. */
export const CLAIM_TTL_MS = 30 * 24 * 3600 * 1000;

export type NotifyOutcome = 'sent' | 'retried' | 'failed' | 'duplicate' | 'unqueued';

/** What deliveries report; src/server/metrics.ts counts it as idsync_notifications_total. */
export interface NotifyMetrics {
  notification(channel: NotifyChannel, outcome: NotifyOutcome): void;
}

// Any status string: the notice was built from a record the store had already parsed.
const StatusSchema = z.custom<RunStatus>((v) => typeof v === 'string' && v !== '');

const NoticeSchema = z.object({
  runId: z.string(),
  event: z.enum(NOTIFY_EVENTS),
  status: StatusSchema,
  trigger: z.enum(RUN_TRIGGERS),
  reason: z.string().optional(),
  link: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
  plan: z
    .object({
      ops: z.number(),
      byKind: z.array(z.object({ kind: z.enum(OP_ORDER as [OpKind, ...OpKind[]]), ops: z.number() })),
      removals: z.number(),
      held: z.number(),
      complete: z.boolean(),
      warnings: z.number(),
      guardrails: z.object({
        verdict: z.enum(['ok', 'blocked']),
        reasons: z.array(z.string()),
        more: z.number(),
      }),
    })
    .optional(),
  opCounts: z
    .object({ applied: z.number(), already: z.number(), skipped: z.number(), failed: z.number() })
    .optional(),
  firstFailure: z.string().optional(),
  error: z.string().optional(),
  supersededBy: z.string().optional(),
}) satisfies z.ZodType<Notice>;

export const NotifyJobData = z.object({
  channel: z.enum(NOTIFY_CHANNELS),
  /** Unique per enqueued delivery: what the claim holds. */
  deliveryId: z.string().min(1),
  notice: NoticeSchema,
});
export type NotifyJobData = z.infer<typeof NotifyJobData>;

/** The channels configured in `settings`, in a fixed order. */
export function sendersOf(s: NotifySettings): Map<NotifyChannel, ChannelSender> {
  const out = new Map<NotifyChannel, ChannelSender>();
  if (s.slack) out.set('slack', slackSender(s.slack, s.timeoutMs));
  if (s.teams) out.set('teams', teamsSender(s.teams, s.timeoutMs));
  if (s.email) out.set('email', emailSender(s.email, s.timeoutMs));
  if (s.webhook) out.set('webhook', webhookSender(s.webhook, s.timeoutMs));
  return out;
}

/** The SET NX claims that make a message go out once (see the top of this file). */
export class DeliveryClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = CLAIM_TTL_MS,
  ) {}

  key(runId: string, event: string, channel: NotifyChannel): string {
    return `${this.prefix}:notify:${runId}:${event}:${channel}`;
  }

  /** `mine`: send it; `sent`: this delivery already got through; `taken`: another delivery has it. */
  async claim(key: string, deliveryId: string): Promise<'mine' | 'sent' | 'taken'> {
    if ((await this.redis.set(key, deliveryId, 'PX', this.ttlMs, 'NX')) === 'OK') return 'mine';
    const holder = await this.redis.get(key);
    if (holder === deliveryId) return 'mine';
    if (holder === `sent:${deliveryId}`) return 'sent';
    return 'taken';
  }

  async markSent(key: string, deliveryId: string): Promise<void> {
    await this.redis.call('SET', key, `sent:${deliveryId}`, 'XX', 'KEEPTTL');
  }
}

export interface NotifierDeps {
  settings: NotifySettings;
  queue: Queue;
  /** Reads the run as it is now. */
  runs: { get(id: string): Promise<RunRecord | undefined> };
  logger: Logger;
  metrics: Partial<NotifyMetrics>;
  /** Secrets of the config, replaced wherever run text would carry them. */
  secrets: readonly string[];
}

/** The hook the run machinery calls wherever a run reaches a state that may notify. */
export class Notifier {
  private readonly log: Logger;
  private readonly channels: NotifyChannel[];

  constructor(private readonly deps: NotifierDeps) {
    this.log = deps.logger.child({ component: 'notify' });
    this.channels = [...sendersOf(deps.settings).keys()];
  }

  /**
   * Queues the messages of run `runId`, which has just moved to `status`. Nothing when it has moved
   * on since (approved at once, say) or when `notify.on` does not ask for it. Never throws: a
   * notification that cannot be queued is logged and counted, and the run goes on.
   */
  async runChanged(runId: string, status: RunStatus): Promise<void> {
    try {
      const record = await this.deps.runs.get(runId);
      if (!record || record.status !== status) return;
      const event = eventOf(record);
      if (!event || !wanted(event, record.status, this.deps.settings.on)) return;
      const notice = noticeOf(record, event, this.deps.settings.publicUrl, this.deps.secrets);
      await this.deps.queue.addBulk(
        this.channels.map((channel) => ({
          name: NOTIFY_JOB,
          data: { channel, deliveryId: randomUUID(), notice } satisfies NotifyJobData,
        })),
      );
      this.log.info({ runId, event, channels: this.channels }, 'notification queued');
    } catch (err) {
      for (const c of this.channels) this.deps.metrics.notification?.(c, 'unqueued');
      this.log.error(
        { runId, status, err: safeText(err instanceof Error ? err.message : String(err), this.deps.secrets) },
        'could not queue the notification of a run',
      );
    }
  }
}

export interface NotifyProcessorDeps {
  senders: ReadonlyMap<NotifyChannel, ChannelSender>;
  claims: DeliveryClaims;
  logger: Logger;
  metrics: Partial<NotifyMetrics>;
  secrets: readonly string[];
}

export function createNotifyProcessor(deps: NotifyProcessorDeps): (job: Job) => Promise<string> {
  const log = deps.logger.child({ component: 'notify' });
  return async (job) => {
    const parsed = NotifyJobData.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('not a notification job');
    const { channel, deliveryId, notice } = parsed.data;
    const at = { runId: notice.runId, event: notice.event, channel, deliveryId };
    const sender = deps.senders.get(channel);
    if (!sender) {
      log.warn(at, 'notification for a channel no longer configured; dropped');
      return 'unconfigured';
    }
    const key = deps.claims.key(notice.runId, notice.event, channel);
    const claim = await deps.claims.claim(key, deliveryId);
    if (claim !== 'mine') {
      if (claim === 'taken') deps.metrics.notification?.(channel, 'duplicate');
      log.info(
        at,
        claim === 'sent' ? 'notification already sent' : 'notification already sent by another delivery',
      );
      return 'duplicate';
    }
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    try {
      await sender.send({ notice, deliveryId });
    } catch (thrown) {
      const err =
        thrown instanceof DeliveryError
          ? thrown
          : new DeliveryError(channel, safeText(String(thrown), deps.secrets), true);
      const last = !err.retryable || attempt >= attempts;
      deps.metrics.notification?.(channel, last ? 'failed' : 'retried');
      const fields = { ...at, attempt, attempts, error: err.message };
      if (last) log.error(fields, 'notification not delivered; giving up');
      else log.warn(fields, 'notification not delivered; will retry');
      if (!err.retryable) throw new UnrecoverableError(err.message);
      throw err;
    }
    await deps.claims.markSent(key, deliveryId);
    deps.metrics.notification?.(channel, 'sent');
    log.info({ ...at, attempt }, 'notification sent');
    return 'sent';
  };
}

export interface NotifyPartsOptions {
  settings: NotifySettings;
  redis: Redis;
  prefix: string;
  runs: NotifierDeps['runs'];
  logger: Logger;
  metrics: Partial<NotifyMetrics>;
  secrets: readonly string[];
  /** Run a worker for the queue in this process. */
  workers: boolean;
  concurrency?: number;
}

export interface NotifyParts {
  notifier: Notifier;
  queue: Queue;
  /** Starts the worker (if any): once the daemon's Redis answered. */
  start(): void;
  /** Lets the sends in flight finish (each is bounded by timeoutMs), then closes. */
  close(): Promise<void>;
}

export function createNotifyParts(o: NotifyPartsOptions): NotifyParts {
  const log = o.logger.child({ component: 'notify' });
  const connection = { connection: o.redis, prefix: o.prefix };
  const queue = new Queue(NOTIFY_QUEUE, {
    ...connection,
    defaultJobOptions: {
      attempts: o.settings.attempts,
      backoff: { type: 'exponential', delay: o.settings.backoffMs },
      removeOnComplete: { count: 1000, age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  });
  queue.on('error', (err: Error) => log.warn({ err: err.message, queue: NOTIFY_QUEUE }, 'queue error'));
  const notifier = new Notifier({
    settings: o.settings,
    queue,
    runs: o.runs,
    logger: o.logger,
    metrics: o.metrics,
    secrets: o.secrets,
  });
  const senders = sendersOf(o.settings);
  const worker = o.workers
    ? new Worker(
        NOTIFY_QUEUE,
        createNotifyProcessor({
          senders,
          claims: new DeliveryClaims(o.redis, o.prefix),
          logger: o.logger,
          metrics: o.metrics,
          secrets: o.secrets,
        }),
        {
          ...connection,
          concurrency: o.concurrency ?? 4,
          autorun: false,
          name: `${hostname()}/${process.pid}`,
        },
      )
    : undefined;
  worker?.on('error', (err: Error) => log.warn({ err: err.message, queue: NOTIFY_QUEUE }, 'worker error'));
  return {
    notifier,
    queue,
    start() {
      worker?.run().catch((err: unknown) => log.error({ err, queue: NOTIFY_QUEUE }, 'worker stopped'));
    },
    async close() {
      await worker?.close();
      await queue.close();
      for (const s of senders.values()) s.close?.();
    },
  };
}

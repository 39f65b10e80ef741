// The daemon's change watch for LDAP sources (docs/watch.md): poll the directory's watermark
// (src/directory/ldap/watermark.ts) every `source.watch.intervalMs`, and when it moves, ask for a
// run once it has stopped moving for `debounceMs`. A different server answering, or a watermark
// that went back, also asks for a full reconcile (the run then reads Devin in full).
//
// One replica polls: a Redis lease, as for the Graph subscriptions. The watermark a run was asked
// for is kept in Redis, written only once that run is queued: a holder that dies between seeing a
// move and asking for its run leaves the old one, and the next holder sees the same move again.
// A failed poll (the DC down) is logged and tried again at the next interval; it triggers nothing
// and forgets nothing, so the first poll that works compares with what was seen before the outage
// (another DC answering then is a failover).
//
// Push (source.watch.push, default auto): while this replica holds the lease and the server offers
// it, a ChangeListener (src/directory/ldap/notify.ts) holds a search open on a connection of its
// own and says when anything changed; each time, this polls at once instead of at the next
// interval. A push only brings the poll forward: the watermark it reads, compared as always, is
// still what asks for a run, through the same debounce, so a push that means nothing (a write the
// watermark does not show yet, a change outside the bases) costs one base read. A move already
// waiting for its debounce ignores pushes (its polls follow anyway), which bounds the polls a busy
// directory can cause to about one per debounce time. The interval's poll goes on beside it, so a
// listener that breaks (the connection lost, the search refused or ended) leaves the watch as it
// was without push; it is said once as a warning, then at debug level, while the listener
// reconnects with a capped backoff. Losing the lease or stopping closes it.
//
// The debounce stays trailing-edge with push: a move asks for its run once a poll finds the
// watermark unchanged, one debounce time later, not at the first move. Firing at the first move
// would save that time (1 s by default) but makes every burst two runs (one at its start, one
// after it) where the watch promises, and its tests check, one; with push a change reaches Devin in
// about a debounce time plus the run, inside issue 13's 5 s at the default settings.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { LdapWatchSettings } from '../config/types.js';
import {
  ChangeListener,
  type ChangeListenerOptions,
  describePush,
  formatInterval,
  type PushKind,
  type PushState,
} from '../directory/ldap/notify.js';
import type { LdapSettings } from '../directory/ldap/profiles.js';
import {
  describeOffer,
  explainChange,
  type Watermark,
  WatermarkReader,
} from '../directory/ldap/watermark.js';
import { requestFullReconcile } from './fullReconcile.js';
import { Lease } from './lease.js';
import type { DaemonMetrics, RunService } from './types.js';

export function watchKeys(prefix: string): { lease: string; watermark: string } {
  return { lease: `${prefix}:ldap-watch:lease`, watermark: `${prefix}:ldap-watch:watermark` };
}

/**
 * To the second only: a change later in a second already seen is caught by the run the first one
 * asked for, as long as that run reads after the second is over (ORDERED.modifyTimestamp).
 */
const MODIFY_TIMESTAMP_MIN_DEBOUNCE_MS = 1_500;
/** A burst that never stops gets its run after this many debounce times (or one interval). */
const MAX_DELAY_DEBOUNCES = 10;
/** How long stop() waits for a poll whose connect is still under way. */
const STOP_GRACE_MS = 1_000;
/** While the poll keeps failing, a warning this often (every failure is logged at debug). */
const FAILING_WARN_EVERY_MS = 5 * 60_000;

const Stored = z.object({
  kind: z.enum(['highestCommittedUSN', 'contextCSN', 'entryCSN', 'modifyTimestamp']),
  server: z.string(),
  value: z.string(),
});

export interface WatermarkPollerOptions {
  settings: LdapSettings;
  watch: LdapWatchSettings;
  /** The daemon's connection (waits out Redis outages). */
  redis: Redis;
  prefix: string;
  logger: Logger;
  metrics: DaemonMetrics;
  trigger: RunService['trigger'];
  /** Default: requestFullReconcile (src/daemon/fullReconcile.ts). */
  requestFull?: (reason: string) => Promise<void>;
  /** Default max(10 s, 3 intervals); renewed at every poll. */
  leaseMs?: number;
  /** Default: a reader on `settings`. */
  reader?: WatermarkReader;
  /** The push listener's reconnect backoff and liveness probe (defaults in notify.ts). */
  pushOptions?: Pick<ChangeListenerOptions, 'backoff' | 'probeEveryMs'>;
  now?: () => number;
}

interface Pending {
  /** When the first move of this burst was seen, and the latest. */
  since: number;
  lastMove: number;
  why: string;
  /** Set: a failover; the full reconcile is asked for before the run. */
  failover?: string;
  fullRequested?: boolean;
}

export interface WatchStatus {
  holder: boolean;
  /** The latest reading, and the one the last run was asked for. */
  last?: Watermark;
  handled?: Watermark;
  /** A move waiting for the debounce (or for Redis, to queue its run). */
  pending?: { since: number; why: string; failover: boolean };
  failingSince?: number;
  push: PushStatus;
}

/**
 * Whether the directory tells this replica of changes: `active` while a listener's search is
 * open. `off` by config; `waiting` until this replica holds the lease and has read the watermark;
 * `unavailable` when the server offers no push (`why`); `connecting`/`retrying` while the listener
 * (re)connects (`error`: why the last session ended).
 */
export interface PushStatus {
  mode: 'auto' | 'off';
  active: boolean;
  state: 'off' | 'waiting' | 'connecting' | 'active' | 'retrying' | 'unavailable';
  kind?: PushKind;
  /** Since when active, or retrying. */
  since?: number;
  why?: string;
  error?: string;
  /** Changes the listener told of, since this replica took the lease. */
  pushes: number;
}

export class WatermarkPoller {
  private readonly log: Logger;
  private readonly lease: Lease;
  private readonly reader: WatermarkReader;
  private readonly now: () => number;
  private readonly keys: { lease: string; watermark: string };
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = true;
  private holding = false;
  private handledLoaded = false;
  private handled: Watermark | undefined;
  private last: Watermark | undefined;
  private pending: Pending | undefined;
  private failing: { since: number; warnedAt: number } | undefined;
  private offerLogged: string | undefined;
  private listener: ChangeListener | undefined;
  private push: PushStatus;
  /** A push came while a poll was in flight: poll again once it is done. */
  private pushAgain = false;
  /** The poll under way was brought forward by a push. */
  private pushPoll = false;
  private pushWarned = false;
  private pushActivations = 0;

  constructor(private readonly o: WatermarkPollerOptions) {
    this.log = o.logger.child({ component: 'ldap-watch', server: o.settings.origin });
    this.keys = watchKeys(o.prefix);
    this.lease = new Lease(o.redis, this.keys.lease, o.leaseMs ?? Math.max(10_000, 3 * o.watch.intervalMs));
    this.reader = o.reader ?? new WatermarkReader(o.settings, { logger: o.logger });
    this.now = o.now ?? Date.now;
    this.push = this.initialPush();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling, releases the lease (another replica polls at once) and the LDAP connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A poll in flight against a DC that does not answer must not hold the shutdown: its socket is
    // dropped, and a connect still under way (which cannot be interrupted) is not waited for long;
    // the reader closes that connection when it completes. The push listener closes beside it
    // (its own wait for a connect under way is as short), not one after the other.
    await Promise.all([
      this.closePush(),
      (async () => {
        await this.reader.close();
        await Promise.race([this.ticking, new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
      })(),
    ]);
    if (this.holding) {
      this.holding = false;
      await this.lease
        .release()
        .catch((err: unknown) => this.log.warn({ err: text(err) }, 'watch lease release failed'));
    }
  }

  status(): WatchStatus {
    return {
      holder: this.holding,
      ...(this.last ? { last: this.last } : {}),
      ...(this.handled ? { handled: this.handled } : {}),
      ...(this.pending
        ? { pending: { since: this.pending.since, why: this.pending.why, failover: !!this.pending.failover } }
        : {}),
      ...(this.failing ? { failingSince: this.failing.since } : {}),
      push: { ...this.push },
    };
  }

  /** One poll now (and the timer from there); never two at once. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      let next = this.o.watch.intervalMs;
      try {
        next = await this.step();
      } catch (err) {
        // Redis away (the lease, the stored watermark): the watchdog says so; try again later.
        this.log.warn({ err: text(err) }, 'watch step failed');
      } finally {
        this.ticking = undefined;
        // A push that came during this poll may be about a change it read too early to see.
        const again = this.pushAgain && !this.pending && this.holding;
        this.pushAgain = false;
        if (again) this.pushPoll = true;
        this.schedule(again ? 0 : next);
      }
    })();
    return this.ticking;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  /** One poll; the milliseconds until the next. */
  private async step(): Promise<number> {
    const interval = this.o.watch.intervalMs;
    const held = await this.lease.hold();
    if (held !== this.holding) {
      this.holding = held;
      this.log.info({ holder: held }, held ? 'watch lease taken: this replica polls' : 'watch lease lost');
      if (!held) await this.resign();
    }
    if (!held || this.stopped) return interval;
    if (!this.handledLoaded) {
      this.handled = await this.loadHandled();
      this.handledLoaded = true;
    }

    const pushed = this.pushPoll;
    this.pushPoll = false;
    const base = this.last ?? this.handled;
    let w: Watermark;
    try {
      w = await this.reader.read(base);
    } catch (err) {
      this.failed(err);
      return interval;
    }
    const now = this.now();
    if (this.failing) {
      this.log.info(
        { failedForMs: now - this.failing.since },
        'the watermark is readable again; comparing with what was seen before',
      );
      this.failing = undefined;
    }
    this.logOffer();
    this.ensurePush();

    if (base === undefined) {
      // Nothing to compare with (the first poll ever for this prefix): one run, so that whatever
      // changed between the startup run's read and this reading is not missed. It usually joins
      // the pending startup run.
      this.o.metrics.watermarkPoll?.('first');
      this.last = w;
      this.pending ??= { since: now, lastMove: now, why: `first ${w.kind} reading (${w.value})` };
    } else {
      const { change, why } = explainChange(base, w);
      this.o.metrics.watermarkPoll?.(change);
      this.last = w;
      if (change !== 'same') {
        this.log.info({ change, from: base.value, to: w.value }, why);
        this.pending ??= { since: now, lastMove: now, why };
        this.pending.lastMove = now;
        this.pending.why = why;
        if (change === 'failover') {
          this.pending.failover = why;
          this.pending.fullRequested = false;
          // Another server may offer another push, or none: the listener starts again.
          await this.closePush();
          this.ensurePush();
        }
      }
    }
    // A push whose change this poll did not see (a write the watermark shows a moment later):
    // one more look a debounce time later rather than an interval.
    if (!this.pending) return pushed ? Math.min(interval, Math.max(this.debounceMs(w), 50)) : interval;

    const debounce = this.debounceMs(w);
    const quiet = now - this.pending.lastMove >= debounce;
    const overdue = now - this.pending.since >= Math.max(MAX_DELAY_DEBOUNCES * debounce, interval);
    if (quiet || overdue) await this.fire(now);
    return this.pending ? Math.min(interval, Math.max(debounce, 50)) : interval;
  }

  private debounceMs(w: Watermark): number {
    const d = this.o.watch.debounceMs;
    return w.kind === 'modifyTimestamp' ? Math.max(d, MODIFY_TIMESTAMP_MIN_DEBOUNCE_MS) : d;
  }

  /** Asks for the run (a full reconcile first after a failover), then records what it was for. */
  private async fire(now: number): Promise<void> {
    const p = this.pending;
    const seen = this.last;
    if (!p || !seen) return;
    try {
      if (p.failover && !p.fullRequested) {
        await (this.o.requestFull ?? ((r) => requestFullReconcile(this.o.redis, this.o.prefix, r)))(
          `LDAP watch: ${p.failover}`,
        );
        p.fullRequested = true;
      }
      const reason = p.failover ? `LDAP watch: ${p.failover}; full reconcile` : `LDAP watch: ${p.why}`;
      const r = await this.o.trigger({ trigger: 'watch', reason });
      await this.o.redis.set(this.keys.watermark, JSON.stringify(seen));
      this.handled = seen;
      this.pending = undefined;
      this.o.metrics.watermarkToRun?.((now - p.since) / 1000);
      this.log.info(
        { runId: r.runId, coalesced: r.coalesced, full: !!p.failover, waitedMs: now - p.since },
        'watermark moved: run requested',
      );
    } catch (err) {
      // Kept pending: the next poll asks again.
      this.log.warn({ err: text(err) }, 'could not request the run for a watermark move');
    }
  }

  private failed(err: unknown): void {
    if (this.stopped) return; // the read stopped by stop() itself
    this.o.metrics.watermarkPoll?.('failed');
    const now = this.now();
    const message = text(err);
    if (!this.failing) {
      this.failing = { since: now, warnedAt: now };
      this.log.warn(
        { err: message },
        'watermark poll failed; trying again at every interval, nothing is triggered',
      );
    } else if (now - this.failing.warnedAt >= FAILING_WARN_EVERY_MS) {
      this.failing.warnedAt = now;
      this.log.warn({ err: message, failingForMs: now - this.failing.since }, 'watermark poll still failing');
    } else {
      this.log.debug({ err: message }, 'watermark poll failed');
    }
  }

  private logOffer(): void {
    const offer = this.reader.offer;
    if (!offer) return;
    const line = describeOffer(offer);
    if (line === this.offerLogged) return;
    this.offerLogged = line;
    this.log.info({ kind: offer.kind, intervalMs: this.o.watch.intervalMs }, `watching: ${line}`);
  }

  /** Another replica polls now: forget this one's readings (the stored one is the truth). */
  private async resign(): Promise<void> {
    await this.closePush();
    this.last = undefined;
    this.pending = undefined;
    this.handled = undefined;
    this.handledLoaded = false;
    this.failing = undefined;
    await this.reader.reset();
  }

  private initialPush(): PushStatus {
    const mode = this.o.watch.push ?? 'auto';
    return { mode, active: false, state: mode === 'off' ? 'off' : 'waiting', pushes: 0 };
  }

  /**
   * Starts the listener once this replica holds the lease and knows what the server offers:
   * syncprov's contextCSN or AD's highestCommittedUSN come with a push; the "newest entryCSN or
   * modifyTimestamp" kinds mean a server without syncprov, which has none.
   */
  private ensurePush(): void {
    if (this.listener || this.stopped || !this.holding) return;
    if (this.push.state !== 'waiting') return;
    const kind = this.reader.offer?.kind;
    if (kind === undefined) return;
    if (kind !== 'contextCSN' && kind !== 'highestCommittedUSN') {
      this.pushChanged({
        state: 'unavailable',
        why: `the server offers ${kind}, which comes with no push (syncprov is not on this database)`,
      });
      return;
    }
    const listener = new ChangeListener(this.o.settings, {
      logger: this.o.logger,
      ...this.o.pushOptions,
    });
    this.listener = listener;
    listener.on('changed', () => {
      if (this.listener === listener) this.pushed();
    });
    listener.on('state', (state) => {
      if (this.listener === listener) this.pushChanged(state);
    });
    listener.start();
  }

  private async closePush(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    this.pushAgain = false;
    this.push = { ...this.initialPush(), pushes: this.push.pushes };
    if (listener) await listener.close();
  }

  /** The directory says something changed: poll now, unless a move is already being debounced. */
  private pushed(): void {
    this.push.pushes++;
    if (this.stopped || !this.holding || this.pending) return;
    if (this.ticking) {
      this.pushAgain = true;
      return;
    }
    this.pushPoll = true;
    void this.tick();
  }

  private pushChanged(s: PushState): void {
    const every = formatInterval(this.o.watch.intervalMs);
    const base = { mode: this.push.mode, pushes: this.push.pushes };
    switch (s.state) {
      case 'closed':
        return;
      case 'connecting':
        this.push = { ...base, active: false, state: 'connecting' };
        return;
      case 'active': {
        this.push = { ...base, active: true, state: 'active', kind: s.kind, since: s.since };
        this.pushActivations++;
        const line = `watch push: ${describePush({ kind: s.kind, base: s.base }, this.o.watch.intervalMs)}`;
        if (this.pushActivations === 1) this.log.info({ kind: s.kind }, line);
        else this.log.debug({ kind: s.kind }, line);
        // Changes made while the listener was away were not told: look now.
        if (this.pushActivations > 1) this.pushed();
        return;
      }
      case 'retrying': {
        this.push = { ...base, active: false, state: 'retrying', since: s.since, error: s.error };
        const fields = { err: s.error, retryInMs: s.retryInMs };
        if (this.pushWarned) {
          this.log.debug(fields, 'watch push down; reconnecting');
          return;
        }
        this.pushWarned = true;
        this.log.warn(
          fields,
          `watch push is not working; polling every ${every} as without it, and reconnecting (further failures at debug level)`,
        );
        return;
      }
      case 'unavailable':
        this.push = { ...base, active: false, state: 'unavailable', why: s.why };
        this.log.info(
          `watch push: ${describePush({ kind: undefined, why: s.why }, this.o.watch.intervalMs)}`,
        );
        return;
    }
  }

  private async loadHandled(): Promise<Watermark | undefined> {
    const raw = await this.o.redis.get(this.keys.watermark);
    if (raw === null) return undefined;
    try {
      const r = Stored.safeParse(JSON.parse(raw));
      if (r.success) return r.data;
    } catch {
      // not JSON: treated as absent
    }
    this.log.warn('the stored watermark is unreadable; the next reading starts afresh');
    return undefined;
  }
}

function text(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// The daemon's Entra source (docs/entra.md): each read() is one delta round on top of the state kept
// in Redis, instead of the full read `idsync plan`/`apply` do. A change in Entra then costs a few
// small requests, which is what lets a Graph notification reach Devin in seconds.
//
// Full rounds (from scratch) happen when there is no usable state, when Graph refuses the stored
// link (410 / syncStateNotFound), after a `missed` lifecycle event (Graph dropped notifications and
// never replays them), and once `fullReadEvery` has passed since the last one. Fail closed: a round
// that fails leaves the stored state and links as they were and hands the core the previous state
// marked incomplete, so additions still flow and nothing is removed; with no previous state at all
// the read throws, like a full read that found nothing.
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EntraSourceConfig } from '../../config/types.js';
import type { EntraMetrics } from '../../daemon/types.js';
import { silentLogger } from '../../log/logger.js';
import type { GroupSelector } from '../../reconcile/policy.js';
import { formatAge } from '../../util/age.js';
import type { DirectorySnapshot, DirectorySource } from '../types.js';
import { DeltaResyncRequiredError, type DeltaRoundResult, readDeltaRound } from './delta.js';
import {
  applyChanges,
  type DeltaState,
  fromStored,
  type RawGraphUser,
  type RoundKind,
  StoredDeltaState,
  summarizeChanges,
  toSnapshot,
  toStored,
} from './deltaState.js';
import type { GraphClient } from './graphClient.js';
import { NOT_MAPPED, sourceName } from './read.js';
import { type GraphUser, toDirectoryUser, userSelect } from './users.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export function deltaKeys(prefix: string): { state: string; fullRead: string } {
  return { state: `${prefix}:entra:delta`, fullRead: `${prefix}:entra:full-read-requested` };
}

/** Tenant, app and endpoint the links belong to: state of another one is never continued. */
export function originOf(config: Pick<EntraSourceConfig, 'graphBaseUrl' | 'tenantId' | 'clientId'>): string {
  return `${config.graphBaseUrl.replace(/\/+$/, '')}|${config.tenantId.toLowerCase()}|${config.clientId.toLowerCase()}`;
}

// Clears the flag only if it is the request the round saw: one that arrived during the round stays.
const CLEAR_IF_SAME = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * The delta state in Redis: one hash holding the gzipped state (links included) and, beside it, the
 * times a scheduler needs without unzipping megabytes. One HSET writes it all, so the links and the
 * state they continue can never disagree.
 */
export class DeltaStateStore {
  private readonly keys: { state: string; fullRead: string };
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = deltaKeys(prefix);
  }

  /** The stored state; `problem` says why one that exists cannot be used. */
  async load(): Promise<{ state?: DeltaState; problem?: string }> {
    const data = await this.redis.hgetBuffer(this.keys.state, 'data');
    if (data === null) return {};
    let json: unknown;
    try {
      json = JSON.parse((await gunzipAsync(data)).toString('utf8'));
    } catch (err) {
      return {
        problem: `the stored Entra delta state is unreadable (${err instanceof Error ? err.message : err})`,
      };
    }
    const parsed = StoredDeltaState.safeParse(json);
    if (!parsed.success)
      return {
        problem: `the stored Entra delta state is not in the expected form (${parsed.error.issues[0]?.message})`,
      };
    return { state: fromStored(parsed.data) };
  }

  async save(state: DeltaState): Promise<number> {
    const data = await gzipAsync(Buffer.from(JSON.stringify(toStored(state)), 'utf8'));
    await this.redis.hset(this.keys.state, {
      data,
      lastFullReadAt: state.lastFullReadAt,
      lastRoundAt: state.lastRoundAt,
      lastRoundKind: state.lastRoundKind,
    });
    return data.length;
  }

  /** Epoch ms of the last full round, without loading the state. */
  async lastFullReadAt(): Promise<number | undefined> {
    const at = await this.redis.hget(this.keys.state, 'lastFullReadAt');
    const ms = at === null ? Number.NaN : Date.parse(at);
    return Number.isFinite(ms) ? ms : undefined;
  }

  /** Makes the next round a full one, whichever replica runs it. */
  async requestFullRead(why: string, at = Date.now()): Promise<void> {
    await this.redis.set(this.keys.fullRead, JSON.stringify({ at, why }));
  }

  async fullReadRequest(): Promise<{ raw: string; why: string } | undefined> {
    const raw = await this.redis.get(this.keys.fullRead);
    if (raw === null) return undefined;
    let why = 'a full read was requested';
    try {
      const v = JSON.parse(raw) as { why?: unknown };
      if (typeof v.why === 'string') why = v.why;
    } catch {
      // The flag itself is what counts.
    }
    return { raw, why };
  }

  async clearFullReadRequest(raw: string): Promise<void> {
    await this.redis.eval(CLEAR_IF_SAME, 1, this.keys.fullRead, raw);
  }

  /** Forgets the state (tests; an operator's reset): the next round is a full one. */
  async clear(): Promise<void> {
    await this.redis.del(this.keys.state, this.keys.fullRead);
  }
}

/** No delta state to fall back on and the round failed: nothing can be planned. */
export class EntraDeltaReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EntraDeltaReadError';
  }
}

export interface DeltaSourceOptions {
  config: EntraSourceConfig;
  /** The mappings' group selectors: which groups (and what they nest) the snapshot carries. */
  selectors: readonly GroupSelector[];
  store: DeltaStateStore;
  client: Pick<GraphClient, 'pages'> & Partial<Pick<GraphClient, 'abort'>>;
  logger?: Logger;
  metrics?: Partial<EntraMetrics>;
  /** Epoch ms. */
  now?: () => number;
}

export class EntraDeltaSource implements DirectorySource {
  private readonly log: Logger;
  private readonly now: () => number;
  private aborted: string | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly o: DeltaSourceOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'entra-delta' });
    this.now = o.now ?? Date.now;
  }

  /** Stops a round in flight (it rejects) and refuses later reads: the process is shutting down. */
  abort(reason = 'aborted by the caller'): void {
    this.aborted ??= reason;
    this.stop.abort(new Error(reason));
    this.o.client.abort?.(reason);
  }

  /** Makes the next round a full one (a `missed` lifecycle event), on whichever replica runs it. */
  requestFullRead(why: string): Promise<void> {
    return this.o.store.requestFullRead(why, this.now());
  }

  async read(): Promise<DirectorySnapshot> {
    if (this.aborted !== undefined) throw new EntraDeltaReadError(`Entra read aborted: ${this.aborted}`);
    const { config } = this.o;
    const started = this.now();
    const select = userSelect(config);
    const origin = originOf(config);
    const loaded = await this.o.store.load();
    if (loaded.problem)
      this.log.warn({ problem: loaded.problem }, 'stored delta state unusable; reading in full');
    // State of another tenant, app or Graph endpoint is no fallback either: it is not this directory.
    const prev = loaded.state?.origin === origin ? loaded.state : undefined;
    const request = await this.o.store.fullReadRequest();
    let fullReason = this.fullReason(loaded, prev, select, request?.why);

    let round: DeltaRoundResult | undefined;
    let kind: RoundKind = fullReason === undefined ? 'incremental' : 'full';
    try {
      if (kind === 'incremental' && prev) {
        try {
          round = await readDeltaRound(this.o.client, {
            kind,
            userSelect: select,
            usersDeltaLink: prev.usersDeltaLink,
            groupsDeltaLink: prev.groupsDeltaLink,
            signal: this.stop.signal,
          });
        } catch (err) {
          if (!(err instanceof DeltaResyncRequiredError)) throw err;
          this.o.metrics?.deltaRound?.('incremental', 'resync');
          this.log.warn({ resource: err.resource, status: err.status, code: err.code }, err.message);
          fullReason = err.message;
          kind = 'full';
        }
      }
      round ??= await readDeltaRound(this.o.client, {
        kind: 'full',
        userSelect: select,
        signal: this.stop.signal,
      });
    } catch (err) {
      if (this.aborted !== undefined) throw new EntraDeltaReadError(`Entra read aborted: ${this.aborted}`);
      this.o.metrics?.deltaRound?.(kind, 'failed');
      const why = err instanceof Error ? err.message : String(err);
      if (!prev) {
        throw new EntraDeltaReadError(
          `the Entra directory could not be read (${kind} delta round, and no stored state to fall back on): ${why}`,
          { cause: err },
        );
      }
      const age = formatAge(started - Date.parse(prev.lastRoundAt));
      this.log.error(
        { kind, err: why, stateAge: age },
        'entra delta round failed; planning from the stored state, nothing removed',
      );
      return this.snapshot(prev, {
        source: `${sourceName(config)} (${kind} delta read FAILED; directory as stored ${age} ago)`,
        complete: false,
        incompleteReasons: [
          `the ${kind} Entra delta read failed (${why}); planning from the directory as stored ${age} ago, so nobody is removed or downgraded`,
        ],
      });
    }

    const at = new Date(this.now());
    const next = applyChanges(prev, round.changes, {
      kind: round.kind,
      at,
      usersDeltaLink: round.usersDeltaLink,
      groupsDeltaLink: round.groupsDeltaLink,
      origin,
      select,
    });
    let bytes: number | undefined;
    try {
      bytes = await this.o.store.save(next);
      if (round.kind === 'full' && request) await this.o.store.clearFullReadRequest(request.raw);
    } catch (err) {
      // The read itself is good; the next round simply repeats it from the old links.
      this.log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'could not store the delta state',
      );
    }
    this.o.metrics?.deltaRound?.(round.kind, 'ok');
    this.log.info(
      {
        kind: round.kind,
        ...(round.kind === 'full' ? { reason: fullReason } : {}),
        pages: round.pages,
        changes: summarizeChanges(round.changes),
        users: next.users.size,
        groups: next.groups.size,
        storedBytes: bytes,
        ms: Math.round(this.now() - started),
      },
      'entra delta round',
    );
    const source =
      round.kind === 'full'
        ? `${sourceName(config)} (full delta read: ${fullReason})`
        : `${sourceName(config)} (incremental delta read; last full read ${formatAge(at.getTime() - Date.parse(next.lastFullReadAt))} ago)`;
    return this.snapshot(next, { source, complete: true, incompleteReasons: [] });
  }

  private fullReason(
    loaded: { state?: DeltaState; problem?: string },
    prev: DeltaState | undefined,
    select: string,
    requested: string | undefined,
  ): string | undefined {
    if (loaded.problem) return loaded.problem;
    if (!loaded.state) return 'no stored delta state';
    if (!prev) return 'the stored delta state belongs to another tenant, app or Graph endpoint';
    if (requested !== undefined) return requested;
    if (prev.select !== select)
      return 'the user properties read changed (extraUserAttributes, email attributes)';
    const dueMs = this.o.config.fullReadEvery * 1000;
    const since = this.now() - Date.parse(prev.lastFullReadAt);
    if (!(since < dueMs)) return `the last full read was ${formatAge(since)} ago (fullReadEvery)`;
    return undefined;
  }

  private snapshot(
    state: DeltaState,
    s: { source: string; complete: boolean; incompleteReasons: string[] },
  ): DirectorySnapshot {
    const { config } = this.o;
    return toSnapshot(state, {
      selectors: this.o.selectors,
      toUser: (raw: RawGraphUser) => toDirectoryUser(raw as GraphUser, config),
      notMapped: NOT_MAPPED,
      // When the directory looked like this: the stored state's round, not now, on a fallback.
      readAt: new Date(state.lastRoundAt),
      ...s,
    });
  }
}

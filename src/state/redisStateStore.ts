// The ownership ledger in Redis, for the daemon: every replica and worker reads and writes the same
// ledger. Each kind of subject is a Redis set, so recording an op is one MULTI of SADD/SREM on the
// subjects it touches: atomic per op, and never a read-modify-write of the whole ledger (which
// would be O(ledger) per op and lose updates between workers).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Op } from '../reconcile/plan.js';
import { LastRunSchema } from './lastRunSchema.js';
import {
  EMPTY_LEDGER,
  emailKey,
  groupRoleKey,
  type LastRun,
  ledgerAfterOp,
  type OwnershipLedger,
  type StateStore,
} from './ledger.js';

type Subject = 'users' | 'groups' | 'groupRoles';
const SUBJECTS: readonly Subject[] = ['users', 'groups', 'groupRoles'];

export interface LedgerDelta {
  add: Record<Subject, string[]>;
  remove: Record<Subject, string[]>;
}

/**
 * What `op` adds to and removes from the ledger, derived from ledgerAfterOp itself so the two stores
 * can never disagree: additions are what the op puts into an empty ledger; removals are what it
 * takes out of a ledger that already holds every subject the op names.
 */
export function ledgerDelta(op: Op): LedgerDelta {
  const added = ledgerAfterOp(EMPTY_LEDGER, op);
  const named = subjectsNamed(op);
  const after = ledgerAfterOp(named, op);
  const remove = {} as Record<Subject, string[]>;
  const add = {} as Record<Subject, string[]>;
  for (const s of SUBJECTS) {
    add[s] = added[s];
    const kept = new Set(after[s]);
    remove[s] = named[s].filter((x) => !kept.has(x));
  }
  return { add, remove };
}

/**
 * A ledger holding the subject a removal op names. Only what ledgerAfterOp then takes out of it is
 * removed, so this can over-name but never invent a removal.
 */
function subjectsNamed(op: Op): OwnershipLedger {
  const l: OwnershipLedger = { version: 1, users: [], groups: [], groupRoles: [] };
  switch (op.kind) {
    case 'removeUser':
      return { ...l, users: [emailKey(op.email)] };
    case 'unregisterIdpGroup':
      return { ...l, groups: [op.group] };
    case 'removeGroupEnterpriseRole':
      return { ...l, groupRoles: [groupRoleKey(op.group, null)] };
    case 'removeGroupOrgRole':
      return { ...l, groupRoles: [groupRoleKey(op.group, op.org.id)] };
    default:
      return l;
  }
}

export class RedisStateStore implements StateStore {
  private readonly keys: Record<Subject, string> & {
    lastRun: string;
    version: string;
    lastRunVersion: string;
  };
  /**
   * What this process last read or wrote of the ledger, each part with the version token it was
   * at. Every write sets a new random token for its part in the same transaction, so an
   * unchanged token means an unchanged part: a daemon run at 100,000 users then skips reading and
   * parsing it again (the last run holds every directory id; the sets every owned user). The
   * last run this process recorded is kept as it wrote it. Random rather than a counter: a
   * counter restarts when Redis loses its data and could meet an old value again. No token (Redis
   * lost it, or a ledger written by an older idsync): always read in full.
   */
  private sets:
    | { token: string; users: readonly string[]; groups: readonly string[]; groupRoles: readonly string[] }
    | undefined;
  private last: { token: string; run: LastRun | undefined } | undefined;
  private composed: OwnershipLedger | undefined;

  constructor(
    private readonly redis: Redis,
    /** Key prefix shared with the daemon's other keys, e.g. `idsync`. */
    readonly prefix: string,
  ) {
    this.keys = {
      users: `${prefix}:ledger:users`,
      groups: `${prefix}:ledger:groups`,
      groupRoles: `${prefix}:ledger:groupRoles`,
      lastRun: `${prefix}:ledger:lastRun`,
      version: `${prefix}:ledger:version`,
      lastRunVersion: `${prefix}:ledger:lastRunVersion`,
    };
  }

  describe(): string {
    return `redis ${this.prefix}:ledger:*`;
  }

  async load(): Promise<OwnershipLedger> {
    const [setsToken, lastToken] = await this.redis.mget(this.keys.version, this.keys.lastRunVersion);
    let sets = setsToken !== null && this.sets?.token === setsToken ? this.sets : undefined;
    let last = lastToken !== null && this.last?.token === lastToken ? this.last : undefined;
    if (!sets || !last) {
      // One transaction: the tokens read are those of exactly what it reads with them.
      const tx = this.redis.multi().get(this.keys.version).get(this.keys.lastRunVersion);
      if (!sets) tx.smembers(this.keys.users).smembers(this.keys.groups).smembers(this.keys.groupRoles);
      if (!last) tx.get(this.keys.lastRun);
      const values = await execValues(tx);
      const [v, lv] = values as [string | null, string | null];
      // A part kept from before whose token changed meanwhile: read everything afresh.
      if ((sets && v !== sets.token) || (last && lv !== last.token)) {
        this.sets = undefined;
        this.last = undefined;
        return this.load();
      }
      let i = 2;
      if (!sets) {
        const [users, groups, groupRoles] = values.slice(i, i + 3) as [string[], string[], string[]];
        i += 3;
        sets = {
          token: v ?? '',
          users: Object.freeze(users.sort()),
          groups: Object.freeze(groups.sort()),
          groupRoles: Object.freeze(groupRoles.sort()),
        };
        this.sets = v === null ? undefined : sets;
      }
      if (!last) {
        last = { token: lv ?? '', run: this.parseLastRun(values[i] as string | null) };
        this.last = lv === null ? undefined : last;
      }
      this.composed = undefined;
    }
    const c = this.composed;
    if (c && c.users === sets.users && c.lastSuccessfulRun === last.run) return c;
    // Shared by the runs of this process from now on: nobody may change it in place.
    const ledger: OwnershipLedger = Object.freeze({
      version: 1,
      users: sets.users as string[],
      groups: sets.groups as string[],
      groupRoles: sets.groupRoles as string[],
      ...(last.run ? { lastSuccessfulRun: last.run } : {}),
    });
    this.composed = ledger;
    return ledger;
  }

  private parseLastRun(text: string | null): LastRun | undefined {
    if (text === null) return undefined;
    const parsed = LastRunSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new Error(`${this.keys.lastRun} does not hold a valid last run; refusing to guess the base`);
    }
    return Object.freeze(parsed.data);
  }

  async recordOp(op: Op): Promise<void> {
    const delta = opDelta(op);
    if (delta === undefined) return;
    const tx = this.redis.multi();
    for (const s of SUBJECTS) {
      if (delta.add[s].length > 0) tx.sadd(this.keys[s], ...delta.add[s]);
      if (delta.remove[s].length > 0) tx.srem(this.keys[s], ...delta.remove[s]);
    }
    tx.set(this.keys.version, randomUUID());
    await execOrThrow(tx);
  }

  async recordRun(run: LastRun): Promise<void> {
    const token = randomUUID();
    const text = JSON.stringify(run);
    await execOrThrow(this.redis.multi().set(this.keys.lastRun, text).set(this.keys.lastRunVersion, token));
    // Kept as written: this process's next run need not read back and parse what it has just
    // written. The very object, not a copy (parsing the text back costs as much as reading it):
    // the caller builds it for this call and nobody changes a recorded run.
    this.last = { token, run };
  }

  /** True when nothing has been recorded: what import/export check before overwriting. */
  async isEmpty(): Promise<boolean> {
    const n = await this.redis.exists(
      this.keys.users,
      this.keys.groups,
      this.keys.groupRoles,
      this.keys.lastRun,
    );
    return n === 0;
  }

  /** Replaces the whole ledger in one transaction (`idsync state import`). */
  async replace(ledger: OwnershipLedger): Promise<void> {
    const tx = this.redis.multi();
    tx.del(this.keys.users, this.keys.groups, this.keys.groupRoles, this.keys.lastRun);
    for (const s of SUBJECTS) if (ledger[s].length > 0) tx.sadd(this.keys[s], ...ledger[s]);
    if (ledger.lastSuccessfulRun) tx.set(this.keys.lastRun, JSON.stringify(ledger.lastSuccessfulRun));
    tx.set(this.keys.version, randomUUID()).set(this.keys.lastRunVersion, randomUUID());
    await execOrThrow(tx);
  }
}

const deltas = new WeakMap<Op, LedgerDelta | undefined>();

function opDelta(op: Op): LedgerDelta | undefined {
  if (deltas.has(op)) return deltas.get(op);
  const d = ledgerDelta(op);
  const empty = SUBJECTS.every((s) => d.add[s].length === 0 && d.remove[s].length === 0);
  deltas.set(op, empty ? undefined : d);
  return empty ? undefined : d;
}

async function execOrThrow(tx: ReturnType<Redis['multi']>): Promise<void> {
  await execValues(tx);
}

async function execValues(tx: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const results = await tx.exec();
  if (results === null) throw new Error('redis transaction was aborted');
  for (const [err] of results) if (err) throw err;
  return results.map(([, v]) => v);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

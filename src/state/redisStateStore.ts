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
  private readonly keys: Record<Subject, string> & { lastRun: string; version: string };
  /**
   * The ledger this process loaded last, with the version token it was loaded at. Every write
   * sets a new random token in the same transaction, so an unchanged token means an unchanged
   * ledger: a daemon run at 100,000 users then skips reading and parsing it again (a quarter of a
   * second). Random rather than a counter: a counter restarts when Redis loses its data and could
   * meet an old value again. No token (Redis lost it, or a ledger written by an older idsync):
   * always read in full.
   */
  private cached: { version: string; ledger: OwnershipLedger } | undefined;

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
    };
  }

  describe(): string {
    return `redis ${this.prefix}:ledger:*`;
  }

  async load(): Promise<OwnershipLedger> {
    const cached = this.cached;
    if (cached && (await this.redis.get(this.keys.version)) === cached.version) return cached.ledger;
    // One transaction: the token read is the one of exactly these members.
    const results = await this.redis
      .multi()
      .get(this.keys.version)
      .smembers(this.keys.users)
      .smembers(this.keys.groups)
      .smembers(this.keys.groupRoles)
      .get(this.keys.lastRun)
      .exec();
    if (results === null) throw new Error('redis transaction was aborted');
    for (const [err] of results) if (err) throw err;
    const [version, users, groups, groupRoles, lastRun] = results.map(([, v]) => v) as [
      string | null,
      string[],
      string[],
      string[],
      string | null,
    ];
    const ledger: OwnershipLedger = {
      version: 1,
      users: users.sort(),
      groups: groups.sort(),
      groupRoles: groupRoles.sort(),
    };
    if (lastRun !== null) {
      const parsed = LastRunSchema.safeParse(safeJson(lastRun));
      if (!parsed.success) {
        throw new Error(`${this.keys.lastRun} does not hold a valid last run; refusing to guess the base`);
      }
      ledger.lastSuccessfulRun = parsed.data;
    }
    // Shared by the runs of this process from now on: nobody may change it in place.
    Object.freeze(ledger.users);
    Object.freeze(ledger.groups);
    Object.freeze(ledger.groupRoles);
    Object.freeze(ledger);
    this.cached = version === null ? undefined : { version, ledger };
    return ledger;
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
    await execOrThrow(
      this.redis.multi().set(this.keys.lastRun, JSON.stringify(run)).set(this.keys.version, randomUUID()),
    );
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
    tx.set(this.keys.version, randomUUID());
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
  const results = await tx.exec();
  if (results === null) throw new Error('redis transaction was aborted');
  for (const [err] of results) if (err) throw err;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

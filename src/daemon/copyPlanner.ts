// How a daemon run reads Devin and plans: in full (every listing) or incrementally (the cached copy,
// patched, with only the touched subjects read again), and what the copy becomes afterwards.
//
// A full read happens when incremental runs are off, when there is no usable copy (first run,
// Redis lost it, another version wrote it), after a restart, when the copy is of another Devin or
// was made under another config, when it is older than devin.fullReconcileEvery, when someone asked
// (requestFullReconcile: a DC failover, a copy an op contradicted), and when the change is so big
// that reading its subjects one by one would cost more than reading everything.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import type { DevinClient } from '../devin/client.js';
import { readDevinSnapshot, readDevinSubjects } from '../devin/snapshot.js';
import type { DirectorySnapshot } from '../directory/types.js';
import { digestDesired, emptySubjects, type Subjects } from '../incremental/digest.js';
import { type PatchStatus, patchCopy } from '../incremental/patch.js';
import { planIncremental } from '../incremental/planIncremental.js';
import type { DevinSnapshot } from '../model/devin.js';
import { desiredState } from '../reconcile/desiredState.js';
import type { Op, Plan } from '../reconcile/plan.js';
import { planSync } from '../reconcile/planSync.js';
import type { OwnershipLedger } from '../state/ledger.js';
import { formatAge } from '../util/age.js';
import { type CopyMeta, type DevinCache, type DevinCopy, DevinCopyFormatError } from './devinCache.js';
import type { RunTrigger } from './types.js';

export interface CopyPlannerDeps {
  config: LoadedConfig;
  cache: DevinCache;
  client: DevinClient;
  logger: Logger;
  /** Takes (and so consumes) a pending request for a full reconcile. */
  takeFullRequest: () => Promise<string | undefined>;
  requestFull: (reason: string) => Promise<void>;
  now?: () => number;
}

export interface PlannedRun {
  plan: Plan;
  directory: DirectorySnapshot;
  /** Store it once the plan is stored: the copy this run leaves for the next. */
  copy: DevinCopy;
  timings: { readSourceS: number; readDevinS: number; planS: number };
}

/** Reading more users one by one than this share of a full read's requests costs more. */
function maxSubjectsFor(meta: CopyMeta, orgs: number): number {
  // A full read: the users pages, each org's two listings, the group listings, orgs and roles.
  const fullRequests = Math.ceil(meta.users / 200) + orgs * 2 + 5;
  // A user read again: one lookup and about one org list.
  return Math.max(20, Math.floor(fullRequests / 2));
}

export function policyFingerprint(config: LoadedConfig): string {
  return createHash('sha256').update(JSON.stringify(config.policy)).digest('hex').slice(0, 32);
}

export function accountOf(config: LoadedConfig): string {
  return `${config.devin.baseUrl}${config.devin.apiPrefix}`;
}

export class CopyPlanner {
  private readonly now: () => number;

  constructor(private readonly deps: CopyPlannerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Why this run must read Devin in full, or undefined for an incremental run. */
  private async fullReason(meta: CopyMeta | undefined, trigger: RunTrigger): Promise<string | undefined> {
    const { config } = this.deps;
    // Consumed whatever this run decides: a full read answers it, and so does an incremental run,
    // which is never planned when this returns a reason.
    const requested = await this.deps.takeFullRequest();
    this.consumed = requested;
    if (!config.devinCopy.incremental) return 'incremental runs are off (devin.incremental: false)';
    if (requested !== undefined) return `requested: ${requested}`;
    if (!meta) return 'no cached copy of Devin yet (first run, or Redis lost it)';
    if (trigger === 'startup') return 'the daemon started';
    if (meta.account !== accountOf(config)) return 'the cached copy is of another Devin account';
    if (meta.policy !== policyFingerprint(config)) return 'the config changed since the copy was made';
    const age = this.now() - Date.parse(meta.fullReadAt);
    if (!(age < config.devinCopy.fullReconcileEveryMs)) {
      return `the last full read was ${formatAge(age)} ago (devin.fullReconcileEvery)`;
    }
    return undefined;
  }

  async plan(input: {
    trigger: RunTrigger;
    readSource: () => Promise<DirectorySnapshot>;
    loadLedger: () => Promise<OwnershipLedger>;
  }): Promise<PlannedRun> {
    this.consumed = undefined;
    this.held = undefined;
    try {
      return await this.planOnce(input);
    } catch (err) {
      // A run that took a request for a full reconcile and then failed leaves it for the next run.
      if (this.consumed !== undefined) {
        await this.deps
          .requestFull(this.consumed)
          .catch((e: unknown) =>
            this.deps.logger.warn(
              { err: (e as Error).message },
              'could not put back the request for a full reconcile',
            ),
          );
      }
      throw err;
    }
  }

  private consumed: string | undefined;

  private async planOnce(input: {
    trigger: RunTrigger;
    readSource: () => Promise<DirectorySnapshot>;
    loadLedger: () => Promise<OwnershipLedger>;
  }): Promise<PlannedRun> {
    const { config, cache, client, logger } = this.deps;
    const meta = await cache.meta();
    const reason = await this.fullReason(meta, input.trigger);
    const t0 = performance.now();
    const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
      const v = await p;
      return [v, (performance.now() - t0) / 1000];
    };

    let copy: DevinCopy | undefined;
    let directory: DirectorySnapshot;
    let ledger: OwnershipLedger;
    let readSourceS: number;
    if (reason === undefined) {
      let loaded: DevinCopy | undefined;
      [[directory, readSourceS], ledger, loaded] = await Promise.all([
        timed(input.readSource()),
        input.loadLedger(),
        cache.load().catch((err: unknown) => {
          if (!(err instanceof DevinCopyFormatError)) throw err;
          logger.warn({ err: err.message }, 'the cached copy of Devin is unreadable; reading Devin in full');
          return undefined;
        }),
      ]);
      copy = loaded;
      let why = 'the cached copy of Devin could not be read back';
      if (copy) {
        const t1 = performance.now();
        const result = await planIncremental({
          policy: config.policy,
          directory,
          ledger,
          copy: copy.snapshot,
          fullReadAt: copy.meta.fullReadAt,
          dirty: copy.dirty,
          lastDigests: copy.digests,
          read: (request) => readDevinSubjects(client, request),
          maxSubjects: maxSubjectsFor(copy.meta, copy.snapshot.orgs.length),
        });
        if (result.kind === 'planned') {
          const s = (performance.now() - t1) / 1000;
          return {
            plan: result.plan,
            directory,
            copy: this.copyOf(result.devin, copy.meta.fullReadAt, result.digests),
            timings: { readSourceS, readDevinS: 0, planS: s },
          };
        }
        why = result.reason;
      }
      // The directory is read: only Devin is still to read in full.
      const [devin, readDevinS] = await timed(readDevinSnapshot(client));
      return this.planFull(directory, devin, ledger, why, readSourceS, readDevinS);
    }
    const [[dir, rs], [devin, readDevinS], led] = await Promise.all([
      timed(input.readSource()),
      timed(readDevinSnapshot(client)),
      input.loadLedger(),
    ]);
    return this.planFull(dir, devin, led, reason, rs, readDevinS);
  }

  private planFull(
    directory: DirectorySnapshot,
    devin: DevinSnapshot,
    ledger: OwnershipLedger,
    reason: string,
    readSourceS: number,
    readDevinS: number,
  ): PlannedRun {
    const { config } = this.deps;
    const t0 = performance.now();
    const desired = desiredState(config.policy, directory, devin);
    const plan = planSync(
      {
        policy: config.policy,
        directory,
        devin,
        ledger,
        devinRead: { kind: 'full', fullReadAt: devin.readAt, reason },
      },
      desired,
    );
    return {
      plan,
      directory,
      copy: this.copyOf(devin, devin.readAt, digestDesired(desired)),
      timings: { readSourceS, readDevinS, planS: (performance.now() - t0) / 1000 },
    };
  }

  private copyOf(snapshot: DevinSnapshot, fullReadAt: string, digests: DevinCopy['digests']): DevinCopy {
    return {
      meta: {
        account: accountOf(this.deps.config),
        policy: policyFingerprint(this.deps.config),
        fullReadAt,
        savedAt: new Date(this.now()).toISOString(),
        users: snapshot.users.length,
      },
      snapshot,
      digests,
      dirty: emptySubjects(),
    };
  }

  save(copy: DevinCopy): Promise<void> {
    this.held = undefined;
    return this.deps.cache.save(copy);
  }

  /**
   * The copy a run planned against, kept in this process until the run's writes are patched into it
   * and it is saved once. Lost if the run stops before that: the copy in Redis is then the one
   * before this run, whose digests make the next run read the same subjects again.
   */
  private held: DevinCopy | undefined;

  holdUntilPatched(copy: DevinCopy): void {
    this.held = copy;
  }

  requestFull(reason: string): Promise<void> {
    return this.deps.requestFull(reason);
  }

  /**
   * idsync's writes, applied to the stored copy. Returns the op keys whose result contradicted the
   * copy of an incremental plan (the caller asks for a full reconcile), empty otherwise.
   */
  async patch(
    plan: Plan,
    ops: readonly Op[],
    statusOf: (key: string) => PatchStatus | undefined,
  ): Promise<string[]> {
    const { cache, logger } = this.deps;
    let copy = this.held;
    this.held = undefined;
    try {
      copy ??= await cache.load();
    } catch (err) {
      if (!(err instanceof DevinCopyFormatError)) throw err;
      copy = undefined;
    }
    if (!copy) return [];
    const patched = patchCopy(copy.snapshot, ops, statusOf);
    const dirty: Subjects = {
      users: new Set([...copy.dirty.users, ...patched.dirty.users]),
      groups: new Set([...copy.dirty.groups, ...patched.dirty.groups]),
    };
    await cache.save({
      ...copy,
      meta: {
        ...copy.meta,
        savedAt: new Date(this.now()).toISOString(),
        users: patched.snapshot.users.length,
      },
      snapshot: patched.snapshot,
      dirty,
    });
    if (patched.contradicted.length > 0) {
      logger.info(
        { contradicted: patched.contradicted.slice(0, 10), count: patched.contradicted.length },
        'ops found Devin other than the cached copy said',
      );
    }
    return plan.devinRead?.kind === 'incremental' ? patched.contradicted : [];
  }
}

// The daemon's LDAP source when `source.watch` is set: a run reads only the entries changed since
// the last read and merges them into the last snapshot, kept in Redis (one gzipped value, written
// only after a read that was complete). docs/watch.md, "Reading only what changed".
//
// One connection does it all, so the watermark, the server's identity and the entries come from
// one server: the watermark first (a change during the read is then seen by the next one), then
// every entry changed since the stored watermark anywhere in the naming context (tombstones
// included on AD, with the show-deleted control), then the users and groups changed, through the
// ordinary reader (read.ts) with the unchanged entries of the last snapshot standing in for the
// rest, so member DNs resolve exactly as a full read resolves them.
//
// Fail closed: no usable cache, another server or config, a cache older than fullReadEvery, any
// error, anything incomplete or doubtful in the changed read → a full read, which replaces the cache
// (and is returned incomplete, as the plain source would, if it is incomplete itself).
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Redis } from 'ioredis';
import { Control, type Entry } from 'ldapts';
import type { Logger } from 'pino';
import type { LdapSourceConfig } from '../config/types.js';
import { isWithin, tryNormalizeDn } from '../directory/dn.js';
import { LdapConnection } from '../directory/ldap/connection.js';
import { attr, idValue, isGuidAttribute, strings } from '../directory/ldap/entry.js';
import { LdapConnectError, LdapError } from '../directory/ldap/errors.js';
import { compileFilter } from '../directory/ldap/filter.js';
import {
  changedSince,
  describeRead,
  doubtAbout,
  fromStoredCache,
  groupClause,
  keptOf,
  type LdapCache,
  MAX_NEW_USERS,
  pruneMembers,
  settingsFingerprint,
  sharedEmail,
  toStoredCache,
  unsupported,
} from '../directory/ldap/incremental.js';
import { type LdapSettings, readsUidMembers, resolveSettings } from '../directory/ldap/profiles.js';
import { type ChangedRead, LdapReader, type ProgressHook } from '../directory/ldap/read.js';
import { detectWatermark, parseCsn, type Watermark } from '../directory/ldap/watermark.js';
import type { DirectorySnapshot, DirectorySource } from '../directory/types.js';
import { silentLogger } from '../log/logger.js';
import { formatAge } from '../util/age.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** LDAP_SERVER_SHOW_DELETED_OID: searches see tombstones (isDeleted) too. */
const SHOW_DELETED = '1.2.840.113556.1.4.417';

export const ldapCacheKey = (prefix: string): string => `${prefix}:ldap:snapshot`;

export type LdapReadKind = 'full' | 'incremental';

export interface IncrementalLdapOptions {
  config: LdapSourceConfig;
  redis: Redis;
  prefix: string;
  logger?: Logger;
  /** A full read at least this often (source.watch.fullReadEvery). */
  fullReadEveryMs: number;
  now?: () => number;
  /** Tests: awaited after every page of the changed read (a throw there is a failure mid-read). */
  onChangedProgress?: ProgressHook;
  /** Tests and the bench: what each read was, and why a full one. */
  onRead?: (r: { kind: LdapReadKind; why?: string }) => void;
}

/** Thrown inside a changed read: it is not trusted, and the read is made in full instead. */
class DoubtError extends Error {}

export class IncrementalLdapSource implements DirectorySource {
  private readonly s: LdapSettings;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly key: string;
  private readonly fingerprint: string;
  private aborted: string | undefined;
  private readonly open = new Set<LdapConnection>();
  /**
   * The cache as this process last wrote or read it, with the stamp stored beside it in Redis:
   * while the stamp in Redis is the same, the 100k-user value is not fetched, unzipped and parsed
   * again. Nothing downstream writes into a snapshot (the core builds its own state from it).
   */
  private memo: { stamp: string; cache: LdapCache } | undefined;
  /** The last save, in flight: the next read waits for it (a save is off the run's critical path). */
  private saving: Promise<void> | undefined;
  /** Milliseconds per step of the last read, for the log line. */
  private steps: Record<string, number> = {};

  constructor(private readonly o: IncrementalLdapOptions) {
    this.s = resolveSettings(o.config);
    this.log = (o.logger ?? silentLogger).child({ component: 'ldap-incremental', server: this.s.origin });
    this.now = o.now ?? Date.now;
    this.key = ldapCacheKey(o.prefix);
    this.fingerprint = settingsFingerprint(this.s);
  }

  abort(reason = 'aborted by the caller'): void {
    this.aborted ??= reason;
    for (const conn of this.open) conn.abort(reason);
  }

  async read(): Promise<DirectorySnapshot> {
    if (this.aborted !== undefined)
      throw new LdapConnectError(`LDAP read aborted: ${this.aborted}`, this.s.origin);
    const conn = await LdapConnection.open(this.s, this.log);
    this.open.add(conn);
    try {
      if (this.aborted !== undefined) conn.abort(this.aborted);
      return await this.readWith(conn);
    } finally {
      this.open.delete(conn);
      await conn.close();
    }
  }

  private async readWith(conn: LdapConnection): Promise<DirectorySnapshot> {
    await this.saving;
    const started = this.now();
    this.steps = {};
    // The watermark before anything is read: what changes from here on is the next read's.
    let mark: Watermark | undefined;
    let context: string | undefined;
    try {
      ({ mark, context } = await this.step('mark', () => this.readMark(conn)));
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'watermark not readable: a full read, not cached');
    }
    const { cache, why } = mark
      ? await this.step('cache', () => this.usableCache(mark, context, started))
      : { why: 'no watermark' };
    if (cache && mark && context !== undefined) {
      const reconnects = conn.reconnects;
      try {
        const snapshot = await this.step('changed', () =>
          this.changedRead(conn, cache, mark, context, started),
        );
        if (conn.reconnects !== reconnects)
          throw new DoubtError('the connection was re-established during the read');
        this.save({ ...cache, mark, snapshot, lastReadAt: new Date(started).toISOString() });
        this.o.onRead?.({ kind: 'incremental' });
        this.log.info({ read: 'incremental', ms: this.steps }, 'LDAP read: incremental');
        return snapshot;
      } catch (err) {
        // The reader may have written into the kept entries (every user disabled when the
        // disabledFilter listing failed): the memo is not trusted any more.
        this.memo = undefined;
        const reason = err instanceof DoubtError ? err.message : `failed: ${describe(err)}`;
        this.log.warn({ reason }, 'incremental LDAP read not used; reading in full');
        return this.fullRead(conn, mark, `the incremental read ${reason}`);
      }
    }
    return this.fullRead(conn, mark, why ?? 'no cached snapshot');
  }

  private async fullRead(
    conn: LdapConnection,
    mark: Watermark | undefined,
    why: string,
  ): Promise<DirectorySnapshot> {
    const at = this.now();
    const uids = new Map<string, readonly string[]>();
    const snapshot = await new LdapReader(conn, this.s, this.log, undefined, { uids }).read();
    this.o.onRead?.({ kind: 'full', why });
    this.log.info({ read: 'full', why }, 'LDAP read: full');
    if (mark === undefined || !snapshot.complete || unsupported(this.s) !== undefined) {
      // Nothing to continue from: the next read is full again.
      this.memo = undefined;
      await this.o.redis.del(this.key).catch(() => undefined);
      return snapshot;
    }
    const iso = new Date(at).toISOString();
    this.save({
      fingerprint: this.fingerprint,
      mark,
      snapshot,
      uids,
      lastFullReadAt: iso,
      lastReadAt: iso,
    });
    return snapshot;
  }

  /** The cache when it can be continued from this server and config, else why not. */
  private async usableCache(
    mark: Watermark,
    context: string | undefined,
    now: number,
  ): Promise<{ cache?: LdapCache; why?: string }> {
    const no = unsupported(this.s);
    if (no !== undefined) return { why: `not read incrementally: ${no}` };
    if (changedSince(mark) === undefined) return { why: `not read incrementally with ${mark.kind}` };
    if (context === undefined) return { why: 'no naming context holding userBase and groupBase' };
    let cache: LdapCache | undefined;
    try {
      const stamp = await this.o.redis.hget(this.key, 'stamp');
      if (stamp === null) return { why: 'no cached snapshot' };
      if (this.memo?.stamp === stamp) cache = this.memo.cache;
      else {
        this.memo = undefined;
        const data = await this.o.redis.hgetBuffer(this.key, 'data');
        if (data === null) return { why: 'no cached snapshot' };
        const loaded = fromStoredCache(JSON.parse((await gunzipAsync(data)).toString('utf8')));
        if (loaded.problem !== undefined) return { why: `the cached snapshot is ${loaded.problem}` };
        cache = loaded.cache;
        if (cache) this.memo = { stamp, cache };
      }
    } catch (err) {
      return { why: `the cached snapshot is not readable (${describe(err)})` };
    }
    if (cache === undefined) return { why: 'no cached snapshot' };
    if (cache.fingerprint !== this.fingerprint)
      return { why: 'the source config changed since the cached read' };
    if (cache.mark.kind !== mark.kind || cache.mark.server !== mark.server) {
      return {
        why: `another server answers (${mark.kind} ${mark.server || '(unnamed)'}; the cache is of ${cache.mark.kind} ${cache.mark.server || '(unnamed)'})`,
      };
    }
    if (mark.kind === 'highestCommittedUSN' && BigInt(mark.value) < BigInt(cache.mark.value))
      return { why: `highestCommittedUSN went back from ${cache.mark.value} to ${mark.value}` };
    const since = now - Date.parse(cache.lastFullReadAt);
    if (!(since < this.o.fullReadEveryMs))
      return { why: `the last full read was ${formatAge(since)} ago (fullReadEvery)` };
    return { cache };
  }

  private async changedRead(
    conn: LdapConnection,
    cache: LdapCache,
    mark: Watermark,
    context: string,
    started: number,
  ): Promise<DirectorySnapshot> {
    const s = this.s;
    const since = changedSince(cache.mark);
    if (since === undefined) throw new DoubtError(`cannot search by ${cache.mark.kind}`);
    const last = cache.snapshot;
    const changed = await this.step('ids', () => this.changedIds(conn, context, since, cache.mark));
    // The last read's entries that changed: a few, found without indexing 100k users.
    const lastChangedUsers = new Set(last.users.filter((u) => changed.ids.has(u.id)).map((u) => u.id));
    const lastGroupIds = new Set(last.groups.map((g) => g.id));
    const known = keptOf(last, changed.ids);
    // Written into by the read (the users read); the memo is dropped if the read fails.
    const uids = cache.uids;
    const withUids = readsUidMembers(s);
    const readOnes: ChangedRead = {
      userClause: compileFilter(since.filter),
      groupClause: (newUsers) => {
        if (newUsers.length > MAX_NEW_USERS)
          throw new DoubtError(`${newUsers.length} users are new (more than ${MAX_NEW_USERS})`);
        return compileFilter(
          groupClause(
            s,
            since.filter,
            newUsers.map((u) => ({ dn: u.ref ?? '', uids: withUids ? [...(uids.get(u.id) ?? [])] : [] })),
          ),
        );
      },
      known,
      // A user read that did not change since the mark was read in the last read too, but
      // one that changed after the search of changed ids is not known either way: counted as
      // new, which re-reads the groups naming it (never fewer groups).
      lastUserIds: lastChangedUsers,
    };
    const read = await this.step('listing', () =>
      new LdapReader(conn, s, this.log, this.o.onChangedProgress, { uids, changed: readOnes }).read(),
    );
    if (!read.complete) throw new DoubtError(`was incomplete: ${read.incompleteReasons.join('; ')}`);
    const keptGroups = new Set(known.groups.map((g) => g.id));
    const readGroupIds = read.groups.filter((g) => !keptGroups.has(g.id)).map((g) => g.id);
    const readUsers = readOnes.readUsers ?? read.users;
    const doubt = doubtAbout({
      kind: mark.kind,
      moved: mark.value !== cache.mark.value,
      newer: changed.newer,
      readGroupIds,
      lastGroupIds,
      ...optional(
        'sharedEmail',
        readUsers.some((u) => !lastChangedUsers.has(u.id)) ? sharedEmail(readUsers, known.users) : undefined,
      ),
    });
    if (doubt !== undefined) throw new DoubtError(doubt);
    const readUserIds = new Set(readUsers.map((u) => u.id));
    const usersChanged = new Set([...readUserIds, ...lastChangedUsers]).size;
    const readGroupSet = new Set(readGroupIds);
    const gone = new Set([
      ...[...lastChangedUsers].filter((id) => !readUserIds.has(id)),
      ...[...changed.ids].filter((id) => lastGroupIds.has(id) && !readGroupSet.has(id)),
    ]);
    const groupsChanged = new Set([...readGroupIds, ...[...changed.ids].filter((id) => lastGroupIds.has(id))])
      .size;
    const reRead = new Set(read.groups.filter((g) => !keptGroups.has(g.id)).map((g) => g.name));
    const merged = pruneMembers(
      {
        ...read,
        source: describeRead(s.origin, {
          users: usersChanged,
          groups: groupsChanged,
          lastFullReadAgo: formatAge(started - Date.parse(cache.lastFullReadAt)),
        }),
        // The last read's warnings about groups not read again still hold (once each: a warning
        // the changed read gave again must not pile up read after read).
        warnings: [
          ...new Map(
            [
              ...last.warnings.filter((w) => w.subject === undefined || !reRead.has(w.subject)),
              ...read.warnings,
            ].map((w) => [`${w.code}\u0000${w.subject ?? ''}\u0000${w.message}`, w]),
          ).values(),
        ],
      },
      gone,
    );
    this.log.info(
      { changedEntries: changed.ids.size, usersChanged, groupsChanged, ms: this.now() - started },
      'incremental LDAP read',
    );
    return merged;
  }

  /**
   * Every entry changed since the mark in the naming context, by id: an entry that changed and is
   * no longer read under the bases with the filters (moved out, filtered out, deleted) is gone.
   */
  private async changedIds(
    conn: LdapConnection,
    context: string,
    since: { attribute: string; filter: string },
    mark: Watermark,
  ): Promise<{ ids: Set<string>; newer: number }> {
    const s = this.s;
    const client = await conn.session();
    const ids = new Set<string>();
    let newer = 0;
    const markBySid = new Map<string, string>();
    if (mark.kind === 'contextCSN') {
      for (const csn of mark.value.split(' ')) {
        const p = parseCsn(csn);
        if (p) markBySid.set(p.sid, csn);
      }
    }
    const controls = s.profile === 'activedirectory' ? [new Control(SHOW_DELETED, { critical: true })] : [];
    for await (const page of client.searchPaginated(
      context,
      {
        scope: 'sub',
        filter: since.filter,
        attributes: [s.idAttribute, since.attribute],
        explicitBufferAttributes: isGuidAttribute(s.idAttribute) ? [s.idAttribute] : [],
        paged: { pageSize: s.pageSize },
        timeLimit: s.timeLimitSeconds,
      },
      controls,
    )) {
      for (const entry of page.searchEntries) {
        const id = idValue(attr(entry as Entry, s.idAttribute), s.idAttribute);
        // Without an id it cannot be matched to the cache: a full read decides.
        if (id === undefined) {
          if (isInteresting(entry.dn, s))
            throw new DoubtError(`changed entry ${entry.dn} has no ${s.idAttribute}`);
          continue;
        }
        ids.add(id);
        if (mark.kind === 'highestCommittedUSN') newer++;
        else {
          const csn = strings(attr(entry as Entry, since.attribute))[0];
          const p = csn === undefined ? undefined : parseCsn(csn);
          const seen = p === undefined ? undefined : markBySid.get(p.sid);
          if (csn !== undefined && (seen === undefined || csn > seen)) newer++;
        }
      }
    }
    return { ids, newer };
  }

  /** The watermark, its server and the naming context to search, all through `conn`. */
  private async readMark(conn: LdapConnection): Promise<{ mark: Watermark; context?: string }> {
    const s = this.s;
    const client = await conn.session();
    const d = await detectWatermark(client, s);
    if (d.kind === 'highestCommittedUSN') {
      const r = await client.search('', {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['highestCommittedUSN', 'defaultNamingContext'],
        timeLimit: s.timeLimitSeconds,
      });
      const e = r.searchEntries[0];
      const usn = e ? strings(attr(e, 'highestCommittedUSN'))[0]?.trim() : undefined;
      const nc = e ? strings(attr(e, 'defaultNamingContext'))[0] : undefined;
      if (usn === undefined || !/^\d+$/.test(usn)) throw new LdapError('no highestCommittedUSN', s.origin);
      const key = nc === undefined ? undefined : tryNormalizeDn(nc);
      const covers = key !== undefined && isWithin(s.userBaseKey, key) && isWithin(s.groupBaseKey, key);
      return { mark: { kind: d.kind, server: d.server, value: usn }, ...(covers ? { context: nc } : {}) };
    }
    if (d.kind === 'contextCSN') {
      const r = await client.search(d.context, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['contextCSN', 'entryUUID'],
        timeLimit: s.timeLimitSeconds,
      });
      const e = r.searchEntries[0];
      const csns = (e ? strings(attr(e, 'contextCSN')) : []).filter((v) => parseCsn(v) !== undefined).sort();
      if (csns.length === 0) throw new LdapError(`${d.context} shows no contextCSN`, s.origin);
      const uuid = e ? strings(attr(e, 'entryUUID'))[0] : undefined;
      return {
        mark: { kind: d.kind, server: uuid ? `entryUUID=${uuid}` : '', value: csns.join(' ') },
        context: d.context,
      };
    }
    // The other kinds are read in full (incremental.ts, changedSince); their value is not needed.
    return { mark: { kind: d.kind, server: d.server, value: d.start ?? '' } };
  }

  /**
   * Stores the cache after the read has returned (the run goes on meanwhile; the next read waits
   * for it). Until it lands, Redis holds the older cache: continuing from its older watermark reads
   * more, never less, so a save that fails or is cut off by a shutdown costs nothing but time.
   */
  private save(cache: LdapCache): void {
    this.memo = undefined;
    const stamp = randomUUID();
    this.saving = (async () => {
      try {
        // After the read has returned: the run's Devin requests go on while this serialises.
        await new Promise((resolve) => setImmediate(resolve));
        const json = JSON.stringify(toStoredCache(cache));
        const data = await gzipAsync(Buffer.from(json, 'utf8'), { level: 1 });
        // DEL first: a value of another shape under the key would make HSET fail.
        await this.o.redis.multi().del(this.key).hset(this.key, { data, stamp }).exec();
        this.memo = { stamp, cache };
      } catch (err) {
        this.log.warn({ err: describe(err) }, 'the LDAP snapshot could not be cached');
      }
    })();
  }

  private async step<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t = this.now();
    try {
      return await f();
    } finally {
      this.steps[name] = this.now() - t;
    }
  }
}

/** An entry under userBase or groupBase (one without an id there could be a user or group read). */
function isInteresting(dn: string, s: LdapSettings): boolean {
  const key = tryNormalizeDn(dn);
  return key === undefined || isWithin(key, s.userBaseKey) || isWithin(key, s.groupBaseKey);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

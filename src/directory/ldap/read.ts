// The read itself: users, then disabled users (when a filter defines them), then groups with their
// member lists, each as a streaming paged search, then member DNs resolved to ids.
//
// The rule everything here serves: a read that did not see the whole directory says so. Any page
// that fails, any range slice that fails, a dropped connection, a server size or time limit:
// the snapshot comes back with complete: false and a reason naming what was not read, and what
// was read is kept (the core then makes additions only). What cannot be read at all (connect,
// TLS, bind, a base DN that does not exist) is thrown instead, since there is nothing to plan from.
import { type Entry, type Filter, NoSuchObjectError, PresenceFilter, ResultCodeError } from 'ldapts';
import type { Logger } from 'pino';
import { isWithin, stripOptionalUid, tryNormalizeDn } from '../dn.js';
import type {
  DirectoryGroup,
  DirectorySnapshot,
  DirectoryUser,
  DirectoryWarning,
  DirectoryWarningCode,
} from '../types.js';
import type { LdapConnection } from './connection.js';
import { describeLdapFailure, LdapConfigError, LdapError } from './errors.js';
import { andOf, compileFilter } from './filter.js';
import { guidFromBytes } from './guid.js';
import { groupAttributes, type LdapSettings, userAttributes } from './profiles.js';
import { RangeReadError, rangeDescription, rangedValues, readRemainingSlices } from './ranges.js';

export type ReadPhase = 'users' | 'disabled' | 'groups' | 'members';

export interface ReadProgress {
  phase: ReadPhase;
  /** Pages (or, for `members`, range slices) done in this phase so far. */
  pages: number;
  entries: number;
}

/** Awaited after every page: progress reporting, and the seam tests use to break a read mid-way. */
export type ProgressHook = (progress: ReadProgress) => void | Promise<void>;

type Value = Entry[string];

/** An attribute of an entry, whatever case the server spelled its name in. */
function attr(entry: Entry, name: string): Value | undefined {
  const direct = entry[name];
  if (direct !== undefined) return direct;
  const want = name.toLowerCase();
  for (const key of Object.keys(entry)) {
    if (key.toLowerCase() === want) return entry[key];
  }
  return undefined;
}

function strings(value: Value | undefined): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Buffer.isBuffer(value)) return [value.toString('utf8')];
  return (value as Array<string | Buffer>).map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
}

const isBlank = (v: string): boolean => v.length === 0 || v.trim().length === 0;

/** The first value that is not blank, as the directory holds it (leading spaces can be meaningful). */
function first(value: Value | undefined): string | undefined {
  // The common case (one string value) without allocating an array: this runs per attribute per entry.
  if (typeof value === 'string') return isBlank(value) ? undefined : value;
  return strings(value).find((v) => !isBlank(v));
}

/** What to change when a server limit cut a listing short. */
const LIMIT_HINTS: Readonly<Record<number, string>> = {
  3: ' (the server limits how long this bind account may search: raise its time limit, or timeoutMs)',
  4: " (the server limits how many entries this bind account may read: raise its size limit, e.g. OpenLDAP olcLimits size.prtotal, AD's MaxResultSetSize)",
  11: ' (the server refused the request as too large: lower pageSize, or raise its limits, e.g. OpenLDAP size.pr)',
};

/** userAccountControl flag ACCOUNTDISABLE. */
const ACCOUNTDISABLE = 0x2;

const isGuidAttribute = (name: string): boolean => /guid$/i.test(name);

/** The stable id: GUID attributes decoded from their 16 bytes, other binary ids as hex, text as is. */
function idValue(value: Value | undefined, attribute: string): string | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  if (isGuidAttribute(attribute)) {
    // A GUID whose bytes happen to be valid UTF-8 may arrive as a string; the decoding was
    // lossless, so re-encoding gives the bytes back.
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    if (bytes.length === 16) return guidFromBytes(bytes);
    if (typeof v === 'string' && v.trim() !== '') return v.trim().toLowerCase();
    return undefined;
  }
  if (typeof v !== 'string') return v.length === 0 ? undefined : v.toString('hex');
  const t = v.trim();
  return t === '' ? undefined : t;
}

interface ListingResult {
  pages: number;
  entries: number;
  /** Why the listing stopped early; undefined when it read everything. */
  failure?: string;
}

interface Listing {
  phase: ReadPhase;
  base: string;
  /** The base's config key, for a message about a base that does not exist. */
  baseKey: 'userBase' | 'groupBase';
  filter: Filter;
  filterText: string;
  attributes: string[];
}

/** Groups as read, before member DNs are resolved. */
interface RawGroup {
  id: string;
  name: string;
  dn: string;
  /** Member DNs as the server sent them. */
  members: string[];
}

interface UserIndex {
  byId: Map<string, DirectoryUser>;
  /** Entry DN exactly as the server sent it → id. */
  byRawDn: Map<string, string>;
}

export class LdapReader {
  private readonly incomplete: string[] = [];
  private readonly log: Logger;
  private totalPages = 0;

  constructor(
    private readonly conn: LdapConnection,
    private readonly s: LdapSettings,
    log: Logger,
    private readonly progress?: ProgressHook,
  ) {
    this.log = log;
  }

  async read(): Promise<DirectorySnapshot> {
    const started = Date.now();
    const s = this.s;
    const userFilter = compileFilter(s.userFilter);

    const users = await this.readUsers(userFilter);
    if (s.disabledFilter !== undefined) await this.readDisabled(userFilter, users);
    const groups = await this.readGroups();
    const { resolved, warnings } = this.resolve(users, groups);

    const snapshot: DirectorySnapshot = {
      source: s.origin,
      readAt: new Date().toISOString(),
      users: [...users.byId.values()],
      groups: resolved,
      complete: this.incomplete.length === 0,
      incompleteReasons: [...this.incomplete],
      warnings,
    };
    this.log.info(
      {
        users: snapshot.users.length,
        groups: snapshot.groups.length,
        pages: this.totalPages,
        reconnects: this.conn.reconnects,
        complete: snapshot.complete,
        ms: Date.now() - started,
      },
      snapshot.complete ? 'LDAP read complete' : 'LDAP read INCOMPLETE: removals will be held back',
    );
    return snapshot;
  }

  // ---- listings -------------------------------------------------------------------------------

  /**
   * A paged search, streamed: `onPage` sees each page's entries and nothing keeps them after.
   * Failures become the result's `failure`, except a base that does not exist, which is a
   * configuration error and thrown.
   */
  private async list(listing: Listing, onPage: (entries: Entry[]) => void): Promise<ListingResult> {
    const s = this.s;
    const result: ListingResult = { pages: 0, entries: 0 };
    try {
      const client = await this.conn.session();
      const pages = client.searchPaginated(listing.base, {
        scope: 'sub',
        filter: listing.filter,
        attributes: listing.attributes,
        explicitBufferAttributes: this.bufferAttributes(),
        paged: { pageSize: s.pageSize },
        timeLimit: s.timeLimitSeconds,
      });
      for await (const page of pages) {
        result.pages++;
        this.totalPages++;
        result.entries += page.searchEntries.length;
        onPage(page.searchEntries);
        if (page.searchReferences.length > 0) {
          // Continuation references point at other partitions (AD's DomainDnsZones and the like);
          // they are not followed, which matches what the base DN asked for.
          this.log.debug(
            { phase: listing.phase, references: page.searchReferences },
            'search references ignored',
          );
        }
        this.log.debug(
          { phase: listing.phase, page: result.pages, entries: result.entries },
          'LDAP page read',
        );
        await this.progress?.({ phase: listing.phase, pages: result.pages, entries: result.entries });
      }
    } catch (err) {
      if (err instanceof NoSuchObjectError && result.entries === 0) {
        throw new LdapConfigError(
          `${listing.baseKey} ${JSON.stringify(listing.base)} does not exist on ${s.origin} (no such object, 32)`,
          s.origin,
          { cause: err },
        );
      }
      if (!(err instanceof ResultCodeError) && !(err instanceof LdapError)) this.conn.invalidate();
      const hint = err instanceof ResultCodeError ? (LIMIT_HINTS[err.code] ?? '') : '';
      result.failure =
        err instanceof LdapError
          ? `not read: ${err.message}`
          : `page ${result.pages + 1} failed after ${result.entries} entries: ${describeLdapFailure(err, s.timeoutMs)}${hint}`;
    }
    if (result.failure !== undefined) {
      this.markIncomplete(
        `${listing.phase} under ${listing.base} with ${listing.filterText}: ${result.failure}`,
      );
    }
    return result;
  }

  private bufferAttributes(): string[] {
    const id = this.s.idAttribute;
    // ldapts matches these case-sensitively against the name the server returns. Text ids
    // (entryUUID) must stay out: listed here they would arrive as bytes.
    return isGuidAttribute(id) ? [...new Set([id, 'objectGUID', 'objectguid'])] : [];
  }

  private markIncomplete(reason: string): void {
    this.incomplete.push(reason);
    this.log.warn({ reason }, 'LDAP read incomplete');
  }

  // ---- users --------------------------------------------------------------------------------

  private async readUsers(filter: Filter): Promise<UserIndex> {
    const s = this.s;
    const byId = new Map<string, DirectoryUser>();
    const byRawDn = new Map<string, string>();
    const attributes = userAttributes(s);
    let withoutId = 0;
    let exampleWithoutId: string | undefined;
    let duplicates = 0;
    let withoutUac = 0;
    await this.list(
      {
        phase: 'users',
        base: s.userBase,
        baseKey: 'userBase',
        filter,
        filterText: s.userFilter,
        attributes,
      },
      (entries) => {
        for (const entry of entries) {
          const id = idValue(attr(entry, s.idAttribute), s.idAttribute);
          if (id === undefined) {
            withoutId++;
            exampleWithoutId ??= entry.dn;
            continue;
          }
          if (byId.has(id)) {
            duplicates++;
            continue;
          }
          const email =
            (
              first(attr(entry, s.emailAttribute)) ??
              (s.emailFallbackAttribute ? first(attr(entry, s.emailFallbackAttribute)) : undefined)
            )?.trim() ?? null;
          const name = first(attr(entry, s.nameAttribute)) ?? first(attr(entry, 'cn')) ?? email ?? id;
          let enabled = true;
          if (s.disabledByUserAccountControl) {
            const uac = Number(first(attr(entry, 'userAccountControl')));
            if (Number.isInteger(uac)) {
              enabled = (uac & ACCOUNTDISABLE) === 0;
            } else {
              // Not readable by the bind account: unknown is treated as disabled (fail closed).
              enabled = false;
              withoutUac++;
            }
          }
          const user: DirectoryUser = { id, email, name, enabled, ref: entry.dn };
          if (s.extraUserAttributes.length > 0) {
            const attrs: Record<string, string | string[]> = {};
            for (const a of s.extraUserAttributes) {
              const v = strings(attr(entry, a));
              if (v.length === 1) attrs[a] = v[0] as string;
              else if (v.length > 1) attrs[a] = v;
            }
            user.attrs = attrs;
          }
          byId.set(id, user);
          byRawDn.set(entry.dn, id);
        }
      },
    );
    if (withoutId > 0) {
      // Dropping them silently would read as "these people left".
      this.markIncomplete(
        `users: ${withoutId} entr${withoutId === 1 ? 'y has' : 'ies have'} no ${s.idAttribute} and ${withoutId === 1 ? 'was' : 'were'} skipped (e.g. ${exampleWithoutId}); check idAttribute and the bind account's read access`,
      );
    }
    if (duplicates > 0) {
      this.log.warn({ duplicates, idAttribute: s.idAttribute }, 'users with an id already seen were skipped');
    }
    if (withoutUac > 0) {
      this.log.warn(
        { users: withoutUac },
        'users without a readable userAccountControl are treated as disabled; grant the bind account read access to it',
      );
    }
    return { byId, byRawDn };
  }

  private async readDisabled(userFilter: Filter, users: { byId: Map<string, DirectoryUser> }): Promise<void> {
    const s = this.s;
    const disabledText = s.disabledFilter as string;
    const disabled = new Set<string>();
    const result = await this.list(
      {
        phase: 'disabled',
        base: s.userBase,
        baseKey: 'userBase',
        filter: andOf([userFilter, compileFilter(disabledText)]),
        filterText: `(&${s.userFilter}${disabledText}) (disabledFilter)`,
        attributes: [s.idAttribute],
      },
      (entries) => {
        for (const entry of entries) {
          const id = idValue(attr(entry, s.idAttribute), s.idAttribute);
          if (id !== undefined) disabled.add(id);
        }
      },
    );
    // Without the full list nobody is known to be enabled, and an incomplete read still makes
    // additions: fail closed, or a disabled account could be invited.
    const unknown = result.failure !== undefined;
    if (unknown) {
      this.markIncomplete('disabledFilter not fully read: every user is treated as disabled in this run');
    }
    for (const user of users.byId.values()) {
      if (unknown || disabled.has(user.id)) user.enabled = false;
    }
  }

  // ---- groups -------------------------------------------------------------------------------

  private async readGroups(): Promise<RawGroup[]> {
    const s = this.s;
    const groups: RawGroup[] = [];
    const seen = new Set<string>();
    const ranged: Array<{ group: RawGroup; attribute: string; next: number }> = [];
    const needPlain: RawGroup[] = [];
    const memberRequest = s.memberAttributes.map((a) =>
      s.rangeSize === undefined ? a : rangeDescription(a, 0, s.rangeSize),
    );
    let withoutId = 0;
    await this.list(
      {
        phase: 'groups',
        base: s.groupBase,
        baseKey: 'groupBase',
        filter: compileFilter(s.groupFilter),
        filterText: s.groupFilter,
        attributes: groupAttributes(s, memberRequest),
      },
      (entries) => {
        for (const entry of entries) {
          const id = idValue(attr(entry, s.idAttribute), s.idAttribute);
          if (id === undefined) {
            withoutId++;
            continue;
          }
          if (seen.has(id)) continue;
          seen.add(id);
          const group: RawGroup = {
            id,
            name: first(attr(entry, s.groupNameAttribute)) ?? first(attr(entry, 'cn')) ?? entry.dn,
            dn: entry.dn,
            members: [],
          };
          let sawRange = false;
          for (const a of s.memberAttributes) {
            const slice = rangedValues(entry, a);
            if (slice) {
              sawRange = true;
              for (const v of slice.values) this.addMember(group, v);
              if (slice.slice.hi !== '*') ranged.push({ group, attribute: a, next: slice.slice.hi + 1 });
            } else if (s.rangeSize === undefined) {
              for (const v of strings(attr(entry, a))) this.addMember(group, v);
            }
          }
          // Asked for ranges and got none: either an empty group, or a server without range
          // retrieval (OpenLDAP ignores the option and returns nothing). Only a plain read tells.
          if (s.rangeSize !== undefined && !sawRange) needPlain.push(group);
          groups.push(group);
        }
      },
    );
    if (withoutId > 0) {
      this.markIncomplete(`groups: ${withoutId} group entries have no ${s.idAttribute} and were skipped`);
    }
    await this.readRanges(ranged);
    await this.readPlainMembers(needPlain);
    return groups;
  }

  private addMember(group: RawGroup, raw: string): void {
    group.members.push(raw);
  }

  /** One base-scope search of an entry, for a range slice or a plain member list. */
  private async readEntry(dn: string, attributes: string[]): Promise<Entry | undefined> {
    const client = await this.conn.session();
    try {
      const { searchEntries } = await client.search(dn, {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes,
        explicitBufferAttributes: [],
        timeLimit: this.s.timeLimitSeconds,
      });
      return searchEntries[0];
    } catch (err) {
      if (!(err instanceof ResultCodeError)) this.conn.invalidate();
      throw err;
    }
  }

  private async readRanges(
    ranged: Array<{ group: RawGroup; attribute: string; next: number }>,
  ): Promise<void> {
    let slices = 0;
    for (const { group, attribute, next } of ranged) {
      const values: string[] = [];
      try {
        slices += await readRemainingSlices(
          (description) => this.readEntry(group.dn, [description]),
          attribute,
          next,
          this.s.rangeSize,
          values,
        );
      } catch (err) {
        const reason =
          err instanceof RangeReadError
            ? `${attribute} range ${err.lo}-* failed: ${this.sliceReason(err)}`
            : `${attribute} range ${next}-* failed: ${describeLdapFailure(err, this.s.timeoutMs)}`;
        this.markIncomplete(
          `group ${group.name} (${group.dn}): ${reason}; ${group.members.length + values.length} members read`,
        );
      } finally {
        for (const v of values) this.addMember(group, v);
      }
      await this.progress?.({ phase: 'members', pages: slices, entries: group.members.length });
    }
  }

  private sliceReason(err: RangeReadError): string {
    const cause = err.reason;
    return /Connection closed|Socket|timed out/i.test(cause)
      ? describeLdapFailure(new Error(cause), this.s.timeoutMs)
      : cause;
  }

  private async readPlainMembers(groups: RawGroup[]): Promise<void> {
    if (groups.length === 0) return;
    let fellBack = 0;
    for (const group of groups) {
      try {
        const entry = await this.readEntry(group.dn, this.s.memberAttributes);
        if (!entry) continue;
        for (const a of this.s.memberAttributes) {
          const values = strings(attr(entry, a));
          if (values.length > 0) fellBack++;
          for (const v of values) this.addMember(group, v);
        }
      } catch (err) {
        this.markIncomplete(
          `group ${group.name} (${group.dn}): member list not read: ${err instanceof LdapError ? err.message : describeLdapFailure(err, this.s.timeoutMs)}`,
        );
      }
    }
    if (fellBack > 0) {
      this.log.warn(
        { groups: fellBack, rangeSize: this.s.rangeSize },
        'the server ignored member;range= (no range retrieval, e.g. OpenLDAP); member lists were read whole instead. Remove rangeSize for this server.',
      );
    }
  }

  // ---- resolution ---------------------------------------------------------------------------

  /**
   * Member DNs → ids. A member value is usually the entry's DN byte for byte (servers hand both
   * out in one form), so an exact match is tried first; only the rest are normalised (dn.ts),
   * which keeps a 100,000-member read from normalising 100,000 DNs twice.
   */
  private resolve(
    users: UserIndex,
    groups: RawGroup[],
  ): { resolved: DirectoryGroup[]; warnings: DirectoryWarning[] } {
    const s = this.s;
    const groupByRawDn = new Map(groups.map((g) => [g.dn, g.id]));
    let byKey: Map<string, { kind: 'user' | 'group'; id: string }> | undefined;
    const normalisedIndex = (): Map<string, { kind: 'user' | 'group'; id: string }> => {
      if (byKey) return byKey;
      byKey = new Map();
      for (const u of users.byId.values()) {
        const key = u.ref === undefined ? undefined : tryNormalizeDn(u.ref);
        if (key !== undefined) byKey.set(key, { kind: 'user', id: u.id });
      }
      for (const g of groups) {
        const key = tryNormalizeDn(g.dn);
        if (key !== undefined && !byKey.has(key)) byKey.set(key, { kind: 'group', id: g.id });
      }
      return byKey;
    };

    const warnings: DirectoryWarning[] = [];
    const resolved = groups.map((g): DirectoryGroup => {
      const userIds = new Set<string>();
      const groupIds = new Set<string>();
      const outside: string[] = [];
      const unresolved: string[] = [];
      for (const raw of g.members) {
        const uid = users.byRawDn.get(raw);
        if (uid !== undefined) {
          userIds.add(uid);
          continue;
        }
        const gid = groupByRawDn.get(raw);
        if (gid !== undefined) {
          groupIds.add(gid);
          continue;
        }
        const key = tryNormalizeDn(stripOptionalUid(raw));
        if (key === undefined) {
          unresolved.push(`${raw} (not a valid DN)`);
          continue;
        }
        const hit = normalisedIndex().get(key);
        if (hit?.kind === 'user') userIds.add(hit.id);
        else if (hit?.kind === 'group') groupIds.add(hit.id);
        else if (isWithin(key, s.userBaseKey) || isWithin(key, s.groupBaseKey)) unresolved.push(raw);
        else outside.push(raw);
      }
      if (outside.length > 0) {
        warnings.push(
          memberWarning(
            'member-outside-base',
            g.name,
            outside,
            `outside userBase (${s.userBase}) and groupBase (${s.groupBase})`,
          ),
        );
      }
      if (unresolved.length > 0) {
        warnings.push(
          memberWarning(
            'unresolved-member',
            g.name,
            unresolved,
            'naming no user (userFilter) or group (groupFilter) that was read',
          ),
        );
      }
      return { id: g.id, name: g.name, dn: g.dn, memberUserIds: [...userIds], memberGroupIds: [...groupIds] };
    });
    return { resolved, warnings };
  }
}

const SHOWN = 5;

/** One warning per group and kind, naming a few DNs: a 20,000-member group must not flood the report. */
function memberWarning(
  code: DirectoryWarningCode,
  group: string,
  dns: string[],
  why: string,
): DirectoryWarning {
  const shown = dns
    .slice(0, SHOWN)
    .map((d) => JSON.stringify(d))
    .join(', ');
  const more = dns.length > SHOWN ? ` and ${dns.length - SHOWN} more` : '';
  return {
    code,
    message: `group ${group}: ${dns.length} member DN${dns.length === 1 ? '' : 's'} ${why}, ignored: ${shown}${more}`,
    subject: group,
  };
}

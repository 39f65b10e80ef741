// The read itself: users, then disabled users (when a filter defines them), then groups with their
// member lists, each as a streaming paged search, then member DNs and user names resolved to ids.
//
// The rule everything here serves: a read that did not see the whole directory says so. Any page
// that fails, any range slice that fails, a dropped connection, a server size or time limit:
// the snapshot comes back with complete: false and a reason naming what was not read, and what
// was read is kept (the core then makes additions only). What cannot be read at all (connect,
// TLS, bind, a base DN that does not exist) is thrown instead, since there is nothing to plan from.
//
// A member list that looks empty is not taken at its word either: groupOfNames and
// groupOfUniqueNames must have a member (schema MUST), so one that comes back without any was not
// readable (an ACL), and the group is flagged `unreadable` with a warning. That alone does not make
// the read incomplete: the core holds back what a mapping over such a group (or a group nested in
// it) could explain, so one hidden group elsewhere under groupBase does not hold every removal.
// A member read that *failed* (a slice, a dropped connection) does make the read incomplete.
import {
  type Entry,
  type Filter,
  NoSuchObjectError,
  NotFilter,
  PresenceFilter,
  ResultCodeError,
} from 'ldapts';
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
import {
  attr,
  idValue,
  isGuidAttribute,
  type RawEntry,
  RawEntryReader,
  REQUIRED_MEMBER_ATTRIBUTE,
  strings,
  type Value,
} from './entry.js';
import { describeLdapFailure, LdapConfigError, LdapError } from './errors.js';
import { andOf, compileFilter, type FilterNode, parseFilter } from './filter.js';
import {
  groupAttributes,
  isUidMemberAttribute,
  type LdapSettings,
  MEMBER_OF,
  readsUidMembers,
  userAttributes,
} from './profiles.js';
import { RangeReadError, rangeDescription, rawRangedValues, readRemainingSlices } from './ranges.js';
import { searchPagesRaw } from './search.js';

export type ReadPhase = 'users' | 'disabled' | 'groups' | 'members' | 'non-users';

export interface ReadProgress {
  phase: ReadPhase;
  /** Pages (or, for `members`, range slices) done in this phase so far. */
  pages: number;
  entries: number;
}

/** Awaited after every page: progress reporting, and the seam tests use to break a read mid-way. */
export type ProgressHook = (progress: ReadProgress) => void | Promise<void>;

/**
 * A read of only what changed (src/daemon/ldapIncremental.ts): the listings take an extra clause,
 * and the entries of the last read that were not read again fill in for them, so member DNs of
 * the groups read are resolved against every user exactly as a full read resolves them.
 */
export interface ChangedRead {
  /** ANDed to the user (and disabledFilter) listing's filter: e.g. (uSNChanged>=N). */
  userClause: Filter;
  /** ANDed to the group listing's filter, given the users read that the last read did not have. */
  groupClause: (newUsers: DirectoryUser[]) => Filter;
  /** The last read's users and groups that did not change (the caller dropped those that did). */
  known: { users: DirectoryUser[]; groups: DirectoryGroup[] };
  /** Whether a user read was in the last read (asked only of the users read: a few). */
  lastUserIds: { has(id: string): boolean };
  /** Set by the read: the users read, before the known ones joined them. */
  readUsers?: DirectoryUser[];
}

export interface ReadOptions {
  changed?: ChangedRead;
  /**
   * uidAttribute values by user id (with uid member attributes only): those of `changed.known`'s
   * users going in, and every user read is added, so the next changed read can resolve memberUid.
   */
  uids?: Map<string, readonly string[]>;
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
  /** A failure is the caller's to judge (a check, not part of the snapshot): not marked incomplete. */
  optional?: boolean;
}

/** Groups as read, before member DNs are resolved. */
interface RawGroup {
  id: string;
  name: string;
  dn: string;
  /**
   * Member DN values in the order read: a user's index (UserIndex.list) when the value is that
   * user's DN exactly as the server sent it (the usual case, matched while the page is read), else
   * the value itself, resolved after all groups are read.
   */
  members: Array<number | string>;
  /** User names from uid member attributes (memberUid). */
  memberUids: string[];
  /** membership: memberOf: the groups this group's memberOf names (DNs as sent). */
  memberOf: readonly string[];
  /** objectClass values, lower case; empty when the server returned none. */
  classes: string[];
  /** Values read per member attribute (lower-case name), slices included. */
  counts: Map<string, number>;
  unreadable?: string;
}

/** A member attribute whose values came in range slices, to be read on from `next`. */
interface RangedRead {
  group: RawGroup;
  attribute: string;
  next: number;
}

/** A group entry taken apart as it arrived (undefined: it has no id), kept once its page is whole. */
interface StagedGroup {
  group: RawGroup;
  ranged: RangedRead[];
  /** Ranges were asked for and none came: the member list is read whole afterwards. */
  needPlain: boolean;
}

/** In a name index: more than one user has the name. */
const AMBIGUOUS = -1;

/** Users are numbered in the order read; the indexes below map to positions in `list`. */
interface UserIndex {
  list: DirectoryUser[];
  byId: Map<string, number>;
  /** Entry DN exactly as the server sent it → index. */
  byRawDn: Map<string, number>;
  /**
   * uidAttribute values per user (only with uid members). Indexed by name only when a group
   * has a uid member value (uidIndex), which a directory of groupOfNames never has.
   */
  uidValues?: Array<readonly string[] | undefined>;
  /** membership: memberOf: user index → the memberOf DNs as sent. */
  memberOf: Map<number, readonly string[]>;
}

/** A user entry taken apart as it arrived; kept, or counted as skipped, once its page is whole. */
interface StagedUser {
  dn: string;
  /** Undefined: the entry has no id. */
  user?: DirectoryUser;
  /** userAccountControl was not readable (the user is read as disabled). */
  uacUnknown: boolean;
  uids?: readonly string[];
  memberOf?: readonly string[];
  /** memberOf came in range slices that are not followed. */
  slicedMemberOf: boolean;
}

/** uidAttribute value → user index (exact), and lower-cased (the fallback); AMBIGUOUS when shared. */
interface UidIndex {
  byUid: Map<string, number>;
  byUidLower: Map<string, number>;
}

/** A normalised DN → the user (index into UserIndex.list) or the group (id) it names. */
type NamedEntry = { kind: 'user'; index: number } | { kind: 'group'; id: string };

export class LdapReader {
  private readonly incomplete: string[] = [];
  /** Member lists hidden from the bind account (warnings; the core holds back what they explain). */
  private readonly hidden: DirectoryWarning[] = [];
  private readonly log: Logger;
  private totalPages = 0;
  /** Reads the listings' entries (all share the explicit buffer attributes). */
  private readonly entries: RawEntryReader;
  /** The users' DNs as sent → index, once the users are read: member values are matched as they arrive. */
  private userByRawDn: ReadonlyMap<string, number> = new Map();

  constructor(
    private readonly conn: LdapConnection,
    private readonly s: LdapSettings,
    log: Logger,
    private readonly progress?: ProgressHook,
    private readonly options: ReadOptions = {},
  ) {
    this.log = log;
    this.entries = new RawEntryReader(this.bufferAttributes());
  }

  async read(): Promise<DirectorySnapshot> {
    const started = Date.now();
    const s = this.s;
    const changed = this.options.changed;
    const compiled = compileFilter(s.userFilter);
    const userFilter = changed ? andOf([compiled, changed.userClause]) : compiled;

    const users = await this.readUsers(userFilter);
    const newUsers = changed ? this.addKnownUsers(users, changed) : [];
    this.userByRawDn = users.byRawDn;
    if (s.disabledFilter !== undefined) await this.readDisabled(userFilter, users);
    const groupFilter = compileFilter(s.groupFilter);
    const groups = await this.readGroups(
      changed ? andOf([groupFilter, changed.groupClause(newUsers)]) : groupFilter,
    );
    const { resolved, warnings } = await this.resolve(users, groups, changed?.known.groups ?? []);

    const snapshot: DirectorySnapshot = {
      source: s.origin,
      readAt: new Date().toISOString(),
      users: users.list,
      groups: resolved,
      complete: this.incomplete.length === 0,
      incompleteReasons: [...this.incomplete],
      warnings: [...this.hidden, ...warnings],
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
  private async list<T>(
    listing: Listing,
    take: (entry: RawEntry) => T,
    keep: (taken: T[]) => void,
  ): Promise<ListingResult> {
    const s = this.s;
    const result: ListingResult = { pages: 0, entries: 0 };
    try {
      const client = await this.conn.session();
      // Entries as parsed, not as ldapts' toObject would copy them (search.ts, entry.ts), each
      // taken apart while it is fresh, then dropped; what was taken is kept once its page is whole.
      let staged: T[] = [];
      const search = {
        scope: 'sub' as const,
        filter: listing.filter,
        attributes: listing.attributes,
        explicitBufferAttributes: this.bufferAttributes(),
        pageSize: s.pageSize,
        timeLimit: s.timeLimitSeconds,
      };
      await searchPagesRaw(client, listing.base, search, {
        entry: (entry) => {
          staged.push(take(entry));
        },
        end: async (page) => {
          const taken = staged;
          staged = [];
          result.pages++;
          this.totalPages++;
          result.entries += page.entries;
          keep(taken);
          if (page.references.length > 0) {
            // Continuation references point at other partitions (AD's DomainDnsZones and the like);
            // they are not followed, which matches what the base DN asked for.
            this.log.debug(
              { phase: listing.phase, references: page.references },
              'search references ignored',
            );
          }
          this.log.debug(
            { phase: listing.phase, page: result.pages, entries: result.entries },
            'LDAP page read',
          );
          await this.progress?.({ phase: listing.phase, pages: result.pages, entries: result.entries });
        },
      });
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
    if (result.failure !== undefined && listing.optional !== true) {
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
    const r = this.entries;
    const list: DirectoryUser[] = [];
    const byId = new Map<string, number>();
    const byRawDn = new Map<string, number>();
    const memberOf = new Map<number, readonly string[]>();
    const withUids = readsUidMembers(s);
    const uidValues: Array<readonly string[] | undefined> | undefined = withUids ? [] : undefined;
    const withMemberOf = s.membership === 'memberOf';
    const slicedMemberOf: string[] = [];
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
      (entry): StagedUser => {
        const id = idValue(r.value(entry, s.idAttribute), s.idAttribute);
        if (id === undefined) return { dn: entry.name, uacUnknown: false, slicedMemberOf: false };
        const email =
          (
            first(r.value(entry, s.emailAttribute)) ??
            (s.emailFallbackAttribute ? first(r.value(entry, s.emailFallbackAttribute)) : undefined)
          )?.trim() ?? null;
        const name = first(r.value(entry, s.nameAttribute)) ?? first(r.value(entry, 'cn')) ?? email ?? id;
        let enabled = true;
        let uacUnknown = false;
        if (s.disabledByUserAccountControl) {
          const uac = Number(first(r.value(entry, 'userAccountControl')));
          if (Number.isInteger(uac)) {
            enabled = (uac & ACCOUNTDISABLE) === 0;
          } else {
            // Not readable by the bind account: unknown is treated as disabled (fail closed).
            enabled = false;
            uacUnknown = true;
          }
        }
        const user: DirectoryUser = { id, email, name, enabled, ref: entry.name };
        if (s.extraUserAttributes.length > 0) {
          const attrs: Record<string, string | string[]> = {};
          for (const a of s.extraUserAttributes) {
            const v = r.strings(entry, a);
            if (v.length === 1) attrs[a] = v[0] as string;
            else if (v.length > 1) attrs[a] = [...v];
          }
          user.attrs = attrs;
        }
        const staged: StagedUser = { dn: entry.name, user, uacUnknown, slicedMemberOf: false };
        if (withUids) {
          const names = r.strings(entry, s.uidAttribute);
          if (names.length > 0) staged.uids = names;
        }
        if (withMemberOf) {
          const sliced = rawRangedValues(entry, MEMBER_OF);
          const values = sliced ? sliced.values : r.strings(entry, MEMBER_OF);
          // AD hands out a long memberOf in slices too; the rest is not followed here, so the
          // user's groups are not known in full.
          staged.slicedMemberOf = sliced !== undefined && sliced.slice.hi !== '*';
          if (values.length > 0) staged.memberOf = values;
        }
        return staged;
      },
      (taken) => {
        for (const t of taken) {
          const user = t.user;
          if (user === undefined) {
            withoutId++;
            exampleWithoutId ??= t.dn;
            continue;
          }
          if (byId.has(user.id)) {
            duplicates++;
            continue;
          }
          if (t.uacUnknown) withoutUac++;
          const index = list.length;
          list.push(user);
          byId.set(user.id, index);
          byRawDn.set(t.dn, index);
          uidValues?.push(t.uids);
          if (t.uids !== undefined) this.options.uids?.set(user.id, t.uids);
          if (t.slicedMemberOf) slicedMemberOf.push(t.dn);
          if (t.memberOf !== undefined) memberOf.set(index, t.memberOf);
        }
      },
    );
    if (slicedMemberOf.length > 0) {
      this.markIncomplete(
        `users: memberOf of ${slicedMemberOf.length} user${slicedMemberOf.length === 1 ? '' : 's'} came back in range slices that are not followed (e.g. ${slicedMemberOf[0]}); their group memberships are not known in full`,
      );
    }
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
    return { list, byId, byRawDn, ...(uidValues === undefined ? {} : { uidValues }), memberOf };
  }

  /**
   * A changed read: the last read's users that were not read again join the index after the ones
   * that were (which win). Returns the users read that the last read did not have: groups naming
   * them must be read again, since the groups kept from the last read could not resolve them.
   */
  private addKnownUsers(users: UserIndex, changed: ChangedRead): DirectoryUser[] {
    changed.readUsers = users.list.slice();
    const fresh = users.list.filter((u) => !changed.lastUserIds.has(u.id));
    for (const user of changed.known.users) {
      if (users.byId.has(user.id)) continue;
      const index = users.list.length;
      users.list.push(user);
      users.byId.set(user.id, index);
      if (user.ref !== undefined) users.byRawDn.set(user.ref, index);
      users.uidValues?.push(this.options.uids?.get(user.id));
    }
    return fresh;
  }

  private async readDisabled(userFilter: Filter, users: UserIndex): Promise<void> {
    const s = this.s;
    const disabledText = s.disabledFilter as string;
    if (matchesAnyLockout(parseFilter(disabledText))) {
      this.log.warn(
        { disabledFilter: disabledText },
        `disabledFilter tests pwdAccountLockedTime for presence: it also matches users ppolicy locked out for a while after failed binds, and their access would be removed. Use (pwdAccountLockedTime=${PERMANENT_LOCK}) for administrative (permanent) locks only.`,
      );
    }
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
      (entry) => idValue(this.entries.value(entry, s.idAttribute), s.idAttribute),
      (ids) => {
        for (const id of ids) if (id !== undefined) disabled.add(id);
      },
    );
    // Without the full list nobody is known to be enabled, and an incomplete read still makes
    // additions: fail closed, or a disabled account could be invited.
    const unknown = result.failure !== undefined;
    if (unknown) {
      this.markIncomplete('disabledFilter not fully read: every user is treated as disabled in this run');
    }
    for (const user of users.list) {
      if (unknown || disabled.has(user.id)) user.enabled = false;
    }
  }

  // ---- groups -------------------------------------------------------------------------------

  private async readGroups(filter: Filter): Promise<RawGroup[]> {
    const s = this.s;
    const r = this.entries;
    const groups: RawGroup[] = [];
    const seen = new Set<string>();
    const ranged: RangedRead[] = [];
    const needPlain: RawGroup[] = [];
    const byMemberOf = s.membership === 'memberOf';
    const memberRequest = s.memberAttributes.map((a) =>
      s.rangeSize === undefined ? a : rangeDescription(a, 0, s.rangeSize),
    );
    let withoutId = 0;
    await this.list(
      {
        phase: 'groups',
        base: s.groupBase,
        baseKey: 'groupBase',
        filter,
        filterText: s.groupFilter,
        attributes: groupAttributes(s, memberRequest),
      },
      (entry): StagedGroup | undefined => {
        const id = idValue(r.value(entry, s.idAttribute), s.idAttribute);
        if (id === undefined) return undefined;
        const group: RawGroup = {
          id,
          name: first(r.value(entry, s.groupNameAttribute)) ?? first(r.value(entry, 'cn')) ?? entry.name,
          dn: entry.name,
          members: [],
          memberUids: [],
          memberOf: [],
          classes: r.strings(entry, 'objectClass').map((c) => c.trim().toLowerCase()),
          counts: new Map(),
        };
        const staged: StagedGroup = { group, ranged: [], needPlain: false };
        if (byMemberOf) {
          group.memberOf = r.strings(entry, MEMBER_OF);
          return staged;
        }
        let sawRange = false;
        for (const a of s.memberAttributes) {
          const slice = rawRangedValues(entry, a);
          if (slice) {
            sawRange = true;
            this.addMembers(group, a, slice.values);
            if (slice.slice.hi !== '*') staged.ranged.push({ group, attribute: a, next: slice.slice.hi + 1 });
          } else if (s.rangeSize === undefined) {
            this.addMembers(group, a, r.strings(entry, a));
          }
        }
        // Asked for ranges and got none: either an empty group, or a server without range
        // retrieval (OpenLDAP ignores the option and returns nothing). Only a plain read tells.
        staged.needPlain = s.rangeSize !== undefined && !sawRange;
        return staged;
      },
      (taken) => {
        for (const t of taken) {
          if (t === undefined) {
            withoutId++;
            continue;
          }
          if (seen.has(t.group.id)) continue;
          seen.add(t.group.id);
          groups.push(t.group);
          for (const slice of t.ranged) ranged.push(slice);
          if (t.needPlain) needPlain.push(t.group);
        }
      },
    );
    if (withoutId > 0) {
      this.markIncomplete(`groups: ${withoutId} group entries have no ${s.idAttribute} and were skipped`);
    }
    await this.readRanges(ranged);
    await this.readPlainMembers(needPlain);
    if (!byMemberOf) for (const g of groups) this.checkMemberListReadable(g);
    return groups;
  }

  /** Values of one member attribute, in order; a user's DN as sent is matched to the user here. */
  private addMembers(group: RawGroup, attribute: string, values: readonly string[]): void {
    if (values.length === 0) return;
    const key = attribute.toLowerCase();
    group.counts.set(key, (group.counts.get(key) ?? 0) + values.length);
    if (isUidMemberAttribute(this.s, attribute)) {
      for (const raw of values) group.memberUids.push(raw);
      return;
    }
    const users = this.userByRawDn;
    const members = group.members;
    for (const raw of values) members.push(users.get(raw) ?? raw);
  }

  /**
   * The group's member list was not (fully) read: it must not count as the truth about its members.
   * `failed`: a read failed (the read is incomplete); otherwise the list was hidden (a warning).
   */
  private markUnreadable(group: RawGroup, reason: string, failed = true): void {
    group.unreadable ??= reason;
    if (failed) {
      this.markIncomplete(`group ${group.name} (${group.dn}): ${reason}`);
      return;
    }
    this.hidden.push({
      code: 'member-list-unreadable',
      message: `group ${group.name} (${group.dn}): ${reason}; a mapping that selects it, or a group it is nested in, holds back the removals it could explain`,
      subject: group.name,
    });
    this.log.warn({ group: group.dn, reason }, 'LDAP member list not readable');
  }

  /**
   * groupOfNames and groupOfUniqueNames cannot be empty (schema MUST), so one read without a value
   * of its required attribute was hidden from the bind account (an ACL), or that attribute is not
   * in memberAttributes. Either way its members are unknown. posixGroup and AD's group may be empty.
   */
  private checkMemberListReadable(group: RawGroup): void {
    if (group.unreadable !== undefined) return;
    const s = this.s;
    if (group.classes.length === 0) {
      // Without objectClass an empty list cannot be told from a hidden one.
      if (group.members.length + group.memberUids.length === 0) {
        this.markUnreadable(
          group,
          'objectClass was not returned and no member was read, so an empty member list cannot be told from one the bind account may not read',
          false,
        );
      }
      return;
    }
    for (const cls of group.classes) {
      const must = REQUIRED_MEMBER_ATTRIBUTE[cls];
      if (must === undefined) continue;
      const { attribute: required, className } = must;
      const configured = s.memberAttributes.some((a) => a.toLowerCase() === required.toLowerCase());
      if (!configured) {
        this.markUnreadable(
          group,
          `objectClass ${className} keeps its members in ${required}, which memberAttributes (${s.memberAttributes.join(', ')}) does not include`,
          false,
        );
        return;
      }
      if ((group.counts.get(required.toLowerCase()) ?? 0) === 0) {
        this.markUnreadable(
          group,
          `no ${required} value was returned although objectClass ${className} requires one: the bind account may not read ${required} of this group (an ACL)`,
          false,
        );
        return;
      }
    }
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

  private async readRanges(ranged: RangedRead[]): Promise<void> {
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
        this.markUnreadable(
          group,
          `${reason}; ${group.members.length + group.memberUids.length + values.length} members read`,
        );
      } finally {
        this.addMembers(group, attribute, values);
      }
      await this.progress?.({
        phase: 'members',
        pages: slices,
        entries: group.members.length + group.memberUids.length,
      });
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
        if (!entry) {
          this.markUnreadable(
            group,
            'member list not read: the entry was not returned (deleted or moved during the read?)',
          );
          continue;
        }
        for (const a of this.s.memberAttributes) {
          const values = strings(attr(entry, a));
          if (values.length > 0) fellBack++;
          this.addMembers(group, a, values);
        }
      } catch (err) {
        this.markUnreadable(
          group,
          `member list not read: ${err instanceof LdapError ? err.message : describeLdapFailure(err, this.s.timeoutMs)}`,
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
   * Member DNs and user names → ids. A member value is usually the entry's DN byte for byte
   * (servers hand both out in one form), so an exact match is tried first (for users while the
   * groups are read, addMembers); only the rest are normalised (dn.ts), each distinct value once,
   * which keeps a 100,000-member read from normalising 100,000 DNs twice.
   */
  private async resolve(
    users: UserIndex,
    groups: RawGroup[],
    knownGroups: readonly DirectoryGroup[] = [],
  ): Promise<{ resolved: DirectoryGroup[]; warnings: DirectoryWarning[] }> {
    const s = this.s;
    const groupByRawDn = new Map(groups.map((g) => [g.dn, g.id]));
    // A changed read: the groups of the last read not read again, as nested members (and kept).
    const readIds = new Set(groups.map((g) => g.id));
    const kept = knownGroups.filter((g) => !readIds.has(g.id));
    for (const g of kept) if (g.dn !== undefined && !groupByRawDn.has(g.dn)) groupByRawDn.set(g.dn, g.id);
    let byKey: Map<string, NamedEntry> | undefined;
    const normalisedIndex = (): Map<string, NamedEntry> => {
      if (byKey) return byKey;
      byKey = new Map();
      for (let index = 0; index < users.list.length; index++) {
        const ref = (users.list[index] as DirectoryUser).ref;
        const key = ref === undefined ? undefined : tryNormalizeDn(ref);
        if (key !== undefined) byKey.set(key, { kind: 'user', index });
      }
      for (const g of [...groups, ...kept]) {
        const key = g.dn === undefined ? undefined : tryNormalizeDn(g.dn);
        if (key !== undefined && !byKey.has(key)) byKey.set(key, { kind: 'group', id: g.id });
      }
      return byKey;
    };
    // A value that did not match exactly tends to recur (a stale DN in many groups, memberOf
    // values written in another case): normalised once per read.
    const canonical = new Map<string, string | undefined>();
    const normalised = (dn: string): string | undefined => {
      if (canonical.has(dn)) return canonical.get(dn);
      const key = tryNormalizeDn(dn);
      canonical.set(dn, key);
      return key;
    };

    const warnings: DirectoryWarning[] = [];
    const memberships =
      s.membership === 'memberOf'
        ? this.membershipsFromMemberOf(users, groups, groupByRawDn, normalisedIndex, normalised, warnings)
        : undefined;
    const uids = groups.some((g) => g.memberUids.length > 0) ? uidIndex(users) : undefined;
    // Which users the group being resolved already lists (its position + 1): dedupes without a
    // Set per group, in first-seen order.
    const listed = new Int32Array(users.list.length);

    interface Unmatched {
      group: RawGroup;
      outside: string[];
      /** In a base, matching nothing read: [raw, canonical]. */
      inBase: Array<[string, string]>;
      invalid: string[];
      /** User names matching no user: [raw, why]. */
      names: string[];
      ambiguousNames: string[];
    }
    const unmatched: Unmatched[] = [];
    const resolved = groups.map((g, position): DirectoryGroup => {
      const mark = position + 1;
      const userIds: string[] = [];
      const addUser = (index: number): void => {
        if (listed[index] === mark) return;
        listed[index] = mark;
        userIds.push((users.list[index] as DirectoryUser).id);
      };
      for (const index of memberships?.users.get(g.id) ?? []) addUser(index);
      const groupIds = new Set<string>(memberships?.groups.get(g.id));
      const u: Unmatched = { group: g, outside: [], inBase: [], invalid: [], names: [], ambiguousNames: [] };
      for (const member of g.members) {
        if (typeof member === 'number') {
          addUser(member);
          continue;
        }
        // Matched no user's DN as sent when it was read (checked again: the same answer, cheaply).
        const exact = users.byRawDn.get(member);
        if (exact !== undefined) {
          addUser(exact);
          continue;
        }
        const gid = groupByRawDn.get(member);
        if (gid !== undefined) {
          groupIds.add(gid);
          continue;
        }
        const key = normalised(stripOptionalUid(member));
        if (key === undefined) {
          u.invalid.push(`${member} (not a valid DN)`);
          continue;
        }
        const hit = normalisedIndex().get(key);
        if (hit?.kind === 'user') addUser(hit.index);
        else if (hit?.kind === 'group') groupIds.add(hit.id);
        else if (isWithin(key, s.userBaseKey) || isWithin(key, s.groupBaseKey)) u.inBase.push([member, key]);
        else u.outside.push(member);
      }
      for (const raw of g.memberUids) {
        const name = raw.trim();
        // Exact first (memberUid compares case-sensitively, like the POSIX names it holds); a
        // different case only when it names exactly one user.
        let index = uids?.byUid.get(name);
        if (index === undefined) index = uids?.byUidLower.get(name.toLowerCase());
        if (index === AMBIGUOUS) u.ambiguousNames.push(raw);
        else if (index !== undefined) addUser(index);
        else u.names.push(raw);
      }
      if (
        u.outside.length + u.inBase.length + u.invalid.length + u.names.length + u.ambiguousNames.length >
        0
      ) {
        unmatched.push(u);
      }
      return {
        id: g.id,
        name: g.name,
        dn: g.dn,
        memberUserIds: userIds,
        memberGroupIds: [...groupIds],
        ...(g.unreadable === undefined ? {} : { unreadable: g.unreadable }),
      };
    });

    const existing = await this.existingNonUsers(
      unmatched.flatMap((u) => u.inBase.map(([, key]) => key)),
      unmatched.some((u) => u.names.length > 0),
    );
    for (const u of unmatched) {
      const name = u.group.name;
      if (u.outside.length > 0) {
        warnings.push(
          memberWarning(
            'member-outside-base',
            name,
            u.outside,
            `outside userBase (${s.userBase}) and groupBase (${s.groupBase})`,
          ),
        );
      }
      const notUsers = [
        ...u.inBase.filter(([, key]) => existing.dns?.has(key)).map(([raw]) => raw),
        ...u.names.filter((n) => existing.uids?.has(n.trim())).map((n) => `${s.uidAttribute}=${n}`),
      ];
      if (notUsers.length > 0) {
        warnings.push(
          memberWarning(
            'member-not-a-user',
            name,
            notUsers,
            'naming entries that are not a user idsync reads: computers, contacts, entries userFilter excludes;',
          ),
        );
      }
      const ghosts = [
        ...u.invalid,
        ...u.inBase.filter(([, key]) => !existing.dns?.has(key)).map(([raw]) => raw),
        ...u.names.filter((n) => !existing.uids?.has(n.trim())).map((n) => `${s.uidAttribute}=${n}`),
        ...u.ambiguousNames.map((n) => `${s.uidAttribute}=${n} (more than one user has it)`),
      ];
      if (ghosts.length > 0) {
        const why =
          existing.failure === undefined
            ? 'naming no user (userFilter) or group (groupFilter) that was read, nor any other entry (deleted?)'
            : `naming no user (userFilter) or group (groupFilter) that was read (whether they name other entries was not checked: ${existing.failure})`;
        warnings.push(memberWarning('unresolved-member', name, ghosts, why));
      }
    }
    return { resolved: kept.length === 0 ? resolved : [...resolved, ...kept], warnings };
  }

  /**
   * membership: memberOf. Member lists built from the users' memberOf values (and the groups', for
   * nesting), matched to the groups read by normalised DN. A memberOf DN naming no group that was
   * read (outside groupBase, or excluded by groupFilter) is not a membership idsync manages: it is
   * ignored, with one warning per kind listing a few of those DNs.
   */
  private membershipsFromMemberOf(
    users: UserIndex,
    groups: RawGroup[],
    groupByRawDn: Map<string, string>,
    normalisedIndex: () => Map<string, NamedEntry>,
    normalised: (dn: string) => string | undefined,
    warnings: DirectoryWarning[],
  ): { users: Map<string, number[]>; groups: Map<string, string[]> } {
    const s = this.s;
    /** group id → user indexes (UserIndex.list). */
    const byUsers = new Map<string, number[]>();
    const byGroups = new Map<string, string[]>();
    const outside = new Map<string, number>();
    const notRead = new Map<string, number>();
    const groupOf = (raw: string): string | undefined => {
      const direct = groupByRawDn.get(raw);
      if (direct !== undefined) return direct;
      const key = normalised(raw);
      const hit = key === undefined ? undefined : normalisedIndex().get(key);
      if (hit?.kind === 'group') return hit.id;
      const tally = key !== undefined && !isWithin(key, s.groupBaseKey) ? outside : notRead;
      tally.set(raw, (tally.get(raw) ?? 0) + 1);
      return undefined;
    };
    const add = <T>(into: Map<string, T[]>, groupId: string, member: T) => {
      const list = into.get(groupId);
      if (list) list.push(member);
      else into.set(groupId, [member]);
    };
    for (const [index, dns] of users.memberOf) {
      for (const raw of dns) {
        const gid = groupOf(raw);
        if (gid !== undefined) add(byUsers, gid, index);
      }
    }
    for (const g of groups) {
      for (const raw of g.memberOf) {
        const gid = groupOf(raw);
        if (gid !== undefined && gid !== g.id) add(byGroups, gid, g.id);
      }
    }
    if (groups.length > 0 && users.byId.size > 0 && users.memberOf.size === 0) {
      // Not one user in any group: memberOf is not readable by the bind account, or the server
      // does not maintain it (OpenLDAP without the memberof overlay). Members are unknown.
      this.markIncomplete(
        `memberships: membership is memberOf, but none of the ${users.byId.size} users read has a memberOf value: the bind account may not read memberOf, or the server does not maintain it`,
      );
    }
    const describe = (m: Map<string, number>) =>
      [...m.entries()]
        .slice(0, SHOWN)
        .map(([dn, n]) => `${JSON.stringify(dn)} (${n})`)
        .join(', ') + (m.size > SHOWN ? ` and ${m.size - SHOWN} more` : '');
    if (outside.size > 0) {
      warnings.push({
        code: 'member-outside-base',
        message: `memberOf: ${outside.size} group DN${outside.size === 1 ? '' : 's'} outside groupBase (${s.groupBase}), ignored (entries naming each): ${describe(outside)}`,
        subject: MEMBER_OF,
      });
    }
    if (notRead.size > 0) {
      warnings.push({
        code: 'unresolved-member',
        message: `memberOf: ${notRead.size} DN${notRead.size === 1 ? '' : 's'} inside groupBase naming no group that was read (groupFilter excludes it, or it was deleted), ignored (entries naming each): ${describe(notRead)}`,
        subject: MEMBER_OF,
      });
    }
    return { users: byUsers, groups: byGroups };
  }

  /**
   * Which of the member DNs (canonical) that matched nothing read still name an entry, and which
   * user names belong to an entry that is not a user idsync reads. One DN-only listing of the
   * entries userFilter excludes, below the base that holds those DNs (below both when the bases
   * are disjoint and both do), made only when there is something to tell apart. Cheap: no
   * attribute values but uidAttribute, and only when needed.
   */
  private async existingNonUsers(
    keys: string[],
    withUids: boolean,
  ): Promise<{ dns?: Set<string>; uids?: Set<string>; failure?: string }> {
    const s = this.s;
    if (keys.length === 0 && !withUids) return {};
    // Outer base first, so nested bases take one listing.
    const bases: Array<{ base: string; key: string; baseKey: 'userBase' | 'groupBase' }> = isWithin(
      s.userBaseKey,
      s.groupBaseKey,
    )
      ? [
          { base: s.groupBase, key: s.groupBaseKey, baseKey: 'groupBase' },
          { base: s.userBase, key: s.userBaseKey, baseKey: 'userBase' },
        ]
      : [
          { base: s.userBase, key: s.userBaseKey, baseKey: 'userBase' },
          { base: s.groupBase, key: s.groupBaseKey, baseKey: 'groupBase' },
        ];
    const needed = new Set<number>();
    for (const key of keys) {
      const i = bases.findIndex((b) => isWithin(key, b.key));
      if (i >= 0) needed.add(i);
    }
    if (withUids) {
      needed.add(bases.findIndex((b) => isWithin(s.userBaseKey, b.key)));
    }
    const dns = new Set<string>();
    const uids = new Set<string>();
    const failures: string[] = [];
    for (const i of [...needed].sort()) {
      const b = bases[i];
      if (b === undefined) continue;
      const result = await this.list(
        {
          phase: 'non-users',
          base: b.base,
          baseKey: b.baseKey,
          filter: new NotFilter({ filter: compileFilter(s.userFilter) }),
          filterText: `(!${s.userFilter})`,
          // 1.1: no attributes (RFC 4511 §4.5.1.8), the DN is all this needs.
          attributes: withUids ? [s.uidAttribute] : ['1.1'],
          optional: true,
        },
        (entry) => ({
          key: tryNormalizeDn(entry.name),
          names: withUids ? this.entries.strings(entry, s.uidAttribute) : [],
        }),
        (taken) => {
          for (const { key, names } of taken) {
            if (key !== undefined) dns.add(key);
            for (const n of names) uids.add(n.trim());
          }
        },
      ).catch((err: unknown) => ({ failure: err instanceof Error ? err.message : String(err) }));
      if (result.failure !== undefined) failures.push(`${b.base}: ${result.failure}`);
    }
    if (failures.length > 0) {
      this.log.warn({ failures }, 'could not check which unmatched members name existing entries');
      return { failure: failures.join('; ') };
    }
    return { dns, uids };
  }
}

const SHOWN = 5;

/**
 * The users' uidAttribute values by name, as read (first user first): a name two users share is
 * AMBIGUOUS, in either index.
 */
function uidIndex(users: UserIndex): UidIndex {
  const byUid = new Map<string, number>();
  const byUidLower = new Map<string, number>();
  const values = users.uidValues ?? [];
  for (let index = 0; index < values.length; index++) {
    for (const name of values[index] ?? []) {
      const t = name.trim();
      if (t === '') continue;
      byUid.set(t, byUid.has(t) && byUid.get(t) !== index ? AMBIGUOUS : index);
      const lower = t.toLowerCase();
      byUidLower.set(lower, byUidLower.has(lower) && byUidLower.get(lower) !== index ? AMBIGUOUS : index);
    }
  }
  return { byUid, byUidLower };
}

/** The pwdAccountLockedTime value ppolicy reads as "locked until an administrator unlocks". */
export const PERMANENT_LOCK = '000001010000Z';

/** A presence test of pwdAccountLockedTime that is not negated: temporary lockouts match it too. */
function matchesAnyLockout(node: FilterNode, negated = false): boolean {
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.children.some((c) => matchesAnyLockout(c, negated));
    case 'not':
      return matchesAnyLockout(node.child, !negated);
    case 'present':
      return !negated && node.attribute.toLowerCase() === 'pwdaccountlockedtime';
    default:
      return false;
  }
}

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
  const sep = why.endsWith(';') ? '' : ',';
  return {
    code,
    message: `group ${group}: ${dns.length} member DN${dns.length === 1 ? '' : 's'} ${why}${sep} ignored: ${shown}${more}`,
    subject: group,
  };
}

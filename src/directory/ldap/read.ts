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
import { attr, idValue, isGuidAttribute, REQUIRED_MEMBER_ATTRIBUTE, strings, type Value } from './entry.js';
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
import { RangeReadError, rangeDescription, rangedValues, readRemainingSlices } from './ranges.js';

export type ReadPhase = 'users' | 'disabled' | 'groups' | 'members' | 'non-users';

export interface ReadProgress {
  phase: ReadPhase;
  /** Pages (or, for `members`, range slices) done in this phase so far. */
  pages: number;
  entries: number;
}

/** Awaited after every page: progress reporting, and the seam tests use to break a read mid-way. */
export type ProgressHook = (progress: ReadProgress) => void | Promise<void>;

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
  /** Member DNs as the server sent them. */
  members: string[];
  /** User names from uid member attributes (memberUid). */
  memberUids: string[];
  /** membership: memberOf: the groups this group's memberOf names (DNs as sent). */
  memberOf: string[];
  /** objectClass values, lower case; empty when the server returned none. */
  classes: string[];
  /** Values read per member attribute (lower-case name), slices included. */
  counts: Map<string, number>;
  unreadable?: string;
}

/** `name → id`, or AMBIGUOUS when two users share it. */
const AMBIGUOUS = '\u0000ambiguous';

interface UserIndex {
  byId: Map<string, DirectoryUser>;
  /** Entry DN exactly as the server sent it → id. */
  byRawDn: Map<string, string>;
  /** uidAttribute value → id (exact), and lower-cased (the fallback). Only with uid members. */
  byUid: Map<string, string>;
  byUidLower: Map<string, string>;
  /** membership: memberOf: user id → the memberOf DNs as sent. */
  memberOf: Map<string, string[]>;
}

export class LdapReader {
  private readonly incomplete: string[] = [];
  /** Member lists hidden from the bind account (warnings; the core holds back what they explain). */
  private readonly hidden: DirectoryWarning[] = [];
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
    const { resolved, warnings } = await this.resolve(users, groups);

    const snapshot: DirectorySnapshot = {
      source: s.origin,
      readAt: new Date().toISOString(),
      users: [...users.byId.values()],
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
    const byId = new Map<string, DirectoryUser>();
    const byRawDn = new Map<string, string>();
    const byUid = new Map<string, string>();
    const byUidLower = new Map<string, string>();
    const memberOf = new Map<string, string[]>();
    const withUids = readsUidMembers(s);
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
          if (withUids) {
            for (const name of strings(attr(entry, s.uidAttribute))) {
              const t = name.trim();
              if (t === '') continue;
              byUid.set(t, byUid.has(t) && byUid.get(t) !== id ? AMBIGUOUS : id);
              const lower = t.toLowerCase();
              byUidLower.set(lower, byUidLower.has(lower) && byUidLower.get(lower) !== id ? AMBIGUOUS : id);
            }
          }
          if (withMemberOf) {
            const sliced = rangedValues(entry, MEMBER_OF);
            const values = sliced ? sliced.values : strings(attr(entry, MEMBER_OF));
            // AD hands out a long memberOf in slices too; the rest is not followed here, so the
            // user's groups are not known in full.
            if (sliced && sliced.slice.hi !== '*') slicedMemberOf.push(entry.dn);
            if (values.length > 0) memberOf.set(id, values);
          }
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
    return { byId, byRawDn, byUid, byUidLower, memberOf };
  }

  private async readDisabled(userFilter: Filter, users: { byId: Map<string, DirectoryUser> }): Promise<void> {
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
            memberUids: [],
            memberOf: [],
            classes: strings(attr(entry, 'objectClass')).map((c) => c.trim().toLowerCase()),
            counts: new Map(),
          };
          groups.push(group);
          if (byMemberOf) {
            group.memberOf = strings(attr(entry, MEMBER_OF));
            continue;
          }
          let sawRange = false;
          for (const a of s.memberAttributes) {
            const slice = rangedValues(entry, a);
            if (slice) {
              sawRange = true;
              for (const v of slice.values) this.addMember(group, a, v);
              if (slice.slice.hi !== '*') ranged.push({ group, attribute: a, next: slice.slice.hi + 1 });
            } else if (s.rangeSize === undefined) {
              for (const v of strings(attr(entry, a))) this.addMember(group, a, v);
            }
          }
          // Asked for ranges and got none: either an empty group, or a server without range
          // retrieval (OpenLDAP ignores the option and returns nothing). Only a plain read tells.
          if (s.rangeSize !== undefined && !sawRange) needPlain.push(group);
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

  private addMember(group: RawGroup, attribute: string, raw: string): void {
    const key = attribute.toLowerCase();
    group.counts.set(key, (group.counts.get(key) ?? 0) + 1);
    if (isUidMemberAttribute(this.s, attribute)) group.memberUids.push(raw);
    else group.members.push(raw);
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
        this.markUnreadable(
          group,
          `${reason}; ${group.members.length + group.memberUids.length + values.length} members read`,
        );
      } finally {
        for (const v of values) this.addMember(group, attribute, v);
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
          for (const v of values) this.addMember(group, a, v);
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
   * (servers hand both out in one form), so an exact match is tried first; only the rest are
   * normalised (dn.ts), which keeps a 100,000-member read from normalising 100,000 DNs twice.
   */
  private async resolve(
    users: UserIndex,
    groups: RawGroup[],
  ): Promise<{ resolved: DirectoryGroup[]; warnings: DirectoryWarning[] }> {
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
    const memberships =
      s.membership === 'memberOf'
        ? this.membershipsFromMemberOf(users, groups, groupByRawDn, normalisedIndex, warnings)
        : undefined;

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
    const resolved = groups.map((g): DirectoryGroup => {
      const userIds = new Set<string>(memberships?.users.get(g.id));
      const groupIds = new Set<string>(memberships?.groups.get(g.id));
      const u: Unmatched = { group: g, outside: [], inBase: [], invalid: [], names: [], ambiguousNames: [] };
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
          u.invalid.push(`${raw} (not a valid DN)`);
          continue;
        }
        const hit = normalisedIndex().get(key);
        if (hit?.kind === 'user') userIds.add(hit.id);
        else if (hit?.kind === 'group') groupIds.add(hit.id);
        else if (isWithin(key, s.userBaseKey) || isWithin(key, s.groupBaseKey)) u.inBase.push([raw, key]);
        else u.outside.push(raw);
      }
      for (const raw of g.memberUids) {
        const name = raw.trim();
        // Exact first (memberUid compares case-sensitively, like the POSIX names it holds); a
        // different case only when it names exactly one user.
        let id = users.byUid.get(name);
        if (id === undefined) id = users.byUidLower.get(name.toLowerCase());
        if (id === AMBIGUOUS) u.ambiguousNames.push(raw);
        else if (id !== undefined) userIds.add(id);
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
        memberUserIds: [...userIds],
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
    return { resolved, warnings };
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
    normalisedIndex: () => Map<string, { kind: 'user' | 'group'; id: string }>,
    warnings: DirectoryWarning[],
  ): { users: Map<string, string[]>; groups: Map<string, string[]> } {
    const s = this.s;
    const byUsers = new Map<string, string[]>();
    const byGroups = new Map<string, string[]>();
    const outside = new Map<string, number>();
    const notRead = new Map<string, number>();
    const groupOf = (raw: string): string | undefined => {
      const direct = groupByRawDn.get(raw);
      if (direct !== undefined) return direct;
      const key = tryNormalizeDn(raw);
      const hit = key === undefined ? undefined : normalisedIndex().get(key);
      if (hit?.kind === 'group') return hit.id;
      const tally = key !== undefined && !isWithin(key, s.groupBaseKey) ? outside : notRead;
      tally.set(raw, (tally.get(raw) ?? 0) + 1);
      return undefined;
    };
    const add = (into: Map<string, string[]>, groupId: string, memberId: string) => {
      const list = into.get(groupId);
      if (list) list.push(memberId);
      else into.set(groupId, [memberId]);
    };
    for (const [userId, dns] of users.memberOf) {
      for (const raw of dns) {
        const gid = groupOf(raw);
        if (gid !== undefined) add(byUsers, gid, userId);
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
        (entries) => {
          for (const entry of entries) {
            const key = tryNormalizeDn(entry.dn);
            if (key !== undefined) dns.add(key);
            if (withUids) for (const n of strings(attr(entry, s.uidAttribute))) uids.add(n.trim());
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

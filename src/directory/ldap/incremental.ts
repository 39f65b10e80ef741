// The pure half of the incremental LDAP read (docs/watch.md, "Reading only what changed"): which
// entries a changed read asks for, what of the last snapshot it keeps, and how the cached state
// looks in Redis. The Redis and LDAP half is src/daemon/ldapIncremental.ts.
//
// The rule: a changed read must never remove what a full read would keep. Everything here either
// gives the exact answer or says "read in full" (a string saying why); a stale entry kept until the
// next full read is the accepted cost (a missed removal, never a wrong one).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../types.js';
import { escapeFilterValue } from './filter.js';
import { isUidMemberAttribute, type LdapSettings } from './profiles.js';
import { parseCsn, type Watermark } from './watermark.js';

/** Users read that the last snapshot lacked: more than this and the groups naming them are not looked up one by one. */
export const MAX_NEW_USERS = 200;

/** What changed since `mark`, as an LDAP filter over the change attribute; undefined: not this kind. */
export function changedSince(mark: Watermark): { attribute: string; filter: string } | undefined {
  switch (mark.kind) {
    case 'highestCommittedUSN': {
      if (!/^\d+$/.test(mark.value)) return undefined;
      // The watermark was read before the last read: everything written after it has a higher USN.
      return { attribute: 'uSNChanged', filter: `(uSNChanged>=${BigInt(mark.value) + 1n})` };
    }
    case 'contextCSN': {
      // One CSN per server id; an entry written since carries a CSN newer than its server's, so
      // newer than the oldest of them. `>=`: the entry last written comes again, which is harmless.
      const csns = mark.value.split(' ').filter((v) => parseCsn(v) !== undefined);
      const oldest = csns.sort()[0];
      return oldest === undefined ? undefined : { attribute: 'entryCSN', filter: `(entryCSN>=${oldest})` };
    }
    default:
      // entryCSN and modifyTimestamp: the watermark is found by searching on it, with no server
      // identity of its own behind each read; kept simple: these read in full.
      return undefined;
  }
}

/**
 * The group clause: changed groups, and (so that groups the last snapshot resolved without them
 * learn of them) groups naming a user that the last snapshot did not have.
 */
export function groupClause(
  s: LdapSettings,
  changed: string,
  newUsers: ReadonlyArray<{ dn: string; uids: readonly string[] }>,
): string {
  if (newUsers.length === 0) return changed;
  const parts = [changed];
  for (const a of s.memberAttributes) {
    const uid = isUidMemberAttribute(s, a);
    for (const u of newUsers) {
      if (uid) for (const name of u.uids) parts.push(`(${a}=${escapeFilterValue(name)})`);
      else parts.push(`(${a}=${escapeFilterValue(u.dn)})`);
    }
  }
  return `(|${parts.join('')})`;
}

/** What a changed read may keep of the last snapshot: every entry but those that changed. */
export function keptOf(
  last: Pick<DirectorySnapshot, 'users' | 'groups'>,
  changedIds: ReadonlySet<string>,
): { users: DirectoryUser[]; groups: DirectoryGroup[] } {
  return {
    users: last.users.filter((u) => !changedIds.has(u.id)),
    groups: last.groups.filter((g) => !changedIds.has(g.id)),
  };
}

/**
 * After a changed read: a kept group's members are ids of the last snapshot; those `gone` from it
 * (changed and not read again: deleted, moved out of the base, filtered out) go, as a full read
 * would not resolve their DNs to anyone either. Nothing gone (the usual case): nothing to walk.
 */
export function pruneMembers(snapshot: DirectorySnapshot, gone: ReadonlySet<string>): DirectorySnapshot {
  if (gone.size === 0) return snapshot;
  let changed = false;
  const pruned = snapshot.groups.map((g) => {
    const memberUserIds = g.memberUserIds.filter((id) => !gone.has(id));
    const memberGroupIds = g.memberGroupIds.filter((id) => !gone.has(id));
    if (memberUserIds.length === g.memberUserIds.length && memberGroupIds.length === g.memberGroupIds.length)
      return g;
    changed = true;
    return { ...g, memberUserIds, memberGroupIds };
  });
  return changed ? { ...snapshot, groups: pruned } : snapshot;
}

/**
 * Why this changed read cannot be trusted, or undefined. `lastIds`: the ids of the last snapshot;
 * `changedIds`: every entry changed since the mark anywhere in the naming context (tombstones
 * included on AD).
 */
export function doubtAbout(o: {
  kind: Watermark['kind'];
  moved: boolean;
  /** Entries whose change attribute is newer than the mark (not merely equal to it). */
  newer: number;
  readGroupIds: readonly string[];
  lastGroupIds: ReadonlySet<string>;
  /** An address that a user read shares with a user kept from the last snapshot. */
  sharedEmail?: string;
}): string | undefined {
  if (o.moved && o.newer === 0 && o.kind !== 'highestCommittedUSN') {
    // OpenLDAP keeps no trace of a deleted entry: a watermark that moved with nothing newer to
    // show for it was (most likely) a deletion.
    return 'the watermark moved but no entry changed since (a deletion, which OpenLDAP does not show)';
  }
  if (o.sharedEmail !== undefined) {
    // A kept user may be stale (an OpenLDAP deletion is not seen): two users with one address
    // could change what the core does with the one a full read would see alone.
    return `a user read has the address of a user kept from the last snapshot (${o.sharedEmail})`;
  }
  const fresh = o.readGroupIds.filter((id) => !o.lastGroupIds.has(id));
  if (fresh.length > 0) {
    // A group the last snapshot lacked may be nested in groups that were kept as they were.
    return `${fresh.length} group${fresh.length === 1 ? '' : 's'} not in the last snapshot (new, or back in groupBase/groupFilter)`;
  }
  return undefined;
}

/** An address that a user read shares with a kept user (compared as the core compares them), if any. */
export function sharedEmail(
  read: readonly DirectoryUser[],
  kept: readonly DirectoryUser[],
): string | undefined {
  const keptIds = new Set(kept.map((u) => u.id));
  if (read.every((u) => keptIds.has(u.id) || u.email === null)) return undefined;
  const keptEmails = new Set(kept.flatMap((u) => (u.email === null ? [] : [u.email.trim().toLowerCase()])));
  for (const u of read) {
    if (keptIds.has(u.id) || u.email === null) continue;
    const e = u.email.trim().toLowerCase();
    if (keptEmails.has(e)) return e;
  }
  return undefined;
}

/** What the cached snapshot was read with: another config (bases, filters, attributes) reads in full. */
export function settingsFingerprint(s: LdapSettings): string {
  const relevant = {
    origin: s.origin,
    profile: s.profile,
    userBase: s.userBase,
    groupBase: s.groupBase,
    userFilter: s.userFilter,
    groupFilter: s.groupFilter,
    disabledFilter: s.disabledFilter ?? null,
    disabledByUserAccountControl: s.disabledByUserAccountControl,
    idAttribute: s.idAttribute,
    emailAttribute: s.emailAttribute,
    emailFallbackAttribute: s.emailFallbackAttribute ?? null,
    nameAttribute: s.nameAttribute,
    groupNameAttribute: s.groupNameAttribute,
    memberAttributes: s.memberAttributes,
    uidAttribute: s.uidAttribute,
    membership: s.membership,
    extraUserAttributes: s.extraUserAttributes,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 32);
}

/** Whether these settings can be read incrementally at all; a reason when not. */
export function unsupported(s: LdapSettings): string | undefined {
  if (s.membership === 'memberOf')
    return 'membership: memberOf (a user changed is a membership changed in groups kept as they were)';
  // memberOf is a back-link: joining or leaving a group does not change the user entry on AD, so a
  // filter on it would not see the user come or go.
  const filters = [s.userFilter, s.disabledFilter ?? ''].join(' ');
  if (/memberof/i.test(filters))
    return 'userFilter or disabledFilter tests memberOf, which changes without the user changing';
  return undefined;
}

// ---- the cached state ----------------------------------------------------------------------------

export interface LdapCache {
  /** settingsFingerprint() of the config it was read with. */
  fingerprint: string;
  /** The watermark read just before the read that made this snapshot. */
  mark: Watermark;
  snapshot: DirectorySnapshot;
  /** uidAttribute values by user id (uid member attributes only). */
  uids: Map<string, readonly string[]>;
  /** ISO times. */
  lastFullReadAt: string;
  lastReadAt: string;
}

const StoredUser = z.object({
  id: z.string(),
  email: z.string().nullable(),
  name: z.string(),
  enabled: z.boolean(),
  ref: z.string().optional(),
  attrs: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
});
const StoredGroup = z.object({
  id: z.string(),
  name: z.string(),
  dn: z.string().optional(),
  memberUserIds: z.array(z.string()),
  memberGroupIds: z.array(z.string()),
  unreadable: z.string().optional(),
});
export const StoredLdapCache = z.object({
  version: z.literal(1),
  fingerprint: z.string(),
  mark: z.object({
    kind: z.enum(['highestCommittedUSN', 'contextCSN', 'entryCSN', 'modifyTimestamp']),
    server: z.string(),
    value: z.string(),
  }),
  snapshot: z.object({
    source: z.string(),
    readAt: z.string(),
    users: z.array(StoredUser),
    groups: z.array(StoredGroup),
    complete: z.literal(true),
    incompleteReasons: z.array(z.string()),
    warnings: z.array(z.object({ code: z.string(), message: z.string(), subject: z.string().optional() })),
  }),
  uids: z.array(z.tuple([z.string(), z.array(z.string())])),
  lastFullReadAt: z.string(),
  lastReadAt: z.string(),
});

export function toStoredCache(c: LdapCache): z.input<typeof StoredLdapCache> {
  return {
    version: 1,
    ...c,
    snapshot: { ...c.snapshot, complete: true },
    uids: [...c.uids].map(([id, names]) => [id, [...names]]),
  };
}

export function fromStoredCache(json: unknown): { cache?: LdapCache; problem?: string } {
  const parsed = StoredLdapCache.safeParse(json);
  if (!parsed.success) return { problem: `not in the expected form (${parsed.error.issues[0]?.message})` };
  const { version: _v, uids, ...rest } = parsed.data;
  return { cache: { ...(rest as unknown as Omit<LdapCache, 'uids'>), uids: new Map(uids) } };
}

/** The `source` line: what was read and how. */
export function describeRead(
  origin: string,
  r: { users: number; groups: number; lastFullReadAgo: string },
): string {
  return `${origin} (incremental read: ${r.users} user${r.users === 1 ? '' : 's'}, ${r.groups} group${r.groups === 1 ? '' : 's'} changed; last full read ${r.lastFullReadAgo} ago)`;
}

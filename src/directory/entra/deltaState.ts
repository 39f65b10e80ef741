// What the daemon remembers of an Entra directory between delta rounds (docs/entra.md): every user
// as Graph sent it (the selected properties, so the email rules of users.ts apply at snapshot time),
// every group with its *direct* members, and the two delta links that continue from this state.
// Pure: applying a round's changes and turning the state into a DirectorySnapshot are plain
// functions over data, so the merge rules are tested without Graph or Redis.
//
// Direct members, not transitive ones: groups/delta reports membership edges, and a change deep in
// a nesting chain is one edge. The core expands nesting itself (src/directory/expand.ts), as it does
// for the LDAP and file sources, so in the snapshot the mapped groups and every nested group they
// reach carry their direct user and group members.
import { z } from 'zod';
import type { GroupSelector } from '../../reconcile/policy.js';
import { selectGroups } from '../../reconcile/select.js';
import { normalizeDirectoryId } from '../ids.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser, DirectoryWarning } from '../types.js';

export type RoundKind = 'full' | 'incremental';

/** A Graph user object: `id` plus the selected properties, as Graph returned them. */
export type RawGraphUser = { id: string } & Record<string, unknown>;

export interface StateGroup {
  id: string;
  name: string;
  /** Direct members. */
  users: Set<string>;
  groups: Set<string>;
}

export interface DeltaState {
  /** `<graphBaseUrl>|<tenantId>|<clientId>`: links of another tenant or endpoint are not ours. */
  origin: string;
  /** The users/delta `$select` the state was read with; another one needs a full read. */
  select: string;
  users: Map<string, RawGraphUser>;
  groups: Map<string, StateGroup>;
  usersDeltaLink: string;
  groupsDeltaLink: string;
  /** ISO times. */
  lastFullReadAt: string;
  lastRoundAt: string;
  lastRoundKind: RoundKind;
}

// ---- one round's changes ---------------------------------------------------------------------------

export type MemberType = 'user' | 'group' | 'other' | 'unknown';

export interface MemberChange {
  type: MemberType;
  /** False: `@removed` (the member left the group). */
  present: boolean;
}

export interface GroupChange {
  id: string;
  /** `@removed` on the group itself: deleted (soft or hard). */
  removed: boolean;
  /** Absent when no object of this group in the round carried displayName. */
  name?: string;
  /** By member id; the last occurrence in the round wins. */
  members: Map<string, MemberChange>;
}

export type UserChange = { removed: false; raw: RawGraphUser } | { removed: true };

/** Everything one round (full or incremental) reported, merged by object id. */
export interface DeltaChanges {
  users: Map<string, UserChange>;
  groups: Map<string, GroupChange>;
}

export function emptyChanges(): DeltaChanges {
  return { users: new Map(), groups: new Map() };
}

/** A users/delta item, as parsed at the edge (delta.ts). */
export interface UserDeltaItem {
  id: string;
  '@removed'?: { reason?: string } | undefined;
  [property: string]: unknown;
}

export interface MemberDeltaItem {
  id: string;
  '@odata.type'?: string | undefined;
  '@removed'?: { reason?: string } | undefined;
}

/** A groups/delta item; the same group may come several times in one round, on any page. */
export interface GroupDeltaItem {
  id: string;
  displayName?: string | null | undefined;
  'members@delta'?: MemberDeltaItem[] | undefined;
  '@removed'?: { reason?: string } | undefined;
}

/** Folds one page of users/delta into `changes` (mutates it: a round accumulates page by page). */
export function addUserItems(changes: DeltaChanges, items: readonly UserDeltaItem[]): void {
  for (const item of items) {
    const id = normalizeDirectoryId(item.id);
    if (item['@removed'] !== undefined) {
      changes.users.set(id, { removed: true });
      continue;
    }
    const { '@removed': _removed, ...props } = item;
    const before = changes.users.get(id);
    // The same user twice in a round: later properties win, earlier ones absent later are kept.
    const raw: RawGraphUser = before && !before.removed ? { ...before.raw, ...props, id } : { ...props, id };
    changes.users.set(id, { removed: false, raw });
  }
}

function memberType(odataType: string | undefined): MemberType {
  if (odataType === undefined) return 'unknown';
  const t = odataType.toLowerCase();
  if (t === '#microsoft.graph.user') return 'user';
  if (t === '#microsoft.graph.group') return 'group';
  // Devices, contacts, service principals: members of a group, but nobody Devin could know.
  return 'other';
}

/** Folds one page of groups/delta into `changes`, merging repeated objects of a group by id. */
export function addGroupItems(changes: DeltaChanges, items: readonly GroupDeltaItem[]): void {
  for (const item of items) {
    const id = normalizeDirectoryId(item.id);
    let change = changes.groups.get(id);
    if (!change) {
      change = { id, removed: false, members: new Map() };
      changes.groups.set(id, change);
    }
    // Page order is the order Graph reports state in: the last word on the group wins.
    change.removed = item['@removed'] !== undefined;
    if (typeof item.displayName === 'string') change.name = item.displayName;
    for (const m of item['members@delta'] ?? []) {
      change.members.set(normalizeDirectoryId(m.id), {
        type: memberType(m['@odata.type']),
        present: m['@removed'] === undefined,
      });
    }
  }
}

// ---- applying a round ------------------------------------------------------------------------------

export interface RoundOutcome {
  kind: RoundKind;
  at: Date;
  usersDeltaLink: string;
  groupsDeltaLink: string;
  origin: string;
  select: string;
}

/**
 * The state after a round. A full round starts from nothing (what it did not report is gone); an
 * incremental one starts from `base`. `base` is never modified.
 */
export function applyChanges(
  base: DeltaState | undefined,
  changes: DeltaChanges,
  outcome: RoundOutcome,
): DeltaState {
  const from = outcome.kind === 'full' ? undefined : base;
  const users = new Map(from?.users);
  for (const [id, change] of changes.users) {
    if (change.removed) users.delete(id);
    else users.set(id, { ...users.get(id), ...change.raw });
  }
  // Copies of the groups this round touches only: the others are shared with `base`, read-only.
  const groups = new Map(from?.groups);
  for (const [id, change] of changes.groups) if (change.removed) groups.delete(id);
  // Group ids known after the round, for members whose type Graph did not say.
  const isGroup = (id: string) => groups.has(id) || changes.groups.get(id)?.removed === false;
  for (const [id, change] of changes.groups) {
    if (change.removed) continue;
    const old = groups.get(id);
    const next: StateGroup = {
      id,
      name: change.name ?? old?.name ?? id,
      users: new Set(old?.users),
      groups: new Set(old?.groups),
    };
    for (const [memberId, m] of change.members) {
      const type = m.type === 'unknown' ? (isGroup(memberId) ? 'group' : 'user') : m.type;
      if (!m.present) {
        next.users.delete(memberId);
        next.groups.delete(memberId);
      } else if (type === 'user') next.users.add(memberId);
      else if (type === 'group') next.groups.add(memberId);
    }
    groups.set(id, next);
  }
  const at = outcome.at.toISOString();
  return {
    origin: outcome.origin,
    select: outcome.select,
    users,
    groups,
    usersDeltaLink: outcome.usersDeltaLink,
    groupsDeltaLink: outcome.groupsDeltaLink,
    lastFullReadAt: outcome.kind === 'full' ? at : (base?.lastFullReadAt ?? at),
    lastRoundAt: at,
    lastRoundKind: outcome.kind,
  };
}

/** What a round changed, in counts, for the log line of the round. */
export function summarizeChanges(changes: DeltaChanges): {
  users: number;
  usersRemoved: number;
  groups: number;
  groupsRemoved: number;
  memberEdges: number;
} {
  let usersRemoved = 0;
  for (const c of changes.users.values()) if (c.removed) usersRemoved++;
  let groupsRemoved = 0;
  let memberEdges = 0;
  for (const g of changes.groups.values()) {
    if (g.removed) groupsRemoved++;
    memberEdges += g.members.size;
  }
  return {
    users: changes.users.size - usersRemoved,
    usersRemoved,
    groups: changes.groups.size - groupsRemoved,
    groupsRemoved,
    memberEdges,
  };
}

// ---- the snapshot the core plans from --------------------------------------------------------------

export interface SnapshotOptions {
  selectors: readonly GroupSelector[];
  /** Graph user → DirectoryUser with the configured email rules (users.ts toDirectoryUser). */
  toUser: (raw: RawGraphUser) => { user: DirectoryUser; warnings: DirectoryWarning[] };
  /** What groups no mapping reaches say instead of members (read.ts NOT_MAPPED). */
  notMapped: string;
  source: string;
  readAt: Date;
  complete: boolean;
  incompleteReasons: string[];
}

/**
 * The same shape as the full read's snapshot (read.ts): every user and every group, so the core
 * still tells a renamed mapped group from a deleted one. The groups the mappings select, and every
 * nested group they reach, carry their direct members for the core's expansion; the others carry
 * none and say why (`notMapped`), as in the full read, so nothing is ever concluded from them.
 */
export function toSnapshot(state: DeltaState, o: SnapshotOptions): DirectorySnapshot {
  const listed = [...state.groups.values()];
  const reached = new Set<string>();
  const queue: string[] = [];
  for (const selector of o.selectors) {
    for (const g of selectGroups(selector, listed)) {
      if (reached.has(g.id)) continue;
      reached.add(g.id);
      queue.push(g.id);
    }
  }
  for (let head = 0; head < queue.length; head++) {
    for (const child of state.groups.get(queue[head] as string)?.groups ?? []) {
      if (reached.has(child) || !state.groups.has(child)) continue;
      reached.add(child);
      queue.push(child);
    }
  }
  const groups: DirectoryGroup[] = listed.map((g) =>
    reached.has(g.id)
      ? { id: g.id, name: g.name, memberUserIds: [...g.users], memberGroupIds: [...g.groups] }
      : { id: g.id, name: g.name, memberUserIds: [], memberGroupIds: [], unreadable: o.notMapped },
  );
  const users: DirectoryUser[] = [];
  const warnings: DirectoryWarning[] = [];
  for (const raw of state.users.values()) {
    const converted = o.toUser(raw);
    users.push(converted.user);
    warnings.push(...converted.warnings);
  }
  return {
    source: o.source,
    readAt: o.readAt.toISOString(),
    users,
    groups,
    complete: o.complete,
    incompleteReasons: o.incompleteReasons,
    warnings,
  };
}

// ---- stored form (Redis) ---------------------------------------------------------------------------

const StoredUser = z.looseObject({ id: z.string().min(1) });
const StoredGroup = z.object({
  id: z.string().min(1),
  name: z.string(),
  users: z.array(z.string()),
  groups: z.array(z.string()),
});

/** The JSON kept in Redis (gzipped): parsed on the way in, since another version may have written it. */
export const StoredDeltaState = z.object({
  version: z.literal(1),
  origin: z.string(),
  select: z.string(),
  users: z.array(StoredUser),
  groups: z.array(StoredGroup),
  usersDeltaLink: z.url(),
  groupsDeltaLink: z.url(),
  lastFullReadAt: z.iso.datetime(),
  lastRoundAt: z.iso.datetime(),
  lastRoundKind: z.enum(['full', 'incremental']),
});
export type StoredDeltaState = z.infer<typeof StoredDeltaState>;

export function toStored(state: DeltaState): StoredDeltaState {
  return {
    version: 1,
    origin: state.origin,
    select: state.select,
    users: [...state.users.values()],
    groups: [...state.groups.values()].map((g) => ({
      id: g.id,
      name: g.name,
      users: [...g.users],
      groups: [...g.groups],
    })),
    usersDeltaLink: state.usersDeltaLink,
    groupsDeltaLink: state.groupsDeltaLink,
    lastFullReadAt: state.lastFullReadAt,
    lastRoundAt: state.lastRoundAt,
    lastRoundKind: state.lastRoundKind,
  };
}

export function fromStored(s: StoredDeltaState): DeltaState {
  return {
    origin: s.origin,
    select: s.select,
    users: new Map(s.users.map((u) => [u.id, u as RawGraphUser])),
    groups: new Map(
      s.groups.map((g) => [
        g.id,
        { id: g.id, name: g.name, users: new Set(g.users), groups: new Set(g.groups) },
      ]),
    ),
    usersDeltaLink: s.usersDeltaLink,
    groupsDeltaLink: s.groupsDeltaLink,
    lastFullReadAt: s.lastFullReadAt,
    lastRoundAt: s.lastRoundAt,
    lastRoundKind: s.lastRoundKind,
  };
}

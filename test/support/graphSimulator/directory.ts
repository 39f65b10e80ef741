// The simulated directory: users and groups in maps keyed by lower-case id (Graph ids compare
// case-insensitively), with the indexes the routes need so that 50,000 users and 2,000 groups page
// without linear scans: the listing order (copy-on-write arrays that paging sessions can hold on to),
// displayName → groups, member → groups. Every mutation bumps a version and appends to a change log
// that delta queries read with a binary search.
import type { SimGroup, SimUser } from './types.js';

export type Kind = 'user' | 'group';

export interface GroupRec {
  id: string;
  displayName: string;
  /** Member keys (lower-case ids) in the order they were added. */
  members: string[];
  memberSet: Set<string>;
  /** Extra properties given with the group (description, mail, …), never `members`. */
  extra: Record<string, unknown>;
  /** Version at which the group was created (0: loaded at start). */
  createdAt: number;
}

export interface LogEntry {
  v: number;
  kind: Kind;
  key: string;
  /** For a membership change: the member's key. */
  member?: string;
}

export type RemovalReason = 'changed' | 'deleted';

export const key = (id: string): string => id.toLowerCase();

export class Directory {
  readonly users = new Map<string, SimUser>();
  readonly groups = new Map<string, GroupRec>();
  /** What a key is (kept after deletion, so a removed member still gets its @odata.type). */
  readonly kindOf = new Map<string, Kind>();
  /** The id as written, by key (kept after deletion for @removed entries). */
  readonly idOf = new Map<string, string>();
  /** Why a deleted object went away (delta's @removed reason). */
  readonly removedReason = new Map<string, RemovalReason>();
  /** Groups each member (user or group) is a direct member of. */
  private readonly memberOf = new Map<string, Set<string>>();
  private readonly groupsByName = new Map<string, Set<string>>();
  /** Property names (lower-case → as written) seen on any user, so $select accepts them. */
  readonly userPropertyNames = new Map<string, string>();
  private userList: string[] = [];
  private groupList: string[] = [];
  private userListShared = false;
  private groupListShared = false;
  version = 0;
  readonly log: LogEntry[] = [];

  constructor(users: SimUser[] = [], groups: SimGroup[] = []) {
    for (const u of users) this.insertUser(u);
    for (const g of groups) this.insertGroup(g, 0, false);
    for (const g of groups) for (const m of g.members) this.insertMember(key(g.id), key(m));
  }

  /** The listing order of users; the caller may keep the array (it is never changed in place afterwards). */
  userOrder(): readonly string[] {
    this.userListShared = true;
    return this.userList;
  }

  groupOrder(): readonly string[] {
    this.groupListShared = true;
    return this.groupList;
  }

  private mutableUserList(): string[] {
    if (this.userListShared) {
      this.userList = this.userList.slice();
      this.userListShared = false;
    }
    return this.userList;
  }

  private mutableGroupList(): string[] {
    if (this.groupListShared) {
      this.groupList = this.groupList.slice();
      this.groupListShared = false;
    }
    return this.groupList;
  }

  private record(kind: Kind, k: string, member?: string): void {
    this.log.push(
      member === undefined ? { v: this.version, kind, key: k } : { v: this.version, kind, key: k, member },
    );
  }

  /** Log entries after version v (binary search: versions only grow). */
  changesSince(v: number): LogEntry[] {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.v <= v) lo = mid + 1;
      else hi = mid;
    }
    return this.log.slice(lo);
  }

  private insertUser(u: SimUser): string {
    if (typeof u.id !== 'string' || u.id === '') throw new Error('graph simulator: a user needs an id');
    const k = key(u.id);
    if (this.users.has(k) || this.groups.has(k))
      throw new Error(`graph simulator: id ${u.id} already exists`);
    this.users.set(k, { ...u });
    this.kindOf.set(k, 'user');
    this.idOf.set(k, u.id);
    this.removedReason.delete(k);
    for (const p of Object.keys(u)) this.userPropertyNames.set(p.toLowerCase(), p);
    this.mutableUserList().push(k);
    return k;
  }

  private insertGroup(g: SimGroup, createdAt: number, withMembers: boolean): string {
    if (typeof g.id !== 'string' || g.id === '') throw new Error('graph simulator: a group needs an id');
    const k = key(g.id);
    if (this.users.has(k) || this.groups.has(k))
      throw new Error(`graph simulator: id ${g.id} already exists`);
    const { id, displayName, members, ...extra } = g as SimGroup & Record<string, unknown>;
    const rec: GroupRec = { id, displayName, members: [], memberSet: new Set(), extra, createdAt };
    this.groups.set(k, rec);
    this.kindOf.set(k, 'group');
    this.idOf.set(k, id);
    this.removedReason.delete(k);
    this.indexName(k, displayName);
    this.mutableGroupList().push(k);
    if (withMembers) for (const m of members) this.insertMember(k, key(m));
    return k;
  }

  private indexName(k: string, name: string): void {
    const n = name.toLowerCase();
    let set = this.groupsByName.get(n);
    if (!set) {
      set = new Set();
      this.groupsByName.set(n, set);
    }
    set.add(k);
  }

  private unindexName(k: string, name: string): void {
    const n = name.toLowerCase();
    const set = this.groupsByName.get(n);
    set?.delete(k);
    if (set?.size === 0) this.groupsByName.delete(n);
  }

  /** Adds a member; false when it already was one. */
  private insertMember(g: string, m: string): boolean {
    const rec = this.groups.get(g);
    if (!rec) throw new Error(`graph simulator: no group ${g}`);
    if (!this.users.has(m) && !this.groups.has(m)) {
      throw new Error(
        `graph simulator: member ${m} of group ${rec.displayName} is neither a user nor a group`,
      );
    }
    if (g === m) throw new Error(`graph simulator: group ${rec.displayName} cannot be a member of itself`);
    if (rec.memberSet.has(m)) return false;
    rec.memberSet.add(m);
    rec.members.push(m);
    let parents = this.memberOf.get(m);
    if (!parents) {
      parents = new Set();
      this.memberOf.set(m, parents);
    }
    parents.add(g);
    return true;
  }

  private dropMember(g: string, m: string): boolean {
    const rec = this.groups.get(g);
    if (!rec?.memberSet.has(m)) return false;
    rec.memberSet.delete(m);
    const i = rec.members.indexOf(m);
    if (i >= 0) rec.members.splice(i, 1);
    this.memberOf.get(m)?.delete(g);
    return true;
  }

  groupsNamed(name: string): string[] {
    return [...(this.groupsByName.get(name.toLowerCase()) ?? [])];
  }

  /** Direct parents of a member. */
  parentsOf(m: string): string[] {
    return [...(this.memberOf.get(m) ?? [])];
  }

  // ---- mutations (each bumps the version and logs what changed; returns what notifications to send) ----

  addUser(u: SimUser): string {
    this.version++;
    const k = this.insertUser(u);
    this.record('user', k);
    return k;
  }

  updateUser(id: string, patch: Partial<SimUser>): string {
    const k = key(id);
    const u = this.users.get(k);
    if (!u) throw new Error(`graph simulator: no user ${id}`);
    if (patch.id !== undefined && key(patch.id) !== k)
      throw new Error('graph simulator: a user id cannot change');
    this.version++;
    for (const [p, v] of Object.entries(patch)) {
      if (v === undefined) delete u[p];
      else u[p] = v;
      this.userPropertyNames.set(p.toLowerCase(), p);
    }
    this.record('user', k);
    return k;
  }

  /** Deletes a user and its memberships; returns the groups whose members changed. */
  deleteUser(id: string, hard: boolean): { key: string; groups: string[] } {
    const k = key(id);
    if (!this.users.has(k)) throw new Error(`graph simulator: no user ${id}`);
    this.version++;
    const groups = this.parentsOf(k);
    for (const g of groups) {
      this.dropMember(g, k);
      this.record('group', g, k);
    }
    this.memberOf.delete(k);
    this.users.delete(k);
    this.removedReason.set(k, hard ? 'deleted' : 'changed');
    const list = this.mutableUserList();
    const i = list.indexOf(k);
    if (i >= 0) list.splice(i, 1);
    this.record('user', k);
    return { key: k, groups };
  }

  addGroup(g: SimGroup): string {
    this.version++;
    const k = this.insertGroup(g, this.version, true);
    this.record('group', k);
    return k;
  }

  renameGroup(id: string, displayName: string): string {
    const k = key(id);
    const rec = this.groups.get(k);
    if (!rec) throw new Error(`graph simulator: no group ${id}`);
    this.version++;
    this.unindexName(k, rec.displayName);
    rec.displayName = displayName;
    this.indexName(k, displayName);
    this.record('group', k);
    return k;
  }

  /** Deletes a group: it leaves its parents and its members leave it; returns the parents. */
  deleteGroup(id: string, hard: boolean): { key: string; groups: string[] } {
    const k = key(id);
    const rec = this.groups.get(k);
    if (!rec) throw new Error(`graph simulator: no group ${id}`);
    this.version++;
    const parents = this.parentsOf(k);
    for (const g of parents) {
      this.dropMember(g, k);
      this.record('group', g, k);
    }
    for (const m of rec.members) this.memberOf.get(m)?.delete(k);
    this.memberOf.delete(k);
    this.unindexName(k, rec.displayName);
    this.groups.delete(k);
    this.removedReason.set(k, hard ? 'deleted' : 'changed');
    const list = this.mutableGroupList();
    const i = list.indexOf(k);
    if (i >= 0) list.splice(i, 1);
    this.record('group', k);
    return { key: k, groups: parents };
  }

  addMember(groupId: string, memberId: string): string {
    const g = key(groupId);
    const m = key(memberId);
    if (!this.groups.has(g)) throw new Error(`graph simulator: no group ${groupId}`);
    if (this.wouldBeDuplicate(g, m)) return g;
    this.version++;
    this.insertMember(g, m);
    this.record('group', g, m);
    return g;
  }

  private wouldBeDuplicate(g: string, m: string): boolean {
    return this.groups.get(g)?.memberSet.has(m) ?? false;
  }

  removeMember(groupId: string, memberId: string): string {
    const g = key(groupId);
    const m = key(memberId);
    if (!this.groups.has(g)) throw new Error(`graph simulator: no group ${groupId}`);
    if (!this.groups.get(g)!.memberSet.has(m))
      throw new Error(`graph simulator: ${memberId} is not a member`);
    this.version++;
    this.dropMember(g, m);
    this.record('group', g, m);
    return g;
  }

  /** Users reachable from a group through nested groups, each once, in breadth-first order (cycles safe). */
  transitiveUsers(g: string): string[] {
    const out: string[] = [];
    const seenUsers = new Set<string>();
    const seenGroups = new Set<string>([g]);
    const queue = [g];
    for (let i = 0; i < queue.length; i++) {
      const rec = this.groups.get(queue[i]!);
      if (!rec) continue;
      for (const m of rec.members) {
        if (this.users.has(m)) {
          if (!seenUsers.has(m)) {
            seenUsers.add(m);
            out.push(m);
          }
        } else if (this.groups.has(m) && !seenGroups.has(m)) {
          seenGroups.add(m);
          queue.push(m);
        }
      }
    }
    return out;
  }

  /** Every object (users and groups) below a group, each once (for /transitiveMembers without a cast). */
  transitiveMembers(g: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>([g]);
    const queue = [g];
    for (let i = 0; i < queue.length; i++) {
      const rec = this.groups.get(queue[i]!);
      if (!rec) continue;
      for (const m of rec.members) {
        if (seen.has(m)) continue;
        seen.add(m);
        out.push(m);
        if (this.groups.has(m)) queue.push(m);
      }
    }
    return out;
  }

  publicUser(k: string): SimUser | undefined {
    const u = this.users.get(k);
    return u ? { ...u } : undefined;
  }

  publicGroup(k: string): SimGroup | undefined {
    const g = this.groups.get(k);
    if (!g) return undefined;
    return {
      ...g.extra,
      id: g.id,
      displayName: g.displayName,
      members: g.members.map((m) => this.users.get(m)?.id ?? this.groups.get(m)?.id ?? m),
    };
  }
}

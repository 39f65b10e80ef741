// The Graph directory routes: /users, /groups, members and transitive members (paged by an opaque
// @odata.nextLink that repeats the first request's query), and users/delta + groups/delta (a full
// enumeration, then what changed since the delta token, with members@delta split across repeated
// group objects on different pages, @removed entries, and 410 once the links are expired).
import type { Directory, GroupRec } from './directory.js';
import { key } from './directory.js';
import { type Ctx, graphError, header, sendJson } from './http.js';
import {
  directoryObjectJson,
  type FilterClause,
  groupJson,
  matches,
  type Parsed,
  parseFilter,
  parseSelect,
  TokenStore,
  userJson,
} from './odata.js';
import type { GraphPermission } from './types.js';

export const USER_READERS: readonly GraphPermission[] = ['User.Read.All', 'Directory.Read.All'];
export const GROUP_READERS: readonly GraphPermission[] = [
  'GroupMember.Read.All',
  'Group.Read.All',
  'Directory.Read.All',
];

type ListOf = 'users' | 'groups' | 'members' | 'transitiveUsers' | 'transitiveMembers';

interface ListState {
  t: 'list';
  of: ListOf;
  /** Lower-case path the token belongs to. */
  path: string;
  ids: readonly string[];
  offset: number;
  select: string[] | null;
  top: number;
  /** The first request's query without $skiptoken, repeated in every nextLink. */
  linkQuery: string;
  context: string;
}

interface DeltaLinkState {
  t: 'deltaLink';
  of: 'users' | 'groups';
  version: number;
  select: string[] | null;
  top: number;
  epoch: number;
}

interface MemberDelta {
  '@odata.type': '#microsoft.graph.user' | '#microsoft.graph.group';
  id: string;
  '@removed'?: { reason: 'deleted' };
}

interface Pending {
  key: string;
  entries: readonly MemberDelta[];
  offset: number;
}

interface DeltaPageState {
  t: 'deltaPage';
  of: 'users' | 'groups';
  ids: readonly string[];
  offset: number;
  /** groups: remaining members@delta of groups already started, one chunk per group per page. */
  pending: readonly Pending[];
  select: string[] | null;
  top: number;
  /** Version the round reads up to: the next deltaLink continues from here. */
  version: number;
  epoch: number;
  /** Version the round reads changes after; null for the initial enumeration. */
  base: number | null;
  /** groups, incremental: the members whose membership changed since base, per group. */
  memberChanges: ReadonlyMap<string, ReadonlySet<string>> | null;
}

type State = ListState | DeltaLinkState | DeltaPageState;

export interface GraphRoutesOptions {
  url: string;
  maxMembersPerDeltaGroupObject: number;
  deltaPageSize: number;
}

const DEFAULT_TOP = 100;
const MAX_TOP = 999;

function parseTop(raw: string | undefined, fallback: number): Parsed<number> {
  if (raw === undefined) return { ok: true, value: fallback };
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(n) || n < 1 || n > MAX_TOP) {
    return {
      ok: false,
      message: `Invalid page size specified: '${raw}'. Must be between 1 and ${MAX_TOP} inclusive.`,
    };
  }
  return { ok: true, value: n };
}

/** Query options the simulator understands per route; anything else starting with $ is refused like Graph does. */
const KNOWN_OPTIONS = new Set([
  '$select',
  '$top',
  '$filter',
  '$count',
  '$skiptoken',
  '$deltatoken',
  '$search',
  '$orderby',
  '$expand',
  '$skip',
  '$format',
]);

export class GraphRoutes {
  private readonly tokens = new TokenStore<State>();
  private epoch = 0;

  constructor(
    private readonly dir: Directory,
    private readonly o: GraphRoutesOptions,
  ) {}

  /** Every delta link (and unfinished delta round) issued so far answers 410 from now on. */
  expireDeltaLinks(): void {
    this.epoch++;
  }

  /** Handles /v1.0 directory routes; false when the path is not one of them. */
  handle(ctx: Ctx, roles: ReadonlySet<GraphPermission>): boolean {
    const s = ctx.segments.slice(1); // after v1.0
    if (ctx.method !== 'GET') return false;
    const [a, rawB, c, d] = s;
    // Graph takes the function call form too: /users/delta() is /users/delta.
    const b = rawB === 'delta()' ? 'delta' : rawB;
    if (a === 'users') {
      if (s.length === 1) return this.guard(ctx, roles, USER_READERS, () => this.list(ctx, 'users'));
      if (s.length === 2 && b === 'delta')
        return this.guard(ctx, roles, USER_READERS, () => this.delta(ctx, 'users'));
      if (s.length === 2) return this.guard(ctx, roles, USER_READERS, () => this.getUser(ctx, b!));
      return false;
    }
    if (a === 'groups') {
      if (s.length === 1) return this.guard(ctx, roles, GROUP_READERS, () => this.list(ctx, 'groups'));
      if (s.length === 2 && b === 'delta') {
        return this.guard(ctx, roles, GROUP_READERS, () => this.delta(ctx, 'groups'));
      }
      if (s.length === 2) return this.guard(ctx, roles, GROUP_READERS, () => this.getGroup(ctx, b!));
      if (s.length === 3 && c === 'members') {
        return this.guard(ctx, roles, GROUP_READERS, () => this.list(ctx, 'members', b!));
      }
      if (s.length === 3 && c === 'transitivemembers') {
        return this.guard(ctx, roles, GROUP_READERS, () => this.list(ctx, 'transitiveMembers', b!));
      }
      if (s.length === 4 && c === 'transitivemembers' && d === 'microsoft.graph.user') {
        return this.guard(ctx, roles, GROUP_READERS, () => this.list(ctx, 'transitiveUsers', b!));
      }
      return false;
    }
    return false;
  }

  private guard(
    ctx: Ctx,
    roles: ReadonlySet<GraphPermission>,
    needs: readonly GraphPermission[],
    run: () => void,
  ): true {
    if (!needs.some((p) => roles.has(p))) {
      graphError(
        ctx,
        403,
        'Authorization_RequestDenied',
        'Insufficient privileges to complete the operation.',
      );
      return true;
    }
    for (const name of ctx.query.keys()) {
      if (name.startsWith('$') && !KNOWN_OPTIONS.has(name)) {
        graphError(ctx, 400, 'BadRequest', `Query option '${name}' is not allowed.`);
        return true;
      }
    }
    for (const name of ['$search', '$orderby', '$expand', '$skip']) {
      if (ctx.query.has(name)) {
        graphError(ctx, 400, 'Request_UnsupportedQuery', `The simulator does not support ${name}.`);
        return true;
      }
    }
    run();
    return true;
  }

  private notFound(ctx: Ctx, id: string): void {
    graphError(
      ctx,
      404,
      'Request_ResourceNotFound',
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  }

  private getUser(ctx: Ctx, id: string) {
    const u = this.dir.users.get(key(id)) ?? this.byUpn(id);
    if (!u) return this.notFound(ctx, id);
    const select = parseSelect(ctx.query.get('$select'), 'user', this.dir);
    if (!select.ok) return graphError(ctx, 400, 'BadRequest', select.message);
    sendJson(ctx, 200, {
      '@odata.context': `${this.o.url}/v1.0/$metadata#users/$entity`,
      ...userJson(u, select.value),
    });
  }

  private byUpn(upn: string) {
    if (!upn.includes('@')) return undefined;
    const want = upn.toLowerCase();
    for (const u of this.dir.users.values()) if (u.userPrincipalName.toLowerCase() === want) return u;
    return undefined;
  }

  private getGroup(ctx: Ctx, id: string) {
    const g = this.dir.groups.get(key(id));
    if (!g) return this.notFound(ctx, id);
    const select = parseSelect(ctx.query.get('$select'), 'group', this.dir);
    if (!select.ok) return graphError(ctx, 400, 'BadRequest', select.message);
    sendJson(ctx, 200, {
      '@odata.context': `${this.o.url}/v1.0/$metadata#groups/$entity`,
      ...groupJson(g, select.value),
    });
  }

  // ---- paged lists ------------------------------------------------------------------------------

  private list(ctx: Ctx, of: ListOf, groupId?: string) {
    const path = ctx.segments.join('/');
    const skip = ctx.query.get('$skiptoken');
    if (skip !== undefined) {
      const st = this.tokens.get(skip);
      if (st?.t !== 'list' || st.path !== path) {
        return graphError(
          ctx,
          400,
          'Request_BadRequest',
          'The specified page token value has expired or is invalid.',
        );
      }
      if (of === 'transitiveUsers' && !this.eventual(ctx)) return;
      return this.page(ctx, st);
    }
    const eventual = (header(ctx, 'consistencylevel') ?? '').toLowerCase() === 'eventual';
    const count = ctx.query.get('$count');
    if (count !== undefined && count !== 'true' && count !== 'false') {
      return graphError(ctx, 400, 'BadRequest', `Invalid value '${count}' for $count.`);
    }
    const wantCount = count === 'true';
    if (of === 'transitiveUsers' && !this.eventual(ctx)) return;
    if (wantCount && !eventual) {
      return graphError(
        ctx,
        400,
        'Request_UnsupportedQuery',
        "$count is only supported with the 'ConsistencyLevel: eventual' header.",
      );
    }
    const target =
      of === 'users' || of === 'transitiveUsers' ? 'user' : of === 'groups' ? 'group' : 'directoryObject';
    const select = parseSelect(ctx.query.get('$select'), target, this.dir);
    if (!select.ok) return graphError(ctx, 400, 'BadRequest', select.message);
    const top = parseTop(ctx.query.get('$top'), DEFAULT_TOP);
    if (!top.ok) return graphError(ctx, 400, 'Request_UnsupportedQuery', top.message);
    let group: GroupRec | undefined;
    if (groupId !== undefined) {
      group = this.dir.groups.get(key(groupId));
      if (!group) return this.notFound(ctx, groupId);
    }
    let ids: readonly string[];
    const filterRaw = ctx.query.get('$filter');
    if (filterRaw !== undefined) {
      if (of !== 'users' && of !== 'groups') {
        return graphError(
          ctx,
          400,
          'Request_UnsupportedQuery',
          'The simulator supports $filter on /users and /groups only.',
        );
      }
      const f = parseFilter(filterRaw, of === 'users' ? 'user' : 'group');
      if (!f.ok) return graphError(ctx, 400, 'BadRequest', f.message);
      ids = this.filtered(of, f.value);
    } else if (of === 'users') ids = this.dir.userOrder();
    else if (of === 'groups') ids = this.dir.groupOrder();
    else if (of === 'members') ids = group!.members.slice();
    else if (of === 'transitiveUsers') ids = this.dir.transitiveUsers(key(group!.id));
    else ids = this.dir.transitiveMembers(key(group!.id));
    const contextName =
      of === 'users' || of === 'groups'
        ? of
        : of === 'members'
          ? `groups('${group!.id}')/members`
          : of === 'transitiveUsers'
            ? 'users'
            : `groups('${group!.id}')/transitiveMembers`;
    const st: ListState = {
      t: 'list',
      of,
      path,
      ids,
      offset: 0,
      select: select.value,
      top: top.value,
      linkQuery: ctx.rawQuery
        .split('&')
        .filter((p) => p !== '' && !/^(\$|%24)skiptoken=/i.test(p))
        .join('&'),
      context: `${this.o.url}/v1.0/$metadata#${contextName}${select.value ? `(${select.value.join(',')})` : ''}`,
    };
    this.page(ctx, st, wantCount ? ids.length : undefined);
  }

  private eventual(ctx: Ctx): boolean {
    if ((header(ctx, 'consistencylevel') ?? '').toLowerCase() === 'eventual') return true;
    graphError(
      ctx,
      400,
      'Request_UnsupportedQuery',
      "Specified OData cast is only supported with the 'ConsistencyLevel: eventual' header and $count=true.",
    );
    return false;
  }

  private filtered(of: 'users' | 'groups', clauses: FilterClause[]): string[] {
    const out = new Set<string>();
    const scan: FilterClause[] = [];
    for (const c of clauses) {
      if (c.prop === 'id' && c.op === 'eq') {
        const k = key(c.value);
        if ((of === 'users' ? this.dir.users : this.dir.groups).has(k)) out.add(k);
      } else if (of === 'groups' && c.prop === 'displayName' && c.op === 'eq') {
        for (const k of this.dir.groupsNamed(c.value)) out.add(k);
      } else scan.push(c);
    }
    if (scan.length > 0) {
      const order = of === 'users' ? this.dir.userOrder() : this.dir.groupOrder();
      for (const k of order) {
        const obj = of === 'users' ? this.dir.users.get(k) : this.dir.groups.get(k);
        if (obj && scan.some((c) => matches((obj as unknown as Record<string, unknown>)[c.prop], c)))
          out.add(k);
      }
    }
    return [...out];
  }

  private page(ctx: Ctx, st: ListState, count?: number): void {
    const value: unknown[] = [];
    let i = st.offset;
    const end = Math.min(st.ids.length, st.offset + st.top);
    for (; i < end; i++) {
      const k = st.ids[i]!;
      let item: Record<string, unknown> | undefined;
      if (st.of === 'users' || st.of === 'transitiveUsers') {
        const u = this.dir.users.get(k);
        item = u && userJson(u, st.select);
      } else if (st.of === 'groups') {
        const g = this.dir.groups.get(k);
        item = g && groupJson(g, st.select);
      } else item = directoryObjectJson(this.dir, k, st.select);
      // An object deleted while the client pages is left out (the page comes up short), as in Graph.
      if (item) value.push(item);
    }
    const body: Record<string, unknown> = { '@odata.context': st.context };
    if (count !== undefined) body['@odata.count'] = count;
    if (i < st.ids.length) {
      const token = this.tokens.put({ ...st, offset: i });
      const q = st.linkQuery ? `${st.linkQuery}&` : '';
      body['@odata.nextLink'] = `${this.o.url}${ctx.path}?${q}$skiptoken=${token}`;
    }
    body.value = value;
    sendJson(ctx, 200, body);
  }

  // ---- delta ------------------------------------------------------------------------------------

  private gone(ctx: Ctx): void {
    graphError(
      ctx,
      410,
      'resyncRequired',
      'Resync required. Replace any local cached copies of the directory objects with the results of a new delta query without a delta token.',
    );
  }

  private delta(ctx: Ctx, of: 'users' | 'groups') {
    const deltaToken = ctx.query.get('$deltatoken');
    const skip = ctx.query.get('$skiptoken');
    if (skip !== undefined) {
      const st = this.tokens.get(skip);
      if (st?.t !== 'deltaPage' || st.of !== of) {
        return graphError(
          ctx,
          400,
          'Request_BadRequest',
          'The specified page token value has expired or is invalid.',
        );
      }
      if (st.epoch !== this.epoch) return this.gone(ctx);
      return this.deltaPage(ctx, st);
    }
    if (deltaToken !== undefined && deltaToken.toLowerCase() !== 'latest') {
      const st = this.tokens.get(deltaToken);
      if (st?.t !== 'deltaLink' || st.of !== of) {
        return graphError(ctx, 400, 'Request_BadRequest', 'The specified delta token value is invalid.');
      }
      if (st.epoch !== this.epoch) return this.gone(ctx);
      return this.deltaPage(ctx, this.incremental(st));
    }
    for (const name of ['$filter', '$count']) {
      if (ctx.query.has(name)) {
        return graphError(
          ctx,
          400,
          'Request_UnsupportedQuery',
          `The simulator does not support ${name} on delta.`,
        );
      }
    }
    const select = parseSelect(ctx.query.get('$select'), of === 'users' ? 'user' : 'groupDelta', this.dir);
    if (!select.ok) return graphError(ctx, 400, 'BadRequest', select.message);
    const top = parseTop(ctx.query.get('$top'), this.o.deltaPageSize);
    if (!top.ok) return graphError(ctx, 400, 'Request_UnsupportedQuery', top.message);
    if (deltaToken !== undefined) {
      // $deltatoken=latest: no enumeration, just a delta link from now on (Graph supports this for users and groups).
      const link = this.tokens.put({
        t: 'deltaLink',
        of,
        version: this.dir.version,
        select: select.value,
        top: top.value,
        epoch: this.epoch,
      });
      return sendJson(ctx, 200, {
        '@odata.context': `${this.o.url}/v1.0/$metadata#${of}`,
        '@odata.deltaLink': `${this.o.url}/v1.0/${of}/delta?$deltatoken=${link}`,
        value: [],
      });
    }
    this.deltaPage(ctx, {
      t: 'deltaPage',
      of,
      ids: of === 'users' ? this.dir.userOrder() : this.dir.groupOrder(),
      offset: 0,
      pending: [],
      select: select.value,
      top: top.value,
      version: this.dir.version,
      epoch: this.epoch,
      base: null,
      memberChanges: null,
    });
  }

  /** The first page state of a round that reads what changed since a delta link's version. */
  private incremental(link: DeltaLinkState): DeltaPageState {
    const changes = this.dir.changesSince(link.version);
    const ids: string[] = [];
    const seen = new Set<string>();
    const memberChanges = new Map<string, Set<string>>();
    const kind = link.of === 'users' ? 'user' : 'group';
    for (const e of changes) {
      if (e.kind !== kind) continue;
      if (!seen.has(e.key)) {
        seen.add(e.key);
        ids.push(e.key);
      }
      if (e.member !== undefined) {
        let set = memberChanges.get(e.key);
        if (!set) {
          set = new Set();
          memberChanges.set(e.key, set);
        }
        set.add(e.member);
      }
    }
    return {
      t: 'deltaPage',
      of: link.of,
      ids,
      offset: 0,
      pending: [],
      select: link.select,
      top: link.top,
      version: this.dir.version,
      epoch: link.epoch,
      base: link.version,
      memberChanges,
    };
  }

  private memberRef(k: string, removed: boolean): MemberDelta {
    const type = this.dir.kindOf.get(k) === 'group' ? '#microsoft.graph.group' : '#microsoft.graph.user';
    const id = this.dir.idOf.get(k) ?? k;
    return removed
      ? { '@odata.type': type, id, '@removed': { reason: 'deleted' } }
      : { '@odata.type': type, id };
  }

  /** members@delta of a group in this round: all members when it is new to the client, else what changed. */
  private memberDeltas(st: DeltaPageState, g: GroupRec): MemberDelta[] {
    if (st.base === null || g.createdAt > st.base) return g.members.map((m) => this.memberRef(m, false));
    const changed = st.memberChanges?.get(key(g.id));
    if (!changed) return [];
    return [...changed].map((m) => this.memberRef(m, !g.memberSet.has(m)));
  }

  private deltaPage(ctx: Ctx, st: DeltaPageState): void {
    const value: Record<string, unknown>[] = [];
    const includeMembers = st.select === null || st.select.includes('members');
    const max = this.o.maxMembersPerDeltaGroupObject;
    const nextPending: Pending[] = [];
    // Groups already started continue first, one repeated object each per page.
    let p = 0;
    for (; p < st.pending.length && value.length < st.top; p++) {
      const pend = st.pending[p]!;
      const chunk = pend.entries.slice(pend.offset, pend.offset + max);
      value.push({ id: this.dir.idOf.get(pend.key) ?? pend.key, 'members@delta': chunk });
      if (pend.offset + max < pend.entries.length) nextPending.push({ ...pend, offset: pend.offset + max });
    }
    const carried = [...st.pending.slice(p), ...nextPending];
    let offset = st.offset;
    for (; offset < st.ids.length && value.length < st.top; offset++) {
      const k = st.ids[offset]!;
      if (st.of === 'users') {
        const u = this.dir.users.get(k);
        value.push(u ? userJson(u, st.select) : this.removed(k));
        continue;
      }
      const g = this.dir.groups.get(k);
      if (!g) {
        value.push(this.removed(k));
        continue;
      }
      const obj = groupJson(g, st.select);
      if (includeMembers) {
        const entries = this.memberDeltas(st, g);
        if (entries.length > 0) obj['members@delta'] = entries.slice(0, max);
        if (entries.length > max) carried.push({ key: k, entries, offset: max });
      }
      value.push(obj);
    }
    const body: Record<string, unknown> = { '@odata.context': `${this.o.url}/v1.0/$metadata#${st.of}` };
    if (offset < st.ids.length || carried.length > 0) {
      const token = this.tokens.put({ ...st, offset, pending: carried });
      body['@odata.nextLink'] = `${this.o.url}/v1.0/${st.of}/delta?$skiptoken=${token}`;
    } else {
      const link = this.tokens.put({
        t: 'deltaLink',
        of: st.of,
        version: st.version,
        select: st.select,
        top: st.top,
        epoch: st.epoch,
      });
      body['@odata.deltaLink'] = `${this.o.url}/v1.0/${st.of}/delta?$deltatoken=${link}`;
    }
    body.value = value;
    sendJson(ctx, 200, body);
  }

  private removed(k: string): Record<string, unknown> {
    return {
      id: this.dir.idOf.get(k) ?? k,
      '@removed': { reason: this.dir.removedReason.get(k) ?? 'changed' },
    };
  }
}

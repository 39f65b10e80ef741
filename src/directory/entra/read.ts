// The full read: every user (one listing, $select and $top), every group's id and name (one
// listing), and then the transitive user members of only the groups the mappings select: a tenant
// with 2,000 groups and three mappings reads three member lists, not 2,000.
//
// Fail closed, as the LDAP reader: a listing that stops part way (after GraphClient's retry
// budget) leaves what was read in the snapshot, marks it complete: false and says which listing
// and after how many objects. A member list that cannot be read marks its group `unreadable` and
// the read incomplete, so the core holds back every removal the group could explain. Failures
// before anything was read (no token, the app may not read users or groups at all) are thrown:
// there is nothing to plan from, and the operator needs the reason, not exit 5.
//
// Members come from /transitiveMembers/microsoft.graph.user, already flattened by Graph (nesting
// resolved, each user once, cycles safe), so mapped groups carry memberGroupIds: [] and the core's
// own expansion has nothing more to do.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EntraSourceConfig } from '../../config/types.js';
import type { GroupSelector } from '../../reconcile/policy.js';
import { selectGroups } from '../../reconcile/select.js';
import { runTaskPool } from '../../util/taskPool.js';
import { normalizeDirectoryId } from '../ids.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser, DirectoryWarning } from '../types.js';
import { EntraAbortedError, EntraAuthError, GraphError } from './errors.js';
import type { GraphClient } from './graphClient.js';
import { GraphUserSchema, toDirectoryUser, userSelect } from './users.js';

/**
 * Member lists read at once: enough to hide latency (2,000 mapped groups at ~100 ms a request
 * are 25 s at 8, 50 s at 4), few enough to stay well inside Graph's directory throttling budget
 * per app and tenant; a 429 is waited out anyway (GraphClient).
 */
export const MEMBER_READ_CONCURRENCY = 8;

const GraphGroupSchema = z.object({ id: z.string().min(1), displayName: z.string().nullish() }).loose();
const MemberSchema = z.object({ id: z.string().min(1) }).loose();

/**
 * Why groups no mapping selects carry no members. They are in the snapshot at all so that the
 * core can still tell a renamed group from a deleted one (explain.ts finds last run's mapped
 * groups by id) and the plan's statistics count the tenant's groups; their members are never read,
 * and saying so (instead of an empty list) keeps any use of them on the fail-closed side.
 */
export const NOT_MAPPED = 'members not read: no mapping selects this group';

export interface EntraReadResult {
  snapshot: DirectorySnapshot;
  /** Requests made, for logs and the benchmark. */
  requests: number;
}

export function sourceName(config: Pick<EntraSourceConfig, 'tenantId' | 'graphBaseUrl'>): string {
  return `entra:${config.tenantId}@${new URL(config.graphBaseUrl).host}`;
}

/** Listing and member-list paths (also used by validate). */
export function usersPath(config: EntraSourceConfig, top = config.pageSize): string {
  return `/users?$select=${userSelect(config)}&$top=${top}`;
}

export function groupsPath(config: EntraSourceConfig): string {
  return `/groups?$select=id,displayName&$top=${config.pageSize}`;
}

export function membersPath(groupId: string, top: number): string {
  return `/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user?$select=id&$top=${top}&$count=true`;
}

/** Graph refuses the cast to users without it (advanced query). */
export const EVENTUAL = { ConsistencyLevel: 'eventual' } as const;

/** What nothing can be planned from: the caller gets the error instead of an incomplete snapshot. */
function isFatal(err: unknown): boolean {
  if (err instanceof EntraAuthError || err instanceof EntraAbortedError) return true;
  return err instanceof GraphError && (err.status === 401 || err.status === 403);
}

export class EntraReader {
  private readonly incomplete: string[] = [];
  private readonly warnings: DirectoryWarning[] = [];

  constructor(
    private readonly graph: GraphClient,
    private readonly config: EntraSourceConfig,
    private readonly selectors: readonly GroupSelector[],
    private readonly log: Logger,
  ) {}

  async read(): Promise<DirectorySnapshot> {
    const started = Date.now();
    const before = this.graph.requests;
    const users = await this.readUsers();
    const listed = await this.readGroups();
    const groups = await this.readMembers(listed, users);
    const snapshot: DirectorySnapshot = {
      source: sourceName(this.config),
      readAt: new Date().toISOString(),
      users: [...users.values()],
      groups,
      complete: this.incomplete.length === 0,
      incompleteReasons: [...this.incomplete],
      warnings: this.warnings,
    };
    this.log.info(
      {
        users: snapshot.users.length,
        groups: snapshot.groups.length,
        mapped: groups.filter((g) => g.unreadable !== NOT_MAPPED).length,
        requests: this.graph.requests - before,
        complete: snapshot.complete,
        ms: Date.now() - started,
      },
      snapshot.complete ? 'Entra read complete' : 'Entra read INCOMPLETE: removals will be held back',
    );
    return snapshot;
  }

  private markIncomplete(reason: string): void {
    this.incomplete.push(reason);
    this.log.warn({ reason }, 'Entra read incomplete');
  }

  private failure(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  private async readUsers(): Promise<Map<string, DirectoryUser>> {
    const users = new Map<string, DirectoryUser>();
    let pages = 0;
    try {
      for await (const page of this.graph.pages(usersPath(this.config), GraphUserSchema)) {
        pages++;
        for (const raw of page.items) {
          const { user, warnings } = toDirectoryUser(raw, this.config);
          if (!users.has(user.id)) users.set(user.id, user);
          this.warnings.push(...warnings);
        }
      }
    } catch (err) {
      if (isFatal(err) && users.size === 0) throw err;
      this.markIncomplete(
        `users: page ${pages + 1} of the user listing failed after ${users.size} users: ${this.failure(err)}`,
      );
    }
    return users;
  }

  private async readGroups(): Promise<Array<{ id: string; name: string }>> {
    const groups: Array<{ id: string; name: string }> = [];
    const seen = new Set<string>();
    let pages = 0;
    try {
      for await (const page of this.graph.pages(groupsPath(this.config), GraphGroupSchema)) {
        pages++;
        for (const g of page.items) {
          const id = normalizeDirectoryId(g.id);
          if (seen.has(id)) continue;
          seen.add(id);
          groups.push({ id, name: g.displayName?.trim() ? g.displayName : id });
        }
      }
    } catch (err) {
      if (isFatal(err) && groups.length === 0) throw err;
      // A mapping whose group is past the break selects nothing this run: the core holds back
      // what it could explain (selector-miss), and this reason holds back the rest.
      this.markIncomplete(
        `groups: page ${pages + 1} of the group listing failed after ${groups.length} groups: ${this.failure(err)}`,
      );
    }
    return groups;
  }

  private async readMembers(
    listed: Array<{ id: string; name: string }>,
    users: Map<string, DirectoryUser>,
  ): Promise<DirectoryGroup[]> {
    const mapped = new Map<string, { id: string; name: string }>();
    for (const sel of this.selectors) for (const g of selectGroups(sel, listed)) mapped.set(g.id, g);
    const read = new Map<string, DirectoryGroup>();
    const usersComplete = this.incomplete.length === 0;
    const tasks = [...mapped.values()].map((g) => async () => {
      read.set(g.id, await this.readGroupMembers(g, users, usersComplete));
      return undefined;
    });
    await runTaskPool(tasks, MEMBER_READ_CONCURRENCY);
    return listed.map(
      (g) =>
        read.get(g.id) ?? {
          id: g.id,
          name: g.name,
          memberUserIds: [],
          memberGroupIds: [],
          unreadable: NOT_MAPPED,
        },
    );
  }

  private async readGroupMembers(
    g: { id: string; name: string },
    users: Map<string, DirectoryUser>,
    usersComplete: boolean,
  ): Promise<DirectoryGroup> {
    const members = new Set<string>();
    let pages = 0;
    try {
      for await (const page of this.graph.pages(membersPath(g.id, this.config.pageSize), MemberSchema, {
        headers: EVENTUAL,
      })) {
        pages++;
        for (const m of page.items) members.add(normalizeDirectoryId(m.id));
      }
    } catch (err) {
      if (err instanceof EntraAbortedError) throw err;
      const reason = `member list not read: page ${pages + 1} failed after ${members.size} members: ${this.failure(err)}`;
      this.markIncomplete(`group ${g.name} (${g.id}): ${reason}`);
      return { id: g.id, name: g.name, memberUserIds: [...members], memberGroupIds: [], unreadable: reason };
    }
    if (usersComplete) {
      const unknown = [...members].filter((id) => !users.has(id));
      if (unknown.length > 0) {
        // Created after the user listing passed, most likely: granted on the next run.
        this.warnings.push({
          code: 'unresolved-member',
          message: `group ${g.name}: ${unknown.length} member${unknown.length === 1 ? '' : 's'} not in the user listing (created during the read?), ignored this run: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`,
          subject: g.name,
        });
      }
    }
    return { id: g.id, name: g.name, memberUserIds: [...members], memberGroupIds: [] };
  }
}

// Nested-group expansion. Each expansion is a breadth-first walk of the groups below one root, so
// it visits every group and membership edge at most once (linear in the subgraph), terminates on
// cycles, and keeps the shortest nesting path for the reasons a reviewer reads
// ("alice → Platform/org_admin via sre ⊂ platform-admins").
import type { DirectoryGroup, DirectoryWarning } from './types.js';

export interface GroupIndex {
  byId: ReadonlyMap<string, DirectoryGroup>;
}

export function indexGroups(groups: readonly DirectoryGroup[]): GroupIndex {
  return { byId: new Map(groups.map((g) => [g.id, g])) };
}

export interface Expansion {
  rootId: string;
  /** user id → id of the group that holds the user directly (first reached, so on a shortest path). */
  holder: Map<string, string>;
  /** group id → the group it was reached from (null for the root). */
  parent: Map<string, string | null>;
}

export function expandGroup(index: GroupIndex, rootId: string): Expansion {
  const holder = new Map<string, string>();
  const parent = new Map<string, string | null>([[rootId, null]]);
  const queue: string[] = [rootId];
  for (let head = 0; head < queue.length; head++) {
    const gid = queue[head] as string;
    const group = index.byId.get(gid);
    if (!group) continue;
    for (const uid of group.memberUserIds) {
      if (!holder.has(uid)) holder.set(uid, gid);
    }
    for (const child of group.memberGroupIds) {
      if (parent.has(child)) continue; // seen: a cycle or a diamond; the first path is the shortest
      parent.set(child, gid);
      queue.push(child);
    }
  }
  return { rootId, holder, parent };
}

/** Group ids from the root down to the group that holds the user directly. */
export function nestingPath(expansion: Expansion, userId: string): string[] {
  const path: string[] = [];
  for (
    let g: string | null | undefined = expansion.holder.get(userId);
    g != null;
    g = expansion.parent.get(g)
  ) {
    path.push(g);
  }
  return path.reverse();
}

/**
 * Cycles among groups (Tarjan's strongly connected components, iterative so deep nesting cannot
 * overflow the stack). Each cycle is reported once, as a warning naming its groups.
 */
export function findGroupCycles(index: GroupIndex): DirectoryWarning[] {
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const warnings: DirectoryWarning[] = [];
  let counter = 0;

  for (const start of index.byId.keys()) {
    if (order.has(start)) continue;
    const work: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    order.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { id: string; next: number };
      const children = index.byId.get(frame.id)?.memberGroupIds ?? [];
      if (frame.next < children.length) {
        const child = children[frame.next++] as string;
        if (!index.byId.has(child)) continue;
        if (!order.has(child)) {
          order.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ id: child, next: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.id, Math.min(low.get(frame.id) as number, order.get(child) as number));
        }
        continue;
      }
      work.pop();
      const parentFrame = work[work.length - 1];
      if (parentFrame) {
        low.set(parentFrame.id, Math.min(low.get(parentFrame.id) as number, low.get(frame.id) as number));
      }
      if (low.get(frame.id) === order.get(frame.id)) {
        const component: string[] = [];
        for (;;) {
          const id = stack.pop() as string;
          onStack.delete(id);
          component.push(id);
          if (id === frame.id) break;
        }
        const selfLoop = component.length === 1 && children.includes(frame.id);
        if (component.length > 1 || selfLoop) {
          const names = component.reverse().map((id) => index.byId.get(id)?.name ?? id);
          warnings.push({
            code: 'group-cycle',
            message: `groups nest in a cycle: ${[...names, names[0]].join(' ⊃ ')}; each member is counted once`,
            subject: names[0] as string,
          });
        }
      }
    }
  }
  return warnings;
}

import { describe, expect, it } from 'vitest';
import { expandGroup, findGroupCycles, indexGroups, nestingPath } from '../../../src/directory/expand.js';
import type { DirectoryGroup } from '../../../src/directory/types.js';

const g = (id: string, users: string[], groups: string[] = []): DirectoryGroup => ({
  id,
  name: `name-${id}`,
  memberUserIds: users,
  memberGroupIds: groups,
});

describe('expandGroup', () => {
  it('collects nested members and keeps the shortest nesting path', () => {
    const index = indexGroups([
      g('a', ['u1'], ['b', 'c']),
      g('b', ['u2'], ['d']),
      g('c', ['u3'], ['d']),
      g('d', ['u2', 'u4']),
    ]);
    const e = expandGroup(index, 'a');
    expect([...e.holder.keys()].sort()).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(nestingPath(e, 'u1')).toEqual(['a']);
    expect(nestingPath(e, 'u2')).toEqual(['a', 'b']);
    expect(nestingPath(e, 'u4')).toEqual(['a', 'b', 'd']);
  });

  it('terminates on cycles and counts each member once', () => {
    const index = indexGroups([g('a', ['u1'], ['b']), g('b', ['u2'], ['a']), g('self', ['u3'], ['self'])]);
    expect([...expandGroup(index, 'a').holder.keys()].sort()).toEqual(['u1', 'u2']);
    expect([...expandGroup(index, 'self').holder.keys()]).toEqual(['u3']);
  });

  it('ignores member groups that do not exist', () => {
    const e = expandGroup(indexGroups([g('a', ['u1'], ['ghost'])]), 'a');
    expect([...e.holder.keys()]).toEqual(['u1']);
  });

  it('handles deep chains without recursion limits', () => {
    const chain = Array.from({ length: 20_000 }, (_, i) =>
      g(`c${i}`, [`u${i}`], i + 1 < 20_000 ? [`c${i + 1}`] : []),
    );
    const e = expandGroup(indexGroups(chain), 'c0');
    expect(e.holder.size).toBe(20_000);
    expect(nestingPath(e, 'u19999')).toHaveLength(20_000);
    expect(findGroupCycles(indexGroups(chain))).toEqual([]);
  });
});

describe('findGroupCycles', () => {
  it('reports each cycle once with its groups, and self-loops', () => {
    const index = indexGroups([
      g('a', [], ['b']),
      g('b', [], ['c']),
      g('c', [], ['a', 'd']),
      g('d', []),
      g('s', [], ['s']),
    ]);
    const warnings = findGroupCycles(index);
    expect(warnings.map((w) => w.message)).toEqual([
      'groups nest in a cycle: name-a ⊃ name-b ⊃ name-c ⊃ name-a; each member is counted once',
      'groups nest in a cycle: name-s ⊃ name-s; each member is counted once',
    ]);
    expect(warnings.every((w) => w.code === 'group-cycle')).toBe(true);
  });
});

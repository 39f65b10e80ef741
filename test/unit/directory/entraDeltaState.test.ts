// The pure half of the Entra delta source: how a round's pages merge (repeated group objects,
// members split across pages in any order, `@removed` on users, groups and members), how a round
// applies to the stored state, and which groups the snapshot hands the core.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addGroupItems,
  addUserItems,
  applyChanges,
  type DeltaState,
  emptyChanges,
  fromStored,
  type GroupDeltaItem,
  type RoundOutcome,
  StoredDeltaState,
  toSnapshot,
  toStored,
} from '../../../src/directory/entra/deltaState.js';

const U = '#microsoft.graph.user';
const G = '#microsoft.graph.group';
const removed = { '@removed': { reason: 'deleted' } };

const outcome = (kind: 'full' | 'incremental', at = '2026-12-01T10:00:00.000Z'): RoundOutcome => ({
  kind,
  at: new Date(at),
  usersDeltaLink: `https://graph.test/v1.0/users/delta?$deltatoken=${kind}-${at}`,
  groupsDeltaLink: `https://graph.test/v1.0/groups/delta?$deltatoken=${kind}-${at}`,
  origin: 'https://graph.test|t|c',
  select: 'id,mail',
});

function full(users: string[], groups: GroupDeltaItem[]): DeltaState {
  const c = emptyChanges();
  addUserItems(
    c,
    users.map((id) => ({ id, mail: `${id}@corp.example`, displayName: id })),
  );
  addGroupItems(c, groups);
  return applyChanges(undefined, c, outcome('full'));
}

const members = (state: DeltaState, id: string) => ({
  users: [...(state.groups.get(id)?.users ?? [])].sort(),
  groups: [...(state.groups.get(id)?.groups ?? [])].sort(),
});

describe('a full round', () => {
  it('merges a group repeated across pages, members split in any order, by id', () => {
    const c = emptyChanges();
    addGroupItems(c, [
      { id: 'g1', displayName: 'devin-staff', 'members@delta': [{ id: 'u1', '@odata.type': U }] },
    ]);
    addGroupItems(c, [{ id: 'g2', displayName: 'sre', 'members@delta': [{ id: 'u3', '@odata.type': U }] }]);
    addGroupItems(c, [
      {
        id: 'g1',
        'members@delta': [
          { id: 'u2', '@odata.type': U },
          { id: 'g2', '@odata.type': G },
        ],
      },
    ]);
    const s = applyChanges(undefined, c, outcome('full'));
    expect(members(s, 'g1')).toEqual({ users: ['u1', 'u2'], groups: ['g2'] });
    expect(s.groups.get('g1')?.name).toBe('devin-staff');
    expect(s.lastFullReadAt).toBe('2026-12-01T10:00:00.000Z');
  });

  it('forgets everything the previous state had that the full round did not report', () => {
    const before = full(
      ['u1', 'u2'],
      [{ id: 'g1', displayName: 'a', 'members@delta': [{ id: 'u1', '@odata.type': U }] }],
    );
    const c = emptyChanges();
    addUserItems(c, [{ id: 'u2', mail: 'u2@corp.example' }]);
    const after = applyChanges(before, c, outcome('full', '2026-12-02T10:00:00.000Z'));
    expect([...after.users.keys()]).toEqual(['u2']);
    expect(after.groups.size).toBe(0);
    // The base is untouched: a failed save keeps the old state usable.
    expect(before.users.size).toBe(2);
  });

  it('gives the same state whatever the page split and order (property)', () => {
    const memberIds = ['u1', 'u2', 'u3', 'u4', 'u5', 'g2'];
    fc.assert(
      fc.property(fc.shuffledSubarray(memberIds), fc.integer({ min: 1, max: 6 }), (present, chunk) => {
        const items: GroupDeltaItem[] = [];
        for (let i = 0; i < present.length; i += chunk) {
          items.push({
            id: 'g1',
            ...(i === 0 ? { displayName: 'devin-staff' } : {}),
            'members@delta': present
              .slice(i, i + chunk)
              .map((id) => ({ id, '@odata.type': id.startsWith('g') ? G : U })),
          });
        }
        const c = emptyChanges();
        // Pages interleaved with another group's objects, in reverse order.
        for (const item of items.reverse()) addGroupItems(c, [item, { id: 'g2', displayName: 'x' }]);
        const s = applyChanges(undefined, c, outcome('full'));
        expect(members(s, 'g1')).toEqual({
          users: present.filter((id) => id.startsWith('u')).sort(),
          groups: present.filter((id) => id.startsWith('g')).sort(),
        });
        expect(s.groups.get('g1')?.name).toBe(present.length > 0 ? 'devin-staff' : undefined);
      }),
    );
  });
});

describe('an incremental round', () => {
  const base = () =>
    full(
      ['u1', 'u2', 'u3'],
      [
        {
          id: 'g1',
          displayName: 'devin-staff',
          'members@delta': [
            { id: 'u1', '@odata.type': U },
            { id: 'g2', '@odata.type': G },
          ],
        },
        { id: 'g2', displayName: 'sre', 'members@delta': [{ id: 'u2', '@odata.type': U }] },
      ],
    );

  it('adds and removes members, keeps what it does not mention', () => {
    const c = emptyChanges();
    addGroupItems(c, [
      { id: 'g1', displayName: 'devin-staff', 'members@delta': [{ id: 'u3', '@odata.type': U }] },
      { id: 'g2', displayName: 'sre', 'members@delta': [{ id: 'u2', '@odata.type': U, ...removed }] },
    ]);
    const s = applyChanges(base(), c, outcome('incremental', '2026-12-01T11:00:00.000Z'));
    expect(members(s, 'g1')).toEqual({ users: ['u1', 'u3'], groups: ['g2'] });
    expect(members(s, 'g2')).toEqual({ users: [], groups: [] });
    expect(s.lastFullReadAt).toBe('2026-12-01T10:00:00.000Z');
    expect(s.lastRoundAt).toBe('2026-12-01T11:00:00.000Z');
    expect(s.lastRoundKind).toBe('incremental');
  });

  it('honours @removed on users and on groups, and renames', () => {
    const c = emptyChanges();
    addUserItems(c, [
      { id: 'u1', '@removed': { reason: 'changed' } },
      { id: 'u4', mail: 'u4@corp.example' },
    ]);
    addUserItems(c, [{ id: 'u2', displayName: 'Renamed' }]);
    addGroupItems(c, [
      { id: 'g2', '@removed': { reason: 'changed' } },
      { id: 'g1', displayName: 'devin-all' },
    ]);
    const s = applyChanges(base(), c, outcome('incremental'));
    expect([...s.users.keys()].sort()).toEqual(['u2', 'u3', 'u4']);
    // A changed user keeps the properties the round did not send.
    expect(s.users.get('u2')).toMatchObject({ id: 'u2', mail: 'u2@corp.example', displayName: 'Renamed' });
    expect(s.groups.has('g2')).toBe(false);
    expect(s.groups.get('g1')?.name).toBe('devin-all');
    expect(members(s, 'g1').users).toEqual(['u1']);
  });

  it('takes the last word on a member seen twice in one round', () => {
    const c = emptyChanges();
    addGroupItems(c, [{ id: 'g2', 'members@delta': [{ id: 'u3', '@odata.type': U }] }]);
    addGroupItems(c, [{ id: 'g2', 'members@delta': [{ id: 'u3', '@odata.type': U, ...removed }] }]);
    addGroupItems(c, [
      {
        id: 'g2',
        'members@delta': [
          { id: 'u1', '@odata.type': U, ...removed },
          { id: 'u1', '@odata.type': U },
        ],
      },
    ]);
    expect(members(applyChanges(base(), c, outcome('incremental')), 'g2').users).toEqual(['u1', 'u2']);
  });

  it('places a member without @odata.type by what the state knows, and ignores devices', () => {
    const c = emptyChanges();
    addGroupItems(c, [
      {
        id: 'g3',
        displayName: 'new',
        'members@delta': [{ id: 'g2' }, { id: 'u9' }, { id: 'd1', '@odata.type': '#microsoft.graph.device' }],
      },
    ]);
    expect(members(applyChanges(base(), c, outcome('incremental')), 'g3')).toEqual({
      users: ['u9'],
      groups: ['g2'],
    });
  });
});

describe('the snapshot', () => {
  it('carries every user and group; the mapped groups and the nested groups they reach with direct members', () => {
    const s = full(
      ['u1', 'u2', 'u3', 'u4'],
      [
        {
          id: 'g1',
          displayName: 'devin-staff',
          'members@delta': [
            { id: 'u1', '@odata.type': U },
            { id: 'g2', '@odata.type': G },
          ],
        },
        {
          id: 'g2',
          displayName: 'sre',
          'members@delta': [
            { id: 'u2', '@odata.type': U },
            { id: 'g3', '@odata.type': G },
          ],
        },
        {
          id: 'g3',
          displayName: 'oncall',
          'members@delta': [
            { id: 'u3', '@odata.type': U },
            { id: 'g1', '@odata.type': G },
          ],
        },
        { id: 'g4', displayName: 'unrelated', 'members@delta': [{ id: 'u4', '@odata.type': U }] },
      ],
    );
    const snap = toSnapshot(s, {
      selectors: [{ name: 'DEVIN-STAFF' }],
      toUser: (raw) => ({
        user: { id: raw.id, email: (raw.mail as string) ?? null, name: raw.id, enabled: true },
        warnings: [],
      }),
      notMapped: 'not mapped',
      source: 'entra:t',
      readAt: new Date('2026-12-01T12:00:00Z'),
      complete: true,
      incompleteReasons: [],
    });
    expect(snap.users.map((u) => u.id).sort()).toEqual(['u1', 'u2', 'u3', 'u4']);
    expect(snap.groups.map((g) => g.id)).toEqual(['g1', 'g2', 'g3', 'g4']);
    expect(snap.groups[1]).toEqual({ id: 'g2', name: 'sre', memberUserIds: ['u2'], memberGroupIds: ['g3'] });
    // As in the full read: a group no mapping reaches is listed (renames stay visible), members unread.
    expect(snap.groups[3]).toEqual({
      id: 'g4',
      name: 'unrelated',
      memberUserIds: [],
      memberGroupIds: [],
      unreadable: 'not mapped',
    });
  });
});

describe('the stored form', () => {
  it('round-trips through JSON and the schema', () => {
    const s = full(
      ['u1'],
      [{ id: 'g1', displayName: 'a', 'members@delta': [{ id: 'u1', '@odata.type': U }] }],
    );
    const back = fromStored(StoredDeltaState.parse(JSON.parse(JSON.stringify(toStored(s)))));
    expect(back).toEqual(s);
  });
});

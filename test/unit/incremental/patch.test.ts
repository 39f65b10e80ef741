import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromCompact, toCompact } from '../../../src/daemon/devinCache.js';
import { changedSubjects } from '../../../src/incremental/digest.js';
import { patchCopy } from '../../../src/incremental/patch.js';
import type { DevinSnapshot } from '../../../src/model/devin.js';
import type { Op } from '../../../src/reconcile/plan.js';

const copy: DevinSnapshot = {
  readAt: '2026-12-01T00:00:00.000Z',
  orgs: [{ id: 'o1', name: 'One' }],
  roles: [{ id: 'member', name: 'member', type: 'enterprise' }],
  registeredGroups: ['devin-a'],
  groupRoles: [{ group: 'devin-a', orgId: null, roleId: 'member' }],
  users: [
    {
      id: 'u1',
      email: 'Ann@corp.example',
      name: 'Ann',
      enterpriseRoleId: 'member',
      orgRoles: { o1: 'org_member' },
    },
    {
      id: 'u2',
      email: 'bob@corp.example',
      name: null,
      enterpriseRoleId: null,
      orgRoles: { o1: 'org_member' },
    },
  ],
};
const org = { id: 'o1', name: 'One' };
const role = { id: 'org_admin', name: 'org_admin' };

describe('patchCopy', () => {
  it('applies what was applied, and leaves the input untouched', () => {
    const ops: Op[] = [
      {
        kind: 'setOrgUserRole',
        key: 'a',
        reasons: [],
        email: 'ann@corp.example',
        userId: 'u1',
        org,
        role,
        expected: { role: { id: 'org_member', name: 'org_member' } },
      },
      {
        kind: 'removeOrgUser',
        key: 'b',
        reasons: [],
        email: 'bob@corp.example',
        userId: 'u2',
        org,
        expected: { role: { id: 'org_member', name: 'org_member' } },
      },
      {
        kind: 'registerIdpGroups',
        key: 'c',
        reasons: [],
        groups: ['devin-b'],
        expected: { registered: false },
      },
      {
        kind: 'removeGroupEnterpriseRole',
        key: 'd',
        reasons: [],
        group: 'devin-a',
        expected: { role: { id: 'member', name: 'member' } },
      },
    ];
    const r = patchCopy(copy, ops, () => 'applied');
    expect(r.snapshot.users).toEqual([{ ...copy.users[0], orgRoles: { o1: 'org_admin' } }]);
    expect(r.snapshot.registeredGroups.sort()).toEqual(['devin-a', 'devin-b']);
    expect(r.snapshot.groupRoles).toEqual([]);
    expect(r.contradicted).toEqual([]);
    expect(copy.users[0]?.orgRoles).toEqual({ o1: 'org_member' });
  });

  it('marks invites and contradicted or failed ops dirty, and skips skipped ones', () => {
    const ops: Op[] = [
      {
        kind: 'inviteUsers',
        key: 'i',
        reasons: [],
        emails: ['new@corp.example'],
        role: { id: 'member', name: 'member' },
        expected: { member: false },
      },
      {
        kind: 'addOrgUser',
        key: 'x',
        reasons: [],
        email: 'bob@corp.example',
        userId: 'u2',
        org,
        role,
        expected: { role: null },
      },
      {
        kind: 'removeUser',
        key: 'y',
        reasons: [],
        email: 'ann@corp.example',
        userId: 'u1',
        expected: { role: null },
      },
      { kind: 'unregisterIdpGroup', key: 'z', reasons: [], group: 'devin-a', expected: { registered: true } },
    ];
    const status = { i: 'applied', x: 'already', y: 'failed', z: 'skipped' } as const;
    const r = patchCopy(copy, ops, (k) => status[k as keyof typeof status]);
    expect([...r.dirty.users].sort()).toEqual(['ann@corp.example', 'bob@corp.example', 'new@corp.example']);
    expect(r.contradicted.sort()).toEqual(['x', 'y']);
    // `already`: the target holds; `failed`: nothing is assumed; `skipped`: nothing happened.
    expect(r.snapshot.users.find((u) => u.id === 'u2')?.orgRoles).toEqual({ o1: 'org_admin' });
    expect(r.snapshot.users.find((u) => u.id === 'u1')).toBeDefined();
    expect(r.snapshot.registeredGroups).toEqual(['devin-a']);
  });
});

describe('the stored copy', () => {
  it('round-trips through its compact form', () => {
    const digests = {
      users: new Map([['ann@corp.example', 'member|o1=org_member']]),
      groups: new Map([['devin-a', 'member|']]),
    };
    const dirty = { users: new Set(['bob@corp.example']), groups: new Set<string>() };
    const back = fromCompact(JSON.parse(JSON.stringify(toCompact({ snapshot: copy, digests, dirty }))));
    expect(back.snapshot).toEqual(copy);
    expect(back.digests).toEqual(digests);
    expect(back.dirty).toEqual(dirty);
  });
});

describe('digests', () => {
  it('name the users and groups whose desired access changed, either way', () => {
    const before = {
      users: new Map([
        ['a', 'm|'],
        ['b', 'm|o1=x'],
      ]),
      groups: new Map([['g', 'm|']]),
    };
    const after = {
      users: new Map([
        ['b', 'm|o1=y'],
        ['c', 'm|'],
      ]),
      groups: new Map([['g', 'm|']]),
    };
    const changed = changedSubjects(before, after);
    expect([...changed.users].sort()).toEqual(['a', 'b', 'c']);
    expect(changed.groups.size).toBe(0);
  });
});

describe('changedSubjects, against the plain definition', () => {
  // The side-by-side walk must say exactly what comparing every key by lookup says, whatever the
  // two orders: the same order, a key inserted or dropped in the middle, or shuffled throughout.
  const plain = (a: Map<string, string>, b: Map<string, string>) => {
    const out = new Set<string>();
    for (const [k, v] of a) if (b.get(k) !== v) out.add(k);
    for (const k of b.keys()) if (!a.has(k)) out.add(k);
    return [...out].sort();
  };
  const entries = fc.uniqueArray(
    fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), fc.constantFrom('x', 'y')),
    {
      selector: ([k]) => k,
      maxLength: 8,
    },
  );
  it('gives the same keys for any two maps', () => {
    fc.assert(
      fc.property(entries, entries, fc.boolean(), (x, y, aligned) => {
        // Half the cases start from one order and edit it, as two runs over one directory do.
        const b = aligned
          ? [...x.filter(([k]) => y.some(([j]) => j === k)), ...y.filter(([k]) => !x.some(([j]) => j === k))]
          : y;
        const before = new Map(x);
        const after = new Map(
          b.map(([k, v], i) => [k, i % 3 === 0 ? v : (before.get(k) ?? v)] as [string, string]),
        );
        const got = changedSubjects(
          { users: before, groups: new Map() },
          { users: after, groups: new Map() },
        );
        expect([...got.users].sort()).toEqual(plain(before, after));
      }),
      { numRuns: 500 },
    );
  });
});

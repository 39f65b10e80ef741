// The pure half of the incremental LDAP read (src/directory/ldap/incremental.ts): the change
// filters per watermark, the group clause for users the last snapshot lacked, pruning members that
// left, the doubts that force a full read, and the cached form's round trip.
import { describe, expect, it } from 'vitest';
import {
  changedSince,
  doubtAbout,
  fromStoredCache,
  groupClause,
  keptOf,
  pruneMembers,
  sharedEmail,
  toStoredCache,
  unsupported,
} from '../../../../src/directory/ldap/incremental.js';
import { resolveSettings } from '../../../../src/directory/ldap/profiles.js';
import type { DirectorySnapshot } from '../../../../src/directory/types.js';

const settings = resolveSettings({
  type: 'ldap',
  url: 'ldap://127.0.0.1:389',
  insecureSkipVerify: false,
  bindDN: 'cn=reader,dc=example,dc=com',
  bindPassword: 'x',
  profile: 'openldap',
  userBase: 'ou=people,dc=example,dc=com',
  groupBase: 'ou=groups,dc=example,dc=com',
});

function snapshot(): DirectorySnapshot {
  return {
    source: 'ldap://x',
    readAt: '2026-01-01T00:00:00.000Z',
    users: [
      { id: 'u1', email: 'a@x', name: 'a', enabled: true, ref: 'uid=a,ou=people,dc=example,dc=com' },
      { id: 'u2', email: 'b@x', name: 'b', enabled: true },
    ],
    groups: [
      { id: 'g1', name: 'eng', dn: 'cn=eng', memberUserIds: ['u1', 'u2'], memberGroupIds: ['g2'] },
      { id: 'g2', name: 'ops', memberUserIds: ['u2'], memberGroupIds: [] },
    ],
    complete: true,
    incompleteReasons: [],
    warnings: [],
  };
}

describe('changedSince', () => {
  it('AD: uSNChanged above the mark; OpenLDAP: entryCSN from the oldest contextCSN; others: none', () => {
    expect(changedSince({ kind: 'highestCommittedUSN', server: 's', value: '12345' })?.filter).toBe(
      '(uSNChanged>=12346)',
    );
    const csn1 = '20260101000000.000002Z#000000#002#000000';
    const csn2 = '20251231000000.000001Z#000000#001#000000';
    expect(changedSince({ kind: 'contextCSN', server: 's', value: `${csn1} ${csn2}` })?.filter).toBe(
      `(entryCSN>=${csn2})`,
    );
    expect(changedSince({ kind: 'entryCSN', server: 's', value: csn1 })).toBeUndefined();
    expect(changedSince({ kind: 'highestCommittedUSN', server: 's', value: 'x' })).toBeUndefined();
  });
});

describe('groupClause', () => {
  it('adds a member equality per new user and member attribute, escaped, and memberUid by name', () => {
    const clause = groupClause(settings, '(entryCSN>=c)', [
      { dn: 'uid=a*(b),ou=people,dc=example,dc=com', uids: ['a*'] },
    ]);
    expect(clause).toBe(
      '(|(entryCSN>=c)(member=uid=a\\2a\\28b\\29,ou=people,dc=example,dc=com)(uniqueMember=uid=a\\2a\\28b\\29,ou=people,dc=example,dc=com)(memberUid=a\\2a))',
    );
    expect(groupClause(settings, '(entryCSN>=c)', [])).toBe('(entryCSN>=c)');
  });
});

describe('keptOf and pruneMembers', () => {
  it('keeps what did not change, and drops members that are gone from kept groups', () => {
    const last = snapshot();
    const kept = keptOf(last, new Set(['u2', 'g2']));
    expect(kept.users.map((u) => u.id)).toEqual(['u1']);
    expect(kept.groups.map((g) => g.id)).toEqual(['g1']);
    const merged = pruneMembers({ ...last, users: kept.users, groups: kept.groups }, new Set(['u2', 'g2']));
    expect(merged.groups[0]).toMatchObject({ memberUserIds: ['u1'], memberGroupIds: [] });
    // Nothing gone: the same object.
    const whole = snapshot();
    expect(pruneMembers(whole, new Set())).toBe(whole);
  });
});

describe('doubtAbout', () => {
  const base = { newer: 1, readGroupIds: [], lastGroupIds: new Set<string>() };
  it('OpenLDAP: a moved watermark with nothing newer is a deletion it cannot see', () => {
    expect(doubtAbout({ ...base, kind: 'contextCSN', moved: true, newer: 0 })).toMatch(/deletion/);
    expect(doubtAbout({ ...base, kind: 'contextCSN', moved: false, newer: 0 })).toBeUndefined();
    expect(doubtAbout({ ...base, kind: 'highestCommittedUSN', moved: true, newer: 0 })).toBeUndefined();
  });
  it('a group the last snapshot lacked', () => {
    expect(
      doubtAbout({
        ...base,
        kind: 'contextCSN',
        moved: true,
        readGroupIds: ['g9'],
        lastGroupIds: new Set(['g1']),
      }),
    ).toMatch(/1 group not in the last snapshot/);
  });
});

describe('sharedEmail and unsupported', () => {
  it('a user read with the address of a kept user (another id) is found', () => {
    const kept = snapshot().users;
    const fresh = { id: 'u9', email: ' A@X ', name: 'n', enabled: true };
    expect(sharedEmail([...kept, fresh], kept)).toBe('a@x');
    expect(sharedEmail([...kept, { ...fresh, email: 'c@x' }], kept)).toBeUndefined();
  });
  it('memberOf membership, or a filter on memberOf, is read in full', () => {
    expect(unsupported(settings)).toBeUndefined();
    expect(unsupported({ ...settings, membership: 'memberOf' })).toMatch(/membership: memberOf/);
    expect(unsupported({ ...settings, userFilter: '(&(objectClass=user)(memberOf=cn=x))' })).toMatch(
      /tests memberOf/,
    );
  });
});

describe('the cached form', () => {
  it('round-trips, and refuses another form', () => {
    const cache = {
      fingerprint: 'f',
      mark: { kind: 'contextCSN' as const, server: 'entryUUID=x', value: 'c' },
      snapshot: snapshot(),
      uids: new Map([['u1', ['a']]]),
      lastFullReadAt: '2026-01-01T00:00:00.000Z',
      lastReadAt: '2026-01-01T00:00:00.000Z',
    };
    expect(fromStoredCache(JSON.parse(JSON.stringify(toStoredCache(cache)))).cache).toEqual(cache);
    expect(fromStoredCache({ version: 2 }).problem).toMatch(/not in the expected form/);
  });
});

// Membership models and unreadable member lists, against a real slapd (test/support/slapd.ts):
// - an olcAccess rule hides `member` of ONE groupOfNames from the bind account: the group must be
//   flagged unreadable, the read incomplete, and the plan made from it must remove none of its
//   members (the old reader saw an empty group, complete, and planned their removal);
// - RFC 2307 posixGroup/memberUid read beside member/uniqueMember, resolved through uid;
// - the old one-attribute `memberAttribute: memberUid` no longer reads groupOfNames as empty;
// - `membership: memberOf` for a bind account that may read no member list at all;
// - members that exist but are not users (a device, a contact, a posixAccount-only entry) told
//   apart from members that name nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/index.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import type { DirectoryGroup, DirectorySnapshot } from '../../src/directory/types.js';
import type { DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import { DEFAULT_GUARDRAILS, planSync, type SyncPolicy } from '../../src/reconcile/index.js';
import { EMPTY_LEDGER, type OwnershipLedger } from '../../src/state/ledger.js';
import { ldifEntry, type Slapd, startSlapd } from '../support/slapd.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const SYSTEM = `ou=system,${SUFFIX}`;
const LEGACY = `ou=legacy-groups,${SUFFIX}`;
const READER = `uid=idsync,${SYSTEM}`;
const READER_PW = 'reader-Pa55!';
/** May read no member list at all (member, uniqueMember, memberUid), but memberOf. */
const LOCKED = `uid=idsync-nomembers,${SYSTEM}`;
const LOCKED_PW = 'locked-Pa55!';

const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const group = (cn: string) => `cn=${cn},${GROUPS}`;
const SECRET = group('secret-project');
const DEVICE = `cn=laptop-17,${PEOPLE}`;
const CONTACT = `cn=Vendor Contact,${PEOPLE}`;
const GHOST = person('ghost');
const PEOPLE_UIDS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
const canonicalGuid = (i: number) => `0000000${i}-abcd-4ef0-8abc-def012345678`;
const spelledGuid = (i: number) => `{${canonicalGuid(i).toUpperCase()}}`;

const ACLS = [
  `to dn.exact="${SECRET}" attrs=member by dn.exact="${READER}" none by * break`,
  `to dn.subtree="${GROUPS}" attrs=member,uniqueMember,memberUid by dn.exact="${LOCKED}" none by * break`,
];

function preload(): string {
  const out: string[] = [];
  for (const ou of ['people', 'groups', 'system', 'legacy-groups']) {
    out.push(ldifEntry(`ou=${ou},${SUFFIX}`, { objectClass: ['top', 'organizationalUnit'], ou }));
  }
  for (const [dn, uid, pw] of [
    [READER, 'idsync', READER_PW],
    [LOCKED, 'idsync-nomembers', LOCKED_PW],
  ] as const) {
    out.push(
      ldifEntry(dn, { objectClass: ['top', 'account', 'simpleSecurityObject'], uid, userPassword: pw }),
    );
  }
  PEOPLE_UIDS.forEach((uid, i) => {
    out.push(
      ldifEntry(person(uid), {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        uid,
        cn: uid,
        sn: uid,
        mail: `${uid}@corp.example`,
        // A GUID as a Windows tool writes it: upper case, in braces.
        description: spelledGuid(i),
      }),
    );
  });
  // Entries inside userBase that are not users idsync reads (userFilter is inetOrgPerson).
  out.push(ldifEntry(DEVICE, { objectClass: ['top', 'device'], cn: 'laptop-17' }));
  out.push(
    ldifEntry(CONTACT, {
      objectClass: ['top', 'person', 'organizationalPerson'],
      cn: 'Vendor Contact',
      sn: 'V',
    }),
  );
  out.push(
    ldifEntry(person('svc-backup'), {
      objectClass: ['top', 'account', 'posixAccount'],
      uid: 'svc-backup',
      cn: 'svc-backup',
      uidNumber: '900',
      gidNumber: '900',
      homeDirectory: '/var/backups',
    }),
  );
  return out.join('');
}

/** Added live, so the memberof overlay writes memberOf on the members (groupOfNames only). */
function groupsLdif(): string {
  return [
    ldifEntry(group('engineering'), {
      objectClass: ['top', 'groupOfNames'],
      cn: 'engineering',
      description: spelledGuid(9),
      member: [person('alice'), person('bob'), DEVICE, CONTACT, GHOST],
    }),
    ldifEntry(SECRET, {
      objectClass: ['top', 'groupOfNames'],
      cn: 'secret-project',
      member: [person('carol'), person('dave')],
    }),
    ldifEntry(group('platform'), {
      objectClass: ['top', 'groupOfNames'],
      cn: 'platform',
      member: [group('engineering'), person('erin')],
    }),
    ldifEntry(group('unique-team'), {
      objectClass: ['top', 'groupOfUniqueNames'],
      cn: 'unique-team',
      uniqueMember: [person('alice')],
    }),
    ldifEntry(group('unix-admins'), {
      objectClass: ['top', 'posixGroup'],
      cn: 'unix-admins',
      gidNumber: '5000',
      memberUid: ['erin', 'frank', 'svc-backup', 'nobody-here'],
    }),
    ldifEntry(group('empty-posix'), {
      objectClass: ['top', 'posixGroup'],
      cn: 'empty-posix',
      gidNumber: '5001',
    }),
    ldifEntry(`cn=legacy,${LEGACY}`, {
      objectClass: ['top', 'groupOfNames'],
      cn: 'legacy',
      member: [person('alice')],
    }),
  ].join('');
}

let server: Slapd;

beforeAll(async () => {
  server = await startSlapd({ tls: false, acls: ACLS, preload: preload() });
  await server.add(groupsLdif());
});

afterAll(async () => {
  await server?.stop();
});

const config = (over: Partial<LdapSourceConfig> = {}): LdapSourceConfig => ({
  type: 'ldap',
  url: server.url,
  bindDN: READER,
  bindPassword: READER_PW,
  profile: 'openldap',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
  ...over,
});

const byName = (snap: DirectorySnapshot, name: string): DirectoryGroup => {
  const g = snap.groups.find((x) => x.name === name);
  if (!g) throw new Error(`no group ${name} in ${snap.groups.map((x) => x.name).join(', ')}`);
  return g;
};
const idOf = (snap: DirectorySnapshot, uid: string): string => {
  const u = snap.users.find((x) => x.email === `${uid}@corp.example`);
  if (!u) throw new Error(`no user ${uid}`);
  return u.id;
};
const ids = (snap: DirectorySnapshot, ...uids: string[]) => uids.map((u) => idOf(snap, u)).sort();
const sorted = (xs: readonly string[]) => [...xs].sort();

describe('a groupOfNames whose member list the bind account may not read', () => {
  let snap: DirectorySnapshot;
  beforeAll(async () => {
    snap = await ldapSource(config()).read();
  });

  it('is flagged unreadable with a warning naming that group only; the read stays complete', () => {
    // The ACL is real: the entry comes back, without member.
    const secret = byName(snap, 'secret-project');
    expect(secret.memberUserIds).toEqual([]);
    expect(byName(snap, 'engineering').memberUserIds.length).toBeGreaterThan(0);
    expect(secret.unreadable).toMatch(
      /^no member value was returned although objectClass groupOfNames requires one: the bind account may not read member/,
    );
    // A hidden list is not a failed read: the core holds back only what a mapping over it could
    // explain, so one hidden group elsewhere does not hold every removal of every sync.
    expect(snap.complete).toBe(true);
    expect(snap.warnings.filter((w) => w.code === 'member-list-unreadable').map((w) => w.message)).toEqual([
      expect.stringContaining(`group secret-project (${SECRET}): no member`),
    ]);
    for (const g of snap.groups.filter((x) => x.name !== 'secret-project')) {
      expect(g.unreadable, g.name).toBeUndefined();
    }
  });

  it('an empty posixGroup may be empty: no flag', () => {
    const empty = byName(snap, 'empty-posix');
    expect(empty.memberUserIds).toEqual([]);
    expect(empty.unreadable).toBeUndefined();
  });

  it('the plan removes none of its members while their Devin accounts exist and idsync owns them', () => {
    const devinUsers: DevinUser[] = ['carol', 'dave'].map((uid) => ({
      id: `devin-${uid}`,
      email: `${uid}@corp.example`,
      name: uid,
      enterpriseRoleId: 'account_member',
      orgRoles: { 'org-secret': 'org_member' },
    }));
    const devin: DevinSnapshot = {
      readAt: '2026-01-01T00:00:00.000Z',
      orgs: [{ id: 'org-secret', name: 'Secret' }],
      roles: [
        { id: 'account_admin', name: 'Admin', type: 'enterprise' },
        { id: 'account_member', name: 'Member', type: 'enterprise' },
        { id: 'org_admin', name: 'Org Admin', type: 'org' },
        { id: 'org_member', name: 'Org Member', type: 'org' },
      ],
      registeredGroups: [],
      groupRoles: [],
      users: devinUsers,
    };
    const policy: SyncPolicy = {
      mappings: [
        {
          group: { name: 'secret-project' },
          idpGroupName: 'devin-{name}',
          enterpriseRole: 'account_member',
          orgs: [{ org: 'Secret', role: 'org_member' }],
          provisionUsers: true,
        },
      ],
      scope: {
        emailDomains: ['corp.example'],
        protectedUsers: [],
        groupNamePattern: 'devin-*',
        deprovision: 'remove',
        adopt: 'matching',
      },
      rolePrecedence: [],
      guardrails: { ...DEFAULT_GUARDRAILS, maxUserRemovals: 100, maxUserRemovalPercent: 100 },
    };
    const ledger: OwnershipLedger = { ...EMPTY_LEDGER, users: ['carol@corp.example', 'dave@corp.example'] };
    const plan = planSync({ policy, directory: snap, devin, ledger });
    expect(plan.ops.filter((o) => o.kind === 'removeUser')).toEqual([]);
    // Held by the group-unreadable guard itself, not by an incomplete read.
    const held = plan.held.filter((h) => h.op.kind === 'removeUser');
    expect(held).toHaveLength(2);
    expect(held.every((h) => h.reasons.some((r) => r.guard === 'group-unreadable'))).toBe(true);

    // What the old reader handed the core: the same group as an ordinary, readable, empty group in
    // a complete read. That plan removes both.
    const naive: DirectorySnapshot = {
      ...snap,
      complete: true,
      incompleteReasons: [],
      groups: snap.groups.map(({ unreadable: _, ...g }) => g),
    };
    const naivePlan = planSync({ policy, directory: naive, devin, ledger });
    expect(naivePlan.ops.filter((o) => o.kind === 'removeUser')).toHaveLength(2);
  });
});

describe('several membership models in one read', () => {
  let snap: DirectorySnapshot;
  beforeAll(async () => {
    snap = await ldapSource(config()).read();
  });

  it('the default groupFilter selects posixGroup, and memberUid is resolved through uid, in the same pass as member, uniqueMember and nesting', () => {
    const unix = byName(snap, 'unix-admins');
    expect(sorted(unix.memberUserIds)).toEqual(ids(snap, 'erin', 'frank'));
    expect(unix.unreadable).toBeUndefined();
    expect(sorted(byName(snap, 'engineering').memberUserIds)).toEqual(ids(snap, 'alice', 'bob'));
    expect(byName(snap, 'unique-team').memberUserIds).toEqual(ids(snap, 'alice'));
    const platform = byName(snap, 'platform');
    expect(platform.memberUserIds).toEqual(ids(snap, 'erin'));
    expect(platform.memberGroupIds).toEqual([byName(snap, 'engineering').id]);
  });

  it('an explicit memberAttributes list reads every attribute in it, the same as the profile default', async () => {
    const explicit = await ldapSource(
      config({
        groupFilter: '(|(objectClass=groupOfNames)(objectClass=posixGroup))',
        memberAttributes: ['member', 'memberUid'],
        uidMemberAttributes: ['memberUid'],
      }),
    ).read();
    expect(sorted(byName(explicit, 'unix-admins').memberUserIds)).toEqual(ids(explicit, 'erin', 'frank'));
    expect(sorted(byName(explicit, 'engineering').memberUserIds)).toEqual(ids(explicit, 'alice', 'bob'));
    const same = (x: DirectorySnapshot) =>
      x.groups.filter((g) => g.name !== 'unique-team').sort((a, b) => a.name.localeCompare(b.name));
    expect(same(explicit)).toEqual(same(snap));
  });

  it('uidAttribute chooses the user attribute that memberUid names', async () => {
    // cn holds the same names here; a uidAttribute nobody has resolves nothing.
    const byCn = await ldapSource(config({ uidAttribute: 'cn' })).read();
    expect(sorted(byName(byCn, 'unix-admins').memberUserIds)).toEqual(ids(byCn, 'erin', 'frank'));
    const byNothing = await ldapSource(config({ uidAttribute: 'employeeNumber' })).read();
    expect(byName(byNothing, 'unix-admins').memberUserIds).toEqual([]);
  });

  it('the old one-attribute memberAttribute: memberUid no longer makes groupOfNames look empty', async () => {
    const old = await ldapSource(config({ memberAttribute: 'memberUid' })).read();
    expect(sorted(byName(old, 'unix-admins').memberUserIds)).toEqual(ids(old, 'erin', 'frank'));
    expect(old.warnings.filter((w) => w.code === 'member-list-unreadable')).toHaveLength(4);
    for (const name of ['engineering', 'platform', 'secret-project', 'unique-team']) {
      expect(byName(old, name).unreadable, name).toMatch(
        /which memberAttributes \(memberUid\) does not include/,
      );
    }
    expect(byName(old, 'unique-team').unreadable).toMatch(
      /groupOfUniqueNames keeps its members in uniqueMember/,
    );
    expect(byName(old, 'empty-posix').unreadable).toBeUndefined();
  });
});

describe('members that are not users, and members that name nothing', () => {
  let snap: DirectorySnapshot;
  beforeAll(async () => {
    snap = await ldapSource(config()).read();
  });

  it('a device and a contact inside userBase are member-not-a-user; a deleted entry stays unresolved-member', () => {
    const about = snap.warnings.filter((w) => w.subject === 'engineering');
    expect(about.map((w) => w.code).sort()).toEqual(['member-not-a-user', 'unresolved-member']);
    const notUser = about.find((w) => w.code === 'member-not-a-user');
    expect(notUser?.message).toMatch(
      /^group engineering: 2 member DNs naming entries that are not a user idsync reads: computers, contacts, entries userFilter excludes; ignored: /,
    );
    expect(notUser?.message).toContain(DEVICE);
    expect(notUser?.message).toContain(CONTACT);
    const ghost = about.find((w) => w.code === 'unresolved-member');
    expect(ghost?.message).toContain(GHOST);
    expect(ghost?.message).not.toContain(DEVICE);
    expect(ghost?.message).toMatch(/1 member DN naming no user .* nor any other entry/);
  });

  it('the same for memberUid: an account userFilter excludes, and a name nobody has', () => {
    const about = snap.warnings.filter((w) => w.subject === 'unix-admins');
    expect(about.find((w) => w.code === 'member-not-a-user')?.message).toContain('uid=svc-backup');
    expect(about.find((w) => w.code === 'unresolved-member')?.message).toContain('uid=nobody-here');
    expect(about).toHaveLength(2);
  });
});

describe('membership: memberOf, for a bind account that may read no member list', () => {
  it('with member lists (the default) every groupOfNames is flagged with a warning', async () => {
    const snap = await ldapSource(config({ bindDN: LOCKED, bindPassword: LOCKED_PW })).read();
    expect(snap.warnings.filter((w) => w.code === 'member-list-unreadable').length).toBeGreaterThanOrEqual(4);
    for (const name of ['engineering', 'platform', 'secret-project', 'unique-team']) {
      expect(byName(snap, name).unreadable, name).toBeDefined();
    }
  });

  it('reads member lists from memberOf on users and groups, complete', async () => {
    const snap = await ldapSource(
      config({ bindDN: LOCKED, bindPassword: LOCKED_PW, membership: 'memberOf' }),
    ).read();
    expect(snap.incompleteReasons).toEqual([]);
    expect(snap.complete).toBe(true);
    expect(sorted(byName(snap, 'engineering').memberUserIds)).toEqual(ids(snap, 'alice', 'bob'));
    expect(sorted(byName(snap, 'secret-project').memberUserIds)).toEqual(ids(snap, 'carol', 'dave'));
    const platform = byName(snap, 'platform');
    expect(platform.memberUserIds).toEqual(ids(snap, 'erin'));
    expect(platform.memberGroupIds).toEqual([byName(snap, 'engineering').id]);
    expect(snap.groups.every((g) => g.unreadable === undefined)).toBe(true);
  });

  it('a memberOf DN naming a group that was not read is a warning, not a membership', async () => {
    const snap = await ldapSource(
      config({ bindDN: LOCKED, bindPassword: LOCKED_PW, membership: 'memberOf' }),
    ).read();
    const outside = snap.warnings.find((w) => w.code === 'member-outside-base' && w.subject === 'memberOf');
    expect(outside?.message).toContain(`cn=legacy,${LEGACY}`);
    expect(snap.groups.some((g) => g.name === 'legacy')).toBe(false);
  });

  it('memberOf that nobody has (not readable, or not maintained) makes the read incomplete', async () => {
    // frank is in no groupOfNames (only the posixGroup, which the memberof overlay does not
    // track), so no user read has memberOf: exactly what an ACL hiding memberOf looks like.
    const snap = await ldapSource(
      config({ membership: 'memberOf', userFilter: '(&(objectClass=inetOrgPerson)(uid=frank))' }),
    ).read();
    expect(snap.complete).toBe(false);
    expect(snap.incompleteReasons.join('\n')).toMatch(/none of the \d+ users read has a memberOf value/);
  });
});

describe('ids on read', () => {
  it('an id attribute holding GUIDs in upper case and braces is read in canonical form', async () => {
    // description: an attribute users and groupOfNames may both hold (only engineering has one).
    const snap = await ldapSource(config({ idAttribute: 'description' })).read();
    expect(snap.users.map((u) => u.id).sort()).toEqual(PEOPLE_UIDS.map((_, i) => canonicalGuid(i)).sort());
    // and the memberships made from the DNs carry the same ids
    const engineering = byName(snap, 'engineering');
    expect(engineering.id).toBe(canonicalGuid(9));
    expect(sorted(engineering.memberUserIds)).toEqual([canonicalGuid(0), canonicalGuid(1)]);
  });
});

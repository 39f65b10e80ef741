// The Entra full read against the Graph simulator: paging (nextLink followed verbatim), only the
// mapped groups' members read, nested groups through transitive members, guests and users without
// mail, extra properties, Retry-After honoured, and a failure past the retry budget that makes the
// read incomplete, so that the real core (planSync) removes nobody.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntraSourceConfig } from '../../src/config/types.js';
import { entraSource, GraphError, NOT_MAPPED } from '../../src/directory/entra/index.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import type { DevinSnapshot } from '../../src/model/devin.js';
import {
  DEFAULT_GUARDRAILS,
  type GroupSelector,
  planSync,
  type SyncPolicy,
} from '../../src/reconcile/index.js';
import { EMPTY_LEDGER, type OwnershipLedger } from '../../src/state/ledger.js';
import {
  type GraphSimulator,
  type SimGroup,
  type SimUser,
  seedGuid,
  startGraphSimulator,
} from '../support/graphSimulator/index.js';

const TENANT = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
const CLIENT = '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e';
const SECRET = 'read-test~Secret.2b3c+4d5e';

const uid = (n: number | string): string => seedGuid(`entra-read:user:${n}`);
const gid = (name: string): string => seedGuid(`entra-read:group:${name}`);

const person = (n: number): SimUser => ({
  id: uid(n),
  displayName: `Person ${n}`,
  mail: `person${n}@corp.example`,
  userPrincipalName: `person${n}@corp.example`,
  accountEnabled: true,
  department: n % 2 === 0 ? 'Engineering' : 'Sales',
  jobTitle: null,
});

/**
 * 12 people; a guest without mail and one with; a user without mail (UPN only); a disabled user.
 * devin-staff ⊃ sre ⊃ deep (and deep ⊃ devin-staff: a cycle), devin-ops, and two groups no
 * mapping selects.
 */
function tenant(): { users: SimUser[]; groups: SimGroup[] } {
  const users: SimUser[] = [
    ...Array.from({ length: 12 }, (_, i) => person(i + 1)),
    {
      id: uid('guest'),
      displayName: 'Gwen Guest',
      mail: null,
      userPrincipalName: 'gwen_gmail.com#EXT#@corp.onmicrosoft.com',
      accountEnabled: true,
    },
    {
      id: uid('guest-mail'),
      displayName: 'Gary Guest',
      mail: 'gary@partner.example',
      userPrincipalName: 'gary_partner.example#EXT#@corp.onmicrosoft.com',
      accountEnabled: true,
    },
    {
      id: uid('nomail'),
      displayName: 'Nora No-Mail',
      mail: null,
      userPrincipalName: 'nora@corp.example',
      accountEnabled: true,
    },
    {
      id: uid('disabled'),
      displayName: 'Dora Disabled',
      mail: 'dora@corp.example',
      userPrincipalName: 'dora@corp.example',
      accountEnabled: false,
    },
  ];
  const groups: SimGroup[] = [
    {
      id: gid('staff'),
      displayName: 'devin-staff',
      members: [uid(1), uid(2), uid(3), uid('guest'), uid('guest-mail'), uid('nomail'), gid('sre')],
    },
    { id: gid('sre'), displayName: 'sre', members: [uid(4), uid(5), gid('deep')] },
    { id: gid('deep'), displayName: 'deep', members: [uid(6), uid(1), gid('staff')] },
    { id: gid('ops'), displayName: 'devin-ops', members: [uid(7), uid('disabled')] },
    { id: gid('sales'), displayName: 'sales', members: [uid(8), uid(9)] },
    { id: gid('empty'), displayName: 'all-hands', members: [] },
  ];
  return { users, groups };
}

const SELECTORS: GroupSelector[] = [{ name: 'devin-staff' }, { pattern: 'devin-o*' }];

let sim: GraphSimulator;

beforeAll(async () => {
  sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET, ...tenant() });
});

afterAll(() => sim.stop());

function config(over: Partial<EntraSourceConfig> = {}): EntraSourceConfig {
  return {
    type: 'entra',
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: 'secret', clientSecret: SECRET },
    cloud: 'public',
    authorityHost: sim.url,
    graphBaseUrl: sim.url,
    caFile: sim.caFile,
    ca: sim.caPem,
    emailAttribute: 'mail',
    emailFallbackAttribute: 'userPrincipalName',
    extraUserAttributes: ['department', 'jobTitle'],
    pageSize: 5,
    timeoutMs: 5_000,
    retryBudgetMs: 5_000,
    fullReadEvery: 86_400,
    ...over,
  };
}

const graphGets = (path: RegExp) => sim.requests.filter((r) => r.method === 'GET' && path.test(r.path));

async function read(
  over: Partial<EntraSourceConfig> = {},
  selectors = SELECTORS,
): Promise<DirectorySnapshot> {
  sim.clearRequests();
  sim.clearFaults();
  return entraSource(config(over), { mappings: selectors }).read();
}

describe('a complete read', () => {
  let snap: DirectorySnapshot;
  beforeAll(async () => {
    snap = await read();
  });

  it('pages through every user with $select and $top, following nextLink', () => {
    expect(snap.complete).toBe(true);
    expect(snap.incompleteReasons).toEqual([]);
    expect(snap.source).toBe(`entra:${TENANT}@${new URL(sim.url).host}`);
    expect(snap.users).toHaveLength(16);
    const pages = graphGets(/^\/v1\.0\/users$/);
    expect(pages).toHaveLength(4); // 16 users, 5 a page
    expect(pages[0]?.query).toEqual({
      $select: 'id,mail,userPrincipalName,displayName,accountEnabled,department,jobTitle',
      $top: '5',
    });
    expect(pages.slice(1).every((p) => p.query.$skiptoken !== undefined)).toBe(true);
  });

  it('reads the members of the mapped groups only, with ConsistencyLevel: eventual', () => {
    const memberReads = graphGets(/\/transitiveMembers\/microsoft\.graph\.user$/);
    const groupsRead = new Set(memberReads.map((r) => r.path.split('/')[3]));
    expect(groupsRead).toEqual(new Set([gid('staff'), gid('ops')]));
    expect(
      memberReads.every((r) => r.headers.consistencylevel === 'eventual' && r.query.$count === 'true'),
    ).toBe(true);
    expect(graphGets(/\/members$/)).toEqual([]);
    // Every request had the bearer token, and the only sign-in was one token.
    expect(sim.requests.filter((r) => r.path.startsWith('/v1.0/')).every((r) => r.status === 200)).toBe(true);
  });

  it('a mapped group holds its nested members (transitive, each once), and no member groups', () => {
    const staff = snap.groups.find((g) => g.id === gid('staff'));
    expect(staff).toMatchObject({ name: 'devin-staff', memberGroupIds: [] });
    expect(staff?.unreadable).toBeUndefined();
    expect(new Set(staff?.memberUserIds)).toEqual(
      new Set([
        uid(1),
        uid(2),
        uid(3),
        uid('guest'),
        uid('guest-mail'),
        uid('nomail'),
        uid(4),
        uid(5),
        uid(6),
      ]),
    );
    expect(staff?.memberUserIds).toHaveLength(9);
    expect(snap.groups.find((g) => g.id === gid('ops'))?.memberUserIds.sort()).toEqual(
      [uid(7), uid('disabled')].sort(),
    );
  });

  it('groups no mapping selects are listed with no members, marked as not read', () => {
    for (const name of ['sre', 'deep', 'sales', 'all-hands']) {
      expect(snap.groups.find((g) => g.name === name)).toMatchObject({
        memberUserIds: [],
        memberGroupIds: [],
        unreadable: NOT_MAPPED,
      });
    }
    expect(snap.groups).toHaveLength(6);
  });

  it('guests and users without mail follow the email rules; disabled users are disabled', () => {
    const user = (id: string) => snap.users.find((u) => u.id === id);
    expect(user(uid('guest'))).toMatchObject({
      email: null,
      ref: 'gwen_gmail.com#EXT#@corp.onmicrosoft.com',
      name: 'Gwen Guest',
    });
    expect(user(uid('guest-mail'))?.email).toBe('gary@partner.example');
    expect(user(uid('nomail'))?.email).toBe('nora@corp.example');
    expect(user(uid('disabled'))).toMatchObject({ enabled: false, email: 'dora@corp.example' });
    expect(user(uid(1))).toMatchObject({
      enabled: true,
      email: 'person1@corp.example',
      ref: 'person1@corp.example',
    });
  });

  it('extra properties land in attrs (nulls left out)', () => {
    expect(snap.users.find((u) => u.id === uid(2))?.attrs).toEqual({ department: 'Engineering' });
    expect(snap.users.find((u) => u.id === uid('guest'))?.attrs).toEqual({});
  });
});

describe('throttling and failures', () => {
  it('a 429 with Retry-After is waited out and the read completes', async () => {
    sim.clearRequests();
    sim.clearFaults();
    sim.fault({ path: /^\/v1\.0\/users$/, status: 429, retryAfterSeconds: 1, skip: 1 });
    const started = Date.now();
    const snap = await entraSource(config(), { mappings: SELECTORS }).read();
    expect(snap.complete).toBe(true);
    expect(snap.users).toHaveLength(16);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const pages = graphGets(/^\/v1\.0\/users$/);
    expect(pages.map((p) => p.status)).toEqual([200, 429, 200, 200, 200]);
    expect((pages[2]?.at ?? 0) - (pages[1]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('a user page failing past the budget keeps what was read and marks the read incomplete', async () => {
    sim.clearRequests();
    sim.clearFaults();
    sim.fault({ path: /^\/v1\.0\/users$/, status: 503, skip: 2, times: Number.POSITIVE_INFINITY });
    const snap = await entraSource(config({ retryBudgetMs: 1_200 }), { mappings: SELECTORS }).read();
    expect(snap.complete).toBe(false);
    expect(snap.users).toHaveLength(10);
    expect(snap.incompleteReasons).toHaveLength(1);
    expect(snap.incompleteReasons[0]).toMatch(
      /^users: page 3 of the user listing failed after 10 users: GET \/v1\.0\/users failed: 503 .*retryBudgetMs \(1200 ms\)/,
    );
  });

  it('no permission to read users is thrown, naming User.Read.All', async () => {
    // Roles travel in the token: revoking the cached one makes Graph say 401, and the fresh one
    // carries only what is granted now.
    sim.setPermissions(['GroupMember.Read.All']);
    sim.revokeTokens();
    try {
      const err = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(GraphError);
      expect((err as GraphError).permissionHint).toBe('User.Read.All');
      expect((err as GraphError).message).toMatch(
        /GET \/v1\.0\/users failed: 403 Authorization_RequestDenied: .*application permission User\.Read\.All/,
      );
    } finally {
      sim.setPermissions(['User.Read.All', 'GroupMember.Read.All', 'Group.Read.All', 'Directory.Read.All']);
      sim.revokeTokens();
    }
  });

  it('abort() stops a read in flight', async () => {
    sim.clearFaults();
    sim.fault({ path: /^\/v1\.0\/groups$/, status: 200, delayMs: 5_000, body: { value: [] } });
    const source = entraSource(config(), { mappings: SELECTORS });
    const reading = source.read().then(
      () => new Error('the read completed'),
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    source.abort('shutting down');
    expect(String(await reading)).toMatch(/EntraAbortedError: GET \/v1\.0\/groups aborted: shutting down/);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(source.read()).rejects.toThrow(/Entra read aborted: shutting down/);
    sim.clearFaults();
  });
});

describe('a member list failing mid-read, through the real core', () => {
  const devin: DevinSnapshot = {
    readAt: 't',
    orgs: [],
    roles: [
      { id: 'account_admin', name: 'Admin', type: 'enterprise' },
      { id: 'account_member', name: 'Member', type: 'enterprise' },
    ],
    registeredGroups: ['devin-staff'],
    groupRoles: [{ group: 'devin-staff', orgId: null, roleId: 'account_member' }],
    users: [
      // Granted by idsync last run; person 2 is still in devin-staff, person 12 never was.
      {
        id: 'du-2',
        email: 'person2@corp.example',
        name: 'Person 2',
        enterpriseRoleId: 'account_member',
        orgRoles: {},
      },
      {
        id: 'du-12',
        email: 'person12@corp.example',
        name: 'Person 12',
        enterpriseRoleId: 'account_member',
        orgRoles: {},
      },
    ],
  };
  const ledger: OwnershipLedger = {
    ...EMPTY_LEDGER,
    users: ['person2@corp.example', 'person12@corp.example'],
    groups: ['devin-staff'],
    groupRoles: ['*/devin-staff'],
  };
  const policy: SyncPolicy = {
    mappings: [
      {
        group: { name: 'devin-staff' },
        idpGroupName: '{name}',
        enterpriseRole: 'account_member',
        orgs: [],
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
  const removals = (snap: DirectorySnapshot) =>
    planSync({ policy, directory: snap, devin, ledger })
      .ops.filter((o) => o.kind === 'removeUser')
      .map((o) => o.key);

  it('a complete read removes the leaver (the control)', async () => {
    const snap = await read({}, [{ name: 'devin-staff' }]);
    expect(snap.complete).toBe(true);
    expect(removals(snap)).toEqual(['removeUser/person12@corp.example']);
  });

  it('a 503 past the budget on devin-staff’s members: incomplete, the group unreadable, nobody removed', async () => {
    sim.clearRequests();
    sim.clearFaults();
    sim.fault({
      path: new RegExp(`^/v1\\.0/groups/${gid('staff')}/transitiveMembers`),
      status: 503,
      retryAfterSeconds: 1,
      skip: 1,
      times: Number.POSITIVE_INFINITY,
    });
    const snap = await entraSource(config({ pageSize: 2, retryBudgetMs: 1_500 }), {
      mappings: [{ name: 'devin-staff' }],
    }).read();
    expect(snap.complete).toBe(false);
    const staff = snap.groups.find((g) => g.id === gid('staff'));
    expect(staff?.unreadable).toMatch(/^member list not read: page 2 failed after 2 members: GET .* 503/);
    expect(staff?.memberUserIds).toHaveLength(2);
    expect(snap.incompleteReasons).toEqual([`group devin-staff (${gid('staff')}): ${staff?.unreadable}`]);

    const plan = planSync({ policy, directory: snap, devin, ledger });
    expect(plan.complete).toBe(false);
    expect(plan.ops.filter((o) => o.kind === 'removeUser')).toEqual([]);
    expect(plan.held.map((h) => h.op.key)).toContain('removeUser/person12@corp.example');
    expect(
      plan.held.find((h) => h.op.key === 'removeUser/person12@corp.example')?.reasons.map((r) => r.guard),
    ).toEqual(expect.arrayContaining(['incomplete-read', 'group-unreadable']));
    expect(plan.warnings[0]?.code).toBe('incomplete-read');
    sim.clearFaults();
  });
});

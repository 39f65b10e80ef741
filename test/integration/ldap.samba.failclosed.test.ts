// FAIL CLOSED against a real Samba AD DC: things an AD admin does every day, read through the real
// connector (profile activedirectory, LDAPS) and planned by the pure planner, must never take
// access away from the eleven people in a mapped group who already have it (they are in Devin,
// owned by idsync):
//  1. the mapping names the group by objectGUID as Windows tools print it: UPPER CASE, in {braces};
//  2. the group is renamed in AD (a real ModifyDN) to a name outside scope.groupNamePattern: the
//     registry scope is not user access;
//  3. the group is deleted in AD while the mapping stays in the config.
// Each scenario has its own group (same eleven members) and a policy that maps only that group,
// with a Devin and a ledger that hold exactly what idsync made for it, so anything planned is
// caused by that scenario alone. A last case runs `idsync validate` as a process against the same
// DC: it finds the braced GUID's group and reports the deleted one.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/types.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import type { DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import {
  DEFAULT_GUARDRAILS,
  type MappingSpec,
  type Op,
  type Plan,
  planSync,
  REMOVAL_KINDS,
  ROLE_CHANGE_KINDS,
  type SyncPolicy,
} from '../../src/reconcile/index.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { EMPTY_LEDGER, groupRoleKey, type OwnershipLedger } from '../../src/state/ledger.js';
import { runIdsync } from '../support/cli.js';
import { adGroup, adOu, adUser, SAMBA_BASE_DN, type SambaDc, startSambaDc } from '../support/samba.js';

const PEOPLE = `OU=People,${SAMBA_BASE_DN}`;
const GROUPS = `OU=Groups,${SAMBA_BASE_DN}`;
const DOMAIN = 'example.test';
const ORG = { id: 'org-platform', name: 'Platform' };

const MEMBERS = Array.from({ length: 11 }, (_, i) => `eng${String(i + 1).padStart(2, '0')}`);
const EMAILS = MEMBERS.map((m) => `${m}@${DOMAIN}`);
/** In the first group only, and not in Devin: proves the group is selected (it gets invited). */
const NEWCOMER = 'newcomer';

const groupDn = (cn: string) => `CN=${cn},${GROUPS}`;
const GUID_GROUP = 'devin-eng';
const RENAMED_GROUP = 'devin-rename';
const RENAMED_TO = 'legacy-rename';
const DELETED_GROUP = 'devin-gone';

let dc: SambaDc;
let guids: Map<string, string>;

beforeAll(async () => {
  dc = await startSambaDc();
  const entries = [adOu(PEOPLE), adOu(GROUPS)];
  for (const name of [...MEMBERS, NEWCOMER])
    entries.push(adUser({ name, parent: PEOPLE, displayName: name }));
  for (const g of [GUID_GROUP, RENAMED_GROUP, DELETED_GROUP]) entries.push(adGroup(g, GROUPS));
  const memberDns = MEMBERS.map((m) => `CN=${m},${PEOPLE}`);
  const seeded = await dc.seed({
    entries,
    links: [
      { dn: groupDn(GUID_GROUP), attribute: 'member', values: [...memberDns, `CN=${NEWCOMER},${PEOPLE}`] },
      { dn: groupDn(RENAMED_GROUP), attribute: 'member', values: memberDns },
      { dn: groupDn(DELETED_GROUP), attribute: 'member', values: memberDns },
    ],
  });
  guids = seeded.guids;
}, 120_000);

afterAll(async () => {
  await dc?.stop();
});

const guidOf = (cn: string): string => {
  const g = guids.get(groupDn(cn));
  if (g === undefined) throw new Error(`not seeded: ${cn}`);
  return g;
};

const source = (): LdapSourceConfig => ({
  type: 'ldap',
  url: dc.ldapsUrl,
  caFile: dc.caFile,
  ca: dc.ca,
  bindDN: dc.adminDN,
  bindPassword: dc.adminPassword,
  profile: 'activedirectory',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
  timeoutMs: 20_000,
  connectTimeoutMs: 5_000,
});

async function read(): Promise<DirectorySnapshot> {
  const snap = await ldapSource(source()).read();
  expect(snap.complete, snap.incompleteReasons.join('\n')).toBe(true);
  return snap;
}

const mapping = (group: MappingSpec['group']): MappingSpec => ({
  group,
  idpGroupName: '{name}',
  enterpriseRole: 'account_member',
  orgs: [{ org: 'Platform', role: 'org_member' }],
  provisionUsers: true,
});

const policy = (m: MappingSpec): SyncPolicy => ({
  mappings: [m],
  scope: {
    emailDomains: [DOMAIN],
    protectedUsers: [`breakglass@${DOMAIN}`],
    groupNamePattern: 'devin-*',
    deprovision: 'remove',
    adopt: 'matching',
  },
  rolePrecedence: [],
  guardrails: DEFAULT_GUARDRAILS,
});

/** Devin as the last sync of `group` left it: its eleven members, its registry entry, its two role mappings. */
function devinFor(group: string): DevinSnapshot {
  return {
    readAt: '2026-01-01T00:00:00.000Z',
    orgs: [ORG],
    roles: [
      { id: 'account_admin', name: 'Admin', type: 'enterprise' },
      { id: 'account_member', name: 'Member', type: 'enterprise' },
      { id: 'org_admin', name: 'Org Admin', type: 'org' },
      { id: 'org_member', name: 'Org Member', type: 'org' },
    ],
    registeredGroups: [group],
    groupRoles: [
      { group, orgId: null, roleId: 'account_member' },
      { group, orgId: ORG.id, roleId: 'org_member' },
    ],
    users: [
      {
        id: 'user-breakglass',
        email: `breakglass@${DOMAIN}`,
        name: 'Break Glass',
        enterpriseRoleId: 'account_admin',
        orgRoles: {},
      },
      ...EMAILS.map(
        (email, i): DevinUser => ({
          id: `user-${i}`,
          email,
          name: MEMBERS[i] ?? email,
          enterpriseRoleId: 'account_member',
          orgRoles: { [ORG.id]: 'org_member' },
        }),
      ),
    ],
  };
}

function ledgerFor(group: string): OwnershipLedger {
  return {
    ...EMPTY_LEDGER,
    users: [...EMAILS],
    groups: [group],
    groupRoles: [groupRoleKey(group, null), groupRoleKey(group, ORG.id)],
  };
}

// ---- what a plan does to the eleven -----------------------------------------------------------

interface HeldOp {
  op: Op;
  reasons: Array<{ guard: string; message: string }>;
}

/** `plan.held`, the core's list of ops fail-closed guards held back (undefined before that change). */
const heldOf = (plan: Plan): HeldOp[] | undefined => (plan as { held?: HeldOp[] }).held;

const takesAccess = (op: Op): boolean => REMOVAL_KINDS.has(op.kind) || ROLE_CHANGE_KINDS.has(op.kind);

const emailOf = (op: Op): string | undefined =>
  'email' in op && typeof op.email === 'string' ? op.email.toLowerCase() : undefined;

const describeOps = (ops: readonly Op[]): string => ops.map((o) => o.key).join('\n');

/** No op in the plan takes anything away from anyone: no removal, no role change, no unregistering. */
function expectNothingTaken(plan: Plan): void {
  const taking = plan.ops.filter(takesAccess);
  expect(taking, `ops that take access away:\n${describeOps(taking)}`).toEqual([]);
}

function invited(plan: Plan): string[] {
  return plan.ops.flatMap((o) => (o.kind === 'inviteUsers' ? o.emails.map((e) => e.toLowerCase()) : []));
}

function run(group: string, m: MappingSpec, directory: DirectorySnapshot): Plan {
  return planSync({ policy: policy(m), directory, devin: devinFor(group), ledger: ledgerFor(group) });
}

// ---- 1. objectGUID as Windows prints it ----------------------------------------------------------

describe('a mapping selects its group by objectGUID in UPPER CASE and {braces}', () => {
  it('selects the group: nothing is removed, the eleven stay, the newcomer in the group is invited', async () => {
    const guid = guidOf(GUID_GROUP);
    expect(guid).toMatch(/^[0-9a-f-]{36}$/); // the connector and Samba print it lower case
    const windows = `{${guid.toUpperCase()}}`;
    const snap = await read();
    expect(snap.groups.find((g) => g.name === GUID_GROUP)?.memberUserIds).toHaveLength(12);

    const plan = run(GUID_GROUP, mapping({ id: windows }), snap);
    expectNothingTaken(plan);
    expect(plan.ops.filter((o) => o.kind === 'unregisterIdpGroup' || o.kind === 'removeUser')).toEqual([]);
    expect(plan.warnings.filter((w) => w.code === 'no-group-matched')).toEqual([]);
    // The group really is selected: its one member not yet in Devin is invited, and nobody else.
    expect(invited(plan)).toEqual([`${NEWCOMER}@${DOMAIN}`]);
    expect(heldOf(plan) ?? []).toEqual([]);

    // The same plan as with the GUID as the directory prints it.
    const plain = run(GUID_GROUP, mapping({ id: guid }), snap);
    expect(plan.ops.map((o) => o.key)).toEqual(plain.ops.map((o) => o.key));
  });
});

// ---- 2. renamed out of groupNamePattern ----------------------------------------------------------

describe(`the GUID-mapped group is renamed in AD to a name outside groupNamePattern ("devin-*")`, () => {
  it('keeps the access of its eleven members; its registry ops are skipped or held back, with a warning', async () => {
    const guid = guidOf(RENAMED_GROUP);
    const m = mapping({ id: guid });
    // Before: Devin matches the directory, nothing to do.
    const before = run(RENAMED_GROUP, m, await read());
    expect(before.ops, describeOps(before.ops)).toEqual([]);

    await dc.rename(groupDn(RENAMED_GROUP), `CN=${RENAMED_TO}`);
    const snap = await read();
    const renamed = snap.groups.find((g) => g.id === guid);
    expect(renamed?.name).toBe(RENAMED_TO); // same objectGUID, new cn
    expect(renamed?.memberUserIds).toHaveLength(11);

    const plan = run(RENAMED_GROUP, m, snap);
    expectNothingTaken(plan);
    const forTheEleven = plan.ops.filter((o) => EMAILS.includes(emailOf(o) ?? ''));
    expect(forTheEleven, describeOps(forTheEleven)).toEqual([]);
    // The registry is scoped by groupNamePattern: nothing outside it is registered either.
    const registered = plan.ops.flatMap((o) => (o.kind === 'registerIdpGroups' ? o.groups : []));
    expect(registered).not.toContain(RENAMED_TO);
    // And the operator is told why the group's registry entry was not touched.
    const told =
      plan.warnings.some((w) => w.message.includes(RENAMED_TO)) ||
      (heldOf(plan) ?? []).some((h) => h.reasons.some((r) => r.message.includes(RENAMED_TO)));
    expect(told, JSON.stringify(plan.warnings, null, 2)).toBe(true);
  });
});

// ---- 3. deleted while still mapped ---------------------------------------------------------------

describe('a mapped group is deleted in AD while the mapping stays in the config', () => {
  let snap: DirectorySnapshot;

  beforeAll(async () => {
    await dc.remove(groupDn(DELETED_GROUP));
    snap = await read();
  }, 60_000);

  it('removes nobody: the removals its members would get are held back, and listed as such', () => {
    expect(snap.groups.map((g) => g.name)).not.toContain(DELETED_GROUP);
    for (const selector of [{ name: DELETED_GROUP }, { id: guidOf(DELETED_GROUP) }]) {
      const plan = run(DELETED_GROUP, mapping(selector), snap);
      expectNothingTaken(plan);
      expect(plan.warnings.some((w) => w.code === 'no-group-matched')).toBe(true);

      const held = heldOf(plan);
      expect(held, 'plan.held (the core change adding it)').toBeDefined();
      const heldRemovals = (held ?? []).filter((h) => h.op.kind === 'removeUser').map((h) => emailOf(h.op));
      expect(new Set(heldRemovals)).toEqual(new Set(EMAILS));
      for (const h of held ?? []) {
        expect(h.reasons.length).toBeGreaterThan(0);
        for (const r of h.reasons) expect(r.message).not.toBe('');
      }
    }
  });

  it('`idsync validate` (a real process, same DC) finds the braced GUID and reports the deleted group as an error', async () => {
    const sim: RunningSimulator = await startSimulator({
      seed: generateSeed({ users: 3, groups: 1, orgs: 1, token: 'cog_samba_validate_9d1f' }),
    });
    const dir = await mkdtemp(join(tmpdir(), 'idsync-samba-validate-'));
    try {
      await writeFile(join(dir, 'bind.pw'), `${dc.adminPassword}\n`);
      await writeFile(join(dir, 'token'), 'cog_samba_validate_9d1f\n');
      const braced = `{${guidOf(GUID_GROUP).toUpperCase()}}`;
      await writeFile(
        join(dir, 'idsync.yaml'),
        `source:
  type: ldap
  profile: activedirectory
  url: ${dc.ldapsUrl}
  caFile: ${dc.caFile}
  bindDN: "${dc.adminDN}"
  bindPasswordFile: bind.pw
  userBase: "${PEOPLE}"
  groupBase: "${GROUPS}"
  timeoutMs: 20000
devin:
  baseUrl: ${sim.url}
  tokenFile: token
  maxRequestsPerSecond: 0
mappings:
  - group: { id: "${braced}" }
    enterpriseRole: Member
  - group: { name: ${DELETED_GROUP} }
    enterpriseRole: Member
`,
      );
      const out = await idsync(['validate', '--config', join(dir, 'idsync.yaml')], dir);
      expect(out.stdout + out.stderr).not.toContain(dc.adminPassword);
      expect(out.code).toBe(1);
      const lines = out.stdout.split('\n');
      expect(lines).toContain(
        // The config's braced upper-case GUID is canonical once loaded.
        `✓ mappings[0].group.id: id "${guidOf(GUID_GROUP).toLowerCase()}" selects group ${GUID_GROUP} (12 members, readable)`,
      );
      expect(lines).toContain(
        `✗ mappings[1].group.name: name "${DELETED_GROUP}" matches none of the 2 groups under groupBase ${GROUPS} with (objectClass=group): the mapping selects nothing`,
      );
      expect(lines).toContain(`✓ source.bindDN: bound to ldaps://${dc.ip}:636 as ${dc.adminDN}`);
    } finally {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function idsync(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runIdsync(args, cwd);
}

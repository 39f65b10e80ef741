// The incremental planner against a model of Devin (fast-check): over random worlds and sequences of
// directory changes, with idsync's writes patched into the copy, (1) whenever the copy is exact up to
// what it marks dirty, the incremental plan is the plan a full read makes of the same true state;
// (2) when others changed Devin behind the copy's back, no incremental plan removes or downgrades
// anything the full plan would not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DirectorySnapshot } from '../../../src/directory/types.js';
import {
  type DesiredDigests,
  digestDesired,
  emptySubjects,
  type Subjects,
} from '../../../src/incremental/digest.js';
import { patchCopy } from '../../../src/incremental/patch.js';
import { planIncremental } from '../../../src/incremental/planIncremental.js';
import type { DevinSnapshot, DevinSubjectReader, DevinUser } from '../../../src/model/devin.js';
import { desiredState } from '../../../src/reconcile/desiredState.js';
import {
  changesExistingAccess,
  DEFAULT_GUARDRAILS,
  type Op,
  type Plan,
  planSync,
  type SyncPolicy,
} from '../../../src/reconcile/index.js';
import { emailKey, type OwnershipLedger } from '../../../src/state/ledger.js';
import { applyOps } from '../../support/devinModel.js';
import {
  baseDevin,
  directoryArb,
  ENTERPRISE_ROLES,
  ORG_ROLES,
  ORGS,
  worldArb,
} from '../../support/reconcileWorld.js';

/** What readDevinSubjects returns, read from the true state. */
function modelReader(
  truth: () => DevinSnapshot,
  calls: { users: number; groups: number },
): DevinSubjectReader {
  return async (request) => {
    const now = truth();
    const users = new Map<string, DevinUser | null>();
    for (const r of request.users) {
      calls.users++;
      users.set(r.key, null);
      const u =
        now.users.find((x) => x.email !== null && emailKey(x.email) === r.key) ??
        (r.knownId === undefined ? undefined : now.users.find((x) => x.id === r.knownId));
      if (u) users.set(emailKey(u.email as string), { ...u, orgRoles: { ...u.orgRoles } });
    }
    if (request.groups) calls.groups++;
    return {
      users,
      ...(request.groups
        ? {
            groups: {
              registeredGroups: [...now.registeredGroups],
              groupRoles: now.groupRoles.map((g) => ({ ...g })),
            },
          }
        : {}),
    };
  };
}

/** Someone else changes Devin: the copy does not hear of it. */
const externalArb = fc.array(
  fc.record({
    pick: fc.nat(20),
    what: fc.constantFrom('remove', 'ent', 'org', 'unorg'),
    ent: fc.constantFrom(...ENTERPRISE_ROLES),
    org: fc.constantFrom(...ORGS),
    orgRole: fc.constantFrom(...ORG_ROLES),
  }),
  { maxLength: 3 },
);

function applyExternal(
  devin: DevinSnapshot,
  changes: Array<{ pick: number; what: string; ent: string; org: string; orgRole: string }>,
): DevinSnapshot {
  let users = devin.users.map((u) => ({ ...u, orgRoles: { ...u.orgRoles } }));
  for (const c of changes) {
    if (users.length === 0) break;
    const u = users[c.pick % users.length] as DevinUser;
    if (c.what === 'remove') users = users.filter((x) => x !== u);
    else if (c.what === 'ent') u.enterpriseRoleId = c.ent;
    else if (c.what === 'org') u.orgRoles[c.org] = c.orgRole;
    else delete u.orgRoles[c.org];
  }
  return {
    ...devin,
    users: users.filter((u) => u.enterpriseRoleId !== null || Object.keys(u.orgRoles).length > 0),
  };
}

const seqArb = fc.record({
  world: worldArb,
  next: fc.array(fc.tuple(directoryArb, externalArb), { minLength: 1, maxLength: 3 }),
});

interface Daemon {
  copy: DevinSnapshot;
  dirty: Subjects;
  digests: DesiredDigests;
  truth: DevinSnapshot;
  ledger: OwnershipLedger;
}

/** The first (full) run, applied: what the daemon keeps afterwards. */
function firstRun(
  policy: SyncPolicy,
  directory: DirectorySnapshot,
  devin: DevinSnapshot,
  ledger: OwnershipLedger,
): Daemon {
  const desired = desiredState(policy, directory, devin);
  const plan = planSync({ policy, directory, devin, ledger }, desired);
  return applied(
    { copy: devin, dirty: emptySubjects(), digests: digestDesired(desired), truth: devin, ledger },
    plan,
  );
}

/** Every op applied to the truth and patched into the copy. */
function applied(d: Daemon, plan: Plan): Daemon {
  const after = applyOps(d.truth, d.ledger, plan.ops);
  const patched = patchCopy(d.copy, plan.ops, () => 'applied');
  return {
    copy: patched.snapshot,
    dirty: {
      users: new Set([...d.dirty.users, ...patched.dirty.users]),
      groups: new Set([...d.dirty.groups, ...patched.dirty.groups]),
    },
    digests: d.digests,
    truth: after.devin,
    ledger: after.ledger,
  };
}

const sortOps = (ops: readonly Op[]) => [...ops].sort((a, b) => (a.key < b.key ? -1 : 1));
// PROPERTY_RUNS=5000 npx vitest run … searches longer, by hand.
const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) };

describe('incremental planning', () => {
  it('plans exactly what a full read plans, whenever the copy is exact but for what it marks dirty', async () => {
    await fc.assert(
      fc.asyncProperty(seqArb, async ({ world, next }) => {
        let d = firstRun(world.policy, world.directory, world.devin, world.ledger);
        for (const [directory] of next) {
          const calls = { users: 0, groups: 0 };
          const r = await planIncremental({
            policy: world.policy,
            directory,
            ledger: d.ledger,
            copy: d.copy,
            fullReadAt: 't',
            dirty: d.dirty,
            lastDigests: d.digests,
            read: modelReader(() => d.truth, calls),
            maxSubjects: Number.POSITIVE_INFINITY,
          });
          const full = planSync({ policy: world.policy, directory, devin: d.truth, ledger: d.ledger });
          if (r.kind !== 'planned') {
            // The one reason an exact copy still reads in full: only a full read knows every admin.
            expect(r.reason).toMatch(/last-admin rule/);
            expect(full.warnings.some((w) => w.code === 'last-admin')).toBe(true);
            return;
          }
          expect(r.plan.fingerprint).toBe(full.fingerprint);
          expect(sortOps(r.plan.ops)).toEqual(sortOps(full.ops));
          expect(sortOps(r.plan.held.map((h) => h.op))).toEqual(sortOps(full.held.map((h) => h.op)));
          expect(r.plan.guardrails).toEqual(full.guardrails);
          expect(r.plan.stats.devinUsers).toBe(full.stats.devinUsers);
          d = applied({ ...d, copy: r.devin, dirty: emptySubjects(), digests: r.digests }, r.plan);
        }
      }),
      RUNS,
    );
  });

  it('never removes or downgrades what a full read would not, when others changed Devin behind the copy', async () => {
    await fc.assert(
      fc.asyncProperty(seqArb, async ({ world, next }) => {
        let d = firstRun(world.policy, world.directory, world.devin, world.ledger);
        for (const [directory, external] of next) {
          d = { ...d, truth: applyExternal(d.truth, external) };
          const r = await planIncremental({
            policy: world.policy,
            directory,
            ledger: d.ledger,
            copy: d.copy,
            fullReadAt: 't',
            dirty: d.dirty,
            lastDigests: d.digests,
            read: modelReader(() => d.truth, { users: 0, groups: 0 }),
            maxSubjects: Number.POSITIVE_INFINITY,
          });
          if (r.kind !== 'planned') return;
          const full = planSync({ policy: world.policy, directory, devin: d.truth, ledger: d.ledger });
          const fullKeys = new Set(full.ops.map((o) => `${o.key}:${JSON.stringify(o)}`));
          for (const op of r.plan.ops.filter(changesExistingAccess)) {
            expect(fullKeys.has(`${op.key}:${JSON.stringify(op)}`), `${op.key} is not in the full plan`).toBe(
              true,
            );
          }
          // A removal the full plan would hold for approval is held by the incremental plan too.
          if (full.guardrails.verdict === 'blocked' && r.plan.ops.some(changesExistingAccess)) {
            expect(r.plan.guardrails.verdict).toBe('blocked');
          }
          d = applied({ ...d, copy: r.devin, dirty: emptySubjects(), digests: r.digests }, r.plan);
        }
      }),
      RUNS,
    );
  });

  // The two cases the second property found about the last-admin rule: a directory that grants
  // nobody, one mapped group, and a user idsync owns whom the copy and Devin see differently.
  const lastAdminCase = async (
    scope: Pick<SyncPolicy['scope'], 'emailDomains' | 'adopt'>,
    copy: DevinSnapshot,
    truth: DevinSnapshot,
    ledger: OwnershipLedger,
  ) => {
    const policy: SyncPolicy = {
      mappings: [{ group: { name: 'devin-g0' }, idpGroupName: '{name}', orgs: [], provisionUsers: false }],
      scope: { protectedUsers: [], groupNamePattern: '*', deprovision: 'remove', ...scope },
      rolePrecedence: [],
      guardrails: DEFAULT_GUARDRAILS,
    };
    const directory: DirectorySnapshot = {
      source: 'test',
      readAt: 't',
      users: [],
      groups: [{ id: 'g0', name: 'devin-g0', memberUserIds: [], memberGroupIds: [] }],
      complete: true,
      incompleteReasons: [],
      warnings: [],
    };
    const r = await planIncremental({
      policy,
      directory,
      ledger,
      copy,
      fullReadAt: 't',
      dirty: emptySubjects(),
      lastDigests: digestDesired(desiredState(policy, directory, copy)),
      read: modelReader(() => truth, { users: 0, groups: 0 }),
      maxSubjects: Number.POSITIVE_INFINITY,
    });
    return { r, full: planSync({ policy, directory, devin: truth, ledger }) };
  };
  const devinOf = (users: DevinUser[], registeredGroups: string[] = []): DevinSnapshot => ({
    ...baseDevin(),
    users,
    registeredGroups,
    groupRoles: [],
  });

  // Found by the second property (seed -1737385602): the copy still called a user the last
  // enterprise admin after someone else demoted them, so the last-admin rule kept them out of the
  // plan, they were never read again, and the plan let a group removal through that the full
  // plan held for approval with the user's removal.
  it('reads again the user the copy keeps back as the last admin', async () => {
    const user = (enterpriseRoleId: string): DevinUser => ({
      id: 'user-u0',
      email: 'u0@corp.example',
      name: 'u0',
      enterpriseRoleId,
      orgRoles: { 'org-a': 'org_admin' },
    });
    const { r, full } = await lastAdminCase(
      { emailDomains: [], adopt: 'all' },
      devinOf([user('account_admin')], ['devin-old']),
      devinOf([user('account_member')], ['devin-old']),
      { version: 1, users: ['u0@corp.example'], groups: ['devin-old'], groupRoles: [] },
    );
    expect(full.ops.map((o) => o.key)).toContain('removeUser/u0@corp.example');
    expect(r.kind).toBe('planned');
    if (r.kind !== 'planned') return;
    expect(sortOps(r.plan.ops)).toEqual(sortOps(full.ops));
    expect(r.plan.guardrails).toEqual(full.guardrails);
  });

  // Found by the same property (seed 20624611): someone else made another user an admin behind the
  // copy's back, so the copy's last admin was not the last, and the full plan removed them (and
  // held the plan for approval). Only a full read knows every admin: the run reads in full.
  it('reads Devin in full when the last-admin rule still keeps someone back', async () => {
    const u = (id: string, email: string, enterpriseRoleId: string): DevinUser => ({
      id,
      email,
      name: id,
      enterpriseRoleId,
      orgRoles: {},
    });
    const devin = (other: string) =>
      devinOf([u('leaver', 'u6@corp.example', 'account_admin'), u('other', 'x1@other.example', other)]);
    const { r, full } = await lastAdminCase(
      { emailDomains: ['corp.example'], adopt: 'matching' },
      devin('account_member'),
      devin('account_admin'),
      { version: 1, users: ['u6@corp.example'], groups: [], groupRoles: [] },
    );
    expect(full.ops.map((o) => o.key)).toContain('removeUser/u6@corp.example');
    expect(r).toEqual({ kind: 'full-needed', reason: expect.stringMatching(/last-admin rule/) });
  });
});

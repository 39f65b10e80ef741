// Property-based tests of the reconcile core (fast-check): for random directories, Devin states,
// ledgers and policies, the plan converges, never touches what it must not, and an incomplete read
// never removes anything.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { domainFilter } from '../../../src/reconcile/desiredState.js';
import {
  changesExistingAccess,
  type Op,
  planSync,
  REMOVAL_KINDS,
  ROLE_CHANGE_KINDS,
  type SyncPolicy,
} from '../../../src/reconcile/index.js';
import { emailKey, groupRoleKey, type LastRun } from '../../../src/state/ledger.js';
import { applyOps } from '../../support/devinModel.js';
import { GROUP_NAMES, worldArb } from '../../support/reconcileWorld.js';

const RUNS = { numRuns: 400 };

describe('planSync properties', () => {
  it('converges: applying the plan and planning again yields no ops', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const complete = { ...directory, complete: true, incompleteReasons: [] };
        const first = planSync({ policy, directory: complete, devin, ledger });
        const after = applyOps(devin, ledger, first.ops);
        const second = planSync({ policy, directory: complete, devin: after.devin, ledger: after.ledger });
        expect(second.ops).toEqual([]);
      }),
      RUNS,
    );
  });

  it('never touches a user outside scope, a protected user, or one it does not own or adopt', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const plan = planSync({ policy, directory, devin, ledger });
        const inDomain = domainFilter(policy.scope.emailDomains);
        const protectedUsers = new Set(policy.scope.protectedUsers.map(emailKey));
        const adoptedUsers = new Set(
          plan.ops.flatMap((o) =>
            o.kind === 'adopt' && o.target.type === 'user' ? [emailKey(o.target.email)] : [],
          ),
        );
        const invited = new Set(
          plan.ops.flatMap((o) => (o.kind === 'inviteUsers' ? o.emails.map(emailKey) : [])),
        );
        const existing = new Set(devin.users.map((u) => emailKey(u.email as string)));
        const owned = new Set(ledger.users);
        for (const op of plan.ops) {
          const emails = op.kind === 'inviteUsers' ? op.emails : 'email' in op ? [op.email] : [];
          for (const email of emails) {
            const k = emailKey(email);
            expect(inDomain(email), `${op.key} outside emailDomains`).toBe(true);
            expect(protectedUsers.has(k), `${op.key} touches a protected user`).toBe(false);
            if (existing.has(k)) {
              expect(owned.has(k) || adoptedUsers.has(k), `${op.key} touches an unowned user`).toBe(true);
            } else {
              expect(invited.has(k), `${op.key} on a user neither in Devin nor invited`).toBe(true);
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('never changes a group or mapping it does not own, register or adopt in the same plan', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const plan = planSync({ policy, directory, devin, ledger });
        const groups = new Set(ledger.groups);
        const mappings = new Set(ledger.groupRoles);
        for (const op of plan.ops) {
          if (op.kind === 'registerIdpGroups') for (const g of op.groups) groups.add(g);
          if (op.kind === 'adopt' && op.target.type === 'group') groups.add(op.target.group);
          if (op.kind === 'adopt' && op.target.type === 'groupRole')
            mappings.add(groupRoleKey(op.target.group, op.target.orgId));
        }
        const existing = new Set(devin.groupRoles.map((g) => groupRoleKey(g.group, g.orgId)));
        for (const op of plan.ops) {
          if (op.kind === 'unregisterIdpGroup') expect(groups.has(op.group), op.key).toBe(true);
          const mappingKey =
            op.kind === 'setGroupEnterpriseRole' || op.kind === 'removeGroupEnterpriseRole'
              ? groupRoleKey(op.group, null)
              : op.kind === 'setGroupOrgRole' || op.kind === 'removeGroupOrgRole'
                ? groupRoleKey(op.group, op.org.id)
                : undefined;
          if (mappingKey === undefined || !('group' in op)) continue;
          expect(groups.has(op.group), `${op.key} on an unowned group`).toBe(true);
          if (existing.has(mappingKey))
            expect(mappings.has(mappingKey), `${op.key} on an unowned mapping`).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('an incomplete read never yields a removal or a role change', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const plan = planSync({
          policy,
          directory: { ...directory, complete: false, incompleteReasons: ['x'] },
          devin,
          ledger,
        });
        const bad = plan.ops.filter(
          (o: Op) =>
            REMOVAL_KINDS.has(o.kind) ||
            ROLE_CHANGE_KINDS.has(o.kind) ||
            ((o.kind === 'setGroupEnterpriseRole' || o.kind === 'setGroupOrgRole') &&
              o.expected.role !== null),
        );
        expect(bad).toEqual([]);
        expect(plan.complete).toBe(false);
        expect(plan.warnings[0]?.code).toBe('incomplete-read');
      }),
      RUNS,
    );
  });

  it('never leaves Devin without a direct enterprise admin that it had', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const hadAdmin = devin.users.some((u) => u.enterpriseRoleId === 'account_admin');
        const complete = { ...directory, complete: true, incompleteReasons: [] };
        const plan = planSync({ policy, directory: complete, devin, ledger });
        const after = applyOps(devin, ledger, plan.ops).devin;
        if (hadAdmin) expect(after.users.some((u) => u.enterpriseRoleId === 'account_admin')).toBe(true);
      }),
      RUNS,
    );
  });

  it('is deterministic: the same inputs give the same fingerprint', () => {
    fc.assert(
      fc.property(worldArb, ({ directory, devin, policy, ledger }) => {
        const a = planSync({ policy, directory, devin, ledger });
        const b = planSync({
          policy,
          directory,
          devin: { ...devin, users: [...devin.users].reverse() },
          ledger,
        });
        expect(b.fingerprint).toBe(a.fingerprint);
      }),
      { numRuns: 200 },
    );
  });

  it('a selector miss, an unreadable group or an emptied group never removes or downgrades a user', () => {
    const indices = GROUP_NAMES.map((_, i) => i);
    const perturbArb = fc.record({
      deleted: fc.subarray(indices),
      unreadable: fc.subarray(indices),
      emptied: fc.subarray(indices),
      dropEvery: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(
      fc.property(worldArb, perturbArb, ({ directory, devin, policy: strict, ledger }, perturb) => {
        // Thresholds out of the way: with a dozen users any removal crosses 10%, and the property
        // must hold through the guards themselves, not through a blocked verdict.
        const policy: SyncPolicy = {
          ...strict,
          guardrails: {
            maxUserRemovals: 1_000_000,
            maxUserRemovalPercent: 100,
            maxGroupRemovals: 1_000_000,
            maxSourceShrinkPercent: 100,
            maxGroupShrinkPercent: 100,
          },
        };
        const truth = { ...directory, complete: true, incompleteReasons: [] };
        // The world after a sync of the true directory, with that sync as the last successful run.
        const first = planSync({ policy, directory: truth, devin, ledger });
        const synced = applyOps(devin, ledger, first.ops);
        const lastRun: LastRun = {
          at: 't',
          directoryUsers: first.stats.directoryUsers,
          fingerprint: first.fingerprint,
          mappedGroups: first.stats.mappedGroups,
          userIds: first.stats.userIds,
        };
        const world = { devin: synced.devin, ledger: { ...synced.ledger, lastSuccessfulRun: lastRun } };
        const wanted = planSync({ policy, directory: truth, ...world });

        // The same directory, seen through the misses: groups gone (only top-level ones, so no
        // other group loses members for real), member lists unreadable, top-level groups emptied.
        const nested = new Set(truth.groups.flatMap((g) => g.memberGroupIds));
        const top = (i: number) => !nested.has(`g${i}`);
        const groups = truth.groups
          .filter((_, i) => !(perturb.deleted.includes(i) && top(i)))
          .map((g) => {
            const i = Number(g.id.slice(1));
            if (perturb.emptied.includes(i) && top(i)) return { ...g, memberUserIds: [], memberGroupIds: [] };
            if (perturb.unreadable.includes(i)) {
              return {
                ...g,
                memberUserIds: g.memberUserIds.filter((_, k) => k % perturb.dropEvery === 0 && k > 0),
                unreadable: 'member attribute not returned',
              };
            }
            return g;
          });
        const seen = planSync({ policy, directory: { ...truth, groups }, ...world });

        // What runs without a human: everything when the verdict is ok, only additions when blocked.
        const runs =
          seen.guardrails.verdict === 'ok' ? seen.ops : seen.ops.filter((o) => !changesExistingAccess(o));
        const truly = new Set(wanted.ops.map(userAccessChange));
        for (const op of runs) {
          const change = userAccessChange(op);
          if (change === undefined) continue;
          expect(truly.has(change), `${op.key} comes only from a miss`).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

/** A user removal or role change as comparable text; undefined for anything else. */
function userAccessChange(op: Op): string | undefined {
  switch (op.kind) {
    case 'removeUser':
    case 'removeOrgUser':
      return op.key;
    case 'setUserEnterpriseRole':
    case 'setOrgUserRole':
      return `${op.key}->${op.role.id}`;
    default:
      return undefined;
  }
}

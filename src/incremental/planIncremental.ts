// An incremental run's planning: the directory as read now, Devin as the cached copy says (patched
// by idsync's own writes), and only the subjects that can change anything read again. Pure but for
// the injected reader, so the property test can run it against a model of Devin.
//
// Which subjects: those whose desired state differs from the last run's (digest.ts), those the copy
// marks dirty, and then every subject an op of the plan touches, read before the plan is returned
// (a second round plans again when an op named a subject not yet read). So every op of an
// incremental plan, and above all every removal, rests on what Devin says now, not on the copy.
import type { DevinSnapshot, DevinSubjectReader, DevinUser, DevinUserReadRequest } from '../model/devin.js';
import { type DesiredState, desiredState } from '../reconcile/desiredState.js';
import type { Plan } from '../reconcile/plan.js';
import { type PlanInput, planSync } from '../reconcile/planSync.js';
import { enterpriseAdminRoles } from '../reconcile/roles.js';
import { emailKey } from '../state/ledger.js';
import {
  addSubjects,
  changedSubjects,
  type DesiredDigests,
  digestDesired,
  emptySubjects,
  type Subjects,
} from './digest.js';
import { mergeFresh } from './merge.js';
import { subjectsOfOp } from './patch.js';

export interface IncrementalInput extends Omit<PlanInput, 'devin' | 'devinRead'> {
  copy: DevinSnapshot;
  /** When the copy's last full read was made. */
  fullReadAt: string;
  /** Subjects the copy is not sure of. */
  dirty: Subjects;
  /** The last run's digests: undefined means there is nothing to diff against (a full read does). */
  lastDigests: DesiredDigests | undefined;
  read: DevinSubjectReader;
  /** More subjects than this to read again: a full read is cheaper (or the change is too big). */
  maxSubjects: number;
}

export type IncrementalResult =
  | {
      kind: 'planned';
      plan: Plan;
      /** The copy with every fresh read merged in: what to store as the new copy. */
      devin: DevinSnapshot;
      digests: DesiredDigests;
      reread: Subjects;
    }
  | { kind: 'full-needed'; reason: string };

/** Rounds of "plan, read what its ops touch, plan again" before giving up on an incremental plan. */
const MAX_ROUNDS = 3;

export async function planIncremental(input: IncrementalInput): Promise<IncrementalResult> {
  if (!input.lastDigests) return { kind: 'full-needed', reason: 'no digest of the last run to compare with' };
  // Devin's orgs and roles come from the copy: desired state depends on nothing else of Devin.
  const desired = desiredState(input.policy, input.directory, input.copy);
  const digests = digestDesired(desired);
  const wanted = addSubjects(changedSubjects(input.lastDigests, digests), input.dirty);
  const read = emptySubjects();
  let devin = input.copy;

  for (let round = 0; ; round++) {
    const todo = minus(wanted, read);
    if (todo.users.size > 0 || (todo.groups.size > 0 && read.groups.size === 0)) {
      const total = addSubjects(addSubjects(emptySubjects(), read), todo);
      if (total.users.size + (total.groups.size > 0 ? 1 : 0) > input.maxSubjects) {
        return {
          kind: 'full-needed',
          reason: `${total.users.size} user(s) and ${total.groups.size} group(s) changed: more than ${input.maxSubjects} to read one by one`,
        };
      }
      const groupsToo = todo.groups.size > 0 && read.groups.size === 0;
      // Only the users to read are looked up: a map of every user (100,000 entries) per round
      // would cost more than the rest of the round.
      const byEmail = new Map<string, DevinUser>();
      for (const u of devin.users) {
        if (u.email === null) continue;
        const key = emailKey(u.email);
        if (todo.users.has(key)) byEmail.set(key, u);
      }
      const fresh = await input.read({
        users: [...todo.users].map((key) => requestOf(key, byEmail.get(key), desired)),
        groups: groupsToo ? { orgIds: devin.orgs.map((o) => o.id) } : false,
      });
      devin = mergeFresh(devin, fresh);
      addSubjects(read, todo);
      // The group listings were read whole: every group is fresh from now on.
      if (groupsToo) read.groups.add('*');
    }
    const plan = planSync(
      {
        policy: input.policy,
        directory: input.directory,
        devin,
        ledger: input.ledger,
        ...(input.now ? { now: input.now } : {}),
        devinRead: {
          kind: 'incremental',
          fullReadAt: input.fullReadAt,
          reread: { users: read.users.size, groups: read.groups.size > 0 ? 1 : 0 },
        },
      },
      desired,
    );
    const touched = [...plan.ops, ...plan.held.map((h) => h.op)];
    for (const op of touched) addSubjects(wanted, subjectsOfOp(op));
    // Users kept only to be reported count in the guardrails' share of managed users: a stale one
    // would make a removal look smaller than it is.
    for (const w of plan.warnings)
      if (w.code === 'deprovision-report' && w.subject) wanted.users.add(w.subject);
    // Whether a removal or demotion may go ahead depends on who else is an enterprise admin (the
    // last admin is never removed): those users must be as Devin says now, not as the copy does.
    // That holds too when the rule already kept someone back: the copy may call them the last
    // admin when Devin no longer does, and the removal it held back is one a full read would plan
    // (and, say, hold for approval with everything else).
    const keptAsLastAdmin = plan.warnings.some((w) => w.code === 'last-admin');
    if (
      keptAsLastAdmin ||
      touched.some((op) => op.kind === 'removeUser' || op.kind === 'setUserEnterpriseRole')
    ) {
      for (const key of possibleAdmins(devin)) wanted.users.add(key);
    }
    const missing = minus(wanted, read);
    if (missing.users.size === 0 && (missing.groups.size === 0 || read.groups.size > 0)) {
      // Still kept back with every admin the copy knows read again: someone may have become an
      // admin behind the copy's back, and then the one kept back is not the last, a full read
      // would plan their removal, and its guardrails might hold the whole plan. Only a full read
      // knows every admin; the rule fires rarely (the directory removing the last admin).
      if (keptAsLastAdmin) {
        return {
          kind: 'full-needed',
          reason: 'the last-admin rule kept an enterprise admin back: every admin must be read from Devin',
        };
      }
      return { kind: 'planned', plan, devin, digests, reread: read };
    }
    if (round + 1 >= MAX_ROUNDS) {
      return {
        kind: 'full-needed',
        reason: `the plan still named unread subjects after ${MAX_ROUNDS} rounds`,
      };
    }
  }
}

function possibleAdmins(devin: DevinSnapshot): string[] {
  const admin = enterpriseAdminRoles(devin.roles);
  const known = new Set(devin.roles.map((r) => r.id));
  return devin.users
    .filter(
      (u) =>
        u.enterpriseRoleId !== null &&
        (admin.possible.has(u.enterpriseRoleId) || !known.has(u.enterpriseRoleId)),
    )
    .flatMap((u) => (u.email === null ? [] : [emailKey(u.email)]));
}

function minus(a: Subjects, b: Subjects): Subjects {
  const out = emptySubjects();
  for (const u of a.users) if (!b.users.has(u)) out.users.add(u);
  for (const g of a.groups) if (!b.groups.has(g)) out.groups.add(g);
  return out;
}

function requestOf(key: string, known: DevinUser | undefined, desired: DesiredState): DevinUserReadRequest {
  const want = desired.users.get(key);
  const orgIds = new Set<string>([
    ...Object.keys(known?.orgRoles ?? {}),
    ...(want ? want.orgRoles.keys() : []),
  ]);
  return {
    key,
    email: known?.email ?? want?.email ?? key,
    orgIds: [...orgIds].sort(),
    ...(known ? { knownId: known.id } : {}),
  };
}

// The fail-closed pass (README "How idsync fails closed"). Pure: the diff's ops, what the directory
// read could and could not see, and the desired state in; the ops that may run and the ops held back
// out, each held op with the reasons a reviewer reads.
//
// The rule: when idsync cannot be sure why someone would lose access, it does not take it away.
// - An incomplete read holds back every change to existing access.
// - A mapping that selects nothing, or whose member list could not be read, says nothing about who
//   it grants. Any removal or downgrade that mapping could explain is held back: a user's removal
//   when it provisions users, an org removal in an org it grants, a role change to a role below the
//   one it grants. This over-approximates on purpose: without the group, idsync cannot tell which
//   users were in it.
// - A mapping whose IdP group cannot be managed this run (a name outside scope.groupNamePattern,
//   say after a rename) holds back the registry removals it could explain.
// Holds are per subject: when one op of a user or a group is held, all of that subject's changes to
// existing access are, so Devin never ends half-changed (an org mapping kept beside a removed
// enterprise mapping, which Devin refuses anyway).
import type { DesiredState, MappingUse } from './desiredState.js';
import { globMatcher } from './glob.js';
import {
  changesExistingAccess,
  type HeldOp,
  type HoldReason,
  type Op,
  opSubject,
  type PlanWarning,
  type RoleRef,
} from './plan.js';

export interface FailClosedInput {
  ops: readonly Op[];
  desired: Pick<DesiredState, 'mappingUse' | 'higherRole'>;
  /** The directory read's own verdict, and why it was not complete. */
  complete: boolean;
  incompleteReasons: readonly string[];
}

export interface FailClosedResult {
  ops: Op[];
  held: HeldOp[];
  warnings: PlanWarning[];
}

const SHOWN = 10;

export function failClosed(input: FailClosedInput): FailClosedResult {
  const reasons = new Map<Op, HoldReason[]>();
  const hold = (op: Op, reason: HoldReason) => {
    const list = reasons.get(op) ?? [];
    if (!list.some((r) => r.guard === reason.guard && r.message === reason.message)) list.push(reason);
    reasons.set(op, list);
  };

  const candidates = input.ops.filter(changesExistingAccess);
  if (!input.complete) {
    const why = input.incompleteReasons.length > 0 ? input.incompleteReasons.join('; ') : 'reason not given';
    const reason: HoldReason = {
      guard: 'incomplete-read',
      message: `the directory read was incomplete (${why}); only a complete read releases this`,
    };
    for (const op of candidates) hold(op, reason);
  }
  for (const use of input.desired.mappingUse) {
    for (const reason of use.users) {
      for (const op of candidates) if (userOpExplainedBy(op, use, input.desired.higherRole)) hold(op, reason);
    }
    if (use.groups.length > 0) {
      const couldName = idpNameMatcher(use);
      for (const reason of use.groups) {
        for (const op of candidates) {
          if (groupOpExplainedBy(op, use, couldName, input.desired.higherRole)) hold(op, reason);
        }
      }
    }
  }

  // Per subject: a subject with one held change has all of them held.
  const heldSubjects = new Map<string, HoldReason[]>();
  for (const [op, list] of reasons) {
    const subject = opSubject(op);
    if (subject === undefined) continue;
    const all = heldSubjects.get(subject) ?? [];
    for (const r of list) if (!all.includes(r)) all.push(r);
    heldSubjects.set(subject, all);
  }
  for (const op of candidates) {
    const subject = opSubject(op);
    const shared = subject === undefined ? undefined : heldSubjects.get(subject);
    if (shared) for (const r of shared) hold(op, r);
  }

  const ops: Op[] = [];
  const held: HeldOp[] = [];
  for (const op of input.ops) {
    const list = reasons.get(op);
    if (list) held.push({ op, reasons: list });
    else ops.push(op);
  }
  return { ops, held, warnings: heldWarnings(held) };
}

/** Could this mapping, had its group been usable, have kept the access this op takes away? */
function userOpExplainedBy(
  op: Op,
  use: MappingUse,
  higherRole: (a: RoleRef, b: RoleRef) => RoleRef,
): boolean {
  if (!use.spec.provisionUsers || use.enterpriseRole === null) return false;
  switch (op.kind) {
    case 'removeUser':
      return true;
    case 'removeOrgUser':
      return use.orgs.some((o) => o.org.id === op.org.id);
    case 'setUserEnterpriseRole':
      return outranks(use.enterpriseRole, op.role, higherRole);
    case 'setOrgUserRole':
      return use.orgs.some((o) => o.org.id === op.org.id && outranks(o.role, op.role, higherRole));
    default:
      return false;
  }
}

function groupOpExplainedBy(
  op: Op,
  use: MappingUse,
  couldName: (group: string) => boolean,
  higherRole: (a: RoleRef, b: RoleRef) => RoleRef,
): boolean {
  switch (op.kind) {
    case 'unregisterIdpGroup':
      return couldName(op.group);
    case 'removeGroupEnterpriseRole':
      return use.enterpriseRole !== null && couldName(op.group);
    case 'removeGroupOrgRole':
      return use.orgs.some((o) => o.org.id === op.org.id) && couldName(op.group);
    case 'setGroupEnterpriseRole':
      return (
        use.enterpriseRole !== null &&
        outranks(use.enterpriseRole, op.role, higherRole) &&
        couldName(op.group)
      );
    case 'setGroupOrgRole':
      return (
        use.orgs.some((o) => o.org.id === op.org.id && outranks(o.role, op.role, higherRole)) &&
        couldName(op.group)
      );
    default:
      return false;
  }
}

/** `granted` would win over `next` in the same scope: losing the mapping could explain the change. */
function outranks(granted: RoleRef, next: RoleRef, higherRole: (a: RoleRef, b: RoleRef) => RoleRef): boolean {
  return granted.id !== next.id && higherRole(granted, next).id === granted.id;
}

/**
 * The IdP group names a mapping could have produced: its idpGroupName template with each
 * placeholder replaced by what the selector pins down (a name selector pins `{name}`, an id selector
 * `{id}`, a pattern is itself a glob over names) and `*` otherwise.
 */
function idpNameMatcher(use: MappingUse): (group: string) => boolean {
  const sel = use.spec.group;
  const literal = (v: string) => v.replace(/[*?]/g, '?');
  const glob = use.spec.idpGroupName.replace(/\{(name|id|dn)\}/g, (_, key: string) => {
    if (key === 'name' && 'name' in sel) return literal(sel.name);
    if (key === 'name' && 'pattern' in sel) return sel.pattern;
    if (key === 'id' && 'id' in sel) return '*';
    return '*';
  });
  return globMatcher(glob);
}

function heldWarnings(held: readonly HeldOp[]): PlanWarning[] {
  const byReason = new Map<string, { reason: HoldReason; subjects: Set<string> }>();
  for (const h of held) {
    const subject = describeSubject(h.op);
    for (const r of h.reasons) {
      // planSync's own incomplete-read warning already says this one, with the count.
      if (r.guard === 'incomplete-read') continue;
      const k = `${r.guard}\u0000${r.message}`;
      const entry = byReason.get(k) ?? { reason: r, subjects: new Set<string>() };
      entry.subjects.add(subject);
      byReason.set(k, entry);
    }
  }
  return [...byReason.values()].map(({ reason, subjects }) => {
    const list = [...subjects];
    const shown = list.slice(0, SHOWN).join(', ');
    const more = list.length > SHOWN ? ` and ${list.length - SHOWN} more` : '';
    return {
      code: 'held-back',
      message: `${reason.message}: ${list.length} subject(s) keep their access this run (${shown}${more})`,
      subject: reason.guard,
    };
  });
}

function describeSubject(op: Op): string {
  const s = opSubject(op);
  return s === undefined ? op.key : s.slice(s.indexOf(':') + 1);
}

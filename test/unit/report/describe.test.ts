import { describe, expect, it } from 'vitest';
import { OP_ORDER, type Op, type PlanWarning } from '../../../src/reconcile/plan.js';
import {
  changesOf,
  describeAction,
  groupWarnings,
  PLAIN,
  phaseOf,
  planChanges,
  removalCount,
  summarizeByKind,
} from '../../../src/report/describe.js';
import { loadPlan } from './fixtures.js';

const typical = loadPlan('typical');
const opOf = <K extends Op['kind']>(kind: K, nth = 0): Extract<Op, { kind: K }> => {
  const op = typical.ops.filter((o): o is Extract<Op, { kind: K }> => o.kind === kind)[nth];
  if (!op) throw new Error(`typical.json has no ${kind} #${nth}`);
  return op;
};
const action = (op: Op) => changesOf(op).map((c) => describeAction(c, PLAIN));

describe('changesOf', () => {
  it('splits a bulk invite into one change per email, each with the reasons that name it', () => {
    const changes = changesOf(opOf('inviteUsers'));
    expect(changes.map((c) => [c.subjectType, c.subject])).toEqual([
      ['user', 'alice@corp.example'],
      ['user', 'bob@corp.example'],
    ]);
    expect(changes[0]?.reasons).toEqual([
      'alice@corp.example → Member via sre ⊂ platform-admins (mapping 1)',
    ]);
    expect(changes[1]?.reasons).toEqual(['bob@corp.example → Member via devin-platform-admins (mapping 1)']);
  });

  it('keeps all reasons of a bulk op when none names the subject', () => {
    const op: Op = { ...opOf('registerIdpGroups'), reasons: ['mapping 1 selects them all'] };
    expect(changesOf(op).map((c) => c.reasons)).toEqual([
      ['mapping 1 selects them all'],
      ['mapping 1 selects them all'],
    ]);
  });

  it('gives every change its phase, category and role transition', () => {
    const [created] = changesOf(opOf('setGroupEnterpriseRole', 0));
    const [changed] = changesOf(opOf('setGroupEnterpriseRole', 1));
    expect(created).toMatchObject({ phase: 3, category: 'add', from: null, to: { id: 'account_admin' } });
    expect(changed).toMatchObject({
      category: 'change',
      from: { name: 'Contractor' },
      to: { name: 'Member' },
    });
    const [removal] = changesOf(opOf('removeOrgUser'));
    expect(removal).toMatchObject({ phase: 9, category: 'remove', org: { name: 'Data' }, to: null });
    expect(changesOf(opOf('adopt', 2))[0]).toMatchObject({ category: 'adopt', org: { id: 'org-data' } });
  });
});

describe('describeAction', () => {
  it('says what each kind does, naming roles and orgs by name with their id', () => {
    expect(action(opOf('adopt', 0))).toEqual(['Adopt the existing user (ownership only; no API call)']);
    expect(action(opOf('adopt', 2))).toEqual([
      'Adopt the existing role mapping in org org-data (ownership only; no API call)',
    ]);
    expect(action(opOf('setGroupEnterpriseRole', 0))).toEqual([
      'Map to enterprise role Admin (account_admin)',
    ]);
    expect(action(opOf('setGroupOrgRole', 1))).toEqual([
      'Change role in org Data (org-data): Org Member (org_member) → Org Admin (org_admin)',
    ]);
    expect(action(opOf('inviteUsers'))[0]).toBe('Invite to the enterprise as Member (account_member)');
    expect(action(opOf('addOrgUser'))).toEqual([
      'Add to org Platform (org-platform) as Org Admin (org_admin)',
    ]);
    expect(action(opOf('removeUser'))).toEqual([
      'Remove from the enterprise, currently Member (account_member)',
    ]);
    expect(action(opOf('unregisterIdpGroup'))).toEqual(["Unregister from Devin's IdP-group registry"]);
  });

  it('shows a name alone when it equals the id', () => {
    const op: Op = { ...opOf('setUserEnterpriseRole'), role: { id: 'admin', name: 'admin' } };
    expect(action(op)).toEqual(['Change enterprise role: Member (account_member) → admin']);
  });
});

describe('plan-level helpers', () => {
  it('lists changes in execution order and counts by kind in OP_ORDER', () => {
    const shuffled = { ...typical, ops: [...typical.ops].reverse() };
    const phases = planChanges(shuffled).map((c) => c.phase);
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(summarizeByKind(shuffled).map((s) => s.kind)).toEqual([...OP_ORDER]);
    expect(summarizeByKind(typical).find((s) => s.kind === 'inviteUsers')).toMatchObject({
      ops: 1,
      subjects: 2,
    });
    expect(phaseOf('adopt')).toBe(1);
    expect(phaseOf('unregisterIdpGroup')).toBe(13);
  });

  it('counts the changes to existing access for --allow-removals: removals and role changes', () => {
    // 5 removals and 4 changes of an existing role (user and group mappings).
    expect(removalCount(typical)).toBe(9);
    expect(removalCount(loadPlan('blocked'))).toBe(10);
    expect(removalCount(loadPlan('empty'))).toBe(0);
  });

  it('groups warnings by code, incomplete reads first', () => {
    const w = (code: PlanWarning['code']): PlanWarning => ({ code, message: code });
    const groups = groupWarnings([w('group-cycle'), w('not-owned'), w('incomplete-read'), w('group-cycle')]);
    expect(groups.map((g) => [g.code, g.warnings.length])).toEqual([
      ['incomplete-read', 1],
      ['group-cycle', 2],
      ['not-owned', 1],
    ]);
  });
});

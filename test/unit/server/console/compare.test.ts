// What changed since the previous run, change by change: a person added to the directory shows as
// new changes, a change applied since shows as gone, a new target role as one gone and one new.
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../../src/reconcile/plan.js';
import { planChanges } from '../../../../src/report/index.js';
import { changeKey, comparePlans } from '../../../../src/server/console/compare.js';
import { loadPlan } from '../../report/fixtures.js';

describe('comparePlans', () => {
  const typical = loadPlan('typical');

  it('the same plan: nothing new, nothing gone', () => {
    const c = comparePlans(typical, typical);
    expect(c).toEqual({ added: [], gone: [], same: planChanges(typical).length });
  });

  it('from nothing: everything is new; to nothing: everything is gone', () => {
    const empty: Plan = { ...typical, ops: [] };
    expect(comparePlans(typical, empty).added).toHaveLength(planChanges(typical).length);
    expect(comparePlans(empty, typical).gone).toHaveLength(planChanges(typical).length);
  });

  it('follows people across re-batched bulk ops and tells a new target role apart', () => {
    const invite = typical.ops.find((o) => o.kind === 'inviteUsers');
    if (invite?.kind !== 'inviteUsers') throw new Error('the typical plan invites users');
    // The same people in another batch with another key: not a change of its own.
    const rebatched: Plan = {
      ...typical,
      ops: typical.ops.map((o) =>
        o === invite ? { ...invite, key: 'inviteUsers/x/batch-9', emails: [...invite.emails].reverse() } : o,
      ),
    };
    expect(comparePlans(rebatched, typical).added).toEqual([]);
    const promoted: Plan = {
      ...typical,
      ops: typical.ops.map((o) =>
        o === invite ? { ...invite, role: { id: 'account_admin', name: 'Admin' } } : o,
      ),
    };
    const c = comparePlans(promoted, typical);
    expect(c.added.map((x) => x.subject).sort()).toEqual([...invite.emails].sort());
    expect(c.gone.map((x) => x.subject).sort()).toEqual([...invite.emails].sort());
    expect(changeKey(c.added[0] as (typeof c.added)[0])).toContain('account_admin');
  });
});

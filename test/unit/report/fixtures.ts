import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HeldOp, Op, Plan, PlanWarning } from '../../../src/reconcile/plan.js';
import { parsePlanJson } from '../../../src/report/json.js';

export type FixtureName = 'empty' | 'typical' | 'blocked' | 'incomplete' | 'hostile';

export function fixturePath(name: FixtureName): string {
  return fileURLToPath(new URL(`../../fixtures/plans/${name}.json`, import.meta.url));
}

export function fixtureText(name: FixtureName): string {
  return readFileSync(fixturePath(name), 'utf8');
}

/** Loaded through the real reader, so every fixture is also a parser test. */
export function loadPlan(name: FixtureName): Plan {
  return parsePlanJson(fixtureText(name), `${name}.json`);
}

export interface ScaleSpec {
  removals?: number;
  roleChanges?: number;
  additions?: number;
  /** Held user removals, spread over `heldReasons` hold reasons (default 1). */
  held?: number;
  heldReasons?: number;
  /** `user-disabled` warnings. */
  warnings?: number;
}

const ORG = { id: 'org-data', name: 'Data' };
const MEMBER = { id: 'org_member', name: 'Org Member' };
const ADMIN = { id: 'org_admin', name: 'Org Admin' };

/**
 * The typical plan grown to any size: `removals` user removals, `roleChanges` org role changes,
 * `additions` org additions (in that order in the ops: additions run first, removals last).
 */
export function scaledPlan(spec: ScaleSpec): Plan {
  const base = loadPlan('typical');
  const n = (k: number | undefined) => Array.from({ length: k ?? 0 }, (_, i) => i);
  const email = (what: string, i: number) => `${what}${i}@corp.example`;
  const ops: Op[] = [
    ...n(spec.additions).map(
      (i): Op => ({
        kind: 'addOrgUser',
        key: `addOrgUser/org-data/${email('joiner', i)}`,
        email: email('joiner', i),
        userId: null,
        org: ORG,
        role: MEMBER,
        expected: { role: null },
        reasons: [`${email('joiner', i)} → Data/Org Member via data (mappings[3])`],
      }),
    ),
    ...n(spec.roleChanges).map(
      (i): Op => ({
        kind: 'setOrgUserRole',
        key: `setOrgUserRole/org-data/${email('lead', i)}`,
        email: email('lead', i),
        userId: `user-lead-${i}`,
        org: ORG,
        role: ADMIN,
        expected: { role: MEMBER },
        reasons: [`${email('lead', i)} → Data/Org Admin via data-leads (mappings[4])`],
      }),
    ),
    ...n(spec.removals).map(
      (i): Op => ({
        kind: 'removeUser',
        key: `removeUser/${email('leaver', i)}`,
        email: email('leaver', i),
        userId: `user-leaver-${i}`,
        expected: { role: { id: 'account_member', name: 'Member' } },
        reasons: [`${email('leaver', i)} left the directory scope (disabled)`],
      }),
    ),
  ];
  const reasons = Math.max(1, spec.heldReasons ?? 1);
  const held: HeldOp[] = n(spec.held).map((i) => ({
    op: {
      kind: 'removeUser',
      key: `removeUser/${email('kept', i)}`,
      email: email('kept', i),
      userId: `user-kept-${i}`,
      expected: { role: { id: 'account_member', name: 'Member' } },
      reasons: [`${email('kept', i)} is in no mapped group`],
    },
    reasons: [
      {
        guard: 'selector-miss',
        message: `mappings[${i % reasons}] selects no directory group this run`,
      },
    ],
  }));
  const warnings: PlanWarning[] = n(spec.warnings).map((i) => ({
    code: 'user-disabled',
    message: `${email('gone', i)} is disabled in the directory`,
    subject: email('gone', i),
  }));
  return { ...base, ops, held, warnings: [...base.warnings, ...warnings] };
}

import { describe, expect, it } from 'vitest';
import { OP_ORDER, type Plan } from '../../../src/reconcile/plan.js';
import { PlanFileError, parsePlanJson, renderJson } from '../../../src/report/json.js';
import { type FixtureName, fixtureText, loadPlan } from './fixtures.js';

const ALL: FixtureName[] = ['empty', 'typical', 'blocked', 'incomplete', 'hostile'];

function parseError(doc: unknown, source = 'plan.json'): PlanFileError {
  try {
    parsePlanJson(typeof doc === 'string' ? doc : JSON.stringify(doc), source);
  } catch (err) {
    if (err instanceof PlanFileError) return err;
    throw err;
  }
  throw new Error('expected a PlanFileError');
}

/** The typical plan as plain JSON data, to break in one place per test. */
function typicalDoc(): Record<string, unknown> & { ops: Array<Record<string, unknown>> } {
  return JSON.parse(fixtureText('typical'));
}

/** Same values, every object's keys in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reverseKeys(v)]),
    );
  }
  return value;
}

describe('renderJson', () => {
  it.each(ALL)('round-trips the %s fixture without loss', (name) => {
    const plan = loadPlan(name);
    const text = renderJson(plan);
    expect(JSON.parse(text)).toEqual(JSON.parse(fixtureText(name)));
    expect(parsePlanJson(text, 'again')).toEqual(plan);
    expect(renderJson(parsePlanJson(text, 'again'))).toBe(text);
  });

  it('uses 2-space indentation and ends with one newline', () => {
    const text = renderJson(loadPlan('typical'));
    expect(text.startsWith('{\n  "version": 1,\n  "createdAt": ')).toBe(true);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
  });

  it('writes keys in the fixed order whatever order the plan object has', () => {
    const plan = loadPlan('typical');
    const scrambled = reverseKeys(plan) as Plan;
    expect(Object.keys(scrambled)[0]).toBe('fingerprint');
    const text = renderJson(scrambled);
    expect(text).toBe(renderJson(plan));
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual([
      'version',
      'createdAt',
      'summary',
      'ops',
      'held',
      'warnings',
      'guardrails',
      'complete',
      'stats',
      'fingerprint',
    ]);
    expect(Object.keys(doc.guardrails)).toEqual(['verdict', 'reasons']);
    expect(Object.keys(doc.stats)).toEqual([
      'directoryUsers',
      'directoryGroups',
      'devinUsers',
      'devinGroups',
      'managedUsers',
      'mappedGroups',
      'userIds',
    ]);
  });

  it('puts kind and key first and expected, reasons last in every op, with refs as {id, name}', () => {
    const doc = JSON.parse(renderJson(reverseKeys(loadPlan('typical')) as Plan));
    for (const op of doc.ops as Array<Record<string, unknown>>) {
      const keys = Object.keys(op);
      expect(keys.slice(0, 2)).toEqual(['kind', 'key']);
      expect(keys.slice(-2)).toEqual(['expected', 'reasons']);
    }
    const orgRole = doc.ops.find(
      (o: { kind: string; expected: { role?: unknown } }) => o.kind === 'setGroupOrgRole' && o.expected.role,
    );
    expect(Object.keys(orgRole)).toEqual(['kind', 'key', 'group', 'org', 'role', 'expected', 'reasons']);
    expect(Object.keys(orgRole.org)).toEqual(['id', 'name']);
    expect(Object.keys(orgRole.expected.role)).toEqual(['id', 'name']);
    const adopt = doc.ops.find(
      (o: { kind: string; target: { type: string } }) => o.target?.type === 'groupRole',
    );
    expect(Object.keys(adopt.target)).toEqual(['type', 'group', 'orgId']);
  });

  it('orders the summary by execution order', () => {
    const plan = loadPlan('typical');
    const reversed: Plan['summary'] = {};
    for (const kind of [...OP_ORDER].reverse()) reversed[kind] = plan.summary[kind];
    const doc = JSON.parse(renderJson({ ...plan, summary: reversed }));
    expect(Object.keys(doc.summary)).toEqual([...OP_ORDER]);
  });

  it('omits an absent warning subject instead of writing null', () => {
    const doc = JSON.parse(renderJson(loadPlan('incomplete')));
    const kiosk = doc.warnings.find((w: { message: string }) => w.message.includes('kiosk'));
    expect(Object.keys(kiosk)).toEqual(['code', 'message']);
    expect(Object.keys(doc.warnings[0])).toEqual(['code', 'message', 'subject']);
  });

  it('drops fields that are not part of the format', () => {
    const plan = loadPlan('typical');
    const withExtra = { ...plan, debug: true, ops: plan.ops.map((op) => ({ ...op, note: 'x' })) } as Plan;
    expect(renderJson(withExtra)).toBe(renderJson(plan));
  });
});

describe('parsePlanJson', () => {
  it('reads a plan with every op kind and every adopt target', () => {
    const plan = loadPlan('typical');
    expect(new Set(plan.ops.map((o) => o.kind))).toEqual(new Set(OP_ORDER));
    const targets = plan.ops.flatMap((o) => (o.kind === 'adopt' ? [o.target.type] : []));
    expect(targets.sort()).toEqual(['group', 'groupRole', 'user']);
  });

  it('names the source when the text is not JSON', () => {
    const err = parseError('{ "version": 1,', 'out/plan.json');
    expect(err.message).toMatch(/^out\/plan\.json is not valid JSON: /);
    expect(err.source).toBe('out/plan.json');
  });

  it('refuses another format version with a message about versions only', () => {
    const err = parseError({ ...typicalDoc(), version: 2, ops: 'whatever' });
    expect(err.message).toBe('plan.json: unsupported plan version 2; this idsync reads version 1');
    expect(err.issues).toEqual([{ path: 'version', message: expect.stringContaining('version 2') }]);
  });

  it('requires the version', () => {
    const { version: _, ...rest } = typicalDoc();
    const err = parseError(rest);
    expect(err.issues[0]?.path).toBe('version');
  });

  it('rejects an unknown op kind at its path', () => {
    const doc = typicalDoc();
    doc.ops[3] = { ...doc.ops[3], kind: 'deleteEverything' };
    const err = parseError(doc, 'saved.json');
    expect(err.message).toContain('saved.json is not a valid idsync plan');
    expect(err.message).toContain('at ops[3].kind:');
    expect(err.issues[0]?.path).toBe('ops[3].kind');
  });

  it('rejects unknown fields in an op', () => {
    const doc = typicalDoc();
    doc.ops[0] = { ...doc.ops[0], force: true };
    const err = parseError(doc);
    expect(err.issues).toEqual([{ path: 'ops[0]', message: 'unknown field(s) force' }]);
  });

  it('rejects a missing or malformed field with the path to it', () => {
    const doc = typicalDoc();
    const invite = doc.ops.findIndex((o) => o.kind === 'inviteUsers');
    doc.ops[invite] = { ...doc.ops[invite], role: { id: 'account_member' } };
    const err = parseError(doc);
    expect(err.issues[0]?.path).toBe(`ops[${invite}].role.name`);
    expect(err.message).toContain(`at ops[${invite}].role.name:`);
  });

  it('rejects an expected state the op kind cannot have', () => {
    const doc = typicalDoc();
    const add = doc.ops.findIndex((o) => o.kind === 'addOrgUser');
    doc.ops[add] = { ...doc.ops[add], expected: { role: { id: 'org_admin', name: 'Org Admin' } } };
    expect(parseError(doc).issues[0]?.path).toBe(`ops[${add}].expected.role`);
  });

  it('holds bulk ops to the documented limit of 100', () => {
    const doc = typicalDoc();
    const invite = doc.ops.findIndex((o) => o.kind === 'inviteUsers');
    const emails = Array.from({ length: 101 }, (_, i) => `u${i}@corp.example`);
    doc.ops[invite] = { ...doc.ops[invite], emails };
    expect(parseError(doc).issues[0]?.path).toBe(`ops[${invite}].emails`);
  });

  it('rejects two ops with one key', () => {
    const doc = typicalDoc();
    doc.ops[5] = { ...doc.ops[5], key: doc.ops[4]?.key };
    expect(parseError(doc).issues).toEqual([
      { path: 'ops[5].key', message: 'duplicate op key (also ops[4])' },
    ]);
  });

  it('rejects unknown warning codes, summary kinds and verdicts', () => {
    const doc = {
      ...typicalDoc(),
      warnings: [{ code: 'mystery', message: 'x' }],
      summary: { inviteUsers: 1, nuke: 3 },
      guardrails: { verdict: 'maybe', reasons: [] },
    };
    const paths = parseError(doc).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['warnings[0].code', 'summary', 'guardrails.verdict']));
  });

  it('lists at most five problems and says how many more there are', () => {
    const doc = typicalDoc();
    doc.ops = doc.ops.map((op) => ({ ...op, reasons: 'none' }));
    const err = parseError(doc);
    expect(err.issues).toHaveLength(doc.ops.length);
    expect(err.message.split('\n').filter((l) => l.startsWith('  at '))).toHaveLength(5);
    expect(err.message).toContain(`…and ${doc.ops.length - 5} more`);
  });

  it('rejects a document that is not an object', () => {
    expect(parseError('[]').issues[0]?.path).toBe('');
    expect(parseError('[]').message).toContain('at (document):');
  });
});

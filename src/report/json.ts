// The plan's JSON form (docs/design.md §5): what `plan --json` prints, what `--out` saves and what
// `apply plan.json` reads back. Key order is fixed so a re-plan diffs cleanly in review, and the
// reader is strict so a hand-edited or foreign file fails loudly instead of applying half-understood.
import * as z from 'zod';
import type { WarningCode } from '../reconcile/plan.js';
import {
  type HeldOp,
  HOLD_GUARDS,
  type HoldGuard,
  OP_ORDER,
  type Op,
  type OpKind,
  type Plan,
  type PlanWarning,
} from '../reconcile/plan.js';
import { jsonChunks, Mapped } from './jsonChunks.js';

const WARNING_CODES = [
  'user-without-email',
  'duplicate-email',
  'user-disabled',
  'unresolved-member',
  'member-outside-base',
  'group-cycle',
  'incomplete-read',
  'unknown-role',
  'unknown-org',
  'no-group-matched',
  'out-of-scope',
  'protected-user',
  'not-owned',
  'last-admin',
  'deprovision-report',
  'idp-group-name-conflict',
  'direct-access-conflict',
  'invalid-email',
  'member-not-a-user',
  'member-list-unreadable',
  'held-back',
  'invalid-idp-group-name',
  'email-changed',
  'adopt-strips-access',
  'group-renamed',
] as const satisfies readonly WarningCode[];

// A code added to WarningCode must be added above, or plans carrying it would not load back.
const everyWarningCodeListed: [Exclude<WarningCode, (typeof WARNING_CODES)[number]>] extends [never]
  ? true
  : false = true;
void everyWarningCodeListed;

const BULK_LIMIT = 100;

const nonEmpty = z.string().min(1);
const email = z.string().regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address');
const ref = z.strictObject({ id: nonEmpty, name: z.string() });
const reasons = z.array(z.string());

const opSchemas = [
  z.strictObject({
    kind: z.literal('registerIdpGroups'),
    key: nonEmpty,
    groups: z.array(nonEmpty).min(1).max(BULK_LIMIT),
    expected: z.strictObject({ registered: z.literal(false) }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('setGroupEnterpriseRole'),
    key: nonEmpty,
    group: nonEmpty,
    role: ref,
    expected: z.strictObject({ role: ref.nullable() }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('setGroupOrgRole'),
    key: nonEmpty,
    group: nonEmpty,
    org: ref,
    role: ref,
    expected: z.strictObject({ role: ref.nullable() }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('inviteUsers'),
    key: nonEmpty,
    emails: z.array(email).min(1).max(BULK_LIMIT),
    role: ref,
    expected: z.strictObject({ member: z.literal(false) }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('setUserEnterpriseRole'),
    key: nonEmpty,
    email,
    userId: nonEmpty,
    role: ref,
    expected: z.strictObject({ role: ref }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('addOrgUser'),
    key: nonEmpty,
    email,
    userId: nonEmpty.nullable(),
    org: ref,
    role: ref,
    expected: z.strictObject({ role: z.null() }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('setOrgUserRole'),
    key: nonEmpty,
    email,
    userId: nonEmpty,
    org: ref,
    role: ref,
    expected: z.strictObject({ role: ref }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('removeOrgUser'),
    key: nonEmpty,
    email,
    userId: nonEmpty,
    org: ref,
    expected: z.strictObject({ role: ref }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('removeUser'),
    key: nonEmpty,
    email,
    userId: nonEmpty,
    expected: z.strictObject({ role: ref.nullable() }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('removeGroupOrgRole'),
    key: nonEmpty,
    group: nonEmpty,
    org: ref,
    expected: z.strictObject({ role: ref }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('removeGroupEnterpriseRole'),
    key: nonEmpty,
    group: nonEmpty,
    expected: z.strictObject({ role: ref }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('unregisterIdpGroup'),
    key: nonEmpty,
    group: nonEmpty,
    expected: z.strictObject({ registered: z.literal(true) }),
    reasons,
  }),
  z.strictObject({
    kind: z.literal('adopt'),
    key: nonEmpty,
    target: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('user'), email }),
      z.strictObject({ type: z.literal('group'), group: nonEmpty }),
      z.strictObject({ type: z.literal('groupRole'), group: nonEmpty, orgId: nonEmpty.nullable() }),
    ]),
    expected: z.strictObject({ exists: z.literal(true) }),
    reasons,
  }),
] as const;

const opSchema = z.discriminatedUnion('kind', opSchemas);

const count = z.number().int().nonnegative();

const planSchema = z
  .strictObject({
    version: z.literal(1),
    createdAt: z.iso.datetime({ offset: true }),
    summary: z.partialRecord(z.enum(OP_ORDER as [OpKind, ...OpKind[]]), count),
    ops: z.array(opSchema),
    // Plans saved before 0.2 have no held ops.
    held: z
      .array(
        z.strictObject({
          op: opSchema,
          reasons: z
            .array(
              z.strictObject({
                guard: z.enum(HOLD_GUARDS as [HoldGuard, ...HoldGuard[]]),
                message: z.string(),
              }),
            )
            .min(1),
        }),
      )
      .default([]),
    warnings: z.array(
      z.strictObject({ code: z.enum(WARNING_CODES), message: z.string(), subject: z.string().optional() }),
    ),
    guardrails: z.strictObject({ verdict: z.enum(['ok', 'blocked']), reasons: z.array(z.string()) }),
    complete: z.boolean(),
    stats: z.strictObject({
      directoryUsers: count,
      directoryGroups: count,
      devinUsers: count,
      devinGroups: count,
      managedUsers: count,
      mappedGroups: z
        .array(
          z.strictObject({ id: nonEmpty, name: z.string(), members: count, mappings: z.array(z.string()) }),
        )
        .default([]),
      userIds: z.record(z.string(), z.string()).default({}),
    }),
    fingerprint: nonEmpty,
    devinRead: z
      .strictObject({
        kind: z.enum(['full', 'incremental']),
        fullReadAt: nonEmpty,
        reason: z.string().optional(),
        reread: z.strictObject({ users: count, groups: count }).optional(),
      })
      .optional(),
  })
  .superRefine((plan, ctx) => {
    // apply reports drift by op key, so two ops with one key would make that report ambiguous.
    const seen = new Map<string, number>();
    plan.ops.forEach((op, i) => {
      const first = seen.get(op.key);
      if (first === undefined) seen.set(op.key, i);
      else
        ctx.addIssue({
          code: 'custom',
          path: ['ops', i, 'key'],
          message: `duplicate op key (also ops[${first}])`,
        });
    });
  });

// The schema and the Plan type must describe the same thing: a field added to one breaks the build.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesPlan: Same<z.infer<typeof planSchema>, Plan> = true;
const schemaMatchesOp: Same<z.infer<typeof opSchema>, Op> = true;
void schemaMatchesPlan;
void schemaMatchesOp;

export interface PlanFileIssue {
  /** Like `ops[3].role.id`; empty for the document itself. */
  path: string;
  message: string;
}

/** A plan file that cannot be applied as written. The CLI maps it to exit 2 (bad usage). */
export class PlanFileError extends Error {
  override readonly name = 'PlanFileError';
  constructor(
    readonly source: string,
    readonly issues: PlanFileIssue[],
    summary: string,
  ) {
    super(summary);
  }
}

const SHOWN_ISSUES = 5;

function pathString(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): PlanFileIssue {
  const path = pathString(issue.path);
  if (issue.code === 'unrecognized_keys')
    return { path, message: `unknown field(s) ${issue.keys.join(', ')}` };
  return { path, message: issue.message };
}

export function parsePlanJson(text: string, source: string): Plan {
  const data = parseJsonText(text, source);
  // A future version may reshape everything; say that, rather than listing every difference.
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && 'version' in data) {
    const version = (data as { version: unknown }).version;
    if (version !== 1) {
      const message = `unsupported plan version ${JSON.stringify(version)}; this idsync reads version 1`;
      throw new PlanFileError(source, [{ path: 'version', message }], `${source}: ${message}`);
    }
  }
  return parseWithSchema(planSchema, data, source, 'is not a valid idsync plan');
}

function parseJsonText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new PlanFileError(source, [{ path: '', message }], `${source} is not valid JSON: ${message}`);
  }
}

function parseWithSchema<T>(schema: z.ZodType<T>, data: unknown, source: string, what: string): T {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = result.error.issues.map(describeIssue);
  const lines = issues.slice(0, SHOWN_ISSUES).map((i) => `  at ${i.path || '(document)'}: ${i.message}`);
  if (issues.length > SHOWN_ISSUES) lines.push(`  …and ${issues.length - SHOWN_ISSUES} more`);
  throw new PlanFileError(source, issues, `${source} ${what}:\n${lines.join('\n')}`);
}

const opsSchema = z.strictObject({ version: z.literal(1), ops: z.array(opSchema) });

/**
 * A plan's ops alone, in the plan file's op form: what the daemon's op workers load. The rest of
 * a plan (warnings, held ops, stats with an entry per directory user) is for reports and the
 * ledger, and parsing it too cost every run tens of milliseconds before its first op.
 */
export function renderOpsJson(ops: readonly Op[]): string {
  return [...renderOpsJsonChunks(ops)].join('');
}

/** renderOpsJson's text in pieces (an op each), for gzipChunks: the ops of 100k users are ~76 MB as one string. */
export function renderOpsJsonChunks(ops: readonly Op[]): Generator<string> {
  return jsonChunks({ version: 1, ops: new Mapped(ops, canonicalOp) }, '', 2);
}

export function parseOpsJson(text: string, source: string): Op[] {
  return parseWithSchema(opsSchema, parseJsonText(text, source), source, 'holds no valid ops').ops;
}

// Built field by field in a fixed order, typed as the op itself: a required field added to an Op
// type fails to compile here instead of silently vanishing from saved plans.
function canonicalOp(op: Op): Op {
  const r = (x: { id: string; name: string }) => ({ id: x.id, name: x.name });
  const rn = (x: { id: string; name: string } | null) => (x === null ? null : r(x));
  const tail = { reasons: [...op.reasons] };
  switch (op.kind) {
    case 'registerIdpGroups':
      return { kind: op.kind, key: op.key, groups: [...op.groups], expected: { registered: false }, ...tail };
    case 'setGroupEnterpriseRole':
      return {
        kind: op.kind,
        key: op.key,
        group: op.group,
        role: r(op.role),
        expected: { role: rn(op.expected.role) },
        ...tail,
      };
    case 'setGroupOrgRole':
      return {
        kind: op.kind,
        key: op.key,
        group: op.group,
        org: r(op.org),
        role: r(op.role),
        expected: { role: rn(op.expected.role) },
        ...tail,
      };
    case 'inviteUsers':
      return {
        kind: op.kind,
        key: op.key,
        emails: [...op.emails],
        role: r(op.role),
        expected: { member: false },
        ...tail,
      };
    case 'setUserEnterpriseRole':
      return {
        kind: op.kind,
        key: op.key,
        email: op.email,
        userId: op.userId,
        role: r(op.role),
        expected: { role: r(op.expected.role) },
        ...tail,
      };
    case 'addOrgUser':
      return {
        kind: op.kind,
        key: op.key,
        email: op.email,
        userId: op.userId,
        org: r(op.org),
        role: r(op.role),
        expected: { role: null },
        ...tail,
      };
    case 'setOrgUserRole':
      return {
        kind: op.kind,
        key: op.key,
        email: op.email,
        userId: op.userId,
        org: r(op.org),
        role: r(op.role),
        expected: { role: r(op.expected.role) },
        ...tail,
      };
    case 'removeOrgUser':
      return {
        kind: op.kind,
        key: op.key,
        email: op.email,
        userId: op.userId,
        org: r(op.org),
        expected: { role: r(op.expected.role) },
        ...tail,
      };
    case 'removeUser':
      return {
        kind: op.kind,
        key: op.key,
        email: op.email,
        userId: op.userId,
        expected: { role: rn(op.expected.role) },
        ...tail,
      };
    case 'removeGroupOrgRole':
      return {
        kind: op.kind,
        key: op.key,
        group: op.group,
        org: r(op.org),
        expected: { role: r(op.expected.role) },
        ...tail,
      };
    case 'removeGroupEnterpriseRole':
      return {
        kind: op.kind,
        key: op.key,
        group: op.group,
        expected: { role: r(op.expected.role) },
        ...tail,
      };
    case 'unregisterIdpGroup':
      return { kind: op.kind, key: op.key, group: op.group, expected: { registered: true }, ...tail };
    case 'adopt': {
      const t = op.target;
      const target =
        t.type === 'user'
          ? { type: t.type, email: t.email }
          : t.type === 'group'
            ? { type: t.type, group: t.group }
            : { type: t.type, group: t.group, orgId: t.orgId };
      return { kind: op.kind, key: op.key, target, expected: { exists: true }, ...tail };
    }
  }
}

function canonicalHeld(h: HeldOp): HeldOp {
  return { op: canonicalOp(h.op), reasons: h.reasons.map((r) => ({ guard: r.guard, message: r.message })) };
}

function canonicalWarning(w: PlanWarning): PlanWarning {
  return w.subject === undefined
    ? { code: w.code, message: w.message }
    : { code: w.code, message: w.message, subject: w.subject };
}

/**
 * The plan as versioned, stable JSON: fixed key order, 2-space indent, trailing newline. Joined from
 * renderJsonChunks: one flat string made once (JSON.stringify's text with the newline appended was
 * a cons string, copied whole again wherever it was flattened, as gzip does).
 */
export function renderJson(plan: Plan): string {
  return [...renderJsonChunks(plan)].join('');
}

/**
 * renderJson's text in pieces (an op, a held op, a warning each), for gzipChunks: a 100,000-op
 * plan's JSON never exists as one string, and its ops are made canonical one at a time.
 */
export function* renderJsonChunks(plan: Plan): Generator<string> {
  const summary: Partial<Record<OpKind, number>> = {};
  for (const kind of OP_ORDER) {
    const n = plan.summary[kind];
    if (n !== undefined) summary[kind] = n;
  }
  const s = plan.stats;
  // Typed as a Plan, so no field is forgotten; each Mapped stands for the array it writes.
  const doc: Plan = {
    version: 1,
    createdAt: plan.createdAt,
    summary,
    ops: new Mapped(plan.ops, canonicalOp) as unknown as Op[],
    held: new Mapped(plan.held, canonicalHeld) as unknown as HeldOp[],
    warnings: new Mapped(plan.warnings, canonicalWarning) as unknown as PlanWarning[],
    guardrails: { verdict: plan.guardrails.verdict, reasons: [...plan.guardrails.reasons] },
    complete: plan.complete,
    stats: {
      directoryUsers: s.directoryUsers,
      directoryGroups: s.directoryGroups,
      devinUsers: s.devinUsers,
      devinGroups: s.devinGroups,
      managedUsers: s.managedUsers,
      mappedGroups: new Mapped(s.mappedGroups, (g) => ({
        id: g.id,
        name: g.name,
        members: g.members,
        mappings: [...g.mappings],
      })) as unknown as Plan['stats']['mappedGroups'],
      // Written, not kept: no copy of its entry per directory user.
      userIds: s.userIds,
    },
    fingerprint: plan.fingerprint,
  };
  if (plan.devinRead)
    doc.devinRead = {
      ...plan.devinRead,
      ...(plan.devinRead.reread ? { reread: { ...plan.devinRead.reread } } : {}),
    };
  yield* jsonChunks(doc, '  ', 2);
  yield '\n';
}

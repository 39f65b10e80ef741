// What every report says about an op, decided once: the Markdown and HTML renderers only differ in
// markup, so a reviewer reading either (or both, in a PR and in the daemon UI) sees the same facts.
import { removalCount as countRemovals } from '../reconcile/guardrails.js';
import {
  type HoldReason,
  OP_ORDER,
  type Op,
  type OpKind,
  type OrgRef,
  type Plan,
  type PlanWarning,
  REMOVAL_KINDS,
  type RoleRef,
} from '../reconcile/plan.js';
import { formatAge } from '../util/age.js';

/** How a change reads at a glance; drives the colour in the HTML and the section in the Markdown. */
export type ChangeCategory = 'adopt' | 'add' | 'change' | 'remove';

export const KIND_LABELS: Readonly<Record<OpKind, string>> = {
  adopt: 'Adopt',
  registerIdpGroups: 'Register IdP group',
  setGroupEnterpriseRole: 'Group enterprise role',
  setGroupOrgRole: 'Group org role',
  inviteUsers: 'Invite user',
  setUserEnterpriseRole: 'User enterprise role',
  addOrgUser: 'Add to org',
  setOrgUserRole: 'User org role',
  removeOrgUser: 'Remove from org',
  removeUser: 'Remove user',
  removeGroupOrgRole: 'Remove group org role',
  removeGroupEnterpriseRole: 'Remove group enterprise role',
  unregisterIdpGroup: 'Unregister IdP group',
};

/** 1-based position in the execution order, the "phase #" reviewers see. */
export function phaseOf(kind: OpKind): number {
  return OP_ORDER.indexOf(kind) + 1;
}

/**
 * One subject of one op. Bulk ops (invite, register) become one change per email or group, so a
 * reviewer finds "alice" under her own name and the counts mean people and groups, not API calls.
 */
export interface Change {
  op: Op;
  kind: OpKind;
  phase: number;
  category: ChangeCategory;
  subjectType: 'user' | 'group';
  /** Email or IdP group name. */
  subject: string;
  org: OrgRef | null;
  /** The role found when planning (null: none). */
  from: RoleRef | null;
  /** The role after the change (null: none, e.g. a removal). */
  to: RoleRef | null;
  reasons: string[];
}

function categoryOf(op: Op): ChangeCategory {
  if (op.kind === 'adopt') return 'adopt';
  if (REMOVAL_KINDS.has(op.kind)) return 'remove';
  switch (op.kind) {
    case 'setGroupEnterpriseRole':
    case 'setGroupOrgRole':
      return op.expected.role === null ? 'add' : 'change';
    case 'setUserEnterpriseRole':
    case 'setOrgUserRole':
      return 'change';
    default:
      return 'add';
  }
}

/**
 * The reasons of a bulk op cover all its subjects ("alice → …", "bob → …"). Under one subject, show
 * those that name it; when none does, the reasons are about the op as a whole, so show them all.
 * Built once per op: a bulk invite of 100 people with 100 reasons is asked 100 times.
 */
function reasonsOf(op: Op, bulk: boolean): (subject: string) => string[] {
  if (!bulk) return () => op.reasons;
  const lower = op.reasons.map((r) => r.toLowerCase());
  return (subject) => {
    const needle = subject.toLowerCase();
    const own = op.reasons.filter((_, i) => (lower[i] as string).includes(needle));
    return own.length > 0 ? own : op.reasons;
  };
}

export function changesOf(op: Op): Change[] {
  const base = { op, kind: op.kind, phase: phaseOf(op.kind), category: categoryOf(op) };
  const bulk =
    (op.kind === 'inviteUsers' && op.emails.length > 1) ||
    (op.kind === 'registerIdpGroups' && op.groups.length > 1);
  const reasonsFor = reasonsOf(op, bulk);
  const make =
    (subjectType: 'user' | 'group') =>
    (subject: string, org: OrgRef | null, from: RoleRef | null, to: RoleRef | null): Change => ({
      ...base,
      subjectType,
      subject,
      org,
      from,
      to,
      reasons: reasonsFor(subject),
    });
  const user = make('user');
  const group = make('group');
  switch (op.kind) {
    case 'adopt': {
      const t = op.target;
      if (t.type === 'user') return [user(t.email, null, null, null)];
      if (t.type === 'group') return [group(t.group, null, null, null)];
      // The target names the org by id only; showing the id twice would read as a bug.
      return [group(t.group, t.orgId === null ? null : { id: t.orgId, name: t.orgId }, null, null)];
    }
    case 'registerIdpGroups':
      return op.groups.map((g) => group(g, null, null, null));
    case 'setGroupEnterpriseRole':
      return [group(op.group, null, op.expected.role, op.role)];
    case 'setGroupOrgRole':
      return [group(op.group, op.org, op.expected.role, op.role)];
    case 'inviteUsers':
      return op.emails.map((e) => user(e, null, null, op.role));
    case 'setUserEnterpriseRole':
      return [user(op.email, null, op.expected.role, op.role)];
    case 'addOrgUser':
      return [user(op.email, op.org, null, op.role)];
    case 'setOrgUserRole':
      return [user(op.email, op.org, op.expected.role, op.role)];
    case 'removeOrgUser':
      return [user(op.email, op.org, op.expected.role, null)];
    case 'removeUser':
      return [user(op.email, null, op.expected.role, null)];
    case 'removeGroupOrgRole':
      return [group(op.group, op.org, op.expected.role, null)];
    case 'removeGroupEnterpriseRole':
      return [group(op.group, null, op.expected.role, null)];
    case 'unregisterIdpGroup':
      return [group(op.group, null, null, null)];
  }
}

/** Every change of the plan in execution order; within a phase, the plan's own order. */
export function planChanges(plan: Plan): Change[] {
  return plan.ops
    .flatMap(changesOf)
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.phase - b.c.phase || a.i - b.i)
    .map(({ c }) => c);
}

/** How one output language shows a role or org (escaped); the literal words stay the same. */
export interface TextFormat {
  ref(ref: RoleRef | OrgRef): string;
}

/** Names and ids are shown together, because Devin's UI shows names and its API (and logs) ids. */
export function refParts(ref: RoleRef | OrgRef): { name: string; id: string | null } {
  return { name: ref.name, id: ref.name === ref.id ? null : ref.id };
}

export function plainRef(ref: RoleRef | OrgRef): string {
  const { name, id } = refParts(ref);
  return id === null ? name : `${name} (${id})`;
}

/** What the change does to its subject, as a phrase that reads after the subject's name. */
export function describeAction(c: Change, f: TextFormat): string {
  const role = (r: RoleRef | null) => (r === null ? 'none' : f.ref(r));
  const inOrg = c.org === null ? '' : ` in org ${f.ref(c.org)}`;
  const op = c.op;
  switch (op.kind) {
    case 'adopt':
      if (op.target.type === 'user') return 'Adopt the existing user (ownership only; no API call)';
      if (op.target.type === 'group')
        return 'Adopt the existing registry entry (ownership only; no API call)';
      return op.target.orgId === null
        ? 'Adopt the existing enterprise role mapping (ownership only; no API call)'
        : `Adopt the existing role mapping${inOrg} (ownership only; no API call)`;
    case 'registerIdpGroups':
      return "Register in Devin's IdP-group registry";
    case 'setGroupEnterpriseRole':
      return c.from === null
        ? `Map to enterprise role ${role(c.to)}`
        : `Change enterprise role: ${role(c.from)} → ${role(c.to)}`;
    case 'setGroupOrgRole':
      return c.from === null
        ? `Map to role ${role(c.to)}${inOrg}`
        : `Change role${inOrg}: ${role(c.from)} → ${role(c.to)}`;
    case 'inviteUsers':
      return `Invite to the enterprise as ${role(c.to)}`;
    case 'setUserEnterpriseRole':
      return `Change enterprise role: ${role(c.from)} → ${role(c.to)}`;
    case 'addOrgUser':
      return `Add to org ${c.org === null ? '' : f.ref(c.org)} as ${role(c.to)}`;
    case 'setOrgUserRole':
      return `Change role${inOrg}: ${role(c.from)} → ${role(c.to)}`;
    case 'removeOrgUser':
      return `Remove from org ${c.org === null ? '' : f.ref(c.org)}, currently ${role(c.from)}`;
    case 'removeUser':
      return c.from === null
        ? 'Remove from the enterprise, currently without an enterprise role'
        : `Remove from the enterprise, currently ${role(c.from)}`;
    case 'removeGroupOrgRole':
      return `Remove the role mapping${inOrg}, currently ${role(c.from)}`;
    case 'removeGroupEnterpriseRole':
      return `Remove the enterprise role mapping, currently ${role(c.from)}`;
    case 'unregisterIdpGroup':
      return "Unregister from Devin's IdP-group registry";
  }
}

export const PLAIN: TextFormat = { ref: plainRef };

export interface KindSummary {
  kind: OpKind;
  phase: number;
  label: string;
  /** Ops (API calls or bulk calls) of this kind. */
  ops: number;
  /** Users or groups they touch. */
  subjects: number;
}

/** How many changes `changesOf` makes of an op, without making them. */
export function subjectCount(op: Op): number {
  if (op.kind === 'inviteUsers') return op.emails.length;
  if (op.kind === 'registerIdpGroups') return op.groups.length;
  return 1;
}

/** Counts in execution order, from the ops themselves so the report never disagrees with its rows. */
export function summarizeByKind(plan: Plan): KindSummary[] {
  const ops = new Map<OpKind, number>();
  const subjects = new Map<OpKind, number>();
  for (const op of plan.ops) {
    ops.set(op.kind, (ops.get(op.kind) ?? 0) + 1);
    subjects.set(op.kind, (subjects.get(op.kind) ?? 0) + subjectCount(op));
  }
  return OP_ORDER.filter((k) => ops.has(k)).map((kind) => ({
    kind,
    phase: phaseOf(kind),
    label: KIND_LABELS[kind],
    ops: ops.get(kind) ?? 0,
    subjects: subjects.get(kind) ?? 0,
  }));
}

/**
 * The N of `idsync apply --allow-removals N`: removal ops are never bulk, so this is also the
 * number of removed memberships, users, mappings and registry entries.
 */
/** Same count as the executor uses to release a blocked plan's removals. */
export function removalCount(plan: Plan): number {
  return countRemovals(plan.ops);
}

export interface WarningGroup {
  code: PlanWarning['code'];
  warnings: PlanWarning[];
}

/** By code, in order of first appearance, except that an incomplete read, which changes what the plan means, comes first. */
export function groupWarnings(warnings: readonly PlanWarning[]): WarningGroup[] {
  const groups = new Map<PlanWarning['code'], PlanWarning[]>();
  for (const w of warnings) {
    const list = groups.get(w.code);
    if (list) list.push(w);
    else groups.set(w.code, [w]);
  }
  return [...groups]
    .map(([code, list]) => ({ code, warnings: list }))
    .sort((a, b) => Number(b.code === 'incomplete-read') - Number(a.code === 'incomplete-read'));
}

export const EMPTY_PLAN_MESSAGE = 'No changes: Devin already matches the directory.';
export const EMPTY_INCOMPLETE_MESSAGE =
  'No changes found in what was read, but the read was incomplete: Devin may not match the directory.';
export const NOTHING_APPLICABLE_MESSAGE =
  'No changes can be applied: everything this plan would change is held back.';

/** What a plan without ops says: "Devin matches" only when that is known. */
export function emptyPlanMessage(plan: Pick<Plan, 'held' | 'complete'>): string {
  if (plan.held.length > 0) return NOTHING_APPLICABLE_MESSAGE;
  if (!plan.complete) return EMPTY_INCOMPLETE_MESSAGE;
  return EMPTY_PLAN_MESSAGE;
}
export const INCOMPLETE_MESSAGE =
  'The directory read was incomplete: every removal and role change is held back (listed below), and only additions are applied. The next complete read releases them.';

export const HELD_MESSAGE =
  'idsync could not be sure why these would lose access, so this plan does not make them, whatever is approved. They are released when the cause goes away: a complete read, a mapping that selects its group again, a readable member list, or a config that no longer asks for the mapping.';

/** The held ops as changes, grouped by the reason they were held (one reason can hold many). */
export function heldByReason(plan: Plan): Array<{ reason: HoldReason; changes: Change[] }> {
  const groups = new Map<string, { reason: HoldReason; changes: Change[] }>();
  for (const h of plan.held) {
    const changes = changesOf(h.op);
    for (const r of h.reasons) {
      const k = `${r.guard}\u0000${r.message}`;
      const entry = groups.get(k) ?? { reason: r, changes: [] };
      entry.changes.push(...changes);
      groups.set(k, entry);
    }
  }
  return [...groups.values()];
}

export function allowRemovalsHint(plan: Plan): string {
  return `idsync apply --allow-removals ${removalCount(plan)}`;
}

/**
 * Past this many entries, a list in the Markdown and HTML reports (the changes, the held-back
 * changes, the warnings) is summarised: counted in full, but only a sample listed. A 50,000-change
 * report was 73 MB of HTML and took minutes to open; nobody reviews it row by row anyway. The JSON
 * report always lists everything.
 */
export const SUMMARY_THRESHOLD = 2_000;
/** A summarised list shows this many of each kind of change, hold reason or warning code. */
export const SAMPLE_SIZE = 50;
/** A summarised held-back section shows this many of its hold reasons (the biggest first). */
export const HELD_REASONS_SHOWN = 10;

export interface ReportLimits {
  /** Lists longer than this are summarised. */
  threshold: number;
  /** Entries shown per category, hold reason or warning code of a summarised list. */
  sample: number;
  /** Hold reasons shown by a summarised held-back section. */
  heldReasons: number;
}

export const DEFAULT_LIMITS: Readonly<ReportLimits> = {
  threshold: SUMMARY_THRESHOLD,
  sample: SAMPLE_SIZE,
  heldReasons: HELD_REASONS_SHOWN,
};

/** Every row, however many: what the reports were before they summarised (bench/report). */
export const UNLIMITED: Readonly<ReportLimits> = {
  threshold: Number.POSITIVE_INFINITY,
  sample: Number.POSITIVE_INFINITY,
  heldReasons: Number.POSITIVE_INFINITY,
};

/** Options shared by the Markdown and HTML reports. */
export interface ReportOptions {
  /** Default "idsync plan". */
  title?: string;
  /** Where the directory was read from, e.g. `ldaps://dc1.corp:636`. */
  source?: string;
  /** The Devin API base URL the plan was made against. */
  devin?: string;
  /** Default DEFAULT_LIMITS. */
  limits?: Partial<ReportLimits>;
}

export function limitsOf(opts: ReportOptions): ReportLimits {
  return { ...DEFAULT_LIMITS, ...opts.limits };
}

/** Where a summarised report sends the reader for the rest. */
export const FULL_LIST_POINTER =
  'The JSON report, plan.json (written next to this report; report.json from the daemon API), lists every one.';

/** Removals first: they are what a reviewer must not miss. */
export const CATEGORY_ORDER: readonly ChangeCategory[] = ['remove', 'change', 'add', 'adopt'];

export const CATEGORY_LABELS: Readonly<Record<ChangeCategory, string>> = {
  remove: 'Removals',
  change: 'Role changes',
  add: 'Additions',
  adopt: 'Adoptions',
};

export interface KindSample {
  kind: OpKind;
  /** Changes of this kind (and category) in the plan. */
  total: number;
  /** The first of them, in the plan's order. */
  shown: Change[];
}

export interface CategorySample {
  category: ChangeCategory;
  /** Changes of this category in the plan. */
  total: number;
  /** In execution order. */
  kinds: KindSample[];
  /** The kinds' shown changes, in that order. */
  shown: Change[];
}

/**
 * What a report lists of the plan's changes: all of them (`summarised: false`), or, past
 * `limits.threshold`, the first `limits.sample` of each kind. Counted from the ops, and only the
 * listed changes are built: 50,000 Change objects would be most of a large report's cost.
 */
export interface ChangeListing {
  total: number;
  summarised: boolean;
  /** In CATEGORY_ORDER (removals first); categories without changes are left out. */
  categories: CategorySample[];
}

export function listChanges(plan: Plan, limits: ReportLimits, force = false): ChangeListing {
  const total = plan.ops.reduce((n, op) => n + subjectCount(op), 0);
  const summarised = force || total > limits.threshold;
  const cap = summarised ? limits.sample : Number.POSITIVE_INFINITY;
  const samples = new Map<ChangeCategory, Map<OpKind, KindSample>>();
  for (const op of plan.ops) {
    const category = categoryOf(op);
    const kinds = samples.get(category) ?? new Map<OpKind, KindSample>();
    samples.set(category, kinds);
    const sample = kinds.get(op.kind) ?? { kind: op.kind, total: 0, shown: [] };
    kinds.set(op.kind, sample);
    sample.total += subjectCount(op);
    if (sample.shown.length < cap) sample.shown.push(...changesOf(op).slice(0, cap - sample.shown.length));
  }
  const categories = CATEGORY_ORDER.flatMap((category): CategorySample[] => {
    const kinds = samples.get(category);
    if (kinds === undefined) return [];
    const ordered = [...kinds.values()].sort((a, b) => phaseOf(a.kind) - phaseOf(b.kind));
    return [
      {
        category,
        total: ordered.reduce((n, k) => n + k.total, 0),
        kinds: ordered,
        shown: ordered.flatMap((k) => k.shown),
      },
    ];
  });
  return { total, summarised, categories };
}

export interface HeldReasonSample {
  reason: HoldReason;
  /** Changes held for this reason. */
  total: number;
  shown: Change[];
}

export interface HeldListing {
  /** Held changes counted once per reason that holds them (what the full section lists). */
  total: number;
  summarised: boolean;
  reasons: HeldReasonSample[];
  /** Reasons left out of a summarised listing, and the changes they hold. */
  hiddenReasons: number;
  hiddenChanges: number;
}

export function listHeld(plan: Plan, limits: ReportLimits, force = false): HeldListing {
  const groups = heldByReason(plan);
  const total = groups.reduce((n, g) => n + g.changes.length, 0);
  if (!force && total <= limits.threshold) {
    return {
      total,
      summarised: false,
      reasons: groups.map((g) => ({ reason: g.reason, total: g.changes.length, shown: g.changes })),
      hiddenReasons: 0,
      hiddenChanges: 0,
    };
  }
  // The reasons that hold the most first; ties keep the plan's order.
  const ranked = groups
    .map((g, i) => ({ g, i }))
    .sort((a, b) => b.g.changes.length - a.g.changes.length || a.i - b.i)
    .map(({ g }) => g);
  const kept = ranked.slice(0, limits.heldReasons);
  const hidden = ranked.slice(limits.heldReasons);
  return {
    total,
    summarised: true,
    reasons: kept.map((g) => ({
      reason: g.reason,
      total: g.changes.length,
      shown: g.changes.slice(0, limits.sample),
    })),
    hiddenReasons: hidden.length,
    hiddenChanges: hidden.reduce((n, g) => n + g.changes.length, 0),
  };
}

export interface WarningSample {
  code: PlanWarning['code'];
  total: number;
  shown: PlanWarning[];
}

export interface WarningListing {
  total: number;
  summarised: boolean;
  groups: WarningSample[];
}

/** Grouped by code (groupWarnings); a summarised listing shows the first `limits.sample` of each. */
export function listWarnings(
  warnings: readonly PlanWarning[],
  limits: ReportLimits,
  force = false,
): WarningListing {
  const summarised = force || warnings.length > limits.threshold;
  return {
    total: warnings.length,
    summarised,
    groups: groupWarnings(warnings).map((g) => ({
      code: g.code,
      total: g.warnings.length,
      shown: summarised ? g.warnings.slice(0, limits.sample) : g.warnings,
    })),
  };
}

export const DEFAULT_TITLE = 'idsync plan';

export function statsLine(plan: Plan): string {
  const s = plan.stats;
  return (
    `Directory: ${s.directoryUsers} users, ${s.directoryGroups} groups · ` +
    `Devin: ${s.devinUsers} users, ${s.devinGroups} groups · managed users: ${s.managedUsers}`
  );
}

const SUBJECT_COLLATOR = new Intl.Collator('en', { sensitivity: 'base' });

/** Case-insensitive, as emails are compared; ties keep their order. One collator: 50,000 rows. */
export function compareSubjects(a: string, b: string): number {
  return SUBJECT_COLLATOR.compare(a, b);
}

export interface ReportListing {
  /** True when any list is past the threshold: then every list is sampled, so the page stays small. */
  summarised: boolean;
  changes: ChangeListing;
  held: HeldListing;
  warnings: WarningListing;
}

/**
 * The three lists a report shows. When one is past `limits.threshold`, all three are sampled: a
 * 50,000-change plan with 1,500 warnings must not list the warnings in full either.
 */
export function listReport(plan: Plan, limits: ReportLimits): ReportListing {
  const heldTotal = plan.held.reduce((n, h) => n + h.reasons.length * subjectCount(h.op), 0);
  const changeTotal = plan.ops.reduce((n, op) => n + subjectCount(op), 0);
  const summarised = Math.max(changeTotal, heldTotal, plan.warnings.length) > limits.threshold;
  return {
    summarised,
    changes: listChanges(plan, limits, summarised),
    held: listHeld(plan, limits, summarised),
    warnings: listWarnings(plan.warnings, limits, summarised),
  };
}

/** Why a summarised report lists less than the plan holds, and what it still counts in full. */
export function summaryNote(listing: ReportListing, limits: ReportLimits): string {
  const { changes, held, warnings } = listing;
  const cut = (shown: number, total: number) => shown < total;
  const parts: string[] = [];
  const changesShown = changes.categories.reduce((n, c) => n + c.shown.length, 0);
  if (cut(changesShown, changes.total)) {
    parts.push(
      `${changes.total} changes (the first ${limits.sample} of each kind are listed, removals first)`,
    );
  }
  const heldShown = held.reasons.reduce((n, r) => n + r.shown.length, 0);
  if (cut(heldShown, held.total)) {
    parts.push(
      `${held.total} held-back changes (the first ${limits.sample} for each of the ${held.reasons.length} hold reasons that hold the most)`,
    );
  }
  const warningsShown = warnings.groups.reduce((n, g) => n + g.shown.length, 0);
  if (cut(warningsShown, warnings.total)) {
    parts.push(`${warnings.total} warnings (the first ${limits.sample} of each code)`);
  }
  return `This plan is too large to list in full: ${parts.join('; ')}. The counts, the guardrail verdict and the summary table cover every change.`;
}

/**
 * How the plan's view of Devin was obtained, in one line: a full read, or the daemon's cached copy
 * (patched by idsync's own writes) with what was read again and how old its last full read is.
 */
export function describeDevinRead(plan: Plan): string | undefined {
  const r = plan.devinRead;
  if (!r) return undefined;
  const age = formatAge(Date.parse(plan.createdAt) - Date.parse(r.fullReadAt));
  if (r.kind === 'full') return `full read${r.reason ? ` (${r.reason})` : ''}`;
  const reread = r.reread
    ? `; read again: ${r.reread.users} user(s)${r.reread.groups > 0 ? ', the group listings' : ''}`
    : '';
  return `incremental: the cached copy from the full read ${age} ago (${r.fullReadAt}), patched by idsync's own writes${reread}`;
}

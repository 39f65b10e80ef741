// The plan as Markdown, for review in a PR or a ticket: who gains what, who loses what, and why,
// with the guardrail verdict where nobody can miss it.
import type { OrgRef, Plan, RoleRef } from '../reconcile/plan.js';
import {
  allowRemovalsHint,
  CATEGORY_LABELS,
  type Change,
  compareSubjects,
  DEFAULT_TITLE,
  describeAction,
  describeDevinRead,
  emptyPlanMessage,
  FULL_LIST_POINTER,
  HELD_MESSAGE,
  INCOMPLETE_MESSAGE,
  KIND_LABELS,
  limitsOf,
  listReport,
  planChanges,
  type ReportOptions,
  refParts,
  removalCount,
  statsLine,
  summarizeByKind,
  summaryNote,
  type TextFormat,
} from './describe.js';
import { showControls } from './text.js';

/**
 * Makes any directory value literal text, wherever it lands: in a table cell, a heading or right
 * after a list marker. Names come from the directory and from Devin, so `a|b*c` or `<script>`
 * must neither break a table nor become markup, a control character must show as what it is
 * (`\u001b`), and `https://evil.example` must not become a link.
 */
export function escapeMarkdown(value: string): string {
  // Line breaks and tabs become spaces (one line per value); every other control becomes `\uXXXX`,
  // whose backslash the next step escapes, so it reads `\u001b` once rendered.
  const flat = showControls(value.replace(/\r\n|[\r\n\t]/g, ' '));
  // `$` is GitHub's math delimiter; `&` would start an entity; the rest are CommonMark punctuation.
  const escaped = flat.replace(/[\\`*_[\]<>|~#&$]/g, (c) => `\\${c}`);
  // A value right after a list marker could start a nested block: a list item, a heading underline.
  const inline = escaped.replace(/^([-+=])/, '\\$1').replace(/^(\d+)([.)])/, '$1\\$2');
  return breakAutolinks(inline);
}

/**
 * GitHub (GFM) turns `scheme://…`, `www.…`, `mailto:…` and `xmpp:…` into links with no markup
 * around them (`<…>` autolinks are already broken by escaping `<`). A backslash before the `:` or
 * the `.` is a CommonMark escape: it renders as the same text, but the text no longer starts a
 * link. Email addresses are left as they are: every user is one, and a mailto link only opens a
 * mail client.
 */
export function breakAutolinks(value: string): string {
  return (
    value
      .replace(/([a-z][a-z0-9+.-]*):(?=\/\/)/gi, '$1\\:')
      // Wherever they are: GFM also links `_www.…` and `(mailto:…`, after punctuation.
      .replace(/(mailto|xmpp):/gi, '$1\\:')
      .replace(/(www)\./gi, '$1\\.')
  );
}

const mdRef = (ref: RoleRef | OrgRef): string => {
  const { name, id } = refParts(ref);
  return id === null ? `**${escapeMarkdown(name)}**` : `**${escapeMarkdown(name)}** (${escapeMarkdown(id)})`;
};

const MD: TextFormat = { ref: mdRef };

/** Hex or `sha256:…` fingerprints read best as code; anything else is escaped text. */
function code(value: string): string {
  return /^[\w:.+/=-]+$/.test(value) ? `\`${value}\`` : escapeMarkdown(value);
}

function changeItem(c: Change, withSubject: boolean): string[] {
  const action = describeAction(c, MD);
  const head = withSubject ? `- **${escapeMarkdown(c.subject)}**: ${action}` : `- ${action}`;
  return [head, ...c.reasons.map((r) => `  - ${escapeMarkdown(r)}`)];
}

function bySubject(changes: Change[], keyOf: (subject: string) => string): Array<[string, Change[]]> {
  const map = new Map<string, { shown: string; changes: Change[] }>();
  for (const c of changes) {
    const k = keyOf(c.subject);
    const entry = map.get(k);
    if (entry) entry.changes.push(c);
    else map.set(k, { shown: c.subject, changes: [c] });
  }
  return [...map.values()]
    .sort((a, b) => compareSubjects(a.shown, b.shown))
    .map((e): [string, Change[]] => [e.shown, e.changes]);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderMarkdown(plan: Plan, opts: ReportOptions = {}): string {
  const out: string[] = [];
  const limits = limitsOf(opts);
  const report = listReport(plan, limits);
  const { changes: listing, held, warnings } = report;
  const removals = listing.categories.find((c) => c.category === 'remove');
  const blocked = plan.guardrails.verdict === 'blocked';

  out.push(`# ${escapeMarkdown(opts.title ?? DEFAULT_TITLE)}`, '');
  out.push(`- **Created:** ${escapeMarkdown(plan.createdAt)}`);
  if (opts.source !== undefined) out.push(`- **Directory source:** ${escapeMarkdown(opts.source)}`);
  if (opts.devin !== undefined) out.push(`- **Devin:** ${escapeMarkdown(opts.devin)}`);
  const devinRead = describeDevinRead(plan);
  if (devinRead !== undefined) out.push(`- **Devin read:** ${escapeMarkdown(devinRead)}`);
  out.push(`- **Fingerprint:** ${code(plan.fingerprint)}`);
  out.push(`- **Directory read:** ${plan.complete ? 'complete' : '**incomplete**'}`);
  out.push(`- **Counts:** ${escapeMarkdown(statsLine(plan))}`, '');

  if (report.summarised) {
    out.push(`> **Summarised.** ${summaryNote(report, limits)} ${FULL_LIST_POINTER}`, '');
  }

  if (!plan.complete) out.push(`> **⚠️ Incomplete directory read.** ${INCOMPLETE_MESSAGE}`, '');

  if (blocked) {
    out.push('## ⛔ Guardrails: BLOCKED', '');
    out.push(
      '> **⛔ Removals and role changes are blocked and will not be applied.** Additions still apply.',
    );
    out.push('>');
    for (const r of plan.guardrails.reasons) out.push(`> - ${escapeMarkdown(r)}`);
    out.push('>');
    if (removalCount(plan) > 0) {
      out.push(
        `> Review the ${plural(removalCount(plan), 'change')} ${listing.summarised ? '(the first of each kind are below, and plan.json lists all)' : 'below'}, then approve them with \`${allowRemovalsHint(plan)}\`.`,
      );
    }
    out.push('');
  } else if (plan.ops.length > 0 || plan.guardrails.reasons.length > 0) {
    out.push('## Guardrails: ok', '');
    if (plan.guardrails.reasons.length === 0) out.push('All changes are within the configured limits.');
    for (const r of plan.guardrails.reasons) out.push(`- ${escapeMarkdown(r)}`);
    out.push('');
  }

  if (plan.held.length > 0) {
    out.push(`## ✋ Held back (${plural(plan.held.length, 'op')}): not applied`, '');
    out.push(`> ${HELD_MESSAGE}`, '');
    for (const { reason, total, shown } of held.reasons) {
      const counted = held.summarised ? ` (${firstOf(shown.length, total, 'change')})` : '';
      out.push(`### \`${reason.guard}\`: ${escapeMarkdown(reason.message)}${counted}`, '');
      for (const c of shown) out.push(...changeItem(c, true));
      if (shown.length < total) out.push(`- …and ${total - shown.length} more, in plan.json`);
      out.push('');
    }
    if (held.hiddenReasons > 0) {
      out.push(
        `…and ${plural(held.hiddenReasons, 'more reason')} holding ${plural(held.hiddenChanges, 'change')}, in plan.json.`,
        '',
      );
    }
  }

  if (plan.ops.length === 0) {
    out.push(`**${emptyPlanMessage(plan)}**`, '');
  } else {
    out.push('## Summary', '');
    out.push('| # | Change | Kind | Ops | Subjects |', '|--:|---|---|--:|--:|');
    for (const s of summarizeByKind(plan)) {
      out.push(`| ${s.phase} | ${s.label} | \`${s.kind}\` | ${s.ops} | ${s.subjects} |`);
    }
    out.push(`| | **Total** | | **${plan.ops.length}** | **${listing.total}** |`, '');
  }

  if (warnings.total > 0) {
    out.push(`## Warnings (${warnings.total})`, '');
    for (const g of warnings.groups) {
      out.push(`### \`${escapeMarkdown(g.code)}\` (${g.total})`, '');
      for (const w of g.shown) {
        const subject = w.subject === undefined ? '' : ` (${escapeMarkdown(w.subject)})`;
        out.push(`- ${escapeMarkdown(w.message)}${subject}`);
      }
      if (g.shown.length < g.total) out.push(`- …and ${g.total - g.shown.length} more, in plan.json`);
      out.push('');
    }
  }

  if (listing.summarised) {
    // Too many to list by person: the first of each kind, removals first.
    for (const sample of listing.categories) {
      const remove = sample.category === 'remove';
      const label = `${remove ? '⛔ ' : ''}${CATEGORY_LABELS[sample.category]}`;
      out.push(`## ${label} (${plural(sample.total, 'change')})${remove && blocked ? ': BLOCKED' : ''}`, '');
      if (remove) out.push(removalNote(plan, blocked), '');
      for (const k of sample.kinds) {
        out.push(`### ${KIND_LABELS[k.kind]} (${firstOf(k.shown.length, k.total, 'change')})`, '');
        for (const c of k.shown) out.push(...changeItem(c, true));
        if (k.shown.length < k.total) out.push(`- …and ${k.total - k.shown.length} more, in plan.json`);
        out.push('');
      }
    }
  } else {
    const changes = planChanges(plan);
    const kept = changes.filter((c) => c.category !== 'remove');
    const users = bySubject(
      kept.filter((c) => c.subjectType === 'user'),
      // Emails compare case-insensitively (docs/design.md §3): one heading per person.
      (e) => e.trim().toLowerCase(),
    );
    const groups = bySubject(
      kept.filter((c) => c.subjectType === 'group'),
      (g) => g,
    );
    if (users.length > 0) {
      out.push(`## Changes by user (${plural(users.length, 'user')})`, '');
      for (const [email, list] of users) {
        out.push(`### ${escapeMarkdown(email)}`, '');
        for (const c of list) out.push(...changeItem(c, false));
        out.push('');
      }
    }
    if (groups.length > 0) {
      out.push(`## Changes by group (${plural(groups.length, 'group')})`, '');
      for (const [group, list] of groups) {
        out.push(`### ${escapeMarkdown(group)}`, '');
        for (const c of list) out.push(...changeItem(c, false));
        out.push('');
      }
    }
    if (removals !== undefined) {
      out.push(`## ⛔ Removals (${removals.total})${blocked ? ': BLOCKED' : ''}`, '');
      out.push(removalNote(plan, blocked), '');
      for (const c of removals.shown) out.push(...changeItem(c, true));
      out.push('');
    }
  }

  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

function removalNote(plan: Plan, blocked: boolean): string {
  return blocked
    ? `> **These remove access and are blocked.** They run only after approval: \`${allowRemovalsHint(plan)}\`.`
    : '> **These remove access.** They run last, in this order.';
}

/** "the first 100 of 23000 changes", or "12 changes" when all are shown. */
function firstOf(shown: number, total: number, noun: string): string {
  return shown < total ? `the first ${shown} of ${total} ${noun}s` : plural(total, noun);
}

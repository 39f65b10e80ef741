// The plan as one self-contained HTML page: mailed, attached to a ticket, served by the daemon or
// opened from disk, it must work offline and print well. Rows are rendered here, so the page reads
// (and prints) without JS; the inline script only sorts and filters them.
//
// Every value from the plan is escaped, and a Content-Security-Policy allows only this file's own
// script and style (by hash): if a name ever slipped through unescaped, it still could not run or
// load anything.
import { createHash } from 'node:crypto';
import {
  OP_ORDER,
  type OpKind,
  type OrgRef,
  type Plan,
  REMOVAL_KINDS,
  ROLE_CHANGE_KINDS,
  type RoleRef,
} from '../reconcile/plan.js';
import {
  allowRemovalsHint,
  CATEGORY_LABELS,
  type Change,
  type ChangeCategory,
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
  summarizeByKind,
  summaryNote,
} from './describe.js';
import { showControls } from './text.js';

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Safe in text and in quoted attribute values. Control and bidi characters show as `\u001b`, as in
 * the other reports: an override must not reorder what a reviewer reads.
 */
export function escapeHtml(value: string): string {
  return showControls(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const CSS = `
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa;
  --add: #1a7f37; --add-bg: #dafbe1; --change: #9a6700; --change-bg: #fff8c5;
  --remove: #cf222e; --remove-bg: #ffebe9; --adopt: #0969da; --adopt-bg: #ddf4ff;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Liberation Sans", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.5 var(--sans); }
.page { max-width: 1280px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0 0 12px; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 17px; margin: 32px 0 10px; font-weight: 650; }
h3 { font-size: 14px; margin: 16px 0 6px; font-weight: 600; }
code, .mono { font-family: var(--mono); font-size: 12.5px; }
.muted, .id { color: var(--muted); }
.id { font-size: 12px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.meta dd.mono { font-size: 13px; }
.banner { border: 1px solid; border-left-width: 6px; border-radius: 6px; padding: 12px 16px; margin: 20px 0 0; }
.banner h2 { margin: 0 0 6px; font-size: 16px; }
.banner ul { margin: 6px 0; padding-left: 20px; }
.banner p { margin: 6px 0 0; }
.banner.blocked { border-color: var(--remove); background: var(--remove-bg); }
.banner.blocked h2 { color: var(--remove); }
.banner.incomplete { border-color: #bf8700; background: var(--change-bg); }
.banner.incomplete h2 { color: var(--change); }
.pill { display: inline-block; vertical-align: 2px; margin-right: 8px; padding: 1px 8px; border-radius: 4px;
  font-size: 11.5px; font-weight: 700; letter-spacing: .06em; text-transform: uppercase; color: #fff; }
.banner.blocked .pill { background: var(--remove); }
.banner.incomplete .pill { background: #9a6700; }
.banner.ok { border-color: var(--add); background: #f0fff4; }
.banner.ok h2 { color: var(--add); }
.banner.summarised { border-color: var(--adopt); background: var(--adopt-bg); }
.banner.summarised h2 { color: var(--adopt); }
.banner.summarised .pill { background: var(--adopt); }
.more { color: var(--muted); font-style: italic; }
.banner.empty { border-color: var(--add); background: #f0fff4; }
.banner.empty h2 { color: var(--add); }
.banner code { background: rgba(255,255,255,.7); padding: 1px 6px; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; margin: 20px 0 0; }
.card { border: 1px solid var(--line); border-top-width: 4px; border-radius: 6px; padding: 10px 14px; }
.card .n { font-size: 26px; font-weight: 650; line-height: 1.1; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); }
.card.add { border-top-color: var(--add); } .card.add .n { color: var(--add); }
.card.change { border-top-color: #d4a72c; } .card.change .n { color: var(--change); }
.card.remove { border-top-color: var(--remove); } .card.remove .n { color: var(--remove); }
.card.adopt { border-top-color: var(--adopt); } .card.adopt .n { color: var(--adopt); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 7px 9px; border-bottom: 1px solid var(--line); }
thead th { background: var(--panel); font-weight: 600; font-size: 12.5px; color: var(--muted); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.summary { width: auto; min-width: 520px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  white-space: nowrap; border: 1px solid transparent; }
.badge.add { color: var(--add); background: var(--add-bg); border-color: #aceebb; }
.badge.change { color: var(--change); background: var(--change-bg); border-color: #f2d36b; }
.badge.remove { color: var(--remove); background: var(--remove-bg); border-color: #ffcecb; }
.badge.adopt { color: var(--adopt); background: var(--adopt-bg); border-color: #b6e3ff; }
.kind code { display: block; color: var(--muted); font-size: 11px; margin-top: 2px; }
.stype { display: inline-block; font-size: 10.5px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; margin-right: 6px; }
.subject { font-weight: 600; overflow-wrap: break-word; }
td.subj { min-width: 180px; }
.who { display: flex; align-items: baseline; }
.who .stype { flex: none; }
td.org { min-width: 90px; overflow-wrap: anywhere; }
td.role { min-width: 140px; overflow-wrap: anywhere; }
td.why { min-width: 180px; }
tr.remove td { background: #fff5f5; }
tr.remove td:first-child { box-shadow: inset 4px 0 0 var(--remove); }
tr.remove .subject { color: var(--remove); }
.arrow { color: var(--muted); padding: 0 4px; }
.none { color: var(--muted); }
.from { text-decoration: line-through; text-decoration-color: rgba(89,99,110,.6); color: var(--muted); }
ul.reasons { margin: 0; padding-left: 16px; color: #31373d; overflow-wrap: anywhere; }
ul.reasons li { margin: 0; }
.warnings ul { margin: 4px 0 12px; padding-left: 20px; }
.warnings h3 code { font-size: 13px; }
.count { display: inline-block; min-width: 20px; padding: 0 6px; border-radius: 999px; background: var(--panel);
  border: 1px solid var(--line); font-size: 12px; text-align: center; color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; margin: 8px 0 12px; }
.controls label { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); }
.controls input, .controls select { font: inherit; color: var(--fg); padding: 5px 8px; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); }
.controls input { width: 280px; }
.controls input:focus, .controls select:focus, th button:focus-visible { outline: 2px solid var(--adopt); outline-offset: 1px; }
#counter { margin-left: auto; color: var(--muted); font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
#changes thead th { padding: 0; }
th button { all: unset; box-sizing: border-box; display: block; width: 100%; padding: 7px 9px; cursor: pointer; }
th button::after { content: "↕"; opacity: .35; margin-left: 6px; }
th[aria-sort="ascending"] button::after { content: "▲"; opacity: .8; }
th[aria-sort="descending"] button::after { content: "▼"; opacity: .8; }
#no-match { color: var(--muted); padding: 16px 10px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 900px) {
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .page { padding: 16px; }
}
@media print {
  @page { margin: 12mm; }
  body { font-size: 10pt; }
  .page { max-width: none; padding: 0; }
  .controls label, th button::after { display: none; }
  #counter { margin-left: 0; }
  .scroll { overflow: visible; }
  .cards { grid-template-columns: repeat(4, minmax(0, 1fr)); }
  td.subj, td.org, td.role, td.why { min-width: 0; }
  .badge { white-space: normal; }
  thead { display: table-header-group; }
  tr, .banner, .card { break-inside: avoid; }
  h2 { break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

const SCRIPT = `
'use strict';
(function () {
  var table = document.getElementById('changes');
  if (!table) return;
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var haystacks = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var filter = document.getElementById('filter');
  var kind = document.getElementById('kind');
  var counter = document.getElementById('counter');
  var noMatch = document.getElementById('no-match');
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  // A summarised report lists a sample: say how many the plan has.
  var inPlan = table.hasAttribute('data-total') ? ' (' + table.getAttribute('data-total') + ' in the plan)' : '';

  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var k = kind.value;
    var shown = 0;
    rows.forEach(function (r, i) {
      var visible = (k === '' || r.getAttribute('data-kind') === k) && (q === '' || haystacks[i].indexOf(q) !== -1);
      r.hidden = !visible;
      if (visible) shown++;
    });
    counter.textContent = shown + ' of ' + rows.length + ' changes shown' + inPlan;
    noMatch.hidden = shown !== 0;
  }

  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  headers.forEach(function (th, col) {
    th.querySelector('button').addEventListener('click', function () {
      var direction = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
      headers.forEach(function (h) { h.setAttribute('aria-sort', 'none'); });
      th.setAttribute('aria-sort', direction);
      var sign = direction === 'ascending' ? 1 : -1;
      var numeric = th.getAttribute('data-type') === 'number';
      var keyed = rows.map(function (r) {
        var cell = r.cells[col];
        var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
        return { row: r, value: v, index: Number(r.getAttribute('data-index')) };
      });
      keyed.sort(function (a, b) {
        var c = numeric ? Number(a.value) - Number(b.value) : collator.compare(a.value, b.value);
        return c !== 0 ? c * sign : a.index - b.index;
      });
      keyed.forEach(function (k) { tbody.appendChild(k.row); });
    });
  });

  filter.addEventListener('input', applyFilter);
  kind.addEventListener('change', applyFilter);
  applyFilter();
})();
`;

const cspHash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

// default-src 'none' also stops fetches and fonts: the report must never reach the network.
const CSP = [
  "default-src 'none'",
  `style-src ${cspHash(CSS)}`,
  `script-src ${cspHash(SCRIPT)}`,
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const e = escapeHtml;

function ref(r: RoleRef | OrgRef): string {
  const { name, id } = refParts(r);
  return id === null ? e(name) : `${e(name)} <span class="id">(${e(id)})</span>`;
}

function roleCell(c: Change): { html: string; sort: string } {
  if (c.from === null && c.to === null) return { html: '<span class="none">—</span>', sort: '' };
  const from = c.from === null ? '<span class="none">—</span>' : `<span class="from">${ref(c.from)}</span>`;
  const to = c.to === null ? '<span class="none">—</span>' : ref(c.to);
  const sort = [c.from?.name ?? '', c.to?.name ?? ''].join(' → ');
  return { html: `${from}<span class="arrow">→</span>${to}`, sort };
}

/** The summary colours a kind as a whole (a group role set may be a create or a change). */
function kindCategory(kind: OpKind): ChangeCategory {
  if (kind === 'adopt') return 'adopt';
  if (REMOVAL_KINDS.has(kind)) return 'remove';
  return ROLE_CHANGE_KINDS.has(kind) ? 'change' : 'add';
}

function badge(category: ChangeCategory, text: string): string {
  return `<span class="badge ${category}">${e(text)}</span>`;
}

function row(c: Change, index: number): string {
  const role = roleCell(c);
  const reasons =
    c.reasons.length === 0
      ? '<span class="none">—</span>'
      : `<ul class="reasons">${c.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>`;
  return [
    `<tr class="${c.category}" data-kind="${e(c.kind)}" data-index="${index}">`,
    `<td class="num" data-sort="${c.phase}">${c.phase}</td>`,
    `<td class="kind" data-sort="${e(KIND_LABELS[c.kind])}">${badge(c.category, KIND_LABELS[c.kind])}<code>${e(c.kind)}</code></td>`,
    `<td class="subj" data-sort="${e(c.subject)}"><div class="who"><span class="stype">${c.subjectType}</span><span class="subject">${e(c.subject)}</span></div></td>`,
    c.org === null
      ? '<td class="org" data-sort=""><span class="none">—</span></td>'
      : `<td class="org" data-sort="${e(c.org.name)}">${ref(c.org)}</td>`,
    `<td class="role" data-sort="${e(role.sort)}">${role.html}</td>`,
    `<td class="why">${reasons}</td>`,
    '</tr>',
  ].join('');
}

/** The last item of a list cut short: how many more, and where they are. */
function more(shown: number, total: number): string {
  return shown < total ? `<li class="more">…and ${total - shown} more, in plan.json</li>` : '';
}

const CATEGORY_CARDS: ReadonlyArray<[ChangeCategory, string]> = [
  ['add', 'additions'],
  ['change', 'role changes'],
  ['remove', 'removals'],
  ['adopt', 'adoptions'],
];

/**
 * The report's stylesheet and script as text: the daemon's console serves them as files of its own
 * (its CSP allows no inline code) around the same sections, so both read and behave alike.
 */
export const REPORT_CSS = CSS;
export const REPORT_SCRIPT = SCRIPT;

export function renderHtml(plan: Plan, opts: ReportOptions = {}): string {
  const title = opts.title ?? DEFAULT_TITLE;
  const s = plan.stats;
  const out: string[] = [];

  out.push(
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${e(CSP)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    // Without an icon of its own, a browser asks the server for /favicon.ico.
    '<link rel="icon" href="data:,">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<div class="page">',
    '<header>',
    `<h1>${e(title)}</h1>`,
    '<dl class="meta">',
    `<dt>Created</dt><dd><time datetime="${e(plan.createdAt)}">${e(plan.createdAt)}</time></dd>`,
  );
  if (opts.source !== undefined) out.push(`<dt>Directory source</dt><dd class="mono">${e(opts.source)}</dd>`);
  if (opts.devin !== undefined) out.push(`<dt>Devin</dt><dd class="mono">${e(opts.devin)}</dd>`);
  const devinRead = describeDevinRead(plan);
  if (devinRead !== undefined) out.push(`<dt>Devin read</dt><dd>${e(devinRead)}</dd>`);
  out.push(
    `<dt>Fingerprint</dt><dd class="mono">${e(plan.fingerprint)}</dd>`,
    `<dt>Directory read</dt><dd>${plan.complete ? 'complete' : '<strong>incomplete</strong>'}</dd>`,
    `<dt>Counts</dt><dd>Directory ${s.directoryUsers} users, ${s.directoryGroups} groups · Devin ${s.devinUsers} users, ${s.devinGroups} groups · ${s.managedUsers} managed users</dd>`,
    '</dl>',
    '</header>',
    '<main>',
    renderReportSections(plan, opts),
    '</main>',
    `<footer>Generated by idsync · plan format version ${plan.version} · fingerprint <span class="mono">${e(plan.fingerprint)}</span></footer>`,
    '</div>',
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
  );
  return `${out.join('\n')}\n`;
}

/**
 * The body of the report: banners (summarised, incomplete, guardrails, held back), the counts, the
 * summary by kind, the warnings and the table of changes (#changes, with #filter, #kind, #counter
 * and #no-match for REPORT_SCRIPT). Every value escaped.
 */
export function renderReportSections(plan: Plan, opts: ReportOptions = {}): string {
  const limits = limitsOf(opts);
  const report = listReport(plan, limits);
  const { changes: listing, held, warnings } = report;
  const blocked = plan.guardrails.verdict === 'blocked';
  const out: string[] = [];

  if (report.summarised) {
    out.push(
      '<section class="banner summarised" id="summarised">',
      '<h2><span class="pill">Summarised</span> Too large to list in full</h2>',
      `<p>${e(summaryNote(report, limits))}</p>`,
      `<p><strong>${e(FULL_LIST_POINTER)}</strong></p>`,
      '</section>',
    );
  }
  if (!plan.complete) {
    out.push(
      '<section class="banner incomplete" role="alert">',
      '<h2><span class="pill">Incomplete</span> Directory read was incomplete</h2>',
      `<p>${e(INCOMPLETE_MESSAGE)}</p>`,
      '</section>',
    );
  }
  if (blocked) {
    const n = removalCount(plan);
    out.push(
      '<section class="banner blocked" role="alert" id="guardrails">',
      '<h2><span class="pill">Blocked</span> Guardrails: removals and role changes will not be applied</h2>',
      '<p>Additions still apply. Removals and role changes need approval:</p>',
      `<ul>${plan.guardrails.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>`,
      n > 0
        ? `<p>Review the ${n} change${n === 1 ? '' : 's'} ${listing.summarised ? '(the first of each kind are below, and plan.json lists all)' : 'below'}, then approve with <code>${e(allowRemovalsHint(plan))}</code>.</p>`
        : '',
      '</section>',
    );
  } else if (plan.ops.length > 0 || plan.guardrails.reasons.length > 0) {
    out.push(
      '<section class="banner ok" id="guardrails">',
      '<h2>✓ Guardrails: ok</h2>',
      plan.guardrails.reasons.length === 0
        ? '<p>All changes are within the configured limits.</p>'
        : `<ul>${plan.guardrails.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>`,
      '</section>',
    );
  }

  if (plan.held.length > 0) {
    out.push(
      '<section class="banner blocked" role="alert" id="held">',
      `<h2><span class="pill">Held back</span> ${plan.held.length} op${plan.held.length === 1 ? '' : 's'} not applied</h2>`,
      `<p>${e(HELD_MESSAGE)}</p>`,
    );
    for (const { reason, total, shown } of held.reasons) {
      const counted = held.summarised ? ` <span class="count">${total}</span>` : '';
      out.push(
        `<h3><code>${e(reason.guard)}</code> ${e(reason.message)}${counted}</h3>`,
        `<ul>${shown.map((c) => `<li><strong>${e(c.subject)}</strong>: ${describeAction(c, { ref })}</li>`).join('')}${more(shown.length, total)}</ul>`,
      );
    }
    if (held.hiddenReasons > 0) {
      out.push(
        `<p class="more">…and ${held.hiddenReasons} more reason${held.hiddenReasons === 1 ? '' : 's'} holding ${held.hiddenChanges} change${held.hiddenChanges === 1 ? '' : 's'}, in plan.json.</p>`,
      );
    }
    out.push('</section>');
  }

  if (plan.ops.length === 0) {
    const known = plan.complete && plan.held.length === 0;
    out.push(
      `<section class="banner empty" id="empty"><h2>${known ? '✓ ' : ''}${e(emptyPlanMessage(plan))}</h2></section>`,
    );
  } else {
    out.push('<div class="cards">');
    for (const [category, label] of CATEGORY_CARDS) {
      const n = listing.categories.find((c) => c.category === category)?.total ?? 0;
      out.push(`<div class="card ${category}"><div class="n">${n}</div><div class="l">${label}</div></div>`);
    }
    out.push('</div>');
    out.push(
      '<section id="summary">',
      '<h2>Summary</h2>',
      '<table class="summary"><thead><tr><th class="num">#</th><th>Change</th><th>Kind</th><th class="num">Ops</th><th class="num">Subjects</th></tr></thead><tbody>',
    );
    for (const k of summarizeByKind(plan)) {
      const category = kindCategory(k.kind);
      out.push(
        `<tr><td class="num">${k.phase}</td><td>${badge(category, k.label)}</td><td><code>${e(k.kind)}</code></td><td class="num">${k.ops}</td><td class="num">${k.subjects}</td></tr>`,
      );
    }
    out.push(
      `<tr><td></td><td><strong>Total</strong></td><td></td><td class="num"><strong>${plan.ops.length}</strong></td><td class="num"><strong>${listing.total}</strong></td></tr>`,
      '</tbody></table>',
      '</section>',
    );
  }

  if (warnings.total > 0) {
    out.push(
      '<section class="warnings" id="warnings">',
      `<h2>Warnings <span class="count">${warnings.total}</span></h2>`,
    );
    for (const g of warnings.groups) {
      out.push(`<h3><code>${e(g.code)}</code> <span class="count">${g.total}</span></h3><ul>`);
      for (const w of g.shown) {
        const subject = w.subject === undefined ? '' : ` <span class="muted">(${e(w.subject)})</span>`;
        out.push(`<li>${e(w.message)}${subject}</li>`);
      }
      out.push(`${more(g.shown.length, g.total)}</ul>`);
    }
    out.push('</section>');
  }

  if (listing.total > 0) {
    // A summarised table holds the first of each kind, removals first, in that order.
    const rows = listing.summarised ? listing.categories.flatMap((c) => c.shown) : planChanges(plan);
    const kinds = OP_ORDER.filter((k) => rows.some((c) => c.kind === k));
    const phaseSort = listing.summarised ? 'none' : 'ascending';
    out.push(
      '<section id="all-changes">',
      '<h2>Changes</h2>',
      listing.summarised
        ? `<p>This table lists ${rows.length} of the ${listing.total} changes: the first ${limits.sample} of each kind, removals first (${listing.categories.map((c) => `${c.total} ${CATEGORY_LABELS[c.category].toLowerCase()}`).join(', ')} in the plan). ${e(FULL_LIST_POINTER)}</p>`
        : '',
      '<div class="controls">',
      '<label>Filter <input type="search" id="filter" placeholder="email, group, org, role, reason…" autocomplete="off"></label>',
      '<label>Kind <select id="kind"><option value="">All kinds</option>',
      ...kinds.map((k) => `<option value="${e(k)}">${e(KIND_LABELS[k])}</option>`),
      '</select></label>',
      `<span id="counter" role="status" aria-live="polite">${rows.length} of ${rows.length} changes shown${listing.summarised ? ` (${listing.total} in the plan)` : ''}</span>`,
      '</div>',
      '<div class="scroll">',
      listing.summarised ? `<table id="changes" data-total="${listing.total}">` : '<table id="changes">',
      '<thead><tr>',
      `<th scope="col" class="num" data-type="number" aria-sort="${phaseSort}"><button type="button">#</button></th>`,
      '<th scope="col" aria-sort="none"><button type="button">Kind</button></th>',
      '<th scope="col" aria-sort="none"><button type="button">Subject</button></th>',
      '<th scope="col" aria-sort="none"><button type="button">Org</button></th>',
      '<th scope="col" aria-sort="none"><button type="button">Role (from → to)</button></th>',
      '<th scope="col" aria-sort="none"><button type="button">Reasons</button></th>',
      '</tr></thead>',
      '<tbody>',
      ...rows.map(row),
      '</tbody>',
      '</table>',
      '</div>',
      '<p id="no-match" hidden>No changes match the filter.</p>',
      '</section>',
    );
  }
  return out.join('\n');
}

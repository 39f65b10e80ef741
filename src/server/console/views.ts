// The console's pages as pure functions of plain data: a run record, a parsed plan, a comparison,
// queue counts, who is signed in. No I/O here; routes.ts gathers the data. Every value that came
// from the directory, Devin, the IdP or a person is escaped with the reports' escapeHtml, which
// also shows control and bidi characters as `\u202e` so a name cannot reorder what a reviewer
// reads. No inline script or style anywhere: the CSP forbids both.

import type { RunRecord, RunStatus } from '../../daemon/types.js';
import {
  OP_ORDER,
  type OpKind,
  type OrgRef,
  type Plan,
  REMOVAL_KINDS,
  type RoleRef,
} from '../../reconcile/plan.js';
import { renderReportSections } from '../../report/html.js';
import {
  type Change,
  describeAction,
  escapeHtml as e,
  KIND_LABELS,
  removalCount,
} from '../../report/index.js';
import type { PlanComparison } from './compare.js';
import { CSRF_FIELD } from './csrf.js';

/** What every page knows: where the console lives, its assets, who is looking. */
export interface Chrome {
  /** The path prefix of server.publicUrl ('' at the root). */
  base: string;
  assets: { css: string[]; js: string[] };
  viewer?: Viewer;
}

export interface Viewer {
  /** As shown: `Alice Example <alice@corp.example>`, or `admin token`. */
  display: string;
  mayApprove: boolean;
  mode: 'oidc' | 'basic';
  /** The CSRF token of this viewer's forms. */
  csrf: string;
}

/** A person's comment: its lines as lines, each escaped. */
const lines = (text: string) => text.split('\n').map(e).join('<br>');

const href = (chrome: Chrome, path: string) => e(`${chrome.base}${path}`);
const runHref = (chrome: Chrome, id: string) => href(chrome, `/console/runs/${encodeURIComponent(id)}`);

export function layout(chrome: Chrome, p: { title: string; body: string; refreshSeconds?: number }): string {
  const v = chrome.viewer;
  const who =
    v === undefined
      ? ''
      : `<div class="who"><span>Signed in as <strong>${e(v.display)}</strong>${v.mayApprove ? ' <span class="tag">approver</span>' : ' <span class="tag muted">viewer</span>'}</span>${
          v.mode === 'oidc'
            ? `<form method="post" action="${href(chrome, '/console/signout')}"><input type="hidden" name="${CSRF_FIELD}" value="${e(v.csrf)}"><button type="submit" class="link">Sign out</button></form>`
            : ''
        }</div>`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    p.refreshSeconds !== undefined ? `<meta http-equiv="refresh" content="${p.refreshSeconds}">` : '',
    '<link rel="icon" href="data:,">',
    `<title>${e(p.title)} · idsync</title>`,
    ...chrome.assets.css.map((c) => `<link rel="stylesheet" href="${href(chrome, c)}">`),
    ...chrome.assets.js.map((j) => `<script src="${href(chrome, j)}" defer></script>`),
    '</head>',
    '<body>',
    '<a class="skip" href="#content">Skip to content</a>',
    `<nav class="top" aria-label="Console"><a class="brand" href="${href(chrome, '/console')}">idsync console</a>${who}</nav>`,
    `<div class="page" id="content">`,
    p.body,
    '</div>',
    '</body>',
    '</html>',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

// ---- pieces --------------------------------------------------------------------------------------

const STATUS_CLASS: Record<RunStatus, string> = {
  queued: 'busy',
  planning: 'busy',
  applying: 'busy',
  'awaiting-approval': 'waiting',
  succeeded: 'ok',
  partial: 'warn',
  failed: 'bad',
  blocked: 'bad',
  superseded: 'muted',
  rejected: 'muted',
};

export function statusBadge(status: RunStatus): string {
  return `<span class="status ${STATUS_CLASS[status]}">${e(status)}</span>`;
}

/** `5 min ago`: a reviewer's sense of time; the exact instant is in the title and datetime. */
export function age(iso: string, nowMs: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return e(iso);
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  const text =
    s < 60
      ? `${s} s ago`
      : s < 3600
        ? `${Math.floor(s / 60)} min ago`
        : s < 86_400
          ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`
          : `${Math.floor(s / 86_400)} d ago`;
  return `<time datetime="${e(iso)}" title="${e(iso)}">${text}</time>`;
}

function kindClass(kind: OpKind): string {
  if (kind === 'adopt') return 'adopt';
  return REMOVAL_KINDS.has(kind)
    ? 'remove'
    : kind === 'setUserEnterpriseRole' || kind === 'setOrgUserRole'
      ? 'change'
      : 'add';
}

/** Op counts by kind, in execution order. */
export function opCounts(summary: Partial<Record<OpKind, number>>): string {
  const kinds = OP_ORDER.filter((k) => (summary[k] ?? 0) > 0);
  if (kinds.length === 0) return '<span class="none">none</span>';
  return `<ul class="kinds">${kinds
    .map((k) => `<li><span class="badge ${kindClass(k)}">${summary[k]} × ${e(KIND_LABELS[k])}</span></li>`)
    .join('')}</ul>`;
}

function ref(r: RoleRef | OrgRef): string {
  return r.name === r.id ? e(r.name) : `${e(r.name)} <span class="id">(${e(r.id)})</span>`;
}

// ---- the runs list -------------------------------------------------------------------------------

export interface QueueState {
  name: string;
  /** undefined: could not be read (Redis down or slow). */
  counts?: Record<string, number>;
}

export interface RunsListData {
  runs: readonly RunRecord[];
  queues: readonly QueueState[];
  nowMs: number;
  /** Shown at all only when the admin token is configured (the dashboard needs it). */
  dashboard: boolean;
}

const QUEUE_COUNTS = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

export function runsListPage(chrome: Chrome, d: RunsListData): string {
  const waiting = d.runs.filter((r) => r.status === 'awaiting-approval').length;
  const rows = d.runs.map((r) => {
    const p = r.plan;
    const decided = r.approvedBy
      ? `approved by ${e(r.approvedBy)}`
      : r.rejectedBy
        ? `rejected by ${e(r.rejectedBy)}`
        : '';
    return [
      `<tr class="${r.status === 'awaiting-approval' ? 'attention' : ''}">`,
      `<td><a href="${runHref(chrome, r.id)}" class="run">${e(r.id)}</a></td>`,
      `<td>${statusBadge(r.status)}${decided ? `<div class="small muted">${decided}</div>` : ''}</td>`,
      `<td>${e(r.trigger)}${r.reason !== undefined ? `<div class="small muted reason">${e(r.reason)}</div>` : ''}</td>`,
      `<td>${p ? opCounts(p.summary) : '<span class="none">not planned yet</span>'}${p?.held ? `<div class="small"><span class="flag bad">${p.held} held back</span></div>` : ''}</td>`,
      `<td>${p ? (p.guardrails.verdict === 'blocked' ? `<span class="flag bad" title="${e(p.guardrails.reasons.join('; '))}">blocked</span>` : '<span class="flag ok">ok</span>') : '<span class="none">—</span>'}</td>`,
      `<td>${p ? (p.complete ? '<span class="flag ok">complete</span>' : '<span class="flag warn">incomplete</span>') : '<span class="none">—</span>'}</td>`,
      `<td class="nowrap">${age(r.createdAt, d.nowMs)}</td>`,
      '</tr>',
    ].join('');
  });
  const body = [
    '<h1>Runs</h1>',
    waiting > 0
      ? `<p class="banner waiting" role="status">${waiting} run${waiting === 1 ? ' waits' : 's wait'} for approval.</p>`
      : '',
    d.runs.length === 0
      ? '<p class="muted">No runs yet.</p>'
      : [
          '<div class="scroll"><table class="runs">',
          '<caption class="sr-only">Recent runs, newest first</caption>',
          '<thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Changes</th><th scope="col">Guardrails</th><th scope="col">Directory read</th><th scope="col">Age</th></tr></thead>',
          `<tbody>${rows.join('\n')}</tbody>`,
          '</table></div>',
        ].join('\n'),
    queuesSection(chrome, d),
  ];
  return layout(chrome, { title: 'Runs', body: body.join('\n'), refreshSeconds: 30 });
}

function queuesSection(chrome: Chrome, d: RunsListData): string {
  const rows = d.queues.map(
    (q) =>
      `<tr><th scope="row"><code>${e(q.name)}</code></th>${
        q.counts === undefined
          ? `<td colspan="${QUEUE_COUNTS.length}" class="muted">unavailable</td>`
          : QUEUE_COUNTS.map((c) => `<td class="num">${q.counts?.[c] ?? 0}</td>`).join('')
      }</tr>`,
  );
  return [
    '<section aria-labelledby="queues-h">',
    '<h2 id="queues-h">Queues</h2>',
    d.queues.length === 0
      ? '<p class="muted">No queues.</p>'
      : `<div class="scroll"><table class="queues"><thead><tr><th scope="col">Queue</th>${QUEUE_COUNTS.map((c) => `<th scope="col" class="num">${c}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`,
    d.dashboard
      ? `<p><a href="${href(chrome, '/admin/queues')}">Open the queue dashboard</a> <span class="muted">(asks for the admin token)</span></p>`
      : '',
    '</section>',
  ].join('\n');
}

// ---- a run -----------------------------------------------------------------------------------------

export interface RunPageData {
  run: RunRecord;
  /** The stored plan, once planned. */
  plan?: Plan;
  /** The previous run with a plan, and how this plan differs from its plan. */
  previous?: { run: RunRecord; comparison: PlanComparison };
  nowMs: number;
  /** After a decision: the 303 back here says which. */
  done?: 'approved' | 'rejected';
}

const IN_PROGRESS: ReadonlySet<RunStatus> = new Set(['queued', 'planning', 'applying']);
/** Changes listed per side of the comparison; the counts are always whole. */
export const COMPARISON_SHOWN = 50;

export function runPage(chrome: Chrome, d: RunPageData): string {
  const r = d.run;
  const out: string[] = [];
  out.push(
    `<p class="crumbs"><a href="${href(chrome, '/console')}">Runs</a> / <span>${e(r.id)}</span></p>`,
    `<h1>Run <span class="mono">${e(r.id)}</span> ${statusBadge(r.status)}</h1>`,
  );
  if (d.done === 'approved')
    out.push(
      '<p class="banner ok" role="status">Approved. The plan is being applied; this page follows it.</p>',
    );
  if (d.done === 'rejected')
    out.push(
      '<p class="banner muted" role="status">Rejected. Nothing more of this plan will be applied.</p>',
    );

  const meta: Array<[string, string]> = [
    ['Trigger', e(r.trigger)],
    ...(r.reason !== undefined ? ([['Reason', e(r.reason)]] as Array<[string, string]>) : []),
    ['Created', age(r.createdAt, d.nowMs)],
    ...(r.startedAt ? ([['Started', age(r.startedAt, d.nowMs)]] as Array<[string, string]>) : []),
    ...(r.finishedAt ? ([['Finished', age(r.finishedAt, d.nowMs)]] as Array<[string, string]>) : []),
  ];
  if (r.plan) {
    meta.push(['Fingerprint', `<span class="mono">${e(r.plan.fingerprint)}</span>`]);
    meta.push(['Changes', opCounts(r.plan.summary)]);
  }
  if (r.opCounts) {
    meta.push([
      'Applied so far',
      Object.entries(r.opCounts)
        .map(([k, n]) => `${e(k)} ${n}`)
        .join(' · '),
    ]);
  }
  if (r.approvedBy !== undefined) {
    meta.push([
      'Approved by',
      `<strong>${e(r.approvedBy)}</strong>${r.approvedAt ? `, ${age(r.approvedAt, d.nowMs)}` : ''}`,
    ]);
    if (r.approvalComment !== undefined)
      meta.push(['Approval comment', `<q class="comment">${lines(r.approvalComment)}</q>`]);
  }
  if (r.rejectedBy !== undefined) {
    meta.push([
      'Rejected by',
      `<strong>${e(r.rejectedBy)}</strong>${r.rejectedAt ? `, ${age(r.rejectedAt, d.nowMs)}` : ''}`,
    ]);
    if (r.rejectionComment !== undefined)
      meta.push(['Rejection comment', `<q class="comment">${lines(r.rejectionComment)}</q>`]);
  }
  if (r.supersededBy !== undefined)
    meta.push(['Superseded by', `<a href="${runHref(chrome, r.supersededBy)}">${e(r.supersededBy)}</a>`]);
  if (r.error !== undefined) meta.push(['Error', `<span class="error">${e(r.error)}</span>`]);
  out.push(`<dl class="meta">${meta.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`);

  if (r.failedOps && r.failedOps.length > 0) {
    out.push(
      '<section aria-labelledby="failed-h"><h2 id="failed-h">Failed operations</h2><ul class="failed">',
      ...r.failedOps.slice(0, 100).map((f) => `<li><code>${e(f.key)}</code>: ${e(f.error)}</li>`),
      '</ul></section>',
    );
  }

  if (r.status === 'awaiting-approval') out.push(decisionSection(chrome, d));
  if (d.previous) out.push(comparisonSection(chrome, d.previous));
  else if (d.plan)
    out.push(
      '<section aria-labelledby="since-h"><h2 id="since-h">Since the previous run</h2><p class="muted">No earlier run with a plan to compare with.</p></section>',
    );

  if (d.plan) {
    out.push('<section class="report" aria-label="The plan">', renderReportSections(d.plan), '</section>');
  } else if (!IN_PROGRESS.has(r.status)) {
    out.push('<p class="muted">This run has no plan.</p>');
  } else {
    out.push('<p class="muted">Not planned yet; this page refreshes.</p>');
  }
  return layout(chrome, {
    title: `Run ${r.id}`,
    body: out.join('\n'),
    ...(IN_PROGRESS.has(r.status) ? { refreshSeconds: 3 } : {}),
  });
}

function decisionSection(chrome: Chrome, d: RunPageData): string {
  const v = chrome.viewer;
  const plan = d.plan;
  const blocked = d.run.plan?.guardrails.verdict === 'blocked';
  const held = d.run.plan?.held ?? 0;
  const notes: string[] = [];
  if (blocked && plan) {
    notes.push(
      `<li>Guardrails blocked this plan: approving releases its ${removalCount(plan)} removal(s) and role change(s).</li>`,
    );
  }
  if (held > 0)
    notes.push(
      `<li>${held} held-back change(s) are not released by an approval; their cause has to go away.</li>`,
    );
  notes.push(
    '<li>Approval applies exactly this plan, after checking that Devin still holds what it expected.</li>',
  );
  const intro = [
    '<section class="decision" aria-labelledby="decision-h">',
    '<h2 id="decision-h">This run waits for approval</h2>',
    `<ul class="notes">${notes.join('')}</ul>`,
  ];
  if (!v?.mayApprove) {
    return [
      ...intro,
      `<p class="banner muted" role="note">You can read this run, but ${v ? `<strong>${e(v.display)}</strong> is` : 'you are'} not an approver: only the people and groups in <code>server.console.approvers</code> can approve or reject.</p>`,
      '</section>',
    ].join('\n');
  }
  return [
    ...intro,
    `<form method="post" action="${runHref(chrome, d.run.id)}/decision" class="decide">`,
    `<input type="hidden" name="${CSRF_FIELD}" value="${e(v.csrf)}">`,
    '<label for="comment">Comment <span class="muted">(optional; recorded with your decision)</span></label>',
    '<textarea id="comment" name="comment" rows="3" maxlength="2000" placeholder="e.g. checked with HR, ticket CHG-4711"></textarea>',
    '<div class="buttons">',
    '<button type="submit" name="decision" value="approve" class="primary">Approve and apply</button>',
    '<button type="submit" name="decision" value="reject" class="danger">Reject</button>',
    '</div>',
    '</form>',
    '</section>',
  ].join('\n');
}

function changeItem(c: Change): string {
  return `<li><span class="badge ${c.category}">${e(KIND_LABELS[c.kind])}</span> <strong class="subject">${e(c.subject)}</strong>: ${describeAction(c, { ref })}</li>`;
}

function comparisonSection(chrome: Chrome, prev: NonNullable<RunPageData['previous']>): string {
  const { added, gone, same } = prev.comparison;
  const list = (changes: Change[], what: string) =>
    changes.length === 0
      ? `<p class="muted">None ${what}.</p>`
      : `<ul class="changes">${changes.slice(0, COMPARISON_SHOWN).map(changeItem).join('')}${
          changes.length > COMPARISON_SHOWN
            ? `<li class="more">…and ${changes.length - COMPARISON_SHOWN} more</li>`
            : ''
        }</ul>`;
  return [
    '<section aria-labelledby="since-h">',
    '<h2 id="since-h">Since the previous run</h2>',
    `<p>Compared with <a href="${runHref(chrome, prev.run.id)}">${e(prev.run.id)}</a> (${statusBadge(prev.run.status)}): <strong>${added.length}</strong> new change${added.length === 1 ? '' : 's'}, <strong>${gone.length}</strong> gone, ${same} the same.</p>`,
    '<div class="since">',
    `<div><h3>New in this plan <span class="count">${added.length}</span></h3>${list(added, 'new')}</div>`,
    `<div><h3>Gone since <span class="count">${gone.length}</span></h3>${list(gone, 'gone')}</div>`,
    '</div>',
    '</section>',
  ].join('\n');
}

// ---- sign-in and messages ----------------------------------------------------------------------------

export function signInPage(
  chrome: Chrome,
  d: { loginHref: string; issuerHost: string; reason?: 'expired' | 'signed-out' | 'required' },
): string {
  const why =
    d.reason === 'expired'
      ? '<p class="banner warn" role="alert">Your session has expired. Sign in again to go on.</p>'
      : d.reason === 'signed-out'
        ? '<p class="banner ok" role="status">You are signed out.</p>'
        : '';
  return layout(chrome, {
    title: 'Sign in',
    body: [
      '<h1>Sign in</h1>',
      why,
      '<p>The idsync console shows runs and their plans, and lets approvers approve or reject them.</p>',
      `<p><a class="button primary" href="${e(d.loginHref)}">Sign in with ${e(d.issuerHost)}</a></p>`,
    ].join('\n'),
  });
}

export function messagePage(
  chrome: Chrome,
  d: { title: string; message: string; links?: Array<{ href: string; text: string }> },
): string {
  return layout(chrome, {
    title: d.title,
    body: [
      `<h1>${e(d.title)}</h1>`,
      `<p class="banner bad" role="alert">${e(d.message)}</p>`,
      ...(d.links ?? []).map((l) => `<p><a href="${e(l.href)}">${e(l.text)}</a></p>`),
    ].join('\n'),
  });
}

// The console's pages as pure functions: hostile names (a group called `<script>`, bidi overrides,
// quotes, control characters) stay text wherever they come from (directory, Devin, the IdP, a
// reviewer's comment); no inline script, style or event handler is ever written; the decision form
// is there for approvers only, with their CSRF token.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../../../src/daemon/types.js';
import type { Plan } from '../../../../src/reconcile/plan.js';
import { comparePlans } from '../../../../src/server/console/compare.js';
import {
  age,
  type Chrome,
  layout,
  messagePage,
  opCounts,
  runPage,
  runsListPage,
  signInPage,
} from '../../../../src/server/console/views.js';
import { loadPlan } from '../../report/fixtures.js';

const HOSTILE = '<script>alert(1)</script>\u202egnp.exe "\' & \u001b[31m';
const SHOWN = '&lt;script&gt;alert(1)&lt;/script&gt;\\u202egnp.exe &quot;&#39; &amp; \\u001b[31m';
const NOW = Date.parse('2026-03-01T12:00:00Z');

const chrome = (mayApprove: boolean, base = ''): Chrome => ({
  base,
  assets: { css: ['/console/static/report.abc.css'], js: ['/console/static/report.abc.js'] },
  viewer: { display: `Eve ${HOSTILE}`, mayApprove, mode: 'oidc', csrf: 'csrf-token-value' },
});

/** What a page must never contain as itself: C0 (but tab and newline), DEL, C1 and bidi controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: what a page must never contain.
const NEVER_SHOWN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Every `<script` is an asset tag, no element has a style or on* attribute, no control character. */
function assertInert(html: string): void {
  for (const m of html.matchAll(/<script\b[^>]*>/g)) expect(m[0]).toMatch(/^<script src="[^"]+" defer>$/);
  expect(html).not.toMatch(/<style\b/i);
  expect(html).not.toMatch(/\sstyle=/i);
  expect(html).not.toMatch(/\son[a-z]+=/i);
  expect(html).not.toMatch(NEVER_SHOWN);
}

function hostilePlan(): Plan {
  const plan = loadPlan('typical');
  const json = JSON.stringify(plan).replaceAll('devin-data', JSON.stringify(HOSTILE).slice(1, -1));
  return JSON.parse(json) as Plan;
}

const run = (fields: Partial<RunRecord> = {}): RunRecord => ({
  id: 'run-20260301T115500Z-abc123',
  trigger: 'webhook',
  status: 'awaiting-approval',
  createdAt: '2026-03-01T11:55:00Z',
  ...fields,
});

const planSummary = (p: Plan): NonNullable<RunRecord['plan']> => ({
  fingerprint: p.fingerprint,
  summary: p.summary,
  ops: p.ops.length,
  warnings: p.warnings.length,
  complete: p.complete,
  guardrails: p.guardrails,
  held: p.held.length,
});

describe('the runs list', () => {
  it('shows status, trigger, reason, op counts by kind, guardrails, the read and the age; escaped', () => {
    const plan = loadPlan('blocked');
    const html = runsListPage(chrome(true), {
      runs: [
        run({ reason: HOSTILE, plan: { ...planSummary(plan), complete: false, held: 2 } }),
        run({ id: 'run-2', status: 'succeeded', approvedBy: HOSTILE, trigger: 'schedule' }),
      ],
      queues: [{ name: 'idsync-sync', counts: { waiting: 1, active: 0, failed: 3 } }, { name: 'idsync-ops' }],
      nowMs: NOW,
      dashboard: true,
    });
    assertInert(html);
    expect(html).toContain(`<div class="small muted reason">${SHOWN}</div>`);
    expect(html).toContain(`approved by ${SHOWN}`);
    expect(html).toContain('<span class="status waiting">awaiting-approval</span>');
    expect(html).toContain('<span class="flag bad" title="');
    expect(html).toContain('<span class="flag warn">incomplete</span>');
    expect(html).toContain('2 held back');
    expect(html).toContain(
      '<time datetime="2026-03-01T11:55:00Z" title="2026-03-01T11:55:00Z">5 min ago</time>',
    );
    expect(html).toContain('1 run waits for approval.');
    expect(html).toContain('<td class="num">3</td>');
    expect(html).toContain('<td colspan="6" class="muted">unavailable</td>');
    expect(html).toContain('<a href="/admin/queues">Open the queue dashboard</a>');
    expect(html).toContain('href="/console/runs/run-20260301T115500Z-abc123"');
    expect(html).toContain(`Signed in as <strong>Eve ${SHOWN}</strong>`);
  });

  it('op counts follow the execution order, each with its label', () => {
    expect(opCounts({ removeUser: 2, inviteUsers: 1 })).toBe(
      '<ul class="kinds"><li><span class="badge add">1 × Invite user</span></li><li><span class="badge remove">2 × Remove user</span></li></ul>',
    );
    expect(opCounts({})).toBe('<span class="none">none</span>');
  });

  it('links and assets carry the path prefix of publicUrl', () => {
    const html = runsListPage(chrome(false, '/idsync'), {
      runs: [run()],
      queues: [],
      nowMs: NOW,
      dashboard: false,
    });
    expect(html).toContain('href="/idsync/console/runs/run-20260301T115500Z-abc123"');
    expect(html).toContain('<link rel="stylesheet" href="/idsync/console/static/report.abc.css">');
    expect(html).toContain('action="/idsync/console/signout"');
    expect(html).not.toContain('queue dashboard');
  });

  it('whatever the strings, nothing in them runs or reorders the page', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (reason, by) => {
          const html = runsListPage(chrome(true), {
            runs: [run({ reason, rejectedBy: by, status: 'rejected', error: reason })],
            queues: [{ name: by }],
            nowMs: NOW,
            dashboard: true,
          });
          assertInert(html);
          // The only tags are the page's own.
          for (const m of html.matchAll(/<([a-z0-9]+)/gi)) {
            expect([
              'html',
              'head',
              'meta',
              'link',
              'title',
              'script',
              'body',
              'a',
              'nav',
              'div',
              'span',
              'strong',
              'form',
              'input',
              'button',
              'h1',
              'h2',
              'section',
              'p',
              'table',
              'caption',
              'thead',
              'tbody',
              'tr',
              'th',
              'td',
              'code',
              'time',
              'ul',
              'li',
            ]).toContain(m[1]);
          }
        },
      ),
    );
  });
});

describe('a run', () => {
  it('shows the plan with the report sections, a decision form for approvers with their CSRF token', () => {
    const plan = hostilePlan();
    const html = runPage(chrome(true), {
      run: run({ reason: HOSTILE, plan: planSummary(plan) }),
      plan,
      nowMs: NOW,
    });
    assertInert(html);
    expect(html).toContain('<table id="changes">');
    expect(html).toContain('<input type="search" id="filter"');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;\\u202egnp.exe');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain(
      '<form method="post" action="/console/runs/run-20260301T115500Z-abc123/decision" class="decide">',
    );
    expect(html).toContain('<input type="hidden" name="_csrf" value="csrf-token-value">');
    expect(html).toContain('<label for="comment">');
    expect(html).toContain(
      '<button type="submit" name="decision" value="approve" class="primary">Approve and apply</button>',
    );
    expect(html).toContain(
      '<button type="submit" name="decision" value="reject" class="danger">Reject</button>',
    );
    expect(html).not.toContain('http-equiv="refresh"');
  });

  it('a blocked plan says what approval releases; a viewer gets no form, but the reason', () => {
    const plan = loadPlan('blocked');
    const html = runPage(chrome(false), { run: run({ plan: planSummary(plan) }), plan, nowMs: NOW });
    expect(html).toContain('Guardrails blocked this plan: approving releases its');
    expect(html).not.toContain('class="decide"');
    expect(html).not.toContain('Approve and apply');
    expect(html).toContain(`but <strong>Eve ${SHOWN}</strong> is not an approver`);
  });

  it('records decisions, comments and errors as text; a run in progress refreshes itself', () => {
    const decided = runPage(chrome(true), {
      run: run({
        status: 'rejected',
        rejectedBy: HOSTILE,
        rejectedAt: '2026-03-01T11:59:00Z',
        rejectionComment: `not now\n${HOSTILE}`,
        error: HOSTILE,
        supersededBy: 'run-<x>',
        failedOps: [{ key: `removeUser/${HOSTILE}`, kind: 'removeUser', error: HOSTILE }],
      }),
      nowMs: NOW,
      done: 'rejected',
    });
    assertInert(decided);
    expect(decided).toContain(`<dt>Rejected by</dt><dd><strong>${SHOWN}</strong>, <time`);
    expect(decided).toContain(`<q class="comment">not now<br>${SHOWN}</q>`);
    expect(decided).toContain(`<span class="error">${SHOWN}</span>`);
    expect(decided).toContain('href="/console/runs/run-%3Cx%3E">run-&lt;x&gt;</a>');
    expect(decided).toContain('Rejected. Nothing more of this plan will be applied.');
    expect(decided).not.toContain('class="decide"');
    const busy = runPage(chrome(true), { run: run({ status: 'applying' }), nowMs: NOW });
    expect(busy).toContain('<meta http-equiv="refresh" content="3">');
  });

  it('what changed since the previous run: counts whole, lists cut at 50', () => {
    const big = loadPlan('typical');
    const previous = { ...big, ops: [] };
    const comparison = comparePlans(big, previous);
    const html = runPage(chrome(true), {
      run: run({ plan: planSummary(big) }),
      plan: big,
      previous: { run: run({ id: 'run-prev', status: 'succeeded' }), comparison },
      nowMs: NOW,
    });
    expect(html).toContain(
      `<strong>${comparison.added.length}</strong> new changes, <strong>0</strong> gone, 0 the same.`,
    );
    expect(html).toContain('<a href="/console/runs/run-prev">run-prev</a>');
    expect(html).toContain('None gone.');
  });
});

describe('sign-in and messages', () => {
  it('says why sign-in is asked for; messages are escaped', () => {
    const none: Chrome = { base: '', assets: { css: [], js: [] } };
    const expired = signInPage(none, {
      loginHref: '/console/login?next=%2Fconsole',
      issuerHost: 'login.example',
      reason: 'expired',
    });
    expect(expired).toContain('Your session has expired.');
    expect(expired).toContain(
      '<a class="button primary" href="/console/login?next=%2Fconsole">Sign in with login.example</a>',
    );
    expect(expired).not.toContain('Signed in as');
    const msg = messagePage(none, {
      title: HOSTILE,
      message: HOSTILE,
      links: [{ href: '/console?a=1&b=2', text: 'back' }],
    });
    assertInert(msg);
    expect(msg).toContain(`<h1>${SHOWN}</h1>`);
    expect(msg).toContain('<a href="/console?a=1&amp;b=2">back</a>');
  });

  it('ages read as a person would say them', () => {
    expect(age('2026-03-01T11:59:30Z', NOW)).toContain('>30 s ago<');
    expect(age('2026-03-01T09:15:00Z', NOW)).toContain('>2 h 45 min ago<');
    expect(age('2026-02-25T12:00:00Z', NOW)).toContain('>4 d ago<');
    expect(age('not a date', NOW)).toBe('not a date');
    expect(layout({ base: '', assets: { css: [], js: [] } }, { title: 'x', body: '' })).toContain(
      '<title>x · idsync</title>',
    );
  });
});

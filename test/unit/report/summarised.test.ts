// Past SUMMARY_THRESHOLD entries, the Markdown and HTML reports count everything but list a sample,
// removals first, and send the reader to plan.json; the JSON report stays complete.
import { describe, expect, it } from 'vitest';
import {
  HELD_REASONS_SHOWN,
  SAMPLE_SIZE,
  SUMMARY_THRESHOLD,
  UNLIMITED,
} from '../../../src/report/describe.js';
import { renderHtml } from '../../../src/report/html.js';
import { parsePlanJson, renderJson } from '../../../src/report/json.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { loadPlan, scaledPlan } from './fixtures.js';

/** The lines of one `## ` section, heading included. */
function section(md: string, heading: string): string[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## ${heading}`));
  if (start === -1) throw new Error(`no section "${heading}"`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start, end === -1 ? undefined : end);
}

const items = (lines: string[]) => lines.filter((l) => l.startsWith('- **'));
const headings = (md: string) => md.split('\n').filter((l) => l.startsWith('## '));

// 12,000 changes: far past the threshold in every category.
const big = scaledPlan({ removals: 5_000, roleChanges: 3_000, additions: 4_000 });
big.guardrails = {
  verdict: 'blocked',
  reasons: ['5000 user removals exceed guardrails.maxUserRemovals (25)'],
};

describe('the threshold', () => {
  it('is a few thousand changes, and a report lists fifty of each kind past it', () => {
    expect(SUMMARY_THRESHOLD).toBe(2_000);
    expect(SAMPLE_SIZE).toBe(50);
  });

  it('lists every change up to the threshold, and summarises one past it', () => {
    const at = renderMarkdown(scaledPlan({ removals: 1_000, additions: SUMMARY_THRESHOLD - 1_000 }));
    expect(at).not.toContain('**Summarised.**');
    expect(at).toContain('## Changes by user');
    const past = renderMarkdown(scaledPlan({ removals: 1_000, additions: SUMMARY_THRESHOLD - 1_000 + 1 }));
    expect(past).toContain('**Summarised.**');
    expect(past).not.toContain('## Changes by user');
  });
});

describe('renderMarkdown of a 12,000-change plan', () => {
  const md = renderMarkdown(big);

  it('says it is summarised and where the rest is, near the top', () => {
    const note = md.split('\n').find((l) => l.startsWith('> **Summarised.**'));
    expect(note).toBe(
      '> **Summarised.** This plan is too large to list in full: 12000 changes (the first 50 of each kind are listed, removals first). The counts, the guardrail verdict and the summary table cover every change. The JSON report, plan.json (written next to this report; report.json from the daemon API), lists every one.',
    );
    expect(md.indexOf(note ?? '')).toBeLessThan(md.indexOf('## ⛔ Guardrails: BLOCKED'));
  });

  it('keeps the guardrail verdict and counts every change by kind', () => {
    expect(section(md, '⛔ Guardrails: BLOCKED')).toContain(
      '> Review the 8000 changes (the first of each kind are below, and plan.json lists all), then approve them with `idsync apply --allow-removals 8000`.',
    );
    const summary = section(md, 'Summary');
    expect(summary).toContain('| 7 | Add to org | `addOrgUser` | 4000 | 4000 |');
    expect(summary).toContain('| 8 | User org role | `setOrgUserRole` | 3000 | 3000 |');
    expect(summary).toContain('| 10 | Remove user | `removeUser` | 5000 | 5000 |');
    expect(summary).toContain('| | **Total** | | **12000** | **12000** |');
  });

  it('lists the first 50 of each kind, removals first', () => {
    expect(headings(md).slice(-3)).toEqual([
      '## ⛔ Removals (5000 changes): BLOCKED',
      '## Role changes (3000 changes)',
      '## Additions (4000 changes)',
    ]);
    const removals = section(md, '⛔ Removals');
    expect(removals.filter((l) => l.startsWith('### '))).toEqual([
      '### Remove user (the first 50 of 5000 changes)',
    ]);
    expect(items(removals)).toHaveLength(SAMPLE_SIZE);
    expect(items(removals)[0]).toBe(
      '- **leaver0@corp.example**: Remove from the enterprise, currently **Member** (account\\_member)',
    );
    expect(removals).toContain('- …and 4950 more, in plan.json');
    expect(section(md, 'Role changes')).toContain('### User org role (the first 50 of 3000 changes)');
    expect(items(section(md, 'Role changes'))).toHaveLength(SAMPLE_SIZE);
    expect(section(md, 'Additions')).toContain('### Add to org (the first 50 of 4000 changes)');
    expect(items(section(md, 'Additions'))).toHaveLength(SAMPLE_SIZE);
    expect(md).not.toContain('leaver50@');
  });

  it('shows every kind: one with few changes is listed whole', () => {
    const plan = scaledPlan({ removals: 3_000 });
    const groupRemoval = loadPlan('typical').ops.filter((op) => op.kind === 'unregisterIdpGroup');
    plan.ops.push(...groupRemoval);
    const removals = section(renderMarkdown(plan), '⛔ Removals');
    expect(removals.filter((l) => l.startsWith('### '))).toEqual([
      '### Remove user (the first 50 of 3000 changes)',
      '### Unregister IdP group (1 change)',
    ]);
    expect(removals).toContain("- **devin-legacy**: Unregister from Devin's IdP-group registry");
  });

  it('stays small', () => {
    expect(md.length).toBeLessThan(150_000);
    // The same code path without limits is what the report used to be.
    expect(renderMarkdown(big, { limits: UNLIMITED }).length).toBeGreaterThan(10 * md.length);
  });
});

describe('held-back changes and warnings past the threshold', () => {
  const plan = scaledPlan({ additions: 10, held: 3_000, heldReasons: 15, warnings: 2_500 });
  const md = renderMarkdown(plan);

  it('show the reasons that hold the most, 50 changes each, and count the rest', () => {
    const held = section(md, '✋ Held back');
    expect(held[0]).toBe('## ✋ Held back (3000 ops): not applied');
    const reasons = held.filter((l) => l.startsWith('### '));
    expect(reasons).toHaveLength(HELD_REASONS_SHOWN);
    expect(reasons[0]).toBe(
      '### `selector-miss`: mappings\\[0\\] selects no directory group this run (the first 50 of 200 changes)',
    );
    expect(items(held)).toHaveLength(HELD_REASONS_SHOWN * SAMPLE_SIZE);
    expect(held.filter((l) => l === '- …and 150 more, in plan.json')).toHaveLength(HELD_REASONS_SHOWN);
    expect(held).toContain('…and 5 more reasons holding 1000 changes, in plan.json.');
  });

  it('group warnings by code and show the first 50 of each', () => {
    const warnings = section(md, 'Warnings');
    expect(warnings[0]).toBe('## Warnings (2501)');
    expect(warnings).toContain('### `user-disabled` (2500)');
    expect(warnings.filter((l) => l.startsWith('- gone'))).toHaveLength(SAMPLE_SIZE);
    expect(warnings).toContain('- …and 2450 more, in plan.json');
    // typical's own warning, alone under its code, is shown.
    expect(warnings).toContain('### `not-owned` (1)');
  });

  it('say so in the note, and the whole report is summarised: the 10 changes are listed by kind', () => {
    expect(md).toContain(
      '3000 held-back changes (the first 50 for each of the 10 hold reasons that hold the most); 2501 warnings (the first 50 of each code)',
    );
    expect(md).not.toContain('changes (the first 50 of each kind');
    expect(md).not.toContain('## Changes by user');
    expect(md).toContain('### Add to org (10 changes)');
    expect(items(section(md, 'Additions'))).toHaveLength(10);
  });
});

describe('renderHtml of a 12,000-change plan', () => {
  const html = renderHtml(big);
  const rows = [...html.matchAll(/<tr class="(\w+)" data-kind="(\w+)" data-index="\d+">/g)];

  it('has a table of the first 50 of each kind, removals first', () => {
    expect(rows).toHaveLength(3 * SAMPLE_SIZE);
    expect(rows.slice(0, 50).every((r) => r[1] === 'remove')).toBe(true);
    expect(rows.slice(50, 100).every((r) => r[2] === 'setOrgUserRole')).toBe(true);
    expect(rows.slice(100).every((r) => r[2] === 'addOrgUser')).toBe(true);
    expect(html).toContain('<table id="changes" data-total="12000">');
    expect(html).toContain('150 of 150 changes shown (12000 in the plan)');
  });

  it('says it is summarised, counts everything, and points to plan.json', () => {
    expect(html).toContain('<section class="banner summarised" id="summarised">');
    expect(html).toContain(
      'This table lists 150 of the 12000 changes: the first 50 of each kind, removals first (5000 removals, 3000 role changes, 4000 additions in the plan).',
    );
    expect(html).toContain('lists every one.');
    expect(html).toContain('<div class="card remove"><div class="n">5000</div>');
    expect(html).toContain('<strong>12000</strong>');
  });

  it('stays small', () => {
    expect(html.length).toBeLessThan(300_000);
    expect(renderHtml(big, { limits: UNLIMITED }).length).toBeGreaterThan(20 * html.length);
  });
});

describe('renderJson of a 12,000-change plan', () => {
  it('keeps every op, and reads back', () => {
    const plan = scaledPlan({ removals: 5_000, additions: 4_000, held: 3_000, warnings: 2_500 });
    const back = parsePlanJson(renderJson(plan), 'big.json');
    expect(back.ops).toHaveLength(9_000);
    expect(back.held).toHaveLength(3_000);
    expect(back.warnings).toHaveLength(2_501);
  });
});

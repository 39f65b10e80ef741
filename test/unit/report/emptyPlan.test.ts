// A plan without ops says "Devin already matches" only when that is known: never after an
// incomplete read (what was not read may differ), never when a guard held changes back.
import { describe, expect, it } from 'vitest';
import { planSummaryLines } from '../../../src/cli/planSummary.js';
import { renderHtml, renderMarkdown } from '../../../src/report/index.js';
import { loadPlan } from './fixtures.js';

const MATCHES = 'Devin already matches the directory';

describe('an empty plan', () => {
  const complete = loadPlan('empty');
  const incomplete = { ...complete, complete: false };
  const typical = loadPlan('typical');
  const held = {
    ...complete,
    held: [
      {
        op: typical.ops[0] as (typeof typical.ops)[number],
        reasons: [{ guard: 'selector-miss' as const, message: 'mappings[0] selects nothing' }],
      },
    ],
  };

  it('from a complete read with nothing held says Devin matches, everywhere', () => {
    expect(renderMarkdown(complete)).toContain(MATCHES);
    expect(renderHtml(complete)).toContain(MATCHES);
    expect(planSummaryLines(complete).join('\n')).toContain(MATCHES);
  });

  it('from an incomplete read says the read was incomplete instead, everywhere', () => {
    for (const text of [
      renderMarkdown(incomplete),
      renderHtml(incomplete),
      planSummaryLines(incomplete).join('\n'),
    ]) {
      expect(text).not.toContain(MATCHES);
      expect(text).toContain('the read was incomplete: Devin may not match the directory');
    }
  });

  it('with held ops says nothing can be applied, everywhere', () => {
    for (const text of [renderMarkdown(held), renderHtml(held), planSummaryLines(held).join('\n')]) {
      expect(text).not.toContain(MATCHES);
      expect(text).toContain('No changes can be applied');
    }
  });
});

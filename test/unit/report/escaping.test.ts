// Directory and Devin strings in the Markdown report and on the terminal: control and bidi
// characters are shown, never passed through, and URLs never become links.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planSummaryLines } from '../../../src/cli/planSummary.js';
import type { Plan } from '../../../src/reconcile/plan.js';
import { escapeHtml, renderHtml } from '../../../src/report/html.js';
import { escapeMarkdown, renderMarkdown } from '../../../src/report/markdown.js';
import { loadPlan } from './fixtures.js';

/** Every code point that must never reach a terminal or a Markdown viewer as itself. */
const CONTROL_RANGES: ReadonlyArray<[number, number]> = [
  [0x00, 0x1f], // C0
  [0x7f, 0x9f], // DEL and C1
  [0x061c, 0x061c], // ARABIC LETTER MARK
  [0x200e, 0x200f], // LRM, RLM
  [0x202a, 0x202e], // LRE, RLE, PDF, LRO, RLO
  [0x2066, 0x2069], // LRI, RLI, FSI, PDI
];
const CONTROLS = CONTROL_RANGES.flatMap(([from, to]) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i),
);
// biome-ignore lint/suspicious/noControlCharactersInRegex: what the reports must never contain.
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const hex = (cp: number) => cp.toString(16).padStart(4, '0');

/** What a CommonMark renderer shows for escaped text: a backslash before ASCII punctuation goes. */
const rendered = (md: string) => md.replace(/\\([!-/:-@[-`{-~])/g, '$1');

/**
 * What GitHub (GFM) would turn into a link without any markup: an extended URL, www or protocol
 * autolink, or an angle-bracket autolink.
 */
const LINKISH = /[a-z]:\/\/|(?:^|[\s*_~(])www\.|\b(?:mailto|xmpp):|(?<!\\)<[a-z][a-z0-9+.-]*:/i;

const ESC_COLOUR = '\u001b[31mroot\u001b[0m';
const OSC_LINK = '\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007';
const HOSTILE = `${ESC_COLOUR} \u202eexe.txt\u202c https://evil.example <https://evil.example> www.evil.example\rok`;

describe('escapeMarkdown: control characters', () => {
  it('shows every C0, DEL, C1 and bidi control as \\uXXXX, and nothing else', () => {
    for (const cp of CONTROLS) {
      const out = escapeMarkdown(`a${String.fromCodePoint(cp)}b`);
      // Tab, line feed and carriage return keep the value on one line, as a space.
      const expected = cp === 0x09 || cp === 0x0a || cp === 0x0d ? 'a b' : `a\\\\u${hex(cp)}b`;
      expect(out, `U+${hex(cp)}`).toBe(expected);
      expect(rendered(out)).toBe(expected === 'a b' ? 'a b' : `a\\u${hex(cp)}b`);
    }
    // Their neighbours are ordinary text.
    for (const cp of [0x20, 0xa0, 0x061b, 0x061d, 0x200d, 0x2010, 0x202f, 0x2065, 0x206a]) {
      const c = String.fromCodePoint(cp);
      expect(escapeMarkdown(`a${c}b`), `U+${hex(cp)}`).toBe(`a${c}b`);
    }
  });

  it('shows ESC sequences instead of passing them to the viewer', () => {
    expect(escapeMarkdown(ESC_COLOUR)).toBe('\\\\u001b\\[31mroot\\\\u001b\\[0m');
    expect(rendered(escapeMarkdown(ESC_COLOUR))).toBe('\\u001b[31mroot\\u001b[0m');
    // An OSC 8 hyperlink: neither the ESC nor the BEL survives, nor the URL as a link.
    const osc = escapeMarkdown(OSC_LINK);
    expect(osc).not.toMatch(ANY_CONTROL);
    expect(osc).not.toMatch(LINKISH);
    expect(rendered(osc)).toBe('\\u001b]8;;https://evil.example\\u0007click\\u001b]8;;\\u0007');
  });

  it('shows bidi overrides and isolates, so text reads in its real order', () => {
    expect(escapeMarkdown('\u202egnp.exe')).toBe('\\\\u202egnp.exe');
    expect(escapeMarkdown('a\u2066b\u2069c\u200fd\u061ce')).toBe('a\\\\u2066b\\\\u2069c\\\\u200fd\\\\u061ce');
  });
});

describe('escapeMarkdown: links', () => {
  const cases: Array<[string, string]> = [
    ['https://evil.example', 'https\\://evil.example'],
    ['see HTTP://evil.example/x?y=1 now', 'see HTTP\\://evil.example/x?y=1 now'],
    ['ftp://files.evil.example', 'ftp\\://files.evil.example'],
    ['<https://evil.example>', '\\<https\\://evil.example\\>'],
    ['<mailto:boss@corp.example>', '\\<mailto\\:boss@corp.example\\>'],
    ['www.evil.example', 'www\\.evil.example'],
    ['(WWW.evil.example)', '(WWW\\.evil.example)'],
    ['team *www.evil.example*', 'team \\*www\\.evil.example\\*'],
    ['mailto:boss@corp.example', 'mailto\\:boss@corp.example'],
    ['xmpp:boss@corp.example', 'xmpp\\:boss@corp.example'],
    ['https://www.evil.example', 'https\\://www\\.evil.example'],
  ];

  it.each(cases)('%s does not become a link', (value, expected) => {
    const out = escapeMarkdown(value);
    expect(out).toBe(expected);
    expect(out).not.toMatch(LINKISH);
    // The reader still sees exactly the name.
    expect(rendered(out)).toBe(value);
  });

  it('leaves text that is no link alone', () => {
    expect(escapeMarkdown('Platform: Org Admin')).toBe('Platform: Org Admin');
    expect(escapeMarkdown('devin-www-team')).toBe('devin-www-team');
  });

  it('for any name: renders as the same text, and never as a link or markup', () => {
    const fragment = fc.constantFrom(
      'https://',
      'http:',
      '//',
      'www.',
      'WWW.',
      'mailto:',
      'xmpp:',
      '<',
      '>',
      '[',
      '](',
      ')',
      '\\',
      '`',
      '*',
      '_',
      ' ',
      '(',
      'evil.example',
      'a@b.example',
      '-',
      '1.',
      '#',
      'x',
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 12 }), (parts) => {
        const value = parts.join('');
        const out = escapeMarkdown(value);
        expect(rendered(out)).toBe(value);
        expect(out).not.toMatch(LINKISH);
      }),
      { numRuns: 2000 },
    );
  });
});

/** The typical plan with a hostile directory group name everywhere a name can go. */
function hostilePlan(): Plan {
  const plan = loadPlan('typical');
  const ops = plan.ops.map((op) =>
    op.kind === 'registerIdpGroups' ? { ...op, groups: [...op.groups, HOSTILE], reasons: [HOSTILE] } : op,
  );
  const removeUser = plan.ops.find((op) => op.kind === 'removeUser');
  if (removeUser === undefined) throw new Error('typical has a removeUser');
  return {
    ...plan,
    ops,
    held: [
      {
        op: { ...removeUser, reasons: [`${HOSTILE} is gone`] },
        reasons: [{ guard: 'selector-miss', message: `mappings[0] selects ${HOSTILE}: nothing this run` }],
      },
    ],
    warnings: [...plan.warnings, { code: 'group-renamed', message: HOSTILE, subject: HOSTILE }],
    guardrails: { verdict: 'blocked', reasons: [`group ${HOSTILE} shrank by 90%`] },
  };
}

describe('renderMarkdown with a hostile group name', () => {
  it('has no control character and no link anywhere', () => {
    const md = renderMarkdown(hostilePlan(), { devin: 'https://api.devin.ai' });
    expect(md.replaceAll('\n', '')).not.toMatch(ANY_CONTROL);
    for (const line of md.split('\n')) expect(line).not.toMatch(LINKISH);
    expect(md).toContain('\\\\u001b\\[31mroot');
    expect(md).toContain('\\\\u202eexe.txt\\\\u202c');
    expect(md).toContain('https\\://evil.example \\<https\\://evil.example\\> www\\.evil.example ok');
  });
});

describe('renderHtml with a hostile group name', () => {
  it('shows control characters and links nothing', () => {
    expect(escapeHtml('\u202eexe\u001b[0m')).toBe('\\u202eexe\\u001b[0m');
    const html = renderHtml(hostilePlan());
    // The page's own line breaks aside.
    expect(html.replaceAll('\n', '')).not.toMatch(ANY_CONTROL);
    expect(html).not.toMatch(/<a[\s>]/i);
    expect(html).toContain('\\u001b[31mroot');
  });
});

describe('planSummaryLines with a hostile group name and reason', () => {
  it('prints the controls as \\uXXXX, so nothing colours, moves or reorders the terminal', () => {
    const lines = planSummaryLines(hostilePlan());
    for (const line of lines) expect(line).not.toMatch(ANY_CONTROL);
    // One line per fact: neither a carriage return nor a newline in a name makes another.
    expect(lines).toContain(
      `    - mappings[0] selects \\u001b[31mroot\\u001b[0m \\u202eexe.txt\\u202c https://evil.example <https://evil.example> www.evil.example\\u000dok: nothing this run`,
    );
    expect(lines).toContain(
      '    - group \\u001b[31mroot\\u001b[0m \\u202eexe.txt\\u202c https://evil.example <https://evil.example> www.evil.example\\u000dok shrank by 90%',
    );
  });

  it('shows every control range, newlines included', () => {
    const plan = hostilePlan();
    const all = CONTROLS.map((cp) => String.fromCodePoint(cp)).join('');
    plan.guardrails = { verdict: 'blocked', reasons: [all] };
    const lines = planSummaryLines(plan);
    const expected = CONTROLS.map((cp) => `\\u${hex(cp)}`).join('');
    expect(lines).toContain(`    - ${expected}`);
    for (const line of lines) expect(line).not.toMatch(ANY_CONTROL);
  });
});

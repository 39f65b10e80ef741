import { describe, expect, it } from 'vitest';
import { escapeMarkdown, renderMarkdown } from '../../../src/report/markdown.js';
import { loadPlan } from './fixtures.js';

const opts = { source: 'ldaps://dc1.corp.example:636', devin: 'https://api.devin.ai' };

/** The lines of one `## ` section, heading excluded. */
function section(md: string, heading: string): string[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## ${heading}`));
  if (start === -1) throw new Error(`no section "${heading}" in:\n${md}`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** Table cells split on pipes that Markdown reads as cell borders (not `\|`). */
function cells(line: string): string[] {
  return line.split(/(?<!\\)\|/).slice(1, -1);
}

describe('escapeMarkdown', () => {
  it('escapes what would become markup anywhere on a line', () => {
    expect(escapeMarkdown('a|b*c')).toBe('a\\|b\\*c');
    expect(escapeMarkdown('<script>_x_`y`')).toBe('\\<script\\>\\_x\\_\\`y\\`');
    expect(escapeMarkdown('[a](b) ~~s~~ $m$ &amp;')).toBe('\\[a\\](b) \\~\\~s\\~\\~ \\$m\\$ \\&amp;');
  });

  it('escapes what would start a block and keeps everything on one line', () => {
    expect(escapeMarkdown('- item')).toBe('\\- item');
    expect(escapeMarkdown('12. item')).toBe('12\\. item');
    expect(escapeMarkdown('# h')).toBe('\\# h');
    expect(escapeMarkdown('two\nlines\r\nhere')).toBe('two lines here');
  });
});

describe('renderMarkdown', () => {
  it('says so when there is nothing to do', () => {
    const md = renderMarkdown(loadPlan('empty'), opts);
    expect(md).toContain('**No changes: Devin already matches the directory.**');
    expect(md).not.toContain('## Summary');
    expect(md).not.toContain('Removals');
    expect(md).not.toContain('Guardrails');
    expect(md.endsWith('\n')).toBe(true);
  });

  it('starts with the header facts', () => {
    const md = renderMarkdown(loadPlan('typical'), { ...opts, title: 'Nightly sync' });
    expect(md.split('\n').slice(0, 9)).toEqual([
      '# Nightly sync',
      '',
      '- **Created:** 2025-06-02T09:30:00.000Z',
      // A backslash before `://` renders as the same text, but GitHub no longer links it.
      '- **Directory source:** ldaps\\://dc1.corp.example:636',
      '- **Devin:** https\\://api.devin.ai',
      '- **Fingerprint:** `3f9a1c0d2b7e4a5f8c6d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b`',
      '- **Directory read:** complete',
      '- **Counts:** Directory: 240 users, 31 groups · Devin: 212 users, 9 groups · managed users: 198',
      '',
    ]);
  });

  it('leaves out source and Devin lines it was not given', () => {
    const md = renderMarkdown(loadPlan('typical'));
    expect(md.startsWith('# idsync plan\n')).toBe(true);
    expect(md).not.toContain('Directory source');
    expect(md).not.toContain('**Devin:**');
  });

  it('summarises by kind in execution order with totals', () => {
    const rows = section(renderMarkdown(loadPlan('typical'), opts), 'Summary').filter((l) =>
      l.startsWith('|'),
    );
    expect(rows[0]).toBe('| # | Change | Kind | Ops | Subjects |');
    expect(rows.slice(2, -1).map((r) => cells(r)[2]?.trim())).toEqual([
      '`adopt`',
      '`registerIdpGroups`',
      '`setGroupEnterpriseRole`',
      '`setGroupOrgRole`',
      '`inviteUsers`',
      '`setUserEnterpriseRole`',
      '`addOrgUser`',
      '`setOrgUserRole`',
      '`removeOrgUser`',
      '`removeUser`',
      '`removeGroupOrgRole`',
      '`removeGroupEnterpriseRole`',
      '`unregisterIdpGroup`',
    ]);
    expect(rows).toContain('| 5 | Invite user | `inviteUsers` | 1 | 2 |');
    expect(rows.at(-1)).toBe('| | **Total** | | **18** | **20** |');
  });

  it('lists each user with their changes and reasons, roles and orgs by name and id', () => {
    const md = renderMarkdown(loadPlan('typical'), opts);
    expect(md).toContain('\n## Changes by user (4 users)\n');
    const users = section(md, 'Changes by user');
    const alice = users.slice(users.indexOf('### alice@corp.example'), users.indexOf('### bob@corp.example'));
    expect(alice).toEqual([
      '### alice@corp.example',
      '',
      '- Invite to the enterprise as **Member** (account\\_member)',
      '  - alice@corp.example → Member via sre ⊂ platform-admins (mapping 1)',
      '- Add to org **Platform** (org-platform) as **Org Admin** (org\\_admin)',
      '  - alice@corp.example → Platform/org\\_admin via sre ⊂ platform-admins',
      '',
    ]);
    expect(users.filter((l) => l.startsWith('### '))).toEqual([
      '### alice@corp.example',
      '### bob@corp.example',
      '### carol@corp.example',
      '### dave@corp.example',
    ]);
    expect(users.join('\n')).toContain(
      '- Change enterprise role: **Member** (account\\_member) → **Admin** (account\\_admin)',
    );
  });

  it('lists each group with its registration and role mappings', () => {
    const groups = section(renderMarkdown(loadPlan('typical'), opts), 'Changes by group');
    const admins = groups.slice(groups.indexOf('### devin-platform-admins'), groups.indexOf('### devin-sre'));
    expect(admins.filter((l) => l.startsWith('- '))).toEqual([
      "- Register in Devin's IdP-group registry",
      '- Map to enterprise role **Admin** (account\\_admin)',
      '- Map to role **Org Admin** (org\\_admin) in org **Platform** (org-platform)',
    ]);
    expect(groups.join('\n')).toContain('- Adopt the existing registry entry (ownership only; no API call)');
  });

  it('keeps removals out of the per-user and per-group sections and in their own, last', () => {
    const md = renderMarkdown(loadPlan('typical'), opts);
    expect(section(md, 'Changes by user').join('\n')).not.toMatch(/frank|erin|Remove/);
    expect(section(md, 'Changes by group').join('\n')).not.toMatch(/devin-legacy|Remove|Unregister/);
    const removals = section(md, '⛔ Removals (5)');
    expect(removals[1]).toBe('> **These remove access.** They run last, in this order.');
    expect(removals.filter((l) => l.startsWith('- '))).toEqual([
      '- **erin@corp.example**: Remove from org **Data** (org-data), currently **Org Member** (org\\_member)',
      '- **frank@corp.example**: Remove from the enterprise, currently **Member** (account\\_member)',
      '- **devin-legacy**: Remove the role mapping in org **Research** (org-research), currently **Org Member** (org\\_member)',
      '- **devin-legacy**: Remove the enterprise role mapping, currently **Member** (account\\_member)',
      "- **devin-legacy**: Unregister from Devin's IdP-group registry",
    ]);
    expect(md.lastIndexOf('## ')).toBe(md.indexOf('## ⛔ Removals'));
  });

  it('puts a blocked verdict up front, with every reason and the approval command', () => {
    const md = renderMarkdown(loadPlan('blocked'), opts);
    const guard = section(md, '⛔ Guardrails: BLOCKED');
    expect(md.indexOf('## ⛔ Guardrails: BLOCKED')).toBeLessThan(md.indexOf('## Summary'));
    expect(guard).toContain('> - 4 user removals exceed maxUserRemovals (3)');
    expect(guard).toContain('> - 4 of 40 managed users (10.0%) reach maxUserRemovalPercent (10%)');
    expect(guard).toContain(
      '> Review the 10 changes below, then approve them with `idsync apply --allow-removals 10`.',
    );
    expect(md).toContain('## ⛔ Removals (10): BLOCKED');
  });

  it('says an incomplete read held changes back and groups warnings by code', () => {
    const md = renderMarkdown(loadPlan('incomplete'), opts);
    expect(md).toContain('- **Directory read:** **incomplete**');
    expect(md).toContain(
      '> **⚠️ Incomplete directory read.** The directory read was incomplete: every removal and role change is held back',
    );
    const warnings = section(md, 'Warnings (5)');
    expect(warnings.filter((l) => l.startsWith('### '))).toEqual([
      '### `incomplete-read` (2)',
      '### `user-without-email` (2)',
      '### `group-cycle` (1)',
    ]);
    expect(warnings).toContain('- page 3 of the user search timed out after 10 s (ou=People)');
    expect(warnings).toContain('- CN=kiosk,OU=Devices,DC=corp,DC=example has no mail attribute; skipped');
  });

  it('keeps hostile names literal: no raw HTML, no broken tables, no stray blocks', () => {
    const md = renderMarkdown(loadPlan('hostile'), { ...opts, title: 'plan | <b>x</b>' });
    expect(md.startsWith('# plan \\| \\<b\\>x\\</b\\>\n')).toBe(true);
    expect(md).not.toMatch(/(?<!\\)<(script|img|b|!--)/);
    expect(md).toContain('### a\\|b\\*c');
    expect(md).toContain('### \\<script\\>alert(1)\\</script\\>');
    expect(md).toContain(
      '**\\[admin\\](javascript:alert(4))** (role-x) in org **R\\&D \\<Lab\\> \\| \\_core\\_** (org-x)',
    );
    expect(md).toContain('  - \\# not a heading\n  - 1\\. not a list\n  - \\- not a bullet\n');
    expect(md).toContain('\\$x\\$ is not math \\& \\&amp; is not an entity');
    for (const line of md.split('\n').filter((l) => l.startsWith('|'))) expect(cells(line)).toHaveLength(5);
  });
});

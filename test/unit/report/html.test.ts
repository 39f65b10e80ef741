import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OP_ORDER } from '../../../src/reconcile/plan.js';
import { escapeHtml, renderHtml } from '../../../src/report/html.js';
import { loadPlan } from './fixtures.js';

const opts = { source: 'ldaps://dc1.corp.example:636', devin: 'https://api.devin.ai' };

/** Start tags as the browser will see them (escaped data never produces one). */
function tags(html: string): string[] {
  return html.match(/<[a-zA-Z](?:[^>"]|"[^"]*")*>/g) ?? [];
}

/** The attribute names of a start tag (quoted values may hold any escaped text). */
function attributeNames(tag: string): string[] {
  return [...tag.replace(/"[^"]*"/g, '').matchAll(/\s([a-zA-Z-]+)=?/g)].map((m) => m[1]?.toLowerCase() ?? '');
}

function bodyRows(html: string): string[] {
  const tbody = html.slice(html.indexOf('<table id="changes">'));
  return tbody.match(/<tr class="[a-z]+" data-kind="[^"]*" data-index="\d+">/g) ?? [];
}

describe('escapeHtml', () => {
  it('escapes text and attribute metacharacters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;',
    );
  });
});

describe('renderHtml', () => {
  it('is one self-contained document that never reaches the network', () => {
    const html = renderHtml(loadPlan('typical'), opts);
    expect(html.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(html.endsWith('</html>\n')).toBe(true);
    for (const tag of tags(html)) {
      const names = attributeNames(tag);
      expect(names).not.toContain('src');
      // Listeners are attached by the one inline script, never in attributes.
      expect(names.filter((n) => n.startsWith('on'))).toEqual([]);
      if (names.includes('href')) expect(tag).toMatch(/\shref="data:/);
    }
    expect(html).not.toMatch(/@import|url\(|@font-face/);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html.match(/<style/g)).toHaveLength(1);
  });

  it('allows exactly its own script and style through the Content-Security-Policy', () => {
    const html = renderHtml(loadPlan('typical'), opts);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
    expect(csp).toBeDefined();
    const hash = (body: string) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    const policy = (csp ?? '').replaceAll('&#39;', "'");
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain(`script-src ${hash(script)}`);
    expect(policy).toContain(`style-src ${hash(style)}`);
  });

  it('is print-friendly', () => {
    const html = renderHtml(loadPlan('typical'), opts);
    expect(html).toContain('@media print');
    expect(html).toContain('thead { display: table-header-group; }');
  });

  it('shows the header facts and a green verdict for a typical plan', () => {
    const html = renderHtml(loadPlan('typical'), { ...opts, title: 'Nightly <sync>' });
    expect(html).toContain('<title>Nightly &lt;sync&gt;</title>');
    expect(html).toContain('<h1>Nightly &lt;sync&gt;</h1>');
    expect(html).toContain('<dt>Directory source</dt><dd class="mono">ldaps://dc1.corp.example:636</dd>');
    expect(html).toContain('<dt>Devin</dt><dd class="mono">https://api.devin.ai</dd>');
    expect(html).toContain('3f9a1c0d2b7e4a5f8c6d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b');
    expect(html).toContain('<h2>✓ Guardrails: ok</h2>');
    expect(html).not.toContain('banner blocked');
  });

  it('renders one row per change, in execution order, colour-coded, removals marked', () => {
    const html = renderHtml(loadPlan('typical'), opts);
    const rows = bodyRows(html);
    expect(rows).toHaveLength(20);
    expect(html).toContain(
      '<span id="counter" role="status" aria-live="polite">20 of 20 changes shown</span>',
    );
    const kinds = rows.map((r) => /data-kind="([^"]+)"/.exec(r)?.[1]);
    expect(kinds).toEqual(
      [...kinds].sort((a, b) => OP_ORDER.indexOf(a as never) - OP_ORDER.indexOf(b as never)),
    );
    const removalRows = rows.filter((r) => r.startsWith('<tr class="remove"'));
    expect(removalRows).toHaveLength(5);
    expect(rows.filter((r) => r.startsWith('<tr class="change"'))).toHaveLength(4);
    expect(rows.filter((r) => r.startsWith('<tr class="adopt"'))).toHaveLength(3);
    expect(html).toContain(
      '<span class="from">Org Member <span class="id">(org_member)</span></span><span class="arrow">→</span>Org Admin <span class="id">(org_admin)</span>',
    );
  });

  it('has a sortable header and filter controls', () => {
    const html = renderHtml(loadPlan('typical'), opts);
    const headers = html.match(/<th scope="col"[^>]*><button type="button">[^<]+<\/button><\/th>/g) ?? [];
    expect(headers.map((h) => /<button type="button">([^<]+)</.exec(h)?.[1])).toEqual([
      '#',
      'Kind',
      'Subject',
      'Org',
      'Role (from → to)',
      'Reasons',
    ]);
    expect(headers.every((h) => /aria-sort="(none|ascending)"/.test(h))).toBe(true);
    expect(html).toContain('<input type="search" id="filter"');
    const options = html.match(/<option value="([^"]*)">/g) ?? [];
    expect(options.map((o) => /value="([^"]*)"/.exec(o)?.[1])).toEqual(['', ...OP_ORDER]);
  });

  it('says there is nothing to do for an empty plan, without a table', () => {
    const html = renderHtml(loadPlan('empty'), opts);
    expect(html).toContain('No changes: Devin already matches the directory.');
    expect(html).not.toContain('<table');
    expect(html).not.toContain('Guardrails');
  });

  it('makes a blocked plan impossible to miss', () => {
    const html = renderHtml(loadPlan('blocked'), opts);
    const banner = /<section class="banner blocked"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    expect(banner).toContain('role="alert"');
    expect(banner).toContain('removals and role changes will not be applied');
    expect(banner).toContain('<li>4 user removals exceed maxUserRemovals (3)</li>');
    expect(banner).toContain('<code>idsync apply --allow-removals 10</code>');
    expect(html.indexOf('banner blocked')).toBeLessThan(html.indexOf('id="summary"'));
  });

  it('flags an incomplete read and groups warnings by code', () => {
    const html = renderHtml(loadPlan('incomplete'), opts);
    expect(html).toContain('<section class="banner incomplete" role="alert">');
    expect(html).toContain('<dt>Directory read</dt><dd><strong>incomplete</strong></dd>');
    const codes = [...html.matchAll(/<h3><code>([a-z-]+)<\/code> <span class="count">(\d+)<\/span>/g)];
    expect(codes.map((m) => [m[1], m[2]])).toEqual([
      ['incomplete-read', '2'],
      ['user-without-email', '2'],
      ['group-cycle', '1'],
    ]);
  });

  it('escapes every value from the plan', () => {
    const html = renderHtml(loadPlan('hostile'), { ...opts, source: '"><script>alert(6)</script>' });
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/<img|<\/script><script|<!-- not/);
    expect(html).toContain('<span class="subject">&lt;script&gt;alert(1)&lt;/script&gt;</span>');
    expect(html).toContain('data-sort="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"');
    expect(html).toContain('R&amp;D &lt;Lab&gt; | _core_');
    expect(html).toContain('<dd class="mono">&quot;&gt;&lt;script&gt;alert(6)&lt;/script&gt;</dd>');
    for (const tag of tags(html)) {
      expect(attributeNames(tag).filter((n) => n.startsWith('on') || n === 'src')).toEqual([]);
    }
  });
});

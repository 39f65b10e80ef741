// The HTML report of a plan changing ~50,000 memberships, in a real browser (Debian's Chromium).
// Listed in full it was tens of MB and took minutes to open; summarised, it must open (load event
// and first paint) within 3 s, stay small, and still work. The JSON report keeps every change.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largePlan } from '../../bench/report/largePlan.js';
import type { Plan } from '../../src/reconcile/plan.js';
import { SAMPLE_SIZE, subjectCount } from '../../src/report/describe.js';
import { parsePlanJson } from '../../src/report/json.js';
import { writeReports } from '../../src/report/writeReports.js';
import {
  launchChromium,
  type PageWatch,
  type StaticServer,
  serveStatic,
  watchPage,
} from '../support/chromium.js';

/** The bound asserted on the HTML report's size. */
const MAX_HTML_BYTES = 1_000_000;
const OPEN_BUDGET_MS = 3_000;

let browser: Browser;
let server: StaticServer;
let dir: string;
let plan: Plan;
let htmlBytes: number;
let jsonText: string;

beforeAll(async () => {
  plan = largePlan();
  dir = await mkdtemp(path.join(tmpdir(), 'idsync-report-large-'));
  const paths = await writeReports(plan, dir, { devin: 'https://api.devin.ai' });
  htmlBytes = (await stat(paths.html)).size;
  jsonText = await readFile(paths.json, 'utf8');
  server = await serveStatic({
    '/plan.html': { body: await readFile(paths.html, 'utf8'), contentType: 'text/html; charset=utf-8' },
    '/warm.html': {
      body: '<!doctype html><title>warm</title><p>warm</p>',
      contentType: 'text/html; charset=utf-8',
    },
  });
  browser = await launchChromium();
  // A first page pays for starting the browser's own processes: not the report's cost.
  const warm = await browser.newContext();
  await (await warm.newPage()).goto(`${server.origin}/warm.html`);
  await warm.close();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Navigation and paint timing, read in the page; typed structurally (no DOM lib in the tests). */
interface Timing {
  loadEventEnd: number;
  firstPaint: number | null;
  firstContentfulPaint: number | null;
}

async function openTimed(): Promise<{ page: Page; watch: PageWatch; timing: Timing }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const watch = watchPage(page);
  // Far above the budget, so that a slow page fails on the figure rather than on a timeout.
  await page.goto(`${server.origin}/plan.html`, { waitUntil: 'load', timeout: 45_000 });
  const read = () =>
    page.evaluate((): Timing => {
      interface Entry {
        name: string;
        startTime: number;
        loadEventEnd?: number;
      }
      const perf = (globalThis as unknown as { performance: { getEntriesByType(t: string): Entry[] } })
        .performance;
      const nav = perf.getEntriesByType('navigation')[0];
      const paint = (name: string) =>
        perf.getEntriesByType('paint').find((p) => p.name === name)?.startTime ?? null;
      return {
        loadEventEnd: nav?.loadEventEnd ?? Number.NaN,
        firstPaint: paint('first-paint'),
        firstContentfulPaint: paint('first-contentful-paint'),
      };
    });
  // Paint entries can land just after the load event.
  await expect.poll(async () => (await read()).firstContentfulPaint, { timeout: 10_000 }).not.toBeNull();
  return { page, watch, timing: await read() };
}

describe('HTML report of a 50,000-change plan in Chromium', () => {
  it('is a plan of about 50,000 changes, with held-back changes and warnings', () => {
    const changes = plan.ops.reduce((n, op) => n + subjectCount(op), 0);
    expect(changes).toBeGreaterThan(48_000);
    expect(plan.held.length).toBeGreaterThan(2_000);
    expect(plan.guardrails.verdict).toBe('blocked');
  });

  it(`stays under ${MAX_HTML_BYTES / 1e6} MB`, () => {
    expect(htmlBytes).toBeLessThan(MAX_HTML_BYTES);
  });

  it(`opens (load event and first contentful paint) within ${OPEN_BUDGET_MS / 1000} s`, async () => {
    const { page, watch, timing } = await openTimed();
    try {
      const figures = `${htmlBytes} bytes, ${JSON.stringify(timing)}`;
      expect(timing.loadEventEnd, figures).toBeLessThan(OPEN_BUDGET_MS);
      expect(timing.firstContentfulPaint).not.toBeNull();
      expect(timing.firstContentfulPaint ?? Number.POSITIVE_INFINITY, figures).toBeLessThan(OPEN_BUDGET_MS);
      expect(watch.problems).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('shows the verdict and the pointer to plan.json, removals first, and still filters', async () => {
    const { page, watch } = await openTimed();
    try {
      const total = plan.ops.reduce((n, op) => n + subjectCount(op), 0);
      expect(await page.locator('#summarised').isVisible()).toBe(true);
      expect(await page.locator('#summarised').textContent()).toContain('plan.json');
      expect(await page.locator('#guardrails.blocked').isVisible()).toBe(true);
      const rows = page.locator('#changes tbody tr');
      const shown = await rows.count();
      // The first 100 of each kind.
      expect(shown).toBeLessThanOrEqual(13 * SAMPLE_SIZE);
      expect(await rows.first().getAttribute('class')).toBe('remove');
      expect(await page.locator('#counter').textContent()).toBe(
        `${shown} of ${shown} changes shown (${total} in the plan)`,
      );
      await page.selectOption('#kind', 'removeUser');
      expect(await page.locator('#changes tbody tr:visible').count()).toBe(SAMPLE_SIZE);
      expect(await page.locator('#counter').textContent()).toBe(
        `${SAMPLE_SIZE} of ${shown} changes shown (${total} in the plan)`,
      );
      // Held back: the reason is shown with its count, the rest is counted.
      expect(await page.locator('#held h3').first().textContent()).toContain('selects no directory group');
      expect(watch.problems).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('leaves the JSON report complete', () => {
    const back = parsePlanJson(jsonText, 'plan.json');
    expect(back.ops).toHaveLength(plan.ops.length);
    expect(back.held).toHaveLength(plan.held.length);
    expect(back.warnings).toHaveLength(plan.warnings.length);
    expect(back.fingerprint).toBe(plan.fingerprint);
  });
});

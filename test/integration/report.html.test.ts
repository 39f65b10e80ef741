// The HTML report in a real browser (Debian's Chromium): the filter, kind select, counter and sort
// work, hostile names stay text, and the page asks the network for nothing but itself.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planChanges } from '../../src/report/describe.js';
import { writeReports } from '../../src/report/writeReports.js';
import {
  launchChromium,
  type PageWatch,
  type StaticServer,
  serveStatic,
  watchPage,
} from '../support/chromium.js';
import { loadPlan } from '../unit/report/fixtures.js';

const HTML = 'text/html; charset=utf-8';
const typical = loadPlan('typical');
const TOTAL = planChanges(typical).length;

let browser: Browser;
let server: StaticServer;
let dir: string;
let typicalFile: string;
const opened: Array<{ page: Page; watch: PageWatch }> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'idsync-report-html-'));
  const typicalPaths = await writeReports(typical, path.join(dir, 'typical'), {
    devin: 'https://api.devin.ai',
  });
  const hostilePaths = await writeReports(loadPlan('hostile'), path.join(dir, 'hostile'));
  typicalFile = typicalPaths.html;
  server = await serveStatic({
    '/typical/plan.html': { body: await readFile(typicalPaths.html, 'utf8'), contentType: HTML },
    '/hostile/plan.html': { body: await readFile(hostilePaths.html, 'utf8'), contentType: HTML },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  // Every test fails on anything the page complained about, even if its own assertions passed.
  const problems = opened.flatMap((o) => o.watch.problems);
  await Promise.all(opened.map((o) => o.page.context().close()));
  opened.length = 0;
  expect(problems).toEqual([]);
});

async function open(url: string): Promise<{ page: Page; watch: PageWatch }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const watch = watchPage(page);
  opened.push({ page, watch });
  await page.goto(url, { waitUntil: 'load' });
  return { page, watch };
}

const visibleRows = (page: Page) => page.locator('#changes tbody tr:visible');
const counter = (page: Page) => page.locator('#counter');
/** Runs in the page; typed structurally because the test build has no DOM lib. */
interface CellRow {
  cells: ArrayLike<{ getAttribute(name: string): string | null }>;
}
/** The sort keys of one column, for the rows currently shown, top to bottom. */
const column = (page: Page, index: number) =>
  page
    .locator('#changes tbody tr:not([hidden])')
    .evaluateAll(
      (rows: CellRow[], i: number) => rows.map((r) => r.cells[i]?.getAttribute('data-sort') ?? ''),
      index,
    );

describe('HTML report in Chromium', () => {
  it('filters by text and by kind, and counts what is shown', async () => {
    const { page } = await open(`${server.origin}/typical/plan.html`);
    await expect.poll(() => visibleRows(page).count()).toBe(TOTAL);
    expect(await counter(page).textContent()).toBe(`${TOTAL} of ${TOTAL} changes shown`);

    await page.fill('#filter', 'ALICE');
    expect(await visibleRows(page).count()).toBe(2);
    expect(await counter(page).textContent()).toBe(`2 of ${TOTAL} changes shown`);
    expect(await column(page, 2)).toEqual(['alice@corp.example', 'alice@corp.example']);

    // Matches any cell: an org name, a role id, a reason.
    await page.fill('#filter', 'org-research');
    expect(await visibleRows(page).count()).toBe(1);
    await page.fill('#filter', 'left the directory');
    expect(await column(page, 2)).toEqual(['frank@corp.example']);

    await page.fill('#filter', 'no such thing');
    expect(await visibleRows(page).count()).toBe(0);
    expect(await counter(page).textContent()).toBe(`0 of ${TOTAL} changes shown`);
    expect(await page.locator('#no-match').isVisible()).toBe(true);

    await page.fill('#filter', '');
    await page.selectOption('#kind', 'addOrgUser');
    expect(await visibleRows(page).count()).toBe(2);
    expect(await counter(page).textContent()).toBe(`2 of ${TOTAL} changes shown`);
    expect(await page.locator('#no-match').isVisible()).toBe(false);

    // Both at once.
    await page.fill('#filter', 'bob');
    expect(await column(page, 2)).toEqual(['bob@corp.example']);
    expect(await counter(page).textContent()).toBe(`1 of ${TOTAL} changes shown`);

    await page.fill('#filter', '');
    await page.selectOption('#kind', '');
    expect(await visibleRows(page).count()).toBe(TOTAL);
  });

  it('sorts by any column, flipping the order and aria-sort on each click', async () => {
    const { page } = await open(`${server.origin}/typical/plan.html`);
    const phaseHeader = page.locator('#changes thead th').nth(0);
    const subjectHeader = page.locator('#changes thead th').nth(2);
    expect(await phaseHeader.getAttribute('aria-sort')).toBe('ascending');
    const initial = (await column(page, 0)).map(Number);
    expect(initial).toEqual([...initial].sort((a, b) => a - b));

    await subjectHeader.getByRole('button').click();
    expect(await subjectHeader.getAttribute('aria-sort')).toBe('ascending');
    expect(await phaseHeader.getAttribute('aria-sort')).toBe('none');
    const ascending = await column(page, 2);
    const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
    expect(ascending).toEqual([...ascending].sort(collator.compare));
    expect(ascending[0]).toBe('alice@corp.example');

    await subjectHeader.getByRole('button').click();
    expect(await subjectHeader.getAttribute('aria-sort')).toBe('descending');
    const descending = await column(page, 2);
    expect(descending).toEqual([...descending].sort((a, b) => collator.compare(b, a)));
    expect(descending[0]).toBe('frank@corp.example');
    expect([...new Set(descending)]).toEqual([...new Set(ascending)].reverse());

    await phaseHeader.getByRole('button').click();
    expect(await phaseHeader.getAttribute('aria-sort')).toBe('ascending');
    await phaseHeader.getByRole('button').click();
    expect(await phaseHeader.getAttribute('aria-sort')).toBe('descending');
    const phases = (await column(page, 0)).map(Number);
    expect(phases[0]).toBe(13);
    expect(phases).toEqual([...phases].sort((a, b) => b - a));

    // Sorting keeps the filter.
    await page.selectOption('#kind', 'inviteUsers');
    await subjectHeader.getByRole('button').click();
    expect(await column(page, 2)).toEqual(['alice@corp.example', 'bob@corp.example']);
  });

  it('requests nothing but the page itself', async () => {
    const url = `${server.origin}/typical/plan.html`;
    const before = server.requests.length;
    const { page, watch } = await open(url);
    await page.fill('#filter', 'alice');
    await page.locator('#changes thead th button').nth(3).click();
    await page.emulateMedia({ media: 'print' });
    await page.waitForTimeout(200);
    expect(watch.requests).toEqual([url]);
    expect(server.requests.slice(before)).toEqual(['GET /typical/plan.html']);
  });

  it('hides the controls when printed', async () => {
    const { page } = await open(`${server.origin}/typical/plan.html`);
    expect(await page.locator('#filter').isVisible()).toBe(true);
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('#filter').isVisible()).toBe(false);
    expect(await page.locator('#counter').isVisible()).toBe(true);
  });

  it('works opened from disk', async () => {
    const url = pathToFileURL(typicalFile).href;
    const { page, watch } = await open(url);
    await page.selectOption('#kind', 'removeUser');
    expect(await counter(page).textContent()).toBe(`1 of ${TOTAL} changes shown`);
    expect(watch.requests).toEqual([url]);
  });

  it('shows hostile names as text and runs none of them', async () => {
    const { page } = await open(`${server.origin}/hostile/plan.html`);
    await expect.poll(() => visibleRows(page).count()).toBe(5);
    expect(await page.getByText('<script>alert(1)</script>', { exact: true }).count()).toBeGreaterThan(0);
    expect(await page.locator('.subject', { hasText: '"><img src=x onerror=alert(2)>' }).count()).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('a').count()).toBe(0);
    await page.fill('#filter', '<script>alert(1)');
    expect(await column(page, 2)).toEqual(['<script>alert(1)</script>']);
    await page.fill('#filter', 'a|b*c');
    expect(await visibleRows(page).count()).toBe(2);
    // Dialogs and page errors are collected by watchPage and fail the test in afterEach.
  });
});

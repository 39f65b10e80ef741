// bench/report: the reports of a plan that changes ~50,000 memberships (largePlan.ts), rendered
// with the default limits (summarised past SUMMARY_THRESHOLD) next to the same code path with no
// limits, which is what every report was before. Prints sizes, render times, peak RSS of planning
// alone and of planning plus rendering, and the time Chromium takes to open each HTML report.
// Opening the unlimited HTML takes minutes, so it is measured only with --open-full.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveStatic } from '../../test/support/chromium.js';
import { largePlanInput } from './largePlan.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const openFull = process.argv.includes('--open-full');
const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-report-'));

interface CaseResult {
  planMs: number;
  planRssKb: number;
  ops: number;
  maxRssKb: number;
  mdBytes: number;
  mdMs: number;
  htmlBytes: number;
  htmlMs: number;
  jsonBytes: number;
  jsonMs: number;
}

const run = (file: string, mode: string, htmlOut?: string): CaseResult =>
  JSON.parse(
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(here, 'case.ts'), file, mode, ...(htmlOut ? [htmlOut] : [])],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    ),
  ) as CaseResult;

/** Load event and first contentful paint, from the page's own performance entries. */
async function openTime(htmlFile: string): Promise<{ loadMs: number; fcpMs: number }> {
  const server = await serveStatic({
    '/plan.html': { body: readFileSync(htmlFile, 'utf8'), contentType: 'text/html; charset=utf-8' },
    '/warm.html': { body: '<!doctype html><title>warm</title>', contentType: 'text/html; charset=utf-8' },
  });
  const browser = await launchChromium();
  try {
    const warm = await browser.newContext();
    await (await warm.newPage()).goto(`${server.origin}/warm.html`);
    await warm.close();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.origin}/plan.html`, { waitUntil: 'load', timeout: 900_000 });
    await page.waitForTimeout(200);
    return await page.evaluate(() => {
      interface Entry {
        name: string;
        startTime: number;
        loadEventEnd?: number;
      }
      const perf = (globalThis as unknown as { performance: { getEntriesByType(t: string): Entry[] } })
        .performance;
      const fcp = perf.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
      return {
        loadMs: perf.getEntriesByType('navigation')[0]?.loadEventEnd ?? Number.NaN,
        fcpMs: fcp?.startTime ?? Number.NaN,
      };
    });
  } finally {
    await browser.close();
    await server.close();
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const ms = (t: number) => (Number.isNaN(t) ? 'not measured' : `${(t / 1000).toFixed(2)} s`);

try {
  const file = join(dir, 'input.json');
  writeFileSync(file, JSON.stringify(largePlanInput()));
  const planOnly = run(file, 'plan');
  const before = run(file, 'unlimited', join(dir, 'before.html'));
  const after = run(file, 'summarised', join(dir, 'after.html'));
  const afterOpen = await openTime(join(dir, 'after.html'));
  const beforeOpen = openFull
    ? await openTime(join(dir, 'before.html'))
    : { loadMs: Number.NaN, fcpMs: Number.NaN };

  console.log(
    `plan: ${planOnly.ops} ops, planSync ${ms(planOnly.planMs)}, peak RSS ${(planOnly.maxRssKb / 1024).toFixed(0)} MB (inputs parsed and planned, no reports)\n`,
  );
  const rows: Array<[string, string, string]> = [
    ['Markdown size', mb(before.mdBytes), mb(after.mdBytes)],
    ['Markdown render', ms(before.mdMs), ms(after.mdMs)],
    ['HTML size', mb(before.htmlBytes), mb(after.htmlBytes)],
    ['HTML render', ms(before.htmlMs), ms(after.htmlMs)],
    ['HTML open: load event', ms(beforeOpen.loadMs), ms(afterOpen.loadMs)],
    ['HTML open: first contentful paint', ms(beforeOpen.fcpMs), ms(afterOpen.fcpMs)],
    ['JSON size (always complete)', mb(before.jsonBytes), mb(after.jsonBytes)],
    ['JSON render', ms(before.jsonMs), ms(after.jsonMs)],
    [
      'peak RSS, plan + 3 reports',
      `${(before.maxRssKb / 1024).toFixed(0)} MB`,
      `${(after.maxRssKb / 1024).toFixed(0)} MB`,
    ],
  ];
  console.log(`${''.padEnd(36)}${'before (no limits)'.padStart(20)}${'after (summarised)'.padStart(20)}`);
  for (const [what, b, a] of rows) console.log(`${what.padEnd(36)}${b.padStart(20)}${a.padStart(20)}`);
  if (!openFull) console.log('\n(the unlimited HTML is opened only with --open-full: it takes minutes)');
  console.log(
    '\nmethod: each column in a fresh node process (tsx) that parses the generated inputs, plans and renders;',
  );
  console.log(
    '"before" is the same renderers with limits: UNLIMITED. Open times: Debian Chromium (test/support/chromium.ts),',
  );
  console.log(
    'one warm-up page, then the report over loopback; load = loadEventEnd, paint = first-contentful-paint.',
  );
  console.log(
    'goal: the summarised HTML opens in < 3 s (asserted in test/integration/report.large.test.ts).',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

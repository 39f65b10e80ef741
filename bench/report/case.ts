// One bench/report case in its own process, so peak RSS is this case's alone: read the inputs,
// plan, and (unless `plan`) render the three reports with the given limits, writing plan.html for
// the browser step. Prints one JSON line.
import { readFileSync, writeFileSync } from 'node:fs';
import { planSync } from '../../src/reconcile/planSync.js';
import { DEFAULT_LIMITS, type ReportLimits, UNLIMITED } from '../../src/report/describe.js';
import { renderHtml } from '../../src/report/html.js';
import { renderJson } from '../../src/report/json.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import type { BenchInput } from '../plan/generate.js';

const [file, mode, htmlOut] = process.argv.slice(2) as [string, 'plan' | 'unlimited' | 'summarised', string?];
const input = JSON.parse(readFileSync(file, 'utf8')) as BenchInput;
const timed = <T>(f: () => T): [T, number] => {
  const started = performance.now();
  const value = f();
  return [value, performance.now() - started];
};
const [plan, planMs] = timed(() => planSync({ ...input, now: new Date('2025-06-02T09:30:00.000Z') }));
const planRssKb = process.resourceUsage().maxRSS;
const out: Record<string, number | string> = { mode, planMs, planRssKb, ops: plan.ops.length };
if (mode !== 'plan') {
  const limits: ReportLimits = mode === 'unlimited' ? UNLIMITED : DEFAULT_LIMITS;
  const [md, mdMs] = timed(() => renderMarkdown(plan, { limits }));
  const [html, htmlMs] = timed(() => renderHtml(plan, { limits }));
  const [json, jsonMs] = timed(() => renderJson(plan));
  Object.assign(out, {
    mdBytes: Buffer.byteLength(md),
    mdMs,
    htmlBytes: Buffer.byteLength(html),
    htmlMs,
    jsonBytes: Buffer.byteLength(json),
    jsonMs,
  });
  if (htmlOut) writeFileSync(htmlOut, html);
}
out.maxRssKb = process.resourceUsage().maxRSS;
process.stdout.write(`${JSON.stringify(out)}\n`);

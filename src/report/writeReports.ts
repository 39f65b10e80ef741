// Writes the three reports side by side. Each file appears whole or not at all (temp file, then
// rename), so a reviewer, a web server or a CI artifact upload never sees a half-written report.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plan } from '../reconcile/plan.js';
import type { ReportOptions } from './describe.js';
import { renderHtml } from './html.js';
import { renderJson } from './json.js';
import { renderMarkdown } from './markdown.js';

export interface ReportPaths {
  markdown: string;
  json: string;
  html: string;
}

export async function writeReports(plan: Plan, dir: string, opts: ReportOptions = {}): Promise<ReportPaths> {
  // Render everything before touching the disk: a rendering bug must not leave a mixed set behind.
  const files: Array<[keyof ReportPaths, string, string]> = [
    ['markdown', 'plan.md', renderMarkdown(plan, opts)],
    ['json', 'plan.json', renderJson(plan)],
    ['html', 'plan.html', renderHtml(plan, opts)],
  ];
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const suffix = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const staged: Array<{ temp: string; final: string }> = [];
  try {
    for (const [, name, content] of files) {
      const final = path.join(root, name);
      const temp = `${final}${suffix}`;
      staged.push({ temp, final });
      await writeFile(temp, content, 'utf8');
    }
    for (const { temp, final } of staged) await rename(temp, final);
  } catch (err) {
    await Promise.all(staged.map(({ temp }) => rm(temp, { force: true })));
    throw err;
  }
  return {
    markdown: path.join(root, 'plan.md'),
    json: path.join(root, 'plan.json'),
    html: path.join(root, 'plan.html'),
  };
}

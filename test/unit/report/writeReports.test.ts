import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderHtml } from '../../../src/report/html.js';
import { parsePlanJson, renderJson } from '../../../src/report/json.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { writeReports } from '../../../src/report/writeReports.js';
import { loadPlan } from './fixtures.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'idsync-report-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeReports', () => {
  it('creates the directory and writes the three reports, returning absolute paths', async () => {
    const plan = loadPlan('typical');
    const opts = { title: 'Run 42', devin: 'https://api.devin.ai' };
    const dir = path.join(root, 'runs', '42');
    const paths = await writeReports(plan, path.relative(process.cwd(), dir), opts);
    expect(paths).toEqual({
      markdown: path.join(dir, 'plan.md'),
      json: path.join(dir, 'plan.json'),
      html: path.join(dir, 'plan.html'),
    });
    expect(await readFile(paths.markdown, 'utf8')).toBe(renderMarkdown(plan, opts));
    expect(await readFile(paths.html, 'utf8')).toBe(renderHtml(plan, opts));
    const json = await readFile(paths.json, 'utf8');
    expect(json).toBe(renderJson(plan));
    expect(parsePlanJson(json, paths.json)).toEqual(plan);
    expect((await readdir(dir)).sort()).toEqual(['plan.html', 'plan.json', 'plan.md']);
  });

  it('replaces reports from an earlier run', async () => {
    await writeFile(path.join(root, 'plan.md'), 'old');
    await writeReports(loadPlan('empty'), root);
    expect(await readFile(path.join(root, 'plan.md'), 'utf8')).toContain('No changes');
  });

  it('leaves no temporary files behind when a write fails', async () => {
    // A directory where plan.html should go makes the last rename fail.
    await mkdir(path.join(root, 'plan.html', 'blocker'), { recursive: true });
    await expect(writeReports(loadPlan('typical'), root)).rejects.toThrow();
    expect((await readdir(root)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

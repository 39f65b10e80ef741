// One bench/plan case in its own process, so peak RSS is this case's alone: read the inputs as a
// real run would hold them (JSON text → objects), then plan. `runs` is 3 for timing (median) and 1
// for memory: a run plans once, and garbage left by earlier timing rounds is not what it holds.
import { readFileSync } from 'node:fs';
import { planSync } from '../../src/reconcile/planSync.js';
import type { BenchInput } from './generate.js';

const file = process.argv[2] as string;
const runs = Number(process.argv[3] ?? 3);
let text: string | undefined = readFileSync(file, 'utf8');
const bytes = text.length;
const parseStart = performance.now();
const input = JSON.parse(text) as BenchInput;
const parseMs = performance.now() - parseStart;
// A real run holds the parsed snapshots, not the text they came from.
text = undefined;

const times: number[] = [];
let ops = 0;
let summary = {};
for (let run = 0; run < runs; run++) {
  const started = performance.now();
  const plan = planSync(input);
  times.push(performance.now() - started);
  ops = plan.ops.length;
  summary = plan.summary;
}
times.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({ parseMs, planMs: times[Math.floor(times.length / 2)], minPlanMs: times[0], ops, summary, bytes, maxRssKb: process.resourceUsage().maxRSS })}\n`,
);

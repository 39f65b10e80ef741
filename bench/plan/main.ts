// bench/plan: desiredState + diff + guardrails (planSync) over generated companies of 10k and
// 100k users, 1k and 10k groups nested up to 6 deep, 50 orgs, against a Devin with 5% drift.
// Compared with JSON.parse of the same inputs: the floor any run pays just to hold them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './generate.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'idsync-bench-plan-'));
const cases: Array<[number, number]> = [
  [10_000, 1_000],
  [10_000, 10_000],
  [100_000, 1_000],
  [100_000, 10_000],
];

interface CaseResult {
  parseMs: number;
  planMs: number;
  ops: number;
  bytes: number;
  maxRssKb: number;
}

console.log(
  'users    groups  ops     input-MB  JSON.parse  planSync (median of 3)  ratio  peak RSS  (3 plans)',
);
try {
  for (const [users, groups] of cases) {
    const file = join(dir, `in-${users}-${groups}.json`);
    writeFileSync(file, JSON.stringify(generate(users, groups)));
    const run = (runs: number): CaseResult =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', join(here, 'case.ts'), file, String(runs)], {
          encoding: 'utf8',
        }),
      ) as CaseResult;
    const r = run(3);
    const once = run(1);
    console.log(
      `${String(users).padEnd(8)} ${String(groups).padEnd(7)} ${String(r.ops).padEnd(7)} ${(r.bytes / 1e6).toFixed(1).padStart(8)}  ${`${r.parseMs.toFixed(0)} ms`.padStart(10)}  ${`${r.planMs.toFixed(0)} ms`.padStart(22)}  ${`${(r.planMs / r.parseMs).toFixed(1)}x`.padStart(5)}  ${`${(once.maxRssKb / 1024).toFixed(0)} MB`.padStart(8)}  ${`${(r.maxRssKb / 1024).toFixed(0)} MB`.padStart(11)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  '\nmethod: each case in a fresh node process (tsx); inputs read from a JSON file and parsed (timed),',
);
console.log(
  'then planSync timed 3 times, median shown. peak RSS: the maximum of a second fresh process that',
);
console.log(
  'parses and plans once, as a run does; "(3 plans)" is the timing process, with the garbage of 3 rounds.',
);
console.log('goal: ≤ 2 s and ≤ 500 MB at 100k users.');

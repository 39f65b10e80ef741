// `idsync apply [plan.json]`: apply a fresh plan, or exactly a saved one after checking that Devin
// still holds what it expected (exit 4 listing the drifted ops). Guardrails hold back removals
// unless `--allow-removals N` approves them (exit 3 while held back).
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import { executePlan, progressPrinter } from '../apply/inline/index.js';
import type { ExecutionResult } from '../apply/types.js';
import { defaultConfigPath, type LoadedConfig, loadConfig } from '../config/index.js';
import type { DevinClient } from '../devin/client.js';
import { readDevinSnapshot } from '../devin/snapshot.js';
import { createCliLogger } from '../log/logger.js';
import { findDrift, fingerprintOps, type Plan, removalCount } from '../reconcile/index.js';
import { parsePlanJson, terminalText, writeReports } from '../report/index.js';
import type { StateStore } from '../state/ledger.js';
import {
  devinClientFor,
  directorySourceFor,
  planFromInputs,
  readPlanInputs,
  selectorsOf,
  stateStoreFor,
} from '../sync/inputs.js';
import { EXIT } from './exitCodes.js';
import { CommandFailure, runCommand } from './failures.js';
import { DEFAULT_REPORT_DIR } from './planCommand.js';
import { planSummaryLines } from './planSummary.js';

export interface ApplyCommandOptions {
  config?: string;
  allowRemovals?: number;
  yes?: boolean;
  reportDir: string;
  json?: boolean;
}

export function applyCommand(): Command {
  return new Command('apply')
    .description(
      'Apply a plan to Devin: a saved plan.json exactly (after a staleness check), or a fresh one.',
    )
    .argument('[plan.json]', 'a plan saved by `idsync plan --out`')
    .option('-c, --config <file>', 'config file (default: $IDSYNC_CONFIG or ./idsync.yaml)')
    .option('--allow-removals <n>', 'approve up to N removals that guardrails blocked', parseCount)
    .option('-y, --yes', 'do not ask for confirmation (needed when there is no terminal)')
    .addOption(
      new Option('--report-dir <dir>', 'where to write the plan reports').default(DEFAULT_REPORT_DIR),
    )
    .option(
      '--json',
      'print a JSON summary of the results on stdout (the default when stdout is not a terminal)',
    )
    .action((planFile: string | undefined, opts: ApplyCommandOptions) =>
      runCommand('apply', () => runApply(planFile, opts)),
    );
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return Number(value);
}

async function runApply(planFile: string | undefined, opts: ApplyCommandOptions): Promise<number> {
  const config = await loadConfig(opts.config ?? defaultConfigPath());
  const logger = createCliLogger();
  const client = devinClientFor(config, logger);
  const state = stateStoreFor(config);
  // Off a terminal (CI, a CronJob) the results are data: JSON on stdout, words on stderr.
  const json = opts.json === true || !process.stdout.isTTY;
  // Op keys and Devin's error messages carry directory and Devin names: controls are made visible.
  const say = (line: string) => (json ? process.stderr : process.stdout).write(`${terminalText(line)}\n`);
  try {
    const plan = planFile
      ? await savedPlan(planFile, client)
      : await freshPlan(config, client, state, logger);
    for (const line of planSummaryLines(plan)) say(line);
    if (!planFile) {
      const reports = await writeReports(plan, opts.reportDir, { devin: config.devin.baseUrl });
      say(`reports: ${reports.markdown}, ${reports.html}`);
    }
    if (plan.ops.length > 0 && !opts.yes) await confirm(plan);

    const result = await executePlan(plan, {
      client,
      state,
      logger,
      ...(opts.allowRemovals === undefined ? {} : { allowRemovals: opts.allowRemovals }),
      onProgress: progressPrinter(process.stderr),
    });
    const heldBack = result.results.filter(
      (r) => r.status === 'skipped' && r.detail?.startsWith('held back by guardrails'),
    );
    for (const line of resultLines(result)) say(line);
    if (json)
      process.stdout.write(`${JSON.stringify({ fingerprint: plan.fingerprint, ...result }, null, 2)}\n`);
    if (!result.ok) return EXIT.runtime;
    if (heldBack.length > 0) {
      say(
        `${heldBack.length} removal(s) and role change(s) held back by guardrails; approve with --allow-removals ${removalCount(plan.ops)}`,
      );
    }
    if (plan.held.length > 0) {
      say(
        `${plan.held.length} op(s) held back because idsync cannot be sure they are wanted; see the report. They are not approvable: fix the cause, and the next run releases them.`,
      );
    }
    if (!plan.complete) return EXIT.incomplete;
    if (heldBack.length > 0 || plan.held.length > 0) return EXIT.blocked;
    return EXIT.ok;
  } finally {
    client.close();
  }
}

/** Planned from the same store the executor then writes, so the ledger is read once. */
async function freshPlan(
  config: LoadedConfig,
  client: DevinClient,
  state: StateStore,
  logger: Logger,
): Promise<Plan> {
  const inputs = await readPlanInputs(
    directorySourceFor(config.source, logger, selectorsOf(config)),
    client,
    state,
  );
  return planFromInputs(config, inputs);
}

/** A saved plan is applied exactly, or not at all: unedited, and against the Devin it expected. */
async function savedPlan(file: string, client: DevinClient): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CommandFailure(
      `cannot read plan ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      EXIT.usage,
    );
  }
  const plan = parsePlanJson(text, file);
  if (fingerprintOps(plan.ops) !== plan.fingerprint) {
    throw new CommandFailure(
      `${file}: the ops do not match the plan's fingerprint; it was edited after \`idsync plan\``,
      EXIT.usage,
    );
  }
  const drift = findDrift(plan.ops, await readDevinSnapshot(client));
  if (drift.length > 0) {
    const lines = drift.map((d) => terminalText(`  ${d.key}: expected ${d.expected}, found ${d.found}`));
    throw new CommandFailure(
      `${file} is stale: Devin changed since it was planned (${drift.length} op(s) drifted). Run \`idsync plan\` again.\n${lines.join('\n')}`,
      EXIT.stalePlan,
    );
  }
  return plan;
}

async function confirm(plan: Plan): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new CommandFailure(
      'refusing to apply without --yes: there is no terminal to confirm on',
      EXIT.usage,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`Apply ${plan.ops.length} op(s) to Devin? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CommandFailure('not applied', EXIT.ok);
  } finally {
    rl.close();
  }
}

function resultLines(result: ExecutionResult): string[] {
  const c = result.counts;
  const lines = [
    `applied ${c.applied}, already in place ${c.already}, skipped ${c.skipped}, failed ${c.failed}`,
  ];
  for (const r of result.results) {
    if (r.status === 'failed') lines.push(`  ✗ ${r.key}: ${r.error ?? r.detail ?? 'failed'}`);
  }
  return lines;
}

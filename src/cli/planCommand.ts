// `idsync plan`: read the directory and Devin, compute the plan, write the reports, change nothing.

import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { defaultConfigPath, loadConfig } from '../config/index.js';
import { createCliLogger } from '../log/logger.js';
import { renderJson, writeReports } from '../report/index.js';
import {
  devinClientFor,
  directorySourceFor,
  planFromInputs,
  readPlanInputs,
  selectorsOf,
  stateStoreFor,
} from '../sync/inputs.js';
import { planExitCode } from './exitCodes.js';
import { runCommand } from './failures.js';
import { planSummaryLines } from './planSummary.js';

export interface PlanCommandOptions {
  config?: string;
  out?: string;
  reportDir: string;
  json?: boolean;
}

export const DEFAULT_REPORT_DIR = 'idsync-report';

export function planCommand(): Command {
  return new Command('plan')
    .description(
      'Compute what a sync would change and write Markdown, JSON and HTML reports. Changes nothing.',
    )
    .option('-c, --config <file>', 'config file (default: $IDSYNC_CONFIG or ./idsync.yaml)')
    .option('-o, --out <plan.json>', 'save the plan for `idsync apply <plan.json>`')
    .addOption(
      new Option('--report-dir <dir>', 'where to write plan.md, plan.json and plan.html').default(
        DEFAULT_REPORT_DIR,
      ),
    )
    .option('--json', 'print the plan as JSON on stdout (nothing else goes to stdout)')
    .action((opts: PlanCommandOptions) => runCommand('plan', () => runPlan(opts)));
}

async function runPlan(opts: PlanCommandOptions): Promise<number> {
  const config = await loadConfig(opts.config ?? defaultConfigPath());
  const logger = createCliLogger();
  const client = devinClientFor(config, logger);
  try {
    const inputs = await readPlanInputs(
      directorySourceFor(config.source, logger, selectorsOf(config)),
      client,
      stateStoreFor(config),
    );
    const plan = planFromInputs(config, inputs);
    const reports = await writeReports(plan, opts.reportDir, {
      source: inputs.directory.source,
      devin: config.devin.baseUrl,
    });
    if (opts.out) await writeFile(opts.out, renderJson(plan), { mode: 0o600 });
    if (opts.json) {
      process.stdout.write(renderJson(plan));
    } else {
      process.stdout.write(`${planSummaryLines(plan).join('\n')}\n`);
      process.stdout.write(`reports: ${reports.markdown}, ${reports.html}, ${reports.json}\n`);
      if (opts.out)
        process.stdout.write(`plan saved to ${opts.out}: apply it with \`idsync apply ${opts.out}\`\n`);
    }
    return planExitCode(plan);
  } finally {
    client.close();
  }
}

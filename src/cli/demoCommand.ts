// `idsync demo`: the whole loop on a fresh machine with nothing running. The bundled directory of
// Example Corp is synced into the built-in Devin simulator: plan, reports, apply, and a second plan
// that shows nothing left to do.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { executePlan, progressPrinter } from '../apply/inline/index.js';
import { loadConfig } from '../config/index.js';
import { createCliLogger } from '../log/logger.js';
import type { Plan } from '../reconcile/index.js';
import { planChanges, writeReports } from '../report/index.js';
import { loadSeedFile, startSimulator } from '../simulator/index.js';
import {
  devinClientFor,
  directorySourceFor,
  planFromInputs,
  readPlanInputs,
  selectorsOf,
  stateStoreFor,
} from '../sync/inputs.js';
import { EXIT } from './exitCodes.js';
import { runCommand } from './failures.js';
import { packageRoot } from './packageInfo.js';
import { planSummaryLines } from './planSummary.js';

export interface DemoCommandOptions {
  reportDir: string;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Sync the bundled demo directory into the built-in Devin simulator: plan, reports, apply, converge. Needs nothing running.',
    )
    .addOption(new Option('--report-dir <dir>', 'where to write the reports').default('idsync-demo-report'))
    .action((opts: DemoCommandOptions) => runCommand('demo', () => runDemo(opts)));
}

async function runDemo(opts: DemoCommandOptions): Promise<number> {
  const demoDir = join(packageRoot(), 'config', 'demo');
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const logger = createCliLogger();
  const sim = await startSimulator({ seed: await loadSeedFile(join(demoDir, 'devin-seed.json')) });
  // A fresh ownership ledger each time, so every demo starts from the same place.
  const stateDir = await mkdtemp(join(tmpdir(), 'idsync-demo-'));
  try {
    const loaded = await loadConfig(join(demoDir, 'idsync.yaml'));
    const config = {
      ...loaded,
      devin: { ...loaded.devin, baseUrl: sim.url },
      statePath: join(stateDir, 'state.json'),
    };
    const client = devinClientFor(config, logger);
    const state = stateStoreFor(config);
    const source = directorySourceFor(config.source, logger, selectorsOf(config));
    try {
      out(
        `idsync demo: Example Corp's directory (${join('config', 'demo', 'directory.json')}) → Devin simulator at ${sim.url}`,
      );
      out();
      const inputs = await readPlanInputs(source, client, state);
      out(
        `Read ${inputs.directory.users.length} directory users in ${inputs.directory.groups.length} groups; Devin has ${inputs.devin.users.length} direct users and ${inputs.devin.registeredGroups.length} registered IdP groups.`,
      );
      const plan = planFromInputs(config, inputs);
      out();
      out('1. Plan');
      for (const line of planSummaryLines(plan)) out(`   ${line}`);
      for (const line of sampleReasons(plan)) out(`   ${line}`);
      const reports = await writeReports(plan, opts.reportDir, {
        title: 'idsync demo plan',
        source: inputs.directory.source,
        devin: sim.url,
      });

      out();
      out('2. Apply');
      const result = await executePlan(plan, {
        client,
        state,
        logger,
        onProgress: progressPrinter(process.stderr),
      });
      const c = result.counts;
      out(`   applied ${c.applied}, already in place ${c.already}, skipped ${c.skipped}, failed ${c.failed}`);
      for (const r of result.results) if (r.status === 'failed') out(`   ✗ ${r.key}: ${r.error ?? r.detail}`);

      out();
      out('3. Plan again');
      const again = planFromInputs(config, await readPlanInputs(source, client, state));
      out(
        `   ${again.ops.length === 0 ? 'No changes: Devin now matches the directory.' : `${again.ops.length} op(s) still pending: the demo did not converge.`}`,
      );

      out();
      out(`Reports of the first plan: ${reports.html}`);
      out(`                           ${reports.markdown}`);
      out(`                           ${reports.json}`);
      return result.ok && again.ops.length === 0 ? EXIT.ok : EXIT.runtime;
    } finally {
      client.close();
    }
  } finally {
    await sim.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** A few changes with their reasons, so the first screen already shows why idsync wants them. */
function sampleReasons(plan: Plan): string[] {
  // Nested-group reasons of users show best what a reviewer checks.
  const withReasons = planChanges(plan).filter(
    (c) => c.subjectType === 'user' && c.reasons.some((r) => r.includes(' ⊂ ')),
  );
  if (withReasons.length === 0) return [];
  return [
    'for example:',
    ...withReasons.slice(0, 3).map((c) => `  ${c.reasons.find((r) => r.includes(' ⊂ '))}`),
  ];
}

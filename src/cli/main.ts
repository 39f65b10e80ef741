#!/usr/bin/env node
// The `idsync` command. Each subcommand lives in its own module; this file only wires them.
import { Command, CommanderError } from 'commander';
import { applyCommand } from './applyCommand.js';
import { demoCommand } from './demoCommand.js';
import { EXIT } from './exitCodes.js';
import { readPackageVersion } from './packageInfo.js';
import { planCommand } from './planCommand.js';
import { runDaemonCommand } from './runCommand.js';
import { schemaCommand } from './schemaCommand.js';
import { simulatorCommand } from './simulatorCommand.js';
import { stateCommand } from './stateCommand.js';
import { validateCommand } from './validateCommand.js';
import { workerCommand } from './workerCommand.js';

export function buildProgram(): Command {
  const program = new Command('idsync')
    .description(
      'Keeps a Devin Enterprise account in step with your directory (LDAP, Active Directory, Entra ID).',
    )
    .version(readPackageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(demoCommand());
  program.addCommand(planCommand());
  program.addCommand(applyCommand());
  program.addCommand(simulatorCommand());
  program.addCommand(schemaCommand());
  program.addCommand(validateCommand());
  program.addCommand(runDaemonCommand());
  program.addCommand(workerCommand());
  program.addCommand(stateCommand());
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors are exit 2 (docs/design.md §8).
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.stderr.write(`idsync: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT.runtime;
  }
}

await main(process.argv);

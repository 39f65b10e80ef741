// One place that turns a typed failure into what the operator sees and the exit code (docs/design.md §8):
// 2 for bad config or usage, 1 for a runtime failure. Never prints a stack or a secret.
import { ConfigError } from '../config/index.js';
import { DevinError } from '../devin/errors.js';
import { DirectoryFileError } from '../directory/file/fileSource.js';
import { PolicyResolutionError } from '../reconcile/index.js';
import { PlanFileError } from '../report/index.js';
import { StateFileError } from '../state/fileStateStore.js';
import { SourceUnavailableError } from '../sync/inputs.js';
import { EXIT } from './exitCodes.js';

/** A failure the command itself detected, with the exit code it calls for. */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommandFailure) return err.exitCode;
  if (
    err instanceof ConfigError ||
    err instanceof PolicyResolutionError ||
    err instanceof SourceUnavailableError ||
    err instanceof PlanFileError
  ) {
    return EXIT.usage;
  }
  return EXIT.runtime;
}

export function describeFailure(err: unknown): string {
  if (err instanceof ConfigError) return err.format().join('\n');
  if (err instanceof PolicyResolutionError) return err.message;
  if (err instanceof DevinError) return `Devin API: ${err.message}`;
  if (err instanceof DirectoryFileError) return `directory source: ${err.message}`;
  if (err instanceof StateFileError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Runs a command body; a failure is printed on stderr and becomes the exit code. */
export async function runCommand(name: string, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (err) {
    process.stderr.write(`idsync ${name}: ${describeFailure(err).split('\n').join('\n  ')}\n`);
    process.exitCode = exitCodeFor(err);
  }
}

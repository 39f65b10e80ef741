// Options shared by `idsync run` and `idsync worker`: the config, and the queue tuning an operator
// may need (test rigs shorten the stall timings so a dead worker's jobs come back within seconds).
import { type Command, InvalidArgumentError } from 'commander';
import { type LoadedConfig, loadConfig } from '../config/index.js';
import { type DaemonTuning, RedisNotConfiguredError } from '../daemon/daemon.js';
import { EXIT } from './exitCodes.js';
import { CommandFailure } from './failures.js';

export interface DaemonCommandOptions {
  config?: string;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  prefix?: string;
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number ≥ 1');
  return Number(value);
}

function prefixArg(value: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(value))
    throw new InvalidArgumentError('expected letters, digits, _ and - only');
  return value;
}

export function withDaemonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (default: $IDSYNC_CONFIG or ./idsync.yaml)')
    .option(
      '--concurrency <n>',
      'op jobs this process runs at once (default: 2 × devin.maxConcurrency)',
      positiveInt,
    )
    .option(
      '--lock-duration <ms>',
      'how long a job stays claimed without renewal (default 30000)',
      positiveInt,
    )
    .option(
      '--stalled-interval <ms>',
      "how often to look for a dead worker's jobs (default 15000)",
      positiveInt,
    )
    .option(
      '--prefix <name>',
      'Redis key prefix, to share one Redis between deployments (default idsync)',
      prefixArg,
    );
}

export function tuningFrom(opts: DaemonCommandOptions): Partial<DaemonTuning> {
  const t: Partial<DaemonTuning> = {};
  if (opts.concurrency !== undefined) t.opConcurrency = opts.concurrency;
  if (opts.lockDuration !== undefined) t.lockDurationMs = opts.lockDuration;
  if (opts.stalledInterval !== undefined) t.stalledIntervalMs = opts.stalledInterval;
  if (opts.prefix !== undefined) t.prefix = opts.prefix;
  return t;
}

/** The config, which must name a Redis: without one there is no queue to run from (exit 2). */
export async function loadDaemonConfig(file: string, command: string): Promise<LoadedConfig> {
  const config = await loadConfig(file);
  if (!config.redis) {
    throw new CommandFailure(
      `${new RedisNotConfiguredError(`\`idsync ${command}\``).message}; add e.g.\n  redis:\n    url: redis://redis:6379`,
      EXIT.usage,
    );
  }
  return config;
}

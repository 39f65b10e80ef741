// `idsync worker`: workers only (no HTTP server, no scheduler), to add capacity next to `idsync
// run` replicas. Same shutdown as the daemon: finish op jobs, hand a run back, close Redis last.
import { Command } from 'commander';
import { defaultConfigPath } from '../config/index.js';
import { startDaemon } from '../daemon/daemon.js';
import { untilSignal } from '../daemon/signals.js';
import { createLogger } from '../log/logger.js';
import {
  type DaemonCommandOptions,
  loadDaemonConfig,
  tuningFrom,
  withDaemonOptions,
} from './daemonOptions.js';
import { EXIT } from './exitCodes.js';
import { runCommand } from './failures.js';

export function workerCommand(): Command {
  return withDaemonOptions(
    new Command('worker').description(
      'Run queue workers only (no HTTP server, no scheduler), next to `idsync run` (needs redis.url).',
    ),
  ).action((opts: DaemonCommandOptions) => runCommand('worker', () => runWorker(opts)));
}

async function runWorker(opts: DaemonCommandOptions): Promise<number> {
  const config = await loadDaemonConfig(opts.config ?? defaultConfigPath(), 'worker');
  const logger = createLogger({ level: process.env.IDSYNC_LOG_LEVEL ?? 'info' });
  const daemon = await startDaemon({
    config,
    logger,
    workers: true,
    scheduler: false,
    tuning: tuningFrom(opts),
  });
  logger.info({ pid: process.pid }, 'idsync worker ready');
  const signal = await untilSignal(logger);
  logger.info({ signal }, 'shutting down');
  await daemon.close();
  logger.info('stopped');
  return EXIT.ok;
}

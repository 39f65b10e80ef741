// `idsync run`: the daemon. HTTP server (health, metrics, webhooks, API, dashboard), the job
// scheduler and workers, over Redis. SIGTERM stops taking work, lets op jobs finish and hands a
// run in progress back to the queue, closes the server, and closes Redis last; exit 0.
import { Command } from 'commander';
import { Gauge } from 'prom-client';
import { defaultConfigPath, type ServerSettings } from '../config/index.js';
import { startDaemon } from '../daemon/daemon.js';
import { untilSignal } from '../daemon/signals.js';
import { createLogger } from '../log/logger.js';
import { buildServer, createMetrics } from '../server/index.js';
import {
  type DaemonCommandOptions,
  loadDaemonConfig,
  tuningFrom,
  withDaemonOptions,
} from './daemonOptions.js';
import { EXIT } from './exitCodes.js';
import { runCommand } from './failures.js';

/** The schema's defaults, for a config without a `server` section. */
const DEFAULT_SERVER: ServerSettings = { host: '0.0.0.0', port: 8080 };

export function runDaemonCommand(): Command {
  return withDaemonOptions(
    new Command('run').description(
      'Run the daemon: HTTP server, scheduler and workers, over Redis (needs redis.url in the config).',
    ),
  ).action((opts: DaemonCommandOptions) => runCommand('run', () => runDaemon(opts)));
}

async function runDaemon(opts: DaemonCommandOptions): Promise<number> {
  const config = await loadDaemonConfig(opts.config ?? defaultConfigPath(), 'run');
  // Logs are the daemon's output: JSON lines on stdout, for the container runtime to collect.
  const logger = createLogger({ level: process.env.IDSYNC_LOG_LEVEL ?? 'info' });
  const { metrics, registry } = createMetrics();
  const daemon = await startDaemon({
    config,
    logger,
    metrics,
    workers: true,
    scheduler: true,
    tuning: tuningFrom(opts),
    // Listen first: /healthz answers and /readyz says 503 while Redis is down, instead of no HTTP
    // at all (which a kubelet reads as a dead process and restarts, over and over).
    waitForRedis: false,
  });
  // The watchdog's verdict (src/daemon/watchdog.ts), read at every scrape.
  new Gauge({
    name: 'idsync_run_stuck',
    help: "1 while the sync is stuck: a run waiting with no run active for too long, or Redis lost idsync's data and no run has finished since.",
    registers: [registry],
    collect() {
      this.set(daemon.health().ok ? 0 : 1);
    },
  });
  const settings = config.server ?? DEFAULT_SERVER;
  let app: Awaited<ReturnType<typeof buildServer>>;
  try {
    app = await buildServer({
      runs: daemon.edge.runs,
      metricsRegistry: registry,
      logger,
      server: settings,
      queues: daemon.queues,
      replay: daemon.edge.replay,
      available: daemon.edge.available,
      ...(daemon.graph ? { graph: daemon.graph } : {}),
    });
    await app.listen({ host: settings.host, port: settings.port });
  } catch (err) {
    await daemon.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  logger.info({ url: `http://${settings.host}:${port}`, port }, 'idsync daemon listening');
  // Once Redis answers (at once, or when it comes up): set up the queues, then the startup run.
  let failed: unknown;
  const setup = daemon.started
    .then(() => daemon.service.trigger({ trigger: 'startup' }))
    .then(() => logger.info('redis reachable: run machinery ready'))
    .catch((err: unknown) => {
      failed = err;
    });

  const signalled = untilSignal(logger);
  const first = await Promise.race([signalled, setup.then(() => 'set up' as const)]);
  if (first === 'set up' && failed !== undefined) {
    logger.error({ err: failed }, 'could not set up the run machinery');
    await app.close();
    await daemon.close();
    throw failed;
  }
  const signal = first === 'set up' ? await signalled : first;
  logger.info({ signal }, 'shutting down');
  // Webhooks first, so nothing new arrives while the workers drain.
  await app.close();
  await daemon.close();
  logger.info('stopped');
  return EXIT.ok;
}

// `idsync simulator`: the Devin API simulator as a standalone server (docs/design.md §10).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { createLogger } from '../log/logger.js';
import {
  type FaultConfig,
  FaultConfigSchema,
  loadSeedFile,
  type RunningSimulator,
  SEMANTICS,
  SeedError,
  type Semantics,
  type SimulatorSeed,
  startSimulator,
} from '../simulator/index.js';
import { formatZodError } from '../simulator/seed.js';
import { EXIT } from './exitCodes.js';
import { packageRoot } from './packageInfo.js';

interface SimulatorOptions {
  port: number;
  host: string;
  seed?: string;
  admin: boolean;
  faults?: string;
  latency?: number;
  rateLimit?: number;
  rateBurst?: number;
  semantics: Semantics;
}

function parseIntArg(min: number, max: number) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}–${max}`);
    return n;
  };
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(n > 0) || n > 1_000_000)
    throw new InvalidArgumentError('expected a number > 0 (at most 1000000)');
  return n;
}

function parseSemantics(value: string): Semantics {
  const mode = SEMANTICS.find((s) => s === value);
  if (mode === undefined) throw new InvalidArgumentError(`expected one of ${SEMANTICS.join(', ')}`);
  return mode;
}

/** config/simulator-seed.json in the package root (found by walking up; works from src/ and dist/src/). */
export function defaultSeedPath(): string {
  return join(packageRoot(), 'config', 'simulator-seed.json');
}

async function loadFaults(path: string): Promise<FaultConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new SeedError(`cannot read fault rules ${path}: ${(e as Error).message}`);
  }
  const r = FaultConfigSchema.safeParse(json);
  if (!r.success) throw new SeedError(`invalid fault rules ${path}: ${formatZodError(r.error)}`);
  return r.data as FaultConfig;
}

export function simulatorCommand(): Command {
  return (
    new Command('simulator')
      .description('Run the Devin API simulator (the identity subset of the v3 API) as an HTTP server.')
      .option('--port <n>', 'port to listen on (0 = a free port)', parseIntArg(0, 65535), 0)
      .option('--host <h>', 'address to listen on', '127.0.0.1')
      .option('--seed <file>', 'seed JSON (default: config/simulator-seed.json in the package)')
      .option('--admin', 'enable the unauthenticated /_sim/* test routes', false)
      .option('--faults <file.json>', 'fault rules ({ seed?, rules: [...] })')
      .option('--latency <ms>', 'add this latency to every request', parseIntArg(0, 600_000))
      .option(
        '--rate-limit <rps>',
        'a hidden token-bucket limit over every API request: beyond it 429 with Retry-After in seconds (counts: GET /_sim/rate-limit)',
        parsePositive,
      )
      .option(
        '--rate-burst <n>',
        'requests the hidden bucket holds (default: one second of --rate-limit)',
        parsePositive,
      )
      .option(
        '--semantics <mode>',
        'where the docs are silent: strict (409 instead of cascading; the default) or lenient (removals cascade, re-invites are no-ops)',
        parseSemantics,
        'strict',
      )
      .showHelpAfterError()
      // Usage errors throw CommanderError (exit 2 in main) instead of exiting the process here.
      .exitOverride()
      .action(async (opts: SimulatorOptions) => {
        if (opts.rateBurst !== undefined && opts.rateLimit === undefined) {
          process.stderr.write('idsync simulator: --rate-burst needs --rate-limit\n');
          process.exitCode = EXIT.usage;
          return;
        }
        let seed: SimulatorSeed;
        let faults: FaultConfig | undefined;
        try {
          seed = await loadSeedFile(opts.seed ?? defaultSeedPath());
          if (opts.faults !== undefined) faults = await loadFaults(opts.faults);
        } catch (e) {
          if (!(e instanceof SeedError)) throw e;
          process.stderr.write(`idsync simulator: ${e.message}\n`);
          process.exitCode = EXIT.usage;
          return;
        }
        if (opts.latency !== undefined && opts.latency > 0)
          faults = {
            ...faults,
            rules: [...(faults?.rules ?? []), { match: { route: '*' }, latencyMs: opts.latency }],
          };

        // Logs go to stderr so stdout carries only the two lines scripts read. Per-request lines are
        // info; the default here is warn so a benchmark is not slowed by logging (IDSYNC_LOG_LEVEL=info shows them).
        const logger = createLogger({
          level: process.env.IDSYNC_LOG_LEVEL ?? 'warn',
          destination: pino.destination({ dest: 2, sync: true }),
        });
        const sim: RunningSimulator = await startSimulator({
          seed,
          host: opts.host,
          port: opts.port,
          admin: opts.admin,
          semantics: opts.semantics,
          ...(faults ? { faults } : {}),
          ...(opts.rateLimit !== undefined
            ? {
                rateLimit: {
                  requestsPerSecond: opts.rateLimit,
                  ...(opts.rateBurst !== undefined ? { burst: Math.max(1, opts.rateBurst) } : {}),
                },
              }
            : {}),
          logger: logger.child({ component: 'devin-simulator' }),
        });
        if (opts.semantics !== 'strict')
          process.stderr.write(`idsync simulator: ${opts.semantics} semantics\n`);
        process.stdout.write(
          `Devin API simulator listening on ${sim.url}\nIDSYNC_SIMULATOR_URL=${sim.url}\n`,
        );

        await new Promise<void>((resolve, reject) => {
          let stopping = false;
          const onSignal = () => {
            if (stopping) {
              // A second signal while connections drain: stop waiting for them.
              process.exit(EXIT.runtime);
            }
            stopping = true;
            sim.close().then(() => {
              process.off('SIGINT', onSignal);
              process.off('SIGTERM', onSignal);
              resolve();
            }, reject);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
        });
      })
  );
}

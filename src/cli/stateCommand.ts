// `idsync state export|import`: moves the ownership ledger between the JSON file that one-shot
// runs use (`state.file`) and Redis, where the daemon keeps it. Moving to the daemon (or back to a
// CronJob) must not lose what idsync owns, and must never silently overwrite another ledger.
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_PREFIX } from '../apply/queue/names.js';
import { defaultConfigPath } from '../config/index.js';
import type { RedisSettings } from '../config/types.js';
import { isRedisUnreachable } from '../daemon/edge.js';
import { createRedis, describeRedis } from '../daemon/redisOptions.js';
import { FileStateStore } from '../state/fileStateStore.js';
import type { OwnershipLedger } from '../state/ledger.js';
import { RedisStateStore } from '../state/redisStateStore.js';
import { loadDaemonConfig } from './daemonOptions.js';
import { EXIT } from './exitCodes.js';
import { CommandFailure, runCommand } from './failures.js';

interface StateOptions {
  config?: string;
  force?: boolean;
  prefix?: string;
}

function prefixArg(value: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(value))
    throw new InvalidArgumentError('expected letters, digits, _ and - only');
  return value;
}

function common(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (default: $IDSYNC_CONFIG or ./idsync.yaml)')
    .option('--force', 'overwrite a target ledger that is not empty')
    .option('--prefix <name>', 'Redis key prefix (default idsync)', prefixArg);
}

export function stateCommand(): Command {
  const state = new Command('state').description(
    'Move the ownership ledger between the state file and Redis (the daemon keeps it in Redis).',
  );
  state.addCommand(
    common(
      new Command('export')
        .description('Copy the ledger from Redis into a JSON file (default: state.file of the config).')
        .option('--to <file.json>', 'the file to write'),
    ).action((opts: StateOptions & { to?: string }) => runCommand('state export', () => exportLedger(opts))),
  );
  state.addCommand(
    common(
      new Command('import')
        .description('Copy the ledger from a JSON file (default: state.file of the config) into Redis.')
        .option('--from <file.json>', 'the file to read'),
    ).action((opts: StateOptions & { from?: string }) =>
      runCommand('state import', () => importLedger(opts)),
    ),
  );
  return state;
}

async function withRedis<T>(
  opts: StateOptions,
  command: string,
  body: (store: RedisStateStore, file: string) => Promise<T>,
  file: string | undefined,
): Promise<T> {
  const config = await loadDaemonConfig(opts.config ?? defaultConfigPath(), command);
  // A CLI command should fail fast when Redis is down rather than wait for it like the daemon.
  // loadDaemonConfig refused a config without redis.
  const settings = config.redis as RedisSettings;
  const redis = createRedis(settings, 'cli');
  // Why a connection failed (a TLS verify error, WRONGPASS) comes as an 'error' event; the
  // command itself only fails with "Connection is closed.".
  let reason: Error | undefined;
  redis.on('error', (err: Error) => {
    reason = err;
  });
  try {
    return await body(
      new RedisStateStore(redis, opts.prefix ?? DEFAULT_PREFIX),
      resolve(file ?? config.statePath),
    );
  } catch (err) {
    if (reason && isRedisUnreachable(err)) {
      throw new CommandFailure(
        `cannot reach Redis (${describeRedis(settings)}): ${reason.message}`,
        EXIT.runtime,
      );
    }
    throw err;
  } finally {
    redis.disconnect();
  }
}

function isEmpty(l: OwnershipLedger): boolean {
  return l.users.length === 0 && l.groups.length === 0 && l.groupRoles.length === 0 && !l.lastSuccessfulRun;
}

function describe(l: OwnershipLedger): string {
  return `${l.users.length} user(s), ${l.groups.length} group(s), ${l.groupRoles.length} group role(s)${l.lastSuccessfulRun ? `, last successful run ${l.lastSuccessfulRun.at}` : ''}`;
}

async function exportLedger(opts: StateOptions & { to?: string }): Promise<number> {
  return withRedis(
    opts,
    'state export',
    async (redis, file) => {
      const ledger = await redis.load();
      const existing = await new FileStateStore(file).load();
      if (!isEmpty(existing) && !opts.force) {
        throw new CommandFailure(
          `${file} already holds a ledger (${describe(existing)}); use --force to overwrite it`,
          EXIT.usage,
        );
      }
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(ledger, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, file);
      // Read back through the file store: what the next one-shot run will see.
      const check = await new FileStateStore(file).load();
      process.stdout.write(`exported ${describe(check)} from ${redis.describe()} to ${file}\n`);
      return EXIT.ok;
    },
    opts.to,
  );
}

async function importLedger(opts: StateOptions & { from?: string }): Promise<number> {
  return withRedis(
    opts,
    'state import',
    async (redis, file) => {
      // The file store reads a missing file as an empty ledger; importing nothing is a mistake.
      try {
        await stat(file);
      } catch {
        throw new CommandFailure(`cannot read ${file}: no such file`, EXIT.usage);
      }
      const ledger = await new FileStateStore(file).load();
      if (!(await redis.isEmpty()) && !opts.force) {
        const current = await redis.load();
        throw new CommandFailure(
          `${redis.describe()} already holds a ledger (${describe(current)}); use --force to overwrite it`,
          EXIT.usage,
        );
      }
      await redis.replace(ledger);
      process.stdout.write(`imported ${describe(ledger)} from ${file} into ${redis.describe()}\n`);
      return EXIT.ok;
    },
    opts.from,
  );
}

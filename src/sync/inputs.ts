// The imperative shell around planSync: builds the source, the Devin client and the state store
// from a loaded config, and reads the three inputs of a plan. Used by plan, apply and demo (and the
// daemon later), so every entry point reads the world the same way.
import type { Logger } from 'pino';
import type { LoadedConfig, SourceConfig } from '../config/index.js';
import { DevinClient } from '../devin/client.js';
import { DevinAbortedError } from '../devin/errors.js';
import { readDevinSnapshot } from '../devin/snapshot.js';
import { entraSource } from '../directory/entra/index.js';
import { fileSource } from '../directory/file/fileSource.js';
import { ldapSource } from '../directory/ldap/index.js';
import type { DirectorySnapshot, DirectorySource } from '../directory/types.js';
import { silentLogger } from '../log/logger.js';
import type { DevinSnapshot } from '../model/devin.js';
import { type Plan, planSync } from '../reconcile/index.js';
import type { GroupSelector } from '../reconcile/policy.js';
import { FileStateStore } from '../state/fileStateStore.js';
import type { OwnershipLedger, StateStore } from '../state/ledger.js';

/** A source type this build cannot read yet: a config problem, not a crash. */
export class SourceUnavailableError extends Error {
  constructor(readonly type: string) {
    super(`source type "${type}" is not available in this version of idsync; use "file" for now`);
    this.name = 'SourceUnavailableError';
  }
}

/** The mappings' group selectors, in config order: what a source that reads selectively needs. */
export function selectorsOf(config: Pick<LoadedConfig, 'policy'>): GroupSelector[] {
  return config.policy.mappings.map((m) => m.group);
}

/**
 * The source a config names. `mappings` (selectorsOf) is required for entra, which reads the
 * members of the selected groups only; without it every mapping would select nothing.
 */
export function directorySourceFor(
  config: SourceConfig,
  logger: Logger = silentLogger,
  mappings?: readonly GroupSelector[],
): DirectorySource {
  switch (config.type) {
    case 'file':
      return fileSource(config.path);
    case 'ldap':
      return ldapSource(config, { logger });
    case 'entra':
      if (mappings === undefined) {
        throw new Error('internal: directorySourceFor(entra) needs the mappings (selectorsOf(config))');
      }
      return entraSource(config, { logger, mappings });
    default:
      throw new SourceUnavailableError((config as { type: string }).type);
  }
}

export function devinClientFor(config: LoadedConfig, logger: Logger = silentLogger): DevinClient {
  return new DevinClient({ ...config.devin, logger });
}

export function stateStoreFor(config: LoadedConfig): StateStore {
  return new FileStateStore(config.statePath);
}

export interface PlanInputs {
  directory: DirectorySnapshot;
  devin: DevinSnapshot;
  ledger: OwnershipLedger;
}

/**
 * Reads the directory, Devin and the ledger at once: they do not depend on each other. When the
 * directory read fails nothing can be planned: the Devin reads still in flight are aborted quietly
 * (no retries, no failure lines) and settle before the directory's error, the only one reported,
 * is thrown.
 */
export async function readPlanInputs(
  source: DirectorySource,
  client: DevinClient,
  state: StateStore,
  concurrency?: number,
): Promise<PlanInputs> {
  const devinRead = readDevinSnapshot(client, concurrency === undefined ? {} : { concurrency });
  const directoryRead = source.read().catch(async (err: unknown) => {
    client.abort('the directory read failed');
    await devinRead.catch(() => undefined);
    throw err;
  });
  const [directory, devin, ledger] = await Promise.all([
    directoryRead,
    devinRead.catch(async (err: unknown) => {
      // Our own abort is no failure of Devin's: the directory's error is the one to report.
      if (err instanceof DevinAbortedError) await directoryRead;
      throw err;
    }),
    state.load(),
  ]);
  return { directory, devin, ledger };
}

export function planFromInputs(config: LoadedConfig, inputs: PlanInputs): Plan {
  return planSync({ policy: config.policy, ...inputs });
}

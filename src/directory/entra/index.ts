// The `entra` source: Microsoft Entra ID through Microsoft Graph, with client credentials (a secret
// or a certificate). See docs/entra.md for the app registration and the permissions it needs:
// User.Read.All and GroupMember.Read.All for a read.
import type { Logger } from 'pino';
import type { EntraSourceConfig } from '../../config/types.js';
import { silentLogger } from '../../log/logger.js';
import type { GroupSelector } from '../../reconcile/policy.js';
import type { AbortableDirectorySource } from '../ldap/index.js';
import type { DirectorySnapshot } from '../types.js';
import { entraTokenProvider, type TokenProvider } from './auth.js';
import { EntraAbortedError } from './errors.js';
import { GraphClient } from './graphClient.js';
import { EntraReader, sourceName } from './read.js';

export { entraTokenProvider, type TokenProvider } from './auth.js';
export { EntraAbortedError, EntraAuthError, EntraError, GraphError } from './errors.js';
export { GraphClient, permissionFor } from './graphClient.js';
export { type ProbeCheck, probeEntra } from './probe.js';
export { NOT_MAPPED, sourceName } from './read.js';
export { GRAPH_USER_BASE_PROPERTIES, type GraphUser, toDirectoryUser, userSelect } from './users.js';

export interface EntraSourceOptions {
  logger?: Logger;
  /** The mappings' group selectors: only the groups they select get their members read. */
  mappings?: readonly GroupSelector[];
  /** Shared with other users of the same app (the delta source); default: this config's. */
  tokens?: TokenProvider;
}

/**
 * A DirectorySource reading Entra ID in full. read() throws when nothing could be read (no token,
 * no permission to list users or groups); a failure part way returns complete: false.
 */
export function entraSource(
  config: EntraSourceConfig,
  options: EntraSourceOptions = {},
): AbortableDirectorySource {
  const log = (options.logger ?? silentLogger).child({ component: 'entra', source: sourceName(config) });
  const tokens = options.tokens ?? entraTokenProvider(config, options.logger);
  const selectors = options.mappings ?? [];
  let aborted: string | undefined;
  const open = new Set<GraphClient>();
  return {
    abort(reason = 'aborted by the caller'): void {
      aborted ??= reason;
      for (const graph of open) graph.abort(reason);
    },
    async read(): Promise<DirectorySnapshot> {
      if (aborted !== undefined) throw new EntraAbortedError(`Entra read aborted: ${aborted}`);
      const graph = new GraphClient({ config, tokens, logger: log });
      open.add(graph);
      try {
        return await new EntraReader(graph, config, selectors, log).read();
      } finally {
        open.delete(graph);
        graph.close();
      }
    },
  };
}

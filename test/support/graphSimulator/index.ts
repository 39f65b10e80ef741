// Microsoft Graph + Entra login simulator for tests and benchmarks: a real HTTPS server on
// 127.0.0.1 (a free port) with a CA generated for the run (openssl), serving the v2.0 token endpoint
// and the Graph v1.0 directory routes the Entra source uses, on one origin. The contract is
// /work/entra-plan/CONTRACT.md; optional additions are marked "(addition)" in ./types.ts.
//
// MSAL (@azure/msal-node 7.2.3) against the simulator, verified by test/integration/graphSimulator.test.ts
// ("MSAL against the simulator"):
// - Both authority forms work: `https://127.0.0.1:PORT/<tenant>` and `https://localhost:PORT/<tenant>`
//   (the server certificate has both SANs). Use `sim.url` (127.0.0.1) so authorityHost === graphBaseUrl.
// - Recommended: `knownAuthorities: ['<host>:<port>']` (host AND port), `cloudDiscoveryMetadata` =
//   JSON.stringify({ tenant_discovery_endpoint: `${base}/<tenant>/v2.0/.well-known/openid-configuration`,
//   'api-version': '1.1', metadata: [{ preferred_network: 'host:port', preferred_cache: 'host:port',
//   aliases: ['host:port'] }] }) and `authorityMetadata` = JSON.stringify({ token_endpoint:
//   `${base}/<tenant>/oauth2/v2.0/token`, authorization_endpoint, issuer: `${base}/<tenant>/v2.0`,
//   jwks_uri, end_session_endpoint }). Then the only request MSAL makes is the token POST.
// - `system.networkClient`: an INetworkModule on node:https with `ca: sim.caPem` (sendGetRequestAsync /
//   sendPostRequestAsync returning { status, headers (lower-case), body (parsed JSON) }).
// - Without the inline metadata, `knownAuthorities` must be exactly 'host:port': with the host alone (or
//   none) MSAL asks https://login.microsoftonline.com/common/discovery/instance and fails with
//   endpoints_resolution_error. With 'host:port' it GETs the openid-configuration, which the simulator
//   serves with an issuer on the host the client used (MSAL requires that).
// - Scope: `${sim.url}/.default` (the localhost form of the origin is accepted too).
// - Certificates: `clientCertificate: { thumbprintSha256, privateKey }` sends PS256 + x5t#S256; the
//   deprecated `{ thumbprint (SHA-1 hex), privateKey }` sends RS256 + x5t; both are verified here.
//
// Additions beyond the contract (all optional; see ./types.ts): options validationTimeoutMs,
// notificationTimeoutMs, notificationCaPem, deltaPageSize; faults delayMs and dropConnection;
// sim.tokenEndpoint, setPermissions(), revokeTokens(); deleteUser/deleteGroup(id, { hard: true });
// deliveries()[i].body; GET /v1.0/users/{id|upn}, /groups/{id}/transitiveMembers (no cast),
// $filter `or`/`in`/startswith(), users|groups/delta?$deltatoken=latest; seedDirectory()/seedGuid().
// Not simulated: Prefer: return=minimal (ignored), $search/$orderby/$expand (400), notification retries,
// batching several changes into one notification POST.
//
// Modules: tls.ts (CA, server and app certificates), login.ts (token endpoint, client secret and
// client assertion checks, access tokens), directory.ts (the data and its indexes, change log),
// odata.ts ($select/$filter, object shapes, page tokens), graph.ts (users, groups, members,
// transitive members, delta), subscriptions.ts (subscriptions and notifications), faults.ts, seed.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Directory } from './directory.js';
import { Faults } from './faults.js';
import { GraphRoutes } from './graph.js';
import {
  type Ctx,
  defaultGraphCode,
  graphError,
  graphErrorBody,
  newRequestIds,
  readBody,
  send,
  sendJson,
} from './http.js';
import { ALL_PERMISSIONS, Login } from './login.js';
import { Subscriptions } from './subscriptions.js';
import { makeServerTls } from './tls.js';
import type {
  GraphRequestLogEntry,
  GraphSimulator,
  GraphSimulatorOptions,
  SimGroup,
  SimUser,
} from './types.js';

export { ALL_PERMISSIONS } from './login.js';
export { type SeedOptions, seedDirectory, seedGuid } from './seed.js';
export { MAX_SUBSCRIPTION_MINUTES } from './subscriptions.js';
export { type AppCertificate, makeAppCertificate } from './tls.js';
export type {
  GraphFault,
  GraphPermission,
  GraphRequestLogEntry,
  GraphSimulator,
  GraphSimulatorOptions,
  LifecycleEvent,
  SimDelivery,
  SimGroup,
  SimSubscription,
  SimUser,
} from './types.js';

function redactHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const v = Array.isArray(value) ? value.join(', ') : value;
    if (name === 'authorization') {
      const scheme = /^(\S+)\s/.exec(v)?.[1];
      out[name] = scheme ? `${scheme} [redacted]` : '[redacted]';
    } else out[name] = v;
  }
  return out;
}

function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

export async function startGraphSimulator(opts: GraphSimulatorOptions): Promise<GraphSimulator> {
  const dir = await mkdtemp(join(tmpdir(), 'idsync-graphsim-'));
  try {
    return await start(opts, dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function start(opts: GraphSimulatorOptions, tmp: string): Promise<GraphSimulator> {
  const tls = await makeServerTls(join(tmp, 'tls'), 'idsync Graph simulator CA');
  const directory = new Directory(opts.users ?? [], opts.groups ?? []);
  const faults = new Faults();
  const requests: GraphRequestLogEntry[] = [];
  const server = createServer({ key: tls.keyPem, cert: tls.certPem });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const login = new Login({
    url,
    tenantId: opts.tenantId,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    certificatePem: opts.certificatePem,
    tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 3599,
    permissions: opts.permissions ?? ALL_PERMISSIONS,
  });
  const graph = new GraphRoutes(directory, {
    url,
    maxMembersPerDeltaGroupObject: opts.maxMembersPerDeltaGroupObject ?? 20,
    deltaPageSize: opts.deltaPageSize ?? 100,
  });
  const subs = new Subscriptions({
    url,
    tenantId: opts.tenantId,
    clientId: opts.clientId,
    validationTimeoutMs: opts.validationTimeoutMs ?? 10_000,
    notificationTimeoutMs: opts.notificationTimeoutMs ?? 10_000,
    ca: opts.notificationCaPem,
  });
  const latencyMs = opts.latencyMs ?? 0;

  const answerFault = async (ctx: Ctx, f: NonNullable<ReturnType<Faults['match']>>): Promise<void> => {
    if (f.delayMs) await sleep(f.delayMs);
    if (f.dropConnection) {
      ctx.log.status = 0;
      ctx.req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = {};
    if (f.retryAfterSeconds !== undefined) headers['retry-after'] = String(f.retryAfterSeconds);
    if (f.body !== undefined) {
      if (typeof f.body === 'string')
        send(ctx, f.status, f.body, { 'content-type': 'text/plain', ...headers });
      else sendJson(ctx, f.status, f.body, headers);
      return;
    }
    if (ctx.segments.includes('oauth2')) {
      // The token endpoint answers with an Entra error body, the shape MSAL parses.
      const transient = f.status === 429 || f.status >= 500;
      login.aadError(
        ctx,
        f.status,
        transient ? 'temporarily_unavailable' : 'invalid_request',
        transient ? 90033 : 90000,
        transient ? 'A transient error has occurred. Please try again.' : 'Injected fault.',
        headers,
      );
      return;
    }
    const code = defaultGraphCode(f.status);
    const message =
      f.status === 429
        ? 'Too many requests, retry after the time given in Retry-After.'
        : f.status === 403
          ? 'Insufficient privileges to complete the operation.'
          : `Injected fault (${f.status}).`;
    sendJson(ctx, f.status, graphErrorBody(ctx, code, message), headers);
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const parsed = new URL(req.url ?? '/', url);
    const path = decodePath(parsed.pathname);
    const ids = newRequestIds(
      typeof req.headers['client-request-id'] === 'string' ? req.headers['client-request-id'] : undefined,
    );
    const log: GraphRequestLogEntry = {
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(parsed.searchParams),
      status: 0,
      at,
      headers: redactHeaders(req),
    };
    requests.push(log);
    const query = new Map<string, string>();
    for (const [k, v] of parsed.searchParams) query.set(k.toLowerCase(), v);
    const ctx: Ctx = {
      req,
      res,
      method: (req.method ?? 'GET').toUpperCase(),
      path,
      segments: path
        .split('/')
        .filter(Boolean)
        .map((s) => s.toLowerCase()),
      query,
      rawQuery: parsed.search.replace(/^\?/, ''),
      body: Buffer.alloc(0),
      ...ids,
      log,
    };
    try {
      ctx.body = await readBody(req);
      const isGraph = ctx.segments[0] === 'v1.0';
      if (isGraph && latencyMs > 0) await sleep(latencyMs);
      const f = faults.match(ctx.method, path);
      if (f) return await answerFault(ctx, f);
      if (login.handle(ctx)) return;
      if (!isGraph) return graphError(ctx, 404, 'NotFound', `No route for ${ctx.method} ${path}.`);
      const auth = login.authenticate(req.headers.authorization);
      if (!auth.ok) {
        return graphError(ctx, 401, 'InvalidAuthenticationToken', auth.message, {
          'www-authenticate': `Bearer realm="", authorization_uri="${url}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
        });
      }
      if (graph.handle(ctx, auth.roles)) return;
      if (await subs.handle(ctx, auth.roles)) return;
      graphError(ctx, 400, 'BadRequest', `Resource not found for the segment '${ctx.segments[1] ?? ''}'.`);
    } catch (e) {
      graphError(
        ctx,
        500,
        'InternalServerError',
        `graph simulator: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handler(req, res);
  });

  const idOf = (k: string): string => directory.idOf.get(k) ?? k;
  let stopped = false;

  const sim: GraphSimulator = {
    url,
    caFile: tls.caFile,
    caPem: tls.caPem,
    wrongCaFile: tls.wrongCaFile,
    tokenEndpoint: login.tokenEndpoint,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    tokensIssued: () => login.tokensIssued(),
    fault: (f) => faults.add(f),
    clearFaults: () => faults.clear(),
    setPermissions: (p) => login.setPermissions(p),
    revokeTokens: () => login.revokeTokens(),

    addUser: (u: SimUser) => {
      const k = directory.addUser(u);
      subs.notify('users', idOf(k), 'updated');
    },
    updateUser: (id, patch) => {
      const k = directory.updateUser(id, patch);
      subs.notify('users', idOf(k), 'updated');
    },
    deleteUser: (id, o) => {
      const r = directory.deleteUser(id, o?.hard ?? false);
      // A deletion first arrives as 'updated' (soft delete); 'deleted' only for a permanent one.
      subs.notify('users', idOf(r.key), 'updated');
      if (o?.hard) subs.notify('users', idOf(r.key), 'deleted');
      for (const g of r.groups) subs.notify('groups', idOf(g), 'updated');
    },
    addGroup: (g: SimGroup) => {
      const k = directory.addGroup(g);
      subs.notify('groups', idOf(k), 'updated');
    },
    renameGroup: (id, displayName) => {
      const k = directory.renameGroup(id, displayName);
      subs.notify('groups', idOf(k), 'updated');
    },
    deleteGroup: (id, o) => {
      const r = directory.deleteGroup(id, o?.hard ?? false);
      subs.notify('groups', idOf(r.key), 'updated');
      if (o?.hard) subs.notify('groups', idOf(r.key), 'deleted');
      for (const g of r.groups) subs.notify('groups', idOf(g), 'updated');
    },
    addMember: (groupId, memberId) => {
      const before = directory.version;
      const k = directory.addMember(groupId, memberId);
      if (directory.version !== before) subs.notify('groups', idOf(k), 'updated');
    },
    removeMember: (groupId, memberId) => {
      const k = directory.removeMember(groupId, memberId);
      subs.notify('groups', idOf(k), 'updated');
    },
    users: () => directory.userOrder().map((k) => directory.publicUser(k)!),
    groups: () => directory.groupOrder().map((k) => directory.publicGroup(k)!),
    expireDeltaLinks: () => graph.expireDeltaLinks(),
    subscriptions: () => subs.list(),
    dropSubscription: (id) => subs.drop(id),
    sendLifecycle: (id, event) => subs.sendLifecycle(id, event),
    deliveries: () => subs.deliveries.map((d) => ({ ...d })),
    settled: () => subs.settled(),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await subs.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(tmp, { recursive: true, force: true });
    },
  };
  return sim;
}

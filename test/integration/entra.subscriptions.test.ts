// Graph change-notification subscriptions against the Graph simulator (which does the validation
// handshake and posts notifications like Graph) and a real redis-server. First through the daemon:
// startDaemon with an entra config and its real HTTP server, where the handshake, notifications,
// forged clientStates and lifecycle events arrive. Then the manager on its own with a clock it is
// handed: renewal, a dropped subscription recreated, a stray one deleted, and two managers with
// one lease.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntraSourceConfig } from '../../src/config/types.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { entraTokenProvider } from '../../src/directory/entra/auth.js';
import { GraphClient } from '../../src/directory/entra/graphClient.js';
import {
  type NotificationSettings,
  SubscriptionManager,
  subscriptionKeys,
} from '../../src/directory/entra/subscriptions.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildServer, createMetrics } from '../../src/server/index.js';
import { waitFor } from '../support/daemonRig.js';
import { CLIENT, CLIENT_SECRET, gid, loadEntraConfig, TENANT, tenant, uid } from '../support/entraRig.js';
import { FakeRunService } from '../support/fakeRunService.js';
import { type GraphSimulator, startGraphSimulator } from '../support/graphSimulator/index.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

let redis: TestRedis;
let conn: Redis;
let sim: GraphSimulator;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  sim = await startGraphSimulator({
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: CLIENT_SECRET,
    ...tenant(),
  });
  dir = mkdtempSync(join(tmpdir(), 'idsync-entra-subs-'));
});

afterAll(async () => {
  await sim?.stop();
  conn?.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const forUrl = (url: string) => sim.subscriptions().filter((s) => s.notificationUrl === url);
const byResource = (url: string, resource: string) => forUrl(url).find((s) => s.resource === resource);
const posts = (re: RegExp) => sim.requests.filter((r) => r.method === 'POST' && re.test(r.path));

async function postGraph(base: string, value: unknown[]): Promise<number> {
  const res = await fetch(`${base}/webhooks/graph`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('through the daemon and its HTTP server', () => {
  let daemon: Daemon;
  let app: FastifyInstance;
  let base: string;
  let url: string;
  let registry: ReturnType<typeof createMetrics>['registry'];
  const prefix = 'subsd';

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    url = `${base}/webhooks/graph`;
    const { config } = await loadEntraConfig({
      dir,
      sim,
      devinUrl: 'http://127.0.0.1:9',
      redisUrl: redis.url,
      source: `  notifications:\n    publicUrl: ${base}\n`,
    });
    const m = createMetrics();
    registry = m.registry;
    daemon = await startDaemon({
      config,
      logger: silentLogger,
      metrics: m.metrics,
      workers: false,
      scheduler: false,
      serves: true,
      tuning: { prefix, graphLeaseMs: 900, graphVerifyEveryMs: 60_000 },
    });
    expect(daemon.graph).toBeDefined();
    app = await buildServer({
      runs: daemon.edge.runs,
      metricsRegistry: registry,
      logger: silentLogger,
      server: { host: '127.0.0.1', port },
      queues: [],
      replay: daemon.edge.replay,
      available: daemon.edge.available,
      ...(daemon.graph ? { graph: daemon.graph } : {}),
    });
    await app.listen({ host: '127.0.0.1', port });
  });

  afterAll(async () => {
    await app?.close();
    await daemon?.close();
  });

  const graphRuns = async () => (await daemon.service.list(50)).filter((r) => r.trigger === 'graph');

  it('subscribes to users and groups after the validation handshake, a random clientState each', async () => {
    const subs = await waitFor(
      async () => (forUrl(url).length === 2 ? forUrl(url) : undefined),
      'two subscriptions',
      15_000,
    );
    expect(subs.map((s) => s.resource).sort()).toEqual(['/groups', '/users']);
    for (const s of subs) {
      expect(s).toMatchObject({
        changeType: 'updated,deleted',
        notificationUrl: url,
        lifecycleNotificationUrl: url,
      });
      expect(s.clientState?.length).toBeGreaterThanOrEqual(32);
      expect(s.clientState?.length).toBeLessThanOrEqual(128);
      expect(Date.parse(s.expirationDateTime) - Date.now()).toBeGreaterThan(4319 * 60_000);
    }
    expect(subs[0]?.clientState).not.toBe(subs[1]?.clientState);
    const handshakes = sim.deliveries().filter((d) => d.kind === 'validation' && d.status === 200);
    expect(handshakes.length).toBeGreaterThanOrEqual(4); // notification + lifecycle URL, per subscription
    // The registry every replica checks against holds exactly these, with their clientStates.
    const stored = await daemon.entra?.manager?.registry.all();
    expect(stored?.map((r) => [r.id, r.clientState]).sort()).toEqual(
      subs.map((s) => [s.id, s.clientState]).sort(),
    );
    await waitFor(
      async () =>
        (await registry.metrics()).includes('idsync_graph_subscriptions_active 2') ? true : undefined,
      'the gauge',
    );
    expect(await registry.metrics()).toMatch(
      /idsync_graph_subscription_operations_total\{operation="create",outcome="ok"\} 2/,
    );
  });

  it('a membership change is notified, answered 202, and queues one graph run for the burst', async () => {
    sim.addMember(gid('staff'), uid(9));
    sim.removeMember(gid('staff'), uid(1));
    sim.updateUser(uid(3), { displayName: 'Renamed' });
    await sim.settled();
    const changes = sim.deliveries().filter((d) => d.kind === 'change');
    expect(changes.length).toBeGreaterThanOrEqual(3);
    expect(changes.every((d) => d.status === 202)).toBe(true);
    const runs = await graphRuns();
    // No worker takes it here: every notification coalesced into the one pending run.
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'queued', reason: '1 Graph notification(s)' });
  });

  it('refuses a forged clientState, another subscription’s clientState, an unknown subscription', async () => {
    const users = byResource(url, '/users');
    const groups = byResource(url, '/groups');
    const item = (subscriptionId: string, clientState: string | undefined) => ({
      subscriptionId,
      clientState,
      changeType: 'updated',
      resource: `Users/${uid(2)}`,
    });
    const before = (await daemon.service.list(50)).length;
    expect(await postGraph(base, [item(users!.id, 'forged')])).toBe(401);
    expect(await postGraph(base, [item(users!.id, groups!.clientState)])).toBe(401);
    expect(await postGraph(base, [item('7d0c5e4a-0000-4000-8000-00000000beef', users!.clientState)])).toBe(
      401,
    );
    expect(await postGraph(base, [item(users!.id, undefined)])).toBe(401);
    // One forged item spoils a batch of genuine ones.
    expect(await postGraph(base, [item(users!.id, users!.clientState), item(groups!.id, 'x')])).toBe(401);
    expect((await daemon.service.list(50)).length).toBe(before);
    expect(await postGraph(base, [item(users!.id, users!.clientState)])).toBe(202);
  });

  it('accepts the first notification of a subscription still being created (its id not yet stored)', async () => {
    // Graph may deliver before its 201 reaches the manager: the clientState is pending by then.
    const { SubscriptionRegistry } = await import('../../src/directory/entra/subscriptions.js');
    const pendingRegistry = new SubscriptionRegistry(conn, prefix);
    const clientState = 'pending-client-state-0123456789abcdef';
    const newId = '0b1c2d3e-0000-4000-8000-0000000000aa';
    const item = { subscriptionId: newId, clientState, changeType: 'updated', resource: `Users/${uid(3)}` };
    expect(await postGraph(base, [item])).toBe(401);
    await pendingRegistry.addPending(clientState);
    expect(await postGraph(base, [item])).toBe(202);
    // A pending clientState is no skeleton key: a known subscription still needs its own.
    const users = byResource(url, '/users');
    expect(await postGraph(base, [{ ...item, subscriptionId: users!.id }])).toBe(401);
    await pendingRegistry.removePending(clientState);
    expect(await postGraph(base, [item])).toBe(401);
  });

  it('missed: the next round is a full read, and a run is asked for', async () => {
    const source = daemon.entra!.source;
    await source.read();
    expect((await source.read()).source).toMatch(/incremental/);
    expect(await sim.sendLifecycle(byResource(url, '/groups')!.id, 'missed')).toBe(202);
    expect((await source.read()).source).toMatch(/full delta read: Graph reported missed notifications/);
    expect((await source.read()).source).toMatch(/incremental/);
  });

  it('reauthorizationRequired: reauthorizes the subscription', async () => {
    const id = byResource(url, '/users')!.id;
    expect(await sim.sendLifecycle(id, 'reauthorizationRequired')).toBe(202);
    await waitFor(
      async () =>
        posts(new RegExp(`/v1\\.0/subscriptions/${id}/reauthorize$`)).some((r) => r.status === 204)
          ? true
          : undefined,
      'the reauthorize call',
    );
  });

  it('subscriptionRemoved: forgets it and subscribes again', async () => {
    const old = byResource(url, '/groups')!;
    expect(await sim.sendLifecycle(old.id, 'subscriptionRemoved')).toBe(202);
    const fresh = await waitFor(async () => {
      const s = byResource(url, '/groups');
      return s && s.id !== old.id ? s : undefined;
    }, 'a new groups subscription');
    expect(fresh.clientState).not.toBe(old.clientState);
    const ids = (await daemon.entra!.manager!.registry.all()).map((r) => r.id);
    expect(ids).toContain(fresh.id);
    expect(ids).not.toContain(old.id);
    // Its old clientState opens nothing any more.
    expect(
      await postGraph(base, [
        { subscriptionId: old.id, clientState: old.clientState, changeType: 'updated' },
      ]),
    ).toBe(401);
  });

  it('on shutdown releases the lease and leaves the subscriptions to the next replica', async () => {
    const lease = subscriptionKeys(prefix).lease;
    expect(await conn.get(lease)).not.toBeNull();
    await app.close();
    await daemon.close();
    expect(await conn.get(lease)).toBeNull();
    expect(forUrl(url)).toHaveLength(2);
  });
});

describe('the subscription manager', () => {
  let app: FastifyInstance;
  let base: string;
  let url: string;
  let source: EntraSourceConfig;
  const managers: SubscriptionManager[] = [];
  /** The managers a notification can be routed to (the first that knows the subscription). */
  const sinks: SubscriptionManager[] = [];
  const settings: NotificationSettings = { publicUrl: '', lifetimeMinutes: 4320, renewBeforeMinutes: 1440 };
  let seq = 0;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    url = `${base}/webhooks/graph`;
    settings.publicUrl = base;
    source = (await loadEntraConfig({ dir, sim, devinUrl: 'http://127.0.0.1:9' }, 'manager.yaml')).source;
    const { registry } = createMetrics();
    app = await buildServer({
      runs: new FakeRunService(),
      metricsRegistry: registry,
      logger: silentLogger,
      server: { host: '127.0.0.1', port },
      queues: [],
      graph: {
        clientStates: async (ids) => (sinks[0] ? sinks[0].registry.clientStates(ids) : new Map()),
        lifecycle: async (id, event) => sinks[0]?.lifecycle(id, event),
      },
    });
    await app.listen({ host: '127.0.0.1', port });
  });

  afterAll(async () => {
    for (const m of managers) await m.stop();
    await app?.close();
  });

  function manager(o: { prefix: string; now?: () => number; verifyEveryMs?: number; leaseMs?: number }) {
    const m = new SubscriptionManager({
      client: new GraphClient({ config: source, tokens: entraTokenProvider(source) }),
      redis: conn,
      prefix: o.prefix,
      settings,
      logger: silentLogger,
      requestFullRead: async () => {},
      leaseMs: o.leaseMs ?? 60_000,
      verifyEveryMs: o.verifyEveryMs ?? 60 * 60_000,
      ...(o.now ? { now: o.now } : {}),
    });
    managers.push(m);
    sinks.unshift(m);
    return m;
  }

  /** Each test starts with no subscriptions to our URL and an empty registry. */
  async function fresh(): Promise<string> {
    for (const m of managers.splice(0)) await m.stop();
    sinks.splice(0);
    for (const s of forUrl(url)) sim.dropSubscription(s.id);
    return `subsm${++seq}`;
  }

  it('renews both subscriptions once they are within renewBeforeMinutes of expiry', async () => {
    let offset = 0;
    const m = manager({ prefix: await fresh(), now: () => Date.now() + offset });
    await m.tick();
    const before = forUrl(url);
    expect(before).toHaveLength(2);
    sim.clearRequests();
    await m.tick();
    expect(sim.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
    // 2881 minutes on: 1439 minutes left of 4320, inside the 1440 of renewBeforeMinutes.
    offset = 2881 * 60_000;
    await m.tick();
    const patches = sim.requests.filter((r) => r.method === 'PATCH' && r.status === 200);
    expect(patches).toHaveLength(2);
    for (const s of forUrl(url)) {
      const was = before.find((b) => b.id === s.id)!;
      expect(Date.parse(s.expirationDateTime) - Date.parse(was.expirationDateTime)).toBeGreaterThan(
        2880 * 60_000,
      );
    }
    expect(
      forUrl(url)
        .map((s) => s.id)
        .sort(),
    ).toEqual(before.map((s) => s.id).sort());
    const stored = await m.registry.all();
    expect(stored.every((r) => Date.parse(r.expirationDateTime) > Date.now() + 7000 * 60_000)).toBe(true);
  });

  it('recreates a subscription Graph dropped, found at renewal (PATCH 404)', async () => {
    let offset = 0;
    // Graph's list is not checked again in the meantime: the renewal is what finds it gone.
    const m = manager({
      prefix: await fresh(),
      now: () => Date.now() + offset,
      verifyEveryMs: 30 * 24 * 3600_000,
    });
    await m.tick();
    const users = byResource(url, '/users')!;
    sim.dropSubscription(users.id);
    offset = 2881 * 60_000;
    await m.tick();
    expect(
      sim.requests.some((r) => r.method === 'PATCH' && r.path.endsWith(users.id) && r.status === 404),
    ).toBe(true);
    const again = byResource(url, '/users')!;
    expect(again.id).not.toBe(users.id);
    expect((await m.registry.all()).map((r) => r.id)).toContain(again.id);
    expect(forUrl(url)).toHaveLength(2);
  });

  it('recreates a dropped subscription and deletes a stray one when it checks Graph’s list', async () => {
    const m = manager({ prefix: await fresh(), verifyEveryMs: 0 });
    await m.tick();
    const groups = byResource(url, '/groups')!;
    sim.dropSubscription(groups.id);
    // A subscription to our webhook that the registry does not know (a crash before it was recorded).
    const client = new GraphClient({ config: source, tokens: entraTokenProvider(source) });
    const stray = await client.request('POST', '/subscriptions', {
      body: {
        changeType: 'updated',
        notificationUrl: url,
        resource: '/users',
        expirationDateTime: new Date(Date.now() + 60 * 60_000).toISOString(),
        clientState: 'stray-state',
      },
    });
    const strayId = (stray.body as { id: string }).id;
    expect(forUrl(url).map((s) => s.id)).toContain(strayId);
    await m.tick();
    const now = forUrl(url);
    expect(now).toHaveLength(2);
    expect(now.map((s) => s.id)).not.toContain(strayId);
    expect(now.map((s) => s.id)).not.toContain(groups.id);
    expect(now.map((s) => s.resource).sort()).toEqual(['/groups', '/users']);
    expect((await m.registry.all()).map((r) => r.id).sort()).toEqual(now.map((s) => s.id).sort());
  });

  it('two managers: one holds the lease and subscribes once; the other takes over when it stops', async () => {
    const prefix = await fresh();
    const a = manager({ prefix, leaseMs: 600 });
    const b = manager({ prefix, leaseMs: 600 });
    sim.clearRequests();
    a.start();
    b.start();
    await waitFor(async () => (forUrl(url).length === 2 ? true : undefined), 'two subscriptions');
    await new Promise((r) => setTimeout(r, 700));
    const holders = [a, b].filter((m) => m.status().holder);
    expect(holders).toHaveLength(1);
    expect(posts(/\/v1\.0\/subscriptions$/)).toHaveLength(2);
    const [holder] = holders;
    const other = holder === a ? b : a;
    const ids = forUrl(url)
      .map((s) => s.id)
      .sort();
    await holder!.stop();
    await waitFor(
      // Holding the lease, and done with its first look (status() lists what it manages).
      async () => (other.status().subscriptions.length === 2 ? true : undefined),
      'the other to take the lease',
      5_000,
    );
    expect(
      other
        .status()
        .subscriptions.map((s) => s.id)
        .sort(),
    ).toEqual(ids);
    // It carried on with the same subscriptions: nothing created, nothing deleted.
    expect(posts(/\/v1\.0\/subscriptions$/)).toHaveLength(2);
    expect(sim.requests.filter((r) => r.method === 'DELETE')).toHaveLength(0);
  });
});

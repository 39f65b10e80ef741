// `idsync run` as an operator runs it, as a real process, with an entra source against the Graph
// simulator, the Devin simulator and a real redis-server, in auto mode: the startup run reads in
// full and syncs; the daemon subscribes to users and groups through its own HTTP server; a
// membership change in the directory reaches Devin through a Graph notification and an
// incremental delta run, an addition and a removal; SIGTERM releases the subscription lease,
// leaves the subscriptions in place, exits 0, and the whole log holds no secret.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { generateSeed, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { spawnIdsync, stopProcess, waitFor } from '../support/daemonRig.js';
import {
  CLIENT,
  CLIENT_SECRET,
  gid,
  person,
  TENANT,
  tenant,
  uid,
  writeEntraConfig,
} from '../support/entraRig.js';
import { type GraphSimulator, startGraphSimulator } from '../support/graphSimulator/index.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const DEVIN_TOKEN = 'cog_daemon_entra_token_71c4e2';
const ADMIN_TOKEN = 'admin-entra-e2e-4d9b1f2a';
const PREFIX = 'entrad';

let redis: TestRedis;
let devin: RunningSimulator;
let graph: GraphSimulator;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  const seed = generateSeed({ users: 2, groups: 0, orgs: 2, token: DEVIN_TOKEN });
  devin = await startSimulator({ seed: { ...seed, idp_memberships: [] } });
  graph = await startGraphSimulator({
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: CLIENT_SECRET,
    ...tenant(),
  });
  dir = mkdtempSync(join(tmpdir(), 'idsync-daemon-entra-'));
});

afterAll(async () => {
  await graph?.stop();
  await devin?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Enterprise members (a removed user stays in the simulator, without an enterprise role). */
const devinEmails = () =>
  devin
    .dump()
    .users.filter((u) => u.enterprise_role_id !== null)
    .map((u) => u.email)
    .filter((e) => e.startsWith('person'))
    .sort();
const emailOf = (n: number) => person(n).mail as string;

describe('idsync run with an entra source', () => {
  it('a membership change in Entra reaches Devin through a Graph notification and a delta run', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const orgs = devin
      .dump()
      .organizations.slice(0, 1)
      .map((o) => o.name);
    const configFile = writeEntraConfig({
      dir,
      sim: graph,
      devinUrl: devin.url,
      devinToken: DEVIN_TOKEN,
      redisUrl: redis.url,
      orgs,
      mode: 'auto',
      source: `  notifications:\n    publicUrl: ${base}\n`,
      extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n  adminToken: ${ADMIN_TOKEN}\nguardrails:\n  maxUserRemovalPercent: 100\n`,
    });
    const observer: Daemon = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: PREFIX },
    });
    const daemon = spawnIdsync(['run', '--config', configFile, '--prefix', PREFIX], {
      IDSYNC_LOG_LEVEL: 'debug',
    });
    try {
      await daemon.waitForLine(/idsync daemon listening/, 30_000);
      // The startup run: a full delta round, then the seven people of devin-staff (five direct,
      // two through the nested sre) invited.
      const startup = await waitFor(
        async () => (await observer.service.list(10)).find((r) => r.status === 'succeeded'),
        'the startup run',
        30_000,
      );
      expect(startup.trigger).toBe('startup');
      expect(devinEmails()).toEqual([1, 2, 3, 4, 5, 6, 7].map(emailOf).sort());
      expect(await observer.service.report(startup.id, 'md')).toContain(
        'full delta read: no stored delta state',
      );

      const url = `${base}/webhooks/graph`;
      await waitFor(
        async () =>
          graph.subscriptions().filter((s) => s.notificationUrl === url).length === 2 ? true : undefined,
        'the subscriptions',
      );

      // Person 20 joins Entra and devin-staff; person 7 leaves sre.
      graph.addUser(person(20));
      const t0 = Date.now();
      graph.addMember(gid('staff'), uid(20));
      graph.removeMember(gid('sre'), uid(7));
      await waitFor(
        async () => {
          const e = devinEmails();
          return e.includes(emailOf(20)) && !e.includes(emailOf(7)) ? true : undefined;
        },
        'Devin to show the change',
        60_000,
      );
      const seconds = (Date.now() - t0) / 1000;
      expect(seconds).toBeLessThan(30);
      const changes = graph.deliveries().filter((d) => d.kind === 'change');
      expect(changes.length).toBeGreaterThanOrEqual(3);
      expect(changes.every((d) => d.status === 202)).toBe(true);
      const runs = await observer.service.list(20);
      const hooked = runs.filter((r) => r.trigger === 'graph');
      expect(hooked.length).toBeGreaterThanOrEqual(1);
      await waitFor(
        async () =>
          (await observer.service.list(20)).every(
            (r) => r.status !== 'queued' && r.status !== 'planning' && r.status !== 'applying',
          )
            ? true
            : undefined,
        'the runs to settle',
      );
      const settled = (await observer.service.list(20)).filter((r) => r.trigger === 'graph');
      expect(settled.every((r) => r.status === 'succeeded')).toBe(true);
      const report = await observer.service.report(settled[settled.length - 1]!.id, 'md');
      expect(report).toMatch(/incremental delta read; last full read \d+ (s|min) ago/);

      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/idsync_graph_subscriptions_active 2/);
      expect(metrics).toMatch(/idsync_entra_delta_rounds_total\{kind="incremental",outcome="ok"\} [1-9]/);
      expect(metrics).toMatch(/idsync_entra_delta_rounds_total\{kind="full",outcome="ok"\} 1/);

      const subs = graph.subscriptions().filter((s) => s.notificationUrl === url);
      expect(await stopProcess(daemon, 'SIGTERM')).toBe(0);
      const log = daemon.lines.join('\n');
      expect(log).toContain('subscription lease released');
      expect(log).toMatch(/"msg":"stopped"/);
      // Left for the next replica.
      expect(graph.subscriptions().filter((s) => s.notificationUrl === url)).toHaveLength(2);
      for (const secret of [
        CLIENT_SECRET,
        DEVIN_TOKEN,
        ADMIN_TOKEN,
        ...subs.map((s) => s.clientState ?? ''),
      ]) {
        expect(secret.length).toBeGreaterThan(8);
        expect(log).not.toContain(secret);
      }
    } catch (err) {
      // The daemon's own account of what happened is the only useful part of a failure here.
      console.error(daemon.lines.slice(-60).join('\n'));
      throw err;
    } finally {
      await stopProcess(daemon, 'SIGKILL');
      await observer.close();
    }
  }, 120_000);
});

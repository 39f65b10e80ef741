// The daemon commands as an operator runs them: `idsync run` (server + scheduler + workers) as a
// real process, woken by a signed webhook, stopped with SIGTERM (exit 0), its whole log scanned
// for secrets; `run` and `worker` without Redis (exit 2); `state export/import` between the file
// and Redis stores.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_QUEUE } from '../../src/apply/queue/names.js';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log/logger.js';
import { signWebhook } from '../../src/server/index.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { runIdsync } from '../support/cli.js';
import {
  appliedTwice,
  appliedWrites,
  company,
  spawnIdsync,
  stopProcess,
  TOKEN,
  waitFor,
  writeConfig,
} from '../support/daemonRig.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const ADMIN_TOKEN = 'admin-7c1e0f9a4b2d8e6f';
const WEBHOOK_SECRET = 'whsec-3a9d7f1c5e2b8a4d';
const scenario = company(120);

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: scenario.seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-daemon-cli-'));
});

afterAll(async () => {
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function idsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runIdsync(args, dir);
}

describe('idsync run', () => {
  it('serves, runs at startup and on a signed webhook, stops on SIGTERM with exit 0, and logs no secret', async () => {
    const port = await freePort();
    const configFile = writeConfig(
      {
        dir,
        simUrl: sim.url,
        redisUrl: redis.url,
        orgs: scenario.orgs,
        extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n  adminToken: ${ADMIN_TOKEN}\n  webhookSecret: ${WEBHOOK_SECRET}\nschedule:\n  every: 1h\n`,
      },
      scenario.directory,
    );
    const observer = await startDaemon({
      config: await loadConfig(configFile),
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: 'cli' },
    });
    // Debug level: the most a log can say, so the scan covers every line idsync writes.
    const daemon = spawnIdsync(['run', '--config', configFile, '--prefix', 'cli'], {
      IDSYNC_LOG_LEVEL: 'debug',
    });
    try {
      await daemon.waitForLine(/idsync daemon listening/, 30_000);
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);

      // The startup run (the scheduler's first tick coalesces with it) syncs the company.
      const first = await waitFor(async () => {
        const runs = await observer.service.list(10);
        return runs.find((r) => r.status === 'succeeded' && r.plan?.ops === scenario.total);
      }, 'the startup run to succeed');
      expect(['startup', 'schedule']).toContain(first.trigger);

      const body = JSON.stringify({ reason: 'hr system: new hire' });
      const t = Math.floor(Date.now() / 1000);
      const res = await fetch(`${base}/webhooks/resync`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-idsync-signature': signWebhook(WEBHOOK_SECRET, body, t),
        },
        body,
      });
      expect(res.status).toBe(202);
      const { runId } = (await res.json()) as { runId: string };
      const hooked = await waitFor(async () => {
        const r = await observer.service.get(runId);
        return r?.status === 'succeeded' ? r : undefined;
      }, 'the webhook run');
      expect(hooked).toMatchObject({ trigger: 'webhook', reason: 'hr system: new hire', plan: { ops: 0 } });

      const api = await fetch(`${base}/api/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(api.status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/idsync_runs_total\{trigger="webhook",outcome="succeeded"\} 1/);

      expect(await stopProcess(daemon, 'SIGTERM')).toBe(0);
      const log = daemon.lines.join('\n');
      expect(log).toMatch(/"msg":"stopped"/);
      for (const secret of [TOKEN, ADMIN_TOKEN, WEBHOOK_SECRET]) expect(log).not.toContain(secret);
      expect(log).toContain('"msg":"run finished"');
    } finally {
      await stopProcess(daemon, 'SIGKILL');
      await observer.close();
    }
  });

  it('refuses to start without redis in the config (exit 2)', async () => {
    const file = join(dir, 'no-redis.yaml');
    writeFileSync(
      file,
      readFileSync(
        writeConfig({ dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs }),
        'utf8',
      ).replace(/redis:\n {2}url: .*\n {2}keepRuns: .*\n/, ''),
    );
    for (const command of ['run', 'worker']) {
      const r = await idsync([command, '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`idsync ${command}: \`idsync ${command}\` needs redis.url in the config`);
    }
  });
});

describe('idsync worker', () => {
  it('on SIGTERM hands its run back and exits 0; another replica resumes the run and finishes it', async () => {
    const big = company(1_500);
    const slow = await startSimulator({ seed: big.seed, faults: { rules: [{ latencyMs: 15 }] } });
    const sub = mkdtempSync(join(dir, 'handback-'));
    const configFile = writeConfig(
      { dir: sub, simUrl: slow.url, redisUrl: redis.url, orgs: big.orgs, maxConcurrency: 8 },
      big.directory,
    );
    const config = await loadConfig(configFile);
    const observer = await startDaemon({
      config,
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: 'handback' },
    });
    const worker = spawnIdsync(['worker', '--config', configFile, '--prefix', 'handback']);
    let resumer: Daemon | undefined;
    try {
      await worker.waitForLine(/idsync worker ready/);
      const { runId } = await observer.service.trigger({ trigger: 'api' });
      await waitFor(
        async () => ((await observer.store.settledCount(runId)) > 200 ? true : undefined),
        'some progress',
      );
      const t0 = Date.now();
      expect(await stopProcess(worker, 'SIGTERM')).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(worker.lines.join('\n')).toContain('run handed back to the queue');
      expect(await observer.service.get(runId)).toMatchObject({ status: 'applying' });
      const sync = observer.queues.find((q) => q.name === SYNC_QUEUE)!;
      expect(await sync.getJobCounts('active', 'waiting', 'failed')).toEqual({
        active: 0,
        waiting: 1,
        failed: 0,
      });

      resumer = await startDaemon({
        config,
        logger: silentLogger,
        workers: true,
        scheduler: false,
        tuning: { prefix: 'handback' },
      });
      const done = await waitFor(
        async () => {
          const r = await observer.service.get(runId);
          return r && r.status !== 'applying' ? r : undefined;
        },
        'the resumed run',
        30_000,
      );
      expect(done.status).toBe('succeeded');
      expect((done.opCounts?.applied ?? 0) + (done.opCounts?.already ?? 0)).toBe(big.total);
      const writes = appliedWrites(slow.requests());
      expect(appliedTwice(writes.byPath)).toEqual([]);
      expect(writes.total).toBe(big.total);
    } finally {
      await stopProcess(worker, 'SIGKILL');
      await resumer?.close();
      await observer.close();
      await slow.close();
    }
  });
});

describe('idsync state', () => {
  let store: Daemon;

  beforeAll(async () => {
    const file = writeConfig({ dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs });
    store = await startDaemon({
      config: await loadConfig(file),
      logger: silentLogger,
      workers: false,
      scheduler: false,
      tuning: { prefix: 'statecmd' },
    });
  });
  afterAll(() => store?.close());

  it('imports a ledger file into Redis and exports it back, refusing to overwrite without --force', async () => {
    const config = join(dir, 'idsync.yaml');
    const ledger = {
      version: 1,
      users: ['a@corp.example', 'b@corp.example'],
      groups: ['devin-staff'],
      groupRoles: ['*/devin-staff'],
      lastSuccessfulRun: { at: '2025-01-01T00:00:00.000Z', directoryUsers: 2, fingerprint: 'sha256:x' },
    };
    const from = join(dir, 'ledger-in.json');
    writeFileSync(from, JSON.stringify(ledger));

    const imported = await idsync([
      'state',
      'import',
      '--config',
      config,
      '--prefix',
      'statecmd',
      '--from',
      from,
    ]);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('imported 2 user(s), 1 group(s), 1 group role(s)');
    expect(await store.ledger.load()).toEqual(ledger);

    const again = await idsync([
      'state',
      'import',
      '--config',
      config,
      '--prefix',
      'statecmd',
      '--from',
      from,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds a ledger');
    expect(again.stderr).toContain('--force');

    const to = join(dir, 'ledger-out.json');
    const exported = await idsync([
      'state',
      'export',
      '--config',
      config,
      '--prefix',
      'statecmd',
      '--to',
      to,
    ]);
    expect(exported.code).toBe(0);
    expect(JSON.parse(readFileSync(to, 'utf8'))).toEqual(ledger);
    const refused = await idsync(['state', 'export', '--config', config, '--prefix', 'statecmd', '--to', to]);
    expect(refused.code).toBe(2);

    await store.ledger.recordOp({
      kind: 'removeUser',
      key: 'removeUser/a@corp.example',
      email: 'a@corp.example',
      userId: 'u-a',
      expected: { role: null },
      reasons: [],
    });
    const forced = await idsync([
      'state',
      'export',
      '--config',
      config,
      '--prefix',
      'statecmd',
      '--to',
      to,
      '--force',
    ]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(to, 'utf8')).users).toEqual(['b@corp.example']);

    const missing = await idsync([
      'state',
      'import',
      '--config',
      config,
      '--prefix',
      'statecmd',
      '--from',
      join(dir, 'nope.json'),
      '--force',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });
});

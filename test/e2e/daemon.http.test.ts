// The daemon end to end over HTTP, as IT uses it: the real run machinery (BullMQ on a real
// redis-server) behind the real HTTP surface, the Devin simulator on loopback. Review mode: a run
// waits, its report is read, it is approved over the API and applied; a burst of signed webhooks
// makes one run plus at most one pending; the metrics scrape counts the runs the API shows.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { FINAL_RUN_STATUSES, type RunRecord } from '../../src/daemon/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildServer, createMetrics, signWebhook } from '../../src/server/index.js';
import { loadSeedFile, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { ROOT, waitFor } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const DEMO = join(ROOT, 'config', 'demo');
const ADMIN = 'admin-token-for-the-http-e2e';
const SECRET = 'webhook-secret-for-the-http-e2e';

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let daemon: Daemon;
let app: FastifyInstance;
let base: string;

const auth = { authorization: `Bearer ${ADMIN}` };

async function runs(): Promise<RunRecord[]> {
  const res = await fetch(`${base}/api/runs?limit=100`, { headers: auth });
  expect(res.status).toBe(200);
  return ((await res.json()) as { runs: RunRecord[] }).runs;
}

async function run(id: string): Promise<RunRecord> {
  const res = await fetch(`${base}/api/runs/${id}`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as RunRecord;
}

const until = (id: string, statuses: RunRecord['status'][]) =>
  waitFor(
    async () => {
      const r = await run(id);
      return statuses.includes(r.status) ? r : undefined;
    },
    `run ${id} to be ${statuses.join(' or ')}`,
    30_000,
  );

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: await loadSeedFile(join(DEMO, 'devin-seed.json')) });
  dir = mkdtempSync(join(tmpdir(), 'idsync-http-e2e-'));
  writeFileSync(join(dir, 'directory.json'), readFileSync(join(DEMO, 'directory.json')));
  const yaml = `${readFileSync(join(DEMO, 'idsync.yaml'), 'utf8')
    .replace('http://127.0.0.1:0', sim.url)
    .replace('./.idsync/state.json', join(dir, 'state.json'))}
mode: review
redis:
  url: ${redis.url}
server:
  host: 127.0.0.1
  port: 8080
  adminToken: ${ADMIN}
  webhookSecret: ${SECRET}
`;
  writeFileSync(join(dir, 'idsync.yaml'), yaml);
  const config = await loadConfig(join(dir, 'idsync.yaml'));
  const { metrics, registry } = createMetrics();
  daemon = await startDaemon({ config, logger: silentLogger, metrics, workers: true, scheduler: false });
  app = await buildServer({
    runs: daemon.service,
    metricsRegistry: registry,
    logger: silentLogger,
    server: config.server ?? { host: '127.0.0.1', port: 0 },
    queues: daemon.queues,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await app?.close();
  await daemon?.close();
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the daemon over HTTP', () => {
  it('review mode: a run waits, its report is read, approval applies exactly that plan', async () => {
    const started = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'first sync' }),
    });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };

    const waiting = await until(runId, ['awaiting-approval']);
    expect(waiting.plan?.ops).toBeGreaterThan(0);
    expect(sim.requests().filter((e) => e.applied)).toEqual([]);

    const html = await fetch(`${base}/api/runs/${runId}/report.html`, { headers: auth });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toContain(waiting.plan?.fingerprint);

    const approve = await fetch(`${base}/api/runs/${runId}/approve`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'first sync reviewed' }),
    });
    expect(approve.status).toBe(200);
    const done = await until(runId, ['succeeded', 'partial', 'failed']);
    expect(done.status).toBe('succeeded');
    // The bearer token is who approved: no header can claim a name for it.
    expect(done.approvedBy).toBe('admin-token');
    expect(done.approvalComment).toBe('first sync reviewed');
    expect(done.opCounts?.failed).toBe(0);

    // What the plan said is now in Devin: the groups are registered and mapped.
    const dump = sim.dump();
    expect(dump.idp_groups).toEqual(
      expect.arrayContaining(['devin-admins', 'devin-platform-admins', 'devin-data']),
    );
    expect(dump.group_mappings).toContainEqual({
      idp_group_name: 'devin-admins',
      org_id: null,
      role_id: 'account_admin',
    });

    // Approving twice is refused.
    const again = await fetch(`${base}/api/runs/${runId}/approve`, { method: 'POST', headers: auth });
    expect(again.status).toBe(409);
  });

  it('coalesces 100 signed webhooks within a second into one run plus at most one pending', async () => {
    const before = new Set((await runs()).map((r) => r.id));
    // Slow Devin reads keep the first run active for the whole burst, as a real sync would be.
    sim.setFaults({ rules: [{ match: { method: 'GET' }, latencyMs: 400 }] });
    const now = Math.floor(Date.now() / 1000);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const body = JSON.stringify({ reason: `directory change ${i}` });
        const res = await fetch(`${base}/webhooks/resync`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-idsync-signature': signWebhook(SECRET, body, now),
          },
          body,
        });
        return { status: res.status, body: (await res.json()) as { runId: string } };
      }),
    );
    expect(Date.now() - started).toBeLessThan(1_000 + 2_000);
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const ids = new Set(answers.map((a) => a.body.runId));
    expect(ids.size).toBeGreaterThanOrEqual(1);
    expect(ids.size).toBeLessThanOrEqual(2);
    const created = (await runs()).filter((r) => !before.has(r.id));
    expect(created.map((r) => r.id).sort()).toEqual([...ids].sort());
    // Devin already matches: each of these runs finishes without waiting for approval.
    for (const id of ids) expect((await until(id, [...FINAL_RUN_STATUSES])).status).toBe('succeeded');
    sim.setFaults({ rules: [] });
  });

  it('the metrics scrape counts the runs the API shows', async () => {
    const finished = (await runs()).filter((r) => FINAL_RUN_STATUSES.has(r.status));
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('# TYPE idsync_runs_total counter');
    let counted = 0;
    for (const line of text.split('\n')) {
      const m = /^idsync_runs_total\{[^}]*\} (\d+)$/.exec(line);
      if (m) counted += Number(m[1]);
    }
    expect(counted).toBe(finished.length);
    expect(text).toMatch(/^idsync_last_success_timestamp_seconds \d+/m);
  });
});

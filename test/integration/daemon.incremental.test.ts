// Incremental runs through the real daemon, a real redis-server and the Devin simulator: the first run
// reads Devin in full and leaves a copy; a one-user change (an addition, a removal) is then planned
// from the copy with a handful of Devin calls; an op whose answer contradicts the copy, a copy Redis
// lost, and a request for a full reconcile each make the next run read Devin in full.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { requestFullReconcile } from '../../src/daemon/fullReconcile.js';
import type { RunRecord } from '../../src/daemon/types.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { silentLogger } from '../../src/log/logger.js';
import type { DevinReadInfo } from '../../src/model/devin.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { company, waitFor, writeConfig, writeDirectory } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const scenario = company(400);
const PREFIX = 'inc';

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let daemon: Daemon;
let directory: DirectoryFile;

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: scenario.seed });
  dir = mkdtempSync(join(tmpdir(), 'idsync-incremental-'));
  directory = structuredClone(scenario.directory);
  const file = writeConfig({ dir, simUrl: sim.url, redisUrl: redis.url, orgs: scenario.orgs }, directory);
  daemon = await startDaemon({
    config: await loadConfig(file),
    logger: silentLogger,
    workers: true,
    scheduler: false,
    tuning: { prefix: PREFIX },
  });
});

afterAll(async () => {
  await daemon?.close();
  await sim?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const final = (id: string): Promise<RunRecord> =>
  waitFor(
    async () => {
      const r = await daemon.service.get(id);
      return r && ['succeeded', 'partial', 'failed', 'blocked'].includes(r.status) ? r : undefined;
    },
    `run ${id} to finish`,
    60_000,
    50,
  );

async function devinReadOf(id: string): Promise<DevinReadInfo> {
  const json = await daemon.service.report(id, 'json');
  const plan = JSON.parse(json ?? '{}') as { devinRead?: DevinReadInfo };
  if (!plan.devinRead) throw new Error(`run ${id} has no devinRead`);
  return plan.devinRead;
}

async function run(reason: string): Promise<{ record: RunRecord; read: DevinReadInfo; calls: number }> {
  sim.clearRequests();
  const { runId } = await daemon.service.trigger({ trigger: 'webhook', reason });
  const record = await final(runId);
  return { record, read: await devinReadOf(runId), calls: sim.requests().length };
}

function person(n: number) {
  return { id: `new-${n}`, email: `new${n}@corp.example`, name: `New ${n}` };
}

function setMembers(change: (members: string[]) => string[]): void {
  const group = directory.groups[0];
  if (!group) throw new Error('no group');
  group.members = change(group.members ?? []);
  writeDirectory(dir, directory);
}

const orgId = () => scenario.seed.organizations[0]?.org_id as string;
const inOrg = (email: string) =>
  sim.dump().users.some((u) => u.email === email && u.org_roles[orgId()] !== undefined);

describe('incremental runs', () => {
  it('reads Devin in full the first time and keeps a copy in Redis', async () => {
    const { record, read } = await run('first');
    expect(record.status).toBe('succeeded');
    expect(record.plan?.ops).toBe(scenario.total);
    expect(read.kind).toBe('full');
    expect(read.reason).toMatch(/no cached copy/);
    expect(await daemon.redis.exists(`${PREFIX}:devin-cache`)).toBe(1);
  });

  it('reads in full while the invited users are still to look up, then plans from the copy', async () => {
    // 400 invites: their new ids are not in the results, so 400 users are dirty, more than reading
    // them one by one is worth.
    const settle = await run('settle');
    expect(settle.read.kind).toBe('full');
    expect(settle.read.reason).toMatch(/400 user\(s\) and 0 group\(s\) changed/);
    expect(settle.record.plan?.ops).toBe(0);
    const idle = await run('idle');
    expect(idle.read.kind).toBe('incremental');
    expect(idle.calls).toBe(0);
  });

  it('plans a one-user addition from the copy with a few Devin calls', async () => {
    const p = person(1);
    directory.users.push(p);
    setMembers((m) => [...m, p.id]);
    const { record, read, calls } = await run('one added');
    expect(record.status).toBe('succeeded');
    expect(read.kind).toBe('incremental');
    expect(read.reread).toEqual({ users: 1, groups: 0 });
    expect(inOrg(p.email)).toBe(true);
    // A full read of 400 users in 2 orgs is a dozen listings; this run read the user and wrote.
    expect(calls).toBeLessThanOrEqual(10);
    expect(
      sim.requests().filter((r) => r.route.endsWith('/members/users') && r.method === 'GET').length,
    ).toBeLessThanOrEqual(3);
  });

  it('plans a one-user removal from fresh reads of that user', async () => {
    const gone = scenario.directory.users[5]!;
    setMembers((m) => m.filter((id) => id !== gone.id));
    const { record, read, calls } = await run('one removed');
    expect(record.status).toBe('succeeded');
    expect(read.kind).toBe('incremental');
    const left = sim.dump().users.find((u) => u.email === gone.email);
    expect(left?.enterprise_role_id ?? null).toBeNull();
    expect(left?.org_roles ?? {}).toEqual({});
    expect(calls).toBeLessThanOrEqual(10);
    // Nothing else changed, so the next run has nothing to do and reads almost nothing.
    const idle = await run('nothing changed');
    expect(idle.record.plan?.ops).toBe(0);
    expect(idle.read.kind).toBe('incremental');
    expect(idle.calls).toBe(0);
  });

  it('reads Devin in full after an op found Devin other than the copy said', async () => {
    const p = person(2);
    directory.users.push(p);
    setMembers((m) => [...m, p.id]);
    // Devin answers the org add with a conflict once: the copy is not to be trusted.
    sim.setFaults({
      rules: [
        {
          match: { method: 'POST', route: '/enterprise/organizations/{org_id}/members/users/{user_id}' },
          errorRate: 1,
          errorStatus: 409,
          times: 1,
        },
      ],
    });
    const first = await run('contradicted');
    expect(first.read.kind).toBe('incremental');
    sim.setFaults({ rules: [] });
    // The daemon triggered a full reconcile itself.
    const next = await waitFor(
      async () =>
        (await daemon.service.list(5)).find(
          (r) => r.createdAt > first.record.createdAt && r.reason?.startsWith('full reconcile'),
        ),
      'the full reconcile run',
      30_000,
      50,
    );
    await final(next.id);
    const read = await devinReadOf(next.id);
    expect(read.kind).toBe('full');
    expect(read.reason).toMatch(/found Devin other than the cached copy said/);
    expect(inOrg(p.email)).toBe(true);
  });

  it('reads Devin in full when Redis lost the copy, and when someone asks for it', async () => {
    await daemon.redis.del(`${PREFIX}:devin-cache`);
    const lost = await run('copy lost');
    expect(lost.read.kind).toBe('full');
    expect(lost.read.reason).toMatch(/no cached copy/);

    await requestFullReconcile(daemon.redis, PREFIX, 'the DC failed over');
    const asked = await run('asked');
    expect(asked.read.kind).toBe('full');
    expect(asked.read.reason).toBe('requested: the DC failed over');
    // The request is consumed: the run after is incremental again.
    expect((await run('after')).read.kind).toBe('incremental');
  });
});

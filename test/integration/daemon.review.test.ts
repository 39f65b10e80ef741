// Review and approval through RunService, on the demo company: in review mode a run with changes
// waits; approve applies exactly its stored plan (after a staleness check), a stale plan is
// refused, and a newer plan supersedes an older waiting one. In auto mode a plan blocked by the
// guardrails applies its additions and waits with its removals until approved.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import { RunNotFoundError, type RunRecord, RunStateError } from '../../src/daemon/types.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { silentLogger } from '../../src/log/logger.js';
import { parsePlanJson } from '../../src/report/index.js';
import { loadSeedFile, type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { ROOT, waitFor } from '../support/daemonRig.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { api } from '../support/simulator.js';

const DEMO = join(ROOT, 'config', 'demo');
const directoryJson = JSON.parse(readFileSync(join(DEMO, 'directory.json'), 'utf8')) as DirectoryFile;

let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let daemon: Daemon | undefined;
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimulator({ seed: await loadSeedFile(join(DEMO, 'devin-seed.json')) });
  dir = mkdtempSync(join(tmpdir(), 'idsync-review-'));
});

afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
  sim.reset();
});

afterAll(async () => {
  await sim?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The demo config in `mode`, its directory (edited) in the temp dir, and a daemon on a fresh prefix. */
async function start(
  mode: 'review' | 'auto',
  opts: { guardrails?: string; edit?: (d: DirectoryFile) => void } = {},
) {
  writeDirectory(opts.edit);
  let yaml = readFileSync(join(DEMO, 'idsync.yaml'), 'utf8')
    .replace('http://127.0.0.1:0', sim.url)
    .replace('./.idsync/state.json', join(dir, 'state.json'));
  if (opts.guardrails) yaml = yaml.replace(/guardrails:\n( {2}.*\n)+/, opts.guardrails);
  yaml += `\nmode: ${mode}\nredis:\n  url: ${redis.url}\n`;
  writeFileSync(join(dir, 'idsync.yaml'), yaml);
  daemon = await startDaemon({
    config: await loadConfig(join(dir, 'idsync.yaml')),
    logger: silentLogger,
    workers: true,
    scheduler: false,
    tuning: { prefix: `review${++prefixes}` },
  });
  return daemon;
}

function writeDirectory(edit?: (d: DirectoryFile) => void): void {
  const copy = structuredClone(directoryJson);
  edit?.(copy);
  writeFileSync(join(dir, 'directory.json'), JSON.stringify(copy));
}

const until = (d: Daemon, id: string, statuses: RunRecord['status'][]) =>
  waitFor(
    async () => {
      const r = await d.service.get(id);
      return r && statuses.includes(r.status) ? r : undefined;
    },
    `run ${id} to be ${statuses.join(' or ')}`,
    20_000,
  );

const newRun = async (d: Daemon) => (await d.service.trigger({ trigger: 'api' })).runId;

describe('review mode', () => {
  it('waits for approval, then applies exactly the stored plan', async () => {
    const d = await start('review');
    const id = await newRun(d);
    const waiting = await until(d, id, ['awaiting-approval']);
    expect(sim.requests().filter((e) => e.effectful)).toEqual([]);
    expect(waiting.plan?.ops).toBeGreaterThan(0);

    const json = await d.service.report(id, 'json');
    const plan = parsePlanJson(json ?? '', 'report');
    expect(plan.fingerprint).toBe(waiting.plan?.fingerprint);
    expect(await d.service.report(id, 'md')).toContain(plan.fingerprint.slice(7, 19));
    expect(await d.service.report(id, 'html')).toMatch(/^<!DOCTYPE html>/i);

    const approved = await d.service.approve(id, 'alice@corp.example');
    expect(approved).toMatchObject({ id, status: 'queued', approvedBy: 'alice@corp.example' });
    const done = await until(d, id, ['succeeded', 'partial', 'failed']);
    expect(done.status).toBe('succeeded');
    expect(done.opCounts?.applied).toBe(plan.ops.length);
    // Exactly that plan: one result per planned op, nothing else.
    expect([...(await d.store.results(id)).keys()].sort()).toEqual(plan.ops.map((o) => o.key).sort());

    // Devin converged: the next run has nothing to review and succeeds on its own.
    const next = await until(d, await newRun(d), ['succeeded', 'awaiting-approval', 'failed']);
    expect(next).toMatchObject({ status: 'succeeded', plan: { ops: 0 } });
    await expect(d.service.approve(id, 'bob')).rejects.toBeInstanceOf(RunStateError);
  });

  it('refuses to approve a plan Devin has drifted from', async () => {
    const d = await start('review');
    const id = await newRun(d);
    await until(d, id, ['awaiting-approval']);
    const plan = parsePlanJson((await d.service.report(id, 'json')) ?? '', 'report');
    const invite = plan.ops.find((o) => o.kind === 'inviteUsers');
    if (invite?.kind !== 'inviteUsers') throw new Error('the demo plan invites users');
    // Someone invites one of those people by hand in the meantime.
    const res = await api(sim.url).post('/v3/enterprise/members/users', {
      emails: [invite.emails[0]],
      enterprise_role_id: 'account_member',
    });
    expect(res.status).toBe(200);

    const refused = await d.service.approve(id, 'alice').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RunStateError);
    expect((refused as RunStateError).message).toMatch(/stale/);
    expect((refused as RunStateError).message).toContain(invite.key);
    expect(await d.service.get(id)).toMatchObject({ status: 'awaiting-approval' });
    expect(sim.requests().filter((e) => e.effectful && e.applied)).toHaveLength(1);
  });

  it('a rejected run ends rejected with who, when and why, and nothing of it is applied', async () => {
    const d = await start('review');
    const id = await newRun(d);
    await until(d, id, ['awaiting-approval']);
    const rejected = await d.service.reject(id, 'carol@corp.example', 'wrong org mapping');
    expect(rejected).toMatchObject({
      id,
      status: 'rejected',
      rejectedBy: 'carol@corp.example',
      rejectionComment: 'wrong org mapping',
      rejectedAt: expect.any(String),
      finishedAt: rejected.rejectedAt,
    });
    expect(await d.service.get(id)).toEqual(rejected);
    expect(await d.store.awaitingIds()).not.toContain(id);
    // Decided once: neither a second rejection nor a late approval changes it.
    await expect(d.service.reject(id, 'dave')).rejects.toBeInstanceOf(RunStateError);
    await expect(d.service.approve(id, 'dave')).rejects.toBeInstanceOf(RunStateError);
    await expect(d.service.reject('run-nope', 'dave')).rejects.toBeInstanceOf(RunNotFoundError);
    expect(sim.requests().filter((e) => e.effectful)).toEqual([]);

    const approvedId = await newRun(d);
    await until(d, approvedId, ['awaiting-approval']);
    const approved = await d.service.approve(approvedId, 'alice@corp.example', 'checked with HR');
    expect(approved).toMatchObject({ approvedBy: 'alice@corp.example', approvalComment: 'checked with HR' });
    await expect(d.service.reject(approvedId, 'carol')).rejects.toBeInstanceOf(RunStateError);
    expect((await until(d, approvedId, ['succeeded', 'partial', 'failed'])).status).toBe('succeeded');
  });

  it('supersedes an older waiting run with a newer plan', async () => {
    const d = await start('review');
    const older = await newRun(d);
    await until(d, older, ['awaiting-approval']);
    const newer = await newRun(d);
    await until(d, newer, ['awaiting-approval']);
    expect(await d.service.get(older)).toMatchObject({ status: 'superseded', supersededBy: newer });

    await expect(d.service.approve(older, 'alice')).rejects.toBeInstanceOf(RunStateError);
    await expect(d.service.approve('run-nope', 'alice')).rejects.toBeInstanceOf(RunNotFoundError);
    const list = await d.service.list();
    expect(list.map((r) => r.id)).toEqual([newer, older]);
  });
});

describe('auto mode with guardrails', () => {
  it('applies the additions, holds the removals for approval, and applies them once approved', async () => {
    const d = await start('auto', {
      guardrails:
        'guardrails:\n  maxUserRemovals: 0\n  maxUserRemovalPercent: 100\n  maxGroupRemovals: 5\n  maxSourceShrinkPercent: 100\n',
    });
    expect((await until(d, await newRun(d), ['succeeded', 'partial', 'failed'])).status).toBe('succeeded');

    // A leaver: the run that sees it is blocked (one removal, over a limit of 0).
    writeDirectory((dir) => {
      const omar = dir.users.find((u) => u.email === 'omar.haddad@corp.example');
      if (omar) omar.enabled = false;
    });
    const id = await newRun(d);
    const waiting = await until(d, id, ['awaiting-approval', 'succeeded', 'failed']);
    expect(waiting.status).toBe('awaiting-approval');
    expect(waiting.plan?.guardrails.verdict).toBe('blocked');
    expect(
      sim.dump().users.find((u) => u.email === 'omar.haddad@corp.example')?.enterprise_role_id,
    ).not.toBeNull();

    await d.service.approve(id, 'it-lead');
    const done = await until(d, id, ['succeeded', 'partial', 'failed']);
    expect(done).toMatchObject({ status: 'succeeded', approvedBy: 'it-lead' });
    expect(
      sim.dump().users.find((u) => u.email === 'omar.haddad@corp.example')?.enterprise_role_id ?? null,
    ).toBeNull();
    expect((await d.ledger.load()).users).not.toContain('omar.haddad@corp.example');
  });
});

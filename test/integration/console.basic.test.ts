// The console without OIDC: `idsync run` as a process (review mode, the Devin simulator, a real
// redis-server) serves /console behind HTTP Basic with the admin token, like the queue dashboard.
// Real Chromium approves the waiting startup run; the approver is recorded as `admin-token`. The
// CSRF token still guards the form (a browser resends Basic credentials by itself).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/daemon/types.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { launchChromium, type PageWatch, watchPage } from '../support/chromium.js';
import {
  company,
  type IdsyncProcess,
  spawnIdsync,
  stopProcess,
  waitFor,
  writeConfig,
} from '../support/daemonRig.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const ADMIN_TOKEN = 'adm_basic_console_7d2f9e1b';
const staff = company(2);
let redis: TestRedis;
let sim: RunningSimulator;
let dir: string;
let idsync: IdsyncProcess;
let base: string;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idsync-console-basic-'));
  [redis, sim] = await Promise.all([startRedis(), startSimulator({ seed: staff.seed })]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = writeConfig(
    {
      dir,
      simUrl: sim.url,
      redisUrl: redis.url,
      orgs: staff.orgs,
      mode: 'review',
      extra: `server:\n  host: 127.0.0.1\n  port: ${port}\n  adminToken: ${ADMIN_TOKEN}\n`,
    },
    staff.directory,
  );
  idsync = spawnIdsync(['run', '--config', config]);
  await idsync.waitForLine(/idsync daemon listening/);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (idsync) await stopProcess(idsync);
  await sim?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
const runs = async (): Promise<RunRecord[]> =>
  ((await (await fetch(`${base}/api/runs`, { headers: bearer })).json()) as { runs: RunRecord[] }).runs;
const until = (statuses: RunRecord['status'][]) =>
  waitFor(async () => (await runs()).find((r) => statuses.includes(r.status)), statuses.join(' or '), 30_000);

async function open(path: string, password = ADMIN_TOKEN): Promise<{ page: Page; watch: PageWatch }> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    httpCredentials: { username: 'admin', password },
  });
  const page = await context.newPage();
  const watch = watchPage(page);
  await page.goto(base + path);
  return { page, watch };
}

describe('the console with Basic auth (no server.console)', () => {
  it('asks for the admin token; its static files need none; the OIDC routes do not exist', async () => {
    const refused = await fetch(`${base}/console`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="idsync"/);
    const wrong = await fetch(`${base}/console`, {
      headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    const page = await fetch(`${base}/console`, {
      headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}` },
    });
    expect(page.status).toBe(200);
    const html = await page.text();
    const css = /href="(\/console\/static\/report\.[0-9a-f]{12}\.css)"/.exec(html)?.[1];
    expect(css).toBeDefined();
    const asset = await fetch(`${base}${css}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${base}/console/static/nope.js`)).status).toBe(404);
    for (const path of ['/console/signin', '/console/login', '/console/callback']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
  });

  it('Chromium approves the waiting run with a comment; the run records admin-token and is applied', async () => {
    const waiting = await until(['awaiting-approval']);
    expect(sim.requests().filter((e) => e.effectful)).toEqual([]);
    const { page, watch } = await open('/console');
    expect(await page.locator('nav.top .who').textContent()).toContain('Signed in as admin token');
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await page.getByRole('link', { name: waiting.id }).click();
    await page.waitForURL(`${base}/console/runs/${waiting.id}`);
    expect(await page.locator('#changes tbody tr').count()).toBe(1 + 1 + 1 + 2 + 2);

    // A post without the token, with the browser's Basic credentials: refused.
    const forged = await page.request.post(`${base}/console/runs/${waiting.id}/decision`, {
      form: { decision: 'approve' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect((await runs()).find((r) => r.id === waiting.id)?.status).toBe('awaiting-approval');

    await page.getByLabel(/Comment/).fill('approved from the console, Basic mode');
    await page.getByRole('button', { name: 'Approve and apply' }).click();
    await page.waitForURL(`${base}/console/runs/${waiting.id}?done=approved`);
    const done = await until(['succeeded', 'partial', 'failed']);
    expect(done).toMatchObject({
      id: waiting.id,
      status: 'succeeded',
      approvedBy: 'admin-token',
      approvalComment: 'approved from the console, Basic mode',
    });
    expect(sim.dump().idp_groups).toContain('devin-staff');
    await page.reload();
    expect(await page.locator('h1 .status').textContent()).toBe('succeeded');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('idsync_approvals_total{decision="approved",auth="admin-token"} 1');
    expect(watch.problems).toEqual([]);
    await page.context().close();
  });

  it('a wrong password gets the challenge again, never a page', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: 'wrong-token' },
    });
    const page = await context.newPage();
    const res = await page.goto(`${base}/console`);
    expect(res?.status()).toBe(401);
    await context.close();
    expect(idsync.lines.join('\n')).not.toContain(ADMIN_TOKEN);
  });
});

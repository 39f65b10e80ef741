// The console end to end: the daemon (review mode) against the Devin simulator and a real
// redis-server, a real OpenID Connect provider on loopback, and real Chromium. An approver signs in,
// reads the waiting run, approves it with a comment and sees it applied in Devin; someone who may
// only look is refused by the server (403) even with a form they built themselves; a form posted
// without the CSRF token (from a page of another origin, too) is refused; an expired session goes
// back to sign-in; a group named `<script>` and a bidi override stay text; no page logs an error.
// With IDSYNC_SCREENSHOTS=1 it writes docs/images/console-runs.png and console-run.png.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { RunRecord } from '../../src/daemon/types.js';
import type { DirectoryFile } from '../../src/directory/file/fileSource.js';
import { createLogger } from '../../src/log/logger.js';
import { buildServer, createMetrics } from '../../src/server/index.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { launchChromium, type StaticServer, serveStatic } from '../support/chromium.js';
import { company, ROOT, TOKEN, waitFor } from '../support/daemonRig.js';
import { startOidcProvider, type TestOidcProvider } from '../support/oidcProvider.js';
import { freePort, startRedis, type TestRedis } from '../support/redis.js';

const ADMIN_TOKEN = 'adm_console_test_4b1e9a7c';
const SESSION_KEY = 'sess_key_'.padEnd(48, 'x7Q');
const HOSTILE_GROUP = 'devin-<script>';
const HOSTILE_REASON = 'hr feed <img src=x onerror=alert(1)> \u202egnp.exe';
const SCREENSHOTS = process.env.IDSYNC_SCREENSHOTS === '1';

const staff = company(3);
let redis: TestRedis;
let sim: RunningSimulator;
let idp: TestOidcProvider;
let dir: string;
let daemon: Daemon;
let app: FastifyInstance;
let base: string;
let browser: Browser;
let evil: StaticServer | undefined;
let clockOffsetMs = 0;
const logLines: string[] = [];
const problems: string[] = [];
const contexts: BrowserContext[] = [];

function directory(extra: number): DirectoryFile {
  const people = [...staff.directory.users];
  for (let i = 0; i < extra; i++)
    people.push({ id: `late-${i}`, email: `late${i}@corp.example`, name: `Late ${i}` });
  return {
    users: people,
    groups: [
      { id: 'g-staff', name: 'devin-staff', members: people.map((p) => p.id) },
      { id: 'g-hostile', name: HOSTILE_GROUP, members: ['person-1'] },
    ],
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idsync-console-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  [redis, sim] = await Promise.all([startRedis(), startSimulator({ seed: staff.seed })]);
  idp = await startOidcProvider({
    port: await freePort(),
    redirectUris: [`${base}/console/callback`],
    accounts: [
      { username: 'alice', email: 'Alice@corp.example', name: 'Alice Approver' },
      {
        username: 'carol',
        email: 'carol@corp.example',
        name: 'Carol Group',
        groups: ['devin-staff', 'devin-approvers'],
      },
      { username: 'bob', email: 'bob@corp.example', name: 'Bob Viewer', groups: ['devin-staff'] },
      // Claims an approver's address the IdP has not verified: never an approver by it.
      { username: 'mallory', email: 'alice@corp.example', emailVerified: false, name: 'Mallory' },
    ],
  });
  writeFileSync(join(dir, 'client-secret'), `${idp.clientSecret}\n`);
  writeFileSync(join(dir, 'session.key'), `${SESSION_KEY}\n`);
  writeFileSync(join(dir, 'directory.json'), JSON.stringify(directory(0)));
  writeFileSync(
    join(dir, 'idsync.yaml'),
    `source: { type: file, path: ./directory.json }
devin: { baseUrl: "${sim.url}", token: ${TOKEN}, maxRequestsPerSecond: 0, maxConcurrency: 8, timeoutMs: 5000 }
mappings:
  - group: { name: devin-staff }
    enterpriseRole: account_member
    orgs:
      - { org: "${staff.orgs[0]}", role: org_member }
    provisionUsers: true
  - group: { name: "${HOSTILE_GROUP}" }
    enterpriseRole: account_member
scope: { emailDomains: [corp.example], groupNamePattern: "devin-*", deprovision: remove, adopt: matching }
mode: review
redis: { url: "${redis.url}", keepRuns: 20 }
server:
  host: 127.0.0.1
  port: ${port}
  adminToken: ${ADMIN_TOKEN}
  publicUrl: ${base}
  console:
    issuer: ${idp.issuer}
    clientId: ${idp.clientId}
    clientSecretFile: ./client-secret
    sessionSecretFile: ./session.key
    approvers: { emails: [alice@corp.example], groups: [devin-approvers] }
`,
  );
  const config = await loadConfig(join(dir, 'idsync.yaml'));
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  });
  const { metrics, registry } = createMetrics();
  daemon = await startDaemon({
    config,
    logger,
    metrics,
    workers: true,
    scheduler: false,
    tuning: { prefix: 'console1' },
  });
  if (!config.server) throw new Error('the config has a server block');
  app = await buildServer({
    runs: daemon.edge.runs,
    metricsRegistry: registry,
    logger,
    server: config.server,
    queues: daemon.queues,
    replay: daemon.edge.replay,
    available: daemon.edge.available,
    now: () => Date.now() + clockOffsetMs,
  });
  await app.listen({ host: '127.0.0.1', port });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await evil?.close();
  await app?.close();
  await daemon?.close();
  await idp?.close();
  await sim?.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  // Any console page that logged an error, threw, or opened a dialog fails the test that showed it.
  expect(problems.splice(0)).toEqual([]);
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  const mine = (url: string) => url.startsWith(base);
  page.on('console', (msg) => {
    if (msg.type() === 'error' && mine(page.url()))
      problems.push(`console.error on ${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => {
    if (mine(page.url())) problems.push(`page error on ${page.url()}: ${err.message}`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`dialog (${dialog.type()}): ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  return page;
}

/** The browser logs the 403 of a refused form as a failed resource: expected where a test refuses one. */
function forgetRefusals(): void {
  const kept = problems.filter((p) => !p.includes('the server responded with a status of 403'));
  problems.splice(0, problems.length, ...kept);
}

/** From any console page through the IdP's login form and back. */
async function signIn(page: Page, username: string, path = '/console'): Promise<void> {
  await page.goto(base + path);
  expect(new URL(page.url()).pathname).toBe('/console/signin');
  await page.getByRole('link', { name: /^Sign in with 127\.0\.0\.1/ }).click();
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.href.startsWith(base) && !u.pathname.startsWith('/console/signin'));
}

const until = (id: string, statuses: RunRecord['status'][]) =>
  waitFor(
    async () => {
      const r = await daemon.service.get(id);
      return r && statuses.includes(r.status) ? r : undefined;
    },
    `run ${id} to be ${statuses.join(' or ')}`,
    30_000,
  );

async function waitingRun(reason?: string): Promise<string> {
  const { runId } = await daemon.service.trigger({ trigger: 'api', ...(reason ? { reason } : {}) });
  await until(runId, ['awaiting-approval']);
  return runId;
}

/** The first match's text, once it is in the page (after a navigation, it may take a moment). */
async function textOf(l: Locator): Promise<string> {
  await l.first().waitFor({ state: 'attached', timeout: 10_000 });
  return (await l.first().textContent()) ?? '';
}

const metric = async (series: string) => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

function shoot(page: Page, name: string) {
  if (!SCREENSHOTS) return Promise.resolve();
  mkdirSync(join(ROOT, 'docs', 'images'), { recursive: true });
  return page.screenshot({ path: join(ROOT, 'docs', 'images', name), fullPage: true });
}

describe('the console with OIDC sign-in', () => {
  let first: string;

  it('an approver signs in, reads the waiting run, approves it with a comment, and Devin gets exactly that plan', async () => {
    first = await waitingRun(HOSTILE_REASON);
    expect(sim.requests().filter((e) => e.effectful)).toEqual([]);
    const page = await newPage();
    await signIn(page, 'alice');
    expect(new URL(page.url()).pathname).toBe('/console');
    expect(await textOf(page.locator('nav.top .who'))).toContain(
      'Signed in as Alice Approver <alice@corp.example>',
    );
    expect(await textOf(page.locator('nav.top .who'))).toContain('approver');

    // The runs list: status, trigger and reason, op counts by kind, guardrails, read, age, queues.
    const row = page.locator('table.runs tbody tr', { hasText: first });
    expect(await textOf(row)).toContain('awaiting-approval');
    expect(await textOf(row)).toContain('api');
    expect(await textOf(row)).toContain('1 × Register IdP group');
    expect(await textOf(row)).toContain('ok');
    expect(await textOf(row)).toContain('complete');
    expect(await textOf(row)).toMatch(/\d+ s ago/);
    // The reason is text, its bidi override shown as an escape, never obeyed.
    expect((await textOf(row.locator('.reason'))).trim()).toBe(
      'hr feed <img src=x onerror=alert(1)> \\u202egnp.exe',
    );
    expect(await page.locator('img').count()).toBe(0);
    expect(await textOf(page.locator('table.queues'))).toContain('idsync-sync');
    expect(await page.getByRole('link', { name: 'Open the queue dashboard' }).getAttribute('href')).toBe(
      '/admin/queues',
    );
    await shoot(page, 'console-runs.png');

    // Keyboard: the run's link is reachable and opens the run.
    await page.getByRole('link', { name: first }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/console/runs/${first}`);
    expect(await textOf(page.locator('h1'))).toContain(first);
    // The report's table, reasons per change, and its filter running as a served script under the CSP.
    const rows = page.locator('#changes tbody tr');
    const total = await rows.count();
    expect(total).toBe(1 + 1 + 1 + 3 + 3 + 1 + 1);
    expect(await textOf(page.locator('#changes'))).toContain(HOSTILE_GROUP);
    expect(await textOf(page.locator('#changes'))).toContain('person000001@corp.example');
    expect((await textOf(page.locator('#changes ul.reasons').first())).trim()).not.toBe('');
    await page.getByLabel('Filter').fill('person000002');
    expect((await textOf(page.locator('#counter'))).trim()).toBe(`2 of ${total} changes shown`);
    await page.getByLabel('Filter').fill('');
    await page.getByRole('button', { name: 'Subject' }).click();
    expect(await page.locator('#changes thead th').nth(2).getAttribute('aria-sort')).toBe('ascending');
    expect(await page.getByRole('heading', { name: 'Since the previous run' }).isVisible()).toBe(true);
    expect(await page.locator('script').count()).toBe(2);
    await page.getByLabel(/Comment/).fill('Checked with HR: <b>ok</b>');
    await page.getByLabel(/Comment/).blur();
    await shoot(page, 'console-run.png');

    await page.getByRole('button', { name: 'Approve and apply' }).click();
    await page.waitForURL(`${base}/console/runs/${first}?done=approved`);
    expect(await textOf(page.getByRole('status').first())).toContain('Approved');
    const done = await until(first, ['succeeded', 'partial', 'failed']);
    expect(done).toMatchObject({
      status: 'succeeded',
      approvedBy: 'alice@corp.example',
      approvalComment: 'Checked with HR: <b>ok</b>',
    });
    // Applied: the groups are registered and mapped, the people invited and in their org.
    const dump = sim.dump();
    expect(dump.idp_groups).toEqual(expect.arrayContaining(['devin-staff', HOSTILE_GROUP]));
    expect(done.opCounts?.applied).toBe(done.plan?.ops);
    await page.reload();
    expect((await textOf(page.locator('h1 .status'))).trim()).toBe('succeeded');
    expect(await textOf(page.locator('dl.meta'))).toContain('Approved by');
    expect((await textOf(page.locator('q.comment'))).trim()).toBe('Checked with HR: <b>ok</b>');
    expect(await metric('idsync_approvals_total{decision="approved",auth="oidc"}')).toBe(1);
    expect(logLines.join('')).toContain('"msg":"console decision"');
  });

  let second: string;

  it('shows what changed since the previous run, and refuses a form posted without the CSRF token', async () => {
    writeFileSync(join(dir, 'directory.json'), JSON.stringify(directory(2)));
    second = await waitingRun();
    const page = await newPage();
    await signIn(page, 'alice', `/console/runs/${second}`);
    expect(page.url()).toBe(`${base}/console/runs/${second}`);
    const since = page.locator('section', {
      has: page.getByRole('heading', { name: 'Since the previous run' }),
    });
    expect(await textOf(since)).toContain(`Compared with ${first}`);
    expect(await textOf(since)).toContain('late0@corp.example');
    expect(await textOf(since.locator('h3', { hasText: 'New in this plan' }))).toContain('4');

    // The same session, no token: what a forged form sends.
    const forged = await page.request.post(`${base}/console/runs/${second}/decision`, {
      form: { decision: 'approve', comment: 'forged' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('missing or wrong CSRF token');
    // And from a page on another origin that posts the form by itself, as an attacker's would.
    evil = await serveStatic({
      '/evil.html': {
        contentType: 'text/html; charset=utf-8',
        body: `<!doctype html><form method="post" action="${base}/console/runs/${second}/decision"><input name="decision" value="approve"><input name="_csrf" value="guessed"></form><script>document.forms[0].submit()</script>`,
      },
    });
    const refused = page.waitForResponse((r) => r.url().endsWith('/decision'));
    await page.goto(`${evil.origin}/evil.html`);
    expect((await refused).status()).toBe(403);
    await page.waitForURL(`${base}/console/runs/${second}/decision`);
    expect(await textOf(page.getByRole('alert'))).toContain('CSRF');
    expect(await daemon.service.get(second)).toMatchObject({ status: 'awaiting-approval' });
    expect(logLines.join('')).toContain('console form refused: missing or wrong CSRF token');
    forgetRefusals();
  });

  it('someone who may only look sees no buttons, and the server refuses their own form with 403', async () => {
    for (const who of ['bob', 'mallory']) {
      const page = await newPage();
      await signIn(page, who, `/console/runs/${second}`);
      expect(await textOf(page.locator('nav.top .who'))).toContain('viewer');
      expect(await textOf(page.locator('section.decision'))).toContain('not an approver');
      expect(await page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
      // A form of their own with their own valid token (from the sign-out form): the server decides.
      const status = page.waitForResponse((r) => r.url().endsWith('/decision')).then((r) => r.status());
      await page.evaluate(`(() => {
        const token = document.querySelector('input[name=_csrf]').value;
        const f = document.createElement('form');
        f.method = 'post';
        f.action = '/console/runs/${second}/decision';
        for (const [k, v] of [['_csrf', token], ['decision', 'approve'], ['comment', 'let me']]) {
          const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f);
        f.submit();
      })()`);
      expect(await status).toBe(403);
      expect((await textOf(page.getByRole('heading', { level: 1 }))).trim()).toBe('Not allowed');
      expect(await textOf(page.getByRole('alert'))).toContain(
        'may look at runs but not approve or reject them',
      );
    }
    forgetRefusals();
    expect(await daemon.service.get(second)).toMatchObject({ status: 'awaiting-approval' });
    expect(sim.requests().filter((e) => e.effectful && e.applied && e.path.includes('late0'))).toEqual([]);
  });

  it('an approver by group rejects with a comment; the run ends rejected and nothing of it is applied', async () => {
    const page = await newPage();
    await signIn(page, 'carol', `/console/runs/${second}`);
    const writes = sim.requests().filter((e) => e.effectful).length;
    await page.getByLabel(/Comment/).fill('wait for the reorg\nticket 42');
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.waitForURL(`${base}/console/runs/${second}?done=rejected`);
    expect((await textOf(page.locator('h1 .status'))).trim()).toBe('rejected');
    expect(await textOf(page.locator('dl.meta'))).toContain('Rejected by');
    expect(await page.locator('q.comment').innerHTML()).toBe('wait for the reorg<br>ticket 42');
    expect(await daemon.service.get(second)).toMatchObject({
      status: 'rejected',
      rejectedBy: 'carol@corp.example',
      rejectionComment: 'wait for the reorg\nticket 42',
    });
    expect(sim.requests().filter((e) => e.effectful)).toHaveLength(writes);
    expect(await metric('idsync_approvals_total{decision="rejected",auth="oidc"}')).toBe(1);
    expect(await metric('idsync_runs_total{trigger="api",outcome="rejected"}')).toBe(1);
  });

  it('an expired session goes back to sign-in, and signing in again returns to the page', async () => {
    const page = await newPage();
    await signIn(page, 'alice', `/console/runs/${second}`);
    clockOffsetMs = 8 * 3_600_000 + 60_000;
    try {
      await page.goto(`${base}/console/runs/${second}`);
      const url = new URL(page.url());
      expect(url.pathname).toBe('/console/signin');
      expect(url.searchParams.get('reason')).toBe('expired');
      expect(await textOf(page.getByRole('alert'))).toContain('Your session has expired');
      // A form posted with the expired session is not carried out either.
      const post = await page.request.post(`${base}/console/signout`, { form: {}, maxRedirects: 0 });
      expect(post.status()).toBe(303);
      expect(post.headers().location).toMatch(/^\/console\/signin\?/);
      // The IdP still knows Alice: one click and she is back where she was.
      await page.getByRole('link', { name: /^Sign in with/ }).click();
      await page.waitForURL(`${base}/console/runs/${second}`);
      expect(await textOf(page.locator('nav.top .who'))).toContain('Alice Approver');
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('signs out with a CSRF-checked form; headers, cookies and the log keep secrets', async () => {
    const page = await newPage();
    await signIn(page, 'alice');
    const cookies = await page.context().cookies(base);
    const session = cookies.find((c) => c.name === 'idsync-session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // Plain http on loopback: no Secure flag, or no client would send it back (docs/console.md).
    expect(session?.secure).toBe(false);
    expect(session?.expires).toBeGreaterThan(Date.now() / 1000 + 7 * 3600);
    const res = await page.request.get(`${base}/console`);
    const h = res.headers();
    expect(h['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(h['x-frame-options']).toBe('DENY');
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['referrer-policy']).toBe('no-referrer');
    expect(h['cache-control']).toBe('no-store');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/console/signin?reason=signed-out`);
    expect(await textOf(page.getByRole('status'))).toContain('signed out');
    expect((await page.context().cookies(base)).find((c) => c.name === 'idsync-session')).toBeUndefined();
    await page.goto(`${base}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/signin');

    const log = logLines.join('');
    expect(log).toContain('"msg":"console sign-in"');
    for (const secret of [idp.clientSecret, SESSION_KEY, ADMIN_TOKEN, session?.value ?? '?']) {
      expect(log).not.toContain(secret);
    }
    for (const c of contexts) await c.close();
  });
});

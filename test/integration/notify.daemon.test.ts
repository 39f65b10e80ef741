// Notifications through the real daemon (in-process, real redis-server, the Devin simulator): a run
// that awaits approval, one that guardrails block, one that fails and one that ends partial each
// send their message, once, to a real SMTP server (STARTTLS with a certificate made by openssl, AUTH)
// and to real HTTP receivers standing in for Slack, Teams and a generic webhook. The webhook
// receiver refuses twice first: the message still arrives once, and the metrics show the retries.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.js';
import type { RunRecord } from '../../src/daemon/types.js';
import { createLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/server/metrics.js';
import { verifyWebhookSignature } from '../../src/server/signature.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/index.js';
import { company, TOKEN, waitFor, writeConfig, writeDirectory } from '../support/daemonRig.js';
import {
  mailParts,
  startReceivers,
  startSmtp,
  type TestReceivers,
  type TestSmtp,
} from '../support/notifyReceivers.js';
import { startRedis, type TestRedis } from '../support/redis.js';

const scenario = company(5);
const PUBLIC_URL = 'https://idsync.corp.example/sync';
const SLACK_SECRET = 'T0A1B2C3/B0D4E5F6/slackSecretPathPart9f8e7d';
const TEAMS_SECRET = 'sig=teamsWorkflowSignature3c2b1a';
const HOOK_SECRET = 'notify-hook-secret-4f1e9a2b7c';
const SMTP_USER = 'idsync-mailer';
const SMTP_PASSWORD = 'smtp-pass-7Yq2-not-for-logs';
const SECRETS = [SLACK_SECRET, 'slackSecretPathPart9f8e7d', TEAMS_SECRET, HOOK_SECRET, SMTP_PASSWORD, TOKEN];

let redis: TestRedis;
let sim: RunningSimulator;
let smtp: TestSmtp;
let receivers: TestReceivers;
let dir: string;
let daemon: Daemon | undefined;
let prefixes = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idsync-notify-'));
  [redis, sim, smtp, receivers] = await Promise.all([
    startRedis(),
    startSimulator({ seed: scenario.seed }),
    startSmtp(join(dir, 'tls'), { user: SMTP_USER, password: SMTP_PASSWORD }),
    startReceivers(),
  ]);
  writeFileSync(join(dir, 'slack.url'), `${receivers.url}/slack/services/${SLACK_SECRET}\n`);
  writeFileSync(
    join(dir, 'teams.url'),
    `${receivers.url}/teams/workflows/run?api-version=1&${TEAMS_SECRET}\n`,
  );
  writeFileSync(join(dir, 'hook.secret'), `${HOOK_SECRET}\n`);
  writeFileSync(join(dir, 'smtp.password'), `${SMTP_PASSWORD}\n`);
});

afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
  sim.setFaults({ rules: [] });
  sim.reset();
});

afterAll(async () => {
  await Promise.all([sim?.close(), redis?.stop(), smtp?.close(), receivers?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

interface Started {
  d: Daemon;
  registry: Registry;
  logs: string[];
}

async function start(mode: 'review' | 'auto', directory = scenario.directory): Promise<Started> {
  writeDirectory(dir, directory);
  const file = writeConfig({
    dir,
    simUrl: sim.url,
    redisUrl: redis.url,
    orgs: scenario.orgs,
    mode,
    extra: `server:
  publicUrl: ${PUBLIC_URL}
notify:
  attempts: 5
  backoffMs: 150
  timeoutMs: 3000
  slack: { webhookUrlFile: ./slack.url }
  teams: { webhookUrlFile: ./teams.url }
  email:
    host: 127.0.0.1
    port: ${smtp.port}
    username: ${SMTP_USER}
    passwordFile: ./smtp.password
    from: "idsync <idsync@corp.example>"
    to: [it-team@corp.example]
    caFile: ${smtp.tls.caFile}
  webhook: { url: "${receivers.url}/hook/idsync", secretFile: ./hook.secret }
`,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const { metrics, registry } = createMetrics();
  daemon = await startDaemon({
    config: await loadConfig(file),
    logger: createLogger({ level: 'info', destination }),
    metrics,
    workers: true,
    scheduler: false,
    tuning: { prefix: `notify${++prefixes}`, opAttempts: 1 },
  });
  return { d: daemon, registry, logs };
}

const until = (d: Daemon, id: string, statuses: RunRecord['status'][]) =>
  waitFor(
    async () => {
      const r = await d.service.get(id);
      return r && statuses.includes(r.status) ? r : undefined;
    },
    `run ${id} to be ${statuses.join(' or ')}`,
    30_000,
  );

const runLink = (id: string) => `${PUBLIC_URL}/console/runs/${id}`;

/** What each channel received (answered 2xx) about run `id`. */
function received(id: string) {
  const about = (r: { body: string }) => r.body.includes(id);
  return {
    slack: receivers.delivered('/slack/').filter(about),
    teams: receivers.delivered('/teams/').filter(about),
    hook: receivers.delivered('/hook/').filter(about),
    hookTries: receivers.requests.filter((r) => r.path.startsWith('/hook/') && about(r)),
    mails: smtp.mails.filter((m) => m.raw.includes(id)),
  };
}

/** Waits for one message of run `id` on every channel. */
const allArrived = (id: string) =>
  waitFor(
    async () => {
      const r = received(id);
      return r.slack.length && r.teams.length && r.hook.length && r.mails.length ? r : undefined;
    },
    `the messages of run ${id} on all four channels`,
    20_000,
  );

async function counter(registry: Registry, channel: string, outcome: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'idsync_notifications_total');
  const v = m?.values.find((x) => x.labels.channel === channel && x.labels.outcome === outcome);
  return Number(v?.value ?? 0);
}

function expectNoSecrets(text: string): void {
  for (const s of SECRETS) expect(text).not.toContain(s);
  // No directory addresses: at most counts.
  expect(text).not.toMatch(/person\d+@corp\.example/);
}

// biome-ignore lint/suspicious/noExplicitAny: the test walks received JSON of several shapes
type Loose = any;
const hookBody = (r: { body: string }) => JSON.parse(r.body) as Record<string, Loose>;

describe('notifications through the daemon', () => {
  it('a run awaiting approval: every channel gets one message, the webhook after two refusals', async () => {
    receivers.failNext('/hook/', [500, 500]);
    const { d, registry, logs } = await start('review');
    const { runId: id } = await d.service.trigger({ trigger: 'api', reason: 'hr feed <b>4711</b> *now*' });
    await until(d, id, ['awaiting-approval']);
    const got = await allArrived(id);
    // Time for a duplicate to show, if there were one.
    await new Promise((r) => setTimeout(r, 800));
    const after = received(id);
    expect([after.slack.length, after.teams.length, after.hook.length, after.mails.length]).toEqual([
      1, 1, 1, 1,
    ]);
    expect(after.hookTries.map((r) => r.status)).toEqual([500, 500, 200]);

    // The generic webhook: signed as /webhooks/resync is, verified with idsync's own function.
    const hook = got.hook[0]!;
    const verdict = verifyWebhookSignature({
      secret: HOOK_SECRET,
      header: hook.headers['x-idsync-signature'] as string,
      rawBody: hook.body,
      nowSeconds: Math.floor(Date.now() / 1000),
    });
    expect(verdict.ok).toBe(true);
    expect(
      verifyWebhookSignature({
        secret: 'another-secret-entirely',
        header: hook.headers['x-idsync-signature'] as string,
        rawBody: hook.body,
        nowSeconds: Math.floor(Date.now() / 1000),
      }).ok,
    ).toBe(false);
    // One delivery id across the retries: the receiver can dedupe on it.
    expect(new Set(after.hookTries.map((r) => r.headers['x-idsync-delivery'])).size).toBe(1);
    const body = hookBody(hook);
    expect(body).toMatchObject({
      type: 'idsync.run.awaiting-approval',
      event: 'awaiting-approval',
      run: { id, status: 'awaiting-approval', trigger: 'api', url: runLink(id) },
      plan: {
        ops: scenario.total,
        removals: 0,
        held: 0,
        complete: true,
        byKind: {
          registerIdpGroups: 1,
          setGroupEnterpriseRole: 1,
          setGroupOrgRole: 1,
          inviteUsers: 1,
          addOrgUser: 5,
        },
        guardrails: { verdict: 'ok', reasons: [] },
      },
    });

    // Slack: Block Kit with a button to the run; the trigger's text is plain_text, escaped.
    const slack = JSON.parse(got.slack[0]!.body) as { text: string; blocks: Array<Record<string, Loose>> };
    expect(slack.text).toContain(`run ${id} awaits approval`);
    const button = slack.blocks.find((b) => b.type === 'actions')?.elements[0];
    expect(button).toMatchObject({ type: 'button', url: runLink(id) });
    const reason = slack.blocks.find(
      (b) => b.type === 'section' && String(b.text?.text).startsWith('Trigger reason'),
    );
    expect(reason?.text).toMatchObject({ type: 'plain_text', emoji: false });
    expect(reason?.text.text).toContain('hr feed &lt;b&gt;4711&lt;/b&gt; *now*');
    expect(JSON.stringify(slack.blocks)).toContain('Add to org: 5');

    // Teams: the workflow's message envelope with one Adaptive Card.
    const teams = JSON.parse(got.teams[0]!.body) as Record<string, Loose>;
    expect(teams.type).toBe('message');
    expect(teams.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = teams.attachments[0].content;
    expect(card).toMatchObject({
      type: 'AdaptiveCard',
      actions: [{ type: 'Action.OpenUrl', url: runLink(id) }],
    });
    const runs = card.body
      .filter((b: Loose) => b.type === 'RichTextBlock')
      .map((b: Loose) => b.inlines[0].text);
    expect(runs).toContain('hr feed <b>4711</b> *now*');

    // Email: over STARTTLS, as the configured user, to the configured address.
    const mail = got.mails[0]!;
    expect(mail).toMatchObject({
      secure: true,
      user: SMTP_USER,
      to: ['it-team@corp.example'],
      from: 'idsync@corp.example',
    });
    const parts = mailParts(mail.raw);
    expect(parts.subject).toBe(`idsync: run ${id} awaits approval`);
    expect(parts.text).toContain(runLink(id));
    expect(parts.text).toContain(`Changes: ${scenario.total} (`);
    expect(parts.text).toContain('Invite user: 1');
    expect(parts.text).toContain('Removals: 0');
    expect(parts.html).toContain(`href="${runLink(id)}"`);
    expect(parts.html).toContain('hr feed &lt;b&gt;4711&lt;/b&gt; *now*');
    expect(parts.html).not.toContain('<b>4711');

    for (const text of [mail.raw, got.slack[0]!.body, got.teams[0]!.body, hook.body]) expectNoSecrets(text);

    // The retries in the metrics and in the log, never a URL or a secret.
    expect(await counter(registry, 'webhook', 'retried')).toBe(2);
    for (const c of ['webhook', 'slack', 'teams', 'email'])
      expect(await counter(registry, c, 'sent')).toBe(1);
    expect(logs.filter((l) => l.includes('will retry'))).toHaveLength(2);
    expect(logs.find((l) => l.includes('will retry'))).toContain('HTTP 500');
    for (const line of logs) expectNoSecrets(line);
    expect(logs.join('\n')).not.toContain('/slack/services');

    // The hook firing again (twice at once, as two replicas or a redelivered run job would): no
    // second message anywhere.
    await Promise.all([
      d.notifier?.runChanged(id, 'awaiting-approval'),
      d.notifier?.runChanged(id, 'awaiting-approval'),
    ]);
    await waitFor(
      async () =>
        (await counter(registry, 'email', 'duplicate')) === 2 &&
        (await counter(registry, 'webhook', 'duplicate')) === 2
          ? true
          : undefined,
      'the repeated deliveries to be found duplicates',
      10_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    const again = received(id);
    expect([again.slack.length, again.teams.length, again.hook.length, again.mails.length]).toEqual([
      1, 1, 1, 1,
    ]);
    expect(smtp.refusedLogins).toBe(0);
  });

  it('a run the guardrails block says why, and a succeeded run says nothing', async () => {
    const { d } = await start('auto');
    const first = await d.service.trigger({ trigger: 'api' });
    expect((await until(d, first.runId, ['succeeded', 'partial', 'failed'])).status).toBe('succeeded');

    // Two of five leave: 40% of the managed users, over maxUserRemovalPercent (10).
    const left = structuredClone(scenario.directory);
    const group = left.groups[0]!;
    group.members = (group.members ?? []).slice(0, 3);
    left.users = left.users.slice(0, 3);
    writeDirectory(dir, left);
    const { runId: id } = await d.service.trigger({ trigger: 'api' });
    const waiting = await until(d, id, ['awaiting-approval', 'succeeded', 'failed']);
    expect(waiting).toMatchObject({
      status: 'awaiting-approval',
      plan: { guardrails: { verdict: 'blocked' } },
    });
    const got = await allArrived(id);
    const body = hookBody(got.hook[0]!);
    expect(body).toMatchObject({
      event: 'blocked',
      run: { status: 'awaiting-approval' },
      plan: { guardrails: { verdict: 'blocked' } },
    });
    expect(body.plan.removals).toBeGreaterThan(0);
    expect(body.plan.guardrails.reasons.join(' ')).toMatch(/maxUserRemovalPercent/);
    const parts = mailParts(got.mails[0]!.raw);
    expect(parts.subject).toBe(`idsync: run ${id} is blocked`);
    expect(parts.text).toContain('Why guardrails blocked');
    expect(parts.text).toContain(`Removals: ${body.plan.removals}`);
    for (const text of [got.mails[0]!.raw, got.slack[0]!.body, got.teams[0]!.body, got.hook[0]!.body])
      expectNoSecrets(text);

    // The first run succeeded: nothing was sent about it.
    const quiet = received(first.runId);
    expect([quiet.slack.length, quiet.teams.length, quiet.hookTries.length, quiet.mails.length]).toEqual([
      0, 0, 0, 0,
    ]);
  });

  it('a failed run sends its error line', async () => {
    const { d } = await start('auto');
    writeFileSync(join(dir, 'directory.json'), '{"users": [');
    const { runId: id } = await d.service.trigger({ trigger: 'api' });
    expect((await until(d, id, ['failed', 'succeeded'])).status).toBe('failed');
    const got = await allArrived(id);
    const body = hookBody(got.hook[0]!);
    expect(body).toMatchObject({ event: 'failed', run: { id, status: 'failed', url: runLink(id) } });
    expect(body.error).toMatch(/^directory source: .*not valid JSON/);
    const parts = mailParts(got.mails[0]!.raw);
    expect(parts.subject).toBe(`idsync: run ${id} failed`);
    expect(parts.text).toContain('Error:');
    expect(parts.text).toContain('not valid JSON');
    const slack = JSON.stringify(JSON.parse(got.slack[0]!.body));
    expect(slack).toContain('not valid JSON');
  });

  it('a partial run counts its failures and names no one', async () => {
    sim.setFaults({
      rules: [
        {
          match: { method: 'POST', route: '/enterprise/organizations/{org_id}/members/users/{user_id}' },
          errorRate: 1,
          errorStatus: 403,
          times: 2,
        },
      ],
    });
    const { d } = await start('auto');
    const { runId: id } = await d.service.trigger({ trigger: 'api' });
    const done = await until(d, id, ['partial', 'succeeded', 'failed']);
    expect(done.status).toBe('partial');
    const got = await allArrived(id);
    const body = hookBody(got.hook[0]!);
    expect(body).toMatchObject({
      event: 'partial',
      run: { status: 'partial' },
      opCounts: { failed: done.opCounts?.failed },
    });
    expect(body.opCounts.failed).toBe(2);
    expect(typeof body.firstFailure).toBe('string');
    const parts = mailParts(got.mails[0]!.raw);
    expect(parts.subject).toBe(`idsync: run ${id} ended partial`);
    expect(parts.text).toContain(`${done.opCounts?.failed} failed`);
    for (const text of [got.mails[0]!.raw, got.slack[0]!.body, got.teams[0]!.body, got.hook[0]!.body])
      expectNoSecrets(text);
  });
});

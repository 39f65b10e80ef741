// `notify:`: who is told when a run awaits approval, is blocked, fails or ends partial (src/notify).
// Top level, so it is never confused with `source.notifications` (Graph's change notifications).
// Slack's and Teams' webhook URLs are bearer secrets (anyone holding one can post to the channel),
// so they come only from files, like every password here; paths.ts counts `webhookUrl` as secret,
// which keeps the URL out of errors, of logged config and within the 64 KiB secret cap.
import { z } from 'zod';
import { NOTIFY_EVENTS } from '../notify/notice.js';
import type { NotifySettings } from '../notify/settings.js';
import type { ConfigProblem } from './errors.js';
import { formatPath } from './paths.js';
import type { YamlSource } from './yamlSource.js';

const always = { when: () => true };

/**
 * As schema.ts's isLoopbackHost (127.0.0.0/8, ::1, localhost). Not imported from there: schema.ts
 * imports this module, and a module that imported schema.ts first would meet NotifySchema unset.
 */
function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
const nonEmpty = z.string().min(1);
const file = (what: string) =>
  nonEmpty.describe(`${what} A relative path resolves against this config file's directory.`);

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** `Name <a@b.example>` or `a@b.example`; never a line break (it would start a new mail header). */
const Address = z
  .string()
  .regex(/^(?:[^<>\r\n]*<[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>|[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+)$/, {
    error: 'an email address such as idsync@corp.example or "idsync <idsync@corp.example>"',
  });

/** What a webhook URL must be: https, or http to this machine only. Why, in words; undefined if fine. */
export function webhookUrlProblem(text: string): string | undefined {
  if (!URL.canParse(text)) return 'is not a URL';
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'is not an http(s) URL';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'is http:// to another machine (https:// only; http:// for a loopback host)';
  }
  return undefined;
}

const WebhookUrl = z
  .url({ protocol: /^https?$/, error: 'an https:// URL such as https://hooks.corp.example/idsync' })
  .superRefine((v, ctx) => {
    const problem = URL.canParse(v) ? webhookUrlProblem(v) : undefined;
    if (problem)
      ctx.addIssue({ code: 'custom', message: `expected an https:// URL, found one that ${problem}` });
    if (URL.canParse(v) && (new URL(v).username || new URL(v).password)) {
      ctx.addIssue({ code: 'custom', message: 'expected a URL without user:password@' });
    }
  });

const SlackSchema = z
  .strictObject({
    webhookUrlFile: file(
      'File holding the Slack incoming webhook URL (https://hooks.slack.com/services/…). A secret: whoever has it can post to the channel.',
    ),
    format: z
      .enum(['blocks', 'text'])
      .default('blocks')
      .describe(
        'blocks: a Block Kit message with a button to the run (default); text: one plain-text message.',
      ),
  })
  .describe('Slack, through an incoming webhook.');

const TeamsSchema = z
  .strictObject({
    webhookUrlFile: file(
      'File holding the URL of the Teams workflow "Post to a channel when a webhook request is received". A secret: it carries the signature (sig=) that lets anyone post.',
    ),
  })
  .describe('Microsoft Teams, through a Power Automate workflow webhook (an Adaptive Card).');

const EmailSchema = z
  .strictObject({
    host: nonEmpty.describe('SMTP server (the relay or submission host).'),
    port: z.int().min(1).max(65535).optional().describe('SMTP port (default 587, or 465 with secure: true).'),
    secure: z
      .boolean()
      .default(false)
      .describe('TLS from the first byte (SMTPS, port 465). Default false: STARTTLS on a plain connection.'),
    // No default here: the rules below must tell "not written" from `true` (default: !secure).
    startTLS: z
      .boolean()
      .optional()
      .describe(
        'Without secure: upgrade with STARTTLS and refuse a server that does not offer it (default true). false sends in clear: only for a relay on this machine.',
      ),
    username: nonEmpty.describe('SMTP AUTH user; needs passwordFile.').optional(),
    usernameFile: file('File holding the SMTP AUTH user.').optional(),
    passwordFile: file('File holding the SMTP AUTH password.').optional(),
    from: Address.describe('The From address.'),
    to: z.array(Address).min(1, { error: 'at least one address' }).describe('Who gets the mail.'),
    caFile: file(
      'PEM CA bundle the SMTP server certificate is verified against (default: the system CAs).',
    ).optional(),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    if (o.username !== undefined && o.usernameFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected at most one of username or usernameFile, found both',
        path: ['usernameFile'],
      });
    }
    const user = o.username !== undefined || o.usernameFile !== undefined;
    if (user !== (o.passwordFile !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: user
          ? 'expected passwordFile with username (SMTP AUTH needs both)'
          : 'expected username or usernameFile with passwordFile (SMTP AUTH needs both)',
        path: ['passwordFile'],
      });
    }
    if (o.secure === true && o.startTLS === true) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected startTLS or secure, found both: secure is TLS from the first byte (465), startTLS upgrades a plain connection (587)',
        path: ['startTLS'],
      });
    }
    const clear = o.secure !== true && o.startTLS === false;
    if (clear && o.passwordFile !== undefined && !(typeof o.host === 'string' && isLoopbackHost(o.host))) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected TLS (startTLS or secure) with a password: with startTLS: false it would cross the network in clear (allowed only for a relay on a loopback host)',
        path: ['startTLS'],
      });
    }
    if (clear && o.caFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected caFile only with TLS (startTLS or secure)',
        path: ['caFile'],
      });
    }
  }, always)
  .describe('Email over SMTP (nodemailer).');

const WebhookSchema = z
  .strictObject({
    url: WebhookUrl.describe(
      'Where the JSON is POSTed. https://, or http:// to a loopback host. Not a secret: the body is signed.',
    ),
    secretFile: file(
      'File holding the HMAC secret of X-Idsync-Signature (as for POST /webhooks/resync; at least 16 characters).',
    ),
  })
  .describe("A generic JSON webhook, signed like idsync's own resync webhook.");

export const NotifySchema = z
  .strictObject({
    on: z
      .array(z.enum(NOTIFY_EVENTS))
      .min(1, { error: 'at least one event' })
      .default([...NOTIFY_EVENTS])
      .describe(
        'Which run states are sent (default all): awaiting-approval, blocked (guardrails or held-back changes; a guardrail-blocked run that waits for approval is also sent for awaiting-approval), failed, partial.',
      ),
    attempts: z
      .int()
      .min(1)
      .max(50)
      .default(10)
      .describe(
        'Tries of one message, the first included (default 10: about 85 minutes with the default backoff).',
      ),
    backoffMs: z
      .int()
      .min(100)
      .max(3_600_000)
      .default(5000)
      .describe('Wait after the first failed try, in milliseconds, doubled after each (default 5000).'),
    timeoutMs: z
      .int()
      .min(100)
      .max(600_000)
      .default(10_000)
      .describe(
        'Timeout of one try (an HTTP request; each step of an SMTP conversation), in milliseconds (default 10000).',
      ),
    slack: SlackSchema.optional(),
    teams: TeamsSchema.optional(),
    email: EmailSchema.optional(),
    webhook: WebhookSchema.optional(),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    if (!['slack', 'teams', 'email', 'webhook'].some((k) => o[k] !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected at least one channel: slack, teams, email or webhook',
        path: [],
      });
    }
    const on = o.on;
    if (Array.isArray(on)) {
      on.forEach((e, i) => {
        if (on.indexOf(e) !== i) {
          ctx.addIssue({
            code: 'custom',
            message: `expected each event once, found ${JSON.stringify(e)} again`,
            path: ['on', i],
          });
        }
      });
    }
  }, always)
  .describe(
    'Notifications when a run awaits approval, is blocked, fails or ends partial: Slack, Teams, email, a signed webhook. Needs server.publicUrl (each message links to the run).',
  );

export type NotifyOutput = z.output<typeof NotifySchema>;

/** The rule across blocks: a notification must link to its run, so notify needs server.publicUrl. */
export function checkNotifyNeedsPublicUrl(
  o: Record<string, unknown> | undefined,
  ctx: z.RefinementCtx,
): void {
  if (o?.notify === undefined || rec(o.server)?.publicUrl !== undefined) return;
  ctx.addIssue({
    code: 'custom',
    message:
      'expected server.publicUrl with notify: every message links to its run at <server.publicUrl>/console/runs/<id>',
    path: ['notify'],
  });
}

type Files = ReadonlyMap<string, { path: string; text: string }>;

/** What the files hold that the schema could not see: the webhook URLs, the webhook secret. */
export function notifyFileProblems(data: unknown, files: Files, src: YamlSource): ConfigProblem[] {
  const notify = rec(rec(data)?.notify);
  if (!notify) return [];
  const out: ConfigProblem[] = [];
  const report = (path: string[], message: string) =>
    out.push({ path: formatPath(path), ...src.locate(path), message });
  for (const channel of ['slack', 'teams']) {
    const path = ['notify', channel, 'webhookUrlFile'];
    const f = files.get(formatPath(path));
    if (!f) continue;
    // Never the URL itself, not even its host: a mistyped secret is still a secret.
    const problem = webhookUrlProblem(f.text.trim());
    if (problem)
      report(path, `the webhook URL in ${JSON.stringify(f.path)} ${problem} (the value is not shown)`);
  }
  const secretPath = ['notify', 'webhook', 'secretFile'];
  const secret = files.get(formatPath(secretPath));
  if (secret) {
    if (/\s/.test(secret.text)) {
      report(
        secretPath,
        `the secret in ${JSON.stringify(secret.path)} contains white space (only one trailing newline is trimmed)`,
      );
    } else if (secret.text.length < 16) {
      report(
        secretPath,
        `the secret in ${JSON.stringify(secret.path)} has ${secret.text.length} characters: expected at least 16`,
      );
    }
  }
  return out;
}

/** The loaded settings; `files` holds every `*File` the load read (keys like notify.email.passwordFile). */
export function notifyOf(n: NotifyOutput, publicUrl: string, files: Files): NotifySettings {
  const read = (key: string): string => {
    const f = files.get(key);
    if (!f) throw new Error(`internal: ${key} was not read`);
    return f.text;
  };
  const settings: NotifySettings = {
    on: [...new Set(n.on)],
    attempts: n.attempts,
    backoffMs: n.backoffMs,
    timeoutMs: n.timeoutMs,
    publicUrl,
  };
  if (n.slack)
    settings.slack = { webhookUrl: read('notify.slack.webhookUrlFile').trim(), format: n.slack.format };
  if (n.teams) settings.teams = { webhookUrl: read('notify.teams.webhookUrlFile').trim() };
  if (n.email) {
    const e = n.email;
    const username =
      e.username ?? (e.usernameFile !== undefined ? read('notify.email.usernameFile') : undefined);
    settings.email = {
      host: e.host,
      port: e.port ?? (e.secure ? 465 : 587),
      secure: e.secure,
      startTLS: !e.secure && (e.startTLS ?? true),
      ...(username !== undefined ? { username } : {}),
      ...(e.passwordFile !== undefined ? { password: read('notify.email.passwordFile') } : {}),
      from: e.from,
      to: [...e.to],
      ...(e.caFile !== undefined ? { ca: read('notify.email.caFile') } : {}),
    };
  }
  if (n.webhook) settings.webhook = { url: n.webhook.url, secret: read('notify.webhook.secretFile') };
  return settings;
}

// notify: what it is loaded as (defaults, secrets read from files, server.publicUrl copied in) and
// what is refused at its line: no public URL to link to, no channel, a webhook URL file that holds
// no https URL (never quoted), a short webhook secret, STARTTLS next to implicit TLS, a password sent
// in clear, AUTH with half its parts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../../src/config/index.js';

const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXsecretPart';
const HOOK_SECRET = 'hook-secret-0123456789';
const PASSWORD = 'smtp-password-for-test';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-notify-cfg-'));
  await writeFile(join(dir, 'slack.url'), `${SLACK_URL}\n`);
  await writeFile(join(dir, 'plain.url'), 'http://hooks.corp.example/services/XXXXsecretPart\n');
  await writeFile(join(dir, 'junk.url'), 'XXXXsecretPart\n');
  await writeFile(join(dir, 'hook.secret'), `${HOOK_SECRET}\n`);
  await writeFile(join(dir, 'short.secret'), 'XXXXshort\n');
  await writeFile(join(dir, 'smtp.password'), `${PASSWORD}\n`);
  await writeFile(join(dir, 'smtp.user'), 'mailer@corp.example\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = `source: { type: file, path: dir.json }
devin: { token: cog_inline }
mappings:
  - group: { name: devin-admins }
    enterpriseRole: account_admin
`;
const SERVER = 'server:\n  publicUrl: https://idsync.corp.example/\n';

const load = (text: string) => loadConfigText(HEAD + text, join(dir, 'idsync.yaml'), { env: {} });

async function problems(text: string): Promise<string[]> {
  const err = await load(text).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  const lines = err.problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message}`);
  for (const l of lines) expect(l).not.toContain('XXXX');
  return lines;
}

describe('notify', () => {
  it('loads with its defaults, the secrets from their files and the public URL to link to', async () => {
    const cfg = await load(`${SERVER}notify:
  slack: { webhookUrlFile: slack.url }
  email:
    host: smtp.corp.example
    usernameFile: smtp.user
    passwordFile: smtp.password
    from: "idsync <idsync@corp.example>"
    to: [it@corp.example]
  webhook: { url: "https://hooks.corp.example/idsync", secretFile: hook.secret }
`);
    expect(cfg.notify).toEqual({
      on: ['awaiting-approval', 'blocked', 'failed', 'partial'],
      attempts: 10,
      backoffMs: 5000,
      timeoutMs: 10_000,
      publicUrl: 'https://idsync.corp.example',
      slack: { webhookUrl: SLACK_URL, format: 'blocks' },
      email: {
        host: 'smtp.corp.example',
        port: 587,
        secure: false,
        startTLS: true,
        username: 'mailer@corp.example',
        password: PASSWORD,
        from: 'idsync <idsync@corp.example>',
        to: ['it@corp.example'],
      },
      webhook: { url: 'https://hooks.corp.example/idsync', secret: HOOK_SECRET },
    });
    // Logging the config shows none of them.
    const json = JSON.stringify(cfg);
    for (const s of [SLACK_URL, PASSWORD, HOOK_SECRET]) expect(json).not.toContain(s);
  });

  it('implicit TLS defaults to 465, and on narrows what is sent', async () => {
    const cfg = await load(`${SERVER}notify:
  on: [failed, partial]
  email: { host: smtp.corp.example, secure: true, from: idsync@corp.example, to: [it@corp.example] }
`);
    expect(cfg.notify).toMatchObject({
      on: ['failed', 'partial'],
      email: { port: 465, secure: true, startTLS: false },
    });
  });

  it('is refused without server.publicUrl: a message must link to its run', async () => {
    expect(await problems('notify:\n  slack: { webhookUrlFile: slack.url }\n')).toEqual([
      '6:1: notify: expected server.publicUrl with notify: every message links to its run at <server.publicUrl>/console/runs/<id>',
    ]);
  });

  it('needs a channel, and each event once', async () => {
    expect(await problems(`${SERVER}notify:\n  on: [failed, failed]\n`)).toEqual([
      '8:1: notify: expected at least one channel: slack, teams, email or webhook',
      '9:16: notify.on[1]: expected each event once, found "failed" again',
    ]);
  });

  it('refuses a webhook URL file that holds no https URL, without quoting it', async () => {
    const found = await problems(`${SERVER}notify:
  slack: { webhookUrlFile: plain.url }
  teams: { webhookUrlFile: junk.url }
`);
    expect(found).toEqual([
      expect.stringMatching(
        /^9:28: notify\.slack\.webhookUrlFile: the webhook URL in ".*plain\.url" is http:\/\/ to another machine .*\(the value is not shown\)$/,
      ),
      expect.stringMatching(
        /^10:28: notify\.teams\.webhookUrlFile: the webhook URL in ".*junk\.url" is not a URL \(the value is not shown\)$/,
      ),
    ]);
  });

  it('refuses a short webhook secret and an http webhook off loopback', async () => {
    const found = await problems(`${SERVER}notify:
  webhook: { url: "http://hooks.corp.example/x", secretFile: short.secret }
`);
    expect(found).toEqual([
      expect.stringMatching(
        /^9:19: notify\.webhook\.url: expected an https:\/\/ URL, found one that is http:\/\/ to another machine/,
      ),
      expect.stringMatching(
        /^9:62: notify\.webhook\.secretFile: the secret in ".*short\.secret" has 9 characters: expected at least 16$/,
      ),
    ]);
  });

  it('refuses STARTTLS with implicit TLS, a password in clear, and AUTH with half its parts', async () => {
    const found = await problems(`${SERVER}notify:
  email:
    host: smtp.corp.example
    secure: true
    startTLS: true
    username: idsync
    from: idsync@corp.example
    to: [it@corp.example]
  webhook: { url: "https://hooks.corp.example/x", secretFile: hook.secret }
`);
    expect(found).toEqual([
      expect.stringContaining('notify.email.passwordFile: expected passwordFile with username'),
      expect.stringContaining('notify.email.startTLS: expected startTLS or secure, found both'),
    ]);
    const clear = await problems(`${SERVER}notify:
  email:
    host: smtp.corp.example
    startTLS: false
    username: idsync
    passwordFile: smtp.password
    from: idsync@corp.example
    to: ["it@corp.example\\nBcc: x@evil.example"]
`);
    expect(clear).toEqual([
      expect.stringContaining('notify.email.startTLS: expected TLS (startTLS or secure) with a password'),
      expect.stringContaining('notify.email.to[0]: expected an email address'),
    ]);
    // A relay on this machine may be spoken to in clear.
    await expect(
      load(`${SERVER}notify:
  email: { host: 127.0.0.1, port: 25, startTLS: false, username: idsync, passwordFile: smtp.password, from: idsync@corp.example, to: [it@corp.example] }
`),
    ).resolves.toMatchObject({ notify: { email: { startTLS: false, secure: false, port: 25 } } });
  });
});

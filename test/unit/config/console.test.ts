// server.publicUrl and server.console: what the console's OIDC sign-in is loaded as, and the refusals
// (a short session key, no public URL, an http issuer off loopback, nobody who may approve), each
// at its line and never quoting a secret.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../../src/config/index.js';

const KEY = 'k'.repeat(31) + 'Z+/='.repeat(4);
const CLIENT_SECRET = 'oidc~client.secret_0123456789';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-console-cfg-'));
  await writeFile(join(dir, 'session.key'), `${KEY}\n`);
  await writeFile(join(dir, 'short.key'), 'only-31-bytes-of-key-material!!\n');
  await writeFile(join(dir, 'client-secret'), `${CLIENT_SECRET}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEAD = `source: { type: file, path: dir.json }
devin: { token: cog_inline }
mappings:
  - group: { name: devin-admins }
    enterpriseRole: account_admin
server:
`;

const load = (server: string) => loadConfigText(HEAD + server, join(dir, 'idsync.yaml'), { env: {} });

async function problems(server: string): Promise<string[]> {
  const err = await load(server).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message}`);
}

const CONSOLE = `  publicUrl: https://idsync.corp.example/
  console:
    issuer: https://login.microsoftonline.com/0b8e4c1a-tenant/v2.0
    clientId: 6f1e2d3c-app
    clientSecretFile: client-secret
    sessionSecretFile: session.key
    approvers:
      emails: [Alice@Corp.Example]
      groups: [3f6a2b1c-group-object-id]
`;

describe('server.console', () => {
  it('loads with its defaults: the redirect under publicUrl, 8h sessions, openid email profile, the groups claim', async () => {
    const cfg = await load(CONSOLE);
    expect(cfg.server?.publicUrl).toBe('https://idsync.corp.example');
    expect(cfg.server?.console).toEqual({
      issuer: 'https://login.microsoftonline.com/0b8e4c1a-tenant/v2.0',
      clientId: '6f1e2d3c-app',
      clientSecret: CLIENT_SECRET,
      redirectUrl: 'https://idsync.corp.example/console/callback',
      scopes: ['openid', 'email', 'profile'],
      approvers: {
        emails: ['alice@corp.example'],
        groups: ['3f6a2b1c-group-object-id'],
        groupsClaim: 'groups',
      },
      sessionTtlMs: 8 * 3_600_000,
      sessionSecret: KEY,
    });
    // What gets logged or printed of the config carries neither secret.
    const json = JSON.stringify(cfg);
    expect(json).not.toContain(CLIENT_SECRET);
    expect(json).not.toContain(KEY);
  });

  it('takes an explicit redirect URL, a path prefix, a TTL, scopes and a public client (no secret)', async () => {
    const cfg = await load(`  publicUrl: http://127.0.0.1:8080/idsync
  console:
    issuer: http://127.0.0.1:9000
    clientId: idsync
    redirectUrl: http://localhost:8080/idsync/console/callback
    scopes: [openid, email, groups, email]
    sessionTtl: 30m
    sessionSecretFile: session.key
    approvers: { groups: [devin-approvers], groupsClaim: roles }
`);
    expect(cfg.server?.publicUrl).toBe('http://127.0.0.1:8080/idsync');
    expect(cfg.server?.console).toMatchObject({
      redirectUrl: 'http://localhost:8080/idsync/console/callback',
      scopes: ['openid', 'email', 'groups'],
      sessionTtlMs: 30 * 60_000,
      approvers: { emails: [], groups: ['devin-approvers'], groupsClaim: 'roles' },
    });
    expect(cfg.server?.console).not.toHaveProperty('clientSecret');
  });

  it('refuses a session key under 32 bytes, naming the file, never its content', async () => {
    const found = await problems(CONSOLE.replace('session.key', 'short.key'));
    expect(found).toEqual([
      `12:24: server.console.sessionSecretFile: the secret in "${join(dir, 'short.key')}" has 31 bytes: expected at least 32 bytes`,
    ]);
    expect(found.join('\n')).not.toContain('only-31');
  });

  it('refuses a console without publicUrl, an http issuer off loopback, nobody to approve, a bad redirect', async () => {
    expect(await problems(CONSOLE.replace('  publicUrl: https://idsync.corp.example/\n', ''))).toEqual([
      '7:3: server.console: expected server.publicUrl next to server.console: the sign-in redirect and the session cookie are built on it',
    ]);
    expect(
      await problems(
        CONSOLE.replace('https://login.microsoftonline.com/0b8e4c1a-tenant/v2.0', 'http://idp.corp.example'),
      ),
    ).toEqual([
      '9:13: server.console.issuer: expected an https:// URL (http:// only for a loopback host: 127.0.0.0/8, ::1, localhost), found "http://idp.corp.example"',
    ]);
    expect(
      await problems(
        CONSOLE.replace(
          '      emails: [Alice@Corp.Example]\n      groups: [3f6a2b1c-group-object-id]\n',
          '      emails: []\n',
        ),
      ),
    ).toEqual([
      '13:5: server.console.approvers: expected at least one entry in emails or groups: otherwise nobody could approve in the console',
    ]);
    expect(
      await problems(
        `${CONSOLE}    redirectUrl: https://idsync.corp.example/callback\n    scopes: [email]\n    sessionTtl: 1m\n`,
      ),
    ).toEqual([
      '16:18: server.console.redirectUrl: expected a redirect URL ending in /console/callback (the console\'s route), found "https://idsync.corp.example/callback"',
      '17:5: server.console.scopes: expected the scopes to include openid',
      '18:17: server.console.sessionTtl: expected at least 5m for a session, found "1m"',
    ]);
  });

  it('refuses both clientSecret and clientSecretFile, and an inline secret with white space, unquoted', async () => {
    const both = await problems(
      CONSOLE.replace('    clientSecretFile', '    clientSecret: inline-secret\n    clientSecretFile'),
    );
    expect(both).toEqual([
      '12:23: server.console.clientSecretFile: expected at most one of clientSecret or clientSecretFile, found both clientSecret and clientSecretFile',
    ]);
    const spaced = await problems(
      CONSOLE.replace('    clientSecretFile: client-secret', '    clientSecret: "two words"'),
    );
    expect(spaced).toEqual([
      '11:19: server.console.clientSecret: expected a secret with no white space, found white space at character 4 (the value is not shown)',
    ]);
    expect(spaced.join('\n')).not.toContain('two words');
  });

  it('publicUrl alone is accepted (notifications link to it); http only on loopback', async () => {
    expect((await load('  publicUrl: https://idsync.corp.example\n')).server?.publicUrl).toBe(
      'https://idsync.corp.example',
    );
    expect(await problems('  publicUrl: http://idsync.corp.example\n')).toEqual([
      '7:14: server.publicUrl: expected an https:// URL (http:// only for a loopback host: 127.0.0.0/8, ::1, localhost), found "http://idsync.corp.example"',
    ]);
  });
});

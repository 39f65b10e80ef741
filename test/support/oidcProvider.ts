// A real OpenID Connect provider on 127.0.0.1 for tests (oidc-provider, the certified library): it
// signs ID tokens with its own RSA key, requires PKCE, checks the client secret and the redirect
// URI, and signs people in through a small login form of its own (a username, no password: the
// accounts are the test's). The console under test discovers it like any issuer.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

export interface TestAccount {
  /** Typed into the login form; also the subject. */
  username: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
  groups?: string[];
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`: the issuer. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Every sign-in the provider finished, by username. */
  logins: string[];
  close(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

export async function startOidcProvider(o: {
  port: number;
  redirectUris: string[];
  accounts: TestAccount[];
}): Promise<TestOidcProvider> {
  const issuer = `http://127.0.0.1:${o.port}`;
  const clientId = 'idsync-console';
  const clientSecret = `oidc_secret_${randomBytes(12).toString('hex')}`;
  const accounts = new Map(o.accounts.map((a) => [a.username, a]));
  const logins: string[] = [];
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: o.redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // The claims in the ID token itself, as Entra and Okta put email and groups there.
    conformIdTokenClaims: false,
    claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] },
    async findAccount(_ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            ...(a.email !== undefined ? { email: a.email, email_verified: a.emailVerified ?? true } : {}),
            ...(a.name !== undefined ? { name: a.name } : {}),
            ...(a.groups !== undefined ? { groups: a.groups } : {}),
          };
        },
      };
    },
    // A first-party client: no consent screen, the grant covers what the console asks for.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const session = ctx.oidc.session;
      const clientIdOf = ctx.oidc.client?.clientId;
      if (!session?.accountId || clientIdOf === undefined) return undefined;
      const existing = session.grantIdFor(clientIdOf);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({ clientId: clientIdOf, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    ttl: {
      Session: 3600,
      Interaction: 600,
      Grant: 3600,
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  const loginPage = (uid: string, error?: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head><body>
<h1>Test IdP</h1>${error ? `<p role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<label>Username <input name="username" autocomplete="username"></label>
<button type="submit">Sign in</button>
</form></body></html>`;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec((req.url ?? '').split('?')[0] ?? '');
    if (!m) return callback(req, res);
    const uid = m[1] ?? '';
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        if (details.uid !== uid) throw new Error('interaction mismatch');
        if (!m[2]) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(uid));
          return;
        }
        const username = (await readForm(req)).get('username') ?? '';
        if (!accounts.has(username)) {
          res
            .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
            .end(loginPage(uid, 'No such account'));
          return;
        }
        logins.push(username);
        await provider.interactionFinished(
          req,
          res,
          { login: { accountId: username } },
          { mergeWithLastSubmission: false },
        );
      } catch (err) {
        res
          .writeHead(400, { 'content-type': 'text/plain' })
          .end(`interaction failed: ${(err as Error).message}`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  if (port !== o.port) throw new Error('the test IdP did not listen where asked');
  return {
    issuer,
    clientId,
    clientSecret,
    logins,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

// The Graph + login simulator itself, over real HTTPS with the CA it generated: the token endpoint
// (client secrets, certificate assertions signed with node:crypto, and MSAL's own requests), paging,
// transitive members, delta rounds, the subscription handshake against a small local HTTP server,
// notifications and faults. Other tests trust the simulator to behave like Graph; these pin that down.
import { constants, createHash, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfidentialClientApplication, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppCertificate,
  type GraphSimulator,
  makeAppCertificate,
  type SimGroup,
  type SimUser,
  seedDirectory,
  seedGuid,
  startGraphSimulator,
} from '../support/graphSimulator/index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '3b5f7a2c-1d4e-4f6a-8b9c-0d1e2f3a4b5c';
const SECRET = 'sim~secret.with+odd/chars=';

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: unknown;
}

/** One HTTPS request trusting only the given CA. */
function call(
  ca: string,
  method: string,
  url: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: opts.headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        }
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

type Json = Record<string, unknown>;
const obj = (a: Answer): Json => a.json as Json;
const values = (a: Answer): Json[] => (a.json as { value: Json[] }).value;

function tokenForm(sim: GraphSimulator, fields: Record<string, string>): Promise<Answer> {
  return call(sim.caPem, 'POST', `${sim.url}/${TENANT}/oauth2/v2.0/token`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENT,
      scope: `${sim.url}/.default`,
      ...fields,
    }).toString(),
  });
}

async function secretToken(sim: GraphSimulator): Promise<string> {
  const r = await tokenForm(sim, { client_secret: SECRET });
  expect(r.status).toBe(200);
  return (r.json as { access_token: string }).access_token;
}

/** A client assertion as RFC 7523 / Entra want it, signed with node:crypto. */
function assertion(
  cert: AppCertificate,
  o: { alg?: 'PS256' | 'RS256'; aud: string; iss?: string; exp?: number; keyPem?: string },
): string {
  const der = new X509Certificate(cert.certPem).raw;
  const alg = o.alg ?? 'PS256';
  const header =
    alg === 'PS256'
      ? { alg, typ: 'JWT', 'x5t#S256': createHash('sha256').update(der).digest('base64url') }
      : { alg, typ: 'JWT', x5t: createHash('sha1').update(der).digest('base64url') };
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    aud: o.aud,
    iss: o.iss ?? CLIENT,
    sub: o.iss ?? CLIENT,
    exp: o.exp ?? now + 600,
    nbf: now,
    jti: randomUUID(),
  };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const key = o.keyPem ?? cert.keyPem;
  const sig =
    alg === 'PS256'
      ? sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

function assertionForm(jwt: string): Record<string, string> {
  return {
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: jwt,
  };
}

function graphGet(
  sim: GraphSimulator,
  token: string,
  pathOrUrl: string,
  headers: Record<string, string> = {},
) {
  const url = pathOrUrl.startsWith('https://') ? pathOrUrl : `${sim.url}${pathOrUrl}`;
  return call(sim.caPem, 'GET', url, { headers: { authorization: `Bearer ${token}`, ...headers } });
}

function graphSend(sim: GraphSimulator, token: string, method: string, path: string, body?: unknown) {
  return call(sim.caPem, method, `${sim.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Follows @odata.nextLink verbatim; returns the pages. */
async function allPages(
  sim: GraphSimulator,
  token: string,
  first: string,
  headers: Record<string, string> = {},
) {
  const pages: Answer[] = [];
  let next: string | undefined = first;
  while (next) {
    const page = await graphGet(sim, token, next, headers);
    expect(page.status, page.text).toBe(200);
    pages.push(page);
    next = obj(page)['@odata.nextLink'] as string | undefined;
  }
  return pages;
}

const user = (i: number, extra: Partial<SimUser> = {}): SimUser => ({
  id: seedGuid(`t-user:${i}`),
  displayName: `Person ${i}`,
  mail: `person${i}@corp.example.com`,
  userPrincipalName: `person${i}@corp.example.com`,
  accountEnabled: true,
  ...extra,
});

let work: string;
let appCert: AppCertificate;
let otherCert: AppCertificate;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'graphsim-test-'));
  [appCert, otherCert] = await Promise.all([
    makeAppCertificate(work, 'registered-app'),
    makeAppCertificate(work, 'someone-else'),
  ]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('login', () => {
  let sim: GraphSimulator;
  beforeAll(async () => {
    sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      certificatePem: appCert.certPem,
      users: [user(1)],
    });
  });
  afterAll(() => sim.stop());

  it('issues a bearer token for the right client secret, and Graph accepts it', async () => {
    const r = await tokenForm(sim, { client_secret: SECRET });
    expect(r.status).toBe(200);
    const body = r.json as Json;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });
    expect(typeof body.access_token).toBe('string');
    expect(r.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const users = await graphGet(sim, body.access_token as string, '/v1.0/users');
    expect(users.status).toBe(200);
    expect(sim.tokensIssued()).toBeGreaterThanOrEqual(1);
  });

  it('refuses a wrong secret, an unknown client, an unknown tenant and a wrong scope as Entra does', async () => {
    const wrong = await tokenForm(sim, { client_secret: 'not-it' });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(String(obj(wrong).error_description)).toMatch(/^AADSTS7000215: Invalid client secret provided\./);

    const client = await tokenForm(sim, { client_id: randomUUID(), client_secret: SECRET });
    expect(client.status).toBe(400);
    expect(client.json).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] });

    const tenant = await call(sim.caPem, 'POST', `${sim.url}/${randomUUID()}/oauth2/v2.0/token`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${CLIENT}&client_secret=x&scope=${encodeURIComponent(`${sim.url}/.default`)}`,
    });
    expect(tenant.status).toBe(400);
    expect(obj(tenant).error_codes).toEqual([90002]);

    const scope = await tokenForm(sim, {
      client_secret: SECRET,
      scope: 'https://graph.microsoft.com/User.Read',
    });
    expect(scope.status).toBe(400);
    expect(obj(scope).error).toBe('invalid_scope');
  });

  it('accepts a PS256 assertion (x5t#S256) and an RS256 one (x5t) signed by the registered certificate', async () => {
    for (const alg of ['PS256', 'RS256'] as const) {
      const r = await tokenForm(sim, assertionForm(assertion(appCert, { alg, aud: sim.tokenEndpoint })));
      expect(r.status, r.text).toBe(200);
      expect(obj(r).token_type).toBe('Bearer');
    }
  });

  it("refuses another certificate's key, a forged signature, a wrong audience, issuer or an expired assertion", async () => {
    const aud = sim.tokenEndpoint;
    const cases: Array<[string, string, RegExp]> = [
      ['unknown certificate', assertion(otherCert, { aud }), /The key was not found/],
      [
        'registered thumbprint, other key',
        assertion(appCert, { aud, keyPem: otherCert.keyPem }),
        /signature validation/,
      ],
      ['RS256 other key', assertion(appCert, { alg: 'RS256', aud, keyPem: otherCert.keyPem }), /signature/],
      ['audience', assertion(appCert, { aud: `${sim.url}/${TENANT}/oauth2/token` }), /audience/],
      ['issuer', assertion(appCert, { aud, iss: randomUUID() }), /issuer and subject/],
      ['expired', assertion(appCert, { aud, exp: Math.floor(Date.now() / 1000) - 5 }), /valid time range/],
    ];
    for (const [name, jwt, why] of cases) {
      const r = await tokenForm(sim, assertionForm(jwt));
      expect(r.status, name).toBe(401);
      expect(r.json, name).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
      expect(String(obj(r).error_description), name).toMatch(why);
    }
    const tampered = assertion(appCert, { aud }).split('.');
    tampered[1] = Buffer.from(JSON.stringify({ aud, iss: CLIENT, sub: CLIENT, exp: 9e9, jti: 'x' })).toString(
      'base64url',
    );
    const r = await tokenForm(sim, assertionForm(tampered.join('.')));
    expect(obj(r).error_codes).toEqual([700027]);
  });

  it('Graph refuses a missing or unknown token with 401 and the log never shows the token', async () => {
    const none = await call(sim.caPem, 'GET', `${sim.url}/v1.0/users`);
    expect(none.status).toBe(401);
    expect(obj(none).error).toMatchObject({ code: 'InvalidAuthenticationToken' });
    expect((obj(none).error as Json).innerError).toMatchObject({ 'request-id': none.headers['request-id'] });
    const bogus = await graphGet(sim, 'not-a-token', '/v1.0/users');
    expect(bogus.status).toBe(401);
    const token = await secretToken(sim);
    sim.clearRequests();
    await graphGet(sim, token, '/v1.0/users?$top=1');
    expect(sim.requests).toHaveLength(1);
    expect(sim.requests[0]).toMatchObject({
      method: 'GET',
      path: '/v1.0/users',
      query: { $top: '1' },
      status: 200,
    });
    expect(sim.requests[0]!.headers.authorization).toBe('Bearer [redacted]');
    expect(JSON.stringify(sim.requests)).not.toContain(token);
  });

  it('serves TLS that only its own CA verifies', async () => {
    const { readFile } = await import('node:fs/promises');
    const wrongCa = await readFile(sim.wrongCaFile, 'utf8');
    await expect(call(wrongCa, 'GET', `${sim.url}/v1.0/users`)).rejects.toThrow(/certificate/i);
    const viaLocalhost = await call(
      sim.caPem,
      'GET',
      `${sim.url.replace('127.0.0.1', 'localhost')}/v1.0/users`,
    );
    expect(viaLocalhost.status).toBe(401);
  });

  it('revoked tokens and expired tokens answer 401', async () => {
    const short = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      tokenLifetimeSeconds: 1,
    });
    try {
      const t = await secretToken(short);
      expect((await graphGet(short, t, '/v1.0/users')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
      const expired = await graphGet(short, t, '/v1.0/users');
      expect(expired.status).toBe(401);
      expect(JSON.stringify(expired.json)).toContain('expired');
      const t2 = await secretToken(short);
      short.revokeTokens();
      expect((await graphGet(short, t2, '/v1.0/users')).status).toBe(401);
    } finally {
      await short.stop();
    }
  });
});

/** An INetworkModule on node:https that trusts the simulator's CA (what the Entra source builds too). */
function httpsNetworkClient(ca: string, seen: string[]): INetworkModule {
  const send = <T>(method: string, url: string, body?: string, headers?: Record<string, string>) =>
    call(ca, method, url, { headers, body }).then((a): NetworkResponse<T> => {
      seen.push(`${method} ${new URL(url).pathname}`);
      return { status: a.status, headers: a.headers, body: a.json as T };
    });
  return {
    sendGetRequestAsync: (url, o) => send('GET', url, undefined, o?.headers),
    sendPostRequestAsync: (url, o) => send('POST', url, o?.body, o?.headers),
  };
}

describe('MSAL against the simulator', () => {
  let sim: GraphSimulator;
  beforeAll(async () => {
    sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      certificatePem: appCert.certPem,
      users: [user(1)],
    });
  });
  afterAll(() => sim.stop());

  const cca = (host: string, credential: 'secret' | 'certificate' | 'wrongSecret', seen: string[]) => {
    const port = new URL(sim.url).port;
    const base = `https://${host}:${port}`;
    const authorityMetadata = {
      token_endpoint: `${base}/${TENANT}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/${TENANT}/oauth2/v2.0/authorize`,
      issuer: `${base}/${TENANT}/v2.0`,
      jwks_uri: `${base}/${TENANT}/discovery/v2.0/keys`,
      end_session_endpoint: `${base}/${TENANT}/oauth2/v2.0/logout`,
    };
    const cloudDiscoveryMetadata = {
      tenant_discovery_endpoint: `${base}/${TENANT}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [
        {
          preferred_network: `${host}:${port}`,
          preferred_cache: `${host}:${port}`,
          aliases: [`${host}:${port}`],
        },
      ],
    };
    return new ConfidentialClientApplication({
      auth: {
        clientId: CLIENT,
        authority: `${base}/${TENANT}`,
        knownAuthorities: [`${host}:${port}`],
        cloudDiscoveryMetadata: JSON.stringify(cloudDiscoveryMetadata),
        authorityMetadata: JSON.stringify(authorityMetadata),
        ...(credential === 'certificate'
          ? { clientCertificate: { thumbprintSha256: appCert.thumbprintSha256, privateKey: appCert.keyPem } }
          : { clientSecret: credential === 'secret' ? SECRET : 'wrong' }),
      },
      system: { networkClient: httpsNetworkClient(sim.caPem, seen) },
    });
  };

  for (const host of ['127.0.0.1', 'localhost']) {
    for (const credential of ['secret', 'certificate'] as const) {
      it(`acquires a token with a ${credential} through https://${host}:PORT/<tenant>, only the token POST on the wire`, async () => {
        const seen: string[] = [];
        const r = await cca(host, credential, seen).acquireTokenByClientCredential({
          scopes: [`${sim.url}/.default`],
        });
        expect(r?.accessToken).toBeTruthy();
        expect(seen).toEqual([`POST /${TENANT}/oauth2/v2.0/token`]);
        expect((await graphGet(sim, r!.accessToken, '/v1.0/users')).status).toBe(200);
      });
    }
  }

  it('surfaces a wrong secret as invalid_client AADSTS7000215', async () => {
    await expect(
      cca('127.0.0.1', 'wrongSecret', []).acquireTokenByClientCredential({ scopes: [`${sim.url}/.default`] }),
    ).rejects.toThrow(/invalid_client[\s\S]*AADSTS7000215/);
  });

  it('works without inline metadata too (knownAuthorities host:port; MSAL fetches openid-configuration)', async () => {
    const seen: string[] = [];
    const port = new URL(sim.url).port;
    for (const host of ['127.0.0.1', 'localhost']) {
      const app = new ConfidentialClientApplication({
        auth: {
          clientId: CLIENT,
          authority: `https://${host}:${port}/${TENANT}`,
          knownAuthorities: [`${host}:${port}`],
          clientSecret: SECRET,
        },
        system: { networkClient: httpsNetworkClient(sim.caPem, seen) },
      });
      const r = await app.acquireTokenByClientCredential({ scopes: [`${sim.url}/.default`] });
      expect(r?.accessToken).toBeTruthy();
    }
    expect(seen).toContain(`GET /${TENANT}/v2.0/.well-known/openid-configuration`);
  });
});

describe('directory reads', () => {
  let sim: GraphSimulator;
  let token: string;
  const users = Array.from({ length: 250 }, (_, i) => user(i, { department: `D${i % 3}` }));
  const ids = (n: number[]) => n.map((i) => users[i]!.id);
  const groups: SimGroup[] = [
    { id: seedGuid('g:top'), displayName: 'Engineering', members: [...ids([0, 1]), seedGuid('g:mid')] },
    { id: seedGuid('g:mid'), displayName: 'Backend', members: [...ids([1, 2]), seedGuid('g:leaf')] },
    // a cycle back to the top group: transitive expansion must still end, each user once
    { id: seedGuid('g:leaf'), displayName: 'Databases', members: [...ids([3]), seedGuid('g:top')] },
    { id: seedGuid('g:other'), displayName: "O'Brien's team", members: ids([4]) },
  ];
  beforeAll(async () => {
    sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users,
      groups,
    });
    token = await secretToken(sim);
  });
  afterAll(() => sim.stop());

  it('pages users by an opaque nextLink that keeps the first $select and $top', async () => {
    const pages = await allPages(sim, token, '/v1.0/users?$select=id,accountEnabled,department&$top=100');
    expect(pages.map((p) => values(p).length)).toEqual([100, 100, 50]);
    const next = obj(pages[0]!)['@odata.nextLink'] as string;
    expect(next.startsWith(`${sim.url}/v1.0/users?`)).toBe(true);
    const q = new URL(next).searchParams;
    expect(q.get('$select')).toBe('id,accountEnabled,department');
    expect(q.get('$top')).toBe('100');
    expect(q.get('$skiptoken')).toBeTruthy();
    const all = pages.flatMap(values);
    expect(new Set(all.map((u) => u.id)).size).toBe(250);
    expect(all[0]).toEqual({ id: users[0]!.id, accountEnabled: true, department: 'D0' });
    // following the same link twice gives the same page (a client retrying after a timeout)
    const again = await graphGet(sim, token, next);
    expect(values(again)).toEqual(values(pages[1]!));
  });

  it('defaults to 100 per page and the v1.0 default properties (without accountEnabled)', async () => {
    const r = await graphGet(sim, token, '/v1.0/users');
    expect(values(r)).toHaveLength(100);
    expect(values(r)[0]).toHaveProperty('userPrincipalName');
    expect(values(r)[0]).not.toHaveProperty('accountEnabled');
  });

  it('refuses $top above 999, an unknown property and an unknown query option', async () => {
    const big = await graphGet(sim, token, '/v1.0/users?$top=1000');
    expect(big.status).toBe(400);
    expect(obj(big).error).toMatchObject({ code: 'Request_UnsupportedQuery' });
    expect((await graphGet(sim, token, '/v1.0/users?$top=999')).status).toBe(200);
    const prop = await graphGet(sim, token, '/v1.0/users?$select=id,departmnt');
    expect(prop.status).toBe(400);
    expect(JSON.stringify(prop.json)).toContain("Could not find a property named 'departmnt'");
    expect((await graphGet(sim, token, '/v1.0/users?$bogus=1')).status).toBe(400);
  });

  it('filters users by id and groups by display name or id', async () => {
    const byId = await graphGet(
      sim,
      token,
      `/v1.0/users?$filter=${encodeURIComponent(`id eq '${users[7]!.id}'`)}`,
    );
    expect(values(byId).map((u) => u.id)).toEqual([users[7]!.id]);
    const name = encodeURIComponent("displayName eq 'O''Brien''s team'");
    const byName = await graphGet(sim, token, `/v1.0/groups?$filter=${name}&$select=id,displayName`);
    expect(values(byName)).toEqual([{ id: seedGuid('g:other'), displayName: "O'Brien's team" }]);
    const gid = encodeURIComponent(`id eq '${seedGuid('g:mid')}'`);
    expect(values(await graphGet(sim, token, `/v1.0/groups?$filter=${gid}`))[0]).toMatchObject({
      displayName: 'Backend',
    });
    const one = await graphGet(sim, token, `/v1.0/groups/${seedGuid('g:top')}`);
    expect(obj(one)).toMatchObject({ id: seedGuid('g:top'), displayName: 'Engineering' });
    const missing = await graphGet(sim, token, `/v1.0/groups/${randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(obj(missing).error).toMatchObject({ code: 'Request_ResourceNotFound' });
  });

  it('transitive user members need ConsistencyLevel: eventual and list each nested user once', async () => {
    const path = `/v1.0/groups/${seedGuid('g:top')}/transitiveMembers/microsoft.graph.user?$select=id,mail&$count=true&$top=2`;
    const plain = await graphGet(sim, token, path);
    expect(plain.status).toBe(400);
    expect(obj(plain).error).toMatchObject({ code: 'Request_UnsupportedQuery' });
    const pages = await allPages(sim, token, path, { ConsistencyLevel: 'eventual' });
    expect(pages).toHaveLength(2);
    expect(obj(pages[0]!)['@odata.count']).toBe(4);
    expect(
      pages
        .flatMap(values)
        .map((u) => u.id)
        .sort(),
    ).toEqual(ids([0, 1, 2, 3]).sort());
    // direct members: users and groups, tagged
    const direct = values(
      await graphGet(sim, token, `/v1.0/groups/${seedGuid('g:mid')}/members?$select=id,displayName`),
    );
    expect(direct.map((m) => m['@odata.type'])).toEqual([
      '#microsoft.graph.user',
      '#microsoft.graph.user',
      '#microsoft.graph.group',
    ]);
  });

  it('gates endpoints by application permission (403 Authorization_RequestDenied)', async () => {
    const limited = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      permissions: ['User.Read.All'],
      users,
      groups,
    });
    try {
      const t = await secretToken(limited);
      expect((await graphGet(limited, t, '/v1.0/users')).status).toBe(200);
      for (const p of ['/v1.0/groups', `/v1.0/groups/${seedGuid('g:top')}/members`, '/v1.0/groups/delta']) {
        const r = await graphGet(limited, t, p);
        expect(r.status, p).toBe(403);
        expect(obj(r).error).toMatchObject({
          code: 'Authorization_RequestDenied',
          message: 'Insufficient privileges to complete the operation.',
        });
      }
      limited.setPermissions(['GroupMember.Read.All']);
      const t2 = await secretToken(limited);
      expect((await graphGet(limited, t2, '/v1.0/groups')).status).toBe(200);
      expect((await graphGet(limited, t2, '/v1.0/users')).status).toBe(403);
    } finally {
      await limited.stop();
    }
  });
});

describe('delta', () => {
  it('users: enumerates everything, then only what changed, with @removed for a deleted user; 410 after expiry', async () => {
    const users = Array.from({ length: 30 }, (_, i) => user(i));
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users,
    });
    try {
      const token = await secretToken(sim);
      const first = await allPages(sim, token, '/v1.0/users/delta?$select=id,mail,accountEnabled&$top=10');
      expect(first).toHaveLength(3);
      expect(first.flatMap(values)).toHaveLength(30);
      const deltaLink = obj(first[2]!)['@odata.deltaLink'] as string;
      expect(deltaLink).toContain('$deltatoken=');
      expect(first.slice(0, 2).every((p) => obj(p)['@odata.deltaLink'] === undefined)).toBe(true);

      sim.addUser(user(100));
      sim.updateUser(users[3]!.id, { accountEnabled: false });
      sim.deleteUser(users[5]!.id);
      const round = await allPages(sim, token, deltaLink);
      const changed = round.flatMap(values);
      expect(changed).toHaveLength(3);
      expect(changed).toContainEqual({ id: user(100).id, mail: user(100).mail, accountEnabled: true });
      expect(changed).toContainEqual({ id: users[3]!.id, mail: users[3]!.mail, accountEnabled: false });
      expect(changed).toContainEqual({ id: users[5]!.id, '@removed': { reason: 'changed' } });

      const link2 = obj(round.at(-1)!)['@odata.deltaLink'] as string;
      expect(values(await graphGet(sim, token, link2))).toEqual([]);

      sim.expireDeltaLinks();
      const gone = await graphGet(sim, token, link2);
      expect(gone.status).toBe(410);
      expect(obj(gone).error).toMatchObject({ code: 'resyncRequired' });
      expect((await graphGet(sim, token, deltaLink)).status).toBe(410);
      // a fresh round works again
      expect((await graphGet(sim, token, '/v1.0/users/delta?$select=id')).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });

  it('groups: members@delta spans repeated group objects on different pages; removals carry @removed', async () => {
    const users = Array.from({ length: 60 }, (_, i) => user(i));
    const big: SimGroup = { id: seedGuid('g:big'), displayName: 'Big', members: users.map((u) => u.id) };
    const small: SimGroup[] = Array.from({ length: 5 }, (_, i) => ({
      id: seedGuid(`g:small${i}`),
      displayName: `Small ${i}`,
      members: [users[i]!.id],
    }));
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users,
      groups: [big, ...small],
      maxMembersPerDeltaGroupObject: 20,
    });
    try {
      const token = await secretToken(sim);
      const pages = await allPages(sim, token, '/v1.0/groups/delta?$select=displayName,members&$top=3');
      const bigObjects = pages.map((p) => values(p).filter((g) => g.id === big.id));
      // never twice on one page, and three objects in all (60 members / 20)
      expect(bigObjects.every((objs) => objs.length <= 1)).toBe(true);
      expect(bigObjects.flat()).toHaveLength(3);
      const merged = new Map<string, Set<string>>();
      for (const g of pages.flatMap(values)) {
        const set = merged.get(g.id as string) ?? new Set<string>();
        for (const m of (g['members@delta'] as Json[] | undefined) ?? []) set.add(m.id as string);
        merged.set(g.id as string, set);
      }
      expect(merged.get(big.id)!.size).toBe(60);
      expect(merged.size).toBe(6);
      expect(values(pages[0]!)[0]).toMatchObject({ id: big.id, displayName: 'Big' });

      const deltaLink = obj(pages.at(-1)!)['@odata.deltaLink'] as string;
      sim.removeMember(big.id, users[0]!.id);
      sim.addMember(small[0]!.id, small[1]!.id);
      sim.renameGroup(small[2]!.id, 'Renamed');
      sim.deleteGroup(small[3]!.id);
      const changed = (await allPages(sim, token, deltaLink)).flatMap(values);
      expect(changed).toContainEqual({
        id: big.id,
        displayName: 'Big',
        'members@delta': [
          { '@odata.type': '#microsoft.graph.user', id: users[0]!.id, '@removed': { reason: 'deleted' } },
        ],
      });
      expect(changed).toContainEqual({
        id: small[0]!.id,
        displayName: 'Small 0',
        'members@delta': [{ '@odata.type': '#microsoft.graph.group', id: small[1]!.id }],
      });
      expect(changed).toContainEqual({ id: small[2]!.id, displayName: 'Renamed' });
      expect(changed).toContainEqual({ id: small[3]!.id, '@removed': { reason: 'changed' } });
      expect(changed).toHaveLength(4);

      // a group created since the last round arrives with all its members, split the same way
      const link2 = obj((await allPages(sim, token, deltaLink)).at(-1)!)['@odata.deltaLink'] as string;
      const fresh: SimGroup = {
        id: seedGuid('g:fresh'),
        displayName: 'Fresh',
        members: users.slice(0, 45).map((u) => u.id),
      };
      sim.addGroup(fresh);
      const round = await allPages(sim, token, link2);
      const freshObjects = round.map((p) => values(p).filter((g) => g.id === fresh.id));
      expect(freshObjects.every((o) => o.length <= 1)).toBe(true);
      const members = freshObjects.flat().flatMap((g) => (g['members@delta'] as Json[]).map((m) => m.id));
      expect(members).toHaveLength(45);
      expect(new Set(members)).toEqual(new Set(fresh.members));
    } finally {
      await sim.stop();
    }
  });
});

interface Received {
  url: string;
  contentType: string;
  body: string;
}

/** A tiny webhook receiver on 127.0.0.1: answers the handshake (or not) and records notifications. */
async function receiver(
  mode: { echoRaw?: boolean } = {},
): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      got.push({
        url,
        contentType: String(req.headers['content-type'] ?? ''),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const token = new URL(url, 'http://x').searchParams.get('validationToken');
      if (token !== null) {
        const raw = /validationToken=([^&]*)/.exec(url)?.[1] ?? '';
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(mode.echoRaw ? raw : token);
        return;
      }
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/webhooks/graph`,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('subscriptions', () => {
  let sim: GraphSimulator;
  let token: string;
  const users = [user(1), user(2)];
  const group: SimGroup = { id: seedGuid('g:sub'), displayName: 'Subscribed', members: [users[0]!.id] };
  beforeAll(async () => {
    sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users,
      groups: [group],
    });
    token = await secretToken(sim);
  });
  afterAll(() => sim.stop());

  const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

  it('validates both URLs with an encoded token, then notifies, renews, and forgets a dropped one', async () => {
    const hook = await receiver();
    try {
      const created = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        changeType: 'updated,deleted',
        notificationUrl: hook.url,
        lifecycleNotificationUrl: `${hook.url}?kind=lifecycle`,
        resource: '/groups',
        expirationDateTime: inMinutes(4320),
        clientState: 'per-subscription-secret',
      });
      expect(created.status, created.text).toBe(201);
      const sub = obj(created);
      expect(sub).toMatchObject({
        resource: '/groups',
        changeType: 'updated,deleted',
        notificationUrl: hook.url,
      });
      // the handshake: both URLs, POST text/plain with an empty body, the token URL-encoded in the query
      const handshakes = hook.got.filter((g) => g.url.includes('validationToken='));
      expect(handshakes).toHaveLength(2);
      expect(handshakes[1]!.url).toContain('kind=lifecycle&validationToken=');
      for (const h of handshakes) {
        expect(h.contentType).toMatch(/^text\/plain/);
        expect(h.body).toBe('');
        expect(h.url).toMatch(/%20/);
        expect(h.url).toMatch(/%2B/);
      }
      expect(sim.subscriptions()).toHaveLength(1);

      sim.addMember(group.id, users[1]!.id);
      await sim.settled();
      const notes = hook.got.filter((g) => !g.url.includes('validationToken='));
      expect(notes).toHaveLength(1);
      const note = (JSON.parse(notes[0]!.body) as { value: Json[] }).value[0]!;
      expect(note).toMatchObject({
        subscriptionId: sub.id,
        clientState: 'per-subscription-secret',
        changeType: 'updated',
        resource: `Groups/${group.id}`,
        resourceData: {
          '@odata.type': '#Microsoft.Graph.Group',
          '@odata.id': `Groups/${group.id}`,
          id: group.id,
        },
        tenantId: TENANT,
      });
      expect(sim.deliveries().filter((d) => d.kind === 'change')).toMatchObject([
        { status: 202, url: hook.url },
      ]);
      // a user change does not reach a /groups subscription
      sim.updateUser(users[0]!.id, { displayName: 'Renamed' });
      await sim.settled();
      expect(hook.got.filter((g) => !g.url.includes('validationToken='))).toHaveLength(1);

      const renewed = await graphSend(sim, token, 'PATCH', `/v1.0/subscriptions/${sub.id}`, {
        expirationDateTime: inMinutes(41_000),
      });
      expect(renewed.status).toBe(200);
      const tooLong = await graphSend(sim, token, 'PATCH', `/v1.0/subscriptions/${sub.id}`, {
        expirationDateTime: inMinutes(41_761),
      });
      expect(tooLong.status).toBe(400);

      expect(await sim.sendLifecycle(sub.id as string, 'missed')).toBe(202);
      const life = hook.got.at(-1)!;
      expect(life.url).toBe('/webhooks/graph?kind=lifecycle');
      expect(JSON.parse(life.body).value[0]).toMatchObject({
        subscriptionId: sub.id,
        lifecycleEvent: 'missed',
      });
      expect((await graphSend(sim, token, 'POST', `/v1.0/subscriptions/${sub.id}/reauthorize`)).status).toBe(
        204,
      );

      sim.dropSubscription(sub.id as string);
      const afterDrop = await graphSend(sim, token, 'PATCH', `/v1.0/subscriptions/${sub.id}`, {
        expirationDateTime: inMinutes(60),
      });
      expect(afterDrop.status).toBe(404);
      expect(sim.subscriptions()).toHaveLength(0);
    } finally {
      await hook.close();
    }
  });

  it('refuses an endpoint that echoes the encoded token, a lifetime over 41760 minutes and a non-loopback http URL', async () => {
    const hook = await receiver({ echoRaw: true });
    try {
      const body = {
        changeType: 'updated',
        notificationUrl: hook.url,
        resource: 'users',
        expirationDateTime: inMinutes(60),
      };
      const bad = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', body);
      expect(bad.status).toBe(400);
      expect(obj(bad).error).toMatchObject({ code: 'ValidationError' });
      expect(String((obj(bad).error as Json).message)).toContain('Subscription validation request failed');
      expect(sim.deliveries().at(-1)).toMatchObject({ kind: 'validation', status: 200 });
      const long = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        ...body,
        expirationDateTime: inMinutes(41_761),
      });
      expect(long.status).toBe(400);
      const http = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        ...body,
        notificationUrl: 'http://example.com/hook',
      });
      expect(http.status).toBe(400);
      expect(sim.subscriptions()).toHaveLength(0);
    } finally {
      await hook.close();
    }
  });
});

describe('subscriptions: permissions, timeouts, lifecycle', () => {
  it('needs the read permission of the resource, gives up on a silent endpoint, and drops on subscriptionRemoved', async () => {
    const silent = createServer(() => {
      // never answers: the handshake must time out
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const hook = await receiver();
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      permissions: ['GroupMember.Read.All'],
      users: [user(1)],
      validationTimeoutMs: 300,
    });
    try {
      const base = {
        changeType: 'updated',
        expirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
      };
      // GroupMember.Read.All reads every member list but, as in Graph, cannot subscribe to groups.
      const memberOnly = await graphSend(sim, await secretToken(sim), 'POST', '/v1.0/subscriptions', {
        ...base,
        resource: '/groups',
        notificationUrl: hook.url,
      });
      expect(memberOnly.status).toBe(403);
      sim.setPermissions(['GroupMember.Read.All', 'Group.Read.All']);
      const token = await secretToken(sim);
      const denied = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        ...base,
        resource: '/users',
        notificationUrl: hook.url,
      });
      expect(denied.status).toBe(403);
      expect(obj(denied).error).toMatchObject({ code: 'Authorization_RequestDenied' });
      const port = (silent.address() as AddressInfo).port;
      const timedOut = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        ...base,
        resource: '/groups',
        notificationUrl: `http://127.0.0.1:${port}/hook`,
      });
      expect(timedOut.status).toBe(400);
      expect(obj(timedOut).error).toMatchObject({ code: 'ValidationError' });
      expect(sim.deliveries().at(-1)).toMatchObject({
        kind: 'validation',
        error: expect.stringMatching(/300 ms/),
      });

      const ok = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
        ...base,
        resource: 'groups',
        notificationUrl: hook.url,
        lifecycleNotificationUrl: hook.url,
      });
      expect(ok.status).toBe(201);
      const id = obj(ok).id as string;
      expect((await graphGet(sim, token, '/v1.0/subscriptions')).json).toMatchObject({ value: [{ id }] });
      expect(await sim.sendLifecycle(id, 'subscriptionRemoved')).toBe(202);
      expect(sim.subscriptions()).toEqual([]);
      expect((await graphGet(sim, token, `/v1.0/subscriptions/${id}`)).status).toBe(404);
      expect((await graphSend(sim, token, 'DELETE', `/v1.0/subscriptions/${id}`)).status).toBe(404);
    } finally {
      await sim.stop();
      await hook.close();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(() => r(undefined)));
    }
  });

  it('a deleted user notifies its user subscription (as updated) and the groups it left', async () => {
    const hook = await receiver();
    const u = user(1);
    const g: SimGroup = { id: seedGuid('g:left'), displayName: 'Left', members: [u.id] };
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users: [u],
      groups: [g],
    });
    try {
      const token = await secretToken(sim);
      const expirationDateTime = new Date(Date.now() + 3_600_000).toISOString();
      for (const resource of ['/users', '/groups']) {
        const r = await graphSend(sim, token, 'POST', '/v1.0/subscriptions', {
          changeType: 'updated,deleted',
          resource,
          notificationUrl: hook.url,
          expirationDateTime,
        });
        expect(r.status).toBe(201);
      }
      sim.deleteUser(u.id, { hard: true });
      await sim.settled();
      const notes = hook.got
        .filter((x) => !x.url.includes('validationToken'))
        .map((x) => (JSON.parse(x.body) as { value: Json[] }).value[0]!)
        .map((n) => `${n.changeType} ${n.resource}`);
      expect(notes).toEqual([`updated Users/${u.id}`, `deleted Users/${u.id}`, `updated Groups/${g.id}`]);
      const token2 = await secretToken(sim);
      const delta = await graphGet(sim, token2, '/v1.0/groups/delta?$deltatoken=latest');
      expect(values(delta)).toEqual([]);
      expect(obj(delta)['@odata.deltaLink']).toContain('$deltatoken=');
    } finally {
      await sim.stop();
      await hook.close();
    }
  });
});

describe('faults', () => {
  it('fails the matching request after skip, with Retry-After, then lets requests through again', async () => {
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      users: [user(1)],
    });
    try {
      const token = await secretToken(sim);
      sim.fault({ path: /\/v1\.0\/users$/, status: 429, retryAfterSeconds: 3, skip: 1 });
      expect((await graphGet(sim, token, '/v1.0/users')).status).toBe(200);
      const throttled = await graphGet(sim, token, '/v1.0/users');
      expect(throttled.status).toBe(429);
      expect(throttled.headers['retry-after']).toBe('3');
      expect(obj(throttled).error).toMatchObject({ code: 'TooManyRequests' });
      expect((await graphGet(sim, token, '/v1.0/users')).status).toBe(200);

      sim.fault({
        method: 'POST',
        path: /\/oauth2\/v2\.0\/token$/,
        status: 503,
        retryAfterSeconds: 1,
        times: 2,
      });
      for (let i = 0; i < 2; i++) {
        const r = await tokenForm(sim, { client_secret: SECRET });
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(obj(r).error).toBe('temporarily_unavailable');
      }
      expect((await tokenForm(sim, { client_secret: SECRET })).status).toBe(200);

      sim.fault({ path: /\/v1\.0\/groups$/, status: 503, times: Number.POSITIVE_INFINITY });
      for (let i = 0; i < 3; i++) expect((await graphGet(sim, token, '/v1.0/groups')).status).toBe(503);
      sim.clearFaults();
      expect((await graphGet(sim, token, '/v1.0/groups')).status).toBe(200);

      sim.fault({ path: /\/v1\.0\/users$/, status: 503, dropConnection: true });
      await expect(graphGet(sim, token, '/v1.0/users')).rejects.toThrow(/socket hang up|ECONNRESET/);
      expect((await graphGet(sim, token, '/v1.0/users')).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });
});

describe('scale', () => {
  it('pages 50,000 users at $top=999 in 51 requests and expands 2,000 groups', async () => {
    const t0 = performance.now();
    const seed = seedDirectory({ users: 50_000, groups: 2_000, membersPerGroup: 40, nestedGroups: 50 });
    const again = seedDirectory({ users: 50_000, groups: 2_000, membersPerGroup: 40, nestedGroups: 50 });
    expect(again.users[123]!.id).toBe(seed.users[123]!.id);
    const sim = await startGraphSimulator({
      tenantId: TENANT,
      clientId: CLIENT,
      clientSecret: SECRET,
      ...seed,
    });
    try {
      const token = await secretToken(sim);
      const t1 = performance.now();
      const pages = await allPages(
        sim,
        token,
        '/v1.0/users?$select=id,mail,userPrincipalName,displayName,accountEnabled&$top=999',
      );
      expect(pages).toHaveLength(51);
      expect(pages.flatMap(values)).toHaveLength(50_000);
      const groupPages = await allPages(sim, token, '/v1.0/groups?$select=id,displayName&$top=999');
      expect(groupPages.flatMap(values)).toHaveLength(2_000);
      const nested = await allPages(
        sim,
        token,
        `/v1.0/groups/${seed.groups[0]!.id}/transitiveMembers/microsoft.graph.user?$select=id&$top=999`,
        { ConsistencyLevel: 'eventual' },
      );
      expect(nested.flatMap(values).length).toBeGreaterThan(40);
      const t2 = performance.now();
      // generous bounds for a 2-core CI machine; the bench measures properly
      expect(t1 - t0).toBeLessThan(15_000);
      expect(t2 - t1).toBeLessThan(15_000);
    } finally {
      await sim.stop();
    }
  });
});

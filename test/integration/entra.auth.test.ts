// Signing in to Entra ID with client credentials, against the Graph + login simulator (a real
// HTTPS token endpoint that checks secrets and PS256 client assertions): secret and certificate,
// what a wrong one says (and that it never says the secret), an untrusted CA, one token reused
// from MSAL's cache, and a busy token endpoint waited out without hammering it, including the
// minute MSAL would otherwise replay its cached throttling failure.
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntraSourceConfig } from '../../src/config/types.js';
import { entraTokenProvider } from '../../src/directory/entra/auth.js';
import { EntraAuthError } from '../../src/directory/entra/errors.js';
import {
  type AppCertificate,
  type GraphSimulator,
  makeAppCertificate,
  startGraphSimulator,
} from '../support/graphSimulator/index.js';

const TENANT = '3f2e1d0c-9b8a-4c7d-8e6f-5a4b3c2d1e0f';
const CLIENT = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const SECRET = 'auth-test~Secret.8d7c+6b5a';

let dir: string;
let cert: AppCertificate;
let otherCert: AppCertificate;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-entra-auth-'));
  [cert, otherCert] = await Promise.all([
    makeAppCertificate(join(dir, 'app'), 'idsync-app'),
    makeAppCertificate(join(dir, 'other'), 'someone-else'),
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(sim: GraphSimulator, over: Partial<EntraSourceConfig> = {}): EntraSourceConfig {
  return {
    type: 'entra',
    tenantId: TENANT,
    clientId: CLIENT,
    credential: { kind: 'secret', clientSecret: SECRET },
    cloud: 'public',
    authorityHost: sim.url,
    graphBaseUrl: sim.url,
    caFile: sim.caFile,
    ca: sim.caPem,
    emailAttribute: 'mail',
    emailFallbackAttribute: 'userPrincipalName',
    pageSize: 999,
    timeoutMs: 5_000,
    retryBudgetMs: 5_000,
    fullReadEvery: 86_400,
    ...over,
  };
}

function certificate(c: AppCertificate, key = c.keyPem): EntraSourceConfig['credential'] {
  return {
    kind: 'certificate',
    certificateFile: c.certFile,
    certificate: c.certPem,
    privateKeyFile: c.keyFile,
    privateKey: key,
  };
}

const tokenPosts = (sim: GraphSimulator): number =>
  sim.requests.filter((r) => r.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(r.path)).length;

async function refusal(p: Promise<unknown>): Promise<EntraAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof EntraAuthError)) throw new Error(`expected an EntraAuthError, got ${String(err)}`);
  return err;
}

/** Everything an operator or a log could see of an error. */
const everything = (err: Error): string =>
  `${err.message}\n${JSON.stringify(err)}\n${String((err.cause as Error | undefined)?.message)}\n${err.stack}`;

describe('client secret', () => {
  let sim: GraphSimulator;
  beforeAll(async () => {
    sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET });
  });
  afterAll(() => sim.stop());

  it('gets a token Graph accepts, and reuses it from the cache across providers of the same app', async () => {
    const cfg = config(sim);
    const first = entraTokenProvider(cfg);
    const token = await first.token();
    expect(token.length).toBeGreaterThan(10);
    expect(await first.token()).toBe(token);
    // Another provider of the same app (a second read, the delta source) shares the instance.
    expect(await entraTokenProvider(config(sim)).token()).toBe(token);
    expect(sim.tokensIssued()).toBe(1);
    expect(tokenPosts(sim)).toBe(1);
    // MSAL made no discovery GETs: the metadata is inline.
    expect(sim.requests.filter((r) => r.method === 'GET')).toEqual([]);
  });

  it('a forced refresh asks again, once, however many callers ask at the same time', async () => {
    const tokens = entraTokenProvider(config(sim));
    await tokens.token();
    sim.clearRequests();
    const [a, b] = await Promise.all([
      tokens.token({ forceRefresh: true }),
      tokens.token({ forceRefresh: true }),
    ]);
    expect(a).toBe(b);
    expect(tokenPosts(sim)).toBe(1);
  });

  it('a wrong secret is refused with the AADSTS code and what to change, never the secret', async () => {
    const wrong = 'not-the~Secret.1234';
    const err = await refusal(
      entraTokenProvider(config(sim, { credential: { kind: 'secret', clientSecret: wrong } })).token(),
    );
    expect(err.details).toMatchObject({
      kind: 'refused',
      error: 'invalid_client',
      aadsts: 'AADSTS7000215',
      key: 'source.clientSecret',
      authority: `${sim.url}/${TENANT}`,
    });
    expect(err.message).toContain(`sign-in to ${sim.url}/${TENANT} as app ${CLIENT} was refused`);
    expect(err.message).toContain('AADSTS7000215');
    expect(err.message).toMatch(/use the secret's Value \(not its Secret ID\)/);
    expect(everything(err)).not.toContain(wrong);
    expect(everything(err)).not.toContain(SECRET);
  });

  it('an unknown client id names clientId', async () => {
    const err = await refusal(
      entraTokenProvider(config(sim, { clientId: '99999999-8888-4777-8666-555555555555' })).token(),
    );
    expect(err.details).toMatchObject({ aadsts: 'AADSTS700016', key: 'source.clientId' });
    expect(err.message).toMatch(/No application with clientId 99999999-8888-4777-8666-555555555555/);
  });

  it('an untrusted CA names the authority and the CA file it was checked against', async () => {
    const { readFile } = await import('node:fs/promises');
    const wrongCa = await readFile(sim.wrongCaFile, 'utf8');
    const err = await refusal(
      entraTokenProvider(config(sim, { caFile: sim.wrongCaFile, ca: wrongCa, retryBudgetMs: 500 })).token(),
    );
    expect(err.details).toMatchObject({ kind: 'unavailable', key: 'source.caFile' });
    expect(err.message).toContain(
      `sign-in to ${sim.url}/${TENANT} as app ${CLIENT} failed: the TLS handshake failed`,
    );
    expect(err.message).toContain(`caFile ${sim.wrongCaFile}`);
    expect(everything(err)).not.toContain(SECRET);
  });
});

describe('certificate', () => {
  let sim: GraphSimulator;
  beforeAll(async () => {
    sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, certificatePem: cert.certPem });
  });
  afterAll(() => sim.stop());

  it('signs a PS256 client assertion with the PKCS#8 key', async () => {
    const token = await entraTokenProvider(config(sim, { credential: certificate(cert) })).token();
    expect(token.length).toBeGreaterThan(10);
    expect(sim.tokensIssued()).toBe(1);
  });

  it('takes a PKCS#1 key (converted) and an x5c chain', async () => {
    const pkcs1 = createPrivateKey(cert.keyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('BEGIN RSA PRIVATE KEY');
    const credential = {
      ...certificate(cert, pkcs1),
      certificateChainFile: cert.certFile,
      certificateChain: cert.certPem,
    };
    const token = await entraTokenProvider(config(sim, { credential })).token();
    expect(token.length).toBeGreaterThan(10);
  });

  it('a certificate the app does not have registered is refused, naming certificateFile', async () => {
    const err = await refusal(
      entraTokenProvider(config(sim, { credential: certificate(otherCert) })).token(),
    );
    expect(err.details).toMatchObject({
      kind: 'refused',
      aadsts: 'AADSTS700027',
      key: 'source.certificateFile',
    });
    expect(err.message).toMatch(/certificateFile is not a certificate registered on the app/);
    expect(everything(err)).not.toContain(otherCert.keyPem.split('\n')[1]);
  });

  it('a key that is not the certificate’s fails before any request', async () => {
    const before = tokenPosts(sim);
    const err = await refusal(
      entraTokenProvider(config(sim, { credential: certificate(cert, otherCert.keyPem) })).token(),
    );
    expect(err.details).toMatchObject({ kind: 'credential', key: 'source.privateKeyFile' });
    expect(err.message).toBe(
      `privateKeyFile ${cert.keyFile} is not the key of certificateFile ${cert.certFile}`,
    );
    expect(tokenPosts(sim)).toBe(before);
  });
});

describe('a busy token endpoint', () => {
  it('a 503 with Retry-After is waited out, then the token comes: two requests, not a burst', async () => {
    const sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET });
    try {
      sim.fault({ path: /\/oauth2\/v2\.0\/token$/, status: 503, retryAfterSeconds: 1 });
      const started = Date.now();
      const token = await entraTokenProvider(config(sim)).token();
      expect(token.length).toBeGreaterThan(10);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(tokenPosts(sim)).toBe(2);
      const posts = sim.requests.filter((r) => /\/token$/.test(r.path));
      expect((posts[1]?.at ?? 0) - (posts[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    } finally {
      await sim.stop();
    }
  });

  it('past the budget it fails saying so; the next call waits out the throttle MSAL would replay, then succeeds', async () => {
    const sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET });
    try {
      sim.fault({
        path: /\/oauth2\/v2\.0\/token$/,
        status: 503,
        retryAfterSeconds: 1,
        times: Number.POSITIVE_INFINITY,
      });
      const tokens = entraTokenProvider(config(sim, { retryBudgetMs: 1_500 }));
      const err = await refusal(tokens.token());
      expect(err.details.kind).toBe('unavailable');
      expect(err.message).toMatch(/answered 503 until retryBudgetMs \(1500 ms\) was spent/);
      expect(err.details.retryAt).toBeGreaterThan(Date.now());
      const failed = tokenPosts(sim);
      expect(failed).toBe(2); // at 0 s and after the 1 s asked for; a third would be past the budget

      // The endpoint recovers. MSAL's instance still holds the 503 for Retry-After and would
      // replay it without asking; the provider waits until then instead, and asks once.
      sim.clearFaults();
      const started = Date.now();
      const token = await tokens.token();
      expect(token.length).toBeGreaterThan(10);
      expect(Date.now() - started).toBeGreaterThan(200);
      expect(tokenPosts(sim)).toBe(failed + 1);
    } finally {
      await sim.stop();
    }
  });

  it('a throttle longer than the budget fails at once, without asking the endpoint again', async () => {
    const sim = await startGraphSimulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET });
    try {
      sim.fault({ path: /\/oauth2\/v2\.0\/token$/, status: 429, retryAfterSeconds: 30 });
      const tokens = entraTokenProvider(config(sim, { retryBudgetMs: 1_000 }));
      const first = await refusal(tokens.token());
      expect(first.message).toMatch(/answered 429/);
      expect(tokenPosts(sim)).toBe(1);
      sim.clearFaults();
      const started = Date.now();
      const second = await refusal(tokens.token());
      expect(Date.now() - started).toBeLessThan(200);
      expect(second.message).toMatch(
        /not attempted: the token endpoint asked to be left alone until .* \(Retry-After\), beyond retryBudgetMs \(1000 ms\)/,
      );
      expect(tokenPosts(sim)).toBe(1);
    } finally {
      await sim.stop();
    }
  });
});

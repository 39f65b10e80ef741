// The Entra login side: the v2.0 token endpoint (client credentials with a client secret or a
// certificate-signed client assertion, verified with node:crypto), the metadata MSAL could fetch, and
// the access tokens Graph requests must carry. Errors look like Entra's (error, AADSTS description,
// error_codes), because the source under test recognises them by those.
import { constants, createHash, randomBytes, timingSafeEqual, verify, X509Certificate } from 'node:crypto';
import { type Ctx, sendJson } from './http.js';
import type { GraphPermission } from './types.js';

export const ALL_PERMISSIONS: readonly GraphPermission[] = [
  'User.Read.All',
  'GroupMember.Read.All',
  'Group.Read.All',
  'Directory.Read.All',
];

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface IssuedToken {
  expiresAt: number;
  roles: ReadonlySet<GraphPermission>;
  generation: number;
}

export interface LoginOptions {
  url: string;
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  certificatePem?: string;
  tokenLifetimeSeconds: number;
  permissions: readonly GraphPermission[];
}

export type AuthResult = { ok: true; roles: ReadonlySet<GraphPermission> } | { ok: false; message: string };

function b64urlJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export class Login {
  private readonly tokens = new Map<string, IssuedToken>();
  private issued = 0;
  private generation = 0;
  private roles: ReadonlySet<GraphPermission>;
  private readonly cert: X509Certificate | undefined;
  private readonly thumbSha256: string | undefined;
  private readonly thumbSha1: string | undefined;

  constructor(private readonly o: LoginOptions) {
    this.roles = new Set(o.permissions);
    if (o.certificatePem) {
      this.cert = new X509Certificate(o.certificatePem);
      this.thumbSha256 = createHash('sha256').update(this.cert.raw).digest('base64url');
      this.thumbSha1 = createHash('sha1').update(this.cert.raw).digest('base64url');
    }
  }

  get tokenEndpoint(): string {
    return `${this.o.url}/${this.o.tenantId}/oauth2/v2.0/token`;
  }

  tokensIssued(): number {
    return this.issued;
  }

  setPermissions(p: readonly GraphPermission[]): void {
    this.roles = new Set(p);
  }

  revokeTokens(): void {
    this.generation++;
  }

  /** Checks `Authorization: Bearer …` of a Graph request. */
  authenticate(authorization: string | undefined): AuthResult {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m?.[1]) return { ok: false, message: 'Access token is empty.' };
    const t = this.tokens.get(m[1]);
    if (!t || t.generation !== this.generation) {
      return { ok: false, message: 'Access token validation failure. Invalid audience.' };
    }
    if (Date.now() >= t.expiresAt)
      return { ok: false, message: 'Lifetime validation failed, the token is expired.' };
    return { ok: true, roles: t.roles };
  }

  /** Handles the login routes; false when the path is not one of them. */
  handle(ctx: Ctx): boolean {
    const s = ctx.segments;
    // /{tenant}/oauth2/v2.0/token
    if (s.length === 4 && s[1] === 'oauth2' && s[2] === 'v2.0' && s[3] === 'token') {
      if (ctx.method !== 'POST')
        this.aadError(ctx, 405, 'invalid_request', 900561, 'The endpoint only accepts POST.');
      else this.token(ctx, s[0]!);
      return true;
    }
    // /{tenant}/v2.0/.well-known/openid-configuration
    if (s.length === 4 && s[1] === 'v2.0' && s[2] === '.well-known' && s[3] === 'openid-configuration') {
      if (!this.tenantOk(s[0]!)) this.unknownTenant(ctx, s[0]!);
      else sendJson(ctx, 200, this.openidConfiguration(this.origin(ctx)));
      return true;
    }
    // /common/discovery/instance (and /{tenant}/discovery/instance)
    if (s.length === 3 && s[1] === 'discovery' && s[2] === 'instance') {
      const origin = this.origin(ctx);
      const host = new URL(origin).host;
      sendJson(ctx, 200, {
        tenant_discovery_endpoint: `${origin}/${this.o.tenantId}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      });
      return true;
    }
    // /{tenant}/discovery/v2.0/keys: no token signing keys, the access tokens are opaque
    if (s.length === 4 && s[1] === 'discovery' && s[2] === 'v2.0' && s[3] === 'keys') {
      sendJson(ctx, 200, { keys: [] });
      return true;
    }
    return false;
  }

  /**
   * The origin the client used: https://localhost:PORT or https://127.0.0.1:PORT. MSAL checks that the
   * issuer of fetched metadata has the authority's host, so the metadata follows the Host header.
   */
  private origin(ctx: Ctx): string {
    const port = new URL(this.o.url).port;
    return ctx.req.headers.host === `localhost:${port}` ? `https://localhost:${port}` : this.o.url;
  }

  openidConfiguration(origin = this.o.url): Record<string, unknown> {
    const base = `${origin}/${this.o.tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      tenant_region_scope: 'EU',
      cloud_instance_name: new URL(origin).host,
    };
  }

  private tenantOk(tenant: string): boolean {
    return tenant === this.o.tenantId.toLowerCase();
  }

  private unknownTenant(ctx: Ctx, tenant: string): void {
    this.aadError(
      ctx,
      400,
      'invalid_request',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    );
  }

  aadError(
    ctx: Ctx,
    status: number,
    error: string,
    code: number,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    const now = new Date();
    const stamp = now
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, 'Z');
    sendJson(
      ctx,
      status,
      {
        error,
        error_description: `AADSTS${code}: ${message} Trace ID: ${ctx.requestId} Correlation ID: ${ctx.clientRequestId} Timestamp: ${stamp}`,
        error_codes: [code],
        timestamp: stamp,
        trace_id: ctx.requestId,
        correlation_id: ctx.clientRequestId,
        error_uri: `${this.o.url}/error?code=${code}`,
      },
      headers,
    );
  }

  /** Accepted resources of `<resource>/.default`: the simulator's origin under either host name. */
  private resourceOk(resource: string): boolean {
    const mine = new URL(this.o.url);
    let r: URL;
    try {
      r = new URL(resource);
    } catch {
      return false;
    }
    const host = r.hostname === 'localhost' ? '127.0.0.1' : r.hostname;
    return (
      r.protocol === 'https:' && host === mine.hostname && r.port === mine.port && /^\/?$/.test(r.pathname)
    );
  }

  /** aud of a client assertion: the token endpoint, under either host name. */
  private audienceOk(aud: unknown): boolean {
    const values = Array.isArray(aud) ? aud : [aud];
    const mine = new URL(this.tokenEndpoint);
    return values.some((a) => {
      if (typeof a !== 'string') return false;
      try {
        const u = new URL(a);
        const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname;
        return (
          u.protocol === 'https:' &&
          host === mine.hostname &&
          u.port === mine.port &&
          u.pathname.toLowerCase() === mine.pathname.toLowerCase()
        );
      } catch {
        return false;
      }
    });
  }

  private token(ctx: Ctx, tenant: string) {
    if (!this.tenantOk(tenant)) return this.unknownTenant(ctx, tenant);
    const type = (ctx.req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      return this.aadError(
        ctx,
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      );
    }
    const form = new URLSearchParams(ctx.body.toString('utf8'));
    const grant = form.get('grant_type');
    if (!grant) {
      return this.aadError(
        ctx,
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (grant !== 'client_credentials') {
      return this.aadError(
        ctx,
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant}'.`,
      );
    }
    const clientId = form.get('client_id') ?? '';
    if (clientId.toLowerCase() !== this.o.clientId.toLowerCase()) {
      return this.aadError(
        ctx,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.o.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const scopes = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
    const defaults = scopes.filter((x) => x.endsWith('/.default'));
    const others = scopes.filter(
      (x) => !x.endsWith('/.default') && !['openid', 'profile', 'offline_access'].includes(x),
    );
    if (defaults.length !== 1 || others.length > 0) {
      return this.aadError(
        ctx,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const resource = defaults[0]!.slice(0, -'/.default'.length);
    if (!this.resourceOk(resource)) {
      return this.aadError(
        ctx,
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${this.o.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null && assertion !== null) {
      return this.aadError(
        ctx,
        401,
        'invalid_client',
        7000218,
        'Only one client authentication method may be used: client_secret or client_assertion.',
      );
    }
    if (secret !== null) {
      if (this.o.clientSecret === undefined || !safeEqual(secret, this.o.clientSecret)) {
        return this.aadError(
          ctx,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.o.clientId}'.`,
        );
      }
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== JWT_BEARER) {
        return this.aadError(
          ctx,
          400,
          'invalid_request',
          700023,
          `Invalid client assertion type. The client_assertion_type must be '${JWT_BEARER}'.`,
        );
      }
      const problem = this.checkAssertion(assertion);
      if (problem) return this.aadError(ctx, 401, 'invalid_client', 700027, problem);
    } else {
      return this.aadError(
        ctx,
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    const accessToken = randomBytes(32).toString('base64url');
    const lifetime = this.o.tokenLifetimeSeconds;
    this.tokens.set(accessToken, {
      expiresAt: Date.now() + lifetime * 1000,
      roles: this.roles,
      generation: this.generation,
    });
    this.issued++;
    sendJson(
      ctx,
      200,
      { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken },
      { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' },
    );
  }

  /** Verifies a client assertion JWT; returns Entra's description of what is wrong, or undefined. */
  private checkAssertion(jwt: string): string | undefined {
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'Client assertion is not a well formed JWT.';
    const [h, p, s] = parts as [string, string, string];
    const head = b64urlJson(h);
    const claims = b64urlJson(p);
    if (!isRecord(head) || !isRecord(claims)) return 'Client assertion is not a well formed JWT.';
    const alg = head.alg;
    if (alg !== 'PS256' && alg !== 'RS256') {
      return `Client assertion contains an unsupported signing algorithm '${String(alg)}'.`;
    }
    const x5tS256 = typeof head['x5t#S256'] === 'string' ? head['x5t#S256'] : undefined;
    const x5t = typeof head.x5t === 'string' ? head.x5t : undefined;
    const used = x5tS256 ?? x5t ?? '';
    const keyFound =
      this.cert !== undefined &&
      ((x5tS256 !== undefined && x5tS256 === this.thumbSha256) ||
        (x5t !== undefined && x5t === this.thumbSha1));
    if (!this.cert || !keyFound) {
      return `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${Buffer.from(used, 'base64url').toString('hex').toUpperCase()}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${this.o.clientId}'.]`;
    }
    const signature = Buffer.from(s, 'base64url');
    const signed = Buffer.from(`${h}.${p}`, 'ascii');
    const key = this.cert.publicKey;
    const good =
      alg === 'PS256'
        ? verify(
            'sha256',
            signed,
            // PS256 (RFC 7518 §3.5): RSASSA-PSS with SHA-256, MGF1 SHA-256 and a salt as long as the digest
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
            signature,
          )
        : verify('sha256', signed, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (!good) return 'Client assertion failed signature validation.';
    const now = Math.floor(Date.now() / 1000);
    if (!this.audienceOk(claims.aud)) {
      return `Client assertion audience claim does not match Realm issuer. Expected '${this.tokenEndpoint}', got '${String(claims.aud)}'.`;
    }
    if (claims.iss !== this.o.clientId || claims.sub !== this.o.clientId) {
      return `Client assertion issuer and subject must both be the client id '${this.o.clientId}'.`;
    }
    if (typeof claims.exp !== 'number' || claims.exp <= now) {
      return `Client assertion is not within its valid time range. Current time: ${new Date(now * 1000).toISOString()}, assertion valid until: ${typeof claims.exp === 'number' ? new Date(claims.exp * 1000).toISOString() : 'missing exp'}.`;
    }
    if (typeof claims.nbf === 'number' && claims.nbf > now + 300) {
      return 'Client assertion is not within its valid time range (nbf is in the future).';
    }
    if (typeof claims.jti !== 'string' || claims.jti === '')
      return 'Client assertion must contain a jti claim.';
    return undefined;
  }
}

// OpenID Connect sign-in with openid-client: authorization code + PKCE (S256), with state and nonce,
// against any issuer that publishes a discovery document. Discovery happens on the first sign-in
// (not at startup, so an IdP outage never stops the daemon) and is retried on the next one if it
// failed. openid-client verifies the ID token (signature by the issuer's JWKS, iss, aud, exp, nonce).
import * as client from 'openid-client';
import { isLoopbackHost } from '../../config/schema.js';
import type { ConsoleSettings } from '../../config/types.js';
import { FLOW_TTL_SECONDS, type Flow } from './session.js';

/** Discovery and the token exchange each: an IdP slower than this is failing. */
const IDP_TIMEOUT_SECONDS = 10;

/** The IdP said no, or its answer did not verify; `code` is safe to show and log (no token). */
export class SignInError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

export interface SignIn {
  /** Where to send the browser, and what to keep in the flow cookie until it comes back. */
  begin(next: string, nowMs: number): Promise<{ url: string; flow: Flow }>;
  /** The callback: the verified ID token claims, or SignInError. */
  finish(query: string, flow: Flow): Promise<Record<string, unknown>>;
}

export function oidcSignIn(settings: ConsoleSettings): SignIn {
  let config: Promise<client.Configuration> | undefined;
  const issuer = new URL(settings.issuer);
  const discover = (): Promise<client.Configuration> => {
    config ??= client
      .discovery(
        issuer,
        settings.clientId,
        undefined,
        settings.clientSecret !== undefined ? client.ClientSecretBasic(settings.clientSecret) : client.None(),
        {
          timeout: IDP_TIMEOUT_SECONDS,
          // Plain http only to a loopback issuer (the schema refuses any other): a test IdP.
          ...(issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)
            ? { execute: [client.allowInsecureRequests] }
            : {}),
        },
      )
      .catch((err: unknown) => {
        config = undefined;
        throw new SignInError(
          'discovery_failed',
          `the IdP's discovery document could not be read: ${describe(err)}`,
        );
      });
    return config;
  };

  return {
    async begin(next, nowMs) {
      const cfg = await discover();
      const verifier = client.randomPKCECodeVerifier();
      const flow: Flow = {
        v: 1,
        state: client.randomState(),
        nonce: client.randomNonce(),
        verifier,
        next,
        exp: Math.floor(nowMs / 1000) + FLOW_TTL_SECONDS,
      };
      const url = client.buildAuthorizationUrl(cfg, {
        redirect_uri: settings.redirectUrl,
        scope: settings.scopes.join(' '),
        response_type: 'code',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: flow.state,
        nonce: flow.nonce,
      });
      return { url: url.href, flow };
    },

    async finish(query, flow) {
      const cfg = await discover();
      // The URL the IdP redirected to, as registered: behind an ingress the request's own host and
      // scheme are not what the IdP saw.
      const current = new URL(settings.redirectUrl);
      current.search = query;
      const error = current.searchParams.get('error');
      if (error !== null) {
        const description = current.searchParams.get('error_description');
        throw new SignInError(
          error.slice(0, 100),
          description?.slice(0, 300) ?? 'the IdP refused the sign-in',
        );
      }
      try {
        const tokens = await client.authorizationCodeGrant(
          cfg,
          current,
          {
            pkceCodeVerifier: flow.verifier,
            expectedState: flow.state,
            expectedNonce: flow.nonce,
            idTokenExpected: true,
          },
          undefined,
          {},
        );
        const claims = tokens.claims();
        if (!claims) throw new SignInError('no_id_token', 'the IdP sent no ID token');
        return { ...claims } as Record<string, unknown>;
      } catch (err) {
        if (err instanceof SignInError) throw err;
        throw new SignInError('verification_failed', `the IdP's answer did not verify: ${describe(err)}`);
      }
    },
  };
}

/** openid-client's errors name what failed (a claim, a status); they never carry a token. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as { code?: unknown }).code;
  const text = err.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  return typeof code === 'string' ? `${text} (${code})` : text;
}

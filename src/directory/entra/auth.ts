// Tokens for Graph: client credentials through MSAL, one ConfidentialClientApplication per app
// registration per process, so its in-memory token cache serves every read of a daemon's life.
//
// Three things MSAL does not do for us, and how they are handled here:
// - Discovery. MSAL would GET instance discovery and the openid-configuration first; it is handed
//   both inline (clouds.ts) with knownAuthorities, so the token POST is its only request, for every
//   cloud, a private endpoint and the simulator alike.
// - TLS with a CA of our own. The network client is ours (node:https with caFile, http.ts); MSAL
//   turns any error of it into a bare `network_error`, so the client remembers the real cause and
//   the error we throw names the authority and the CA file.
// - Throttling. After a 429 or 5xx from the token endpoint, MSAL caches that failure for the
//   Retry-After (default 60 s, at most an hour) and replays it, without a request, to every caller
//   of the same instance. So transient answers never reach MSAL: the network client waits them out
//   itself (Retry-After, else backoff) within retryBudgetMs. Only when the budget is spent does
//   MSAL see the failure; we then remember until when it will replay it, and a later token() waits
//   that long (within its own budget) instead of collecting a replayed failure, or gives up at once
//   saying until when the endpoint asked to be left alone.
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { Agent } from 'node:https';
import {
  AuthError,
  ConfidentialClientApplication,
  type Configuration,
  type INetworkModule,
  LogLevel,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import type { Logger } from 'pino';
import type { EntraSourceConfig } from '../../config/types.js';
import { parseRetryAfter } from '../../devin/retryPolicy.js';
import { silentLogger } from '../../log/logger.js';
import {
  authorityHostName,
  authorityMetadata,
  authorityUrl,
  cloudDiscoveryMetadata,
  graphScope,
} from './clouds.js';
import {
  describeTransport,
  EntraAbortedError,
  EntraAuthError,
  isTransientTransport,
  scrub,
} from './errors.js';
import { backoffMs, entraAgent, type HttpAnswer, send, sleep } from './http.js';

export interface TokenProvider {
  /** A bearer token for Graph; `forceRefresh` skips the cache (once, after Graph said 401). */
  token(opts?: { forceRefresh?: boolean; signal?: AbortSignal }): Promise<string>;
}

/** MSAL's own throttle when the answer names no Retry-After, and its ceiling (ThrottlingUtils). */
const MSAL_DEFAULT_THROTTLE_MS = 60_000;
const MSAL_MAX_THROTTLE_MS = 3_600_000;
/** Statuses worth waiting out; MSAL throttles on 429 and every 5xx. */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);

/** What the network client saw during one token acquisition. */
interface Attempt {
  deadline: number;
  signal: AbortSignal | undefined;
  calls: number;
  transport?: unknown;
  /** The last answer handed to MSAL when it was a failure. */
  failed?: { status: number; retryAfter?: string };
}

/** MSAL's network client: node:https with our CA, and the waiting MSAL must not do. */
class TokenNetwork implements INetworkModule {
  attempt: Attempt = { deadline: 0, signal: undefined, calls: 0 };

  constructor(
    private readonly agent: Agent,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    // Never expected: the metadata is inline. Served anyway, so a change in MSAL degrades to one
    // extra request instead of a failed sign-in.
    this.log.warn(
      { url: new URL(url).origin + new URL(url).pathname },
      'MSAL fetched metadata over the network',
    );
    return this.exchange<T>('GET', url, options);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.exchange<T>('POST', url, options);
  }

  private async exchange<T>(
    method: string,
    url: string,
    options: NetworkRequestOptions | undefined,
  ): Promise<NetworkResponse<T>> {
    const a = this.attempt;
    for (let retry = 1; ; retry++) {
      a.calls++;
      let answer: HttpAnswer;
      try {
        answer = await send(this.agent, {
          method,
          url,
          timeoutMs: this.timeoutMs,
          ...(options?.headers ? { headers: options.headers } : {}),
          ...(options?.body !== undefined ? { body: options.body } : {}),
          ...(a.signal ? { signal: a.signal } : {}),
        });
      } catch (err) {
        a.transport = err;
        const wait = backoffMs(retry);
        if (!a.signal?.aborted && isTransientTransport(err) && Date.now() + wait <= a.deadline) {
          await sleep(wait, a.signal);
          continue;
        }
        throw err;
      }
      a.transport = undefined;
      const retryAfter = answer.headers['retry-after'];
      if (RETRYABLE.has(answer.status)) {
        const wait = parseRetryAfter(retryAfter) ?? backoffMs(retry);
        if (Date.now() + wait <= a.deadline) {
          this.log.info(
            { status: answer.status, waitMs: wait },
            'token endpoint busy; waiting before the next try',
          );
          await sleep(wait, a.signal);
          continue;
        }
      }
      if (RETRYABLE.has(answer.status) || retryAfter !== undefined) {
        a.failed = { status: answer.status, ...(retryAfter !== undefined ? { retryAfter } : {}) };
      }
      return { status: answer.status, headers: answer.headers, body: parseBody(answer.text) as T };
    }
  }
}

/** MSAL reads the body as an object; anything else becomes an empty one (the status still tells). */
function parseBody(text: string): unknown {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

interface ClientCertificate {
  thumbprintSha256: string;
  privateKey: string;
  x5c?: string;
}

/** The certificate credential as MSAL takes it; a PKCS#1 key is converted to PKCS#8. */
export function clientCertificate(config: EntraSourceConfig): ClientCertificate | undefined {
  const c = config.credential;
  if (c.kind !== 'certificate') return undefined;
  const fail = (message: string, key: string, cause?: unknown): never => {
    throw new EntraAuthError(
      message,
      { kind: 'credential', authority: authorityUrl(config), key },
      cause === undefined ? undefined : { cause },
    );
  };
  let cert: X509Certificate | undefined;
  try {
    cert = new X509Certificate(c.certificate);
  } catch (err) {
    fail(
      `certificateFile ${c.certificateFile} is not a PEM certificate: ${(err as Error).message}`,
      'source.certificateFile',
    );
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(c.privateKey);
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(c.privateKey);
    fail(
      `privateKeyFile ${c.privateKeyFile} is not a usable PEM private key${encrypted ? ' (it is encrypted; idsync needs it decrypted, protected by file permissions or a secret store)' : ' (PKCS#8 BEGIN PRIVATE KEY or PKCS#1 BEGIN RSA PRIVATE KEY)'}: ${(err as Error).message.split('\n')[0]}`,
      'source.privateKeyFile',
    );
  }
  const certificate = cert as X509Certificate;
  const privateKey = key as KeyObject;
  if (privateKey.asymmetricKeyType !== 'rsa') {
    fail(
      `privateKeyFile ${c.privateKeyFile} holds a ${privateKey.asymmetricKeyType ?? 'non-RSA'} key: Entra ID signs client assertions with RSA (PS256), so the app certificate needs an RSA key`,
      'source.privateKeyFile',
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    fail(
      `privateKeyFile ${c.privateKeyFile} is not the key of certificateFile ${c.certificateFile}`,
      'source.privateKeyFile',
    );
  }
  const pem = certificate.toString();
  let x5c: string | undefined;
  if (c.certificateChain !== undefined) {
    // x5c starts with the certificate whose key signed (RFC 7515 §4.1.6); a chain file may or may
    // not repeat it.
    const chain =
      c.certificateChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const fingerprint = certificate.fingerprint256;
    const rest = chain.filter((p) => {
      try {
        return new X509Certificate(p).fingerprint256 !== fingerprint;
      } catch {
        return fail(
          `certificateChainFile ${c.certificateChainFile} holds a certificate that does not parse`,
          'source.certificateChainFile',
        );
      }
    });
    x5c = [pem.trim(), ...rest].join('\n');
  }
  return {
    thumbprintSha256: certificate.fingerprint256.replace(/:/g, ''),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ...(x5c === undefined ? {} : { x5c }),
  };
}

/** One app registration's sign-in state, shared by every provider of the process. */
class AppSignIn {
  private readonly cca: ConfidentialClientApplication;
  private readonly network: TokenNetwork;
  private readonly log: Logger;
  private inflight: { forced: boolean; promise: Promise<string> } | undefined;
  /** Until when MSAL replays the endpoint's last throttling answer (epoch ms). */
  private throttledUntil = 0;
  private readonly authority: string;

  constructor(
    private readonly config: EntraSourceConfig,
    logger: Logger,
  ) {
    this.authority = authorityUrl(config);
    this.log = logger.child({ component: 'entra-auth', authority: this.authority });
    this.network = new TokenNetwork(entraAgent(config), config.timeoutMs, this.log);
    const cert = clientCertificate(config);
    const auth: Configuration['auth'] = {
      clientId: config.clientId,
      authority: this.authority,
      knownAuthorities: [authorityHostName(config)],
      cloudDiscoveryMetadata: cloudDiscoveryMetadata(config),
      authorityMetadata: authorityMetadata(config),
      ...(config.credential.kind === 'secret'
        ? { clientSecret: config.credential.clientSecret }
        : { clientCertificate: cert as ClientCertificate }),
    };
    const secrets = this.secrets();
    this.cca = new ConfidentialClientApplication({
      auth,
      system: {
        networkClient: this.network,
        disableInternalRetries: true,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: LogLevel.Warning,
          loggerCallback: (_level, message) => this.log.debug({ msal: scrub(message, secrets) }, 'msal'),
        },
      },
    });
  }

  private secrets(): string[] {
    const c = this.config.credential;
    return c.kind === 'secret' ? [c.clientSecret] : [c.privateKey];
  }

  token(forceRefresh: boolean, signal: AbortSignal | undefined): Promise<string> {
    // Callers at once share one acquisition; a forced refresh does not join a cached one.
    const current = this.inflight;
    if (current && (current.forced || !forceRefresh)) return current.promise;
    // One acquisition at a time (the network client records one attempt): a forced refresh
    // asked for while a cached read is in flight starts after it.
    const before = current?.promise.catch(() => undefined) ?? Promise.resolve(undefined);
    const promise = before
      .then(() => this.acquire(forceRefresh, signal))
      .finally(() => {
        if (this.inflight?.promise === promise) this.inflight = undefined;
      });
    this.inflight = { forced: forceRefresh, promise };
    return promise;
  }

  private async acquire(forceRefresh: boolean, signal: AbortSignal | undefined): Promise<string> {
    const deadline = Date.now() + this.config.retryBudgetMs;
    for (;;) {
      const wait = this.throttledUntil - Date.now();
      if (wait > 0) {
        if (Date.now() + wait > deadline) throw this.throttled();
        this.log.info(
          { waitMs: wait },
          'token endpoint asked to be left alone; waiting rather than asking again',
        );
        await this.pause(wait, signal);
      }
      const attempt: Attempt = { deadline, signal, calls: 0 };
      this.network.attempt = attempt;
      try {
        const result = await this.cca.acquireTokenByClientCredential({
          scopes: [graphScope(this.config)],
          skipCache: forceRefresh,
        });
        if (!result?.accessToken) {
          throw new EntraAuthError(`sign-in to ${this.authority} returned no access token`, {
            kind: 'unavailable',
            authority: this.authority,
          });
        }
        this.log.debug({ fromCache: result.fromCache, expiresOn: result.expiresOn }, 'token acquired');
        return result.accessToken;
      } catch (err) {
        if (signal?.aborted)
          throw new EntraAbortedError(`sign-in aborted: ${String(signal.reason ?? 'aborted')}`);
        if (err instanceof EntraAuthError) throw err;
        if (attempt.failed)
          this.throttledUntil = Math.max(this.throttledUntil, msalThrottleEnd(attempt.failed));
        if (attempt.calls === 0 && err instanceof AuthError && err.name === 'ServerError') {
          // MSAL replayed a cached throttling failure without asking the server. Our own record
          // should have prevented it (a clock step, another instance's failure): wait, don't count it.
          this.throttledUntil = Math.max(this.throttledUntil, Date.now() + 1_000);
          if (Date.now() + 1_000 <= deadline) continue;
          throw this.throttled();
        }
        throw this.describe(err, attempt);
      }
    }
  }

  private async pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      // A little past the end: MSAL drops its cached failure only once the time has passed.
      await sleep(ms + 25, signal);
    } catch {
      throw new EntraAbortedError(`sign-in aborted: ${String(signal?.reason ?? 'aborted')}`);
    }
  }

  private throttled(): EntraAuthError {
    const until = new Date(this.throttledUntil).toISOString();
    return new EntraAuthError(
      `sign-in to ${this.authority} not attempted: the token endpoint asked to be left alone until ${until} (Retry-After), beyond retryBudgetMs (${this.config.retryBudgetMs} ms)`,
      { kind: 'unavailable', authority: this.authority, retryAt: this.throttledUntil },
    );
  }

  /** Any failure as an EntraAuthError naming the authority, the AADSTS code and what to change. */
  private describe(err: unknown, attempt: Attempt): EntraAuthError {
    const secrets = this.secrets();
    const who = `sign-in to ${this.authority} as app ${this.config.clientId}`;
    if (attempt.transport !== undefined) {
      const why = describeTransport(attempt.transport, this.config.caFile);
      const tls = /^the TLS handshake/.test(why);
      return new EntraAuthError(scrub(`${who} failed: ${why}`, secrets), {
        kind: 'unavailable',
        authority: this.authority,
        key: tls ? 'source.caFile' : 'source.authorityHost',
      });
    }
    const auth = err instanceof AuthError ? err : undefined;
    const text = auth
      ? (/Description: (.*?) - (?:Correlation ID|Trace ID):/s.exec(auth.errorMessage)?.[1] ??
        auth.errorMessage)
      : String(err);
    const description = (text.split(/\r?\n/)[0] ?? text)
      .replace(/\s*Trace ID: .*$/, '')
      .trim()
      .replace(/\.+$/, '');
    const aadsts = /AADSTS(\d+)/.exec(auth?.errorMessage ?? '')?.[1];
    if (attempt.failed && RETRYABLE.has(attempt.failed.status)) {
      return new EntraAuthError(
        scrub(
          `${who} failed: the token endpoint answered ${attempt.failed.status} until retryBudgetMs (${this.config.retryBudgetMs} ms) was spent${description ? ` (${description})` : ''}`,
          secrets,
        ),
        { kind: 'unavailable', authority: this.authority, retryAt: this.throttledUntil },
      );
    }
    const known = aadsts === undefined ? undefined : AADSTS_HINTS[aadsts];
    const hint = known?.hint(this.config);
    const code = auth?.errorCode && auth.errorCode !== '' ? auth.errorCode : undefined;
    const head = `${who} was refused${code ? ` (${code})` : ''}: ${description || 'no reason given'}`;
    const endpoint = auth?.errorCode === 'endpoints_resolution_error' || auth?.errorCode === 'network_error';
    return new EntraAuthError(
      scrub(
        endpoint
          ? `${who} failed: ${auth?.errorCode}; the endpoint under authorityHost ${this.config.authorityHost} did not answer (trusted CAs: Node's public ones${this.config.caFile ? ` and caFile ${this.config.caFile}` : ', no caFile set'})`
          : hint
            ? `${head}. ${hint}`
            : head,
        secrets,
      ),
      {
        kind: endpoint ? 'unavailable' : 'refused',
        authority: this.authority,
        ...(code ? { error: code } : {}),
        ...(aadsts ? { aadsts: `AADSTS${aadsts}` } : {}),
        ...(hint ? { hint } : {}),
        ...(known ? { key: known.key(this.config) } : {}),
      },
      { cause: scrubbedCause(err, secrets) },
    );
  }
}

/** When MSAL will stop replaying this failure: Retry-After in whole seconds, else its default. */
function msalThrottleEnd(failed: { retryAfter?: string }): number {
  const seconds = failed.retryAfter === undefined ? Number.NaN : Number.parseInt(failed.retryAfter, 10);
  const ms = Number.isNaN(seconds) || seconds <= 0 ? MSAL_DEFAULT_THROTTLE_MS : seconds * 1000;
  return Date.now() + Math.min(ms, MSAL_MAX_THROTTLE_MS);
}

/** The cause without anything secret in its message (MSAL's never has; this keeps it so). */
function scrubbedCause(err: unknown, secrets: string[]): Error {
  const message = err instanceof Error ? err.message : String(err);
  const out = new Error(scrub(message, secrets));
  out.name = err instanceof Error ? err.name : 'Error';
  return out;
}

const secretKey = (c: EntraSourceConfig): string =>
  c.credential.kind === 'secret' ? 'source.clientSecret' : 'source.certificateFile';

/** What the common AADSTS codes mean for this config. */
const AADSTS_HINTS: Readonly<
  Record<string, { hint: (c: EntraSourceConfig) => string; key: (c: EntraSourceConfig) => string }>
> = {
  '7000215': {
    hint: () =>
      "The client secret is wrong: use the secret's Value (not its Secret ID) from Certificates & secrets of the app registration, in clientSecret or clientSecretFile",
    key: secretKey,
  },
  '7000222': {
    hint: () => 'The client secret has expired: create a new one on the app registration',
    key: secretKey,
  },
  '700016': {
    hint: (c) =>
      `No application with clientId ${c.clientId} exists in tenant ${c.tenantId}: check clientId, tenantId and cloud (the app must be registered in this tenant, or consented to by it)`,
    key: () => 'source.clientId',
  },
  '90002': {
    hint: (c) => `Tenant ${c.tenantId} does not exist in the ${c.cloud} cloud: check tenantId and cloud`,
    key: () => 'source.tenantId',
  },
  '700027': {
    hint: () =>
      'The client assertion was refused: certificateFile is not a certificate registered on the app (compare its SHA-256 thumbprint with Certificates & secrets), or it has expired there',
    key: () => 'source.certificateFile',
  },
  '700024': {
    hint: () => "The client assertion is outside its validity period: check this machine's clock",
    key: () => 'source.certificateFile',
  },
  '7000112': {
    hint: () => 'The application is disabled in the tenant',
    key: () => 'source.clientId',
  },
  '500011': {
    hint: (c) => `The resource ${c.graphBaseUrl} is not known in this tenant: check graphBaseUrl and cloud`,
    key: () => 'source.graphBaseUrl',
  },
};

/** The key of one app registration's sign-in state: everything that changes how it signs in. */
function signInKey(c: EntraSourceConfig): string {
  const cred = c.credential;
  return createHash('sha256')
    .update(
      JSON.stringify([
        c.authorityHost,
        c.tenantId,
        c.clientId,
        c.graphBaseUrl,
        c.ca ?? '',
        c.timeoutMs,
        cred.kind,
        cred.kind === 'secret'
          ? cred.clientSecret
          : [cred.certificate, cred.privateKey, cred.certificateChain ?? ''],
      ]),
    )
    .digest('hex');
}

const signIns = new Map<string, AppSignIn>();

/**
 * Tokens for this config's app. Every provider of the same app (tenant, client, credential, hosts)
 * in this process shares one ConfidentialClientApplication and so one token cache.
 */
export function entraTokenProvider(config: EntraSourceConfig, logger: Logger = silentLogger): TokenProvider {
  let app: AppSignIn | undefined;
  const shared = (): AppSignIn => {
    if (app) return app;
    const key = signInKey(config);
    app = signIns.get(key);
    if (!app) {
      // Throws EntraAuthError for a certificate that cannot be used: at the first token(), so a
      // validate run reports it as a check.
      app = new AppSignIn(config, logger);
      signIns.set(key, app);
    }
    return app;
  };
  return {
    token(opts = {}) {
      try {
        return shared().token(opts.forceRefresh === true, opts.signal);
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

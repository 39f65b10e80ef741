// What the loader hands the rest of idsync: validated, defaults applied, relative paths resolved
// against the config file's directory, and `*File` secrets read. Nothing downstream reads files
// named in the config or looks at the environment again.
import type { DevinClientOptions } from '../devin/client.js';
import type { NotifySettings } from '../notify/settings.js';
import type { SyncPolicy } from '../reconcile/policy.js';
import type { ConfigPath } from './paths.js';
import type { ConfigOutput } from './schema.js';
import type { Position } from './yamlSource.js';

/** The subset of DevinClientOptions the config sets, all present. */
export type DevinSettings = Required<
  Pick<
    DevinClientOptions,
    | 'baseUrl'
    | 'apiPrefix'
    | 'token'
    | 'maxRequestsPerSecond'
    | 'adaptiveRate'
    | 'maxConcurrency'
    | 'timeoutMs'
  >
>;

export interface FileSourceConfig {
  type: 'file';
  /** Absolute path of the JSON directory snapshot. */
  path: string;
}

export interface LdapSourceConfig {
  type: 'ldap';
  url: string;
  bindDN: string;
  /** From bindPassword or bindPasswordFile. */
  bindPassword: string;
  profile: 'openldap' | 'activedirectory';
  userBase: string;
  groupBase: string;
  userFilter?: string;
  groupFilter?: string;
  /** Absolute path of the CA bundle, and its PEM text. */
  caFile?: string;
  ca?: string;
  startTLS?: boolean;
  insecureSkipVerify: boolean;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  pageSize?: number;
  rangeSize?: number;
  emailAttribute?: string;
  emailFallbackAttribute?: string;
  /** Overrides of the profile's defaults (src/directory/ldap/profiles.ts). */
  disabledFilter?: string;
  idAttribute?: string;
  nameAttribute?: string;
  groupNameAttribute?: string;
  /** The old one-attribute form of memberAttributes; the schema allows one of the two. */
  memberAttribute?: string;
  memberAttributes?: string[];
  /** Member attributes whose values are user names (default [memberUid]). */
  uidMemberAttributes?: string[];
  /** User attribute those names are matched against (default uid). */
  uidAttribute?: string;
  /** Where member lists come from (default member: the groups' member attributes). */
  membership?: 'member' | 'memberOf';
  extraUserAttributes?: string[];
  /** The daemon's change watch (src/daemon/watermark.ts); absent: off. */
  watch?: LdapWatchSettings;
}

export interface LdapWatchSettings {
  enabled: boolean;
  intervalMs: number;
  debounceMs: number;
  /** Daemon: a full LDAP read at least this often (a duration, default 1h); runs between read what changed. */
  fullReadEvery?: string;
  /** Absent or auto: the directory's change push when offered (src/directory/ldap/notify.ts); off: poll only. */
  push?: 'auto' | 'off';
}

export type EntraCredential =
  | { kind: 'secret'; clientSecret: string }
  | {
      kind: 'certificate';
      /** Absolute paths and PEM text. */
      certificateFile: string;
      certificate: string;
      privateKeyFile: string;
      privateKey: string;
      /** Sent as x5c with each client assertion (subject name and issuer authentication). */
      certificateChainFile?: string;
      certificateChain?: string;
    };

export interface EntraSourceConfig {
  type: 'entra';
  tenantId: string;
  clientId: string;
  credential: EntraCredential;
  /** Picks the default authorityHost and graphBaseUrl. */
  cloud: 'public' | 'usgov' | 'china';
  /** Origins without a trailing slash; explicit values override the cloud's. */
  authorityHost: string;
  graphBaseUrl: string;
  /** Extra CA (absolute path and PEM) for TLS to the authority and Graph. */
  caFile?: string;
  ca?: string;
  /** Default mail. */
  emailAttribute: string;
  /** Default userPrincipalName; a guest UPN (#EXT#) is never an email. */
  emailFallbackAttribute?: string;
  extraUserAttributes?: string[];
  /** $top of listings, 1–999 (default 999). */
  pageSize: number;
  /** One request (default 30000). */
  timeoutMs: number;
  /** Time one request may spend waiting on Retry-After and backoff (default 120000). */
  retryBudgetMs: number;
  /** Seconds; daemon: a full (non-delta) read at least this often (default 86400). */
  fullReadEvery: number;
  notifications?: { publicUrl: string; lifetimeMinutes: number; renewBeforeMinutes: number };
}

export type SourceConfig = FileSourceConfig | LdapSourceConfig | EntraSourceConfig;

export interface ServerSettings {
  host: string;
  port: number;
  /** Absent: POST /webhooks/resync is disabled. */
  webhookSecret?: string;
  /** Absent: /api and /admin are disabled. */
  adminToken?: string;
  /** Absent: POST /webhooks/graph is disabled. */
  graphClientState?: string;
  /** A second listener for /healthz, /readyz and /metrics only. */
  probePort?: number;
  /** Unset fields take DEFAULT_HTTP_LIMITS (src/server/limits.ts). */
  limits?: Partial<HttpLimits>;
  /** Where people reach the daemon, without a trailing slash: `https://idsync.corp.example`. */
  publicUrl?: string;
  /** OIDC sign-in of the console; absent: the console uses Basic with the admin token (if any). */
  console?: ConsoleSettings;
}

/** server.console with its `*File` secrets read and its defaults resolved. */
export interface ConsoleSettings {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE only). */
  clientSecret?: string;
  /** server.console.redirectUrl, or publicUrl + /console/callback. */
  redirectUrl: string;
  scopes: string[];
  approvers: {
    /** Lower-cased. */
    emails: string[];
    groups: string[];
    groupsClaim: string;
  };
  sessionTtlMs: number;
  /** The text of sessionSecretFile (at least 32 bytes). */
  sessionSecret: string;
}

/** The HTTP server's timeouts (ms) and caps. */
export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connectionTimeoutMs: number;
  maxConnections: number;
  maxRequestsPerSocket: number;
}

/** The daemon's Redis (config `redis`), with its `*File` secrets read. Exactly one of url and sentinels. */
export interface RedisSettings {
  url?: string;
  sentinels?: Array<{ host: string; port: number }>;
  masterName?: string;
  username?: string;
  /** From passwordFile. */
  password?: string;
  /** From sentinelPasswordFile. */
  sentinelPassword?: string;
  /** rediss://, or tls: true with sentinels. */
  tls: boolean;
  caFile?: string;
  /** The PEM text of caFile. */
  ca?: string;
  keepRuns: number;
}

export interface LoadedConfig {
  /** Absolute path of the config file. */
  file: string;
  /** Its directory: the base of every relative path in it. */
  dir: string;
  /** The validated document, defaults applied, paths as written, `*File` keys unread. */
  raw: ConfigOutput;
  policy: SyncPolicy;
  devin: DevinSettings;
  source: SourceConfig;
  /** Absolute path of the ownership ledger file. */
  statePath: string;
  schedule?: { every: string; everyMs: number };
  /** The daemon's incremental runs against its cached copy of Devin (devin.incremental). */
  devinCopy: { incremental: boolean; fullReconcileEveryMs: number };
  mode: 'review' | 'auto';
  redis?: RedisSettings;
  server?: ServerSettings;
  /** `notify:` (src/notify), with server.publicUrl copied in. */
  notify?: NotifySettings;
  /** Line and column of a key path in the file, for problems found after loading (e.g. unknown org). */
  locate(path: ConfigPath): Position;
}

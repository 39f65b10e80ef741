// The config file's shape (docs/design.md §4) as one zod schema: the single source for validation, for the
// types the loader returns and, through `idsync schema`, for the JSON Schema editors use.
//
// Conventions that the error formatter (issues.ts) relies on:
// - every object is strict, so a typo is an error and not a silently ignored key;
// - a schema-level `error` is the *expected* half of a message ("an ldap:// or ldaps:// URL"),
//   the loader adds what was found;
// - custom issues (the cross-field rules) carry a complete message;
// - cross-field rules run with `when: always` so they are reported together with field errors
//   instead of only after every field is fixed. They therefore see unvalidated input: `unknown`.
import { z } from 'zod';
import { DnSyntaxError, parseDn } from '../directory/dn.js';
import { checkFilter, describeFilterProblem } from '../directory/ldap/filter.js';
import { DEFAULT_GUARDRAILS } from '../reconcile/policy.js';
import { checkNotifyNeedsPublicUrl, NotifySchema } from './notifySchema.js';

const always = { when: () => true };

type Ctx = z.RefinementCtx;

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

const present = (o: Record<string, unknown>, key: string): boolean => o[key] !== undefined;

/** Exactly one of a value and its `*File` twin, e.g. `token` | `tokenFile`. */
function exactlyOne(o: Record<string, unknown>, ctx: Ctx, keys: readonly string[], optional = false): void {
  const given = keys.filter((k) => present(o, k));
  const names = keys.join(' or ');
  if (given.length === 0 && !optional) {
    ctx.addIssue({ code: 'custom', message: `expected exactly one of ${names}, found neither`, path: [] });
  } else if (given.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `expected ${optional ? 'at most' : 'exactly'} one of ${names}, found ${given.length === 2 ? 'both ' : ''}${given.join(' and ')}`,
      path: [given[given.length - 1] ?? keys[0] ?? ''],
    });
  }
}

const nonEmpty = z.string().min(1);
const filePath = nonEmpty.describe(
  "Path of a file to read; a relative path resolves against this config file's directory. One trailing newline is trimmed.",
);
const secretHint = (what: string): string => `${what}. Prefer the *File form or \${ENV} substitution.`;
const secret = (what: string) => nonEmpty.describe(secretHint(what));

// ---- durations ------------------------------------------------------------------------------------

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const MIN_SCHEDULE_MS = 60_000;
const MAX_SCHEDULE_MS = 365 * 24 * 3_600_000;

/** Node's timers hold a signed 32-bit number of milliseconds: above it they fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;
export const TIMER_MS_EXPECTED =
  'a number <= 2147483647 (about 24.8 days: a longer timer overflows and fires at once)';

/** `30s`, `15m`, `1h`, `1d`, or a combination in that order (`1h30m`); undefined if not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m || text === '') return undefined;
  const [, d, h, min, s] = m;
  return ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(s ?? 0) * 1000;
}

/** A duration between `min` and `max` ms; `between` ends the message ("between runs"). */
const duration = (between: string, minMs = MIN_SCHEDULE_MS, maxMs = MAX_SCHEDULE_MS) =>
  z
    .string()
    .regex(/^(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/, {
      error: 'a duration such as 30m, 1h, 1h30m or 1d (units d, h, m, s)',
    })
    .superRefine((v, ctx) => {
      const ms = parseDuration(v);
      if (ms !== undefined && ms < minMs) {
        ctx.addIssue({
          code: 'custom',
          message: `expected at least ${formatDuration(minMs)} ${between}, found ${JSON.stringify(v)}`,
        });
      } else if (ms !== undefined && ms > maxMs) {
        ctx.addIssue({
          code: 'custom',
          message: `expected at most ${formatDuration(maxMs)} ${between}, found ${JSON.stringify(v)}`,
        });
      }
    });

/** `1m`, `365d`, `1h30m`: the inverse of parseDuration for whole seconds. */
function formatDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join('') || '0s';
}

const Duration = duration('between runs');

// ---- source ---------------------------------------------------------------------------------------

const FileSource = z
  .strictObject({
    type: z.literal('file'),
    path: filePath.describe(
      "The JSON directory snapshot. A relative path resolves against this config file's directory.",
    ),
  })
  .describe('A JSON directory snapshot: the demo, tests, or an export from another tool.');

const positiveInt = z.int().min(1);
/** A timeout: Node's timers overflow above 2^31-1 ms. */
const timerMs = positiveInt.max(MAX_TIMER_MS, { error: TIMER_MS_EXPECTED });

// Filters and base DNs are checked here, so a typo is reported at its line with the column inside
// the filter, instead of as a server error half-way through a read.
const ldapFilter = (what: string) =>
  nonEmpty
    .superRefine((v, ctx) => {
      const problem = checkFilter(v);
      if (problem) ctx.addIssue({ code: 'custom', message: describeFilterProblem(problem) });
    })
    .describe(what);

const ldapDn = (what: string) =>
  nonEmpty
    .superRefine((v, ctx) => {
      try {
        parseDn(v);
      } catch (err) {
        if (!(err instanceof DnSyntaxError)) throw err;
        ctx.addIssue({
          code: 'custom',
          message: `expected a DN such as ou=people,dc=corp,dc=example, found ${JSON.stringify(v)}: ${err.reason} at column ${err.column}`,
        });
      }
    })
    .describe(what);

const ldapAttribute = (what: string) =>
  z
    .string()
    .regex(/^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$/, {
      error: 'an LDAP attribute name such as mail or objectGUID',
    })
    .describe(what);

/** Polling an LDAP source for changes (src/daemon/watermark.ts); docs/watch.md. */
const LdapWatch = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Poll the watermark (default true once watch is set; false turns it off and keeps the block).',
      ),
    intervalMs: z
      .int()
      .min(100, { error: 'at least 100 (ms between two polls)' })
      .max(3_600_000, { error: 'at most 3600000 (an hour)' })
      .default(5000)
      .describe(
        'Milliseconds between two polls of the watermark (default 5000). An idle poll is one small read: the rootDSE on Active Directory, the suffix entry on OpenLDAP with syncprov.',
      ),
    debounceMs: z
      .int()
      .min(0)
      .max(600_000, { error: 'at most 600000 (10 minutes)' })
      .default(1000)
      .describe(
        'After the watermark moved, poll again after this many milliseconds and ask for the run only once it has stopped moving (default 1000), so a burst of changes gives one run; never waits more than 10 times this (or one interval) in all. At least 1500 when the server offers only modifyTimestamp.',
      ),
    fullReadEvery: duration('between full LDAP reads')
      .default('1h')
      .describe(
        "Daemon: runs read only the entries changed since the last read (uSNChanged on Active Directory, entryCSN under syncprov's contextCSN on OpenLDAP) and merge them into the last snapshot, kept in Redis; a full read at least this often, since a changed read can miss a deletion on OpenLDAP: 30m, 1h, 1d (minimum 1m; default 1h). docs/watch.md.",
      ),
    push: z
      .enum(['auto', 'off'], { error: 'auto or off' })
      .optional()
      .describe(
        'auto (the default): when the server offers it, the directory tells the poller of a change and it polls at once (OpenLDAP syncprov: an RFC 4533 refreshAndPersist search; Active Directory and Samba: the change notification control), on a connection of its own; the poll every intervalMs stays as the safety net. off: poll only. docs/watch.md.',
      ),
  })
  .describe(
    "Daemon (idsync run): poll a cheap change watermark of the directory and run when it moves, for directories that call no webhook: Active Directory's highestCommittedUSN, OpenLDAP's contextCSN (syncprov) or else the newest entryCSN or modifyTimestamp. A different server answering (a DC failover) also reads Devin in full.",
  );

const LdapSource = z
  .strictObject({
    type: z.literal('ldap'),
    url: z
      .url({
        protocol: /^ldaps?$/,
        error: 'an ldap:// or ldaps:// URL such as ldaps://dc1.corp.example:636',
      })
      .describe('ldaps://host:636, or ldap://host:389 (use startTLS: true to encrypt it).'),
    bindDN: nonEmpty.describe('DN of the service account idsync binds as.'),
    bindPassword: secret('Password of bindDN').optional(),
    bindPasswordFile: filePath.describe('File holding the password of bindDN.').optional(),
    profile: z
      .enum(['openldap', 'activedirectory'])
      .describe('Schema conventions: openldap (inetOrgPerson, entryUUID) or activedirectory (objectGUID).'),
    userBase: ldapDn('Base DN under which users are searched.'),
    groupBase: ldapDn('Base DN under which groups are searched.'),
    userFilter: ldapFilter('LDAP filter for users; the profile supplies a default.').optional(),
    groupFilter: ldapFilter('LDAP filter for groups; the profile supplies a default.').optional(),
    disabledFilter: ldapFilter(
      'Users matching this filter (within userFilter) are read as disabled, e.g. (employeeType=disabled). Replaces the activedirectory userAccountControl rule.',
    ).optional(),
    caFile: filePath.describe('PEM CA bundle the server certificate is verified against.').optional(),
    startTLS: z.boolean().describe('Upgrade an ldap:// connection with StartTLS.').optional(),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe('Do not verify the server certificate. For lab use only.'),
    connectTimeoutMs: timerMs.describe('Connection timeout in milliseconds (default 10000).').optional(),
    timeoutMs: timerMs
      .describe(
        'Timeout of one LDAP operation (a bind, one page, one range slice) in milliseconds (default 60000); the server-side search time limit is set just under it.',
      )
      .optional(),
    pageSize: positiveInt
      .describe(
        'Paged-search page size (default 500 for openldap, 1000 for activedirectory, which caps it at 1000).',
      )
      .optional(),
    rangeSize: positiveInt
      .describe(
        'Request group member lists in slices of this many values (range retrieval). Unset: the server decides (AD slices at 1500).',
      )
      .optional(),
    emailAttribute: ldapAttribute('Attribute holding the email address (default mail).').optional(),
    emailFallbackAttribute: ldapAttribute(
      'Used when emailAttribute is empty, e.g. userPrincipalName (the activedirectory default).',
    ).optional(),
    idAttribute: ldapAttribute(
      'Stable id of users and groups (default entryUUID, or objectGUID for activedirectory).',
    ).optional(),
    nameAttribute: ldapAttribute('User display name (default displayName; cn when it is empty).').optional(),
    groupNameAttribute: ldapAttribute('Group name that mappings match (default cn).').optional(),
    memberAttribute: ldapAttribute(
      'One group member attribute; the older form of memberAttributes, which replaces the profile list with this one attribute.',
    ).optional(),
    memberAttributes: z
      .array(ldapAttribute('An attribute name.'))
      .min(1, { error: 'at least one attribute name' })
      .describe(
        'Group attributes listing members, all read (default [member, uniqueMember, memberUid] for openldap, [member] for activedirectory). Values are DNs, except in uidMemberAttributes.',
      )
      .optional(),
    uidMemberAttributes: z
      .array(ldapAttribute('An attribute name.'))
      .describe(
        'Member attributes whose values are user names, matched against uidAttribute, not DNs (default [memberUid], RFC 2307 posixGroup).',
      )
      .optional(),
    uidAttribute: ldapAttribute(
      'User attribute that the user names in uidMemberAttributes are matched against (default uid).',
    ).optional(),
    membership: z
      .enum(['member', 'memberOf'])
      .describe(
        "Where member lists come from: member (default) reads the groups' member attributes; memberOf reads memberOf on users and groups, for directories whose ACLs hide member lists.",
      )
      .optional(),
    extraUserAttributes: z
      .array(ldapAttribute('An attribute name.'))
      .describe("More user attributes to read into each user's attrs (e.g. department, title).")
      .optional(),
    watch: LdapWatch.optional(),
  })
  .meta({
    description: 'An LDAP directory: OpenLDAP or Active Directory.',
    oneOf: [{ required: ['bindPassword'] }, { required: ['bindPasswordFile'] }],
  });

const https = (what: string, example: string) =>
  z.url({ protocol: /^https$/, error: `an https:// URL such as ${example}` }).describe(what);

/** Scheme, host and port only: the authority and Graph paths are built on it. */
const origin = (what: string, example: string) =>
  https(what, example).superRefine((v, ctx) => {
    if (!URL.canParse(v)) return;
    const url = new URL(v);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
      ctx.addIssue({
        code: 'custom',
        message: `expected a URL without a path, query or fragment such as ${example}, found ${JSON.stringify(v)}`,
      });
    }
    if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'expected a URL without user:password@' });
    }
  });

/** The national clouds by name: where to sign in and where Graph answers. */
export const ENTRA_CLOUDS = {
  public: { authorityHost: 'https://login.microsoftonline.com', graphBaseUrl: 'https://graph.microsoft.com' },
  usgov: { authorityHost: 'https://login.microsoftonline.us', graphBaseUrl: 'https://graph.microsoft.us' },
  china: {
    authorityHost: 'https://login.chinacloudapi.cn',
    graphBaseUrl: 'https://microsoftgraph.chinacloudapi.cn',
  },
} as const satisfies Record<string, { authorityHost: string; graphBaseUrl: string }>;

/** A Graph property name as $select takes it (mail, jobTitle, extension_<appId>_costCenter). */
const graphProperty = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/, {
      error: 'a Microsoft Graph user property name such as mail, jobTitle or extension_<appId>_name',
    })
    .describe(what);

/** Graph keeps a user or group subscription alive at most this long (41760 minutes, just under 29 days). */
export const MAX_SUBSCRIPTION_MINUTES = 41_760;

/** 127.0.0.0/8, ::1 and localhost: nothing outside this machine can see plain HTTP to them. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** An http(s) base URL people or services reach idsync at: https, or http on loopback only. */
const publicBaseUrl = z
  .url({
    protocol: /^https?$/,
    error: 'an https:// URL such as https://idsync.corp.example',
  })
  .superRefine((v, ctx) => {
    if (!URL.canParse(v)) return;
    const url = new URL(v);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected an https:// URL (http:// only for a loopback host: 127.0.0.0/8, ::1, localhost), found ${JSON.stringify(v)}`,
      });
    }
    if (url.search !== '' || url.hash !== '' || url.username || url.password) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a URL without a query, fragment or user:password@, found ${JSON.stringify(v)}`,
      });
    }
  });

const PublicUrl = publicBaseUrl.describe(
  "The daemon's base URL as Microsoft Graph reaches it (the chart's ingress), e.g. https://idsync.corp.example; change and lifecycle notifications are posted to /webhooks/graph under it. Graph delivers only to https; http:// is accepted for a loopback host (127.0.0.0/8, ::1, localhost) because no other machine can reach or watch such an address: it is for a local simulator or a TLS-terminating sidecar on the same host.",
);

const NotificationsSchema = z
  .strictObject({
    publicUrl: PublicUrl,
    lifetimeMinutes: z
      .int()
      .min(1)
      .max(MAX_SUBSCRIPTION_MINUTES, {
        error: `at most ${MAX_SUBSCRIPTION_MINUTES} (Graph's limit for users and groups, just under 29 days)`,
      })
      .default(4320)
      .describe(
        `How long each subscription is asked to live, in minutes (default 4320, 3 days; at most ${MAX_SUBSCRIPTION_MINUTES}).`,
      ),
    renewBeforeMinutes: z
      .int()
      .min(1)
      .max(MAX_SUBSCRIPTION_MINUTES - 1)
      .default(1440)
      .describe(
        'Renew a subscription this many minutes before it expires (default 1440); must be below lifetimeMinutes.',
      ),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    const lifetime = typeof o.lifetimeMinutes === 'number' ? o.lifetimeMinutes : 4320;
    const renew = typeof o.renewBeforeMinutes === 'number' ? o.renewBeforeMinutes : 1440;
    if (renew >= lifetime) {
      // Defaults are applied before this runs, so the message names both defaults.
      ctx.addIssue({
        code: 'custom',
        message: `expected renewBeforeMinutes (default 1440) below lifetimeMinutes (default 4320), found ${renew} with a lifetime of ${lifetime}: a subscription would be renewed as soon as it is made`,
        path: ['renewBeforeMinutes'],
      });
    }
  }, always)
  .describe(
    'Microsoft Graph change notifications: the daemon subscribes to users and groups and runs when they change.',
  );

const EntraSource = z
  .strictObject({
    type: z.literal('entra'),
    tenantId: z
      .guid({ error: 'a GUID such as 00000000-0000-0000-0000-000000000000' })
      .describe('Directory (tenant) id.'),
    clientId: z
      .guid({ error: 'a GUID such as 00000000-0000-0000-0000-000000000000' })
      .describe('Application (client) id of the app registration.'),
    clientSecret: secret('Client secret of the app registration').optional(),
    clientSecretFile: filePath.describe('File holding the client secret.').optional(),
    certificateFile: filePath
      .describe('PEM certificate registered on the app (use with privateKeyFile).')
      .optional(),
    privateKeyFile: filePath
      .describe(
        'PEM private key of certificateFile: PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 (BEGIN RSA PRIVATE KEY).',
      )
      .optional(),
    certificateChainFile: filePath
      .describe(
        'PEM certificate chain sent as x5c with each client assertion (subject name and issuer authentication needs it). Unset: no x5c.',
      )
      .optional(),
    cloud: z
      .enum(['public', 'usgov', 'china'])
      .default('public')
      .describe(
        'Which Microsoft cloud: public (login.microsoftonline.com, graph.microsoft.com), usgov (login.microsoftonline.us, graph.microsoft.us) or china (login.chinacloudapi.cn, microsoftgraph.chinacloudapi.cn). authorityHost and graphBaseUrl override it.',
      ),
    authorityHost: origin(
      "Microsoft identity platform host (default: the cloud's).",
      'https://login.microsoftonline.com',
    ).optional(),
    graphBaseUrl: origin(
      "Microsoft Graph base URL (default: the cloud's).",
      'https://graph.microsoft.com',
    ).optional(),
    caFile: filePath
      .describe(
        "PEM CA bundle the sign-in and Graph certificates are verified against, on top of Node's public CAs (a TLS-inspecting proxy, a test server).",
      )
      .optional(),
    emailAttribute: graphProperty('User property holding the email address (default mail).').default('mail'),
    emailFallbackAttribute: graphProperty(
      'Used when emailAttribute is empty (default userPrincipalName). A guest UPN (#EXT#) is never taken as an address.',
    ).default('userPrincipalName'),
    extraUserAttributes: z
      .array(graphProperty('A property name.'))
      .describe("More user properties to read into each user's attrs (e.g. department, jobTitle).")
      .optional(),
    pageSize: z
      .int()
      .min(1)
      .max(999, { error: 'at most 999 (the largest page Graph returns)' })
      .default(999)
      .describe('$top of the user and member listings (default 999, the most Graph allows).'),
    timeoutMs: timerMs.default(30_000).describe('Timeout of one Graph or sign-in request, in milliseconds.'),
    retryBudgetMs: timerMs
      .default(120_000)
      .describe(
        'How long one request may spend waiting for Retry-After and backoff on 429, 503 and 504 before it counts as failed (the read is then incomplete), in milliseconds.',
      ),
    fullReadEvery: duration('between full reads')
      .default('1d')
      .describe(
        'Daemon: a full read (not a delta) at least this often, because Graph does not replay missed notifications: 12h, 1d (minimum 1m, maximum 365d; default 1d).',
      ),
    notifications: NotificationsSchema.optional(),
  })
  .meta({
    description: 'Microsoft Entra ID, read through Microsoft Graph with client credentials.',
    oneOf: [
      { required: ['clientSecret'] },
      { required: ['clientSecretFile'] },
      { required: ['certificateFile', 'privateKeyFile'] },
    ],
  });

function checkLdap(value: unknown, ctx: Ctx): void {
  const o = rec(value);
  if (!o) return;
  exactlyOne(o, ctx, ['bindPassword', 'bindPasswordFile']);
  // Two spellings of one setting: which one wins would be a guess.
  exactlyOne(o, ctx, ['memberAttribute', 'memberAttributes'], true);
  if (o.startTLS === true && typeof o.url === 'string' && /^ldaps:/i.test(o.url)) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected startTLS only with an ldap:// URL, found an ldaps:// URL (already TLS)',
      path: ['startTLS'],
    });
  }
}

function checkEntra(value: unknown, ctx: Ctx): void {
  const o = rec(value);
  if (!o) return;
  if (present(o, 'certificateChainFile') && !present(o, 'certificateFile')) {
    ctx.addIssue({
      code: 'custom',
      message:
        'expected certificateChainFile only with certificateFile and privateKeyFile (it is the x5c of certificate authentication)',
      path: ['certificateChainFile'],
    });
  }
  const kinds = [
    present(o, 'clientSecret') ? 'clientSecret' : undefined,
    present(o, 'clientSecretFile') ? 'clientSecretFile' : undefined,
    present(o, 'certificateFile') || present(o, 'privateKeyFile') ? 'certificateFile' : undefined,
  ].filter((k): k is string => k !== undefined);
  const expected =
    'exactly one credential: clientSecret, clientSecretFile, or certificateFile with privateKeyFile';
  if (kinds.length === 0) {
    ctx.addIssue({ code: 'custom', message: `expected ${expected}, found none`, path: [] });
  } else if (kinds.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `expected ${expected}, found ${kinds.join(' and ')}`,
      path: [kinds[kinds.length - 1] ?? 'clientSecret'],
    });
  }
  for (const [has, needs] of [
    ['certificateFile', 'privateKeyFile'],
    ['privateKeyFile', 'certificateFile'],
  ] as const) {
    if (present(o, has) && !present(o, needs)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${needs} together with ${has}, found none`,
        path: [needs],
      });
    }
  }
}

export const SourceSchema = z
  .discriminatedUnion('type', [
    FileSource,
    LdapSource.superRefine(checkLdap, always),
    EntraSource.superRefine(checkEntra, always),
  ])
  .describe('Where the directory is read from; `type` selects the connector.');

// ---- devin ----------------------------------------------------------------------------------------

function noCredentialsInUrl(value: unknown, ctx: Ctx): void {
  if (typeof value !== 'string' || !URL.canParse(value)) return;
  const url = new URL(value);
  if (url.username || url.password) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a URL without user:password@ (use token or tokenFile)',
    });
  }
}

export const DevinSchema = z
  .strictObject({
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'an http(s) URL such as https://api.devin.ai' })
      .superRefine(noCredentialsInUrl)
      .default('https://api.devin.ai')
      .describe('Devin API base URL; a dedicated deployment has its own domain.'),
    apiPrefix: z.enum(['/v3', '/v3beta1']).default('/v3').describe('API version prefix.'),
    token: z
      .string()
      // It travels in an HTTP header, which refuses anything else (at the first request, today).
      .regex(/^[\x21-\x7e]+$/, { error: 'a non-empty token of printable ASCII without white space' })
      .describe(secretHint('Service-user token (cog_…)'))
      .optional(),
    tokenFile: filePath.describe('File holding the service-user token.').optional(),
    maxRequestsPerSecond: z
      .number()
      .min(0)
      .superRefine((v, ctx) => {
        // Below 1 the client's bucket never holds a whole request: every call would wait forever.
        if (v > 0 && v < 1) {
          ctx.addIssue({ code: 'custom', message: `expected 0 (no limit) or a number >= 1, found ${v}` });
        }
      })
      .default(10)
      .describe(
        'Client-side request budget, requests per second: the ceiling the adaptive rate never exceeds (or the fixed rate with adaptiveRate false); 0 = unlimited and nothing adapts, else at least 1.',
      ),
    adaptiveRate: z
      .boolean()
      .default(true)
      .describe(
        'Adapt the rate below maxRequestsPerSecond as TCP does (docs/rate-limits.md): start at 10/s, grow while requests go through, cut on a 429 and pause every caller for its Retry-After; the daemon shares the rate through Redis with every replica. false = always maxRequestsPerSecond.',
      ),
    maxConcurrency: z.int().min(1).max(64).default(4).describe('Requests in flight at once.'),
    timeoutMs: timerMs.default(30_000).describe('Timeout of one request attempt, in milliseconds.'),
    incremental: z
      .boolean()
      .default(true)
      .describe(
        "Daemon: plan a triggered run against the cached copy of Devin (patched by idsync's own writes), reading again only the users and groups the change touches; false = read all of Devin every run.",
      ),
    fullReconcileEvery: duration('between full reconciles')
      .default('1h')
      .describe(
        'Daemon: read all of Devin at least this often (changes made in Devin by others are seen then); a copy older than this is never planned against: 30m, 1h, 6h (minimum 1m; default 1h).',
      ),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (o) exactlyOne(o, ctx, ['token', 'tokenFile']);
  }, always)
  .meta({
    description: 'The Devin Enterprise API and the service-user token idsync acts as.',
    oneOf: [{ required: ['token'] }, { required: ['tokenFile'] }],
  });

// ---- mappings -------------------------------------------------------------------------------------

export const PLACEHOLDERS = ['name', 'id', 'dn'] as const;

const GroupSelectorSchema = z
  .strictObject({
    name: nonEmpty.describe('Exact group name.').optional(),
    dn: nonEmpty.describe('LDAP DN of the group.').optional(),
    id: nonEmpty.describe('Stable group id (entryUUID, objectGUID, Entra object id).').optional(),
    pattern: nonEmpty.describe('Glob over group names: * any run, ? one character.').optional(),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined);
    if (keys.length === 1) return;
    ctx.addIssue({
      code: 'custom',
      message:
        keys.length === 0
          ? 'expected exactly one of name, dn, id or pattern, found none'
          : `expected exactly one of name, dn, id or pattern, found ${keys.join(' and ')}`,
    });
  }, always)
  .meta({
    description: 'Which directory groups this mapping selects. Exactly one key.',
    minProperties: 1,
    maxProperties: 1,
  });

const IdpGroupName = nonEmpty
  .superRefine((v, ctx) => {
    const bad = [...v.matchAll(/\{([^{}]*)\}/g)]
      .map((m) => m[1] ?? '')
      .filter((p) => !(PLACEHOLDERS as readonly string[]).includes(p));
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `expected only the placeholders {name}, {id} and {dn}, found ${bad.map((p) => `{${p}}`).join(', ')} in ${JSON.stringify(v)}`,
      });
    }
  })
  .default('{name}')
  .describe('Name the group is registered under in Devin. Placeholders: {name}, {id}, {dn}.');

const OrgGrantSchema = z
  .strictObject({
    org: nonEmpty.describe('Organization name (case-insensitive) or id.'),
    role: nonEmpty.describe('Organization role name (case-insensitive) or id.'),
  })
  .describe('An organization role the group grants.');

export const MappingSchema = z
  .strictObject({
    group: GroupSelectorSchema,
    idpGroupName: IdpGroupName,
    enterpriseRole: nonEmpty
      .describe('Enterprise role name or id. Required when orgs is non-empty or provisionUsers is true.')
      .optional(),
    orgs: z.array(OrgGrantSchema).default([]).describe('Organization roles the group grants.'),
    provisionUsers: z
      .boolean()
      .default(false)
      .describe("Also give the group's members direct access (invite, org membership)."),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    // Devin refuses an org mapping for a group without an enterprise mapping, and an invite
    // without an enterprise role: catch both here rather than half-way through an apply.
    const why =
      o.enterpriseRole !== undefined
        ? undefined
        : Array.isArray(o.orgs) && o.orgs.length > 0
          ? 'orgs is not empty (Devin needs an enterprise role mapping before org role mappings)'
          : o.provisionUsers === true
            ? 'provisionUsers is true (invites carry an enterprise role)'
            : undefined;
    if (why !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected enterpriseRole because ${why}, found none`,
        path: ['enterpriseRole'],
      });
    }
    if (Array.isArray(o.orgs)) {
      const seen = new Map<string, number>();
      o.orgs.forEach((grant, i) => {
        const org = rec(grant)?.org;
        if (typeof org !== 'string') return;
        const first = seen.get(org);
        if (first === undefined) seen.set(org, i);
        else
          ctx.addIssue({
            code: 'custom',
            message: `expected each organization once per mapping, found ${JSON.stringify(org)} again (first at orgs[${first}])`,
            path: ['orgs', i, 'org'],
          });
      });
    }
  }, always)
  .meta({
    description: 'Selects directory groups and says what they grant in Devin.',
    // The same rule for editors, as JSON Schema if/then.
    allOf: [
      {
        if: { required: ['orgs'], properties: { orgs: { minItems: 1 } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword, not a thenable
        then: { required: ['enterpriseRole'] },
      },
      {
        if: { required: ['provisionUsers'], properties: { provisionUsers: { const: true } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword, not a thenable
        then: { required: ['enterpriseRole'] },
      },
    ],
  });

// ---- scope, state, guardrails, runtime --------------------------------------------------------------

const Domain = z.string().regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i, {
  error: 'a domain such as corp.example (no @)',
});

export const ScopeSchema = z
  .strictObject({
    emailDomains: z
      .array(Domain)
      .default([])
      .describe('Users outside these email domains are never touched. Empty = every domain.'),
    protectedUsers: z
      .array(z.email({ error: 'an email address' }))
      .default([])
      .describe('Emails idsync never changes or removes (break-glass accounts).'),
    groupNamePattern: nonEmpty
      .default('*')
      .describe('Registered IdP groups idsync may ever own (glob: * any run, ? one character).'),
    deprovision: z
      .enum(['remove', 'report'])
      .default('report')
      .describe('remove: take access away from users who left scope; report: only list them.'),
    adopt: z
      .enum(['none', 'matching', 'all'])
      .default('matching')
      .describe(
        'none: own only what idsync created; matching: adopt existing objects the mappings want; all: also every in-scope user and in-pattern group.',
      ),
  })
  .default({
    emailDomains: [],
    protectedUsers: [],
    groupNamePattern: '*',
    deprovision: 'report',
    adopt: 'matching',
  })
  .describe('What idsync owns in Devin.');

const StateSchema = z
  .strictObject({
    file: nonEmpty
      .default('.idsync/state.json')
      .describe("Ownership ledger; a relative path resolves against this config file's directory."),
  })
  .default({ file: '.idsync/state.json' })
  .describe('Where the ownership ledger is kept when Redis is not used.');

const count = (what: string) => z.int().min(0).describe(what);
const percent = (what: string) => z.number().min(0).max(100).describe(what);

const GuardrailsSchema = z
  .strictObject({
    maxUserRemovals: count('Most users one run may remove without approval.').default(
      DEFAULT_GUARDRAILS.maxUserRemovals,
    ),
    maxUserRemovalPercent: percent(
      'Most users one run may remove, as a percentage of those idsync owns.',
    ).default(DEFAULT_GUARDRAILS.maxUserRemovalPercent),
    maxGroupRemovals: count('Most IdP groups one run may unregister without approval.').default(
      DEFAULT_GUARDRAILS.maxGroupRemovals,
    ),
    maxSourceShrinkPercent: percent(
      'Block removals when the directory shrank more than this since the last successful run.',
    ).default(DEFAULT_GUARDRAILS.maxSourceShrinkPercent),
    maxGroupShrinkPercent: percent(
      'Block removals when a mapped group lost more than this share of its members (or all of them) since the last successful run.',
    ).default(DEFAULT_GUARDRAILS.maxGroupShrinkPercent),
  })
  .default({ ...DEFAULT_GUARDRAILS })
  .describe('Removal limits above which a plan waits for approval (fail closed).');

const ScheduleSchema = z
  .strictObject({
    every: Duration.describe('Interval between runs: 30m, 1h, 1h30m, 1d (minimum 1m, maximum 365d).'),
  })
  .describe('Periodic runs of the daemon.');

/** `host:port` of a Redis Sentinel; an IPv6 address in brackets. */
const SentinelAddress = z
  .string()
  .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$/, {
    error: 'host:port such as redis-node-0.redis-headless:26379',
  })
  .superRefine((v, ctx) => {
    const port = /:([0-9]{1,5})$/.exec(v)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      ctx.addIssue({ code: 'custom', message: `expected a port between 1 and 65535, found ${port}` });
    }
  })
  .describe('A sentinel, host:port.');

/** The parts of a redis:// URL that the redis block may also give as keys. */
function urlCredentials(value: unknown): { user: boolean; password: boolean; tls: boolean } | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  return { user: url.username !== '', password: url.password !== '', tls: url.protocol === 'rediss:' };
}

function checkRedis(value: unknown, ctx: Ctx): void {
  const o = rec(value);
  if (!o) return;
  exactlyOne(o, ctx, ['url', 'sentinels']);
  const sentinel = present(o, 'sentinels');
  if (sentinel && !present(o, 'masterName')) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected masterName together with sentinels, found none',
      path: ['masterName'],
    });
  }
  for (const key of ['masterName', 'sentinelPasswordFile', 'tls']) {
    if (!sentinel && present(o, key)) {
      const why = key === 'tls' ? ' (with url, rediss:// selects TLS)' : '';
      ctx.addIssue({
        code: 'custom',
        message: `expected ${key} only with sentinels, found url${why}`,
        path: [key],
      });
    }
  }
  const url = urlCredentials(o.url);
  // Two sources of one credential: which one wins would be a guess, and a password in the URL
  // is exactly what passwordFile keeps out of the config.
  if (url?.password && present(o, 'passwordFile')) {
    ctx.addIssue({
      code: 'custom',
      message:
        'expected a URL without a password when passwordFile is set (the password is read from passwordFile)',
      path: ['url'],
    });
  }
  if (url?.user && present(o, 'username')) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected a URL without a user name when username is set',
      path: ['url'],
    });
  }
  if (present(o, 'caFile')) {
    if (url && !url.tls) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected caFile only with a rediss:// URL (TLS), found a redis:// URL',
        path: ['caFile'],
      });
    } else if (sentinel && o.tls !== true) {
      ctx.addIssue({ code: 'custom', message: 'expected caFile only with tls: true', path: ['caFile'] });
    }
  }
}

const RedisSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^rediss?$/, error: 'a redis:// or rediss:// URL such as redis://redis:6379' })
      .describe(
        'Redis connection URL for the queue and the ownership ledger: redis://host:6379/0, or rediss:// for TLS. Exactly one of url or sentinels. Keep the password out of it: use passwordFile.',
      )
      .optional(),
    sentinels: z
      .array(SentinelAddress)
      .min(1, { error: 'at least one sentinel' })
      .describe(
        'Redis Sentinel addresses (host:port): idsync asks them for the master of masterName and follows a failover. Exactly one of url or sentinels.',
      )
      .optional(),
    masterName: nonEmpty
      .describe(
        'With sentinels: the name the sentinels monitor the master under (`sentinel monitor <name> …`).',
      )
      .optional(),
    username: nonEmpty.describe('ACL user (Redis 6 or later); unset: the default user.').optional(),
    passwordFile: filePath
      .describe(
        'File holding the Redis password (of username, or requirepass); with sentinels, of the master and replicas.',
      )
      .optional(),
    sentinelPasswordFile: filePath
      .describe(
        'With sentinels: file holding the password of the sentinels themselves; unset: they have none.',
      )
      .optional(),
    tls: z
      .boolean()
      .describe(
        'With sentinels: connect to the sentinels, the master and replicas over TLS (with url, rediss:// says so).',
      )
      .optional(),
    caFile: filePath
      .describe(
        'PEM CA bundle the Redis server certificate is verified against (rediss:// or tls: true); unset: the system CAs.',
      )
      .optional(),
    keepRuns: z
      .int()
      .min(1)
      .max(10_000)
      .default(50)
      .describe('How many past runs (records and reports) the daemon keeps in Redis.'),
  })
  .superRefine(checkRedis, always)
  .meta({
    description:
      'Redis for the daemon (queue, ledger, delta links): one server (url) or Redis Sentinel (sentinels).',
    oneOf: [{ required: ['url'] }, { required: ['sentinels', 'masterName'] }],
  });

const ms = (what: string, dflt: number) =>
  z.int().min(100).max(3_600_000).optional().describe(`${what}, in milliseconds (default ${dflt}).`);

/** The defaults live in src/server/limits.ts (DEFAULT_HTTP_LIMITS); keep the two in step. */
const ServerLimitsSchema = z
  .strictObject({
    headersTimeoutMs: ms('How long a client may take to send the request line and headers', 5000),
    requestTimeoutMs: ms('How long a client may take to send a whole request, body included', 10_000),
    keepAliveTimeoutMs: ms('How long an idle keep-alive connection stays open', 5000),
    connectionTimeoutMs: ms(
      'How long a connection may stay silent (no bytes either way) before it is closed, response pending or not',
      60_000,
    ),
    maxConnections: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('Open connections the main port accepts; beyond it new ones are closed (default 1000).'),
    maxRequestsPerSocket: z
      .int()
      .min(0)
      .max(1_000_000)
      .optional()
      .describe(
        'Requests one keep-alive connection may carry before it is closed; 0 = no limit (default 100).',
      ),
  })
  .refine((v) => (v.headersTimeoutMs ?? 5000) <= (v.requestTimeoutMs ?? 10_000), {
    error: 'headersTimeoutMs must not exceed requestTimeoutMs',
  })
  .describe('Timeouts and caps of the HTTP server, so a slow or idle client cannot hold a connection.');

/** An OIDC issuer: https, or http on a loopback host (a test IdP on this machine). */
const issuerUrl = publicBaseUrl.describe(
  'The OpenID Connect issuer, exactly as its discovery document (/.well-known/openid-configuration under it) names itself: Entra https://login.microsoftonline.com/<tenant>/v2.0, Okta https://<org>.okta.com or https://<org>.okta.com/oauth2/default, Keycloak https://<host>/realms/<realm>. http:// only for a loopback host.',
);

const SessionTtl = duration('for a session', 5 * 60_000, 7 * 86_400_000);

const ApproversSchema = z
  .strictObject({
    emails: z
      .array(z.string().regex(/^[^@\s]+@[^@\s]+$/, { error: 'an email address' }))
      .optional()
      .describe(
        "People who may approve and reject, by the ID token's email claim (compared case-insensitively; an email_verified claim of false never matches).",
      ),
    groups: z
      .array(nonEmpty)
      .optional()
      .describe(
        'Groups whose members may approve and reject, as the groups claim carries them: Entra sends group object ids by default, Okta group names.',
      ),
    groupsClaim: nonEmpty
      .default('groups')
      .describe("The ID token claim that lists the signed-in person's groups (default groups)."),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    const n = (k: string) => (Array.isArray(o[k]) ? (o[k] as unknown[]).length : 0);
    if (n('emails') + n('groups') === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected at least one entry in emails or groups: otherwise nobody could approve in the console',
        path: [],
      });
    }
  }, always)
  .describe('Who may approve and reject runs in the console; everyone else who signs in may only look.');

const ConsoleSchema = z
  .strictObject({
    issuer: issuerUrl,
    clientId: nonEmpty.describe("The console's client (application) id at the IdP."),
    clientSecret: secret('Client secret of the console at the IdP').optional(),
    clientSecretFile: filePath
      .describe('File holding the client secret. Neither: a public client (PKCE only).')
      .optional(),
    redirectUrl: publicBaseUrl
      .describe(
        'The redirect URI registered at the IdP (default: server.publicUrl + /console/callback). Must end in /console/callback.',
      )
      .optional(),
    scopes: z
      .array(nonEmpty)
      .default(['openid', 'email', 'profile'])
      .describe(
        'Scopes asked for at sign-in (default openid, email, profile; Okta may need groups for the groups claim). Must include openid.',
      ),
    approvers: ApproversSchema,
    sessionTtl: SessionTtl.default('8h').describe(
      'How long a sign-in lasts (default 8h; 5m to 7d). Then the console asks to sign in again.',
    ),
    sessionSecretFile: filePath.describe(
      'File holding the key that signs session cookies and CSRF tokens: at least 32 bytes of random text (openssl rand -base64 48). Every replica needs the same file; changing it signs everyone out.',
    ),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    exactlyOne(o, ctx, ['clientSecret', 'clientSecretFile'], true);
    if (Array.isArray(o.scopes) && !o.scopes.includes('openid')) {
      ctx.addIssue({ code: 'custom', message: 'expected the scopes to include openid', path: ['scopes'] });
    }
    const r = o.redirectUrl;
    if (typeof r === 'string' && URL.canParse(r) && !new URL(r).pathname.endsWith('/console/callback')) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a redirect URL ending in /console/callback (the console's route), found ${JSON.stringify(r)}`,
        path: ['redirectUrl'],
      });
    }
  }, always)
  .meta({
    description:
      'The review console at /console signs people in with OpenID Connect (authorization code + PKCE). Without this block the console uses HTTP Basic with the admin token.',
    allOf: [{ not: { required: ['clientSecret', 'clientSecretFile'] } }],
  });

const ServerSchema = z
  .strictObject({
    host: nonEmpty.default('0.0.0.0').describe('Address the daemon listens on.'),
    port: z.int().min(1).max(65535).default(8080).describe('Port the daemon listens on.'),
    webhookSecret: secret('HMAC secret of POST /webhooks/resync').optional(),
    webhookSecretFile: filePath.describe('File holding the webhook HMAC secret.').optional(),
    adminToken: secret('Bearer token for /api and /admin').optional(),
    adminTokenFile: filePath.describe('File holding the admin bearer token.').optional(),
    graphClientState: secret('clientState expected on Microsoft Graph change notifications').optional(),
    graphClientStateFile: filePath.describe('File holding the Graph notification clientState.').optional(),
    probePort: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        'A second port serving only /healthz, /readyz and /metrics, with its own connection cap, so probes answer while the main port is full. Unset: probes use `port`.',
      ),
    limits: ServerLimitsSchema.optional(),
    publicUrl: publicBaseUrl
      .describe(
        "The URL people reach the daemon at (the ingress), with an optional path prefix, e.g. https://idsync.corp.example. The console's sign-in redirect and the run links in notifications are built on it. http:// only for a loopback host.",
      )
      .optional(),
    console: ConsoleSchema.optional(),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    if (!o) return;
    if (o.console !== undefined && o.publicUrl === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected server.publicUrl next to server.console: the sign-in redirect and the session cookie are built on it',
        path: ['console'],
      });
    }
    exactlyOne(o, ctx, ['webhookSecret', 'webhookSecretFile'], true);
    exactlyOne(o, ctx, ['adminToken', 'adminTokenFile'], true);
    exactlyOne(o, ctx, ['graphClientState', 'graphClientStateFile'], true);
  }, always)
  .meta({
    description: 'The daemon HTTP server.',
    allOf: [
      { not: { required: ['webhookSecret', 'webhookSecretFile'] } },
      { not: { required: ['adminToken', 'adminTokenFile'] } },
      { not: { required: ['graphClientState', 'graphClientStateFile'] } },
    ],
  });

export const ConfigSchema = z
  .strictObject({
    source: SourceSchema,
    devin: DevinSchema,
    mappings: z
      .array(MappingSchema)
      .min(1, { error: 'at least one mapping' })
      .describe('Each selects directory groups and says what they grant.'),
    rolePrecedence: z
      .array(nonEmpty)
      .default([])
      .describe(
        'Role names or ids, highest first: orders custom roles when several mappings grant roles in one scope.',
      ),
    scope: ScopeSchema,
    state: StateSchema,
    guardrails: GuardrailsSchema,
    schedule: ScheduleSchema.optional(),
    mode: z
      .enum(['review', 'auto'])
      .default('review')
      .describe('Daemon: review = plans wait for approval; auto = plans within guardrails are applied.'),
    redis: RedisSchema.optional(),
    server: ServerSchema.optional(),
    notify: NotifySchema.optional(),
  })
  .superRefine((v: unknown, ctx) => {
    const o = rec(v);
    checkNotifyNeedsPublicUrl(o, ctx);
    // Entra groups have no DN: such a selector would select nothing, and its mapping hold every
    // removal it could explain on every run.
    if (rec(o?.source)?.type === 'entra' && Array.isArray(o?.mappings)) {
      o.mappings.forEach((m, i) => {
        if (rec(rec(m)?.group)?.dn !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: 'expected name, id or pattern with an entra source (Entra groups have no DN)',
            path: ['mappings', i, 'group', 'dn'],
          });
        }
      });
    }
    const list = o?.rolePrecedence;
    if (!Array.isArray(list)) return;
    list.forEach((role, i) => {
      if (list.indexOf(role) !== i) {
        ctx.addIssue({
          code: 'custom',
          message: `expected each role once, found ${JSON.stringify(role)} again (first at rolePrecedence[${list.indexOf(role)}])`,
          path: ['rolePrecedence', i],
        });
      }
    });
  }, always)
  .meta({
    title: 'idsync configuration',
    description: 'Keeps a Devin Enterprise account in step with a company directory.',
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type ConfigOutput = z.output<typeof ConfigSchema>;
export type SourceOutput = z.output<typeof SourceSchema>;
export type MappingOutput = z.output<typeof MappingSchema>;

/** The JSON Schema editors validate against (`idsync schema`; `config/idsync.schema.json`). */
export function configJsonSchema(): Record<string, unknown> {
  // io: 'input' because editors check what a person writes, where defaulted keys are optional.
  return z.toJSONSchema(ConfigSchema, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>;
}

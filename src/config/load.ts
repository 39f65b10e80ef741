// Loading a config file: YAML → `${VAR}` substitution → zod → `*File` secrets → LoadedConfig.
// Every stage reports all of its problems at once, each at a line and column; a later stage runs
// only where an earlier one left a value it can trust.
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { type Env, type SubstitutionResult, substituteEnv } from './env.js';
import { ConfigError, type ConfigProblem, MAX_PROBLEMS } from './errors.js';
import { decodeUtf8, FileReadError, KiB, MiB, readBounded } from './fileRead.js';
import { expectedPhrase, issuesToProblems, quoteShort } from './issues.js';
import { notifyFileProblems, notifyOf } from './notifySchema.js';
import {
  type ConfigPath,
  formatPath,
  isSecretKey,
  isSecretPath,
  redactSecrets,
  startsWith,
  valueAt,
} from './paths.js';
import {
  type ConfigOutput,
  ConfigSchema,
  ENTRA_CLOUDS,
  MAX_TIMER_MS,
  parseDuration,
  type SourceOutput,
  TIMER_MS_EXPECTED,
} from './schema.js';
import { scalarKindAt, schemaAt } from './schemaWalk.js';
import { toPolicy } from './toPolicy.js';
import type {
  ConsoleSettings,
  EntraSourceConfig,
  LoadedConfig,
  RedisSettings,
  ServerSettings,
  SourceConfig,
} from './types.js';
import { YamlSource } from './yamlSource.js';

export interface LoadOptions {
  /** Variables for `${VAR}`; default `process.env`. */
  env?: Env;
}

/** The config file used when none is given: `--config`, then `$IDSYNC_CONFIG`, then `idsync.yaml`. */
export function defaultConfigPath(env: Env = process.env): string {
  return env.IDSYNC_CONFIG && env.IDSYNC_CONFIG !== '' ? env.IDSYNC_CONFIG : 'idsync.yaml';
}

/** The config file is read whole; no real one comes near this. */
export const MAX_CONFIG_BYTES = 1 * MiB;
/** A `*File` secret (token, password, key). */
export const MAX_SECRET_FILE_BYTES = 64 * KiB;
/** A `*File` certificate or CA bundle (a full system bundle is about 200 KiB). */
export const MAX_CERT_FILE_BYTES = 1 * MiB;
/** Admin tokens and webhook secrets: guessable below this. */
export const MIN_SERVER_SECRET_LENGTH = 16;
/** The console's session key (an HMAC-SHA256 key): at least the hash's own size. */
export const MIN_SESSION_KEY_BYTES = 32;

/** Loads and validates a config file. Throws ConfigError listing every problem found. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<LoadedConfig> {
  let bytes: Buffer;
  try {
    // Not regular-only: `--config <(sops -d idsync.yaml)` is a pipe.
    bytes = await readBounded(file, { maxBytes: MAX_CONFIG_BYTES, regularOnly: false });
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new ConfigError(file, [{ path: '', message: `cannot read the config file: ${err.reason}` }]);
  }
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) {
    throw new ConfigError(file, [{ path: '', ...decoded.position, message: decoded.reason }]);
  }
  return loadConfigText(decoded.text, file, options);
}

/** As loadConfig, for text already in memory; `file` names it in messages and anchors relative paths. */
export async function loadConfigText(
  text: string,
  file: string,
  options: LoadOptions = {},
): Promise<LoadedConfig> {
  const absFile = resolve(file);
  const dir = dirname(absFile);
  const src = new YamlSource(text);

  const syntax = yamlProblems(src);
  if (syntax.length > 0) throw new ConfigError(file, syntax);

  let data: unknown;
  let substitution: SubstitutionResult;
  try {
    // Discriminators (source.type) are read before substitution; they are never variables in practice.
    const before: unknown = src.doc.toJS();
    const kindAt = (path: ConfigPath) => scalarKindAt(ConfigSchema, path, before);
    substitution = substituteEnv(src, options.env ?? process.env, text, kindAt);
    data = src.doc.toJS();
  } catch (err) {
    // e.g. an alias bomb past yaml's maxAliasCount
    throw new ConfigError(file, [{ path: '', message: `cannot read the YAML: ${(err as Error).message}` }]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError(file, [
      {
        path: '',
        line: 1,
        column: 1,
        message: 'the file is empty: expected a mapping with source, devin and mappings',
      },
    ]);
  }

  const parsed = ConfigSchema.safeParse(data, { error: expectedPhrase });
  const failed = substitution.failedPaths;
  const issues = parsed.success
    ? []
    : parsed.error.issues.filter((i) => !failed.some((p) => startsWith(i.path, p)));
  const substituted = substitution.substituted;
  const fromZod = issuesToProblems(issues, data, ConfigSchema, src, {
    hidden: (path) =>
      substituted.find((s) => s.path.length === path.length && startsWith(path, s.path))?.names,
    limit: Math.max(0, MAX_PROBLEMS - substitution.problems.length),
  });
  const problems: ConfigProblem[] = [...substitution.problems, ...fromZod.problems];

  const flagged = [...failed, ...issues.map((i) => i.path)];
  problems.push(...timerProblems(data, src, flagged), ...serverSecretProblems(data, src, flagged));
  const files = await readReferencedFiles(data, dir, src, flagged, problems);
  problems.push(...notifyFileProblems(data, files, src));

  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems, fromZod.omitted);
  return build(parsed.data, files, absFile, dir, src);
}

const isFlagged = (flagged: readonly ConfigPath[], path: ConfigPath): boolean =>
  flagged.some((p) => startsWith(path, p));

function numberPaths(data: unknown, path: PropertyKey[] = []): Array<{ path: ConfigPath; value: number }> {
  if (Array.isArray(data)) return data.flatMap((item, i) => numberPaths(item, [...path, i]));
  if (data === null || typeof data !== 'object') return [];
  return Object.entries(data).flatMap(([key, value]) =>
    typeof value === 'number' ? [{ path: [...path, key], value }] : numberPaths(value, [...path, key]),
  );
}

/**
 * Every `*Ms` key the schema knows, wherever it is (also sections other modules add): above
 * 2^31-1 Node's timers overflow and fire at once, so every request would time out immediately.
 */
function timerProblems(data: unknown, src: YamlSource, flagged: readonly ConfigPath[]): ConfigProblem[] {
  return numberPaths(data)
    .filter(({ path, value }) => {
      const key = path[path.length - 1];
      return (
        typeof key === 'string' &&
        key.endsWith('Ms') &&
        value > MAX_TIMER_MS &&
        !isFlagged(flagged, path) &&
        schemaAt(ConfigSchema, path, data) instanceof z.ZodNumber
      );
    })
    .map(({ path, value }) => {
      const pos = src.locate(path);
      return {
        path: formatPath(path),
        ...pos,
        message: `expected ${TIMER_MS_EXPECTED}, found ${value}`,
      };
    });
}

type SecretRule = 'token' | 'serverToken' | 'serverSecret' | 'sessionKey';

/** Which checks a secret's text gets, by key: tokens travel in HTTP headers; server secrets guard the daemon. */
function secretRule(key: string): SecretRule | undefined {
  if (key === 'devin.token' || key === 'devin.tokenFile') return 'token';
  if (key === 'server.adminToken' || key === 'server.adminTokenFile') return 'serverToken';
  if (key === 'server.webhookSecret' || key === 'server.webhookSecretFile') return 'serverSecret';
  // Sent in a Basic header or a form body to the IdP's token endpoint.
  if (key === 'server.console.clientSecret' || key === 'server.console.clientSecretFile') return 'token';
  if (key === 'server.console.sessionSecretFile') return 'sessionKey';
  return undefined;
}

/** 1-based index of the first character an HTTP header cannot carry (outside printable ASCII). */
function firstNonHeaderChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return i + 1;
  }
  return 0;
}

/** What is wrong with a secret's text, in words that never include it; undefined when nothing. */
function secretDefect(
  text: string,
  rule: SecretRule,
): { expected: string; found: string; whiteSpace?: true } | undefined {
  // Key material only: any text of the size will do (white space included).
  if (rule === 'sessionKey') {
    const bytes = Buffer.byteLength(text, 'utf8');
    return bytes < MIN_SESSION_KEY_BYTES
      ? {
          expected: `at least ${MIN_SESSION_KEY_BYTES} bytes`,
          found: `${bytes} byte${bytes === 1 ? '' : 's'}`,
        }
      : undefined;
  }
  const header = rule === 'token' || rule === 'serverToken';
  const space = text.search(/\s/);
  if (space >= 0) {
    return { expected: 'no white space', found: `white space at character ${space + 1}`, whiteSpace: true };
  }
  const bad = header ? firstNonHeaderChar(text) : 0;
  if (bad > 0) {
    return {
      expected: 'printable ASCII characters only (an HTTP header cannot carry others)',
      found: `a non-ASCII or control character at character ${bad}`,
    };
  }
  if (rule !== 'token' && text.length < MIN_SERVER_SECRET_LENGTH) {
    return {
      expected: `at least ${MIN_SERVER_SECRET_LENGTH} characters`,
      found: `${text.length} character${text.length === 1 ? '' : 's'}`,
    };
  }
  return undefined;
}

/** Inline admin tokens and webhook secrets (devin.token is checked by its schema). */
function serverSecretProblems(
  data: unknown,
  src: YamlSource,
  flagged: readonly ConfigPath[],
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const path of [
    ['server', 'adminToken'],
    ['server', 'webhookSecret'],
    ['server', 'console', 'clientSecret'],
  ]) {
    const value = valueAt(data, path);
    const rule = secretRule(formatPath(path));
    if (typeof value !== 'string' || value === '' || rule === undefined || isFlagged(flagged, path)) continue;
    const defect = secretDefect(value, rule);
    if (!defect) continue;
    out.push({
      path: formatPath(path),
      ...src.locate(path),
      message: `expected a secret with ${defect.expected}, found ${defect.found} (the value is not shown)`,
    });
  }
  return out;
}

function yamlProblems(src: YamlSource): ConfigProblem[] {
  // Duplicate keys are independent mistakes, each worth reporting (as many as ConfigError shows);
  // after the first real syntax error the parser's further errors are mostly echoes of it.
  const dupes: ConfigProblem[] = src.duplicateKeys(MAX_PROBLEMS + 1).map(({ path, offset }) => ({
    path: formatPath(path),
    ...src.position(offset),
    message: `duplicate key ${quoteShort(String(path[path.length - 1] ?? ''))}: a key may appear only once in a mapping`,
  }));
  const syntax = src.doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
  const tags = src.doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  return [
    ...dupes,
    ...[...syntax, ...tags].map((e) => {
      const offset = e.pos[0];
      const pos = src.position(offset);
      const path = src.pathAt(offset);
      let message: string;
      if (e.code === 'MULTIPLE_DOCS') {
        // The library's text quotes the lines around it.
        message =
          'a second YAML document starts here (---): expected one document per file; remove this line, or move what follows to another file';
      } else if (isSecretPath(path)) {
        // Some parser messages quote the text they choked on; near a secret, say less.
        message = `YAML syntax error (${e.code})`;
      } else {
        message = `YAML ${e.code === 'TAG_RESOLVE_FAILED' ? 'error' : 'syntax error'}: ${e.message}`;
      }
      // A syntax error's position is where the parser gave up, often the next key: naming that
      // key's path would mislead.
      return { path: '', line: pos.line, column: pos.column, message };
    }),
  ];
}

/** `*File` values read, keyed by formatted key path (`devin.tokenFile`). */
type FileContents = Map<string, { path: string; text: string }>;

function fileKeys(data: unknown, path: PropertyKey[] = []): Array<{ path: ConfigPath; value: string }> {
  if (Array.isArray(data)) return data.flatMap((item, i) => fileKeys(item, [...path, i]));
  if (data === null || typeof data !== 'object') return [];
  return Object.entries(data).flatMap(([key, value]) =>
    key.endsWith('File') && typeof value === 'string' && value !== ''
      ? [{ path: [...path, key], value }]
      : fileKeys(value, [...path, key]),
  );
}

async function readReferencedFiles(
  data: unknown,
  dir: string,
  src: YamlSource,
  flagged: readonly ConfigPath[],
  problems: ConfigProblem[],
): Promise<FileContents> {
  const out: FileContents = new Map();
  // Only keys the schema knows (an unknown `fooFile` is reported, not read) and not already
  // reported (e.g. `tokenFile` next to `token`).
  const wanted = fileKeys(data).filter(
    (f) =>
      schemaAt(ConfigSchema, f.path, data) !== undefined &&
      !flagged.some((p) => p.length === f.path.length && startsWith(f.path, p)),
  );
  await Promise.all(
    wanted.map(async ({ path, value }) => {
      const abs = resolve(dir, value);
      const key = formatPath(path);
      const report = (message: string): void => {
        const pos = src.locate(path);
        problems.push({ path: key, line: pos.line, column: pos.column, message });
      };
      const last = String(path[path.length - 1] ?? '');
      const isSecret = isSecretKey(last.slice(0, -'File'.length));
      const maxBytes = isSecret ? MAX_SECRET_FILE_BYTES : MAX_CERT_FILE_BYTES;
      let bytes: Buffer;
      try {
        // Regular files only: a FIFO would hang the load, /dev/zero would never end.
        bytes = await readBounded(abs, { maxBytes, regularOnly: true });
      } catch (err) {
        if (!(err instanceof FileReadError)) throw err;
        const what = err.code === 'too-large' ? (isSecret ? ' for a secret' : ' for a certificate file') : '';
        report(`cannot read ${JSON.stringify(abs)}: ${err.reason}${what}`);
        return;
      }
      const decoded = decodeUtf8(bytes);
      if (!decoded.ok) {
        // The reason names a byte offset in that file, never its text.
        report(`cannot read ${JSON.stringify(abs)}: ${decoded.reason}`);
        return;
      }
      // Editors and `echo` add one newline; anything else is the secret's own business.
      const text = decoded.text.replace(/\r?\n$/, '');
      if (text === '') {
        report(`${JSON.stringify(abs)} is empty`);
        return;
      }
      const rule = secretRule(key);
      const defect = rule === undefined ? undefined : secretDefect(text, rule);
      if (defect) {
        const what = rule === 'token' && !/secret/i.test(key) ? 'the token' : 'the secret';
        report(
          defect.whiteSpace
            ? `${what} in ${JSON.stringify(abs)} contains white space (only one trailing newline is trimmed)`
            : `${what} in ${JSON.stringify(abs)} has ${defect.found}: expected ${defect.expected}`,
        );
        return;
      }
      out.set(key, { path: abs, text });
    }),
  );
  return out;
}

function build(
  cfg: ConfigOutput,
  files: FileContents,
  file: string,
  dir: string,
  src: YamlSource,
): LoadedConfig {
  const fromFile = (key: string): string => {
    const f = files.get(key);
    if (!f) throw new Error(`internal: ${key} was not read`);
    return f.text;
  };
  /** The inline value, or the content of its `*File` twin (the schema guarantees one of them). */
  const secretOf = (inline: string | undefined, key: string): string => inline ?? fromFile(key);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p));

  const server: ServerSettings | undefined = cfg.server && {
    host: cfg.server.host,
    port: cfg.server.port,
    ...(cfg.server.probePort !== undefined ? { probePort: cfg.server.probePort } : {}),
    ...(cfg.server.limits !== undefined ? { limits: cfg.server.limits } : {}),
    ...optionalSecret(
      'webhookSecret',
      cfg.server.webhookSecret,
      cfg.server.webhookSecretFile,
      files,
      'server',
    ),
    ...optionalSecret('adminToken', cfg.server.adminToken, cfg.server.adminTokenFile, files, 'server'),
    ...optionalSecret(
      'graphClientState',
      cfg.server.graphClientState,
      cfg.server.graphClientStateFile,
      files,
      'server',
    ),
    ...(cfg.server.publicUrl !== undefined ? { publicUrl: withoutSlash(cfg.server.publicUrl) } : {}),
  };
  if (server && cfg.server?.console) server.console = consoleOf(cfg.server.console, server.publicUrl, files);

  const loaded: LoadedConfig = {
    file,
    dir,
    raw: cfg,
    policy: toPolicy(cfg),
    devin: {
      baseUrl: cfg.devin.baseUrl,
      apiPrefix: cfg.devin.apiPrefix,
      token: secretOf(cfg.devin.token, 'devin.tokenFile'),
      maxRequestsPerSecond: cfg.devin.maxRequestsPerSecond,
      adaptiveRate: cfg.devin.adaptiveRate,
      maxConcurrency: cfg.devin.maxConcurrency,
      timeoutMs: cfg.devin.timeoutMs,
    },
    source: sourceOf(cfg.source, abs, secretOf, fromFile),
    statePath: abs(cfg.state.file),
    devinCopy: {
      incremental: cfg.devin.incremental,
      fullReconcileEveryMs: parseDuration(cfg.devin.fullReconcileEvery) ?? 3_600_000,
    },
    mode: cfg.mode,
    locate: (path) => src.locate(path),
  };
  if (cfg.schedule) {
    loaded.schedule = { every: cfg.schedule.every, everyMs: parseDuration(cfg.schedule.every) ?? 0 };
  }
  if (cfg.redis) loaded.redis = redisOf(cfg.redis, abs, fromFile);
  if (server) loaded.server = server;
  if (cfg.notify && server?.publicUrl !== undefined)
    loaded.notify = notifyOf(cfg.notify, server.publicUrl, files);
  // Defence in depth: JSON.stringify and pino serialise through toJSON, so logging the whole
  // config cannot leak a secret. Not enumerable, so it stays out of spreads and comparisons.
  Object.defineProperty(loaded, 'toJSON', { value: () => redactSecrets(loaded), enumerable: false });
  return loaded;
}

function consoleOf(
  c: NonNullable<NonNullable<ConfigOutput['server']>['console']>,
  publicUrl: string | undefined,
  files: FileContents,
): ConsoleSettings {
  const sessionSecret = files.get('server.console.sessionSecretFile')?.text;
  // The schema asks for publicUrl next to console, and the load for the file: neither is missing here.
  if (sessionSecret === undefined || (c.redirectUrl === undefined && publicUrl === undefined)) {
    throw new Error('internal: server.console was loaded without its session key or its public URL');
  }
  return {
    issuer: c.issuer,
    clientId: c.clientId,
    ...optionalSecret('clientSecret', c.clientSecret, c.clientSecretFile, files, 'server.console'),
    redirectUrl: c.redirectUrl ?? `${publicUrl}/console/callback`,
    scopes: [...new Set(c.scopes)],
    approvers: {
      emails: (c.approvers.emails ?? []).map((e) => e.toLowerCase()),
      groups: c.approvers.groups ?? [],
      groupsClaim: c.approvers.groupsClaim,
    },
    sessionTtlMs: parseDuration(c.sessionTtl) ?? 8 * 3_600_000,
    sessionSecret,
  };
}

function redisOf(
  r: NonNullable<ConfigOutput['redis']>,
  abs: (p: string) => string,
  fromFile: (key: string) => string,
): RedisSettings {
  const tls = r.url !== undefined ? r.url.startsWith('rediss:') : r.tls === true;
  return {
    ...(r.url !== undefined ? { url: r.url } : {}),
    ...(r.sentinels !== undefined
      ? {
          sentinels: r.sentinels.map((s) => {
            const at = s.lastIndexOf(':');
            return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(s.slice(at + 1)) };
          }),
        }
      : {}),
    ...(r.masterName !== undefined ? { masterName: r.masterName } : {}),
    ...(r.username !== undefined ? { username: r.username } : {}),
    ...(r.passwordFile !== undefined ? { password: fromFile('redis.passwordFile') } : {}),
    ...(r.sentinelPasswordFile !== undefined
      ? { sentinelPassword: fromFile('redis.sentinelPasswordFile') }
      : {}),
    tls,
    ...(r.caFile !== undefined ? { caFile: abs(r.caFile), ca: fromFile('redis.caFile') } : {}),
    keepRuns: r.keepRuns,
  };
}

function optionalSecret<K extends string>(
  name: K,
  inline: string | undefined,
  fileKey: string | undefined,
  files: FileContents,
  section: string,
): Partial<Record<K, string>> {
  const value = inline ?? (fileKey === undefined ? undefined : files.get(`${section}.${name}File`)?.text);
  return value === undefined ? {} : ({ [name]: value } as Partial<Record<K, string>>);
}

function sourceOf(
  s: SourceOutput,
  abs: (p: string) => string,
  secretOf: (inline: string | undefined, key: string) => string,
  fromFile: (key: string) => string,
): SourceConfig {
  switch (s.type) {
    case 'file':
      return { type: 'file', path: abs(s.path) };
    case 'ldap': {
      const { bindPasswordFile: _, caFile, ...rest } = s;
      return {
        ...rest,
        bindPassword: secretOf(s.bindPassword, 'source.bindPasswordFile'),
        ...(caFile === undefined ? {} : { caFile: abs(caFile), ca: fromFile('source.caFile') }),
      };
    }
    case 'entra': {
      const cloud = ENTRA_CLOUDS[s.cloud];
      const base: Omit<EntraSourceConfig, 'credential'> = {
        type: 'entra' as const,
        tenantId: s.tenantId,
        clientId: s.clientId,
        cloud: s.cloud,
        authorityHost: withoutSlash(s.authorityHost ?? cloud.authorityHost),
        graphBaseUrl: withoutSlash(s.graphBaseUrl ?? cloud.graphBaseUrl),
        ...(s.caFile === undefined ? {} : { caFile: abs(s.caFile), ca: fromFile('source.caFile') }),
        emailAttribute: s.emailAttribute,
        emailFallbackAttribute: s.emailFallbackAttribute,
        ...(s.extraUserAttributes === undefined ? {} : { extraUserAttributes: s.extraUserAttributes }),
        pageSize: s.pageSize,
        timeoutMs: s.timeoutMs,
        retryBudgetMs: s.retryBudgetMs,
        fullReadEvery: (parseDuration(s.fullReadEvery) ?? 0) / 1000,
        ...(s.notifications === undefined ? {} : { notifications: { ...s.notifications } }),
      };
      if (s.certificateFile !== undefined && s.privateKeyFile !== undefined) {
        return {
          ...base,
          credential: {
            kind: 'certificate',
            certificateFile: abs(s.certificateFile),
            certificate: fromFile('source.certificateFile'),
            privateKeyFile: abs(s.privateKeyFile),
            privateKey: fromFile('source.privateKeyFile'),
            ...(s.certificateChainFile === undefined
              ? {}
              : {
                  certificateChainFile: abs(s.certificateChainFile),
                  certificateChain: fromFile('source.certificateChainFile'),
                }),
          },
        };
      }
      return {
        ...base,
        credential: { kind: 'secret', clientSecret: secretOf(s.clientSecret, 'source.clientSecretFile') },
      };
    }
  }
}

/** `https://host/` and `https://host` name one origin; paths are appended to the latter. */
function withoutSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

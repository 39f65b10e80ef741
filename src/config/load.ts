// Loading a config file: YAML → `${VAR}` substitution → zod → `*File` secrets → LoadedConfig.
// Every stage reports all of its problems at once, each at a line and column; a later stage runs
// only where an earlier one left a value it can trust.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { type Env, type SubstitutionResult, substituteEnv } from './env.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { expectedPhrase, issuesToProblems } from './issues.js';
import { type ConfigPath, formatPath, isSecretPath, redactSecrets, startsWith } from './paths.js';
import { type ConfigOutput, ConfigSchema, parseDuration, type SourceOutput } from './schema.js';
import { scalarKindAt, schemaAt } from './schemaWalk.js';
import { toPolicy } from './toPolicy.js';
import type { LoadedConfig, ServerSettings, SourceConfig } from './types.js';
import { YamlSource } from './yamlSource.js';

export interface LoadOptions {
  /** Variables for `${VAR}`; default `process.env`. */
  env?: Env;
}

/** The config file used when none is given: `--config`, then `$IDSYNC_CONFIG`, then `idsync.yaml`. */
export function defaultConfigPath(env: Env = process.env): string {
  return env.IDSYNC_CONFIG && env.IDSYNC_CONFIG !== '' ? env.IDSYNC_CONFIG : 'idsync.yaml';
}

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a parent is not a directory',
};

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code ? `${FS_REASONS[code] ?? 'read failed'} (${code})` : String(err);
}

/** Loads and validates a config file. Throws ConfigError listing every problem found. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the config file: ${fsReason(err)}` }]);
  }
  return loadConfigText(text, file, options);
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
  const problems: ConfigProblem[] = [
    ...substitution.problems,
    ...issuesToProblems(issues, data, ConfigSchema, src),
  ];

  const flagged = [...failed, ...issues.map((i) => i.path)];
  const files = await readReferencedFiles(data, dir, src, flagged, problems);

  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, problems);
  return build(parsed.data, files, absFile, dir, src);
}

function yamlProblems(src: YamlSource): ConfigProblem[] {
  // Duplicate keys are independent mistakes, each worth reporting; after the first real syntax
  // error the parser's further errors are mostly echoes of it.
  const dupes = src.doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
  const syntax = src.doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
  const tags = src.doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  return [...dupes, ...syntax, ...tags].map((e) => {
    const offset = e.pos[0];
    const pos = src.position(offset);
    const path = src.pathAt(offset);
    let message: string;
    if (e.code === 'DUPLICATE_KEY') {
      message = `duplicate key ${JSON.stringify(String(path[path.length - 1] ?? ''))}: a key may appear only once in a mapping`;
    } else if (isSecretPath(path)) {
      // Some parser messages quote the text they choked on; near a secret, say less.
      message = `YAML syntax error (${e.code})`;
    } else {
      message = `YAML ${e.code === 'TAG_RESOLVE_FAILED' ? 'error' : 'syntax error'}: ${e.message}`;
    }
    // A syntax error's position is where the parser gave up, often the next key: naming that
    // key's path would mislead, so only a duplicate key gets one.
    const shown = e.code === 'DUPLICATE_KEY' ? formatPath(path) : '';
    return { path: shown, line: pos.line, column: pos.column, message };
  });
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
      let text: string;
      try {
        text = await readFile(abs, 'utf8');
      } catch (err) {
        report(`cannot read ${JSON.stringify(abs)}: ${fsReason(err)}`);
        return;
      }
      // Editors and `echo` add one newline; anything else is the secret's own business.
      text = text.replace(/\r?\n$/, '');
      if (text === '') {
        report(`${JSON.stringify(abs)} is empty`);
        return;
      }
      if (/tokenFile$/i.test(key) && /\s/.test(text)) {
        report(
          `the token in ${JSON.stringify(abs)} contains white space (only one trailing newline is trimmed)`,
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
  };

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
      maxConcurrency: cfg.devin.maxConcurrency,
      timeoutMs: cfg.devin.timeoutMs,
    },
    source: sourceOf(cfg.source, abs, secretOf, fromFile),
    statePath: abs(cfg.state.file),
    mode: cfg.mode,
    locate: (path) => src.locate(path),
  };
  if (cfg.schedule) {
    loaded.schedule = { every: cfg.schedule.every, everyMs: parseDuration(cfg.schedule.every) ?? 0 };
  }
  if (cfg.redis) loaded.redis = { url: cfg.redis.url, keepRuns: cfg.redis.keepRuns };
  if (server) loaded.server = server;
  // Defence in depth: JSON.stringify and pino serialise through toJSON, so logging the whole
  // config cannot leak a secret. Not enumerable, so it stays out of spreads and comparisons.
  Object.defineProperty(loaded, 'toJSON', { value: () => redactSecrets(loaded), enumerable: false });
  return loaded;
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
      const base = {
        type: 'entra' as const,
        tenantId: s.tenantId,
        clientId: s.clientId,
        authorityHost: s.authorityHost,
        graphBaseUrl: s.graphBaseUrl,
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

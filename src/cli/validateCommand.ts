// `idsync validate`: is this config usable? First the file itself (exit 2 when not), then whether
// the source and Devin answer and whether every role and org the config names exists in Devin
// (exit 1 when not). Meant for a human before the first run and for CI on every config change.
import { Command } from 'commander';
import {
  ConfigError,
  type ConfigProblem,
  defaultConfigPath,
  type Env,
  type FileSourceConfig,
  formatPath,
  formatProblem,
  type LoadedConfig,
  loadConfig,
  resolveDevinReferences,
} from '../config/index.js';
import { DevinClient } from '../devin/client.js';
import { DevinApiError, DevinError } from '../devin/errors.js';
import type { Self } from '../devin/schemas.js';
import { probeEntra } from '../directory/entra/probe.js';
import { DirectoryFileError, fileSource } from '../directory/file/fileSource.js';
import { type ProbeCheck, probeLdap } from '../directory/ldap/probe.js';
import { EXIT } from './exitCodes.js';

export type CheckStatus = 'ok' | 'warning' | 'failed' | 'skipped';

export interface CheckResult {
  name: 'config' | 'source' | 'devin-token' | 'devin-access' | 'devin-references';
  status: CheckStatus;
  /** The config key a source check is about (`source.userFilter`, `mappings[1].group.id`). */
  key?: string;
  message: string;
  problems?: ConfigProblem[];
}

export interface ValidateReport {
  ok: boolean;
  /** As given (`--config`), so problem lines match what the operator typed. */
  file: string;
  checks: CheckResult[];
}

export interface ValidateOptions {
  config?: string;
  json?: boolean;
  /** Only the config file; no source, no Devin. For CI without network access. */
  offline?: boolean;
}

export interface ValidateIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env?: Env;
}

const SYMBOL: Record<CheckStatus, string> = { ok: '✓', warning: '!', failed: '✗', skipped: '-' };

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** Distinct Devin objects, however many spellings (name, id, case) the config used for them. */
const distinct = (m: ReadonlyMap<string, { id: string }>): number =>
  new Set([...m.values()].map((v) => v.id)).size;

const PROBE_STATUS: Record<ProbeCheck['status'], CheckStatus> = {
  ok: 'ok',
  warning: 'warning',
  error: 'failed',
};

/**
 * LDAP and Entra: one line per check, each naming its config key (src/directory/ldap/probe.ts,
 * src/directory/entra/probe.ts).
 */
async function checkSources(cfg: LoadedConfig): Promise<CheckResult[]> {
  const selectors = cfg.policy.mappings.map((m) => m.group);
  let checks: ProbeCheck[];
  if (cfg.source.type === 'ldap') checks = await probeLdap(cfg.source, selectors);
  else if (cfg.source.type === 'entra') checks = await probeEntra(cfg.source, selectors);
  else return [await checkFileSource(cfg.source)];
  return checks.map((c) => ({
    name: 'source',
    key: c.key,
    status: PROBE_STATUS[c.status],
    message: c.message,
  }));
}

async function checkFileSource(source: FileSourceConfig): Promise<CheckResult> {
  try {
    const snap = await fileSource(source.path).read();
    const incomplete = snap.complete ? '' : ' (the file marks the read as incomplete)';
    return {
      name: 'source',
      status: 'ok',
      message: `file ${source.path}: ${plural(snap.users.length, 'user')}, ${plural(snap.groups.length, 'group')}${incomplete}`,
    };
  } catch (err) {
    if (!(err instanceof DirectoryFileError)) throw err;
    return { name: 'source', status: 'failed', message: `file ${err.message}` };
  }
}

function principal(self: Self): string {
  return 'service_user_name' in self
    ? `service user "${self.service_user_name}"`
    : `user "${self.user_name}"`;
}

/**
 * Proves the token works. `/v3/self` is the documented way, but it is in no export of Cognition's
 * provider and a deployment may not serve it: a 404, 405 or 501 there falls back to reading the
 * roles, which needs a working token with membership access. 401/403 on self stay failures.
 */
async function proveToken(client: DevinClient): Promise<string> {
  try {
    return `accepts the token (${principal(await client.getSelf())})`;
  } catch (err) {
    if (!(err instanceof DevinApiError) || ![404, 405, 501].includes(err.status)) throw err;
    const roles = await client.listRoles();
    return `accepts the token (self answered ${err.status}; read ${plural(roles.length, 'role')} instead)`;
  }
}

async function checkDevin(cfg: LoadedConfig): Promise<CheckResult[]> {
  const where = `${cfg.devin.baseUrl.replace(/\/$/, '')}${cfg.devin.apiPrefix}`;
  // Fewer retries than a sync: a person is waiting, and a dead endpoint should say so quickly.
  const client = new DevinClient({ ...cfg.devin, retry: { maxAttempts: 2, maxDelayMs: 2_000 } });
  const results: CheckResult[] = [];
  try {
    try {
      results.push({ name: 'devin-token', status: 'ok', message: `${where} ${await proveToken(client)}` });
    } catch (err) {
      if (!(err instanceof DevinError)) throw err;
      const rejected = 'status' in err && (err.status === 401 || err.status === 403);
      results.push({
        name: 'devin-token',
        status: 'failed',
        message: rejected ? `${where} rejected the token: ${err.message}` : err.message,
      });
      const skipped = 'not checked: the token check failed';
      results.push({ name: 'devin-access', status: 'skipped', message: skipped });
      results.push({ name: 'devin-references', status: 'skipped', message: skipped });
      return results;
    }

    // The reads every sync makes; a token without these permissions fails here, not mid-run.
    try {
      const pages = client.userPages();
      await pages.next();
      await pages.return(undefined);
      const groups = await client.listIdpGroups();
      results.push({
        name: 'devin-access',
        status: 'ok',
        message: `can read enterprise users and the IdP group registry (${groups.length} groups registered)`,
      });
    } catch (err) {
      if (!(err instanceof DevinError)) throw err;
      results.push({ name: 'devin-access', status: 'failed', message: err.message });
    }

    try {
      const [roles, orgs] = await Promise.all([client.listRoles(), client.listOrganizations()]);
      const refs = resolveDevinReferences(cfg.policy, {
        roles: roles.map((r) => ({ id: r.role_id, name: r.role_name, type: r.role_type })),
        orgs: orgs.map((o) => ({ id: o.org_id, name: o.name })),
      });
      if (refs.problems.length === 0) {
        results.push({
          name: 'devin-references',
          status: 'ok',
          message: `every role and organization the config names exists (${plural(distinct(refs.resolved.roles), 'role')}, ${plural(distinct(refs.resolved.orgs), 'organization')})`,
        });
      } else {
        const problems = refs.problems.map((p) => {
          const pos = cfg.locate(p.path);
          return { path: formatPath(p.path), line: pos.line, column: pos.column, message: p.detail };
        });
        results.push({
          name: 'devin-references',
          status: 'failed',
          message: `${plural(problems.length, 'role or organization name')} not found in Devin`,
          problems,
        });
      }
    } catch (err) {
      if (!(err instanceof DevinError)) throw err;
      results.push({ name: 'devin-references', status: 'failed', message: err.message });
    }
    return results;
  } finally {
    client.close();
  }
}

function render(report: ValidateReport): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${SYMBOL[c.status]} ${c.key ?? c.name}: ${c.message}`);
    for (const p of c.problems ?? []) lines.push(`    ${formatProblem(report.file, p)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Runs the checks, writes the report, returns the exit code. */
export async function runValidate(options: ValidateOptions, io: ValidateIo): Promise<number> {
  const env = io.env ?? process.env;
  const file = options.config ?? defaultConfigPath(env);
  const report: ValidateReport = { ok: false, file, checks: [] };
  const finish = (code: number): number => {
    report.ok = code === EXIT.ok;
    io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
    return code;
  };

  let cfg: LoadedConfig;
  try {
    cfg = await loadConfig(file, { env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`${err.format().join('\n')}\n`);
    const count = plural(err.problems.length, 'problem');
    report.checks.push({ name: 'config', status: 'failed', message: count, problems: err.problems });
    // The human report would repeat stderr; the JSON one is what a script reads.
    if (options.json) return finish(EXIT.usage);
    return EXIT.usage;
  }
  report.checks.push({
    name: 'config',
    status: 'ok',
    message: `${cfg.file}: ${plural(cfg.policy.mappings.length, 'mapping')}, ${cfg.source.type} source`,
  });
  if (options.offline) return finish(EXIT.ok);

  report.checks.push(...(await checkSources(cfg)));
  report.checks.push(...(await checkDevin(cfg)));
  return finish(report.checks.some((c) => c.status === 'failed') ? EXIT.runtime : EXIT.ok);
}

export function validateCommand(): Command {
  return new Command('validate')
    .description(
      'Check a config file, then that the source and Devin answer and that every role and organization it names exists in Devin.',
    )
    .option('-c, --config <file>', 'config file (default: $IDSYNC_CONFIG, else ./idsync.yaml)')
    .option('--json', 'print the report as JSON on stdout')
    .option('--offline', 'check the config file only (no source, no Devin)')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      '\nExit codes: 0 all checks passed, 1 the source or Devin check failed, 2 the config is invalid.',
    )
    .action(async (opts: ValidateOptions) => {
      process.exitCode = await runValidate(opts, {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    });
}

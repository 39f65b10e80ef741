// `idsync validate` for an Entra source: will a sync be able to read what the config asks for?
// One line per check, each naming the config key it is about: a token (the credential, the tenant,
// the client id, the CA), one page of users (User.Read.All), the group listing (GroupMember.Read.All)
// and, for every mapping, the groups its selector picks (the core's own rules, select.ts) with one
// page of each one's transitive members. A refused read names the application permission missing.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { EntraSourceConfig } from '../../config/types.js';
import { silentLogger } from '../../log/logger.js';
import type { GroupSelector } from '../../reconcile/policy.js';
import { selectGroups } from '../../reconcile/select.js';
import { type ProbeCheck, selectorKey } from '../ldap/probe.js';
import { clientCertificate, entraTokenProvider } from './auth.js';
import { authorityUrl } from './clouds.js';
import { EntraAuthError, GraphError } from './errors.js';
import { GraphClient } from './graphClient.js';
import { EVENTUAL, groupsPath, membersPath, usersPath } from './read.js';
import { GraphUserSchema, toDirectoryUser } from './users.js';

export type { ProbeCheck } from '../ldap/probe.js';

export interface EntraProbeOptions {
  logger?: Logger;
  /** Member lists read at most; a `*` pattern must not read 2,000 groups. */
  maxGroupsChecked?: number;
}

const SHOWN = 5;
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

function describeSelector(sel: GroupSelector): string {
  const [kind, value] = Object.entries(sel)[0] as [string, string];
  return `${kind} ${JSON.stringify(value)}`;
}

/** The key to fix for a refused Graph read: the app's permissions live on clientId's registration. */
function graphCheck(err: unknown, what: string): ProbeCheck {
  if (
    err instanceof GraphError &&
    err.permissionHint !== undefined &&
    (err.status === 403 || err.status === 401)
  ) {
    return {
      key: 'source.clientId',
      status: 'error',
      message: `${what} refused (${err.status}${err.code ? ` ${err.code}` : ''}): the app lacks the Microsoft Graph application permission ${err.permissionHint}; add it under API permissions and grant admin consent`,
    };
  }
  return {
    key: 'source.graphBaseUrl',
    status: 'error',
    message: `${what} failed: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/**
 * Runs every check against the tenant in `config`. Never throws an Entra error: a failure is an
 * `error` check. `selectors` are the mappings' `group` values, in config order.
 */
export async function probeEntra(
  config: EntraSourceConfig,
  selectors: readonly GroupSelector[],
  options: EntraProbeOptions = {},
): Promise<ProbeCheck[]> {
  const log = (options.logger ?? silentLogger).child({ component: 'entra-probe' });
  const checks: ProbeCheck[] = [];
  const tokens = entraTokenProvider(config, log);
  const authority = authorityUrl(config);
  try {
    await tokens.token({ forceRefresh: true });
    const how =
      config.credential.kind === 'secret'
        ? 'a client secret'
        : `certificate ${clientCertificate(config)?.thumbprintSha256.toLowerCase() ?? ''} (SHA-256)`;
    checks.push({
      key: 'source.clientId',
      status: 'ok',
      message: `signed in to ${authority} as app ${config.clientId} with ${how}`,
    });
  } catch (err) {
    if (!(err instanceof EntraAuthError)) throw err;
    checks.push({ key: err.details.key ?? 'source.authorityHost', status: 'error', message: err.message });
    const skipped = 'not checked: no token';
    checks.push({ key: 'source.graphBaseUrl', status: 'error', message: `users and groups ${skipped}` });
    return checks;
  }

  const graph = new GraphClient({ config, tokens, logger: log });
  try {
    checks.push(...(await probeUsers(graph, config)));
    const listed: Array<{ id: string; name: string }> = [];
    let cut: string | undefined;
    try {
      for await (const page of graph.pages(
        groupsPath(config),
        z.object({ id: z.string(), displayName: z.string().nullish() }).loose(),
      )) {
        for (const g of page.items)
          listed.push({ id: g.id, name: g.displayName?.trim() ? g.displayName : g.id });
      }
    } catch (err) {
      cut = err instanceof Error ? err.message : String(err);
      checks.push(graphCheck(err, `listing groups after ${plural(listed.length, 'group')}`));
    }
    if (cut !== undefined && listed.length === 0) {
      selectors.forEach((sel, i) => {
        checks.push({
          key: selectorKey(sel, i),
          status: 'error',
          message: `${describeSelector(sel)}: not checked: the groups could not be listed`,
        });
      });
      return checks;
    }
    if (cut === undefined) {
      checks.push({
        key: 'source.clientId',
        status: 'ok',
        message: `can list groups (${plural(listed.length, 'group')})`,
      });
    }
    checks.push(
      ...(await probeMappings(graph, config, selectors, listed, cut, options.maxGroupsChecked ?? 200)),
    );
    return checks;
  } finally {
    graph.close();
  }
}

async function probeUsers(graph: GraphClient, config: EntraSourceConfig): Promise<ProbeCheck[]> {
  try {
    const pages = graph.pages(usersPath(config), GraphUserSchema);
    const first = await pages.next();
    await pages.return(undefined);
    const items = first.done ? [] : first.value.items;
    // pages() hides the nextLink; a full page most likely has one.
    const more = items.length >= config.pageSize;
    if (items.length === 0) {
      return [
        {
          key: 'source.clientId',
          status: 'error',
          message: 'the user listing is empty: every user would look like a leaver',
        },
      ];
    }
    const withEmail = items.filter((u) => toDirectoryUser(u, config).user.email !== null).length;
    const checks: ProbeCheck[] = [
      {
        key: 'source.clientId',
        status: 'ok',
        message: `can read users (${more ? 'first page: ' : ''}${plural(items.length, 'user')}, ${withEmail} with an email address)`,
      },
    ];
    if (withEmail === 0) {
      checks.push({
        key: 'source.emailAttribute',
        status: 'warning',
        message: `none of the ${plural(items.length, 'user')} read has an address in ${config.emailAttribute} or ${config.emailFallbackAttribute ?? 'userPrincipalName'}: nobody would be provisioned`,
      });
    }
    return checks;
  } catch (err) {
    return [graphCheck(err, 'reading users')];
  }
}

async function probeMappings(
  graph: GraphClient,
  config: EntraSourceConfig,
  selectors: readonly GroupSelector[],
  listed: Array<{ id: string; name: string }>,
  cut: string | undefined,
  maxGroups: number,
): Promise<ProbeCheck[]> {
  const checks: ProbeCheck[] = [];
  const memberChecks = new Map<string, Promise<{ count: number; more: boolean } | { failed: unknown }>>();
  let budget = maxGroups;
  for (const [i, sel] of selectors.entries()) {
    const key = selectorKey(sel, i);
    const selected = selectGroups(sel, listed);
    if (selected.length === 0) {
      const read = cut === undefined ? '' : ` read before the listing stopped`;
      checks.push({
        key,
        status: 'error',
        message: `${describeSelector(sel)} matches none of the ${plural(listed.length, 'group')}${read}: the mapping selects nothing`,
      });
      continue;
    }
    let members = 0;
    let more = false;
    let checked = 0;
    const empty: string[] = [];
    const failed: ProbeCheck[] = [];
    for (const g of selected) {
      let pending = memberChecks.get(g.id);
      if (pending === undefined) {
        if (budget <= 0) continue;
        budget--;
        pending = firstMembers(graph, config, g.id);
        memberChecks.set(g.id, pending);
      }
      const m = await pending;
      checked++;
      if ('failed' in m) {
        const c = graphCheck(m.failed, `reading the members of group ${g.name} (${g.id})`);
        failed.push({ ...c, key: c.key === 'source.clientId' ? c.key : key });
      } else if (m.count === 0) empty.push(g.name);
      else {
        members += m.count;
        more ||= m.more;
      }
    }
    if (failed.length > 0) {
      checks.push(...failed);
      continue;
    }
    const names = selected
      .slice(0, SHOWN)
      .map((g) => g.name)
      .join(', ');
    const others = selected.length > SHOWN ? ` and ${selected.length - SHOWN} more` : '';
    const what = `${describeSelector(sel)} selects ${selected.length === 1 ? `group ${names}` : `${selected.length} groups: ${names}${others}`}`;
    const partly = checked < selected.length ? `; member lists checked for ${checked}` : '';
    checks.push(
      empty.length > 0
        ? {
            key,
            status: 'warning',
            message: `${what}; no user members in ${empty.join(', ')}${partly}`,
          }
        : {
            key,
            status: 'ok',
            message: `${what} (${more ? 'at least ' : ''}${plural(members, 'user member')}, nested included, readable${partly})`,
          },
    );
  }
  return checks;
}

async function firstMembers(
  graph: GraphClient,
  config: EntraSourceConfig,
  id: string,
): Promise<{ count: number; more: boolean } | { failed: unknown }> {
  try {
    const pages = graph.pages(membersPath(id, config.pageSize), z.object({ id: z.string() }).loose(), {
      headers: EVENTUAL,
    });
    const first = await pages.next();
    await pages.return(undefined);
    const items = first.done ? [] : first.value.items;
    return { count: items.length, more: items.length >= config.pageSize };
  } catch (err) {
    return { failed: err };
  }
}

// `idsync validate` for an LDAP source: will a sync be able to read what the config asks for?
// Each check is one line naming the config key it is about. Bind, the two bases, the two filters
// (a filter that matches nothing would make every user look like a leaver), the server's limits
// for this bind account (a paged search against a plain one), and every mapping's group selector:
// found under groupBase, and its member list readable by the bind account.
//
// Pure-ish: it reads through an LdapConnection and returns data; it plans nothing and decides
// nothing about access. The matching rules for selectors are the core's (name case-insensitive,
// DN canonical, id through normalizeDirectoryId, pattern as a glob), so what validate says is
// found is what a sync selects.
import { type Entry, type Filter, NoSuchObjectError, PresenceFilter, ResultCodeError } from 'ldapts';
import type { Logger } from 'pino';
import type { LdapSourceConfig } from '../../config/types.js';
import { silentLogger } from '../../log/logger.js';
import type { GroupSelector } from '../../reconcile/policy.js';
import { selectGroups } from '../../reconcile/select.js';
import { isWithin, tryNormalizeDn } from '../dn.js';
import { LdapConnection } from './connection.js';
import { attr, idValue, isGuidAttribute, REQUIRED_MEMBER_ATTRIBUTE, strings } from './entry.js';
import { describeLdapFailure, describeResultCode, LdapBindError, LdapError, LdapTlsError } from './errors.js';
import { andOf, compileFilter, escapeFilterValue } from './filter.js';
import { describePush, detectPush } from './notify.js';
import { type LdapSettings, resolveSettings } from './profiles.js';
import { rangedValues } from './ranges.js';
import { describeOffer, detectWatermark } from './watermark.js';

export type ProbeStatus = 'ok' | 'warning' | 'error';

export interface ProbeCheck {
  /** The config key the check is about, e.g. `source.userFilter`, `mappings[2].group.id`. */
  key: string;
  status: ProbeStatus;
  message: string;
}

export interface ProbeOptions {
  logger?: Logger;
  /** Member lists read at most (one base-scope read each); a `*` pattern must not read 10,000 groups. */
  maxGroupsChecked?: number;
}

const SHOWN = 5;

/**
 * Runs every check against the directory in `config`. Never throws an LdapError: a failure is an
 * `error` check. `selectors` are the mappings' `group` values, in config order.
 */
export async function probeLdap(
  config: LdapSourceConfig,
  selectors: readonly GroupSelector[],
  options: ProbeOptions = {},
): Promise<ProbeCheck[]> {
  const s = resolveSettings(config);
  const log = (options.logger ?? silentLogger).child({ component: 'ldap-probe', server: s.origin });
  const checks: ProbeCheck[] = [...transportChecks(s)];

  let conn: LdapConnection;
  try {
    conn = await LdapConnection.open(s, log);
  } catch (err) {
    if (!(err instanceof LdapError)) throw err;
    checks.push({ key: connectKey(err), status: 'error', message: err.message });
    return checks;
  }
  try {
    checks.push({ key: 'source.bindDN', status: 'ok', message: `bound to ${s.origin} as ${s.bindDN}` });
    const prober = new Prober(conn, s);
    const userBase = await prober.base('userBase', s.userBase);
    const groupBase = await prober.base('groupBase', s.groupBase);
    checks.push(userBase.check, groupBase.check);
    if (userBase.exists) checks.push(...(await prober.users()));
    const groups = groupBase.exists ? await prober.groups() : undefined;
    if (groups) checks.push(...groups.checks);
    if (groups === undefined || groups.usable === false) {
      // Nothing was listed: "not found" would be a guess.
      selectors.forEach((sel, i) => {
        checks.push({
          key: selectorKey(sel, i),
          status: 'error',
          message: `${describeSelector(sel)}: not checked: ${groups ? 'the groups could not be listed' : 'groupBase does not exist'}`,
        });
      });
    } else if (groups) {
      checks.push(...(await prober.mappings(selectors, groups, options.maxGroupsChecked ?? 200)));
    }
    if (userBase.exists && groupBase.exists) {
      checks.push(await watchCheck(conn, s, config));
      checks.push(await pushCheck(conn, s, config));
    }
    return dedupe(checks);
  } finally {
    await conn.close();
  }
}

/**
 * Which change watermark the server offers the daemon's watch (src/directory/ldap/watermark.ts),
 * said whether or not `watch:` is set; an error only when the watch is on and has nothing to read.
 */
async function watchCheck(
  conn: LdapConnection,
  s: LdapSettings,
  config: LdapSourceConfig,
): Promise<ProbeCheck> {
  const on = config.watch?.enabled === true;
  const key = 'source.watch';
  try {
    const offer = describeOffer(await detectWatermark(await conn.session(), s));
    return { key, status: 'ok', message: on ? offer : `${offer}; source.watch is off` };
  } catch (err) {
    const why = err instanceof LdapError ? err.message : describeLdapFailure(err, s.timeoutMs);
    return { key, status: on ? 'error' : 'warning', message: `no change watermark to watch: ${why}` };
  }
}

/**
 * Whether the server tells the watch of changes (src/directory/ldap/notify.ts): never an error,
 * since the poll works without it.
 */
async function pushCheck(
  conn: LdapConnection,
  s: LdapSettings,
  config: LdapSourceConfig,
): Promise<ProbeCheck> {
  const key = 'source.watch.push';
  const intervalMs = config.watch?.intervalMs ?? 5000;
  const off = config.watch?.enabled === true ? '' : '; source.watch is off';
  if (config.watch?.push === 'off')
    return { key, status: 'ok', message: describePush('off', intervalMs) + off };
  try {
    const offered = await detectPush(await conn.session(), s);
    return { key, status: 'ok', message: describePush(offered, intervalMs) + off };
  } catch (err) {
    const why = err instanceof LdapError ? err.message : describeLdapFailure(err, s.timeoutMs);
    return { key, status: 'warning', message: `push: the rootDSE could not be read (${why})` };
  }
}

/** The same finding from the users and the groups listing (a refused pageSize) is said once. */
function dedupe(checks: ProbeCheck[]): ProbeCheck[] {
  const seen = new Set<string>();
  return checks.filter((c) => {
    const k = `${c.status}\u0000${c.key}\u0000${c.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function transportChecks(s: LdapSettings): ProbeCheck[] {
  const out: ProbeCheck[] = [];
  if (s.security === 'none') {
    out.push({
      key: 'source.url',
      status: 'warning',
      message: `${s.origin} is plain LDAP without startTLS: the bind password and the directory cross the network unencrypted; use ldaps:// or startTLS: true`,
    });
  }
  if (s.security !== 'none' && s.insecureSkipVerify) {
    out.push({
      key: 'source.insecureSkipVerify',
      status: 'warning',
      message: `the certificate of ${s.origin} is not verified; set caFile instead`,
    });
  }
  if (s.pageSizeLowered) {
    out.push({
      key: 'source.pageSize',
      status: 'warning',
      message: `${s.pageSizeLowered.from} is more than the ${s.profile} server hands out per page; ${s.pageSizeLowered.to} is used`,
    });
  }
  return out;
}

function connectKey(err: LdapError): string {
  if (err instanceof LdapBindError) return 'source.bindDN';
  if (err instanceof LdapTlsError) return /caFile/.test(err.message) ? 'source.caFile' : 'source.url';
  return 'source.url';
}

export function selectorKey(sel: GroupSelector, index: number): string {
  return `mappings[${index}].group.${selectorKind(sel)}`;
}

function selectorKind(sel: GroupSelector): 'name' | 'dn' | 'id' | 'pattern' {
  if ('name' in sel) return 'name';
  if ('dn' in sel) return 'dn';
  if ('id' in sel) return 'id';
  return 'pattern';
}

function describeSelector(sel: GroupSelector): string {
  const kind = selectorKind(sel);
  const value = (sel as Record<string, string>)[kind] ?? '';
  return `${kind} ${JSON.stringify(value)}`;
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
const entryCount = (n: number): string => `${n} ${n === 1 ? 'entry' : 'entries'}`;

// ---- reading helpers ---------------------------------------------------------------------------

/** The id as the reader makes it. */
const idOf = (entry: Entry, attribute: string): string | undefined =>
  idValue(attr(entry, attribute), attribute);

interface Walk {
  entries: number;
  pages: number;
  firstPage: number;
  /** Why the paged listing stopped early. */
  failure?: unknown;
}

interface ListedGroup {
  id: string;
  name: string;
  dn: string;
}

interface GroupListing {
  checks: ProbeCheck[];
  listed: ListedGroup[];
  /** False when the listing failed before any group: the selectors cannot be checked. */
  usable: boolean;
  /** Why the listing stopped part way, when it did. */
  cut?: string;
}

class Prober {
  constructor(
    private readonly conn: LdapConnection,
    private readonly s: LdapSettings,
  ) {}

  private get bufferAttributes(): string[] {
    const id = this.s.idAttribute;
    return isGuidAttribute(id) ? [...new Set([id, 'objectGUID', 'objectguid'])] : [];
  }

  async base(key: 'userBase' | 'groupBase', dn: string): Promise<{ exists: boolean; check: ProbeCheck }> {
    const configKey = `source.${key}`;
    try {
      const client = await this.conn.session();
      await client.search(dn, {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['1.1'],
        timeLimit: this.s.timeLimitSeconds,
      });
      return { exists: true, check: { key: configKey, status: 'ok', message: `${dn} exists` } };
    } catch (err) {
      const message =
        err instanceof NoSuchObjectError
          ? `${JSON.stringify(dn)} does not exist on ${this.s.origin} (or the bind account may not see it): no such object (32)`
          : `${JSON.stringify(dn)} could not be read: ${this.failure(err)}`;
      return { exists: false, check: { key: configKey, status: 'error', message } };
    }
  }

  private failure(err: unknown): string {
    if (err instanceof LdapError) return err.message;
    if (!(err instanceof ResultCodeError)) this.conn.invalidate();
    return describeLdapFailure(err, this.s.timeoutMs);
  }

  /** A paged listing, as the sync makes it, seeing each page's entries. */
  private async walk(
    base: string,
    filter: Filter,
    attributes: string[],
    onEntries: (entries: Entry[]) => void,
  ): Promise<Walk> {
    const result: Walk = { entries: 0, pages: 0, firstPage: 0 };
    try {
      const client = await this.conn.session();
      const pages = client.searchPaginated(base, {
        scope: 'sub',
        filter,
        attributes,
        explicitBufferAttributes: this.bufferAttributes,
        paged: { pageSize: this.s.pageSize },
        timeLimit: this.s.timeLimitSeconds,
      });
      for await (const page of pages) {
        if (result.pages === 0) result.firstPage = page.searchEntries.length;
        result.pages++;
        result.entries += page.searchEntries.length;
        onEntries(page.searchEntries);
      }
    } catch (err) {
      if (!(err instanceof ResultCodeError) && !(err instanceof LdapError)) this.conn.invalidate();
      result.failure = err;
    }
    return result;
  }

  /**
   * How many entries a plain (non-paged) search returns, asking for at most `atMost`: fewer,
   * with sizeLimitExceeded, is the server's own size limit for this bind account.
   */
  private async plainCount(base: string, filter: Filter, atMost: number): Promise<number | undefined> {
    try {
      const client = await this.conn.session();
      const { searchEntries } = await client.search(base, {
        scope: 'sub',
        filter,
        attributes: ['1.1'],
        sizeLimit: atMost,
        timeLimit: this.s.timeLimitSeconds,
      });
      return searchEntries.length;
    } catch (err) {
      if (!(err instanceof ResultCodeError)) this.conn.invalidate();
      return undefined;
    }
  }

  /** The checks every listing shares: it matches something, the limits let a sync read all of it. */
  private async listingChecks(
    what: 'users' | 'groups',
    base: string,
    filterKey: 'userFilter' | 'groupFilter',
    filterText: string,
    filter: Filter,
    walk: Walk,
  ): Promise<ProbeCheck[]> {
    const s = this.s;
    const key = `source.${filterKey}`;
    const baseKey = what === 'users' ? 'userBase' : 'groupBase';
    const checks: ProbeCheck[] = [];
    const code = walk.failure instanceof ResultCodeError ? walk.failure.code : undefined;

    if (walk.failure !== undefined && walk.entries === 0 && code === 11) {
      checks.push({
        key: 'source.pageSize',
        status: 'error',
        message: `the server refuses pages of ${s.pageSize} entries for this bind account (${describeResultCode(walk.failure as ResultCodeError)}); lower source.pageSize, or raise the server's limit (OpenLDAP size.pr)`,
      });
      // The filter itself can still be checked without paging.
      const one = await this.plainCount(base, filter, 1);
      checks.push(
        one === undefined || one === 0
          ? {
              key,
              status: 'error',
              message: `${filterText} ${one === 0 ? 'matches no entry' : 'could not be checked'} under ${baseKey}: a sync would see no ${what}`,
            }
          : { key, status: 'ok', message: `${filterText} matches entries under ${baseKey}` },
      );
      return checks;
    }

    if (walk.failure !== undefined && code !== 4) {
      checks.push({
        key,
        status: 'error',
        message: `listing ${what} with ${filterText} under ${baseKey} failed after ${entryCount(walk.entries)}: ${this.failure(walk.failure)}`,
      });
      return checks;
    }

    if (walk.entries === 0) {
      checks.push({
        key,
        status: 'error',
        message:
          what === 'users'
            ? `${filterText} matches no entry under ${s.userBase}: every user would look like a leaver; check userFilter and userBase`
            : `${filterText} matches no entry under ${s.groupBase}: no mapping can select a group; check groupFilter and groupBase`,
      });
      return checks;
    }

    const matched = entryCount(walk.entries);
    if (code === 4) {
      // The paged listing itself was cut short: every sync would be incomplete.
      const plain = await this.plainCount(base, filter, walk.entries + s.pageSize + 1);
      const limit = Math.max(walk.entries, plain ?? 0);
      checks.push({
        key,
        status: 'ok',
        message: `${filterText} matches at least ${matched} under ${baseKey}`,
      });
      checks.push({
        key: 'source.bindDN',
        status: 'warning',
        message: `the server stops this bind account's ${what} listing at ${limit} entries, also when paged (size limit exceeded, 4): every sync would be incomplete and hold back all removals. Raise the account's size limit (OpenLDAP: olcLimits size.prtotal=unlimited; AD: MaxResultSetSize)`,
      });
      return checks;
    }

    const pages = `${plural(walk.pages, 'page')} of up to ${s.pageSize}`;
    // Cheap: the limits worth naming are the stock ones (slapd 500, AD 1000) or a couple of pages;
    // a plain search is not left to stream a whole 100,000-entry directory to find none.
    const bound = Math.min(walk.entries + 1, Math.max(2 * s.pageSize, 1000) + 1);
    const plain = await this.plainCount(base, filter, bound);
    const note =
      plain !== undefined && plain < Math.min(walk.entries, bound)
        ? `; the server's size limit of ${plain} applies to plain searches only, paging gets past it`
        : '';
    checks.push({
      key,
      status: 'ok',
      message: `${filterText} matches ${matched} under ${baseKey} (${pages}${note})`,
    });
    if (walk.pages > 1 && walk.firstPage < s.pageSize) {
      checks.push({
        key: 'source.pageSize',
        status: 'warning',
        message: `${s.pageSize} is more than the server hands out per page (${walk.firstPage}); set pageSize: ${walk.firstPage}`,
      });
    }
    return checks;
  }

  async users(): Promise<ProbeCheck[]> {
    const s = this.s;
    const filter = compileFilter(s.userFilter);
    let withoutId = 0;
    let example: string | undefined;
    const walk = await this.walk(s.userBase, filter, [s.idAttribute], (entries) => {
      for (const e of entries) {
        if (idOf(e, s.idAttribute) !== undefined) continue;
        withoutId++;
        example ??= e.dn;
      }
    });
    const checks = await this.listingChecks('users', s.userBase, 'userFilter', s.userFilter, filter, walk);
    if (withoutId > 0) {
      checks.push({
        key: 'source.idAttribute',
        status: 'error',
        message: `${withoutId} of ${walk.entries} users have no ${s.idAttribute} (e.g. ${example}): a sync would skip them and be incomplete; check idAttribute and the bind account's read access`,
      });
    }
    if (s.disabledFilter !== undefined) {
      const disabled = andOf([filter, compileFilter(s.disabledFilter)]);
      const n = await this.plainCount(s.userBase, disabled, 1);
      checks.push(
        n === undefined
          ? {
              key: 'source.disabledFilter',
              status: 'error',
              message: `${s.disabledFilter} could not be evaluated: a sync would treat every user as disabled`,
            }
          : {
              key: 'source.disabledFilter',
              status: 'ok',
              message: `${s.disabledFilter} ${n === 0 ? 'matches no user today' : 'matches users'}`,
            },
      );
    }
    return checks;
  }

  async groups(): Promise<GroupListing> {
    const s = this.s;
    const filter = compileFilter(s.groupFilter);
    const listed: ListedGroup[] = [];
    const attributes = [...new Set([s.idAttribute, s.groupNameAttribute, 'cn'])];
    const walk = await this.walk(s.groupBase, filter, attributes, (entries) => {
      for (const e of entries) {
        const id = idOf(e, s.idAttribute);
        if (id === undefined) continue;
        const name = strings(attr(e, s.groupNameAttribute))[0] ?? strings(attr(e, 'cn'))[0] ?? e.dn;
        listed.push({ id, name, dn: e.dn });
      }
    });
    const checks = await this.listingChecks(
      'groups',
      s.groupBase,
      'groupFilter',
      s.groupFilter,
      filter,
      walk,
    );
    const cut = walk.failure === undefined ? undefined : describeLdapFailure(walk.failure, s.timeoutMs);
    return {
      checks,
      listed,
      usable: walk.entries > 0 || walk.failure === undefined,
      ...(cut ? { cut } : {}),
    };
  }

  async mappings(
    selectors: readonly GroupSelector[],
    groups: GroupListing,
    maxGroups: number,
  ): Promise<ProbeCheck[]> {
    const listed = groups.listed;
    const checks: ProbeCheck[] = [];
    const memberChecks = new Map<string, Promise<MemberCheck>>();
    let budget = maxGroups;
    for (const [i, sel] of selectors.entries()) {
      const key = selectorKey(sel, i);
      const selected = selectGroups(sel, listed);
      if (selected.length === 0) {
        checks.push({ key, status: 'error', message: await this.notFound(sel, groups) });
        continue;
      }
      const unreadable: string[] = [];
      const empty: string[] = [];
      let members = 0;
      let more = false;
      let checked = 0;
      for (const g of selected) {
        let pending = memberChecks.get(g.dn);
        if (pending === undefined) {
          if (budget <= 0) continue;
          budget--;
          pending = this.members(g);
          memberChecks.set(g.dn, pending);
        }
        const m = await pending;
        checked++;
        if (m.unreadable !== undefined) unreadable.push(`${g.name} (${g.dn}): ${m.unreadable}`);
        else if (m.count === 0) empty.push(g.name);
        else {
          members += m.count;
          more ||= m.more === true;
        }
      }
      const names = selected
        .slice(0, SHOWN)
        .map((g) => g.name)
        .join(', ');
      const others = selected.length > SHOWN ? ` and ${selected.length - SHOWN} more` : '';
      const what = `${describeSelector(sel)} selects ${selected.length === 1 ? `group ${names}` : `${selected.length} groups: ${names}${others}`}`;
      for (const u of unreadable) {
        checks.push({
          key,
          status: 'error',
          message: `group ${u}; mappings[${i}] would see it as empty. Grant the bind account read access to its member attribute`,
        });
      }
      if (unreadable.length > 0) continue;
      const partly = checked < selected.length ? `; member lists checked for ${checked}` : '';
      if (empty.length > 0) {
        checks.push({
          key,
          status: 'warning',
          message: `${what}; no members visible in ${empty.join(', ')}: empty, or the bind account may not read the member attribute${partly}`,
        });
      } else {
        checks.push({
          key,
          status: 'ok',
          message: `${what} (${more ? 'at least ' : ''}${plural(members, 'member')}, readable${partly})`,
        });
      }
    }
    return checks;
  }

  /** Why a selector found nothing: a DN that exists may be outside groupBase or groupFilter. */
  private async notFound(sel: GroupSelector, groups: GroupListing): Promise<string> {
    const s = this.s;
    const read = groups.cut === undefined ? '' : ` read before the listing stopped (${groups.cut})`;
    const base = `${describeSelector(sel)} matches none of the ${plural(groups.listed.length, 'group')}${read} under groupBase ${s.groupBase} with ${s.groupFilter}: the mapping selects nothing`;
    if (!('dn' in sel)) return base;
    const key = tryNormalizeDn(sel.dn);
    if (key !== undefined && !isWithin(key, s.groupBaseKey)) return `${base} (the DN is outside groupBase)`;
    try {
      const client = await this.conn.session();
      const { searchEntries } = await client.search(sel.dn, {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['1.1'],
        timeLimit: s.timeLimitSeconds,
      });
      return searchEntries.length > 0 ? `${base} (the entry exists but does not match groupFilter)` : base;
    } catch {
      return `${base} (no such entry)`;
    }
  }

  private async members(g: ListedGroup): Promise<MemberCheck> {
    const s = this.s;
    if (readsMemberOf(s)) return this.memberOfMembers(g);
    let entry: Entry | undefined;
    try {
      const client = await this.conn.session();
      const { searchEntries } = await client.search(g.dn, {
        scope: 'base',
        filter: new PresenceFilter({ attribute: 'objectClass' }),
        attributes: ['objectClass', ...s.memberAttributes],
        explicitBufferAttributes: [],
        timeLimit: s.timeLimitSeconds,
      });
      entry = searchEntries[0];
    } catch (err) {
      return { count: 0, unreadable: `member list not read: ${this.failure(err)}` };
    }
    if (!entry) return { count: 0, unreadable: 'the entry could not be read' };
    let count = 0;
    let ranged = false;
    const present = new Set<string>();
    for (const a of s.memberAttributes) {
      const slice = rangedValues(entry, a);
      const n = slice ? slice.values.length : strings(attr(entry, a)).length;
      if (slice && slice.slice.hi !== '*') ranged = true;
      if (n > 0) present.add(a.toLowerCase());
      count += n;
    }
    const classes = strings(attr(entry, 'objectClass')).map((c) => c.toLowerCase());
    for (const c of classes) {
      const must = REQUIRED_MEMBER_ATTRIBUTE[c];
      const required = must?.attribute.toLowerCase();
      if (must === undefined || required === undefined || present.has(required)) continue;
      const configured = s.memberAttributes.find((a) => a.toLowerCase() === required);
      if (configured === undefined) continue;
      return {
        count: 0,
        unreadable: `the bind account may not read its member list (${configured} came back absent, although ${must.className} requires it: an ACL hides it)`,
      };
    }
    return { count, more: ranged };
  }

  /** With membership: memberOf, whether any user names the group in memberOf (one entry is enough). */
  private async memberOfMembers(g: ListedGroup): Promise<MemberCheck> {
    const s = this.s;
    const filter = andOf([
      compileFilter(s.userFilter),
      compileFilter(`(memberOf=${escapeFilterValue(g.dn)})`),
    ]);
    const n = await this.plainCount(s.userBase, filter, 1);
    if (n === undefined) return { count: 0, unreadable: 'memberOf could not be searched for it' };
    return { count: n, more: n > 0 };
  }
}

/**
 * `membership: memberOf`: member lists come from the users' memberOf values, not from the group
 * entry, so a group whose own member attribute is hidden is still usable. Read structurally, so
 * this module does not depend on when that setting lands in LdapSettings.
 */
function readsMemberOf(s: LdapSettings): boolean {
  return (s as { membership?: unknown }).membership === 'memberOf';
}

interface MemberCheck {
  count: number;
  /** Only the first part was read (an AD range slice; memberOf: one entry): `count` is a minimum. */
  more?: boolean;
  unreadable?: string;
}

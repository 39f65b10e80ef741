// The change watermark of an LDAP directory: one small read that moves whenever anything in the
// directory changes, so the daemon can poll it every few seconds and run only when it moved
// (src/daemon/watermark.ts; docs/watch.md). Directories call no webhook; this is how idsync hears
// of a change in Active Directory or OpenLDAP without one.
//
// What each server offers, in order of preference:
// - Active Directory: `highestCommittedUSN` on the rootDSE of the DC that answers (one base read).
//   USNs are per DC: another DC has other numbers. So the DC's identity goes along: its
//   `dsServiceName` (in the same read) and the invocationId of its NTDS Settings object (read once
//   per connection; it changes when the DC is restored from a backup).
// - OpenLDAP with the syncprov overlay (every replication provider): `contextCSN` of the naming
//   context (one base read), one CSN per server id. The context entry's entryUUID identifies the
//   database (replicas share it; an unrelated server does not).
// - OpenLDAP without syncprov: the newest `entryCSN` (every write stamps one, unique, to the
//   microsecond); other servers: the newest `modifyTimestamp` (to the second). One subtree search
//   per poll for anything newer than what was seen last, a few entries at most.
//
// Every kind is compared by compareWatermark(), which is pure: `moved` is a change to act on,
// `failover` a different server (or one that went back in time), which the daemon answers with a
// full reconcile. A deletion moves highestCommittedUSN and contextCSN; the entryCSN and
// modifyTimestamp searches see it only through what it changes elsewhere (a group's member list,
// with refint or memberOf), which docs/watch.md says.
import { type Client, NoSuchObjectError, ResultCodeError } from 'ldapts';
import type { Logger } from 'pino';
import { formatCanonical, isWithin, normalizeDn, parseDn, type Rdn, tryNormalizeDn } from '../dn.js';
import { LdapConnection } from './connection.js';
import { attr, strings } from './entry.js';
import { describeLdapFailure, LdapConfigError, LdapError } from './errors.js';
import { guidFromBytes } from './guid.js';
import type { LdapSettings } from './profiles.js';

export type WatermarkKind = 'highestCommittedUSN' | 'contextCSN' | 'entryCSN' | 'modifyTimestamp';

export interface Watermark {
  kind: WatermarkKind;
  /**
   * Who answered, as far as the server says: AD `dsServiceName=… invocationId=…`, OpenLDAP
   * `entryUUID=…` of the naming context; '' when the server names nothing.
   */
  server: string;
  /**
   * highestCommittedUSN: the number in decimal. contextCSN: the CSNs, sorted, space-separated.
   * entryCSN: the newest CSN. modifyTimestamp: the newest time (GeneralizedTime as the server wrote it).
   */
  value: string;
}

export type WatermarkChange = 'same' | 'moved' | 'failover';

// ---- comparing (pure) ---------------------------------------------------------------------------------

/**
 * `failover` when the server is another one (its identity or its kind of watermark changed), or
 * when the watermark went back: a DC restored from a backup, a replica behind the one read before.
 * Both mean the last run's picture may hold changes this server never saw, so only a full
 * reconcile is safe.
 */
export function compareWatermark(prev: Watermark, next: Watermark): WatermarkChange {
  return explainChange(prev, next).change;
}

/** compareWatermark with the reason in words, for the log and the run's reason. */
export function explainChange(prev: Watermark, next: Watermark): { change: WatermarkChange; why: string } {
  if (prev.kind !== next.kind)
    return { change: 'failover', why: `the server now offers ${next.kind}, was ${prev.kind}` };
  if (prev.server !== next.server) {
    return {
      change: 'failover',
      why: `a different server answers (${next.server || 'unnamed'}; was ${prev.server || 'unnamed'})`,
    };
  }
  const order = ORDER[next.kind](prev.value, next.value);
  if (order === 'unknown')
    return { change: 'failover', why: `${next.kind} ${next.value} cannot be compared with ${prev.value}` };
  if (order === 'back')
    return { change: 'failover', why: `${next.kind} went back from ${prev.value} to ${next.value}` };
  if (order === 'same') return { change: 'same', why: `${next.kind} unchanged` };
  return { change: 'moved', why: `${next.kind} moved from ${prev.value} to ${next.value}` };
}

type Order = 'same' | 'ahead' | 'back' | 'unknown';

const ORDER: Readonly<Record<WatermarkKind, (a: string, b: string) => Order>> = {
  highestCommittedUSN: (a, b) => {
    const x = usn(a);
    const y = usn(b);
    if (x === undefined || y === undefined) return 'unknown';
    return y === x ? 'same' : y > x ? 'ahead' : 'back';
  },
  contextCSN: compareCsnSets,
  entryCSN: (a, b) => {
    if (parseCsn(a) === undefined || parseCsn(b) === undefined) return 'unknown';
    return a === b ? 'same' : b > a ? 'ahead' : 'back';
  },
  modifyTimestamp: (a, b) => {
    const x = parseGeneralizedTime(a);
    const y = parseGeneralizedTime(b);
    if (x === undefined || y === undefined) return 'unknown';
    return y === x ? 'same' : y > x ? 'ahead' : 'back';
  },
};

function usn(v: string): bigint | undefined {
  return /^\d{1,30}$/.test(v.trim()) ? BigInt(v.trim()) : undefined;
}

/**
 * One CSN per server id (multi-provider replication writes several). Ahead when any id moved or
 * appeared; back when any id went back or disappeared (a provider's changes this server lost),
 * whatever the others did.
 */
function compareCsnSets(a: string, b: string): Order {
  const prev = csnsBySid(a);
  const next = csnsBySid(b);
  if (prev === undefined || next === undefined) return 'unknown';
  let ahead = false;
  for (const [sid, csn] of prev) {
    const now = next.get(sid);
    if (now === undefined || now < csn) return 'back';
    if (now > csn) ahead = true;
  }
  for (const sid of next.keys()) if (!prev.has(sid)) ahead = true;
  return ahead ? 'ahead' : 'same';
}

function csnsBySid(v: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const csn of v.split(' ').filter(Boolean)) {
    const p = parseCsn(csn);
    if (!p) return undefined;
    const seen = out.get(p.sid);
    if (seen === undefined || csn > seen) out.set(p.sid, csn);
  }
  return out;
}

/** `YYYYmmddHHMMSS.uuuuuuZ#count#sid#mod` (OpenLDAP 2.4 and later); CSNs of one format sort as strings. */
const CSN = /^(\d{14})\.(\d{6})Z#([0-9a-f]{6})#([0-9a-f]{3})#([0-9a-f]{6})$/i;

export function parseCsn(v: string): { micros: number; sid: string } | undefined {
  const m = CSN.exec(v.trim());
  if (!m?.[1] || !m[2] || !m[4]) return undefined;
  const seconds = parseGeneralizedTime(`${m[1]}Z`);
  if (seconds === undefined) return undefined;
  return { micros: seconds * 1000 + Number(m[2]), sid: m[4].toLowerCase() };
}

/** GeneralizedTime (`20240131235959Z`, `20240131235959.5Z`, `…+0100`) → epoch ms; undefined if not one. */
export function parseGeneralizedTime(v: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)$/.exec(
    v.trim(),
  );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m as unknown as (string | undefined)[];
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  if (frac !== undefined) ms += Math.floor(Number(`0.${frac}`) * 1000);
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5) || 0)) * 60_000;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** Epoch seconds → `YYYYmmddHHMMSSZ`. */
function generalizedTimeAt(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

// ---- the newest entryCSN / modifyTimestamp (pure parts) -------------------------------------------------

/**
 * The searches of the two "newest change" kinds work on an integer scale ("ticks": microseconds
 * for entryCSN, seconds for modifyTimestamp): `lowerBound(t)` is a filter value that every value
 * at or after tick t is >= to, `tickOf(v)` the tick of a value.
 */
export interface OrderedAttribute {
  attribute: 'entryCSN' | 'modifyTimestamp';
  lowerBound(tick: number): string;
  tickOf(value: string): number | undefined;
  /** The filter value of the poll for anything newer than `seen`. */
  newerThan(seen: string): string;
  isNewer(value: string, seen: string): boolean;
}

export const ORDERED: Readonly<Record<'entryCSN' | 'modifyTimestamp', OrderedAttribute>> = {
  entryCSN: {
    attribute: 'entryCSN',
    lowerBound: (us) => {
      const s = Math.floor(us / 1_000_000);
      const frac = String(us - s * 1_000_000).padStart(6, '0');
      return `${generalizedTimeAt(s).slice(0, 14)}.${frac}Z#000000#000#000000`;
    },
    tickOf: (v) => parseCsn(v)?.micros,
    // CSNs are unique: the entry holding `seen` comes back too, and is not newer.
    newerThan: (seen) => seen,
    isNewer: (v, seen) => parseCsn(v) !== undefined && v > seen,
  },
  modifyTimestamp: {
    attribute: 'modifyTimestamp',
    lowerBound: generalizedTimeAt,
    tickOf: (v) => {
      const ms = parseGeneralizedTime(v);
      return ms === undefined ? undefined : Math.floor(ms / 1000);
    },
    // To the second: "newer" starts at the next second. A write later in the second already seen
    // is caught by the run that second's change asked for, which reads only after it has passed
    // (the poller's debounce is at least 1.5 s for this kind).
    newerThan: (seen) => {
      const ms = parseGeneralizedTime(seen);
      return generalizedTimeAt(ms === undefined ? 0 : Math.floor(ms / 1000) + 1);
    },
    isNewer: (v, seen) => {
      const a = parseGeneralizedTime(v);
      const b = parseGeneralizedTime(seen);
      return a !== undefined && b !== undefined && Math.floor(a / 1000) > Math.floor(b / 1000);
    },
  },
};

/**
 * The largest tick t with `exists(t)` true, given `exists(lo)`; `guess` is where to look for the
 * end first (now, on this machine's clock; the server's may differ, so it is only a start).
 * Exponential search up, then bisection: about 2·log2(range) probes.
 */
export async function newestTick(
  lo: number,
  guess: number,
  exists: (tick: number) => Promise<boolean>,
): Promise<number> {
  let step = Math.max(1, guess - lo);
  let hi = lo + step;
  for (let i = 0; await exists(hi); i++) {
    if (i >= 60) throw new RangeError('no end found to the directory changes (are the clocks sane?)');
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await exists(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

// ---- which kind and where (pure parts) ------------------------------------------------------------------

/**
 * The naming context the watermark is read from: the longest of the server's contexts holding both
 * bases (undefined: they are in different databases, which one watermark cannot cover). Without
 * namingContexts (hidden by an ACL), the bases' common ancestor.
 */
export function contextFor(
  contexts: readonly string[],
  userBase: string,
  groupBase: string,
): string | undefined {
  const u = normalizeDn(userBase);
  const g = normalizeDn(groupBase);
  const holding = contexts
    .map((c) => ({ c, key: tryNormalizeDn(c) }))
    .filter((x): x is { c: string; key: string } => x.key !== undefined && x.key !== '')
    .filter((x) => isWithin(u, x.key) && isWithin(g, x.key))
    .sort((a, b) => b.key.length - a.key.length);
  if (holding[0]) return holding[0].c;
  if (contexts.length > 0) return undefined;
  return commonAncestor(userBase, groupBase);
}

function commonAncestor(a: string, b: string): string | undefined {
  const ra = parseDn(a);
  const rb = parseDn(b);
  const key = (r: Rdn) => formatCanonical([r]);
  let k = 0;
  while (
    k < ra.length &&
    k < rb.length &&
    key(ra[ra.length - 1 - k] as Rdn) === key(rb[rb.length - 1 - k] as Rdn)
  )
    k++;
  // The canonical form is a valid DN the server matches as it matches any spelling.
  return k === 0 ? undefined : formatCanonical(ra.slice(ra.length - k));
}

/** What the context entry of an OpenLDAP-style server offers, best first. */
export function kindOffered(contextEntry: {
  contextCSN: string[];
  entryCSN: string[];
  modifyTimestamp: string[];
}): Exclude<WatermarkKind, 'highestCommittedUSN'> | undefined {
  if (contextEntry.contextCSN.some((v) => parseCsn(v) !== undefined)) return 'contextCSN';
  if (contextEntry.entryCSN.some((v) => parseCsn(v) !== undefined)) return 'entryCSN';
  if (contextEntry.modifyTimestamp.some((v) => parseGeneralizedTime(v) !== undefined))
    return 'modifyTimestamp';
  return undefined;
}

/** One line for validate and the log: which watermark, where, and what a poll costs. */
export function describeOffer(d: Detected): string {
  switch (d.kind) {
    case 'highestCommittedUSN':
      return `the DC offers highestCommittedUSN on its rootDSE: one base read per poll (DC ${d.server})`;
    case 'contextCSN':
      return `${d.context} offers contextCSN (syncprov): one base read per poll`;
    case 'entryCSN':
      return `${d.context} has no contextCSN (no syncprov overlay): the watch polls for the newest entryCSN, one subtree search per poll (index entryCSN eq to keep it cheap)`;
    case 'modifyTimestamp':
      return `${d.context} has neither contextCSN nor entryCSN: the watch polls for the newest modifyTimestamp, one subtree search per poll (index modifyTimestamp eq to keep it cheap), to the second`;
  }
}

// ---- reading --------------------------------------------------------------------------------------------

export interface Detected {
  kind: WatermarkKind;
  /** The naming context read (OpenLDAP kinds); '' for the rootDSE. */
  context: string;
  server: string;
  /** The context entry's own entryCSN / modifyTimestamp: where the search for the newest starts. */
  start?: string;
  /** Active Directory: the DC's dsServiceName, as the rootDSE says it. */
  dsServiceName?: string;
}

const ROOT_DSE = { scope: 'base' as const, filter: '(objectClass=*)' };

/** Reads what the server offers. Throws LdapConfigError when it offers no watermark at all. */
export async function detectWatermark(client: Client, s: LdapSettings): Promise<Detected> {
  if (s.profile === 'activedirectory') {
    const root = await readRootDse(client, s);
    return {
      kind: 'highestCommittedUSN',
      context: '',
      server: await adIdentity(client, s, root.dsServiceName),
      dsServiceName: root.dsServiceName,
    };
  }
  const rootDse = await client.search('', {
    ...ROOT_DSE,
    attributes: ['namingContexts'],
    timeLimit: s.timeLimitSeconds,
  });
  const contexts = strings(
    rootDse.searchEntries[0] ? attr(rootDse.searchEntries[0], 'namingContexts') : undefined,
  );
  const context = contextFor(contexts, s.userBase, s.groupBase);
  if (context === undefined) {
    throw new LdapConfigError(
      `userBase and groupBase are not in one naming context of ${s.origin} (${contexts.join('; ')}): one watermark cannot cover both`,
      s.origin,
    );
  }
  const entry = await readContextEntry(client, s, context);
  const kind = kindOffered(entry);
  if (kind === undefined) {
    throw new LdapConfigError(
      `${context} on ${s.origin} shows the bind account none of contextCSN, entryCSN and modifyTimestamp: there is nothing to watch`,
      s.origin,
    );
  }
  const start = kind === 'entryCSN' ? entry.entryCSN[0] : entry.modifyTimestamp[0];
  return {
    kind,
    context,
    server: entry.entryUUID ? `entryUUID=${entry.entryUUID}` : '',
    ...(kind === 'contextCSN' || start === undefined ? {} : { start }),
  };
}

async function readRootDse(client: Client, s: LdapSettings): Promise<{ usn: string; dsServiceName: string }> {
  const r = await client.search('', {
    ...ROOT_DSE,
    attributes: ['highestCommittedUSN', 'dsServiceName'],
    timeLimit: s.timeLimitSeconds,
  });
  const e = r.searchEntries[0];
  const value = e ? strings(attr(e, 'highestCommittedUSN'))[0] : undefined;
  if (value === undefined || usn(value) === undefined) {
    throw new LdapConfigError(
      `the rootDSE of ${s.origin} has no highestCommittedUSN: is this an Active Directory DC (profile activedirectory)?`,
      s.origin,
    );
  }
  return { usn: value.trim(), dsServiceName: e ? (strings(attr(e, 'dsServiceName'))[0] ?? '') : '' };
}

/** `dsServiceName=… invocationId=…`; without the invocationId when the account may not read it. */
async function adIdentity(client: Client, s: LdapSettings, dsServiceName: string): Promise<string> {
  if (dsServiceName === '') return '';
  try {
    const r = await client.search(dsServiceName, {
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['invocationId'],
      explicitBufferAttributes: ['invocationId'],
      timeLimit: s.timeLimitSeconds,
    });
    const raw = r.searchEntries[0] ? attr(r.searchEntries[0], 'invocationId') : undefined;
    const bytes = Array.isArray(raw) ? raw[0] : raw;
    if (Buffer.isBuffer(bytes) && bytes.length === 16)
      return `dsServiceName=${dsServiceName} invocationId=${guidFromBytes(bytes)}`;
  } catch (err) {
    if (!(err instanceof ResultCodeError)) throw err;
  }
  return `dsServiceName=${dsServiceName}`;
}

async function readContextEntry(
  client: Client,
  s: LdapSettings,
  context: string,
): Promise<{ contextCSN: string[]; entryCSN: string[]; modifyTimestamp: string[]; entryUUID?: string }> {
  let r: Awaited<ReturnType<Client['search']>>;
  try {
    r = await client.search(context, {
      scope: 'base',
      filter: '(objectClass=*)',
      attributes: ['contextCSN', 'entryUUID', 'entryCSN', 'modifyTimestamp'],
      timeLimit: s.timeLimitSeconds,
    });
  } catch (err) {
    if (err instanceof NoSuchObjectError)
      throw new LdapConfigError(`${context} does not exist on ${s.origin}`, s.origin, { cause: err });
    throw err;
  }
  const e = r.searchEntries[0];
  const get = (name: string) => (e ? strings(attr(e, name)) : []);
  const uuid = get('entryUUID')[0];
  return {
    contextCSN: get('contextCSN'),
    entryCSN: get('entryCSN'),
    modifyTimestamp: get('modifyTimestamp'),
    ...(uuid ? { entryUUID: uuid } : {}),
  };
}

export interface WatermarkReaderOptions {
  logger: Logger;
  /** Entries a "newest change" poll asks for at most (default 50). */
  sizeLimit?: number;
  /** This machine's clock, epoch ms: only where the search for the newest change starts. */
  now?: () => number;
}

/**
 * Reads the watermark through one long-lived connection (an idle poll must not pay a connect, a
 * StartTLS and a bind). What the server offers and who it is are read once per connection; a
 * reconnect (the connection dropped, a failure) reads them again, which is how a failover shows.
 */
export class WatermarkReader {
  private conn: LdapConnection | undefined;
  private reconnectsSeen = 0;
  private detected: Detected | undefined;
  private readonly log: Logger;
  private readonly sizeLimit: number;
  private closed = false;

  constructor(
    private readonly s: LdapSettings,
    private readonly o: WatermarkReaderOptions,
  ) {
    this.log = o.logger.child({ component: 'ldap-watermark', server: s.origin });
    this.sizeLimit = o.sizeLimit ?? 50;
  }

  /** What the current connection's server offers (after a read). */
  get offer(): Detected | undefined {
    return this.detected;
  }

  /**
   * The current watermark. `prev` is the one seen before: the "newest change" kinds search only
   * past it (without it, or from another server, they look for the newest first, which takes a few
   * dozen small searches). Throws an LdapError; the connection is then dropped and the next read
   * connects (and identifies the server) again.
   */
  async read(prev?: Watermark): Promise<Watermark> {
    if (this.closed) throw new LdapError('the watermark reader is closed', this.s.origin);
    try {
      const client = await this.session();
      this.detected ??= await detectWatermark(client, this.s);
      return await this.readWith(client, this.detected, prev);
    } catch (err) {
      await this.drop();
      if (err instanceof LdapError) throw err;
      throw new LdapError(
        `reading the watermark from ${this.s.origin} failed: ${describeLdapFailure(err, this.s.timeoutMs)}`,
        this.s.origin,
        { cause: err },
      );
    }
  }

  /** Drops the connection; the next read connects and identifies the server again. */
  async reset(): Promise<void> {
    await this.drop();
  }

  /** For good: a read in flight fails at once (its socket is dropped) instead of running out its timeout. */
  async close(): Promise<void> {
    this.closed = true;
    this.conn?.abort('the watch is stopping');
    await this.drop();
  }

  private async session(): Promise<Client> {
    if (!this.conn) {
      const conn = await LdapConnection.open(this.s, this.log);
      if (this.closed) {
        // close() came while this connected: nobody would close it later.
        await conn.close();
        throw new LdapError('the watermark reader is closed', this.s.origin);
      }
      this.conn = conn;
      this.reconnectsSeen = conn.reconnects;
      this.detected = undefined;
    }
    const client = await this.conn.session();
    // session() reconnects on its own after a drop; a new connection may reach another server.
    if (this.conn.reconnects !== this.reconnectsSeen) {
      this.reconnectsSeen = this.conn.reconnects;
      this.detected = undefined;
    }
    return client;
  }

  private async drop(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.detected = undefined;
    if (c) {
      c.invalidate();
      await c.close().catch(() => undefined);
    }
  }

  private async readWith(client: Client, d: Detected, prev: Watermark | undefined): Promise<Watermark> {
    switch (d.kind) {
      case 'highestCommittedUSN': {
        const root = await readRootDse(client, this.s);
        // The same connection always reaches the same DC; should its name change all the same,
        // say who it is now.
        if (root.dsServiceName !== d.dsServiceName) {
          d.server = await adIdentity(client, this.s, root.dsServiceName);
          d.dsServiceName = root.dsServiceName;
        }
        return { kind: d.kind, server: d.server, value: root.usn };
      }
      case 'contextCSN': {
        const entry = await readContextEntry(client, this.s, d.context);
        const server = entry.entryUUID ? `entryUUID=${entry.entryUUID}` : '';
        const csns = entry.contextCSN.filter((v) => parseCsn(v) !== undefined).sort();
        if (csns.length === 0) {
          throw new LdapError(`${d.context} on ${this.s.origin} no longer shows a contextCSN`, this.s.origin);
        }
        return { kind: d.kind, server, value: csns.join(' ') };
      }
      case 'entryCSN':
      case 'modifyTimestamp': {
        const ordered = ORDERED[d.kind];
        if (
          prev &&
          prev.kind === d.kind &&
          prev.server === d.server &&
          ordered.tickOf(prev.value) !== undefined
        )
          return {
            kind: d.kind,
            server: d.server,
            value: await this.newerThan(client, d, ordered, prev.value),
          };
        if (d.start === undefined)
          throw new LdapError(`${d.context} shows no ${ordered.attribute} to start from`, this.s.origin);
        return { kind: d.kind, server: d.server, value: await this.newest(client, d, ordered, d.start) };
      }
    }
  }

  /**
   * One search for anything changed after `seen`; the newest value found, or `seen`. A full page
   * (more changed than it holds, in the server's order, not by time) goes on to find the newest
   * from there, so a bulk change is one move, not a move at every poll until the pages catch up.
   */
  private async newerThan(client: Client, d: Detected, o: OrderedAttribute, seen: string): Promise<string> {
    const r = await client.search(d.context, {
      scope: 'sub',
      filter: `(${o.attribute}>=${o.newerThan(seen)})`,
      attributes: [o.attribute],
      sizeLimit: this.sizeLimit,
      timeLimit: this.s.timeLimitSeconds,
    });
    let newest = seen;
    for (const e of r.searchEntries) {
      for (const v of strings(attr(e, o.attribute))) if (o.isNewer(v, newest)) newest = v;
    }
    if (r.searchEntries.length >= this.sizeLimit && newest !== seen) return this.newest(client, d, o, newest);
    return newest;
  }

  /** The newest value under the context, from `start` on: a few dozen searches of one entry each. */
  private async newest(client: Client, d: Detected, o: OrderedAttribute, start: string): Promise<string> {
    const lo = o.tickOf(start);
    if (lo === undefined)
      throw new LdapError(`${d.context}: ${o.attribute} ${start} is not one`, this.s.origin);
    let probes = 0;
    const exists = async (tick: number): Promise<boolean> => {
      probes++;
      const r = await client.search(d.context, {
        scope: 'sub',
        filter: `(${o.attribute}>=${o.lowerBound(tick)})`,
        attributes: ['1.1'],
        sizeLimit: 1,
        timeLimit: this.s.timeLimitSeconds,
      });
      return r.searchEntries.length > 0;
    };
    const nowMs = (this.o.now ?? Date.now)();
    const guess = o.attribute === 'entryCSN' ? (nowMs + 60_000) * 1000 : Math.floor(nowMs / 1000) + 60;
    const tick = await newestTick(lo, guess, exists);
    // The values at that tick: one microsecond's writes, or one second's.
    const r = await client.search(d.context, {
      scope: 'sub',
      filter: `(${o.attribute}>=${o.lowerBound(tick)})`,
      attributes: [o.attribute],
      sizeLimit: this.sizeLimit,
      timeLimit: this.s.timeLimitSeconds,
    });
    let newest = start;
    for (const e of r.searchEntries) {
      for (const v of strings(attr(e, o.attribute))) if (o.isNewer(v, newest)) newest = v;
    }
    this.log.debug({ kind: d.kind, newest, probes }, 'newest change found');
    return newest;
  }
}

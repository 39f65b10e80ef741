// The directory tells the daemon that something changed, instead of the daemon finding out at its
// next poll (src/daemon/watermark.ts; docs/watch.md, "Push"). A listener holds one search open on
// a connection of its own, and says "changed" whenever the server sends anything on it. It never
// says what changed and decides nothing: the poller answers a "changed" with a poll at once, and
// the watermark it reads is still the only thing that asks for a run. A listener that cannot run
// (no such control, refused, the connection lost) leaves the poll exactly as it was.
//
// What each server offers:
// - OpenLDAP with the syncprov overlay (supportedControl 1.3.6.1.4.1.4203.1.9.1.1): an RFC 4533
//   content synchronisation search, mode refreshAndPersist, on the naming context the watermark is
//   read from, asking for no attributes (`1.1`). Its cookie is the context's contextCSN read just
//   before (`rid=000,csn=<csn>[;<csn>…]`, the form slapd parses; without `rid=` it ignores the
//   cookie), so the refresh phase sends only what changed between that read and the search: nothing,
//   usually. Without a readable contextCSN the search goes without a cookie, and everything the
//   refresh sends (the whole context, entry by entry) is ignored until the Sync Info message that
//   ends it. Anything after that (an entry with its sync state, a Sync Info message) is a change.
// - Active Directory and Samba (supportedControl 1.2.840.113556.1.4.528, LDAP_SERVER_NOTIFICATION_OID):
//   a subtree search with that control (critical, no value) on the naming context that holds both
//   bases, filter (objectClass=*), no attributes. [MS-ADTS] 3.1.1.3.4.1.9 allows base, one-level
//   and subtree scope, subtree on any base from Windows Server 2003 on; the Win32 notes ask for the
//   root of a naming context for a subtree, which is what this does, so it holds on every DC. The
//   server sends an entry for each object changed, and never ends the search. Samba 4 accepts the
//   same search (checked against Samba 4.17 here) but does not push at once: its notification
//   searches are re-run on a timer, every 5 s (source4/ldap_server/ldap_server.c,
//   ldapsrv_notification_retry_setup), or 100 µs after a request handled by the same LDAP server
//   process; with the prefork process model (4 LDAP workers by default) a change made through
//   another worker's connection waits for that timer. On Samba a change is told 0-5 s after it is
//   made, 2.5 s on average; on Windows DCs as it commits.
//
// ldapts' search() collects a search's results until its SearchResultDone, which a persistent
// search never sends, applies the client's timeout to it, and does not know the Intermediate
// Response that carries RFC 4533's Sync Info messages (its parser rejects the request when one
// comes). So, as the full read does (wire.ts, search.ts), the request goes through the client's own
// `_send` and the client's message parser is stood in for on this connection: a small framer
// takes the messages of the persistent search (entries, references, intermediate responses) off the
// socket and hands every other message, whole, to ldapts' parser, which still answers for the bind,
// StartTLS, the reads made before the search and the liveness probes made beside it, and the
// search's own SearchResultDone if the server ends it (its result code). Messages are decoded with
// ldapts' own BerReader. This keeps connect, StartTLS, TLS checks and bind in one place
// (connection.ts) rather than in a second LDAP client; ldapts is pinned to an exact version, and a
// unit test pins the internals used (test/unit/directory/ldap/notify.test.ts).
//
// A session that ends (the connection dropped, the server ended the search, a refusal) is started
// again after a capped exponential backoff with jitter (1 s doubling up to 60 s by default, back to
// 1 s once a session stayed up that long). A quiet session is checked every minute by a rootDSE
// read on the same connection (a connection that died without a FIN, behind a NAT or a firewall,
// is noticed then), which also keeps the connection from looking idle to the server. Nothing here
// logs a secret: messages come from describeLdapFailure/describeResultCode, built without the bind
// password.
import { EventEmitter } from 'node:events';
import {
  BerReader,
  BerWriter,
  type Client,
  Control,
  PresenceFilter,
  ResultCodeError,
  SearchRequest,
  type SearchResponse,
  StatusCodeParser,
} from 'ldapts';
import type { Logger } from 'pino';
import { LdapConnection } from './connection.js';
import { attr, strings } from './entry.js';
import { describeLdapFailure, describeResultCode, LdapError } from './errors.js';
import type { LdapSettings } from './profiles.js';
import { contextFor, parseCsn } from './watermark.js';
import type { MessageReader } from './wire.js';

export const SYNC_REQUEST_OID = '1.3.6.1.4.1.4203.1.9.1.1';
export const SYNC_INFO_OID = '1.3.6.1.4.1.4203.1.9.1.4';
export const NOTIFICATION_OID = '1.2.840.113556.1.4.528';
/** RFC 4533 §2.5: the cookie is no good any more (the server asks for a full refresh). */
const E_SYNC_REFRESH_REQUIRED = 4096;

export type PushKind = 'refreshAndPersist' | 'notification';

export interface PushOffer {
  kind: PushKind;
  /** The naming context the search is made on. */
  base: string;
}

export type PushDetection = PushOffer | { kind: undefined; why: string };

// ---- what the server offers (pure) ----------------------------------------------------------------

/**
 * Which push the rootDSE offers for these settings: the profile says which control to look for
 * (activedirectory: change notifications; any other: syncprov's content synchronisation), and the
 * base is the naming context that holds both bases, as for the watermark.
 */
export function pushOffered(
  s: Pick<LdapSettings, 'profile' | 'userBase' | 'groupBase'>,
  rootDse: { supportedControl: readonly string[]; namingContexts: readonly string[] },
): PushDetection {
  const ad = s.profile === 'activedirectory';
  const oid = ad ? NOTIFICATION_OID : SYNC_REQUEST_OID;
  if (!rootDse.supportedControl.includes(oid)) {
    return {
      kind: undefined,
      why: ad
        ? `no change notification control, ${NOTIFICATION_OID}, in the rootDSE's supportedControl`
        : `syncprov is not loaded: no ${SYNC_REQUEST_OID} in the rootDSE's supportedControl`,
    };
  }
  const base = contextFor(rootDse.namingContexts, s.userBase, s.groupBase);
  if (base === undefined) {
    return { kind: undefined, why: 'userBase and groupBase are not in one naming context' };
  }
  return { kind: ad ? 'notification' : 'refreshAndPersist', base };
}

/** `5s`, `1.5s`, `250 ms`: the poll interval as validate and the log say it. */
export function formatInterval(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000}s` : `${ms} ms`;
}

/**
 * For validate (the `source.watch.push` line) and the log: whether the server pushes, and that
 * the poll stays.
 */
export function describePush(d: PushDetection | 'off', intervalMs: number): string {
  const every = formatInterval(intervalMs);
  if (d === 'off') return `off (source.watch.push: off), polling every ${every}`;
  if (d.kind === undefined) return `not offered (${d.why}), polling every ${every}`;
  const what =
    d.kind === 'refreshAndPersist'
      ? `refreshAndPersist (syncprov) on ${d.base}`
      : `change notifications (${NOTIFICATION_OID}) on ${d.base} (Samba tells a change within 5 s, a Windows DC at once)`;
  return `${what}: a change is polled at once; the poll every ${every} stays as the safety net`;
}

// ---- reading what the server offers --------------------------------------------------------------

/** Reads the rootDSE (supportedControl, namingContexts) and says which push it offers. */
export async function detectPush(client: Client, s: LdapSettings): Promise<PushDetection> {
  const r = await client.search('', {
    scope: 'base',
    filter: '(objectClass=*)',
    attributes: ['supportedControl', 'namingContexts'],
    timeLimit: s.timeLimitSeconds,
  });
  const e = r.searchEntries[0];
  return pushOffered(s, {
    supportedControl: e ? strings(attr(e, 'supportedControl')) : [],
    namingContexts: e ? strings(attr(e, 'namingContexts')) : [],
  });
}

// ---- the wire ------------------------------------------------------------------------------------

/** RFC 4533 §2.2: syncRequestValue ::= SEQUENCE { mode ENUMERATED, cookie OPTIONAL, reloadHint DEFAULT FALSE }. */
export class SyncRequestControl extends Control {
  constructor(readonly cookie: string | undefined) {
    // Critical: a server that does not know it must refuse the search, not answer it as a plain
    // subtree search of the whole context.
    super(SYNC_REQUEST_OID, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence();
    value.writeEnumeration(3); // refreshAndPersist
    if (this.cookie !== undefined) value.writeString(this.cookie);
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** What the persistent search sent, as far as the listener cares. */
export type PushMessage =
  | { type: 'entry' }
  | { type: 'reference' }
  /** A Sync Info message; `refreshDone` on the refreshDelete/refreshPresent that ends a refresh. */
  | {
      type: 'syncInfo';
      info: 'newcookie' | 'refreshDelete' | 'refreshPresent' | 'syncIdSet';
      refreshDone: boolean;
    }
  | { type: 'intermediate' };

const SEQUENCE = 0x30;
const SEARCH_RESULT_ENTRY = 0x64;
const SEARCH_RESULT_REFERENCE = 0x73;
const INTERMEDIATE_RESPONSE = 0x79;

/**
 * The end of the LDAPMessage frame at `off`: undefined while its header or body is not all there,
 * -1 if the bytes are not an LDAP message frame at all.
 */
export function frameEnd(buf: Buffer, off: number): number | undefined {
  if (buf[off] !== SEQUENCE) return -1;
  if (off + 2 > buf.length) return undefined;
  const first = buf[off + 1] as number;
  let start = off + 2;
  let length = first;
  if (first >= 0x80) {
    const n = first & 0x7f;
    // Indefinite lengths and lengths over 4 bytes: ldapts refuses them with its own error.
    if (n === 0 || n > 4) return -1;
    if (off + 2 + n > buf.length) return undefined;
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + (buf[off + 2 + k] as number);
    start += n;
  }
  const end = start + length;
  return end > buf.length ? undefined : end;
}

/**
 * One LDAPMessage: what it means to the listener when it belongs to the persistent search
 * `messageId`; undefined when it is someone else's (or the search's SearchResultDone), for ldapts.
 */
export function decodePushMessage(message: Buffer, messageId: number): PushMessage | undefined {
  const r = new BerReader(message);
  r.readSequence(SEQUENCE);
  if (r.readInt() !== messageId) return undefined;
  const op = r.peek();
  if (op === SEARCH_RESULT_ENTRY) return { type: 'entry' };
  if (op === SEARCH_RESULT_REFERENCE) return { type: 'reference' };
  if (op !== INTERMEDIATE_RESPONSE) return undefined;
  // IntermediateResponse ::= [APPLICATION 25] SEQUENCE { responseName [0] OPTIONAL, responseValue [1] OPTIONAL }
  r.readSequence(INTERMEDIATE_RESPONSE);
  const end = r.offset + r.length;
  let name: string | undefined;
  let value: Buffer | undefined;
  while (r.offset < end) {
    const tag = r.peek();
    if (tag === 0x80) name = r.readString(0x80) ?? undefined;
    else if (tag === 0x81) value = r.readString(0x81, true) ?? undefined;
    else break;
  }
  if (name !== SYNC_INFO_OID || value === undefined || value.length === 0) return { type: 'intermediate' };
  return decodeSyncInfo(value);
}

/** RFC 4533 §2.5: syncInfoValue ::= CHOICE { newcookie [0], refreshDelete [1], refreshPresent [2], syncIdSet [3] }. */
function decodeSyncInfo(value: Buffer): PushMessage {
  const tag = value[0];
  if (tag === 0x80) return { type: 'syncInfo', info: 'newcookie', refreshDone: false };
  if (tag === 0xa3) return { type: 'syncInfo', info: 'syncIdSet', refreshDone: false };
  if (tag !== 0xa1 && tag !== 0xa2) return { type: 'intermediate' };
  // SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE }
  const r = new BerReader(value);
  r.readSequence(tag);
  const end = r.offset + r.length;
  let refreshDone = true;
  while (r.offset < end) {
    const t = r.peek();
    if (t === 0x04) r.readString(0x04, true);
    else if (t === 0x01) refreshDone = r.readBoolean() ?? true;
    else break;
  }
  return { type: 'syncInfo', info: tag === 0xa1 ? 'refreshDelete' : 'refreshPresent', refreshDone };
}

/**
 * Stands in for the client's message parser on the listener's connection: frames the incoming
 * bytes into LDAP messages, keeps those of the persistent search (to `on`), and hands every other
 * message whole to ldapts' parser.
 */
export class PushTap implements MessageReader {
  private rest: Buffer | undefined;
  /** Bytes that are not LDAP frames: ldapts decides what they are, from then on. */
  private passthrough = false;

  constructor(
    private readonly ldapts: MessageReader,
    private readonly messageId: number,
    private readonly on: (m: PushMessage) => void,
  ) {}

  read(data: Buffer, details: unknown): void {
    if (this.passthrough) {
      this.ldapts.read(data, details);
      return;
    }
    const buf = this.rest === undefined ? data : Buffer.concat([this.rest, data]);
    this.rest = undefined;
    let off = 0;
    while (off < buf.length) {
      const end = frameEnd(buf, off);
      if (end === undefined) break;
      if (end === -1) {
        this.passthrough = true;
        this.ldapts.read(buf.subarray(off), details);
        return;
      }
      const message = buf.subarray(off, end);
      let mine: PushMessage | undefined;
      try {
        mine = decodePushMessage(message, this.messageId);
      } catch {
        // A message of ours that does not decode as expected still says the server sent something.
        mine = belongsTo(message, this.messageId) ? { type: 'intermediate' } : undefined;
      }
      if (mine === undefined) this.ldapts.read(message, details);
      else this.on(mine);
      off = end;
    }
    if (off < buf.length) this.rest = Buffer.from(buf.subarray(off));
  }
}

function belongsTo(message: Buffer, messageId: number): boolean {
  try {
    const r = new BerReader(message);
    r.readSequence(SEQUENCE);
    return r.readInt() === messageId;
  } catch {
    return false;
  }
}

/** The Client members this uses beyond its public API (ldapts 8.2, Client.ts). */
interface ClientInternals {
  _send(message: SearchRequest): Promise<SearchResponse | undefined>;
  _nextMessageId(): number;
  messageParser: MessageReader;
  /** Requests in flight by message id; `timeoutTimer` is the client's timeout for one. */
  messageDetailsByMessageId: Map<string, { timeoutTimer?: NodeJS.Timeout | null }>;
}

/** The client's internals, when they are the ones this was written against (a test pins them). */
export function pushInternals(client: Client): ClientInternals | undefined {
  const c = client as unknown as Partial<ClientInternals>;
  return typeof c._send === 'function' &&
    typeof c._nextMessageId === 'function' &&
    typeof c.messageParser?.read === 'function' &&
    c.messageDetailsByMessageId instanceof Map
    ? (c as ClientInternals)
    : undefined;
}

// ---- the listener --------------------------------------------------------------------------------

export type PushState =
  | { state: 'connecting' }
  | { state: 'active'; kind: PushKind; base: string; since: number }
  | { state: 'retrying'; error: string; retryInMs: number; since: number }
  /** For good (until a new listener): the server offers no push. */
  | { state: 'unavailable'; why: string }
  | { state: 'closed' };

export interface ChangeListenerEvents {
  /** The server sent something on the persistent search after its refresh: something changed. */
  changed: [];
  state: [PushState];
}

export interface ChangeListenerOptions {
  logger: Logger;
  /** Reconnect delays: the first, and the cap (default 1 s and 60 s); back to the first after a session up for the cap. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often a quiet session is checked with a rootDSE read on its connection (default 60 s). */
  probeEveryMs?: number;
  now?: () => number;
}

/** How long close() waits for a connect in progress (which cannot be interrupted). */
const CLOSE_GRACE_MS = 1_000;

/** A session's end: how long it was active, and why it ended. */
interface SessionEnd {
  activeMs: number;
  error: LdapError;
}

class Unavailable extends Error {}

/**
 * Holds the persistent search open and reconnects it; `changed` for every change the server tells.
 * `start()` once; `close()` ends it promptly.
 */
export class ChangeListener extends EventEmitter<ChangeListenerEvents> {
  private readonly log: Logger;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly probeEveryMs: number;
  private readonly now: () => number;
  private conn: LdapConnection | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private current: PushState = { state: 'connecting' };

  constructor(
    private readonly s: LdapSettings,
    o: ChangeListenerOptions,
  ) {
    super();
    this.log = o.logger.child({ component: 'ldap-push', server: s.origin });
    this.initialMs = o.backoff?.initialMs ?? 1_000;
    this.maxMs = Math.max(this.initialMs, o.backoff?.maxMs ?? 60_000);
    this.probeEveryMs = o.probeEveryMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  get state(): PushState {
    return this.current;
  }

  start(): void {
    if (this.running || this.closed) return;
    this.running = this.loop().catch((err: unknown) => {
      // Nothing in the loop is meant to throw; if something does, push stops and the poll goes on.
      this.log.warn({ err: describeLdapFailure(err, this.s.timeoutMs) }, 'push: the listener stopped');
      this.setState({ state: 'unavailable', why: 'the listener stopped on an unexpected error' });
    });
  }

  /** Ends the search and the connection; a reconnect waiting or a connect in flight stops too. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.conn?.abort('the watch is stopping');
    await Promise.race([this.running, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
    this.setState({ state: 'closed' });
  }

  private setState(next: PushState): void {
    if (this.current.state === 'closed') return;
    this.current = next;
    this.emit('state', next);
  }

  private async loop(): Promise<void> {
    let delay = this.initialMs;
    while (!this.closed) {
      this.setState({ state: 'connecting' });
      let end: SessionEnd;
      try {
        end = await this.session();
      } catch (err) {
        if (err instanceof Unavailable) {
          this.setState({ state: 'unavailable', why: err.message });
          return;
        }
        end = { activeMs: 0, error: asLdapError(err, this.s) };
      }
      if (this.closed) return;
      // A session that stayed up for a while was fine: the next starts again from the first delay.
      if (end.activeMs >= this.maxMs) delay = this.initialMs;
      const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
      this.setState({ state: 'retrying', error: end.error.message, retryInMs: wait, since: this.now() });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        timer.unref();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(this.maxMs, delay * 2);
    }
  }

  /** One connection: connect, bind, find the offer, hold the search until it ends. */
  private async session(): Promise<SessionEnd> {
    // The poller's own connection already says what LdapConnection warns about (plain LDAP, an
    // unverified certificate) once per connect; a listener reconnecting must not repeat it.
    const quiet = this.log.levelVal > 50 ? this.log : this.log.child({}, { level: 'error' });
    const conn = await LdapConnection.open(this.s, quiet);
    if (this.closed) {
      await conn.close();
      return { activeMs: 0, error: new LdapError('the listener is closed', this.s.origin) };
    }
    this.conn = conn;
    try {
      const client = await conn.session();
      const raw = pushInternals(client);
      if (raw === undefined) throw new Unavailable('this ldapts lacks the internals the listener uses');
      const offer = await detectPush(client, this.s);
      if (offer.kind === undefined) throw new Unavailable(offer.why);
      return await this.listen(conn, client, raw, offer);
    } finally {
      this.conn = undefined;
      conn.invalidate();
      await conn.close().catch(() => undefined);
    }
  }

  private async listen(
    conn: LdapConnection,
    client: Client,
    raw: ClientInternals,
    offer: PushOffer,
  ): Promise<SessionEnd> {
    const cookie = offer.kind === 'refreshAndPersist' ? await this.cookie(client, offer.base) : undefined;
    const controls =
      offer.kind === 'refreshAndPersist'
        ? [new SyncRequestControl(cookie)]
        : [new Control(NOTIFICATION_OID, { critical: true })];
    const request = new SearchRequest({
      messageId: raw._nextMessageId(),
      baseDN: offer.base,
      scope: 'sub',
      filter: new PresenceFilter({ attribute: 'objectClass' }),
      attributes: ['1.1'],
      sizeLimit: 0,
      timeLimit: 0,
      controls,
    });

    let activeSince: number | undefined;
    const activate = (): void => {
      if (activeSince !== undefined || this.closed) return;
      activeSince = this.now();
      this.setState({ state: 'active', kind: offer.kind, base: offer.base, since: activeSince });
    };
    // The notification search has no refresh: it is live once sent. The sync search is live at
    // the Sync Info message that ends its refresh; what came before that is news only with a
    // cookie (changes since the contextCSN just read), and then it is one change for all of it.
    let refreshing = offer.kind === 'refreshAndPersist';
    let changedInRefresh = false;
    const onMessage = (m: PushMessage): void => {
      if (this.closed) return;
      if (!refreshing) {
        this.emit('changed');
        return;
      }
      if (
        m.type === 'syncInfo' &&
        m.refreshDone &&
        (m.info === 'refreshDelete' || m.info === 'refreshPresent')
      ) {
        refreshing = false;
        activate();
        if (changedInRefresh) this.emit('changed');
        return;
      }
      if (cookie !== undefined && m.type !== 'syncInfo') changedInRefresh = true;
    };

    const parser = raw.messageParser;
    raw.messageParser = new PushTap(parser, request.messageId, onMessage);
    let probe: NodeJS.Timeout | undefined;
    try {
      const sent = raw._send(request);
      // The client's timeout would drop the connection of a search that is meant never to end.
      const details = raw.messageDetailsByMessageId.get(String(request.messageId));
      if (details?.timeoutTimer) clearTimeout(details.timeoutTimer);
      const ended = sent.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      // A read on the same connection, answered while the search is still open: the server took it
      // (a refusal comes as the search's result, before the answer to a request sent after it).
      const alive = (): Promise<boolean> =>
        client
          .search('', {
            scope: 'base',
            filter: '(objectClass=*)',
            attributes: ['1.1'],
            timeLimit: this.s.timeLimitSeconds,
          })
          .then(
            () => true,
            (err: unknown) => {
              // An answer with an error code still shows the connection works.
              if (err instanceof ResultCodeError) return true;
              this.log.debug(
                { err: describeLdapFailure(err, this.s.timeoutMs) },
                'push: liveness read failed',
              );
              // Dropping the socket ends the search too: the session ends and is started again.
              conn.abort('the liveness read failed');
              return false;
            },
          );
      if (offer.kind === 'notification') {
        const first = await Promise.race([ended, alive()]);
        if (first === true) activate();
      }
      probe = setInterval(() => void alive(), this.probeEveryMs);
      probe.unref();
      const end = await ended;
      const activeMs = activeSince === undefined ? 0 : this.now() - activeSince;
      if ('error' in end) return { activeMs, error: asLdapError(end.error, this.s) };
      return { activeMs, error: endedBy(end.result, this.s) };
    } finally {
      clearInterval(probe);
      raw.messageParser = parser;
    }
  }

  /** syncprov's cookie for "from the contextCSN on": slapd's own form, with a replica id. */
  private async cookie(client: Client, base: string): Promise<string | undefined> {
    try {
      const r = await client.search(base, {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['contextCSN'],
        timeLimit: this.s.timeLimitSeconds,
      });
      const e = r.searchEntries[0];
      const csns = (e ? strings(attr(e, 'contextCSN')) : []).filter((v) => parseCsn(v) !== undefined).sort();
      return csns.length === 0 ? undefined : `rid=000,csn=${csns.join(';')}`;
    } catch (err) {
      if (!(err instanceof ResultCodeError)) throw err;
      return undefined; // not readable: the refresh is then ignored until it ends
    }
  }
}

/** Why the server ended a search that is meant never to end. */
function endedBy(result: SearchResponse | undefined, s: LdapSettings): LdapError {
  if (result === undefined || result.status === 0)
    return new LdapError(`${s.origin} ended the change search`, s.origin);
  if (result.status === E_SYNC_REFRESH_REQUIRED)
    return new LdapError(
      `${s.origin} ended the change search: its cookie is no longer good (e-syncRefreshRequired)`,
      s.origin,
    );
  const err = StatusCodeParser.parse(result);
  return new LdapError(
    `${s.origin} refused or ended the change search: ${describeResultCode(err)}`,
    s.origin,
    {
      cause: err,
    },
  );
}

function asLdapError(err: unknown, s: LdapSettings): LdapError {
  if (err instanceof LdapError) return err;
  return new LdapError(
    `the change search on ${s.origin} failed: ${describeLdapFailure(err, s.timeoutMs)}`,
    s.origin,
    {
      cause: err,
    },
  );
}

// Paged searches whose entries reach the reader one by one as they arrive, instead of a page at
// a time through ldapts' toObject (entry.ts says why: at 100,000 users toObject cost about as much
// as everything the reader does with an entry, and holding a page of parsed entries until it was
// complete was most of the garbage collector's work).
//
// This is ldapts 8.2's own Client.searchPaginated loop (one SearchRequest with a paged-results
// control, re-sent with the server's cookie until it has none), through the client's request
// method `_send`, which that loop uses. While a page is in flight the client's message parser is
// stood in for by EntryWire (wire.ts), which decodes that request's entries and hands ldapts every
// other message; an entry it leaves to ldapts reaches EntrySink, put where the client collects a
// search's entries. None of these are public API: ldapts is pinned to an exact version in
// package.json, a unit test pins that these internals exist, and the integration tests read real
// slapd and Samba through this path. A client without `_send` (another version, a scripted client
// in unit tests) is read through the public searchPaginated, converted; one without the parser or
// the collecting list hands its entries over at the end of each page. The reader sees the same
// entries every way.
import {
  type Client,
  type Filter,
  MessageResponseStatus,
  PagedResultsControl,
  SearchRequest,
  type SearchResponse,
  StatusCodeParser,
} from 'ldapts';
import { asRawEntry, type RawEntry } from './entry.js';
import { EntryWire, type MessageReader } from './wire.js';

export interface PageEnd {
  /** Entries the page held (each already handed to `entry`). */
  entries: number;
  /** Continuation reference URIs. */
  references: string[];
}

/**
 * Receives a search's entries one by one, as they arrive, and the end of each page. The entries
 * of a page that then fails were handed over too but their page never ends: a consumer stages
 * them and keeps them only at `end`, which keeps "a page is read whole or not at all".
 */
export interface PageHandler {
  /** Called from inside ldapts' message parser: an exception is kept and rethrown after the page. */
  entry(entry: RawEntry): void;
  /** Awaited before the next page is asked for. */
  end(page: PageEnd): void | Promise<void>;
}

export interface RawSearch {
  scope: 'base' | 'one' | 'sub';
  filter: Filter;
  attributes: string[];
  /** Attribute types (exact spelling) whose values are wanted undecoded. */
  explicitBufferAttributes: string[];
  pageSize: number;
  timeLimit: number;
}

/** The Client members this uses beyond its public API (ldapts 8.2, Client.ts). */
interface ClientInternals {
  _send(message: SearchRequest): Promise<SearchResponse | undefined>;
  _nextMessageId(): number;
  /** Requests in flight by message id; a search's entries collect in its `searchEntries`. */
  messageDetailsByMessageId?: Map<string, { searchEntries?: unknown }>;
  /** What the socket's data goes to (read per data event, so it can be stood in for). */
  messageParser?: MessageReader;
}

/** Whether a search on this client takes the raw path (a test pins it for the ldapts in use). */
export function readsRaw(client: Client): boolean {
  const raw = internals(client);
  return raw?.messageDetailsByMessageId instanceof Map && typeof raw.messageParser?.read === 'function';
}

function internals(client: Client): ClientInternals | undefined {
  const c = client as unknown as Partial<ClientInternals>;
  return typeof c._send === 'function' && typeof c._nextMessageId === 'function'
    ? (c as ClientInternals)
    : undefined;
}

/**
 * Where a page's entries go as they are parsed, by wire.ts or by ldapts (the sink stands in for
 * the list ldapts collects a search's entries in until the search's result; iterated by ldapts at
 * the end, it is empty). An entry handed on at once is read while its bytes are still in cache and
 * is garbage before the next young-generation collection, instead of surviving (and being copied
 * by) every collection until its page is complete.
 */
class EntrySink {
  count = 0;
  failure: { error: unknown } | undefined;

  constructor(private readonly handler: PageHandler) {}

  push(entry: RawEntry): number {
    this.count++;
    if (this.failure !== undefined) return this.count;
    try {
      this.handler.entry(entry);
    } catch (error) {
      // Thrown into ldapts' parser it would drop the rest of the data chunk, this search's
      // result with it, and the search would wait out its timeout.
      this.failure = { error };
    }
    return this.count;
  }

  /** What the handler threw, if it did. */
  rethrow(): void {
    if (this.failure !== undefined) throw this.failure.error;
  }

  *[Symbol.iterator](): Iterator<RawEntry> {}
}

/**
 * A paged search: entries to `handler.entry` as they arrive, `handler.end` after each page (awaited)
 * before the next is asked for. Errors are ldapts' own (ResultCodeError, connection errors).
 */
export async function searchPagesRaw(
  client: Client,
  base: string,
  q: RawSearch,
  handler: PageHandler,
): Promise<void> {
  const raw = internals(client);
  if (raw === undefined) {
    for await (const page of client.searchPaginated(base, {
      scope: q.scope,
      filter: q.filter,
      attributes: q.attributes,
      explicitBufferAttributes: q.explicitBufferAttributes,
      paged: { pageSize: q.pageSize },
      timeLimit: q.timeLimit,
    })) {
      for (const entry of page.searchEntries) handler.entry(asRawEntry(entry));
      await handler.end({ entries: page.searchEntries.length, references: page.searchReferences });
    }
    return;
  }
  const paged = new PagedResultsControl({ value: { size: q.pageSize } });
  const request = new SearchRequest({
    messageId: -1,
    baseDN: base,
    scope: q.scope,
    filter: q.filter,
    attributes: q.attributes,
    explicitBufferAttributes: q.explicitBufferAttributes,
    timeLimit: q.timeLimit,
    controls: [paged],
  });
  // One call per page, not a loop in one async function: a suspended async function keeps every
  // register it used, so a loop would hold the previous page's result while the next arrives.
  while (await onePage(raw, request, paged, q.pageSize, q.explicitBufferAttributes, handler));
}

/** Asks for one page and hands it over; whether the server has more. */
async function onePage(
  raw: ClientInternals,
  request: SearchRequest,
  paged: PagedResultsControl,
  pageSize: number,
  explicitBufferAttributes: readonly string[],
  handler: PageHandler,
): Promise<boolean> {
  request.messageId = raw._nextMessageId();
  const sink = new EntrySink(handler);
  // This request's entries decoded off the wire (wire.ts), everything else by ldapts.
  const parser = raw.messageParser;
  const wire =
    parser !== undefined && typeof parser.read === 'function'
      ? new EntryWire(parser, request.messageId, explicitBufferAttributes, (entry) => sink.push(entry))
      : undefined;
  if (wire !== undefined) raw.messageParser = wire;
  let result: SearchResponse | undefined;
  try {
    const sent = raw._send(request);
    // _send has registered the request (synchronously, before any answer can be read). Entries
    // that ldapts parses (any wire.ts leaves to it) come to the sink through it.
    const details = raw.messageDetailsByMessageId?.get(String(request.messageId));
    if (details !== undefined && details.searchEntries === undefined) details.searchEntries = sink;
    result = await sent;
  } finally {
    if (wire !== undefined) {
      raw.messageParser = parser;
      wire.detach(raw.messageDetailsByMessageId);
    }
  }
  if (result?.status !== MessageResponseStatus.Success) throw StatusCodeParser.parse(result);
  // Without the sink in place (other ldapts internals) the entries came the usual way.
  for (const entry of result.searchEntries) sink.push(entry);
  sink.rethrow();
  const references: string[] = [];
  for (const r of result.searchReferences) references.push(...r.uris);
  let cookie: Buffer | undefined;
  for (const control of result.controls ?? []) {
    if (control instanceof PagedResultsControl) {
      cookie = control.value?.cookie;
      break;
    }
  }
  // As searchPaginated: another page while this one returned something and a cookie.
  const more =
    (sink.count > 0 || result.searchReferences.length > 0) && cookie !== undefined && cookie.length > 0;
  if (more) paged.value = { size: pageSize, cookie };
  await handler.end({ entries: sink.count, references });
  return more;
}

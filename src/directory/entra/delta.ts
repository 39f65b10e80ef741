// One delta round against Microsoft Graph: users/delta and groups/delta followed to their delta
// links, from stored links (incremental) or from scratch (full). The thin shell around the pure merge
// of deltaState.ts: it pages, parses each page at the edge, and says why a round did not finish.
//
// A round is all or nothing. Any page that fails (after GraphClient's own retry budget) fails the
// whole round, and the caller keeps its previous links: a link advanced past changes that were never
// applied would lose them for good (Graph does not replay them). The two collections are read at
// once; a failure of one cancels the other.
import { z } from 'zod';
import {
  addGroupItems,
  addUserItems,
  type DeltaChanges,
  emptyChanges,
  type GroupDeltaItem,
  type RoundKind,
  type UserDeltaItem,
} from './deltaState.js';
import { type GraphClient, GraphError } from './graphClient.js';

/** groups/delta needs nothing but the name and the membership edges. */
export const GROUP_DELTA_SELECT = 'displayName,members';

const Removed = z.looseObject({ reason: z.string().optional() });

export const UserDeltaItemSchema = z.looseObject({
  id: z.string().min(1),
  '@removed': Removed.optional(),
});

const MemberDeltaItemSchema = z.looseObject({
  id: z.string().min(1),
  '@odata.type': z.string().optional(),
  '@removed': Removed.optional(),
});

export const GroupDeltaItemSchema = z.looseObject({
  id: z.string().min(1),
  displayName: z.string().nullable().optional(),
  'members@delta': z.array(MemberDeltaItemSchema).optional(),
  '@removed': Removed.optional(),
});

export type DeltaResource = 'users' | 'groups';

/**
 * Graph cannot continue from the stored link: it expired (7 days for directory objects: 400
 * `syncStateNotFound`) or Graph reset it (410 Gone, `resyncRequired`). Only a full read recovers.
 */
export class DeltaResyncRequiredError extends Error {
  constructor(
    readonly resource: DeltaResource,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(
      `Graph can no longer continue the ${resource} delta from the stored link (HTTP ${status}${code ? ` ${code}` : ''}); a full read is needed`,
    );
    this.name = 'DeltaResyncRequiredError';
  }
}

/** A page of a round failed: the round is void and no link moves. */
export class DeltaRoundError extends Error {
  constructor(
    readonly resource: DeltaResource,
    readonly kind: RoundKind,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`the ${kind} ${resource} delta read failed: ${reason}`, options);
    this.name = 'DeltaRoundError';
  }
}

const RESYNC_CODES = /^(resyncRequired|syncStateNotFound|syncStateInvalid)$/i;
/** A token Graph calls invalid never becomes valid again: only starting over gets past it. */
const INVALID_TOKEN = /delta ?token|skip ?token|sync ?state/i;

export function isResyncRequired(err: unknown): err is GraphError {
  if (!(err instanceof GraphError)) return false;
  if (err.status === 410) return true;
  if (err.code !== undefined && RESYNC_CODES.test(err.code)) return true;
  return err.status === 400 && INVALID_TOKEN.test(err.message);
}

export interface DeltaRoundInput {
  kind: RoundKind;
  /** users/delta `$select` (users.ts userSelect: the full read's list). */
  userSelect: string;
  /** Required for an incremental round. */
  usersDeltaLink?: string;
  groupsDeltaLink?: string;
  signal?: AbortSignal;
}

export interface DeltaRoundResult {
  kind: RoundKind;
  changes: DeltaChanges;
  usersDeltaLink: string;
  groupsDeltaLink: string;
  pages: { users: number; groups: number };
}

type Pager = Pick<GraphClient, 'pages'>;

/**
 * Reads one round. Throws DeltaResyncRequiredError when a stored link is no longer valid, and
 * DeltaRoundError for any other failure; either way nothing of the round is kept.
 */
export async function readDeltaRound(client: Pager, input: DeltaRoundInput): Promise<DeltaRoundResult> {
  const { kind } = input;
  if (kind === 'incremental' && (input.usersDeltaLink === undefined || input.groupsDeltaLink === undefined))
    throw new Error('an incremental delta round needs both stored delta links');
  const usersStart =
    kind === 'full'
      ? `/users/delta?$select=${encodeURIComponent(input.userSelect).replace(/%2C/g, ',')}`
      : (input.usersDeltaLink as string);
  const groupsStart =
    kind === 'full' ? `/groups/delta?$select=${GROUP_DELTA_SELECT}` : (input.groupsDeltaLink as string);

  const changes = emptyChanges();
  const cancel = new AbortController();
  const onOuterAbort = () => cancel.abort(input.signal?.reason);
  input.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const follow = async <T>(
    resource: DeltaResource,
    start: string,
    schema: z.ZodType<T>,
    fold: (items: T[]) => void,
  ): Promise<{ link: string; pages: number }> => {
    let pages = 0;
    try {
      for await (const page of client.pages(start, schema, { signal: cancel.signal })) {
        pages++;
        fold(page.items);
        if (page.deltaLink !== undefined) return { link: page.deltaLink, pages };
      }
    } catch (err) {
      if (isResyncRequired(err)) throw new DeltaResyncRequiredError(resource, err.status, err.code);
      throw new DeltaRoundError(resource, kind, describe(err), { cause: err });
    }
    // The pages ended without a delta link: a truncated answer, not the end of the collection.
    throw new DeltaRoundError(resource, kind, `the last page (page ${pages}) carried no @odata.deltaLink`);
  };

  let first: unknown;
  const settle = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      // One collection failed: the other's pages are wasted, so stop asking for them. The first
      // failure is the one to report; the other's is then our own cancellation.
      if (first === undefined) first = err;
      cancel.abort(err);
      throw err;
    });
  try {
    const [users, groups] = await Promise.allSettled([
      settle(
        follow('users', usersStart, UserDeltaItemSchema as z.ZodType<UserDeltaItem>, (items) =>
          addUserItems(changes, items),
        ),
      ),
      settle(
        follow('groups', groupsStart, GroupDeltaItemSchema as z.ZodType<GroupDeltaItem>, (items) =>
          addGroupItems(changes, items),
        ),
      ),
    ]);
    // A resync of either collection outranks any other failure: only a full read gets past it.
    const failures = [users, groups].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const resync = failures.find((e) => e instanceof DeltaResyncRequiredError);
    if (resync) throw resync;
    if (users.status !== 'fulfilled' || groups.status !== 'fulfilled') throw first;
    return {
      kind,
      changes,
      usersDeltaLink: users.value.link,
      groupsDeltaLink: groups.value.link,
      pages: { users: users.value.pages, groups: groups.value.pages },
    };
  } finally {
    input.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function describe(err: unknown): string {
  if (err instanceof GraphError) return err.message;
  if (err instanceof z.ZodError) return `Graph sent an item idsync cannot read (${err.issues[0]?.message})`;
  if (err instanceof Error) return err.message;
  return String(err);
}

// Cursor pagination of every Devin list endpoint: pass `end_cursor` back as
// `after` while `has_next_page`. A server that repeats a cursor would loop forever, so that fails.
import { DevinPaginationError, type RequestContext } from './errors.js';
import type { Page } from './schemas.js';

export type PageFetcher<T> = (after: string | undefined) => Promise<Page<T>>;

/** Yields pages in order. `ctx` names the listing in errors. */
export async function* paginate<T>(
  fetchPage: PageFetcher<T>,
  ctx: Omit<RequestContext, 'attempts'>,
): AsyncGenerator<T[], void, undefined> {
  const seen = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const page = await fetchPage(after);
    yield page.items;
    if (!page.has_next_page) return;
    const cursor = page.end_cursor;
    if (!cursor) {
      throw new DevinPaginationError(
        { ...ctx, attempts: 1 },
        '',
        'has_next_page is true but end_cursor is empty',
      );
    }
    if (seen.has(cursor)) {
      throw new DevinPaginationError(
        { ...ctx, attempts: 1 },
        cursor,
        `the server returned cursor #${seen.size + 1} again; refusing to loop`,
      );
    }
    seen.add(cursor);
    after = cursor;
  }
}

/** Every item of every page. */
export async function collectAll<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const items of pages) {
    for (const item of items) all.push(item);
  }
  return all;
}

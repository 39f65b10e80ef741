import { describe, expect, it } from 'vitest';
import { DevinPaginationError } from '../../../src/devin/errors.js';
import { collectAll, paginate } from '../../../src/devin/pagination.js';
import type { Page } from '../../../src/devin/schemas.js';

const ctx = { method: 'GET', route: '/v3/enterprise/members/users', path: '/v3/enterprise/members/users' };

function pagesOf(pages: Array<Page<number>>) {
  const calls: Array<string | undefined> = [];
  let i = 0;
  const fetcher = async (after: string | undefined) => {
    calls.push(after);
    const page = pages[i++];
    if (!page) throw new Error('fetched past the last page');
    return page;
  };
  return { fetcher, calls };
}

describe('paginate', () => {
  it('follows end_cursor while has_next_page', async () => {
    const { fetcher, calls } = pagesOf([
      { items: [1, 2], end_cursor: 'c1', has_next_page: true },
      { items: [3], end_cursor: 'c2', has_next_page: true },
      { items: [4], end_cursor: null, has_next_page: false },
    ]);
    expect(await collectAll(paginate(fetcher, ctx))).toEqual([1, 2, 3, 4]);
    expect(calls).toEqual([undefined, 'c1', 'c2']);
  });

  it('fails on a repeated cursor instead of looping', async () => {
    const { fetcher } = pagesOf([
      { items: [1], end_cursor: 'c1', has_next_page: true },
      { items: [2], end_cursor: 'c2', has_next_page: true },
      { items: [3], end_cursor: 'c1', has_next_page: true },
    ]);
    await expect(collectAll(paginate(fetcher, ctx))).rejects.toBeInstanceOf(DevinPaginationError);
  });

  it('fails when a next page is announced without a cursor', async () => {
    const { fetcher } = pagesOf([{ items: [1], end_cursor: null, has_next_page: true }]);
    await expect(collectAll(paginate(fetcher, ctx))).rejects.toThrow(/end_cursor is empty/);
  });

  it('treats a missing has_next_page as the last page', async () => {
    const { fetcher, calls } = pagesOf([{ items: [1], has_next_page: false }]);
    expect(await collectAll(paginate(fetcher, ctx))).toEqual([1]);
    expect(calls).toHaveLength(1);
  });
});

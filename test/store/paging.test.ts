import { DomainError } from '../../src/problems/problem';
import { decodeCursor, encodeCursor, keysetPage } from '../../src/store/paging';

describe('keysetPage', () => {
  const rows = ['a', 'b', 'c', 'd', 'e'].map((id, i) => ({ id, n: i }));
  // A store that pages by id: the rows after the key, at most `limit`.
  const fetch = async (after: readonly [string] | undefined, limit: number) => rows.filter((r) => after === undefined || r.id > after[0]).slice(0, limit);
  const page = (cursor: string | undefined, limit: number) => keysetPage({ cursor, limit }, ['string'], fetch, (r) => [r.id]);

  it('asks for one row more than the limit and makes the next cursor from the last row shown', async () => {
    const asked: number[] = [];
    const first = await keysetPage(
      { limit: 2 },
      ['string'],
      (after, limit) => (asked.push(limit), fetch(after, limit)),
      (r) => [r.id],
    );
    expect(asked).toEqual([3]);
    expect(first.items.map((r) => r.id)).toEqual(['a', 'b']);
    expect(first.nextCursor).toBe(encodeCursor(['b']));
  });

  it('walks every row once, and the last page has no next cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const p = await page(cursor, 2);
      seen.push(...p.items.map((r) => r.id));
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    // Exactly a page's worth left: no empty page after it.
    expect((await page(encodeCursor(['c']), 2)).nextCursor).toBeNull();
  });

  it('refuses a cursor it did not issue, or one of another list, as invalid-request', async () => {
    await expect(page('not-a-cursor', 2)).rejects.toBeInstanceOf(DomainError);
    await expect(page(encodeCursor([7]), 2)).rejects.toMatchObject({ code: 'invalid-request', errors: [{ path: 'cursor', message: 'invalid cursor' }] });
    expect(() => decodeCursor(encodeCursor(['x', 'y']), ['string'])).toThrow(DomainError);
  });
});

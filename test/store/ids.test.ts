import { timeOrderedId } from '../../src/store/ids';

describe('timeOrderedId', () => {
  it('ids made in one burst (many in the same millisecond) sort in the order they were made, and none repeats', () => {
    const ids = Array.from({ length: 5000 }, () => timeOrderedId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

import { describe, expect, it } from 'vitest';
import { disjoint, integerRanges, overall } from '../../src/execute/key-ranges.js';

const ranges = (type: string, rs: { lo: unknown; hi: unknown }[]) => integerRanges(type, rs);

describe('key ranges', () => {
  it('reads integer ranges of any driver representation, beyond 2^53 too', () => {
    expect(ranges('INTEGER', [{ lo: '5', hi: 9 }, { lo: -3, hi: 4n }])).toEqual([{ lo: 5n, hi: 9n }, { lo: -3n, hi: 4n }]);
    expect(ranges('HUGEINT', [{ lo: 9007199254740993n, hi: '9007199254740995' }])).toEqual([{ lo: 9007199254740993n, hi: 9007199254740995n }]);
  });
  it('gives no answer for text (its order is the collation), other types or NULL bounds', () => {
    expect(ranges('VARCHAR', [{ lo: 'a', hi: 'f' }])).toBeNull();
    // Decimal text would order '9' after '10'.
    expect(ranges('DECIMAL(18,2)', [{ lo: '9.00', hi: '9.50' }])).toBeNull();
    expect(ranges('DATE', [{ lo: '2026-01-01', hi: '2026-01-02' }])).toBeNull();
    expect(ranges('BIGINT', [{ lo: null, hi: 5 }])).toBeNull();
  });
  it('tells disjoint ranges, in any order, from touching, nested or overlapping ones', () => {
    expect(disjoint([{ lo: 200n, hi: 299n }, { lo: 0n, hi: 99n }, { lo: 100n, hi: 199n }])).toBe(true);
    expect(disjoint([{ lo: 0n, hi: 100n }, { lo: 100n, hi: 200n }])).toBe(false);
    expect(disjoint([{ lo: 0n, hi: 1000n }, { lo: 5n, hi: 6n }, { lo: 500n, hi: 600n }])).toBe(false);
    expect(disjoint([{ lo: 9007199254740993n, hi: 9007199254740995n }, { lo: 9007199254740994n, hi: 9007199254740999n }])).toBe(false);
  });
  it('covers all ranges', () => {
    expect(overall([{ lo: 5n, hi: 9n }, { lo: -3n, hi: 4n }, { lo: 7n, hi: 20n }])).toEqual({ lo: -3n, hi: 20n });
    expect(overall([])).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { disjointRanges } from '../../src/execute/key-ranges.js';

describe('disjointRanges', () => {
  it('accepts integer ranges that do not overlap, in any order and beyond 2^53', () => {
    expect(disjointRanges('INTEGER', [{ lo: '5', hi: '9' }, { lo: -3, hi: 4 }])).toBe(true);
    expect(disjointRanges('BIGINT', [{ lo: 200, hi: 299 }, { lo: 0, hi: 99 }, { lo: 100, hi: 199 }])).toBe(true);
    expect(disjointRanges('HUGEINT', [{ lo: 9007199254740993n, hi: 9007199254740995n }, { lo: 9007199254740996n, hi: 9007199254740999n }])).toBe(true);
  });
  it('refuses touching, nested or overlapping ranges', () => {
    expect(disjointRanges('BIGINT', [{ lo: 0, hi: 100 }, { lo: 100, hi: 200 }])).toBe(false);
    expect(disjointRanges('INTEGER', [{ lo: 0, hi: 1000 }, { lo: 5, hi: 6 }, { lo: 500, hi: 600 }])).toBe(false);
    expect(disjointRanges('BIGINT', [{ lo: 9007199254740993n, hi: 9007199254740995n }, { lo: 9007199254740994n, hi: 9007199254740999n }])).toBe(false);
  });
  it('declines text (its order is the collation), NULL bounds and other types', () => {
    expect(disjointRanges('VARCHAR', [{ lo: 'a', hi: 'f' }, { lo: 'g', hi: 'z' }])).toBe(false);
    expect(disjointRanges('BIGINT', [{ lo: null, hi: 5 }, { lo: 6, hi: 9 }])).toBe(false);
    // Decimal text would order '9' after '10': only integers and text are judged here.
    expect(disjointRanges('DECIMAL(18,2)', [{ lo: '9.00', hi: '9.50' }, { lo: '10.00', hi: '11.00' }])).toBe(false);
    expect(disjointRanges('DATE', [{ lo: '2026-01-01', hi: '2026-01-02' }, { lo: '2026-01-03', hi: '2026-01-04' }])).toBe(false);
  });
});

// Partition arithmetic (src/core/grain.ts): pure, no database.
import { describe, expect, it } from 'vitest';
import {
  addPartitions,
  compareInstants,
  isPartitionKey,
  parsePartitionKey,
  partitionRange,
  partitionsOverlapping,
  truncateKey,
  windowOf,
} from '../../src/core/grain.js';
import { TidemarkError } from '../../src/errors.js';

function badDate(fn: () => unknown): TidemarkError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TidemarkError);
    expect((error as TidemarkError).code).toBe('BAD_DATE');
    expect((error as TidemarkError).exitCode).toBe(2);
    return error as TidemarkError;
  }
  throw new Error('expected a BAD_DATE error');
}

describe('parsePartitionKey', () => {
  it('parses days, hours and months into their keys', () => {
    expect(parsePartitionKey('2026-03-07', 'day')).toBe('2026-03-07');
    expect(parsePartitionKey(' 2026-03-07 ', 'day')).toBe('2026-03-07');
    expect(parsePartitionKey('2026-03-07T13', 'hour')).toBe('2026-03-07T13');
    expect(parsePartitionKey('2026-03-07T13:00:00', 'hour')).toBe('2026-03-07T13');
    expect(parsePartitionKey('2026-03-07', 'hour')).toBe('2026-03-07T00');
  });

  it('keys a month by its first day, from a month or any day in it', () => {
    expect(parsePartitionKey('2026-03', 'month')).toBe('2026-03-01');
    expect(parsePartitionKey('2026-03-17', 'month')).toBe('2026-03-01');
    expect(parsePartitionKey('2026-12-31', 'month')).toBe('2026-12-01');
  });

  it('rejects impossible dates instead of rolling them over', () => {
    expect(badDate(() => parsePartitionKey('2026-02-30', 'day')).message).toContain('impossible date');
    // The hint says what is out of range, so the fix is one look away.
    expect(badDate(() => parsePartitionKey('2026-02-29', 'day')).hint).toBe('2026-02 has 28 days'); // 2026 is not a leap year
    expect(parsePartitionKey('2028-02-29', 'day')).toBe('2028-02-29');
    expect(badDate(() => parsePartitionKey('2026-13-01', 'day')).hint).toBe('months run 01..12');
    expect(badDate(() => parsePartitionKey('2026-00-10', 'day')).hint).toBe('months run 01..12');
    expect(badDate(() => parsePartitionKey('2026-04-31', 'month')).hint).toBe('2026-04 has 30 days');
    expect(badDate(() => parsePartitionKey('2026-03-07T24', 'hour')).hint).toBe('hours run 00..23');
    expect(badDate(() => parsePartitionKey('2026-13', 'month')).hint).toBe('months run 01..12');
  });

  it('rejects malformed input with a hint showing the expected shape', () => {
    for (const bad of ['', '2026/03/07', '07-03-2026', '2026-3-7', 'yesterday', '2026-03-07T1', '20260307']) {
      const err = badDate(() => parsePartitionKey(bad, 'day'));
      expect(err.message).toContain('malformed date');
      expect(err.hint).toContain('2026-03-07');
    }
    expect(badDate(() => parsePartitionKey('2026-03', 'day')).message).toContain('malformed');
    expect(badDate(() => parsePartitionKey('x', 'hour')).hint).toContain('2026-03-07T13');
  });

  it('refuses an hour for a daily dataset', () => {
    expect(badDate(() => parsePartitionKey('2026-03-07T13', 'day')).message).toContain('names an hour');
  });

  it('isPartitionKey accepts only exact keys of the grain', () => {
    expect(isPartitionKey('2026-03-01', 'month')).toBe(true);
    expect(isPartitionKey('2026-03-02', 'month')).toBe(false);
    expect(isPartitionKey('2026-03-07T05', 'hour')).toBe(true);
    expect(isPartitionKey('2026-03-07', 'hour')).toBe(false);
    expect(isPartitionKey('2026-02-30', 'day')).toBe(false);
  });
});

describe('arithmetic', () => {
  it('adds partitions across month, year and leap-day boundaries', () => {
    expect(addPartitions('2026-02-28', 'day', 1)).toBe('2026-03-01');
    expect(addPartitions('2028-02-28', 'day', 1)).toBe('2028-02-29');
    expect(addPartitions('2026-12-31', 'day', 1)).toBe('2027-01-01');
    expect(addPartitions('2026-03-01', 'day', -6)).toBe('2026-02-23');
    expect(addPartitions('2026-03-07T23', 'hour', 1)).toBe('2026-03-08T00');
    expect(addPartitions('2026-01-01T00', 'hour', -1)).toBe('2025-12-31T23');
    expect(addPartitions('2026-01-01', 'month', 1)).toBe('2026-02-01');
    expect(addPartitions('2026-12-01', 'month', 1)).toBe('2027-01-01');
    expect(addPartitions('2026-03-01', 'month', -3)).toBe('2025-12-01');
  });

  it('truncates to coarser grains', () => {
    expect(truncateKey('2026-03-07T13', 'day')).toBe('2026-03-07');
    expect(truncateKey('2026-03-07T13', 'month')).toBe('2026-03-01');
    expect(truncateKey('2026-03-31', 'month')).toBe('2026-03-01');
  });

  it('gives half-open windows', () => {
    expect(windowOf('2026-03-07', 'day')).toEqual({ start: '2026-03-07', end: '2026-03-08' });
    expect(windowOf('2026-02-01', 'month')).toEqual({ start: '2026-02-01', end: '2026-03-01' });
    expect(windowOf('2026-03-07T23', 'hour')).toEqual({ start: '2026-03-07 23:00:00', end: '2026-03-08 00:00:00' });
  });

  it('ranges are inclusive and empty when reversed', () => {
    expect(partitionRange('2026-02-27', '2026-03-02', 'day')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
    expect(partitionRange('2026-03-07', '2026-03-07', 'day')).toEqual(['2026-03-07']);
    expect(partitionRange('2026-03-08', '2026-03-07', 'day')).toEqual([]);
    expect(partitionRange('2025-11-01', '2026-02-01', 'month')).toEqual(['2025-11-01', '2025-12-01', '2026-01-01', '2026-02-01']);
    expect(partitionRange('2026-03-07T22', '2026-03-08T01', 'hour')).toEqual(['2026-03-07T22', '2026-03-07T23', '2026-03-08T00', '2026-03-08T01']);
  });

  it('lists partitions of another grain that overlap a window', () => {
    expect(partitionsOverlapping('2026-02-01', 'month', 'day')).toHaveLength(28);
    expect(partitionsOverlapping('2026-02-01', 'month', 'day')[27]).toBe('2026-02-28');
    expect(partitionsOverlapping('2026-03-07', 'day', 'month')).toEqual(['2026-03-01']);
    expect(partitionsOverlapping('2026-03-07', 'day', 'hour')).toHaveLength(24);
    expect(partitionsOverlapping('2026-03-07T05', 'hour', 'day')).toEqual(['2026-03-07']);
  });

  it('compares keys of different grains as instants', () => {
    expect(compareInstants('2026-03-07T00', '2026-03-07')).toBe(0);
    expect(compareInstants('2026-03-06T23', '2026-03-07')).toBeLessThan(0);
    expect(compareInstants('2026-04-01', '2026-03-31T23')).toBeGreaterThan(0);
  });
});

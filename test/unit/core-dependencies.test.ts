// How partitions map between datasets (src/core/dependencies.ts): pure, no database.
import { describe, expect, it } from 'vitest';
import { downstreamKeys, upstreamKeys, type PartitionMapping } from '../../src/core/dependencies.js';
import { partitionRange } from '../../src/core/grain.js';

const sameDay: PartitionMapping = { upstreamGrain: 'day', downstreamGrain: 'day', lookback: 0 };
const lookback6: PartitionMapping = { upstreamGrain: 'day', downstreamGrain: 'day', lookback: 6 };
const dayToMonth: PartitionMapping = { upstreamGrain: 'day', downstreamGrain: 'month', lookback: 0 };
const monthToDay: PartitionMapping = { upstreamGrain: 'month', downstreamGrain: 'day', lookback: 0 };
const hourToDay: PartitionMapping = { upstreamGrain: 'hour', downstreamGrain: 'day', lookback: 0 };

describe('same grain', () => {
  it('maps a partition to itself', () => {
    expect(upstreamKeys('2026-03-07', sameDay)).toEqual(['2026-03-07']);
    expect(downstreamKeys('2026-03-07', sameDay)).toEqual(['2026-03-07']);
  });
});

describe('lookback 6', () => {
  it('partition d reads d-6..d', () => {
    expect(upstreamKeys('2026-03-07', lookback6)).toEqual(partitionRange('2026-03-01', '2026-03-07', 'day'));
    expect(upstreamKeys('2026-03-03', lookback6)).toEqual(partitionRange('2026-02-25', '2026-03-03', 'day'));
  });

  it('a change on day d reaches d..d+6 and nothing else', () => {
    expect(downstreamKeys('2026-03-01', lookback6)).toEqual(partitionRange('2026-03-01', '2026-03-07', 'day'));
    expect(downstreamKeys('2026-02-26', lookback6)).toEqual(partitionRange('2026-02-26', '2026-03-04', 'day'));
  });

  it('upstream and downstream are inverse relations', () => {
    for (const d of partitionRange('2026-02-20', '2026-03-10', 'day')) {
      for (const down of downstreamKeys(d, lookback6)) expect(upstreamKeys(down, lookback6)).toContain(d);
    }
  });
});

describe('day → month rollup', () => {
  it('a month reads every day of it', () => {
    expect(upstreamKeys('2026-02-01', dayToMonth)).toEqual(partitionRange('2026-02-01', '2026-02-28', 'day'));
    expect(upstreamKeys('2026-03-01', dayToMonth)).toHaveLength(31);
  });

  it('a day reaches exactly its month', () => {
    expect(downstreamKeys('2026-03-07', dayToMonth)).toEqual(['2026-03-01']);
    expect(downstreamKeys('2026-03-31', dayToMonth)).toEqual(['2026-03-01']);
    expect(downstreamKeys('2026-04-01', dayToMonth)).toEqual(['2026-04-01']);
  });

  it('with a lookback, the month also reads the days before it', () => {
    const m: PartitionMapping = { ...dayToMonth, lookback: 2 };
    expect(upstreamKeys('2026-03-01', m).slice(0, 3)).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(downstreamKeys('2026-02-28', m)).toEqual(['2026-02-01', '2026-03-01']);
  });
});

describe('month → days', () => {
  it('a day reads its month; a month reaches every day of it', () => {
    expect(upstreamKeys('2026-03-17', monthToDay)).toEqual(['2026-03-01']);
    const reached = downstreamKeys('2026-02-01', monthToDay);
    expect(reached).toEqual(partitionRange('2026-02-01', '2026-02-28', 'day'));
  });
});

describe('hour → day', () => {
  it('a day reads its 24 hours; an hour reaches its day', () => {
    expect(upstreamKeys('2026-03-07', hourToDay)).toEqual(partitionRange('2026-03-07T00', '2026-03-07T23', 'hour'));
    expect(downstreamKeys('2026-03-07T23', hourToDay)).toEqual(['2026-03-07']);
    expect(downstreamKeys('2026-03-08T00', hourToDay)).toEqual(['2026-03-08']);
  });
});

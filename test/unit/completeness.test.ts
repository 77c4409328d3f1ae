/**
 * The watermark over partition rows at each grain: keys are enumerated at the dataset's grain, so an
 * hour or a month with no partition is a gap and stops the watermark; frozen and locked partitions
 * are complete (those states are given only to fresh ones). The CLI cases are in
 * test/integration/status-completeness.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { completeness, describeIncomplete } from '../../src/api/completeness.js';
import type { PartitionRow, PartitionState } from '../../src/api/operations.js';

function row(partition: string, state: PartitionState, stale_reasons?: string[]): PartitionRow {
  const published = state !== 'missing';
  return { dataset: 'd', partition, state, version: published ? 1 : null, rows: published ? 1 : null, checksum: null, run_id: null, published_at: null, ...(stale_reasons ? { stale_reasons } : {}) };
}

describe('completeness', () => {
  it('an hour with no partition is a gap and stops the watermark at the hour before it', () => {
    const rows = [row('2026-03-07T22', 'published'), row('2026-03-07T23', 'locked'), row('2026-03-08T01', 'published'), row('2026-03-08T03', 'published')];
    const c = completeness('hour', rows);
    expect(c).toEqual({ complete_through: '2026-03-07T23', gaps: 2, first_gap: '2026-03-08T00', incomplete_at: { partition: '2026-03-08T00', state: 'no_data', why: [] } });
    expect(describeIncomplete('clicks', c)).toBe('clicks: complete through 2026-03-07T23; no data for 2026-03-08T00 (2 gaps)');
  });

  it('months are enumerated by their first day; a stale month names its reasons and the gaps after it', () => {
    const rows = [row('2026-01-01', 'frozen'), row('2026-02-01', 'stale', ['orders 2026-02-03 changed v1 → v2']), row('2026-04-01', 'published')];
    const c = completeness('month', rows);
    expect(c).toMatchObject({ complete_through: '2026-01-01', gaps: 1, first_gap: '2026-03-01', incomplete_at: { partition: '2026-02-01', state: 'stale' } });
    expect(describeIncomplete('monthly', c)).toBe('monthly: complete through 2026-01-01; 2026-02-01 is stale: orders 2026-02-03 changed v1 → v2 (1 gap, the first 2026-03-01)');
  });

  it('a dataset with no partitions, or complete through its last, has no line', () => {
    expect(completeness('day', [])).toEqual({ complete_through: null, gaps: 0, first_gap: null, incomplete_at: null });
    const c = completeness('day', [row('2026-03-01', 'published'), row('2026-03-02', 'published')]);
    expect(c.complete_through).toBe('2026-03-02');
    expect(describeIncomplete('d', c)).toBeNull();
  });
});

/**
 * How far a dataset is complete: its watermark (the newest key through which every partition, from its
 * first, is published and fresh) and its gaps (keys between its first and last published partition with
 * no published partition). Late data moves the watermark back to the day before the late day and the
 * next `run` moves it forward again: that is the correction, said in one line by `status`. Pure: it
 * reads only the partition rows `partitions` and `status` already derive, so `status` reads nothing more.
 */
import { partitionRange, type Grain, type PartitionKey } from '../core/grain.js';
import type { PartitionRow, PartitionState } from './operations.js';

export interface Completeness {
  /** The watermark; null when the dataset's first partition is not published and fresh (or it has none). */
  complete_through: PartitionKey | null;
  /** Keys between the first and the last published partition with no published partition. */
  gaps: number;
  /** The oldest of those keys. */
  first_gap: PartitionKey | null;
  /** The key after the watermark and why it is not complete; null when complete through the last partition. */
  incomplete_at: IncompleteAt | null;
}

export interface IncompleteAt {
  partition: PartitionKey;
  /** Its state as `partitions` shows it, or `no_data` when the dataset has no partition there at all. */
  state: PartitionState | 'no_data';
  /** Why it is stale, as `partitions` says it (empty for the other states). */
  why: string[];
  /** A failed partition: the run that failed on it. */
  failed_run?: string;
}

/** A frozen or locked partition is published and fresh: those states are only given to fresh ones. */
const COMPLETE: ReadonlySet<PartitionState> = new Set(['published', 'frozen', 'locked']);

/** `rows`: a dataset's partition rows in key order, as `partitions` lists them. */
export function completeness(grain: Grain, rows: PartitionRow[]): Completeness {
  const byKey = new Map(rows.map((r) => [r.partition, r]));
  const published = rows.filter((r) => r.version !== null);
  let gaps = 0;
  let firstGap: PartitionKey | null = null;
  if (published.length) {
    for (const k of partitionRange(published[0].partition, published[published.length - 1].partition, grain)) {
      if ((byKey.get(k)?.version ?? null) !== null) continue;
      gaps++;
      firstGap ??= k;
    }
  }
  let through: PartitionKey | null = null;
  // From the dataset's first partition (for a model, the first its upstreams have data for), not its
  // first published one: a model whose first partition never got built is not complete from its start.
  if (rows.length) {
    for (const k of partitionRange(rows[0].partition, rows[rows.length - 1].partition, grain)) {
      const row = byKey.get(k);
      if (!row || !COMPLETE.has(row.state)) {
        const at: IncompleteAt = { partition: k, state: row?.state ?? 'no_data', why: row?.stale_reasons ?? [] };
        if (row?.failed_run) at.failed_run = row.failed_run;
        return { complete_through: through, gaps, first_gap: firstGap, incomplete_at: at };
      }
      through = k;
    }
  }
  return { complete_through: through, gaps, first_gap: firstGap, incomplete_at: null };
}

/**
 * The line `status` prints for a dataset not complete through its last partition, in the words
 * `partitions` uses: `daily_revenue: complete through 2026-04-27; 2026-04-28 is stale: orders
 * 2026-04-28 changed v1 → v2` or `orders: complete through 2026-03-13; no data for 2026-03-14 (1 gap)`.
 */
export function describeIncomplete(dataset: string, c: Completeness): string | null {
  const at = c.incomplete_at;
  if (!at) return null;
  const head = c.complete_through ? `complete through ${c.complete_through}` : 'not complete from its first partition';
  const gapCount = `${c.gaps} gap${c.gaps === 1 ? '' : 's'}`;
  const gaps = !c.gaps ? '' : c.first_gap === at.partition ? ` (${gapCount})` : ` (${gapCount}, the first ${c.first_gap})`;
  return `${dataset}: ${head}; ${whatIsWrongAt(at)}${gaps}`;
}

function whatIsWrongAt(at: IncompleteAt): string {
  switch (at.state) {
    case 'no_data':
      return `no data for ${at.partition}`;
    case 'stale':
      return `${at.partition} is stale: ${at.why.join('; ')}`;
    case 'missing':
      return `${at.partition} is missing: not built yet`;
    case 'failed':
      return `${at.partition} failed${at.failed_run ? ` in run ${at.failed_run}` : ''}: re-issue its command to resume it`;
    case 'building':
      return `${at.partition} is building: a run in flight holds it`;
    default:
      return `${at.partition} is ${at.state}`;
  }
}

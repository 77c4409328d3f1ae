/**
 * How partitions of one dataset map onto partitions of another. Pure functions: the planner and
 * staleness detection build on them, and unit tests cover them without a database.
 *
 * - same partition (default): grains equal → the same key; upstream finer (day → month) → every
 *   upstream partition inside the downstream window (calendar containment); upstream coarser →
 *   the upstream partition that contains the downstream window.
 * - lookback N: additionally the N upstream partitions before that set (`d-6..d` for N = 6).
 */
import { addPartitions, partitionsOverlapping, type Grain, type PartitionKey } from './grain.js';

export interface PartitionMapping {
  upstreamGrain: Grain;
  downstreamGrain: Grain;
  lookback: number;
}

/** Upstream partitions that downstream partition `key` reads. */
export function upstreamKeys(key: PartitionKey, m: PartitionMapping): PartitionKey[] {
  const base = partitionsOverlapping(key, m.downstreamGrain, m.upstreamGrain);
  if (m.lookback <= 0) return base;
  const before: PartitionKey[] = [];
  for (let i = m.lookback; i >= 1; i--) before.push(addPartitions(base[0], m.upstreamGrain, -i));
  return [...before, ...base];
}

/** Downstream partitions that read upstream partition `key` (the inverse of `upstreamKeys`). */
export function downstreamKeys(key: PartitionKey, m: PartitionMapping): PartitionKey[] {
  const candidates = new Set<PartitionKey>();
  for (let i = 0; i <= m.lookback; i++) {
    const shifted = addPartitions(key, m.upstreamGrain, i);
    for (const k of partitionsOverlapping(shifted, m.upstreamGrain, m.downstreamGrain)) candidates.add(k);
  }
  return [...candidates].filter((k) => upstreamKeys(k, m).includes(key)).sort();
}

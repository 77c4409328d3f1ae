/**
 * Guards: the checks that refuse a write at plan time, before anything is computed. Pure functions
 * over the plan's scope and the protections in config and state; each refusal names the partitions
 * and the flag or command that would allow it.
 */
import type { DatasetSpec } from '../config/project.js';
import { parsePartitionKey, sortKeys, type PartitionKey } from './grain.js';

export type GuardCode =
  | 'FULL_REFRESH'
  | 'FROZEN'
  | 'RECENT'
  | 'LOCKED'
  | 'RUN_CONFLICT'
  | 'SKIPPED_PROTECTED'
  | 'SKIPPED_IN_FLIGHT'
  | 'DEPENDENTS_LEFT_STALE'
  | 'RESTORED_STALE'
  | 'RANGE_WIDENED'
  | 'TO_FIRST_HOUR'
  | 'ADDS_COLUMNS';

export interface Guard {
  code: GuardCode;
  dataset: string;
  partitions: PartitionKey[];
  message: string;
  /** How to proceed: a flag or a command. */
  hint: string;
  /** A blocking guard refuses the plan; a non-blocking one is a notice. */
  blocking: boolean;
}

export interface UserLock {
  lock_id: string;
  dataset: string;
  from_key: string;
  to_key: string;
  reason: string;
  actor: string;
}

export interface GuardOptions {
  kind: 'run' | 'backfill' | 'restore' | 'ingest' | 'dedupe';
  allowFullRefresh?: boolean;
  includeRecent?: boolean;
  maxBackfillPartitions: number;
}

/** Partitions a dataset's `protect` config freezes. */
export function frozenPartitions(ds: DatasetSpec, keys: PartitionKey[]): PartitionKey[] {
  const p = ds.protect;
  const before = p.frozen_before ? parsePartitionKey(p.frozen_before, ds.grain) : null;
  const ranges = (p.frozen ?? []).map((r) => [parsePartitionKey(r.from, ds.grain), parsePartitionKey(r.to, ds.grain)] as const);
  return keys.filter((k) => (before !== null && k < before) || ranges.some(([from, to]) => k >= from && k <= to));
}

/** The newest `protect.recent` partitions of a dataset. */
export function recentPartitions(ds: DatasetSpec, existing: Iterable<PartitionKey>): Set<PartitionKey> {
  const n = ds.protect.recent ?? 0;
  if (n <= 0) return new Set();
  return new Set(sortKeys(existing).slice(-n));
}

export function lockedPartitions(locks: UserLock[], dataset: string, keys: PartitionKey[]): { lock: UserLock; partitions: PartitionKey[] }[] {
  return locks
    .filter((l) => l.dataset === dataset)
    .map((lock) => ({ lock, partitions: keys.filter((k) => k >= lock.from_key && k <= lock.to_key) }))
    .filter((x) => x.partitions.length > 0);
}

export function listKeys(keys: PartitionKey[], max = 8): string {
  const sorted = sortKeys(keys);
  if (sorted.length <= max) return sorted.join(', ');
  return `${sorted.slice(0, max - 2).join(', ')}, … ${sorted[sorted.length - 1]} (${sorted.length} partitions)`;
}

/** The full-refresh guard applies to the dataset the user named. */
export function fullRefreshGuard(ds: DatasetSpec, targets: PartitionKey[], existing: Set<PartitionKey>, opts: GuardOptions): Guard | null {
  if (opts.allowFullRefresh || opts.kind === 'run' || opts.kind === 'ingest') return null;
  const coversAll = existing.size > 1 && [...existing].every((k) => targets.includes(k));
  const tooMany = targets.length > opts.maxBackfillPartitions;
  if (!coversAll && !tooMany) return null;
  const why = coversAll
    ? `every partition of ${ds.name} (${existing.size})`
    : `${targets.length} partitions of ${ds.name}, more than guards.max_backfill_partitions (${opts.maxBackfillPartitions})`;
  return {
    code: 'FULL_REFRESH',
    dataset: ds.name,
    partitions: sortKeys(targets),
    message: `this ${opts.kind} would rebuild ${why}: that is a full refresh`,
    hint: 'narrow --from/--to, or pass --allow-full-refresh if a full refresh is really intended',
    blocking: true,
  };
}

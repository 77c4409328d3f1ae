/**
 * Equal keys have equal first columns: partitions whose ranges of the first key column do not overlap
 * cannot share a key, and live rows outside the staged range cannot share one with the staged rows.
 * A stager that already read each partition's range can tell publish so (RunContext
 * keysUniqueInStaging, stagedKeyRanges) and spare it scans of the staging.
 *
 * Judged in JavaScript only for integer keys (compared as BigInt), whose order is the same in every
 * engine: text follows the database's collation, which JavaScript does not know. Anything else, or a
 * NULL bound, gives no answer and publish checks the keys itself.
 */

export interface KeyRange {
  lo: bigint;
  hi: bigint;
}

/** Each partition's range as BigInts, or null when the column is not an integer or a bound is NULL. */
export function integerRanges(type: string | undefined, ranges: { lo: unknown; hi: unknown }[]): KeyRange[] | null {
  if (!/^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT[248])$/.test((type ?? '').toUpperCase())) return null;
  const out: KeyRange[] = [];
  for (const r of ranges) {
    if (r.lo === null || r.lo === undefined || r.hi === null || r.hi === undefined) return null;
    out.push({ lo: BigInt(r.lo as bigint), hi: BigInt(r.hi as bigint) });
  }
  return out;
}

/** Whether the ranges are pairwise disjoint. */
export function disjoint(ranges: KeyRange[]): boolean {
  const sorted = [...ranges].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) if (sorted[i].lo <= sorted[i - 1].hi) return false;
  return true;
}

/** The range covering all of them (null for none). */
export function overall(ranges: KeyRange[]): KeyRange | null {
  if (!ranges.length) return null;
  return ranges.reduce((a, r) => ({ lo: r.lo < a.lo ? r.lo : a.lo, hi: r.hi > a.hi ? r.hi : a.hi }));
}

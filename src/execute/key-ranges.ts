/**
 * Equal keys have equal first columns: partitions whose ranges of the first key column do not overlap
 * cannot share a key. A stager that already read each partition's range can tell publish so
 * (RunContext.keysUniqueInStaging) and spare it a scan.
 */
/**
 * Whether the partitions' ranges of the first key column are pairwise disjoint, judged in JavaScript
 * only for integer keys (compared as BigInt), whose order is the same in every engine: text follows
 * the database's collation, which JavaScript does not know. Anything else, or a NULL bound, answers
 * false and publish checks the keys itself.
 */
export function disjointRanges(type: string | undefined, ranges: { lo: unknown; hi: unknown }[]): boolean {
  const t = (type ?? '').toUpperCase();
  const integer = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT[248])$/.test(t);
  if (!integer) return false;
  const values: bigint[][] = [];
  for (const r of ranges) {
    if (r.lo === null || r.lo === undefined || r.hi === null || r.hi === undefined) return false;
    values.push([BigInt(r.lo as bigint), BigInt(r.hi as bigint)]);
  }
  values.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (let i = 1; i < values.length; i++) if (values[i][0] <= values[i - 1][1]) return false;
  return true;
}

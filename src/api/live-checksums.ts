/**
 * Rows and checksum of each partition window of a dataset's LIVE table, measured exactly as publish
 * recorded them: over the same columns (version-content.ts `checksumColumns`: a source's declared
 * columns without `_tm_file`, a model's stored columns) with the same SQL as ingest and a schema
 * change (execute/window-checksums.ts).
 *
 * One aggregate for any number of partitions. `audit verify --data` compares it with
 * `tidemark.partitions`; a backfill uses it to find partitions whose live rows were changed outside
 * Tidemark, which it must replace even though it computed the recorded content.
 */
import type { DatasetSpec } from '../config/project.js';
import { windowOf, type PartitionKey } from '../core/grain.js';
import type { Db, Engine } from '../engines/engine.js';
import { EMPTY_CHECKSUM } from '../execute/staging.js';
import { windowChecksumsSql, type WindowChecksumRow } from '../execute/window-checksums.js';
import { liveTable } from '../state/tables.js';
import { checksumColumns, storedColumnsOf } from './version-content.js';

export interface LiveWindow {
  /** The window's partition key; null for rows whose partition column is NULL. */
  key: PartitionKey | null;
  rows: number;
  checksum: string;
}

/** Inclusive partition keys bounding the windows read (null: unbounded on that side). */
export interface KeyRange {
  from: PartitionKey | null;
  to: PartitionKey | null;
}

/** Every non-empty live window of the dataset within `range`; none when the live table does not exist. */
export async function measureLiveWindows(db: Db, engine: Engine, ds: DatasetSpec, range: KeyRange = { from: null, to: null }): Promise<LiveWindow[]> {
  const stored = await storedColumnsOf(db, engine, ds.name);
  if (!stored) return [];
  const d = engine.dialect;
  const pc = d.quote(ds.partitionColumn);
  // Bounds on the column itself, so the engine skips row groups outside the range.
  const bounds: string[] = [];
  if (range.from !== null) bounds.push(`${pc} >= ${d.windowLiteral(windowOf(range.from, ds.grain).start, ds.grain)}`);
  if (range.to !== null) bounds.push(`${pc} < ${d.windowLiteral(windowOf(range.to, ds.grain).end, ds.grain)}`);
  const rows = await db.query<WindowChecksumRow>(
    windowChecksumsSql(d, ds, { from: liveTable(engine, ds.name), columns: checksumColumns(ds, stored), where: bounds.length ? bounds.join(' AND ') : undefined }),
  );
  return rows.map((r) => ({ key: r.part === null ? null : String(r.part), rows: Number(r.n), checksum: String(r.c) }));
}

/**
 * Which of `partitions` no longer hold, in the live table, the rows and checksum recorded for them
 * (`recorded`): changed outside Tidemark. One aggregate over the span of the partitions.
 */
export async function driftedFromRecord(
  db: Db,
  engine: Engine,
  ds: DatasetSpec,
  partitions: PartitionKey[],
  recorded: ReadonlyMap<PartitionKey, { rows: number; checksum: string }>,
): Promise<Set<PartitionKey>> {
  const keys = partitions.filter((p) => recorded.has(p)).sort();
  if (!keys.length) return new Set();
  const live = new Map((await measureLiveWindows(db, engine, ds, { from: keys[0], to: keys[keys.length - 1] })).map((w) => [w.key, w]));
  return new Set(
    keys.filter((p) => {
      const want = recorded.get(p)!;
      const now = live.get(p);
      // No live rows reads as an empty partition, whose checksum is the empty sum.
      return (now?.rows ?? 0) !== Number(want.rows) || (now?.checksum ?? EMPTY_CHECKSUM) !== String(want.checksum);
    }),
  );
}

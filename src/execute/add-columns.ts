/**
 * Adding columns to a dataset that has data, inside a publish transaction — the one step both kinds
 * use: a source whose `schema.current` gained columns (ingest-evolution.ts) and a model with
 * `on_schema_change: add_columns` whose output gained columns at the end (publish.ts). ALTER TABLE …
 * ADD COLUMN on the live table and, when it exists, the history table (existing rows get NULL); then
 * the recorded checksum of every version whose rows are still kept is recomputed over the new
 * column list.
 *
 * Why recompute rather than keep old checksums: a checksum hashes each row over the stored columns,
 * and a row with one more column (even NULL) hashes differently on both engines. Keeping the old
 * values would make every untouched partition look changed — to `audit verify --data`, to the next
 * ingest or backfill (a new version with the same values) — and make restoring a version from before
 * the change fail its checksum check. Versions themselves are unchanged: same rows, same number.
 *
 * It runs before publish reads the recorded versions, so what publish compares the staged checksums
 * with is already over the new columns (a partition whose new column comes out NULL is unchanged).
 */
import type { DatasetSpec } from '../config/project.js';
import { PARTITION_COLUMN, REPLACED_SEQ_COLUMN } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { checksumColumns, storedColumnsOf } from '../api/version-content.js';
import { historyTable, liveTable, stagingName, stateTable } from '../state/tables.js';
import { addedColumns } from './staging.js';
import { windowChecksumsSql } from './window-checksums.js';

/** Recorded checksums recomputed: current versions (from live), and replaced versions kept in history. */
export interface ChecksumsRecomputed {
  current: number;
  replaced: number;
}

/** What the audit record's `schema_change` says (and a run's result, per dataset, without `checksums`). */
export interface AppliedSchemaChange<C = ColumnInfo> {
  added: C[];
  checksums_recomputed: ChecksumsRecomputed;
  /**
   * The new checksum of each partition's current version. Sealed in the audit record, so that the
   * trail alone says what every partition's record must hold (`audit verify --data`, audit-sealed.ts).
   */
  checksums: Record<string, string>;
}

/** The recompute: counts, and the current versions' new checksums. */
interface Recomputed {
  counts: ChecksumsRecomputed;
  checksums: Record<string, string>;
}

/** A column to add: its name and its type as this engine spells it in DDL. */
interface NewColumn {
  name: string;
  sqlType: string;
}

/**
 * Adds `columns` to the live table (which must exist) and to history (when it exists), then
 * recomputes the recorded checksums of the dataset's kept versions over its columns as now stored.
 */
export async function addColumnsAndRecompute(tx: Db, engine: Engine, ds: DatasetSpec, columns: NewColumn[]): Promise<Recomputed> {
  const d = engine.dialect;
  const hasHistory = (await engine.columns(engine.historySchema, ds.name, tx)) !== null;
  for (const c of columns) {
    const column = `${d.quote(c.name)} ${c.sqlType}`;
    await tx.exec(`ALTER TABLE ${liveTable(engine, ds.name)} ADD COLUMN ${column}`);
    if (hasHistory) await tx.exec(`ALTER TABLE ${historyTable(engine, ds.name)} ADD COLUMN ${column}`);
  }
  // The columns as stored now, in their stored order: what publish, restore and verify hash.
  const stored = (await storedColumnsOf(tx, engine, ds.name))!;
  return recomputeChecksums(tx, engine, ds, checksumColumns(ds, stored), hasHistory);
}

/**
 * Recorded checksums over `columns`, recomputed as they are measured everywhere (window-checksums.ts):
 * the current version of every partition from the live rows, each replaced version from its rows in
 * history (tagged with the publish that replaced it: `versions.replaced_seq`). A version with no rows
 * keeps the empty checksum (the same over any columns); a version gc removed has no rows to hash.
 */
async function recomputeChecksums(tx: Db, engine: Engine, ds: DatasetSpec, columns: string[], hasHistory: boolean): Promise<Recomputed> {
  const d = engine.dialect;
  const partitions = stateTable(engine, 'partitions');
  const versions = stateTable(engine, 'versions');
  const live = windowChecksumsSql(d, ds, { from: liveTable(engine, ds.name), columns });
  const current = await tx.query<{ partition: string; checksum: string }>(
    `UPDATE ${partitions} SET checksum = w.c FROM (${live}) w WHERE ${partitions}.dataset = $1 AND ${partitions}.partition = w.part RETURNING ${partitions}.partition, ${partitions}.checksum`,
    [ds.name],
  );
  const checksums = Object.fromEntries(current.map((r) => [r.partition, String(r.checksum)]));
  await tx.exec(
    `UPDATE ${versions} SET checksum = p.checksum FROM ${partitions} p
     WHERE ${versions}.dataset = $1 AND p.dataset = $1 AND ${versions}.partition = p.partition AND ${versions}.version = p.version`,
    [ds.name],
  );
  if (!hasHistory) return { counts: { current: current.length, replaced: 0 }, checksums };
  const history = windowChecksumsSql(d, ds, { from: historyTable(engine, ds.name), columns, by: d.quote(REPLACED_SEQ_COLUMN) });
  const replaced = await tx.query(
    `UPDATE ${versions} SET checksum = w.c FROM (${history}) w WHERE ${versions}.dataset = $1 AND ${versions}.replaced_seq = w.s AND ${versions}.partition = w.part RETURNING ${versions}.version`,
    [ds.name],
  );
  return { counts: { current: current.length, replaced: replaced.length }, checksums };
}

/**
 * A model with `on_schema_change: add_columns` whose staged output (this run's) has columns at the
 * end that its live table lacks: adds them and recomputes its checksums. The model stager already
 * refused any other difference (model-stager.ts); null when there is nothing to add (or no live table).
 */
export async function addModelColumns(tx: Db, engine: Engine, runId: string, ds: DatasetSpec): Promise<AppliedSchemaChange | null> {
  if (ds.kind !== 'model' || ds.onSchemaChange !== 'add_columns') return null;
  const live = await storedColumnsOf(tx, engine, ds.name);
  if (!live) return null;
  const staged = (await engine.columns(engine.stagingSchema, stagingName(runId, ds.name), tx))?.filter((c) => c.name !== PARTITION_COLUMN);
  const added = staged ? addedColumns(live, staged) : null;
  if (!added?.length) return null;
  const { counts, checksums } = await addColumnsAndRecompute(tx, engine, ds, added.map((c) => ({ name: c.name, sqlType: c.type })));
  return { added, checksums_recomputed: counts, checksums };
}

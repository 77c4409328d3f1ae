/**
 * Where the rows of one version of a partition live: the current version is the live partition,
 * a replaced version that retention still holds is in the dataset's history table (its rows in the
 * partition's window, tagged with `versions.replaced_seq`: the sequence number of the publish that
 * replaced them, or the negative tag of their copy ahead of it, execute/history-copy.ts), and a
 * version `gc` removed has no rows anywhere any more. Diff, restore and gc read versions through here.
 */
import type { DatasetSpec } from '../config/project.js';
import { windowOf, type PartitionKey } from '../core/grain.js';
import { FILE_COLUMN, REPLACED_SEQ_COLUMN, RESERVED_PREFIX } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { loadPartitions, listVersions, type VersionRecord } from '../state/partitions.js';
import { historyTable, liveTable } from '../state/tables.js';

export type VersionLocation = 'live' | 'history' | 'removed';

export interface LocatedVersion {
  record: VersionRecord;
  location: VersionLocation;
}

/** Where a version's rows are, from its record and the partition's current version. */
export function locationOf(record: VersionRecord, currentVersion: number | undefined): VersionLocation {
  if (record.version === currentVersion) return 'live';
  return record.retained ? 'history' : 'removed';
}

/** Every version of a partition, located; throws NOT_FOUND when the partition never existed. */
export async function locatedVersions(db: Db, engine: Engine, dataset: string, partition: PartitionKey): Promise<LocatedVersion[]> {
  const records = await listVersions(db, engine, dataset, partition);
  const current = (await loadPartitions(db, engine, dataset)).get(dataset)?.get(partition)?.version;
  return records.map((record) => ({ record, location: locationOf(record, current) }));
}

/** The oldest version of a partition whose rows are still held (live or history). */
export function oldestHeld(versions: LocatedVersion[]): LocatedVersion | undefined {
  return versions.find((v) => v.location !== 'removed');
}

/** The error for a version whose rows retention already removed; it names the oldest version still held. */
export function removedByRetention(dataset: string, partition: PartitionKey, version: number, versions: LocatedVersion[]): TidemarkError {
  const oldest = oldestHeld(versions);
  const held = oldest
    ? `the oldest version still held is ${oldest.record.version} (published ${oldest.record.published_at} by run ${oldest.record.run_id})`
    : 'no version of it is held any more';
  return new TidemarkError('NOT_FOUND', `${dataset} ${partition}: version ${version} was removed by retention (tidemark gc); ${held}`, {
    dataset,
    partitions: [partition],
    hint: `tidemark history ${dataset} --partition ${partition}`,
  });
}

/** Live columns of a dataset as stored (sources include the file column), or null before the first publish. */
export async function storedColumnsOf(db: Db, engine: Engine, dataset: string): Promise<ColumnInfo[] | null> {
  return engine.columns(engine.dataSchema, dataset, db);
}

/** Columns a user sees (Tidemark's own `_tm_` columns removed). */
export function userColumns(columns: ColumnInfo[]): ColumnInfo[] {
  return columns.filter((c) => !c.name.toLowerCase().startsWith(RESERVED_PREFIX));
}

/** The columns a dataset's version checksum is computed over (as publish and ingest compute it). */
export function checksumColumns(ds: DatasetSpec, stored: ColumnInfo[]): string[] {
  if (ds.kind === 'source') return ds.columns.map((c) => c.name);
  return stored.filter((c) => c.name !== FILE_COLUMN).map((c) => c.name);
}

/**
 * A SELECT of `columns` over the rows of one version. The partition key and version are bound as
 * the parameters numbered `partitionParam` and `versionParam` (both are referenced in either form,
 * so a caller binds the same list whichever form it gets); both forms use the window bounds so the
 * engine can skip row groups outside the partition.
 */
export function versionRowsSql(
  engine: Engine,
  ds: DatasetSpec,
  location: 'live' | 'history',
  version: { partition: PartitionKey; replaced_seq: number | null },
  columns: string[],
  partitionParam: number,
  versionParam: number,
): string {
  const d = engine.dialect;
  const cols = columns.map((c) => d.quote(c)).join(', ');
  const pc = d.quote(ds.partitionColumn);
  const inPartition = `${partitionWindow(engine, ds, version.partition, pc)} AND ${d.partitionKey(pc, ds.grain)} = $${partitionParam} AND CAST($${versionParam} AS INTEGER) IS NOT NULL`;
  if (location === 'history') {
    return `SELECT ${cols} FROM ${historyTable(engine, ds.name)} WHERE ${d.quote(REPLACED_SEQ_COLUMN)} = ${replacedSeq(version)} AND ${inPartition}`;
  }
  return `SELECT ${cols} FROM ${liveTable(engine, ds.name)} WHERE ${inPartition}`;
}

/** `column` within the partition's window: a range the engine prunes row groups with. */
export function partitionWindow(engine: Engine, ds: DatasetSpec, partition: PartitionKey, column: string): string {
  const d = engine.dialect;
  const w = windowOf(partition, ds.grain);
  return `${column} >= ${d.windowLiteral(w.start, ds.grain)} AND ${column} < ${d.windowLiteral(w.end, ds.grain)}`;
}

/**
 * The rows of replaced versions in the history table, each tagged with its partition key as
 * `partitionAlias`: one join on (publish, window start), so many partitions cost one scan.
 */
export function historyRowsSql(engine: Engine, ds: DatasetSpec, versions: { partition: PartitionKey; replaced_seq: number | null }[], columns: string[], partitionAlias: string): string {
  const d = engine.dialect;
  const pc = d.quote(ds.partitionColumn);
  const wanted = versions.map((v) => `(${replacedSeq(v)}, ${d.windowLiteral(windowOf(v.partition, ds.grain).start, ds.grain)}, ${d.stringLiteral(v.partition)})`).join(', ');
  return `SELECT ${columns.map((c) => `h.${d.quote(c)}`).join(', ')}, w.p AS ${d.quote(partitionAlias)} FROM ${historyTable(engine, ds.name)} h
    JOIN (VALUES ${wanted}) AS w(s, start, p) ON h.${d.quote(REPLACED_SEQ_COLUMN)} = w.s AND ${d.partitionStart(`h.${pc}`, ds.grain)} = w.start`;
}

/**
 * The history rows of replaced versions, each named by its tag and partition, as predicates over
 * chunks of 200 (a statement each): what gc and the copies ahead of a publish delete or count.
 */
export function historyRowPredicates(engine: Engine, ds: DatasetSpec, rows: { partition: PartitionKey; tag: number }[]): string[] {
  const pc = engine.dialect.quote(ds.partitionColumn);
  const seq = engine.dialect.quote(REPLACED_SEQ_COLUMN);
  const out: string[] = [];
  for (let i = 0; i < rows.length; i += 200) {
    out.push(rows.slice(i, i + 200).map((r) => `(${seq} = ${Math.trunc(Number(r.tag))} AND ${partitionWindow(engine, ds, r.partition, pc)})`).join(' OR '));
  }
  return out;
}

/** A retained version's replacing publish, as a SQL literal (a number Tidemark recorded itself). */
function replacedSeq(version: { partition: PartitionKey; replaced_seq: number | null }): string {
  if (version.replaced_seq === null) throw new TidemarkError('INTERNAL', `${version.partition}: a replaced version without its replacing publish`);
  return String(Math.trunc(Number(version.replaced_seq)));
}

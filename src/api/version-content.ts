/**
 * Where the rows of one version of a partition live: the current version is the live partition,
 * a replaced version that retention still holds is in the dataset's history table (tagged with
 * `_tm_partition` and `_tm_version`), and a version `gc` removed has no rows anywhere any more.
 * Diff and restore both read versions through here.
 */
import type { DatasetSpec } from '../config/project.js';
import { windowOf, type PartitionKey } from '../core/grain.js';
import { FILE_COLUMN, PARTITION_COLUMN, RESERVED_PREFIX, VERSION_COLUMN } from '../core/identifiers.js';
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
 * so a caller binds the same list whichever form it gets); the live form uses the window bounds so
 * the engine can skip row groups outside the partition.
 */
export function versionRowsSql(engine: Engine, ds: DatasetSpec, location: 'live' | 'history', partition: PartitionKey, columns: string[], partitionParam: number, versionParam: number): string {
  const d = engine.dialect;
  const cols = columns.map((c) => d.quote(c)).join(', ');
  if (location === 'history') {
    return `SELECT ${cols} FROM ${historyTable(engine, ds.name)} WHERE ${d.quote(PARTITION_COLUMN)} = $${partitionParam} AND ${d.quote(VERSION_COLUMN)} = $${versionParam}`;
  }
  const pc = d.quote(ds.partitionColumn);
  const w = windowOf(partition, ds.grain);
  return `SELECT ${cols} FROM ${liveTable(engine, ds.name)} WHERE ${pc} >= ${d.windowLiteral(w.start, ds.grain)} AND ${pc} < ${d.windowLiteral(w.end, ds.grain)} AND ${d.partitionKey(pc, ds.grain)} = $${partitionParam} AND CAST($${versionParam} AS INTEGER) IS NOT NULL`;
}

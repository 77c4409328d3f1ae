/** Partitions and their versions: the per-partition state every plan and publish starts from. */
import type { Db, Engine, JsonColumn } from '../engines/engine.js';
import { jsonRowsParam } from '../engines/json-rows.js';
import type { PartitionVersion, Snapshot } from '../core/staleness.js';
import { parseJson } from './json.js';
import { stateTable } from './tables.js';

/** Upstream partition versions a model partition was built from: { dataset: { partition: version } }. */
export type Inputs = Record<string, Record<string, number>>;

export interface PartitionRecord {
  dataset: string;
  partition: string;
  version: number;
  rows: number;
  checksum: string;
  run_id: string;
  publish_seq: number;
  published_at: string;
  inputs: Inputs;
}

export interface VersionRecord extends Omit<PartitionRecord, 'inputs'> {
  inputs: Inputs;
  kind: 'new' | 'restate' | 'restore';
  actor: string;
  reason: string;
  retained: boolean;
  replaced_at: string | null;
  /** The publish that replaced this version (its history rows carry it); null while current. */
  replaced_seq: number | null;
}

type Raw = Omit<PartitionRecord, 'inputs'> & { inputs: string };

function fromRow(r: Raw): PartitionRecord {
  return { ...r, rows: Number(r.rows), version: Number(r.version), publish_seq: Number(r.publish_seq), inputs: parseJson<Inputs>(r.inputs, {}) };
}

/** Current partitions, grouped by dataset. */
export async function loadPartitions(db: Db, engine: Engine, dataset?: string): Promise<Map<string, Map<string, PartitionRecord>>> {
  const rows = await db.query<Raw>(
    `SELECT * FROM ${stateTable(engine, 'partitions')}${dataset ? ' WHERE dataset = $1' : ''} ORDER BY dataset, partition`,
    dataset ? [dataset] : [],
  );
  const out = new Map<string, Map<string, PartitionRecord>>();
  for (const r of rows) {
    const rec = fromRow(r);
    let m = out.get(rec.dataset);
    if (!m) out.set(rec.dataset, (m = new Map()));
    m.set(rec.partition, rec);
  }
  return out;
}

/**
 * What plans and staleness need of every current partition (version, rows, checksum, inputs), as a
 * snapshot: dataset → partition → version. Planning reads every partition of the project, so this
 * reads only those columns (the driver's cost is per value) and builds the snapshot directly.
 * `datasets` limits it to some datasets.
 */
export async function loadPartitionVersions(db: Db, engine: Engine, datasets?: string[]): Promise<Snapshot> {
  if (datasets && !datasets.length) return new Map();
  const where = datasets ? ` WHERE dataset IN (${datasets.map((_, i) => `$${i + 1}`).join(', ')})` : '';
  return snapshotOf(await db.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ${stateTable(engine, 'partitions')}${where}`, datasets ?? []));
}

const VERSION_COLUMNS = 'dataset, partition, version, rows, checksum, inputs';
type VersionRow = { dataset: string; partition: string; version: number | bigint; rows: number | bigint; checksum: string; inputs: string };

function snapshotOf(rows: VersionRow[]): Snapshot {
  const out: Snapshot = new Map();
  let dataset = '';
  let m: Map<string, PartitionVersion> | undefined;
  for (const r of rows) {
    if (r.dataset !== dataset || !m) {
      dataset = r.dataset;
      m = out.get(dataset);
      if (!m) out.set(dataset, (m = new Map()));
    }
    m.set(r.partition, { version: Number(r.version), rows: Number(r.rows), checksum: r.checksum, inputs: parseJson<Inputs>(r.inputs, {}) });
  }
  return out;
}

/**
 * loadPartitionVersions for some partitions only (dataset → keys): what a run reads is usually a small
 * part of the project. A large selection reads its datasets whole instead of naming every key.
 */
export async function loadPartitionVersionsOf(db: Db, engine: Engine, wanted: Map<string, Set<string>>): Promise<Snapshot> {
  const datasets = [...wanted.keys()];
  const count = [...wanted.values()].reduce((n, keys) => n + keys.size, 0);
  if (count > 500) {
    const whole = await loadPartitionVersions(db, engine, datasets);
    for (const [dataset, m] of whole) {
      const keys = wanted.get(dataset)!;
      for (const k of m.keys()) if (!keys.has(k)) m.delete(k);
    }
    return whole;
  }
  const params: unknown[] = [];
  const where = datasets
    .map((dataset) => {
      params.push(dataset);
      const d = params.length;
      const list = [...wanted.get(dataset)!].map((k) => (params.push(k), `$${params.length}`)).join(', ');
      return `(dataset = $${d} AND partition IN (${list}))`;
    })
    .join(' OR ');
  return snapshotOf(await db.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ${stateTable(engine, 'partitions')} WHERE ${where || 'FALSE'}`, params));
}

/**
 * loadPartitionVersions for a key range per dataset (dataset → first and last key, inclusive). For a
 * small, contiguous selection (what one partition depends on) a range is cheaper to ask than a list.
 */
export async function loadPartitionVersionsBetween(db: Db, engine: Engine, ranges: Map<string, { from: string; to: string }>): Promise<Snapshot> {
  const params: unknown[] = [];
  const where = [...ranges]
    .map(([dataset, { from, to }]) => {
      params.push(dataset, from, to);
      const n = params.length;
      return `(dataset = $${n - 2} AND partition BETWEEN $${n - 1} AND $${n})`;
    })
    .join(' OR ');
  return snapshotOf(await db.query<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ${stateTable(engine, 'partitions')} WHERE ${where || 'FALSE'}`, params));
}

/** Every version of a dataset's partitions: all of them, of one partition, or of a list (chunked). */
export async function listVersions(db: Db, engine: Engine, dataset: string, partition?: string | string[]): Promise<VersionRecord[]> {
  if (Array.isArray(partition)) {
    const out: VersionRecord[] = [];
    for (let i = 0; i < partition.length; i += 500) out.push(...(await versionRows(db, engine, dataset, partition.slice(i, i + 500))));
    return out.sort((a, b) => a.partition.localeCompare(b.partition) || a.version - b.version);
  }
  return versionRows(db, engine, dataset, partition === undefined ? undefined : [partition]);
}

async function versionRows(db: Db, engine: Engine, dataset: string, partitions?: string[]): Promise<VersionRecord[]> {
  const where = partitions ? ` AND partition IN (${partitions.map((_, i) => `$${i + 2}`).join(', ') || 'NULL'})` : '';
  const rows = await db.query<Raw & { kind: VersionRecord['kind']; actor: string; reason: string; retained: boolean; replaced_at: string | null; replaced_seq: number | null }>(
    `SELECT * FROM ${stateTable(engine, 'versions')} WHERE dataset = $1${where} ORDER BY partition, version`,
    [dataset, ...(partitions ?? [])],
  );
  return rows.map((r) => ({ ...fromRow(r), kind: r.kind, actor: r.actor, reason: r.reason, retained: Boolean(r.retained), replaced_at: r.replaced_at, replaced_seq: r.replaced_seq === null ? null : Number(r.replaced_seq) }));
}

/** Who published each live version of a dataset, and why (the console's partition table). */
export async function liveVersionNotes(db: Db, engine: Engine, dataset: string): Promise<Map<string, Pick<VersionRecord, 'actor' | 'reason' | 'kind'>>> {
  const rows = await db.query<{ partition: string; actor: string; reason: string; kind: VersionRecord['kind'] }>(
    `SELECT partition, actor, reason, kind FROM ${stateTable(engine, 'versions')} WHERE dataset = $1 AND replaced_at IS NULL`,
    [dataset],
  );
  return new Map(rows.map(({ partition, actor, reason, kind }) => [partition, { actor, reason, kind }]));
}

export interface NewVersion {
  dataset: string;
  partition: string;
  version: number;
  rows: number;
  checksum: string;
  inputs: Inputs;
  kind: VersionRecord['kind'];
}

/** The per-partition columns of a publish's new versions, as one JSON parameter (recordNewVersions). */
const NEW_VERSION_COLUMNS: readonly JsonColumn[] = [
  { name: 'dataset', type: 'VARCHAR' },
  { name: 'partition', type: 'VARCHAR' },
  { name: 'version', type: 'INTEGER' },
  { name: 'rows', type: 'BIGINT' },
  { name: 'checksum', type: 'VARCHAR' },
  { name: 'inputs', type: 'VARCHAR' },
  { name: 'kind', type: 'VARCHAR' },
];

/**
 * Records the new versions of one publish (any datasets) in its transaction, set-based: the previous
 * versions are marked replaced by this publish, the current-partition rows are swapped, the version
 * rows appended. Four statements in all, whatever the number of partitions and datasets: the
 * partitions travel as one JSON parameter (engines/json-rows.ts), the values every row shares as
 * parameters of their own.
 */
export async function recordNewVersions(
  tx: Db,
  engine: Engine,
  versions: NewVersion[],
  common: { run_id: string; publish_seq: number; published_at: string; actor: string; reason: string },
): Promise<void> {
  if (!versions.length) return;
  const partitions = stateTable(engine, 'partitions');
  const versionTable = stateTable(engine, 'versions');
  const rows = engine.dialect.jsonRows('$1', NEW_VERSION_COLUMNS, 'r');
  const json = jsonRowsParam(
    versions.map((v) => ({ dataset: v.dataset, partition: v.partition, version: v.version, rows: v.rows, checksum: v.checksum, inputs: JSON.stringify(v.inputs), kind: v.kind })),
  );
  // A partition's first version replaces nothing (its kind is 'new' only when it has no current
  // record): a first load or a first build skips the two statements, a full scan of versions for one.
  if (versions.some((v) => v.kind !== 'new')) {
    // Only the current version of a partition has replaced_at NULL, and the new one is not inserted yet.
    await tx.exec(
      `UPDATE ${versionTable} AS v SET replaced_at = $2, replaced_seq = CAST($3 AS BIGINT) FROM ${rows}
       WHERE v.replaced_at IS NULL AND v.dataset = r.dataset AND v.partition = r.partition`,
      [json, common.published_at, common.publish_seq],
    );
    await tx.exec(`DELETE FROM ${partitions} WHERE (dataset, partition) IN (SELECT dataset, partition FROM ${rows})`, [json]);
  }
  // The shared values are cast: PostgreSQL would otherwise type a parameter of a SELECT list as text.
  const shared = 'CAST($2 AS VARCHAR), CAST($3 AS BIGINT), CAST($4 AS VARCHAR)';
  await tx.exec(
    `INSERT INTO ${partitions} (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs)
     SELECT r.dataset, r.partition, r.version, r.rows, r.checksum, ${shared}, r.inputs FROM ${rows}`,
    [json, common.run_id, common.publish_seq, common.published_at],
  );
  await tx.exec(
    `INSERT INTO ${versionTable} (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs, kind, actor, reason, retained, replaced_at)
     SELECT r.dataset, r.partition, r.version, r.rows, r.checksum, ${shared}, r.inputs, r.kind, CAST($5 AS VARCHAR), CAST($6 AS VARCHAR), TRUE, NULL FROM ${rows}`,
    [json, common.run_id, common.publish_seq, common.published_at, common.actor, common.reason],
  );
}

/** Partitions and their versions: the per-partition state every plan and publish starts from. */
import type { Db, Engine } from '../engines/engine.js';
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

export interface NewVersion {
  dataset: string;
  partition: string;
  version: number;
  rows: number;
  checksum: string;
  inputs: Inputs;
  kind: VersionRecord['kind'];
}

/**
 * Records the new versions of one publish (any datasets) in its transaction, set-based: the previous
 * versions are marked replaced by this publish, the current-partition rows are swapped, the version
 * rows appended. Four statements per chunk, not four per partition or per dataset, keep a
 * 1,000-partition or many-dataset publish cheap.
 */
export async function recordNewVersions(
  tx: Db,
  engine: Engine,
  versions: NewVersion[],
  common: { run_id: string; publish_seq: number; published_at: string; actor: string; reason: string },
): Promise<void> {
  const partitions = stateTable(engine, 'partitions');
  const versionTable = stateTable(engine, 'versions');
  for (let i = 0; i < versions.length; i += 100) {
    const chunk = versions.slice(i, i + 100);
    const keyParams: unknown[] = [common.published_at, common.publish_seq];
    const keys = partitionsByDataset(chunk, keyParams);
    // Only the current version of a partition has replaced_at NULL, and the new one is not inserted yet.
    await tx.exec(`UPDATE ${versionTable} SET replaced_at = $1, replaced_seq = $2 WHERE replaced_at IS NULL AND (${keys})`, keyParams);
    const deleteParams: unknown[] = [];
    await tx.exec(`DELETE FROM ${partitions} WHERE ${partitionsByDataset(chunk, deleteParams)}`, deleteParams);
    const pParams: unknown[] = [];
    const vParams: unknown[] = [];
    const pRows: string[] = [];
    const vRows: string[] = [];
    for (const v of chunk) {
      const inputs = JSON.stringify(v.inputs);
      pParams.push(v.dataset, v.partition, v.version, v.rows, v.checksum, common.run_id, common.publish_seq, common.published_at, inputs);
      pRows.push(placeholders(pParams.length - 8, 9));
      vParams.push(v.dataset, v.partition, v.version, v.rows, v.checksum, common.run_id, common.publish_seq, common.published_at, inputs, v.kind, common.actor, common.reason);
      vRows.push(`(${placeholders(vParams.length - 11, 12).slice(1, -1)}, TRUE, NULL)`);
    }
    await tx.exec(`INSERT INTO ${partitions} (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs) VALUES ${pRows.join(', ')}`, pParams);
    await tx.exec(
      `INSERT INTO ${versionTable} (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs, kind, actor, reason, retained, replaced_at) VALUES ${vRows.join(', ')}`,
      vParams,
    );
  }
}

/** `(dataset = $a AND partition IN ($b, …)) OR …` for the entries, their values appended to `params`. */
function partitionsByDataset(entries: { dataset: string; partition: string }[], params: unknown[]): string {
  const byDataset = new Map<string, string[]>();
  for (const e of entries) byDataset.set(e.dataset, [...(byDataset.get(e.dataset) ?? []), e.partition]);
  return [...byDataset]
    .map(([dataset, keys]) => {
      params.push(dataset);
      const d = params.length;
      return `(dataset = $${d} AND partition IN (${keys.map((k) => (params.push(k), `$${params.length}`)).join(', ')}))`;
    })
    .join(' OR ');
}

function placeholders(first: number, count: number): string {
  return `(${Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ')})`;
}

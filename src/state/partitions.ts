/** Partitions and their versions: the per-partition state every plan and publish starts from. */
import type { Db, Engine } from '../engines/engine.js';
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

export async function listVersions(db: Db, engine: Engine, dataset: string, partition?: string): Promise<VersionRecord[]> {
  const rows = await db.query<Raw & { kind: VersionRecord['kind']; actor: string; reason: string; retained: boolean; replaced_at: string | null }>(
    `SELECT * FROM ${stateTable(engine, 'versions')} WHERE dataset = $1${partition ? ' AND partition = $2' : ''} ORDER BY partition, version`,
    partition ? [dataset, partition] : [dataset],
  );
  return rows.map((r) => ({ ...fromRow(r), kind: r.kind, actor: r.actor, reason: r.reason, retained: Boolean(r.retained), replaced_at: r.replaced_at }));
}

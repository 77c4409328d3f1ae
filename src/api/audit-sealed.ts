/**
 * What the audit trail last sealed for each partition of a dataset: replaying the dataset's records
 * in chain order, each publish record's `details.changed` sets a partition's version, rows and
 * checksum (publish.ts), and a schema change that recomputed checksums over new columns sets the
 * checksum of the current versions it names (`details.schema_change.checksums`). Records that change
 * no partition (lock, gc, checkpoint reset…) are skipped.
 *
 * `audit verify --data` compares the result with `tidemark.partitions`; the chain's own hashes are
 * checked by `audit verify`, so what is replayed here is what was really written at the time.
 */
import type { PartitionKey } from '../core/grain.js';
import type { Db, Engine } from '../engines/engine.js';
import { parseJson } from '../state/json.js';
import { stateTable } from '../state/tables.js';

export interface SealedState {
  version: number;
  rows: number;
  checksum: string;
  /** The record that last sealed it. */
  seq: number;
}

/** The per-partition entries of a publish record (publish.ts `published`). */
interface ChangedEntry {
  partition: string;
  version_after: number;
  rows_after: number;
  checksum_after: string;
}

interface PublishDetails {
  changed?: ChangedEntry[];
  schema_change?: { checksums?: Record<string, string> };
}

export async function sealedStates(db: Db, engine: Engine, dataset: string): Promise<Map<PartitionKey, SealedState>> {
  const rows = await db.query<{ seq: number; details: unknown }>(`SELECT seq, details FROM ${stateTable(engine, 'audit')} WHERE dataset = $1 ORDER BY seq`, [dataset]);
  const sealed = new Map<PartitionKey, SealedState>();
  for (const r of rows) {
    const details = parseJson<PublishDetails | null>(r.details, null);
    if (!details) continue;
    const seq = Number(r.seq);
    // The recompute runs in the publish transaction before the new versions are written.
    for (const [partition, checksum] of Object.entries(details.schema_change?.checksums ?? {})) {
      const before = sealed.get(partition);
      if (before) sealed.set(partition, { ...before, checksum: String(checksum), seq });
    }
    for (const c of Array.isArray(details.changed) ? details.changed : []) {
      sealed.set(c.partition, { version: Number(c.version_after), rows: Number(c.rows_after), checksum: String(c.checksum_after), seq });
    }
  }
  return sealed;
}

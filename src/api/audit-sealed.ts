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
import { readAudit } from '../state/audit.js';

export interface SealedState {
  version: number;
  rows: number;
  /**
   * Null when a schema change recomputed it without sealing the new value: records written before
   * schema changes sealed their checksums (they listed only counts) say the checksum changed, not to
   * what. Version and rows are still checked; the checksum again once the partition is next published.
   */
  checksum: string | null;
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

/** Per dataset, per partition: what the trail last sealed. One read of the trail for every dataset. */
export async function sealedStates(db: Db, engine: Engine): Promise<Map<string, Map<PartitionKey, SealedState>>> {
  const sealed = new Map<string, Map<PartitionKey, SealedState>>();
  for (const record of await readAudit(db, engine)) {
    const details = record.details as PublishDetails | null;
    if (!details || record.dataset === null) continue;
    let partitions = sealed.get(record.dataset);
    if (!partitions) sealed.set(record.dataset, (partitions = new Map()));
    // The recompute runs in the publish transaction before the new versions are written.
    if (details.schema_change) {
      const checksums = details.schema_change.checksums;
      for (const [partition, before] of partitions) {
        partitions.set(partition, { ...before, checksum: checksums ? (checksums[partition] ?? before.checksum) : null, seq: record.seq });
      }
    }
    for (const c of Array.isArray(details.changed) ? details.changed : []) {
      partitions.set(c.partition, { version: Number(c.version_after), rows: Number(c.rows_after), checksum: String(c.checksum_after), seq: record.seq });
    }
  }
  return sealed;
}

/**
 * A source's live table against its `schema.current`, once the table has data. Additive changes (new
 * columns; every live column still declared with the same type) are applied by the ingest that first
 * publishes under the new schema, inside its publish transaction: ALTER TABLE ADD COLUMN on the live
 * and history tables (existing rows get NULL), and the recorded checksum of every version whose rows
 * are still kept is recomputed over the new column list, so that what was recorded stays what
 * `restore`, `check` and the next ingest recompute. Anything else — a live column no longer declared
 * (removed or renamed) or declared with another type — is refused before anything is written.
 *
 * Why recompute rather than keep old checksums: a checksum hashes each row over the declared columns,
 * and a row with one more column (even NULL) hashes differently on both engines. Keeping the old
 * values would make every untouched partition look changed to the next ingest (a new version with
 * the same values) and make restoring a version from before the change fail its checksum check.
 */
import type { ColumnSpec, SourceSpec } from '../config/project.js';
import { typeName } from '../config/types.js';
import { FILE_COLUMN, REPLACED_SEQ_COLUMN } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { historyTable, liveTable, stateTable } from '../state/tables.js';

export interface LiveSchemaDiff {
  /** Declared columns the live table lacks: added (NULL in existing rows) by the next ingest that publishes. */
  added: ColumnSpec[];
  /** Live columns schema.current no longer declares (removed, or renamed: a rename is a removal plus an addition). */
  removed: ColumnSpec[];
  /** Columns declared with another type than the live table's. */
  retyped: { name: string; live: string; declared: string }[];
}

/** How a source's schema change is applied: what the audit record and the ingest result say. */
export interface AppliedSchemaChange {
  added: ColumnSpec[];
  /** Recorded checksums recomputed over the new columns: current versions, and replaced versions kept in history. */
  checksums_recomputed: { current: number; replaced: number };
}


/** The live table's difference from schema.current, or null when the source has no live table yet. */
export async function diffLiveSchema(db: Db, engine: Engine, ds: SourceSpec): Promise<LiveSchemaDiff | null> {
  const stored = await engine.columns(engine.dataSchema, ds.name, db);
  if (!stored) return null;
  const live = stored.filter((c) => c.name !== FILE_COLUMN);
  const declared = new Map(ds.columns.map((c) => [c.name, c]));
  const liveNames = new Set(live.map((c) => c.name));
  return {
    added: ds.columns.filter((c) => !liveNames.has(c.name)),
    removed: live.filter((c) => !declared.has(c.name)).map((c) => ({ name: c.name, type: typeName(c.type) })),
    retyped: live.flatMap((c) => {
      const d = declared.get(c.name);
      return d && typeName(d.type) !== typeName(c.type) ? [{ name: c.name, live: typeName(c.type), declared: typeName(d.type) }] : [];
    }),
  };
}

export function isAdditive(diff: LiveSchemaDiff): boolean {
  return !diff.removed.length && !diff.retyped.length;
}

/** One line naming every conflicting column, live type against declared type. */
export function describeConflict(diff: LiveSchemaDiff): string {
  const parts = [
    ...diff.removed.map((c) => `${c.name} (live ${c.type}) is no longer declared`),
    ...diff.retyped.map((c) => `${c.name} is ${c.live} in the live table but ${c.declared} in schema.current`),
  ];
  // A removal next to an addition is most likely a rename: say which names are new.
  if (diff.removed.length && diff.added.length) parts.push(`new: ${diff.added.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  return parts.join('; ');
}

/** The refusal of a non-additive change (exit 2), with the ways forward. */
/** `code`: CONFIG when an ingest refuses (exit 2); `schema check` reports the same finding as CHECK_FAILED (exit 4). */
export function nonAdditiveError(ds: SourceSpec, diff: LiveSchemaDiff, code: 'CONFIG' | 'CHECK_FAILED' = 'CONFIG'): TidemarkError {
  return new TidemarkError(
    code,
    `${ds.name}: schema.current is not an additive change of the live table (only new columns are added automatically): ${describeConflict(diff)}`,
    {
      dataset: ds.name,
      hint:
        `keep the live columns as they are in datasets.${ds.name}.schema.current (add new columns, do not rename, drop or retype), ` +
        'and read files of other shapes through a schema.history entry with an adapt map; to really change a column, rebuild the table deliberately',
      removed: diff.removed,
      retyped: diff.retyped,
      added: diff.added,
    },
  );
}

/**
 * In the publish transaction: adds the declared columns the live table lacks (and to history, when it
 * exists), then recomputes the recorded checksums of the versions whose rows are kept. Refuses a
 * non-additive difference found at this point (the live table changed since the ingest was planned).
 * Returns null when there is nothing to add.
 */
export async function evolveLiveTable(tx: Db, engine: Engine, ds: SourceSpec): Promise<AppliedSchemaChange | null> {
  const diff = await diffLiveSchema(tx, engine, ds);
  if (!diff) return null;
  if (!isAdditive(diff)) throw nonAdditiveError(ds, diff);
  if (!diff.added.length) return null;
  const d = engine.dialect;
  const hasHistory = (await engine.columns(engine.historySchema, ds.name, tx)) !== null;
  for (const c of diff.added) {
    const column = `${d.quote(c.name)} ${d.columnType(c.type)}`;
    await tx.exec(`ALTER TABLE ${liveTable(engine, ds.name)} ADD COLUMN ${column}`);
    if (hasHistory) await tx.exec(`ALTER TABLE ${historyTable(engine, ds.name)} ADD COLUMN ${column}`);
  }
  return { added: diff.added, checksums_recomputed: await recomputeChecksums(tx, engine, ds, hasHistory) };
}

/**
 * Recorded checksums over the current columns, recomputed as ingest computes them (grouped by the
 * partition column truncated to the grain, the key text made once per group): the current version
 * of every partition from the live rows, each replaced version from its rows in history (tagged with
 * the publish that replaced it). A version with no rows keeps the empty checksum.
 */
async function recomputeChecksums(tx: Db, engine: Engine, ds: SourceSpec, hasHistory: boolean): Promise<{ current: number; replaced: number }> {
  const d = engine.dialect;
  const pc = d.quote(ds.partitionColumn);
  const checksum = d.checksum(ds.columns.map((c) => c.name));
  const partitions = stateTable(engine, 'partitions');
  const versions = stateTable(engine, 'versions');
  const live = `SELECT ${d.partitionKey('_tm_at', ds.grain)} AS p, c FROM (SELECT ${d.partitionStart(pc, ds.grain)} AS _tm_at, ${checksum} AS c FROM ${liveTable(engine, ds.name)} GROUP BY 1) t`;
  const current = await tx.query(`UPDATE ${partitions} SET checksum = s.c FROM (${live}) s WHERE ${partitions}.dataset = $1 AND ${partitions}.partition = s.p RETURNING ${partitions}.partition`, [ds.name]);
  await tx.exec(
    `UPDATE ${versions} SET checksum = p.checksum FROM ${partitions} p
     WHERE ${versions}.dataset = $1 AND p.dataset = $1 AND ${versions}.partition = p.partition AND ${versions}.version = p.version`,
    [ds.name],
  );
  if (!hasHistory) return { current: current.length, replaced: 0 };
  const rs = d.quote(REPLACED_SEQ_COLUMN);
  const history = `SELECT s, ${d.partitionKey('_tm_at', ds.grain)} AS p, c FROM (SELECT ${rs} AS s, ${d.partitionStart(pc, ds.grain)} AS _tm_at, ${checksum} AS c FROM ${historyTable(engine, ds.name)} GROUP BY 1, 2) t`;
  const replaced = await tx.query(
    `UPDATE ${versions} SET checksum = h.c FROM (${history}) h WHERE ${versions}.dataset = $1 AND ${versions}.replaced_seq = h.s AND ${versions}.partition = h.p RETURNING ${versions}.version`,
    [ds.name],
  );
  return { current: current.length, replaced: replaced.length };
}

/** Declared columns the live table lacks, as the staging of kept live rows must fill them (NULL). */
export function missingFrom(live: ColumnInfo[], ds: SourceSpec): Set<string> {
  const names = new Set(live.map((c) => c.name));
  return new Set(ds.columns.filter((c) => !names.has(c.name)).map((c) => c.name));
}

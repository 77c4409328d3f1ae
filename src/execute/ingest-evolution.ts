/**
 * A source's live table against its `schema.current`, once the table has data. Additive changes (new
 * columns; every live column still declared with the same type) are applied by the ingest that first
 * publishes under the new schema, inside its publish transaction, by the step models with
 * `on_schema_change: add_columns` use too (add-columns.ts): ALTER TABLE ADD COLUMN on the live and
 * history tables (existing rows get NULL), and the recorded checksum of every version whose rows are
 * still kept recomputed over the new column list, so that what was recorded stays what `restore`,
 * `check` and the next ingest recompute. Anything else — a live column no longer declared (removed
 * or renamed) or declared with another type — is refused before anything is written.
 */
import type { ColumnSpec, SourceSpec } from '../config/project.js';
import { typeName } from '../config/types.js';
import { FILE_COLUMN } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { addColumnsAndRecompute, type AppliedSchemaChange as AppliedColumns } from './add-columns.js';

export interface LiveSchemaDiff {
  /** Declared columns the live table lacks: added (NULL in existing rows) by the next ingest that publishes. */
  added: ColumnSpec[];
  /** Live columns schema.current no longer declares (removed, or renamed: a rename is a removal plus an addition). */
  removed: ColumnSpec[];
  /** Columns declared with another type than the live table's. */
  retyped: { name: string; live: string; declared: string }[];
}

/** How a source's schema change is applied: what its audit record says (columns in portable type names). */
export type AppliedSchemaChange = AppliedColumns<ColumnSpec>;

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
 * exists), then recomputes the recorded checksums of the versions whose rows are kept (add-columns.ts,
 * the step models with on_schema_change: add_columns share). Refuses a non-additive difference found
 * at this point (the live table changed since the ingest was planned). Returns null when there is
 * nothing to add.
 */
export async function evolveLiveTable(tx: Db, engine: Engine, ds: SourceSpec): Promise<AppliedSchemaChange | null> {
  const diff = await diffLiveSchema(tx, engine, ds);
  if (!diff) return null;
  if (!isAdditive(diff)) throw nonAdditiveError(ds, diff);
  if (!diff.added.length) return null;
  const columns = diff.added.map((c) => ({ name: c.name, sqlType: engine.dialect.columnType(c.type) }));
  const { counts, checksums } = await addColumnsAndRecompute(tx, engine, ds, columns);
  return { added: diff.added, checksums_recomputed: counts, checksums };
}

/** Declared columns the live table lacks, as the staging of kept live rows must fill them (NULL). */
export function missingFrom(live: ColumnInfo[], ds: SourceSpec): Set<string> {
  const names = new Set(live.map((c) => c.name));
  return new Set(ds.columns.filter((c) => !names.has(c.name)).map((c) => c.name));
}

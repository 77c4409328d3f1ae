/**
 * Checkpoints of incremental models (`incremental: { cursor: COLUMN }`, DESIGN.md failure mode 9):
 * one row per model in `tidemark.checkpoints` holding the high-water mark of COLUMN over the model's
 * published rows. The mark is *derived from the data* and written inside the publish transaction
 * (advanceCheckpoint), so data and mark commit together and can never disagree after a crash.
 *
 * Values are stored as text (the column is VARCHAR for every cursor type) and compared in SQL after
 * a CAST to the cursor column's live type, so `9` vs `10` or two timestamps compare as values, not strings.
 */
import type { ModelSpec } from '../config/project.js';
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { liveTable, stateTable } from './tables.js';

export interface CheckpointRecord {
  dataset: string;
  cursor_column: string;
  /** The mark as text, or null when the model has no rows (nothing processed yet). */
  value: string | null;
  /** The publish (or, after a reset, the publish head at the time) the mark refers to. */
  publish_seq: number;
  updated_at: string;
}

type Raw = Omit<CheckpointRecord, 'publish_seq'> & { publish_seq: number | bigint };

export async function readCheckpoint(db: Db, engine: Engine, dataset: string): Promise<CheckpointRecord | null> {
  const rows = await db.query<Raw>(`SELECT dataset, cursor_column, value, publish_seq, updated_at FROM ${stateTable(engine, 'checkpoints')} WHERE dataset = $1`, [dataset]);
  return rows[0] ? { ...rows[0], publish_seq: Number(rows[0].publish_seq) } : null;
}

/** Upsert as delete + insert: DuckDB's state tables carry no unique keys (see migrations/001_init.ts). */
export async function writeCheckpoint(tx: Db, engine: Engine, record: CheckpointRecord): Promise<void> {
  const table = stateTable(engine, 'checkpoints');
  await tx.exec(`DELETE FROM ${table} WHERE dataset = $1`, [record.dataset]);
  await tx.exec(`INSERT INTO ${table} (dataset, cursor_column, value, publish_seq, updated_at) VALUES ($1, $2, $3, $4, $5)`, [
    record.dataset,
    record.cursor_column,
    record.value,
    record.publish_seq,
    record.updated_at,
  ]);
}

/** The cursor column of an incremental model; a plain model is a usage error. */
export function cursorColumnOf(model: ModelSpec): string {
  if (!model.incremental) {
    throw new TidemarkError('USAGE', `${model.name} is not an incremental model: it has no checkpoint`, {
      dataset: model.name,
      hint: `declare incremental: { cursor: COLUMN } on ${model.name} in tidemark.yaml`,
    });
  }
  return model.incremental.cursor;
}

/** Engine type names as introspected ("BIGINT", "TIMESTAMP WITH TIME ZONE", "DECIMAL(18,3)"): safe to inline. */
const TYPE_NAME = /^[A-Za-z][A-Za-z0-9_ ]*(\(\d+(,\s*\d+)?\))?$/;

/** The SQL type of the cursor column in the live table, or null while the model has no live table. */
export async function cursorType(db: Db, engine: Engine, model: ModelSpec): Promise<string | null> {
  const cursor = cursorColumnOf(model);
  const cols = await engine.columns(engine.dataSchema, model.name, db);
  if (!cols) return null;
  const col = cols.find((c) => c.name === cursor);
  if (!col) {
    throw new TidemarkError('CONFIG', `${model.name}: incremental.cursor '${cursor}' is not a column of its output`, {
      dataset: model.name,
      hint: `output columns: ${cols.map((c) => c.name).join(', ')}`,
    });
  }
  if (!TYPE_NAME.test(col.type)) throw new TidemarkError('CONFIG', `${model.name}: cursor column '${cursor}' has a type Tidemark cannot compare (${col.type})`, { dataset: model.name });
  return col.type;
}

/** `CAST('value' AS type)`: a checkpoint value typed like the cursor column. */
export function typedValue(engine: Engine, value: string, type: string): string {
  return `CAST(${engine.dialect.stringLiteral(value)} AS ${type})`;
}

/** max(cursor) over the live table, as text (null when the table is empty or missing). */
export async function liveCursorMax(db: Db, engine: Engine, model: ModelSpec): Promise<string | null> {
  if ((await cursorType(db, engine, model)) === null) return null;
  const c = engine.dialect.quote(cursorColumnOf(model));
  const rows = await db.query<{ m: string | null }>(`SELECT CAST(max(${c}) AS VARCHAR) AS m FROM ${liveTable(engine, model.name)}`);
  return rows[0]?.m ?? null;
}

/**
 * The publish hook (called by publishRun, inside its transaction, after the model's partitions were
 * replaced): sets the checkpoint to max(cursor) over the live table.
 *
 * The rule: the mark is what the published data says, never an increment of the old mark. So
 * - a restatement of old partitions whose cursor values lie below the mark leaves it where it is
 *   (their rows were *replaced*, the maximum did not move);
 * - new partitions move it forward;
 * - it moves backwards only when the data does: a restatement removed the rows that held the
 *   maximum, and claiming them as processed would hide that (validate calls it "ahead of the data");
 * - after `checkpoint reset` lowered it, the replay's publish brings it back to the data's maximum,
 *   even when the replayed partitions came out identical (so this runs for every dataset the run
 *   computed, not only for those whose content changed).
 * Unchanged marks are not rewritten, so `publish_seq` names the publish that last moved the mark.
 */
export async function advanceCheckpoint(tx: Db, engine: Engine, model: ModelSpec, publishSeq: number, now: string): Promise<void> {
  if (!model.incremental) return;
  const value = await liveCursorMax(tx, engine, model);
  const current = await readCheckpoint(tx, engine, model.name);
  if (current && current.value === value && current.cursor_column === model.incremental.cursor) return;
  await writeCheckpoint(tx, engine, { dataset: model.name, cursor_column: model.incremental.cursor, value, publish_seq: publishSeq, updated_at: now });
}

/** What `{{ checkpoint }}` renders as for a model now: its mark as a typed literal, or NULL. */
export async function checkpointLiteral(db: Db, engine: Engine, model: ModelSpec): Promise<string> {
  const current = await readCheckpoint(db, engine, model.name);
  if (current?.value === null || current?.value === undefined) return 'NULL';
  const type = await cursorType(db, engine, model);
  return type === null ? 'NULL' : typedValue(engine, current.value, type);
}

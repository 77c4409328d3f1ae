/**
 * A source's first load — no live table yet — writes the files' rows once. They go into a load table
 * in the data schema, in the compute step; validation and checksums then read those native rows (a
 * column scan about twice as fast as reading the files again), and the publish renames the load
 * table to the live table: no row moves in the publish transaction. Before this, DuckDB read the rows
 * from the files twice (once to validate, once to insert: ~250 ms of a 1.4 s load of 5M rows), and
 * PostgreSQL copied them three times (its per-process file table, a staging table, then live), the
 * last copy inside the publish transaction, which every other publish waits for.
 *
 * Both engines take the same path. The load table sits in the data schema because DuckDB renames a
 * table only within its schema (it has no ALTER TABLE … SET SCHEMA). On PostgreSQL the staging view
 * reads the load table, not the per-process file tables it was made from (dropped when the process
 * ends), so the run's staging outlives the process as DuckDB's does; the rename is DDL, so it commits
 * or rolls back with the publish, and readers never see the live table before the publish commits.
 * Its columns are those a staging table would have had (ingest.ts stagedFileColumns), each CAST to
 * its type, so the live table it becomes is indistinguishable from one the publish creates.
 *
 * Its name starts with `_tm_`, which no dataset may use; readers of the data schema can see it while
 * the load runs. It is the run's staging, but no attempt reuses another's (a resumed run builds it
 * again): a published run no longer has it (renamed, or dropped when another publish created the
 * live table first), one that stops without publishing drops it, and gc drops one a killed process
 * left, with the run's staging view over it, unless that run is in flight.
 */
import { createHash } from 'node:crypto';
import { RESERVED_PREFIX, assertIdentifier } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { dropStagingRelation } from './staging.js';

export const LOAD_TABLE_PREFIX = `${RESERVED_PREFIX}load__`;

/** Identifiers PostgreSQL keeps whole (it cuts longer ones silently); Tidemark's names are ASCII. */
const MAX_NAME = 63;

/**
 * `_tm_load__<run>__<dataset>`. A name that would be longer than MAX_NAME keeps the start of the
 * dataset's name and ends with a hash of all of it, so two datasets that share a long prefix never
 * get the same load table (a plain cut would give them one).
 */
export function loadTableName(runId: string, dataset: string): string {
  const full = `${LOAD_TABLE_PREFIX}${runId}__${dataset}`;
  if (full.length <= MAX_NAME) return assertIdentifier(full, 'load table');
  const hash = createHash('sha256').update(dataset).digest('hex').slice(0, 8);
  return assertIdentifier(`${full.slice(0, MAX_NAME - hash.length - 1)}_${hash}`, 'load table');
}

/** The run id of a load table's name, or null when the name is not a load table's. */
export function runOfLoadTable(name: string): string | null {
  return name.startsWith(LOAD_TABLE_PREFIX) ? name.slice(LOAD_TABLE_PREFIX.length).split('__')[0] : null;
}

export function loadTable(engine: Engine, runId: string, dataset: string): string {
  return engine.dialect.table(engine.dataSchema, loadTableName(runId, dataset));
}

/**
 * (Re)creates the run's load table of `dataset` from `select`, committed on its own: `columns`, in
 * that order, each CAST to its type (a CREATE TABLE AS takes its types from the SELECT). A new run
 * (`newRun`) has nothing to replace.
 */
export async function createLoadTable(engine: Engine, runId: string, dataset: string, select: string, columns: ColumnInfo[], newRun = false): Promise<void> {
  const d = engine.dialect;
  // An earlier attempt's, with the staging view over it (PostgreSQL drops no table a view reads).
  if (!newRun) await dropLoadTable(engine, engine, runId, dataset, { view: true });
  const typed = columns.map((c) => `CAST(${d.quote(c.name)} AS ${c.type}) AS ${d.quote(c.name)}`).join(', ');
  await engine.exec(`CREATE TABLE ${loadTable(engine, runId, dataset)} AS SELECT ${typed} FROM (${select}) rows_of_files`);
}

/**
 * In the publish transaction: makes this attempt's load table the live table, when the dataset still
 * has none (another run may have created it since); false when the rows must be inserted instead.
 * On PostgreSQL publishes take turns (state/meta.ts nextPublishSeq), and each statement sees what
 * those before committed: a first load that published meanwhile is seen here. The staging view over
 * it goes with the ingest's publish hook (dropLoadTable).
 */
export async function adoptLoadTable(tx: Db, engine: Engine, runId: string, dataset: string): Promise<boolean> {
  if ((await engine.columns(engine.dataSchema, dataset, tx)) !== null) return false;
  await tx.exec(`ALTER TABLE ${loadTable(engine, runId, dataset)} RENAME TO ${engine.dialect.quote(dataset)}`);
  return true;
}

/**
 * Drops the run's load table of `dataset`, and with `view` the run's staging of it when that is a view
 * (over it; an attempt that staged a table left a table under that name, which stays).
 */
export async function dropLoadTable(db: Db, engine: Engine, runId: string, dataset: string, options: { view?: boolean } = {}): Promise<void> {
  if (options.view) await dropStagingRelation(engine, runId, dataset, 'VIEW', db);
  await db.exec(`DROP TABLE IF EXISTS ${loadTable(engine, runId, dataset)}`);
}

/**
 * A source's first load on DuckDB — no live table yet — writes the files' rows once. They go into a
 * load table in the data schema, in the compute step; validation and checksums then read those
 * native rows (a column scan about twice as fast as reading the files again), and the publish renames
 * the load table to the live table: no row moves in the publish transaction. Before this, the rows
 * were read from the files twice, once to validate and once to insert (~250 ms of a 1.4 s load of
 * 5M rows).
 *
 * The load table sits in the data schema because DuckDB renames a table only within its schema (it
 * has no ALTER TABLE … SET SCHEMA; PostgreSQL has, but there a first load still stages a table and
 * copies it: the rename is DuckDB's path only). Its name starts with `_tm_`, which no dataset may
 * use; readers of the data schema can see it while the load runs. It is the run's staging, but no
 * attempt reuses another's (a resumed run builds it again): a published run no longer has it
 * (renamed, or dropped when another publish created the live table first), one that stops without
 * publishing drops it, and gc drops one a killed process left, unless that run is in flight.
 */
import { RESERVED_PREFIX, assertIdentifier } from '../core/identifiers.js';
import type { Db, Engine } from '../engines/engine.js';
import { stagingName, stagingTable } from '../state/tables.js';

export const LOAD_TABLE_PREFIX = `${RESERVED_PREFIX}load__`;

export function loadTableName(runId: string, dataset: string): string {
  return assertIdentifier(`${LOAD_TABLE_PREFIX}${stagingName(runId, dataset)}`.slice(0, 63), 'load table');
}

/** The run id of a load table's name, or null when the name is not a load table's. */
export function runOfLoadTable(name: string): string | null {
  return name.startsWith(LOAD_TABLE_PREFIX) ? name.slice(LOAD_TABLE_PREFIX.length).split('__')[0] : null;
}

export function loadTable(engine: Engine, runId: string, dataset: string): string {
  return engine.dialect.table(engine.dataSchema, loadTableName(runId, dataset));
}

/** (Re)creates the run's load table of `dataset` from `select`, committed on its own. */
export async function createLoadTable(engine: Engine, runId: string, dataset: string, select: string): Promise<void> {
  const table = loadTable(engine, runId, dataset);
  await engine.exec(`DROP TABLE IF EXISTS ${table}`);
  await engine.exec(`CREATE TABLE ${table} AS ${select}`);
}

/**
 * In the publish transaction: makes this attempt's load table the live table, when the dataset still
 * has none (another run may have created it since); false when the rows must be inserted instead.
 * The staging view over it goes with the ingest's publish hook (dropLoadTable).
 */
export async function adoptLoadTable(tx: Db, engine: Engine, runId: string, dataset: string): Promise<boolean> {
  if ((await engine.columns(engine.dataSchema, dataset, tx)) !== null) return false;
  await tx.exec(`ALTER TABLE ${loadTable(engine, runId, dataset)} RENAME TO ${engine.dialect.quote(dataset)}`);
  return true;
}

/** Drops the run's load table of `dataset`, and its staging view over it with `view`. */
export async function dropLoadTable(db: Db, engine: Engine, runId: string, dataset: string, options: { view?: boolean } = {}): Promise<void> {
  if (options.view) await db.exec(`DROP VIEW IF EXISTS ${stagingTable(engine, runId, dataset)}`);
  await db.exec(`DROP TABLE IF EXISTS ${loadTable(engine, runId, dataset)}`);
}

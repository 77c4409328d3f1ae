/** Staging tables: where a run's output waits, validated, until it is published. */
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import { stagingName } from '../state/tables.js';

/** The checksum of an empty partition (the checksum aggregate over no rows). */
export const EMPTY_CHECKSUM = '0';

/** Creates the staging table of a run and dataset, or recreates it when the output shape changed. Returns true if (re)created. */
export async function ensureStagingTable(
  db: Db,
  engine: Engine,
  runId: string,
  dataset: string,
  columns: ColumnInfo[],
  options: { beforeDrop?: () => Promise<void>; knownAbsent?: boolean } = {},
): Promise<boolean> {
  const d = engine.dialect;
  const name = stagingName(runId, dataset);
  const table = d.table(engine.stagingSchema, name);
  // `knownAbsent`: the caller knows no staging exists yet (a run this attempt created).
  const existing = options.knownAbsent ? null : await engine.columns(engine.stagingSchema, name, db);
  const wanted = [...columns, { name: PARTITION_COLUMN, type: 'VARCHAR' }];
  if (existing && sameColumns(existing, wanted)) return false;
  if (existing) {
    await options.beforeDrop?.();
    await db.exec(`DROP TABLE ${table}`);
  }
  await db.exec(`CREATE TABLE ${table} (${wanted.map((c) => `${d.quote(c.name)} ${c.type}`).join(', ')})`);
  return true;
}

export function sameColumns(a: ColumnInfo[], b: ColumnInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i].name && c.type.toUpperCase() === b[i].type.toUpperCase());
}

/** Columns `next` adds at the end of `live`, all else equal (an additive change); null when the change is not additive. */
export function addedColumns(live: ColumnInfo[], next: ColumnInfo[]): ColumnInfo[] | null {
  if (next.length < live.length || !sameColumns(live, next.slice(0, live.length))) return null;
  return next.slice(live.length);
}

/** A readable column-level difference between a live table and new output. */
export function describeColumnDiff(live: ColumnInfo[], next: ColumnInfo[]): string {
  const parts: string[] = [];
  for (const c of next) {
    const l = live.find((x) => x.name === c.name);
    if (!l) parts.push(`+ ${c.name} ${c.type} (new)`);
    else if (l.type.toUpperCase() !== c.type.toUpperCase()) parts.push(`~ ${c.name}: ${l.type} → ${c.type}`);
  }
  for (const l of live) if (!next.some((c) => c.name === l.name)) parts.push(`- ${l.name} ${l.type} (missing)`);
  // Same names and types: only the order differs, which says nothing until both orders are shown.
  if (!parts.length) parts.push(`columns are in a different order: the live table has ${live.map((c) => c.name).join(', ')}; the output ${next.map((c) => c.name).join(', ')}`);
  return parts.join('; ');
}

/**
 * Makes the run's staging of `dataset` a view over `select` (a restore: the chosen versions' rows in
 * history; a first ingest: the files), so no row is copied before publish. A resumed run may have
 * left a view or a table under that name: either is replaced (a new run has none: `newRun`).
 */
export async function stageAsView(engine: Engine, runId: string, dataset: string, select: string, newRun = false): Promise<void> {
  if (!newRun) await dropStagingRelation(engine, runId, dataset);
  await engine.exec(`CREATE VIEW ${engine.dialect.table(engine.stagingSchema, stagingName(runId, dataset))} AS ${select}`);
}

/** Drops the run's staging of `dataset`, whether a view or a table; with `only`, just that kind. `db`: a transaction to do it in. */
export async function dropStagingRelation(engine: Engine, runId: string, dataset: string, only?: 'VIEW' | 'TABLE', db: Db = engine): Promise<void> {
  const name = stagingName(runId, dataset);
  const [existing] = await db.query<{ t: string }>(`SELECT table_type AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, [engine.stagingSchema, name]);
  if (!existing) return;
  const kind = existing.t.toUpperCase().includes('VIEW') ? 'VIEW' : 'TABLE';
  if (!only || only === kind) await db.exec(`DROP ${kind} ${engine.dialect.table(engine.stagingSchema, name)}`);
}

/** Drops a run's staging tables and run views; `views`: the only datasets that may have a view (RunContext.refViews). */
export async function dropStaging(engine: Engine, runId: string, datasets: string[], views?: Set<string>): Promise<void> {
  for (const ds of datasets) {
    if (!views || views.has(ds)) await engine.exec(`DROP VIEW IF EXISTS ${engine.dialect.table(engine.stagingSchema, stagingName(runId, `${ds}__v`))}`);
    await engine.exec(`DROP TABLE IF EXISTS ${engine.dialect.table(engine.stagingSchema, stagingName(runId, ds))}`);
  }
}

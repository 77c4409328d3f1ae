/**
 * Renders a model's SQL for one partition window. Inside a run, `ref('x')` for a dataset that the
 * same run has already computed reads the staged partitions over the live ones, so dependents see
 * the run's new data even though nothing is published until the end.
 */
import { createHash } from 'node:crypto';
import type { ModelSpec } from '../config/project.js';
import { renderTemplate } from '../config/template.js';
import { windowOf, type PartitionKey } from '../core/grain.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { liveTable, stagingName, stagingTable, stateTable } from '../state/tables.js';
import type { Project } from '../config/project.js';

export interface RefSource {
  /** Columns a reader sees (a source's file column is hidden). */
  columns: string[] | null;
  /** Set when the dataset has staged partitions in this run. */
  staging?: { runId: string };
}

/**
 * `checkpoint` is the `{{ checkpoint }}` literal (state/checkpoints.ts checkpointLiteral), loaded by the
 * caller because rendering is synchronous; an incremental model rendered without one (plan-time checks
 * that only describe the output) gets NULL.
 */
export function renderModelSql(engine: Engine, project: Project, model: ModelSpec, partition: PartitionKey, refs: (dataset: string) => RefSource, checkpoint?: string): string {
  const w = windowOf(partition, model.grain);
  const d = engine.dialect;
  return renderTemplate(
    model.sqlTemplate,
    {
      start: d.windowLiteral(w.start, model.grain),
      end: d.windowLiteral(w.end, model.grain),
      ref: (name) => refSql(engine, name, refs(name)),
      checkpoint: model.incremental ? (checkpoint ?? 'NULL') : undefined,
    },
    model.sqlFile,
  );
}

/**
 * A ref renders as a plain relation name, so model SQL may alias it freely (`FROM {{ ref('x') }} o`):
 * the live table, or, when this run has staged partitions of `x`, the run's overlay view of it
 * (created by ensureRefView).
 */
function refSql(engine: Engine, dataset: string, src: RefSource): string {
  return src.staging ? refViewTable(engine, src.staging.runId, dataset) : liveTable(engine, dataset);
}

export function refViewTable(engine: Engine, runId: string, dataset: string): string {
  return engine.dialect.table(engine.stagingSchema, stagingName(runId, `${dataset}__v`));
}

/**
 * The run's view of `dataset`: staged partitions of this run over the live ones. A caller that has
 * just read the live table's columns passes them (`liveColumns`), and says `fresh` when it has just
 * created the staging table, so no view of it can exist yet.
 */
export async function ensureRefView(
  db: Db,
  engine: Engine,
  project: Project,
  runId: string,
  dataset: string,
  columns: string[],
  liveExists: boolean,
  known: { liveColumns?: ColumnInfo[]; fresh?: boolean } = {},
): Promise<void> {
  const d = engine.dialect;
  const ds = project.datasets.get(dataset)!;
  const cols = columns.map((c) => d.quote(c)).join(', ');
  const computed = `(SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = ${d.stringLiteral(runId)} AND dataset = ${d.stringLiteral(dataset)} AND status = 'computed')`;
  const staged = `SELECT ${cols} FROM ${stagingTable(engine, runId, dataset)} WHERE ${d.quote(PARTITION_COLUMN)} IN ${computed}`;
  const key = d.partitionKey(d.quote(ds.partitionColumn), ds.grain);
  // Schema evolution (issue 6): a column an add_columns model just gained is not in the live table
  // until publish; its live partitions read it as NULL, as they will after ALTER TABLE … ADD COLUMN.
  const liveColumns = liveExists ? (known.liveColumns ?? (await engine.columns(engine.dataSchema, dataset, db)) ?? []) : [];
  const live = new Set(liveColumns.map((c) => c.name));
  const liveCols = columns.map((c) => (live.has(c) ? d.quote(c) : `NULL AS ${d.quote(c)}`)).join(', ');
  const body = liveExists ? `SELECT ${liveCols} FROM ${liveTable(engine, dataset)} WHERE ${key} NOT IN ${computed} UNION ALL ${staged}` : staged;
  const view = refViewTable(engine, runId, dataset);
  if (!known.fresh) await db.exec(`DROP VIEW IF EXISTS ${view}`);
  await db.exec(`CREATE VIEW ${view} AS ${body}`);
}

export function sqlHash(sql: string): string {
  return createHash('sha256').update(sql).digest('hex').slice(0, 16);
}

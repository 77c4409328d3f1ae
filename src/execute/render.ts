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
import type { Engine } from '../engines/engine.js';
import { liveTable, stagingTable, stateTable } from '../state/tables.js';
import type { Project } from '../config/project.js';

export interface RefSource {
  /** Columns a reader sees (a source's file column is hidden). */
  columns: string[] | null;
  /** Set when the dataset has staged partitions in this run. */
  staging?: { runId: string };
  liveExists: boolean;
}

export function renderModelSql(engine: Engine, project: Project, model: ModelSpec, partition: PartitionKey, refs: (dataset: string) => RefSource): string {
  const w = windowOf(partition, model.grain);
  const d = engine.dialect;
  return renderTemplate(
    model.sqlTemplate,
    {
      start: d.windowLiteral(w.start, model.grain),
      end: d.windowLiteral(w.end, model.grain),
      ref: (name) => refSql(engine, project, name, refs(name)),
    },
    model.sqlFile,
  );
}

function refSql(engine: Engine, project: Project, dataset: string, src: RefSource): string {
  const d = engine.dialect;
  const live = liveTable(engine, dataset);
  const ds = project.datasets.get(dataset)!;
  const cols = src.columns ? src.columns.map((c) => d.quote(c)).join(', ') : '*';
  if (!src.staging) return ds.kind === 'source' && src.columns ? `(SELECT ${cols} FROM ${live})` : live;
  const { runId } = src.staging;
  const computed = `(SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = ${d.stringLiteral(runId)} AND dataset = ${d.stringLiteral(dataset)} AND status = 'computed')`;
  const staged = `SELECT ${cols} FROM ${stagingTable(engine, runId, dataset)} WHERE ${d.quote(PARTITION_COLUMN)} IN ${computed}`;
  if (!src.liveExists) return `(${staged})`;
  const key = d.partitionKey(d.quote(ds.partitionColumn), ds.grain);
  return `(SELECT ${cols} FROM ${live} WHERE ${key} NOT IN ${computed} UNION ALL ${staged})`;
}

export function sqlHash(sql: string): string {
  return createHash('sha256').update(sql).digest('hex').slice(0, 16);
}

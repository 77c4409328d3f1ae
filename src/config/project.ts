/** The resolved project: what the rest of Tidemark works with once tidemark.yaml has been loaded. */
import path from 'node:path';
import type { Grain } from '../core/grain.js';
import { TidemarkError } from '../errors.js';
import type { CheckConfig, ConsumerConfig, PoolConfig, ProtectConfig } from './schema.js';

export interface ColumnSpec {
  name: string;
  type: string;
}

export interface SchemaVersionSpec {
  version: number;
  columns: ColumnSpec[];
  /** current column → SQL expression over the old columns */
  adapt: Record<string, string>;
  /** YAML path of the entry (`datasets.orders.schema.history[0]`), for errors found after loading. */
  at?: string;
}

export interface UpstreamSpec {
  dataset: string;
  lookback: number;
}

/** What every dataset has, source or model. */
export interface DatasetCommon {
  name: string;
  partitionColumn: string;
  grain: Grain;
  key: string[];
  checks: CheckConfig[];
  protect: ProtectConfig;
  consumers: string[];
}

export interface SourceSpec extends DatasetCommon {
  kind: 'source';
  format?: 'csv' | 'parquet' | 'ndjson';
  /** `csv.delimiter`: the field delimiter of its CSV files other than .tsv (',' when not declared). */
  csv?: { delimiter: string };
  columns: ColumnSpec[];
  /** Older shapes, newest first; `columns` is the current one. */
  history: SchemaVersionSpec[];
}

export interface ModelSpec extends DatasetCommon {
  kind: 'model';
  sqlFile: string;
  sqlTemplate: string;
  upstream: UpstreamSpec[];
  dependsOnPast: boolean;
  /** Declared output columns (optional; required for depends_on_past). */
  columns?: ColumnSpec[];
  incremental?: { cursor: string };
  onSchemaChange: 'fail' | 'add_columns';
}

export type DatasetSpec = SourceSpec | ModelSpec;

export type EngineConfig = { kind: 'duckdb'; path: string } | { kind: 'postgres'; url: string; schema: string };

export interface Project {
  dir: string;
  configPath: string;
  name: string;
  engine: EngineConfig;
  pools: Record<string, Required<Pick<PoolConfig, 'slots' | 'priority'>> & PoolConfig>;
  guards: { max_backfill_partitions: number; max_shrink: number };
  retention: { versions: number; days: number };
  datasets: Map<string, DatasetSpec>;
  /** Dataset names in dependency order (upstream first). */
  order: string[];
  consumers: Record<string, ConsumerConfig>;
  /** SHA-256 of the config file and model SQL, recorded in audit records. */
  configHash: string;
  /** Values interpolated from the environment; redacted from logs, audit and JSON output. */
  secrets: string[];
}

export function getDataset(project: Project, name: string): DatasetSpec {
  const ds = project.datasets.get(name);
  if (!ds) throw unknownDataset(project, name);
  return ds;
}

export function getModel(project: Project, name: string): ModelSpec {
  const ds = getDataset(project, name);
  if (ds.kind !== 'model') {
    throw new TidemarkError('USAGE', `'${name}' is a source; sources are loaded with 'tidemark ingest', not rebuilt`, {
      hint: `tidemark ingest ${name} FILE…`,
    });
  }
  return ds;
}

function unknownDataset(project: Project, name: string): Error {
  const names = [...project.datasets.keys()];
  const close = names.filter((n) => n.includes(name) || name.includes(n));
  return new TidemarkError('UNKNOWN_DATASET', `unknown dataset '${name}'`, {
    hint: !names.length
      ? `this project declares no datasets yet: add them under datasets: in ${path.basename(project.configPath)}`
      : close.length && close.length < names.length
        ? `did you mean ${close.join(' or ')}? (datasets in this project: ${names.join(', ')})`
        : `datasets in this project: ${names.join(', ')}`,
  });
}

export function incrementalModelNames(project: Project): string[] {
  return [...project.datasets.values()].filter((d) => d.kind === 'model' && d.incremental).map((d) => d.name);
}

/** Names the models with `incremental:`, the only datasets with a checkpoint: for the hints of `checkpoint …`. */
export function incrementalModelsHint(project: Project): string {
  const names = incrementalModelNames(project);
  return names.length
    ? `incremental models in this project: ${names.join(', ')}`
    : 'no model in this project is incremental: checkpoints exist only for models with incremental: { cursor: COLUMN }';
}

/** Datasets that read `name` directly (with their mapping). */
export function directDependents(project: Project, name: string): { dataset: ModelSpec; lookback: number }[] {
  const out: { dataset: ModelSpec; lookback: number }[] = [];
  for (const ds of project.datasets.values()) {
    if (ds.kind !== 'model') continue;
    for (const up of ds.upstream) if (up.dataset === name) out.push({ dataset: ds, lookback: up.lookback });
  }
  return out;
}

/**
 * The benchmark project: one `events` source (day partitions, ROWS_PER_DAY rows a day over DAYS days,
 * generated with DuckDB's range() into one Parquet file and loaded with `ingest`) and one simple daily
 * model (`daily_events`: count and sums per day). Built in a temp folder through the library API.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../dist/api/operations.js';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
import { dailyAggregateSql, dailyModelYaml, dayAfter, eventsSourceYaml, writeEvents } from './fixtures.js';

export const DAYS = 1095;
export const ROWS_PER_DAY = 2000;
export const FIRST_DAY = '2023-01-01';
export const MODEL = 'daily_events';
export const SOURCE_COLUMNS = ['event_id', 'user_id', 'amount_cents', 'event_date'];

/** The project file: one source, one simple daily model; `engine` is its YAML value. */
export const benchConfig = (engine = '{ kind: duckdb }') => `# Benchmark project: one source, one simple daily model.
name: bench
engine: ${engine}
guards: { max_backfill_partitions: 400 }
datasets:
${eventsSourceYaml()}${dailyModelYaml(MODEL)}`;

/** The model's SQL; `variant` makes each measured backfill produce new content (fixtures.js). */
export const modelSql = (variant) => dailyAggregateSql(variant);

export function setModelVariant(dir, variant) {
  writeFileSync(path.join(dir, 'models', `${MODEL}.sql`), modelSql(variant));
}

export function databaseFile(dir) {
  return path.join(dir, '.tidemark', 'warehouse.duckdb');
}

/** ISO day `n` days after FIRST_DAY. */
export const dayAt = (n) => dayAfter(FIRST_DAY, n);

/** Scaffolds the project, generates the data, ingests it and builds every model partition. */
export async function createBenchProject(dir) {
  scaffoldBenchProject(dir, benchConfig());
  const file = path.join(dir, 'data', 'events.parquet');
  await writeEvents(file, { firstDay: FIRST_DAY, rowsPerDay: ROWS_PER_DAY, count: DAYS });
  await ingestAndBuild(dir, file);
}

/** The folders, the project file and the model's first variant. */
export function scaffoldBenchProject(dir, config) {
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), config);
  setModelVariant(dir, 0);
}

/** Set-up shared by the bench projects: ingests the `events` source file and builds every model. */
export async function ingestAndBuild(dir, file) {
  const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench setup' });
  try {
    await ingest(ws, 'events', [file], { reason: 'bench data' });
    await run(ws, {}, { reason: 'bench initial build' });
  } finally {
    await ws.close();
  }
}

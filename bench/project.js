/**
 * The benchmark project: one `events` source (day partitions, ROWS_PER_DAY rows a day over DAYS days,
 * generated with DuckDB's range() into one Parquet file and loaded with `ingest`) and one simple daily
 * model (`daily_events`: count and sums per day). Built in a temp folder through the library API.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { run } from '../dist/api/operations.js';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';

export const DAYS = 1095;
export const ROWS_PER_DAY = 2000;
export const FIRST_DAY = '2023-01-01';
export const MODEL = 'daily_events';
export const SOURCE_COLUMNS = ['event_id', 'user_id', 'amount_cents', 'event_date'];

const CONFIG = `# Benchmark project: one source, one simple daily model.
name: bench
engine: { kind: duckdb }
guards: { max_backfill_partitions: 400 }
datasets:
  events:
    kind: source
    partition: { column: event_date, grain: day }
    key: [event_id]
    schema:
      current: { event_id: BIGINT, user_id: BIGINT, amount_cents: BIGINT, event_date: DATE }
  ${MODEL}:
    kind: model
    sql: models/${MODEL}.sql
    partition: { column: day, grain: day }
    key: [day]
`;

/**
 * The model's SQL. \`variant\` is added to one sum so that each measured backfill produces new content
 * (a backfill after a model change): identical content would publish nothing, which is cheaper
 * than the hand-written script's unconditional replace and would flatter Tidemark.
 */
export function modelSql(variant) {
  return `SELECT
  event_date AS day,
  CAST(count(*) AS BIGINT) AS events,
  CAST(count(DISTINCT user_id) AS BIGINT) AS users,
  CAST(sum(amount_cents) AS BIGINT) + ${variant} AS amount_cents
FROM {{ ref('events') }}
WHERE event_date >= {{ start }}
  AND event_date < {{ end }}
GROUP BY event_date
`;
}

export function setModelVariant(dir, variant) {
  writeFileSync(path.join(dir, 'models', `${MODEL}.sql`), modelSql(variant));
}

export function databaseFile(dir) {
  return path.join(dir, '.tidemark', 'warehouse.duckdb');
}

/** ISO day `n` days after FIRST_DAY. */
export function dayAt(n) {
  const d = new Date(`${FIRST_DAY}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Scaffolds the project, generates the data, ingests it and builds every model partition. */
export async function createBenchProject(dir) {
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), CONFIG);
  setModelVariant(dir, 0);
  const file = path.join(dir, 'data', 'events.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`COPY (
      SELECT i AS event_id,
             (i * 7919) % 50000 AS user_id,
             100 + (i * 104729) % 9900 AS amount_cents,
             DATE '${FIRST_DAY}' + CAST(i // ${ROWS_PER_DAY} AS INTEGER) AS event_date
      FROM range(${DAYS * ROWS_PER_DAY}) t(i)
    ) TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
  conn.closeSync();
  await ingestAndBuild(dir, file);
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

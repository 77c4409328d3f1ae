/**
 * The core bench (scenarios a, b, c) on PostgreSQL (issue 8): `node bench/run.js --engine postgres`.
 * The same project as bench/project.js (one `events` source, the `daily_events` model over DAYS days)
 * on a throwaway PostgreSQL (or TIDEMARK_BENCH_PG_URL), in its own schema set (PG_SCHEMA_PREFIX),
 * and the hand-written baseline of scenario (a) speaking to PostgreSQL directly with `pg`.
 *
 * Fewer rows a day than on DuckDB (PG_ROWS_PER_DAY, BENCH_PG_ROWS_PER_DAY to change it): every
 * partition query scans the unindexed source table, so 2,000 rows × 1,095 days would make one full
 * refresh take minutes. The header of the printed table says so.
 */
import path from 'node:path';
import pg from 'pg';
import { writeEvents } from './fixtures.js';
import { renderPartition } from './hand-written.js';
import { benchConfig, DAYS, FIRST_DAY, ingestAndBuild, scaffoldBenchProject } from './project.js';

export const PG_ROWS_PER_DAY = Number(process.env.BENCH_PG_ROWS_PER_DAY ?? 200);
export const PG_SCHEMA_PREFIX = 'bench_core_';
/** The engine's default data schema, with the prefix (PostgresEngine.open). */
export const PG_DATA_SCHEMA = `${PG_SCHEMA_PREFIX}tidemark_data`;

const quote = (name) => `"${name.replace(/"/g, '""')}"`;

/**
 * Scaffolds the project, generates the data as CSV (the PostgreSQL engine reads Parquet columns as
 * text, which the source's schema check refuses), ingests it and builds every model partition.
 * TIDEMARK_PG_SCHEMA_PREFIX must already be PG_SCHEMA_PREFIX (the caller sets it for the whole bench).
 */
export async function createPgBenchProject(dir, url) {
  scaffoldBenchProject(dir, benchConfig(`{ kind: postgres, url: ${JSON.stringify(url)} }`));
  const file = path.join(dir, 'data', 'events.csv');
  await writeEvents(file, { firstDay: FIRST_DAY, rowsPerDay: PG_ROWS_PER_DAY, count: DAYS, format: 'csv' });
  await ingestAndBuild(dir, file);
}

/**
 * The hand-written baseline on PostgreSQL, as bench/hand-written.js does on DuckDB: each day's SQL
 * (rendered as Tidemark renders it: DATE literals, `ref('x')` as the live table) into a staging
 * table, then one transaction deleting those days from the live table and inserting the staged rows.
 */
export async function handBackfillPg({ url, table, column, template, days }) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const render = (day) => renderPartition(template, day, (name) => `${quote(PG_DATA_SCHEMA)}.${quote(name)}`);
    const live = `${quote(PG_DATA_SCHEMA)}.${quote(table)}`;
    const staging = `${quote(PG_DATA_SCHEMA)}.${quote(`${table}__staging`)}`;
    const first = render(days[0]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${live} AS SELECT * FROM (${first}) q LIMIT 0`);
    await client.query(`DROP TABLE IF EXISTS ${staging}`);
    await client.query(`CREATE TABLE ${staging} AS SELECT * FROM (${first}) q LIMIT 0`);
    for (const day of days) await client.query(`INSERT INTO ${staging} SELECT * FROM (${render(day)}) q`);
    const list = [...days].sort().map((d) => `DATE '${d}'`).join(', ');
    await client.query('BEGIN');
    try {
      await client.query(`DELETE FROM ${live} WHERE ${quote(column)} IN (${list})`);
      await client.query(`INSERT INTO ${live} SELECT * FROM ${staging}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    await client.query(`DROP TABLE ${staging}`);
  } finally {
    await client.end();
  }
}

/** Drops the bench's schema set (before, in case an earlier run died, and after). */
export async function dropPgBenchSchemas(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of ['tidemark_data', 'tidemark', 'tidemark_history', 'tidemark_staging']) {
      await client.query(`DROP SCHEMA IF EXISTS ${quote(PG_SCHEMA_PREFIX + s)} CASCADE`);
    }
  } finally {
    await client.end();
  }
}

/**
 * The baseline Tidemark is compared with: a hand-written script that sends the same per-partition SQL
 * straight to DuckDB and publishes the same way, atomically. Each partition is computed into a staging
 * table; then one transaction deletes those partitions from the live table and inserts the staged
 * rows. No state, no versions, no validation, no audit: the least a careful person would write.
 */
import { withDuckDb } from './fixtures.js';

const quote = (name) => `"${name.replace(/"/g, '""')}"`;

/**
 * Renders the model SQL for one day exactly as Tidemark does: `{{ start }}`/`{{ end }}` as DATE
 * literals of the half-open window, `{{ ref('x') }}` as a projection of the source's columns.
 */
export function renderDay(template, day, sourceColumns) {
  return renderPartition(template, day, (name) => `(SELECT ${sourceColumns.map(quote).join(', ')} FROM "main".${quote(name)})`);
}

/** The same, with each `{{ ref('x') }}` rendered by `relation(x)` (e.g. a hand-maintained copy of x). */
export function renderPartition(template, day, relation) {
  const end = new Date(`${day}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  return template
    .replace(/\{\{\s*start\s*\}\}/g, `DATE '${day}'`)
    .replace(/\{\{\s*end\s*\}\}/g, `DATE '${end.toISOString().slice(0, 10)}'`)
    .replace(/\{\{\s*ref\('(\w+)'\)\s*\}\}/g, (_m, name) => relation(name));
}

/** Rebuilds `days` of `table` (partition column `column`) from `template`, in one DuckDB file. */
export async function handBackfill({ file, table, column, template, days, sourceColumns }) {
  await withDuckDb(file, (conn) => replaceDays(conn, { table, column, days, render: (day) => renderDay(template, day, sourceColumns) }));
}

/**
 * Rebuilds several tables in order, each step in its own atomic replace (a later step reads what an
 * earlier one wrote): `steps` = [{ table, column, days, render(day) → SQL }].
 */
export async function handRebuildChain({ file, steps }) {
  await withDuckDb(file, async (conn) => {
    for (const step of steps) await replaceDays(conn, step);
  });
}

/** Computes `days` into a staging table, then one transaction deletes them from the live table and inserts the staged rows. */
async function replaceDays(conn, { table, column, days, render }) {
  const live = `"main".${quote(table)}`;
  const staging = `"main".${quote(`${table}__staging`)}`;
  const first = render(days[0]);
  await conn.run(`CREATE TABLE IF NOT EXISTS ${live} AS SELECT * FROM (${first}) q LIMIT 0`);
  await conn.run(`CREATE OR REPLACE TABLE ${staging} AS SELECT * FROM (${first}) q LIMIT 0`);
  for (const day of days) {
    await conn.run(`INSERT INTO ${staging} SELECT * FROM (${render(day)}) q`);
  }
  const sorted = [...days].sort();
  const next = new Date(`${sorted[sorted.length - 1]}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  const list = sorted.map((d) => `DATE '${d}'`).join(', ');
  const c = quote(column);
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run(`DELETE FROM ${live} WHERE ${c} >= DATE '${sorted[0]}' AND ${c} < DATE '${next.toISOString().slice(0, 10)}' AND ${c} IN (${list})`);
    await conn.run(`INSERT INTO ${live} SELECT * FROM ${staging}`);
    await conn.run('COMMIT');
  } catch (error) {
    await conn.run('ROLLBACK');
    throw error;
  }
  await conn.run(`DROP TABLE ${staging}`);
}

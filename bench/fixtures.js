/**
 * What the bench projects share: the generated `events` rows, their source declaration, the daily
 * aggregate model over them, and a DuckDB connection opened for one job. Each bench keeps its own
 * sizes and extra datasets; only the common shapes live here.
 */
import { DuckDBInstance } from '@duckdb/node-api';

/** `first` + `n` days, as an ISO day. */
export function dayAfter(first, n) {
  return new Date(Date.parse(`${first}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Opens `file` (or ':memory:'), runs `fn(conn)` and closes both, even when `fn` throws. */
export async function withDuckDb(file, fn) {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/**
 * Writes generated events to `file`: row i has event_id i, a user, an amount, and the day
 * firstDay + i / rowsPerDay. `from`/`count` select the days; CSV (with a header) for PostgreSQL,
 * whose engine reads Parquet columns as text, Parquet otherwise.
 */
export async function writeEvents(file, { firstDay, rowsPerDay, from = 0, count, format = 'parquet' }) {
  const options = format === 'csv' ? 'FORMAT csv, HEADER true' : 'FORMAT parquet';
  await withDuckDb(':memory:', (conn) =>
    conn.run(`COPY (
      SELECT i AS event_id,
             (i * 7919) % 50000 AS user_id,
             100 + (i * 104729) % 9900 AS amount_cents,
             CAST(DATE '${firstDay}' + CAST(i // ${rowsPerDay} AS INTEGER) AS DATE) AS event_date
      FROM range(${from * rowsPerDay}, ${(from + count) * rowsPerDay}) t(i)
    ) TO '${file.replace(/'/g, "''")}' (${options})`),
  );
}

/** The events source's declaration, as an entry under `datasets:` (two-space indent). */
export function eventsSourceYaml(name = 'events', columns = 'event_id: BIGINT, user_id: BIGINT, amount_cents: BIGINT, event_date: DATE') {
  return `  ${name}:
    kind: source
    partition: { column: event_date, grain: day }
    key: [event_id]
    schema:
      current: { ${columns} }
`;
}

/** A daily model keyed by its day, its SQL in models/NAME.sql, as an entry under `datasets:`. */
export function dailyModelYaml(name, extra = '') {
  return `  ${name}:
    kind: model
    sql: models/${name}.sql
    partition: { column: day, grain: day }
    key: [day]
${extra}`;
}

/**
 * Count and sums per day of `source`. `variant` is added to one sum so that each measured backfill
 * produces new content (a backfill after a model change): identical content would publish nothing,
 * which is cheaper than a hand-written unconditional replace and would flatter Tidemark.
 */
export function dailyAggregateSql(variant, { source = 'events', extraColumns = [] } = {}) {
  return `SELECT
  event_date AS day,
  CAST(count(*) AS BIGINT) AS events,
  CAST(count(DISTINCT user_id) AS BIGINT) AS users,
  CAST(sum(amount_cents) AS BIGINT) + ${variant} AS amount_cents${extraColumns.map((c) => `,\n  ${c}`).join('')}
FROM {{ ref('${source}') }}
WHERE event_date >= {{ start }}
  AND event_date < {{ end }}
GROUP BY event_date
`;
}

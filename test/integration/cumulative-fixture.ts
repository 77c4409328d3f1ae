/**
 * The cumulative model the late-data and ready tests add to the shop example: running revenue per
 * currency since the first day, a `depends_on_past` model whose partition d reads its own d-1.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const CUMULATIVE_YAML = `
  # Running revenue per currency since the first day: partition d = daily d + cumulative d-1.
  cumulative_revenue:
    kind: model
    sql: models/cumulative_revenue.sql
    partition: { column: day, grain: day }
    key: [day, currency]
    depends_on_past: true
    columns: { day: DATE, currency: VARCHAR, cum_revenue_usd_cents: BIGINT }
`;

/** The cumulative model as intended: it reads its own previous partition. */
export const SELF_READING_SQL = `SELECT
  d.day AS day,
  d.currency AS currency,
  CAST(d.revenue_usd_cents + coalesce(p.cum_revenue_usd_cents, 0) AS BIGINT) AS cum_revenue_usd_cents
FROM {{ ref('daily_revenue') }} AS d
LEFT JOIN {{ ref('cumulative_revenue') }} AS p
  ON p.currency = d.currency AND p.day = d.day - INTERVAL 1 DAY
WHERE d.day >= {{ start }} AND d.day < {{ end }}
`;

/** Adds the cumulative model (its config and its SQL) to the shop project in `dir`. */
export function addCumulativeModel(dir: string, sql = SELF_READING_SQL): void {
  appendFileSync(path.join(dir, 'tidemark.yaml'), CUMULATIVE_YAML);
  writeFileSync(path.join(dir, 'models', 'cumulative_revenue.sql'), sql);
}

/**
 * A small project whose `orders` source is at schema version 3, with files in all three shapes:
 *   v1: customer (renamed to customer_id), amount in dollars as DOUBLE (→ amount_cents BIGINT),
 *       no currency (→ default 'USD'), legacy_flag (deprecated, dropped);
 *   v2: customer_id, amount in dollars, currency;
 *   v3: the current shape.
 * CSV files are written as text; Parquet files with DuckDB's COPY … TO … (FORMAT parquet).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDbEngine } from '../../src/engines/duckdb/engine.js';

export const SCHEMA_YAML = `name: evolution
datasets:
  orders:
    kind: source
    partition: { column: order_date, grain: day }
    key: [order_id]
    schema:
      current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, order_date: DATE }
      history:
        - version: 1
          columns: { order_id: BIGINT, customer: BIGINT, amount: DOUBLE, legacy_flag: VARCHAR, order_date: DATE }
          adapt: { customer_id: customer, amount_cents: "CAST(round(amount * 100) AS BIGINT)", currency: "'USD'" }
        - version: 2
          columns: { order_id: BIGINT, customer_id: BIGINT, amount: DOUBLE, currency: VARCHAR, order_date: DATE }
          adapt: { amount_cents: "CAST(round(amount * 100) AS BIGINT)" }
`;

export interface ExpectedOrder {
  order_id: number;
  customer_id: number;
  amount_cents: number;
  currency: string;
  order_date: string;
}

/** v1 rows (2025-01-01, 2025-01-02) as CSV and what they must become. 0.1 and 19.99 check rounding. */
export const V1_CSV = `order_id,customer,amount,legacy_flag,order_date
1,100,12.34,old,2025-01-01
2,101,0.1,old,2025-01-01
3,102,19.99,,2025-01-02
`;
export const V1_EXPECTED: ExpectedOrder[] = [
  { order_id: 1, customer_id: 100, amount_cents: 1234, currency: 'USD', order_date: '2025-01-01' },
  { order_id: 2, customer_id: 101, amount_cents: 10, currency: 'USD', order_date: '2025-01-01' },
  { order_id: 3, customer_id: 102, amount_cents: 1999, currency: 'USD', order_date: '2025-01-02' },
];

/** v2 rows (2025-01-03) as Parquet. */
export const V2_SELECT = `SELECT * FROM (VALUES (4::BIGINT, 103::BIGINT, 5.5::DOUBLE, 'EUR', DATE '2025-01-03'), (5, 104, 1.005, 'GBP', DATE '2025-01-03'))
  t(order_id, customer_id, amount, currency, order_date)`;
export const V2_EXPECTED: ExpectedOrder[] = [
  { order_id: 4, customer_id: 103, amount_cents: 550, currency: 'EUR', order_date: '2025-01-03' },
  { order_id: 5, customer_id: 104, amount_cents: 100, currency: 'GBP', order_date: '2025-01-03' },
];

/** v3 rows: a CSV (2025-01-04) and a Parquet file (2025-01-05). */
export const V3_CSV = `order_id,customer_id,amount_cents,currency,order_date
6,105,700,USD,2025-01-04
7,106,800,EUR,2025-01-04
`;
export const V3_SELECT = `SELECT * FROM (VALUES (8::BIGINT, 107::BIGINT, 900::BIGINT, 'USD', DATE '2025-01-05'))
  t(order_id, customer_id, amount_cents, currency, order_date)`;
export const V3_EXPECTED: ExpectedOrder[] = [
  { order_id: 6, customer_id: 105, amount_cents: 700, currency: 'USD', order_date: '2025-01-04' },
  { order_id: 7, customer_id: 106, amount_cents: 800, currency: 'EUR', order_date: '2025-01-04' },
  { order_id: 8, customer_id: 107, amount_cents: 900, currency: 'USD', order_date: '2025-01-05' },
];

export const FILES = {
  v1: 'data/v1-2025-01-01.csv',
  v2: 'data/v2-2025-01-03.parquet',
  v3csv: 'data/v3-2025-01-04.csv',
  v3parquet: 'data/v3-2025-01-05.parquet',
};

/** Writes `select` to a Parquet file with DuckDB (an in-memory engine, not the project's). */
export async function writeParquet(file: string, select: string): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const engine = await DuckDbEngine.open(':memory:');
  try {
    await engine.exec(`COPY (${select}) TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
  } finally {
    await engine.close();
  }
}

/** Writes tidemark.yaml (or `yaml`) and the data files into `dir`. */
export async function writeSchemaProject(dir: string, yaml = SCHEMA_YAML, files: Partial<Record<keyof typeof FILES, boolean>> = { v1: true, v2: true, v3csv: true, v3parquet: true }): Promise<void> {
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), yaml);
  if (files.v1) writeFileSync(path.join(dir, FILES.v1), V1_CSV);
  if (files.v2) await writeParquet(path.join(dir, FILES.v2), V2_SELECT);
  if (files.v3csv) writeFileSync(path.join(dir, FILES.v3csv), V3_CSV);
  if (files.v3parquet) await writeParquet(path.join(dir, FILES.v3parquet), V3_SELECT);
}

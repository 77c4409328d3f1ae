/**
 * DuckDB's partitionStart (the key history rows are joined on when a restore reads them) gives the
 * start of the row's partition window at every grain, for DATE and TIMESTAMP partition columns, and
 * agrees with partitionKey + windowOf, which the rest of Tidemark uses. (PostgreSQL: postgres-engine.test.ts.)
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowOf, type Grain } from '../../src/core/grain.js';
import { duckdbDialect as d } from '../../src/engines/duckdb/dialect.js';

describe('duckdb partitionStart', () => {
  let instance: DuckDBInstance;
  const query = async (sql: string) => (await (await instance.connect()).runAndReadAll(sql)).getRowObjectsJson();
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
  });
  afterAll(() => instance.closeSync());

  const values = ["TIMESTAMP '2026-03-07 13:45:00'", "TIMESTAMP '2026-12-31 23:59:59'", "DATE '2026-01-01'", "DATE '2024-02-29'"];
  for (const grain of ['hour', 'day', 'month'] as Grain[]) {
    it(`matches the window start of the row's partition key (${grain})`, async () => {
      for (const v of values) {
        const [{ key }] = await query(`SELECT ${d.partitionKey(v, grain)} AS key`);
        const start = d.windowLiteral(windowOf(String(key), grain).start, grain);
        const [row] = await query(`SELECT ${d.partitionStart(v, grain)} = ${start} AS same, ${d.partitionStart(v, grain)} = ${start} + INTERVAL 1 HOUR AS shifted`);
        expect(row, `${v} at ${grain}`).toEqual({ same: true, shifted: false });
      }
    });
  }
});

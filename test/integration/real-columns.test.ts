/**
 * A source with a REAL (4-byte float) column on DuckDB. DuckDB names that type FLOAT in its catalog
 * and in DESCRIBE, where the config and PostgreSQL say REAL (PostgreSQL's FLOAT is a double): the
 * engine reports it as REAL, so the live table, a Parquet file's float column and the config agree.
 * Before, the second ingest into the table was refused as a schema change, and a Parquet file of
 * the declared shape matched no schema version.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../../src/engines/duckdb/engine.js';
import { cleanup, cli, cliJson, requireBuild, tempDir } from '../helpers/project.js';

const YAML = `name: floats
datasets:
  readings:
    kind: source
    partition: { column: day, grain: day }
    key: [id]
    schema:
      current: { id: BIGINT, ratio: REAL, value: DOUBLE, day: DATE }
`;

describe('a REAL column on DuckDB', () => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = tempDir('tidemark-real-');
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    writeFileSync(path.join(dir, 'tidemark.yaml'), YAML);
    writeFileSync(path.join(dir, 'data', 'day1.csv'), 'id,ratio,value,day\n1,0.5,1.25,2026-01-01\n2,0.25,2.5,2026-01-01\n');
    writeFileSync(path.join(dir, 'data', 'day2.csv'), 'id,ratio,value,day\n3,0.75,3.75,2026-01-02\n');
    const engine = await DuckDbEngine.open(':memory:');
    try {
      await engine.exec(`COPY (SELECT CAST(4 AS BIGINT) AS id, CAST(0.125 AS REAL) AS ratio, CAST(5 AS DOUBLE) AS value, DATE '2026-01-03' AS day) TO '${path.join(dir, 'data', 'day3.parquet')}' (FORMAT parquet)`);
    } finally {
      await engine.close();
    }
  });
  afterAll(() => cleanup(dir));

  it('is reported as REAL by the engine, for a table and for a query', async () => {
    const engine = await DuckDbEngine.open(':memory:');
    try {
      await engine.exec('CREATE TABLE t (r REAL, f FLOAT4, d DOUBLE)');
      expect(await engine.columns('main', 't')).toEqual([
        { name: 'r', type: 'REAL' },
        { name: 'f', type: 'REAL' },
        { name: 'd', type: 'DOUBLE' },
      ]);
      expect(await engine.describeQuery(engine, 'SELECT * FROM t')).toEqual([
        { name: 'r', type: 'REAL' },
        { name: 'f', type: 'REAL' },
        { name: 'd', type: 'DOUBLE' },
      ]);
    } finally {
      await engine.close();
    }
  });

  it('takes a second CSV and a Parquet file of the declared shape, and schema check passes', () => {
    expect(cliJson(dir, ['ingest', 'readings', 'data/day1.csv']).status).toBe('published');
    const second = cli(dir, ['ingest', 'readings', 'data/day2.csv', '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'published' });
    const parquet = cli(dir, ['ingest', 'readings', 'data/day3.parquet', '--json']);
    expect(parquet.code, parquet.stderr).toBe(0);
    const check = cli(dir, ['schema', 'check', 'readings', '--json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true });
    expect(cliJson(dir, ['query', 'SELECT id, ratio, value FROM readings ORDER BY id'])).toEqual([
      { id: 1, ratio: 0.5, value: 1.25 },
      { id: 2, ratio: 0.25, value: 2.5 },
      { id: 3, ratio: 0.75, value: 3.75 },
      { id: 4, ratio: 0.125, value: 5 },
    ]);
  });
});

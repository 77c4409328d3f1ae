// Failure mode 4: history no longer matches the current schema. Files in older shapes are matched to
// their declared version and adapted to the current schema in the engine; an unknown shape is
// refused (exit 2) with the difference and a suggested adapter, and nothing is written.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/execute/ingest.js';
import { cleanup, cli, cliJson, requireBuild, snapshotState, tempDir, withWorkspace } from '../helpers/project.js';
import { FILES, SCHEMA_YAML, V1_EXPECTED, V2_EXPECTED, V3_EXPECTED, writeParquet, writeSchemaProject, type ExpectedOrder } from './schema-fixture.js';

const dirs: string[] = [];
function newDir(): string {
  const d = tempDir('tidemark-schema-');
  dirs.push(d);
  return d;
}
afterAll(() => cleanup(...dirs));

async function liveOrders(dir: string): Promise<(ExpectedOrder & { _tm_file: string })[]> {
  return withWorkspace(dir, (ws) =>
    ws.engine.query(`SELECT order_id, customer_id, amount_cents, currency, CAST(order_date AS VARCHAR) AS order_date, _tm_file FROM orders ORDER BY order_id`),
  ) as Promise<(ExpectedOrder & { _tm_file: string })[]>;
}

async function partitionChecksums(dir: string): Promise<Record<string, string>> {
  const rows = await withWorkspace(dir, (ws) => ws.engine.query<{ partition: string; checksum: string }>(`SELECT partition, checksum FROM tidemark.partitions WHERE dataset = 'orders'`));
  return Object.fromEntries(rows.map((r) => [r.partition, r.checksum]));
}

describe('ingesting files of older schema versions', () => {
  let dir: string;
  let v3only: string;
  beforeAll(async () => {
    requireBuild();
    dir = newDir();
    await writeSchemaProject(dir);
    // The same v3 files in a project that never saw an old shape.
    v3only = newDir();
    await writeSchemaProject(v3only, SCHEMA_YAML, { v3csv: true, v3parquet: true });
  });

  it('adapts v1 and v2 files alongside v3 ones, value by value', async () => {
    const result = await withWorkspace(dir, (ws) => ingest(ws, 'orders', Object.values(FILES).map((f) => path.join(dir, f))));
    expect(result.status).toBe('published');
    expect(result.files.map((f) => [f.file, f.schema_version])).toEqual([
      [FILES.v1, 1],
      [FILES.v2, 2],
      [FILES.v3csv, 3],
      [FILES.v3parquet, 3],
    ]);
    const rows = await liveOrders(dir);
    expect(rows.length).toBe(V1_EXPECTED.length + V2_EXPECTED.length + V3_EXPECTED.length);
    const fileOf = (id: number) => (id <= 3 ? FILES.v1 : id <= 5 ? FILES.v2 : id <= 7 ? FILES.v3csv : FILES.v3parquet);
    expect(rows).toEqual([...V1_EXPECTED, ...V2_EXPECTED, ...V3_EXPECTED].map((r) => ({ ...r, _tm_file: fileOf(r.order_id) })));
    // The live table has exactly the current columns: the deprecated legacy_flag was dropped.
    const columns = await withWorkspace(dir, (ws) => ws.engine.columns('main', 'orders'));
    expect(columns).toEqual([
      { name: 'order_id', type: 'BIGINT' },
      { name: 'customer_id', type: 'BIGINT' },
      { name: 'amount_cents', type: 'BIGINT' },
      { name: 'currency', type: 'VARCHAR' },
      { name: 'order_date', type: 'DATE' },
      { name: '_tm_file', type: 'VARCHAR' },
    ]);
  });

  it('records the schema version of each file in the manifest', async () => {
    const manifest = await withWorkspace(dir, (ws) => ws.engine.query<{ file: string; schema_version: number; rows: number }>(`SELECT file, schema_version, rows FROM tidemark.ingested_files ORDER BY file`));
    expect(manifest.map((m) => [m.file, Number(m.schema_version), Number(m.rows)])).toEqual([
      [FILES.v1, 1, 3],
      [FILES.v2, 2, 2],
      [FILES.v3csv, 3, 2],
      [FILES.v3parquet, 3, 1],
    ]);
  });

  it('leaves partitions built from v3 files exactly as in a project that only ingested v3', async () => {
    cliJson(v3only, ['ingest', 'orders', FILES.v3csv, FILES.v3parquet]);
    const mixed = await partitionChecksums(dir);
    const only = await partitionChecksums(v3only);
    expect(Object.keys(only).sort()).toEqual(['2025-01-04', '2025-01-05']);
    for (const k of Object.keys(only)) expect(mixed[k]).toBe(only[k]);
    expect(Object.keys(mixed).sort()).toEqual(['2025-01-01', '2025-01-02', '2025-01-03', '2025-01-04', '2025-01-05']);
  });

  it('refuses an unknown shape with exit 2, listing missing, extra and mistyped columns and an adapter, writing nothing', async () => {
    // customer_id renamed to cust, amount_cents as text: against v3, one missing, one extra, one mistyped.
    const odd = path.join(dir, 'data', 'odd-2025-01-06.parquet');
    await writeParquet(odd, `SELECT 9::BIGINT AS order_id, 108::BIGINT AS cust, '1000' AS amount_cents, 'USD' AS currency, DATE '2025-01-06' AS order_date`);
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', FILES.v3csv, 'data/odd-2025-01-06.parquet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('data/odd-2025-01-06.parquet matches no schema version of orders; against version 3 (closest)');
    expect(r.stderr).toContain('missing customer_id BIGINT');
    expect(r.stderr).toContain('extra cust BIGINT');
    expect(r.stderr).toContain('mistyped amount_cents (VARCHAR, expected BIGINT)');
    // The suggested history entry renames cust and reads the text amount by name: ingest casts it and
    // refuses a fraction, where CAST(amount_cents AS BIGINT) would round '12.5' to 13 without a word.
    expect(r.stderr).toContain('customer_id: "cust"');
    expect(r.stderr).toContain('amount_cents: "amount_cents"');
    expect(r.stderr).not.toContain('CAST(amount_cents');
    expect(r.stderr).toContain('columns: { order_id: BIGINT, cust: BIGINT, amount_cents: VARCHAR, currency: VARCHAR, order_date: DATE }');
    // The CLI contract: one error line and one hint line, the suggestion inline (YAML flow style).
    expect(r.stderr.trim().split('\n').map((l) => l.split(':')[0])).toEqual(['error', 'hint']);
    expect(await snapshotState(dir)).toEqual(before);

    // Pasted into the project file as it is, the suggestion loads the file; a fraction is refused, not rounded.
    const suggestion = /add under datasets\.orders\.schema\.history \(replace any CAST\(NULL …\) with a default\): (- \{.*\})$/m.exec(r.stderr)![1];
    const pasted = path.join(newDir(), 'evolution');
    await writeSchemaProject(pasted, SCHEMA_YAML.replace('      history:\n', `      history:\n        ${suggestion}\n`), {});
    cpSync(odd, path.join(pasted, 'data', 'odd-2025-01-06.parquet'));
    const loaded = cli(pasted, ['ingest', 'orders', 'data/odd-2025-01-06.parquet']);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect((await liveOrders(pasted)).map((o) => [o.order_id, o.customer_id, o.amount_cents])).toEqual([[9, 108, 1000]]);
    await writeParquet(path.join(pasted, 'data', 'odd-2025-01-07.parquet'), `SELECT 10::BIGINT AS order_id, 108::BIGINT AS cust, '12.5' AS amount_cents, 'USD' AS currency, DATE '2025-01-07' AS order_date`);
    const pastedBefore = await snapshotState(pasted);
    const fraction = cli(pasted, ['ingest', 'orders', 'data/odd-2025-01-07.parquet']);
    expect(fraction.code).toBe(2);
    expect(fraction.stderr).toContain('amount_cents is not an integer: 12.5');
    expect(await snapshotState(pasted)).toEqual(pastedBefore);
  });

  it('--schema-version forces a version and refuses a file that does not have its shape', async () => {
    const v3 = path.join(dir, 'data', 'v3-2025-01-07.csv');
    writeFileSync(v3, 'order_id,customer_id,amount_cents,currency,order_date\n10,109,1100,USD,2025-01-07\n');
    const before = await snapshotState(dir);
    const wrong = cli(dir, ['ingest', 'orders', 'data/v3-2025-01-07.csv', '--schema-version', '2']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('does not have the shape of orders version 2: missing amount DOUBLE; extra amount_cents VARCHAR');
    const unknown = cli(dir, ['ingest', 'orders', 'data/v3-2025-01-07.csv', '--schema-version', '7']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('orders has no schema version 7');
    expect(await snapshotState(dir)).toEqual(before);
    const ok = cliJson(dir, ['ingest', 'orders', 'data/v3-2025-01-07.csv', '--schema-version', '3']);
    expect(ok.files).toEqual([{ file: 'data/v3-2025-01-07.csv', status: 'new', schema_version: 3 }]);
  });
});

describe('CSV files whose names fit several versions', () => {
  // v2 and v3 share column names; only the type of amount differs (dollars DOUBLE vs cents BIGINT).
  const yaml = `name: ambiguous
datasets:
  orders:
    kind: source
    partition: { column: order_date, grain: day }
    key: [order_id]
    schema:
      current: { order_id: BIGINT, amount: BIGINT, order_date: DATE }
      history:
        - version: 2
          columns: { order_id: BIGINT, amount: DOUBLE, order_date: DATE }
          adapt: { amount: "CAST(round(amount * 100) AS BIGINT)" }
`;

  it('are read as the newest version whose values all cast', async () => {
    const dir = newDir();
    await writeSchemaProject(dir, yaml, {});
    writeFileSync(path.join(dir, 'data', 'cents.csv'), 'order_id,amount,order_date\n1,250,2025-02-01\n');
    writeFileSync(path.join(dir, 'data', 'dollars.csv'), 'order_id,amount,order_date\n2,2.5,2025-02-02\n');
    const result = await withWorkspace(dir, (ws) => ingest(ws, 'orders', [path.join(dir, 'data', 'cents.csv'), path.join(dir, 'data', 'dollars.csv')]));
    expect(result.files.map((f) => f.schema_version)).toEqual([2 + 1, 2]);
    const rows = await withWorkspace(dir, (ws) => ws.engine.query<{ order_id: number; amount: number }>(`SELECT order_id, amount FROM orders ORDER BY order_id`));
    expect(rows.map((r) => [Number(r.order_id), Number(r.amount)])).toEqual([
      [1, 250],
      [2, 250],
    ]);
  });
});

describe('adapter checks', () => {
  it('names the column of an adapter that reads an unknown column (at config load)', async () => {
    const dir = newDir();
    await writeSchemaProject(dir, SCHEMA_YAML.replace('round(amount * 100)', 'round(amt * 100)'), { v1: true });
    const r = cli(dir, ['ingest', 'orders', FILES.v1]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("datasets.orders.schema.history[0].adapt.amount_cents: 'CAST(round(amt * 100) AS BIGINT)' reads 'amt', which is not a column of version 1");
    // With the line of that adapter in the file, like the schema errors found while parsing.
    const line = readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8').split('\n').findIndex((l) => l.includes('round(amt * 100)')) + 1;
    expect(line).toBeGreaterThan(0);
    expect(r.stderr).toContain(`error: tidemark.yaml:${line}: datasets.orders.schema.history[0].adapt.amount_cents:`);
  });

  it('names a current column that a version neither has nor adapts', async () => {
    const dir = newDir();
    await writeSchemaProject(dir, SCHEMA_YAML.replace(`, currency: "'USD'" }`, ' }'), { v1: true });
    const r = cli(dir, ['schema', 'check', 'orders', FILES.v1]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("datasets.orders.schema.history[0].adapt: current column 'currency' is neither a column of version 1 nor adapted");
    // The line is that of `adapt` itself, whether its map is written inline or as a block.
    const line = readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8').split('\n').findIndex((l) => /^\s*adapt:/.test(l)) + 1;
    expect(r.stderr).toContain(`error: tidemark.yaml:${line}: datasets.orders.schema.history[0].adapt:`);
  });

  it('names the column of an adapter that does not run in the engine, among adapters that do', async () => {
    const dir = newDir();
    await writeSchemaProject(dir, SCHEMA_YAML.replace('CAST(round(amount * 100) AS BIGINT)', 'CAST(no_such_function(amount) AS BIGINT)'), { v1: true });
    const r = cli(dir, ['ingest', 'orders', FILES.v1]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("datasets.orders.schema.history[0].adapt.amount_cents: 'CAST(no_such_function(amount) AS BIGINT)' does not run on version 1's columns");
  });

  it('names the column of an adapter whose type cannot become the current one (checked in the engine)', async () => {
    const dir = newDir();
    await writeSchemaProject(dir, SCHEMA_YAML.replace(`currency: "'USD'" }`, `currency: "'USD'", order_date: "customer" }`), { v1: true });
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', FILES.v1]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("datasets.orders.schema.history[0].adapt.order_date: 'customer' gives BIGINT, which cannot become order_date DATE");
    expect(await snapshotState(dir)).toEqual(before);
  });
});

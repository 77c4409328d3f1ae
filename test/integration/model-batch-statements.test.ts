// A model batch's fixed cost is its statements (src/execute/model-stager.ts): the window check,
// counts and checksums come from one aggregate (validate.ts measureStaged), a dataset keyed by its
// partition column alone has its keys checked in that same aggregate, run views exist only for
// datasets that a later dataset of the run reads, and a missing table is found with one catalog
// read. None of this may weaken what validation refuses or leave anything behind; on DuckDB and on
// PostgreSQL.
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import type { TidemarkError } from '../../src/errors.js';
import { cli, cliJson, dataFiles, projectCopies, requireBuild, scaffoldShop, snapshotState, testEngines, withWorkspace, writeModel, writeOrdersFix } from '../helpers/project.js';

/** Orders per day, keyed by its partition column alone (the shape of a daily rollup). */
const DAILY_ORDERS = `SELECT o.order_date AS day, CAST(count(*) AS BIGINT) AS orders
FROM {{ ref('orders') }} o
WHERE o.order_date >= {{ start }} AND o.order_date < {{ end }}
GROUP BY o.order_date
`;

const DATASET = `
  daily_orders:
    kind: model
    sql: models/daily_orders.sql
    partition: { column: day, grain: day }
    key: [day]
`;

const BACKFILL = ['backfill', 'daily_orders', '--from', '2026-01-03', '--to', '2026-01-05', '--reason', 'test', '--yes'];

describe.each(testEngines(inject('pgUrl')))('model batches with fewer statements ($kind)', (engine) => {
  let base: string;
  const { fresh, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await scaffoldShop('2026-01-01', '2026-01-10', { engine });
    appendFileSync(path.join(base, 'tidemark.yaml'), DATASET);
    writeModel(base, 'daily_orders', DAILY_ORDERS);
    cliJson(base, ['ingest', 'orders', ...dataFiles(base, 'orders')]);
    cliJson(base, ['ingest', 'fx_rates', ...dataFiles(base, 'fx_rates')]);
    cliJson(base, ['run']);
  }, 300_000);
  afterAll(removeAll);

  const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('error:')) ?? '';

  it('a repeated key of a model keyed by its partition column alone is refused, naming the partition and the key', async () => {
    const dir = fresh();
    const before = await snapshotState(dir);
    writeModel(dir, 'daily_orders', `${DAILY_ORDERS.trim()}\nUNION ALL SELECT {{ start }} AS day, CAST(0 AS BIGINT) AS orders WHERE {{ start }} = DATE '2026-01-04'\n`);
    const r = cli(dir, BACKFILL);
    expect(r.code).toBe(4);
    expect(errorLine(r.stderr)).toMatch(/^error: daily_orders 2026-01-04: duplicate key day: \(day=2026-01-04\) ×2/);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('rows with a NULL partition column are refused, and so is the repeated NULL key they make', async () => {
    const dir = fresh();
    const before = await snapshotState(dir);
    writeModel(dir, 'daily_orders', `${DAILY_ORDERS.trim()}\nUNION ALL SELECT CAST(NULL AS DATE) AS day, CAST(0 AS BIGINT) AS orders FROM {{ ref('orders') }} o WHERE o.order_date = {{ start }} AND {{ start }} = DATE '2026-01-05'\n`);
    const error = await withWorkspace(dir, (ws) =>
      backfill(ws, { dataset: 'daily_orders', from: '2026-01-03', to: '2026-01-05' }, { reason: 'test' }).then(
        () => null,
        (e: unknown) => e as TidemarkError,
      ),
    );
    expect(error?.code).toBe('VALIDATION');
    const problems = error!.details.problems as { partition: string; code: string; message: string }[];
    expect(problems.map((p) => `${p.partition} ${p.code}`).sort()).toEqual(['2026-01-05 DUPLICATE_KEY', '2026-01-05 NULL_PARTITION']);
    expect(problems.find((p) => p.code === 'NULL_PARTITION')!.message).toMatch(/^\d+ row\(s\) have NULL day$/);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('rows outside the window are still refused with their range', async () => {
    const dir = fresh();
    const before = await snapshotState(dir);
    writeModel(dir, 'daily_orders', DAILY_ORDERS.replace('GROUP BY o.order_date', "GROUP BY o.order_date UNION ALL SELECT DATE '2026-01-09', 1 WHERE {{ start }} = DATE '2026-01-03'"));
    const r = cli(dir, BACKFILL);
    expect(r.code).toBe(4);
    expect(errorLine(r.stderr)).toBe('error: daily_orders 2026-01-03: 1 row(s) fall outside the partition window: day ranges 2026-01-09 .. 2026-01-09');
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('a downstream backfill publishes what dependents read from the run, and leaves no staging behind', async () => {
    const dir = fresh();
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, ['2026-01-03'])]);
    const result = cliJson(dir, ['backfill', 'daily_revenue', '--from', '2026-01-03', '--to', '2026-01-03', '--downstream', '--reason', 'test', '--yes', '--json']);
    // revenue_7d and monthly_revenue read daily_revenue through the run's view: had they read the
    // live table, their content would not have changed and they would not be published.
    const datasets = new Set((result.published as { dataset: string }[]).map((p) => p.dataset));
    expect([...datasets].sort()).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
    await withWorkspace(dir, async (ws) => {
      const { engine } = ws;
      const left = await engine.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [engine.stagingSchema]);
      expect(left).toEqual([]);
    });
  });

  it('columns() of a missing table inside a transaction is null, and the transaction still commits', async () => {
    const dir = fresh();
    await withWorkspace(dir, async (ws) => {
      const { engine } = ws;
      const marker = `${engine.dialect.table(engine.stagingSchema, 'columns_probe')}`;
      await engine.transaction(async (tx) => {
        await tx.exec(`CREATE TABLE ${marker} (a INTEGER)`);
        expect(await engine.columns(engine.stagingSchema, 'no_such_table', tx)).toBeNull();
        expect(await engine.columns('no_such_schema', 'no_such_table', tx)).toBeNull();
        await tx.exec(`INSERT INTO ${marker} VALUES (1)`);
      });
      expect(await engine.columns(engine.stagingSchema, 'columns_probe')).toEqual([{ name: 'a', type: 'INTEGER' }]);
      expect(await engine.query(`SELECT a FROM ${marker}`)).toEqual([{ a: 1 }]);
      await engine.exec(`DROP TABLE ${marker}`);
    });
  });
});

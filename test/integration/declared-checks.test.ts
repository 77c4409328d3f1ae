// Declared checks (`datasets.X.checks`: not_null, unique, accepted_values, row_count, sql) and the
// shrink guard (`guards.max_shrink`, `--allow-shrink`) run on the staged rows before publish: a
// failing one fails the command with exit 4, names the partition and the check, and leaves live data
// and state exactly as they were; a source's checks run on ingest the same way. DuckDB and PostgreSQL.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { builtShop, cli, cliJson, projectCopies, readModel, requireBuild, snapshotState, testEngines, writeModel, type PartitionJson } from '../helpers/project.js';

const SHOP_CHECKS = '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n';
const WEEK = ['--from', '2026-03-01', '--to', '2026-03-07'];
const BACKFILL = ['backfill', 'daily_revenue', ...WEEK, '--reason', 'test', '--yes'];
/** The one day each broken model below gets wrong. */
const BAD_DAY = '2026-03-03';

function setChecks(dir: string, checks: string): void {
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8');
  if (!yaml.includes(SHOP_CHECKS)) throw new Error('the shop example no longer declares the checks this test replaces');
  writeFileSync(file, yaml.replace(SHOP_CHECKS, `    checks: ${checks}\n`));
}

/** The daily_revenue model with `column`'s expression replaced on BAD_DAY only. */
function breakOnBadDay(sql: string, column: 'currency' | 'revenue_cents', expression: string): string {
  const original = column === 'currency' ? 'o.currency AS currency' : 'CAST(SUM(o.amount_cents) AS BIGINT) AS revenue_cents';
  if (!sql.includes(original)) throw new Error(`the shop model no longer computes ${column} as ${original}`);
  return sql.replace(original, `CASE WHEN o.order_date = DATE '${BAD_DAY}' THEN ${expression} ELSE ${original.replace(/ AS \w+$/, '')} END AS ${column}`);
}

describe.each(testEngines(inject('pgUrl')))('on $kind', (engine) => {
  let base: string;
  let model: string;
  const { fresh, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
    model = readModel(base, 'daily_revenue');
  }, 300_000);
  afterAll(removeAll);

  /** Backfills the week with `checks` and a model, expecting a refusal that names BAD_DAY and `message`; nothing may change. */
  async function expectRefused(checks: string, sql: string, message: RegExp): Promise<void> {
    const dir = fresh();
    setChecks(dir, checks);
    writeModel(dir, 'daily_revenue', sql);
    const before = await snapshotState(dir);
    const r = cli(dir, BACKFILL);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`daily_revenue ${BAD_DAY}: ${message.source}`));
    expect(r.stderr).toContain('nothing was published');
    expect(await snapshotState(dir)).toEqual(before);
  }

  it('not_null refuses a NULL in the named column', async () => {
    const sql = breakOnBadDay(model, 'revenue_cents', 'NULL');
    await expectRefused('[{ not_null: [day, revenue_cents] }]', sql, /check not_null\(revenue_cents\) failed: \d+ NULL value\(s\)/);
  });

  it('accepted_values refuses a value outside the list, showing one', async () => {
    const sql = breakOnBadDay(model, 'currency', 'lower(o.currency)');
    await expectRefused("[{ accepted_values: { column: currency, values: [USD, EUR, GBP] } }]", sql, /check accepted_values\(currency\) failed: 3 row\(s\) such as '(eur|gbp|usd)'/);
  });

  it('unique refuses repeated values of the named columns', async () => {
    // The bad day's three rows (one per currency) get the same order count: (day, orders) repeats.
    const sql = model.replace('CAST(COUNT(*) AS BIGINT) AS orders', `CASE WHEN o.order_date = DATE '${BAD_DAY}' THEN 7 ELSE CAST(COUNT(*) AS BIGINT) END AS orders`);
    await expectRefused('[{ unique: [day, orders] }]', sql, /check unique\(day, orders\) failed: 1 duplicated value\(s\)/);
  });

  it('row_count refuses a partition with too many rows', async () => {
    const sql = model.replace('GROUP BY o.order_date, o.currency', `GROUP BY o.order_date, o.currency\nUNION ALL\nSELECT DATE '${BAD_DAY}', 'XXX', 0, 0, 0 WHERE DATE '${BAD_DAY}' >= {{ start }} AND DATE '${BAD_DAY}' < {{ end }}`);
    await expectRefused('[{ row_count: { min: 1, max: 3 } }]', sql, /check row_count failed: 4 row\(s\), expected at most 3/);
  });

  it('a custom sql check (its own alias for {{ this }}) refuses when its query returns rows', async () => {
    const sql = breakOnBadDay(model, 'revenue_cents', '-1');
    await expectRefused('[{ sql: "SELECT d.* FROM {{ this }} AS d WHERE d.revenue_cents < 0", name: no_negative_revenue }]', sql, /check no_negative_revenue failed: returned 3\+ row\(s\), e\.g\. \{"day":"2026-03-03","currency":"[A-Z]{3}","orders":\d+,"revenue_cents":-1,"revenue_usd_cents":\d+\}/);
  });

  it('passing checks publish the backfill', () => {
    const dir = fresh();
    setChecks(dir, "[{ not_null: [day, currency, revenue_cents] }, { accepted_values: { column: currency, values: [USD, EUR, GBP] } }, { row_count: { min: 1, max: 3 } }, { sql: 'SELECT * FROM {{ this }} WHERE revenue_cents < 0' }]");
    writeModel(dir, 'daily_revenue', model.replace('CAST(SUM(o.amount_cents) AS BIGINT) AS revenue_cents', 'CAST(SUM(o.amount_cents) AS BIGINT) + 1 AS revenue_cents'));
    const result = cliJson(dir, BACKFILL);
    expect(result.status).toBe('published');
    expect(result.published.map((p: { partition: string }) => p.partition).sort()).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07']);
  });

  describe('the shrink guard', () => {
    // The bad day keeps one currency of three: 3 rows → 1, a 67% shrink, beyond the default 50%.
    const shrinking = () => model.replace("WHERE o.status = 'paid'", `WHERE o.status = 'paid'\n  AND (o.order_date <> DATE '${BAD_DAY}' OR o.currency = 'USD')`);

    it('refuses a partition that shrinks beyond guards.max_shrink, naming it', async () => {
      const dir = fresh();
      writeModel(dir, 'daily_revenue', shrinking());
      const before = await snapshotState(dir);
      const r = cli(dir, BACKFILL);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(`daily_revenue ${BAD_DAY}: the result shrinks the partition from 3 to 1 rows, more than guards.max_shrink (50%)`);
      expect(r.stderr).toContain('--allow-shrink');
      expect(await snapshotState(dir)).toEqual(before);
    });

    it('--allow-shrink publishes it, and only the bad day changes', () => {
      const dir = fresh();
      const partitions = () => new Map(cliJson<PartitionJson[]>(dir, ['partitions', 'daily_revenue']).map((p) => [p.partition, p]));
      const before = partitions();
      writeModel(dir, 'daily_revenue', shrinking());
      const result = cliJson(dir, [...BACKFILL, '--allow-shrink']);
      expect(result.published.map((p: { partition: string }) => p.partition)).toEqual([BAD_DAY]);
      const after = partitions();
      expect(after.get(BAD_DAY)?.rows).toBe(1);
      for (const [key, p] of before) if (key !== BAD_DAY) expect(after.get(key)).toEqual(p);
    });

    it('a looser guards.max_shrink lets the same shrink through', () => {
      const dir = fresh();
      const file = path.join(dir, 'tidemark.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('guards: { max_backfill_partitions: 90 }', 'guards: { max_backfill_partitions: 90, max_shrink: 0.7 }'));
      writeModel(dir, 'daily_revenue', shrinking());
      expect(cliJson(dir, BACKFILL).status).toBe('published');
    });
  });

  it("a source's checks refuse a file on ingest, and nothing of it is loaded", async () => {
    const dir = fresh();
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8');
    const key = '    key: [order_id]\n';
    writeFileSync(file, yaml.replace(key, `${key}    checks: [{ accepted_values: { column: status, values: [paid, pending, refunded] } }]\n`));
    const orders = path.join(dir, 'data', 'orders', `orders-${BAD_DAY}.csv`);
    const csv = readFileSync(orders, 'utf8').split('\n');
    csv[1] = csv[1].replace(/,(paid|pending|refunded),/, ',lost,');
    writeFileSync(orders, csv.join('\n'));
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', orders]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`orders ${BAD_DAY}: check accepted_values(status) failed: 1 row(s) such as 'lost'`);
    expect(await snapshotState(dir)).toEqual(before);
  });
});

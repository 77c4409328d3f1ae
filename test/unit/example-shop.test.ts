import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SHOP_DAYS,
  SHOP_FIRST_DAY,
  generateFxCsv,
  generateOrdersCsv,
  scaffoldShopExample,
  shopExampleCollisions,
} from '../../src/example/shop.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'shop');

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

interface Order {
  order_id: string;
  customer_id: string;
  amount_cents: string;
  currency: string;
  status: string;
  order_date: string;
}

function parseOrders(csv: string): Order[] {
  const [header, ...lines] = csv.trimEnd().split('\n');
  expect(header).toBe('order_id,customer_id,amount_cents,currency,status,order_date');
  return lines.map((line) => {
    const [order_id, customer_id, amount_cents, currency, status, order_date] = line.split(',');
    return { order_id, customer_id, amount_cents, currency, status, order_date };
  });
}

const LAST_DAY = addDays(SHOP_FIRST_DAY, SHOP_DAYS - 1);

describe('shop example: generated data', () => {
  it('covers 2026-01-01..2026-04-30', () => {
    expect(SHOP_FIRST_DAY).toBe('2026-01-01');
    expect(SHOP_DAYS).toBe(120);
    expect(LAST_DAY).toBe('2026-04-30');
  });

  it('is deterministic', () => {
    for (const day of ['2026-01-01', '2026-02-14', LAST_DAY]) {
      expect(generateOrdersCsv(day)).toBe(generateOrdersCsv(day));
      expect(generateOrdersCsv(day, { fix: true })).toBe(generateOrdersCsv(day, { fix: true }));
      expect(generateFxCsv(day)).toBe(generateFxCsv(day));
    }
    expect(generateOrdersCsv('2026-01-01')).not.toBe(generateOrdersCsv('2026-01-02'));
  });

  it('has about 2,000 well-formed orders a day', () => {
    const counts: number[] = [];
    for (let i = 0; i < SHOP_DAYS; i++) {
      const day = addDays(SHOP_FIRST_DAY, i);
      const rows = parseOrders(generateOrdersCsv(day));
      counts.push(rows.length);
      expect(rows.length).toBeGreaterThanOrEqual(1_700);
      expect(rows.length).toBeLessThanOrEqual(2_300);
      if (i % 30 === 0) {
        const bad = rows.filter(
          (r) =>
            !/^[1-9]\d*$/.test(r.order_id) ||
            !/^[1-9]\d*$/.test(r.customer_id) ||
            !/^\d+$/.test(r.amount_cents) ||
            Number(r.amount_cents) < 199 ||
            !['USD', 'EUR', 'GBP'].includes(r.currency) ||
            !['paid', 'refunded', 'pending'].includes(r.status) ||
            r.order_date !== day,
        );
        expect(bad).toEqual([]);
        const share = (c: string) => rows.filter((r) => r.currency === c).length / rows.length;
        expect(share('USD')).toBeGreaterThan(0.5);
        expect(share('EUR')).toBeGreaterThan(0.15);
        expect(share('GBP')).toBeGreaterThan(0.08);
        expect(rows.filter((r) => r.status === 'paid').length / rows.length).toBeGreaterThan(0.8);
      }
    }
    // Counts vary from day to day.
    expect(new Set(counts).size).toBeGreaterThan(20);
  });

  it('gives order_ids that are unique within and across days', () => {
    const ids = new Set<string>();
    let total = 0;
    for (const day of ['2026-03-06', '2026-03-07']) {
      for (const r of parseOrders(generateOrdersCsv(day))) {
        ids.add(r.order_id);
        total++;
      }
    }
    expect(ids.size).toBe(total);
  });

  it('fix variant keeps the same orders and changes only amount_cents of some rows', () => {
    const day = LAST_DAY;
    const before = parseOrders(generateOrdersCsv(day));
    const after = parseOrders(generateOrdersCsv(day, { fix: true }));
    expect(after.map((r) => r.order_id)).toEqual(before.map((r) => r.order_id));
    let changed = 0;
    for (let i = 0; i < before.length; i++) {
      const b = before[i];
      const a = after[i];
      expect({ ...a, amount_cents: '' }).toEqual({ ...b, amount_cents: '' });
      if (a.amount_cents !== b.amount_cents) {
        changed++;
        expect(a.currency).toBe('EUR');
        expect(Number(a.amount_cents)).toBeLessThan(Number(b.amount_cents));
      }
    }
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(before.length);
  });

  it('has one FX rate per currency per day, USD = 1', () => {
    const csv = generateFxCsv('2026-03-07');
    const [header, ...rows] = csv.trimEnd().split('\n');
    expect(header).toBe('rate_date,currency,usd_per_unit');
    const rates = Object.fromEntries(rows.map((r) => r.split(',')).map(([d, c, v]) => [c, { d, v: Number(v) }]));
    expect(Object.keys(rates).sort()).toEqual(['EUR', 'GBP', 'USD']);
    expect(rates.USD.v).toBe(1);
    expect(rates.EUR.v).toBeGreaterThan(1);
    expect(rates.GBP.v).toBeGreaterThan(rates.EUR.v);
    for (const r of Object.values(rates)) expect(r.d).toBe('2026-03-07');
    expect(generateFxCsv('2026-03-08')).not.toBe(csv);
  });

  it('rejects malformed days', () => {
    expect(() => generateOrdersCsv('2026-02-30')).toThrow(/invalid day/);
    expect(() => generateFxCsv('20260301')).toThrow(/invalid day/);
  });
});

describe('shop example: scaffold', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-shop-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes the project, models, README and all data files', async () => {
    const dir = path.join(tmp, 'demo');
    const t0 = performance.now();
    await scaffoldShopExample(dir);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(5_000); // typically a few hundred ms

    expect((await readdir(dir)).sort()).toEqual(['README.md', 'data', 'models', 'tidemark.yaml']);
    expect(await readFile(path.join(dir, 'tidemark.yaml'), 'utf8')).toBe(await readFile(path.join(EXAMPLE, 'tidemark.yaml'), 'utf8'));
    expect((await readdir(path.join(dir, 'models'))).sort()).toEqual(['daily_revenue.sql', 'monthly_revenue.sql', 'revenue_7d.sql']);

    const orders = (await readdir(path.join(dir, 'data', 'orders'))).sort();
    const fx = (await readdir(path.join(dir, 'data', 'fx_rates'))).sort();
    const fixes = (await readdir(path.join(dir, 'data', 'fixes'))).sort();
    expect(orders).toHaveLength(120);
    expect(fx).toHaveLength(120);
    expect(fixes).toHaveLength(7);
    expect(orders[0]).toBe('orders-2026-01-01.csv');
    expect(orders[119]).toBe('orders-2026-04-30.csv');
    expect(fx[0]).toBe('fx-2026-01-01.csv');
    expect(fx[119]).toBe('fx-2026-04-30.csv');
    expect(fixes).toEqual(Array.from({ length: 7 }, (_, i) => `orders-${addDays('2026-04-24', i)}.csv`));

    expect(await readFile(path.join(dir, 'data', 'orders', 'orders-2026-02-01.csv'), 'utf8')).toBe(generateOrdersCsv('2026-02-01'));
    expect(await readFile(path.join(dir, 'data', 'fixes', 'orders-2026-04-30.csv'), 'utf8')).toBe(
      generateOrdersCsv('2026-04-30', { fix: true }),
    );
    const readme = await readFile(path.join(dir, 'README.md'), 'utf8');
    expect(readme).toContain('tidemark ingest orders data/orders/*.csv');
    expect(readme).toContain('tidemark ingest fx_rates data/fx_rates/*.csv');
    expect(readme).toContain('tidemark run');
    expect(readme).toContain('tidemark plan daily_revenue --from 2026-04-24 --to 2026-04-30 --downstream');
  });

  it('scaffolds into an existing empty directory', async () => {
    const dir = await mkdtemp(path.join(tmp, 'empty-'));
    await scaffoldShopExample(dir);
    expect((await readdir(dir)).sort()).toEqual(['README.md', 'data', 'models', 'tidemark.yaml']);
  });

  it('refuses a directory that already holds a project, and changes nothing', async () => {
    const dir = await mkdtemp(path.join(tmp, 'existing-'));
    await writeFile(path.join(dir, 'tidemark.yaml'), 'name: mine\n');
    await expect(scaffoldShopExample(dir)).rejects.toThrow(/already has tidemark\.yaml: init would overwrite it/);
    expect(await readdir(dir)).toEqual(['tidemark.yaml']);
    expect(await readFile(path.join(dir, 'tidemark.yaml'), 'utf8')).toBe('name: mine\n');
  });

  it('refuses a directory holding any file it would write, but not unrelated ones', async () => {
    const dir = await mkdtemp(path.join(tmp, 'notes-'));
    await writeFile(path.join(dir, 'README.md'), 'my notes\n');
    await writeFile(path.join(dir, '.gitignore'), 'x\n');
    expect(shopExampleCollisions(dir)).toEqual(['README.md']);
    await expect(scaffoldShopExample(dir)).rejects.toThrow(/already has README\.md/);
    expect((await readdir(dir)).sort()).toEqual(['.gitignore', 'README.md']);
    expect(await readFile(path.join(dir, 'README.md'), 'utf8')).toBe('my notes\n');
    const empty = await mkdtemp(path.join(tmp, 'git-'));
    await writeFile(path.join(empty, '.gitignore'), 'x\n');
    expect(shopExampleCollisions(empty)).toEqual([]);
  });
});

describe('shop example: tidemark.yaml', () => {
  it('has the documented shape', async () => {
    const config = parseYaml(await readFile(path.join(EXAMPLE, 'tidemark.yaml'), 'utf8'));
    expect(config).toEqual({
      name: 'shop',
      engine: { kind: 'duckdb' },
      guards: { max_backfill_partitions: 90 },
      pools: {
        production: { slots: 2, priority: 10 },
        backfill: { slots: 1, priority: 1, threads: 1 },
      },
      datasets: {
        orders: {
          kind: 'source',
          partition: { column: 'order_date', grain: 'day' },
          key: ['order_id'],
          schema: {
            current: {
              order_id: 'BIGINT',
              customer_id: 'BIGINT',
              amount_cents: 'BIGINT',
              currency: 'VARCHAR',
              status: 'VARCHAR',
              order_date: 'DATE',
            },
          },
        },
        fx_rates: {
          kind: 'source',
          partition: { column: 'rate_date', grain: 'day' },
          key: ['rate_date', 'currency'],
          schema: { current: { rate_date: 'DATE', currency: 'VARCHAR', usd_per_unit: 'DOUBLE' } },
        },
        daily_revenue: {
          kind: 'model',
          sql: 'models/daily_revenue.sql',
          partition: { column: 'day', grain: 'day' },
          key: ['day', 'currency'],
          checks: [{ not_null: ['day', 'currency'] }, { row_count: { min: 1 } }],
        },
        revenue_7d: {
          kind: 'model',
          sql: 'models/revenue_7d.sql',
          partition: { column: 'day', grain: 'day' },
          key: ['day', 'currency'],
          depends_on: { daily_revenue: { lookback: 6 } },
        },
        monthly_revenue: {
          kind: 'model',
          sql: 'models/monthly_revenue.sql',
          partition: { column: 'month', grain: 'month' },
          key: ['month', 'currency'],
        },
      },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The model SQL, rendered the way the engine renders it, run for real on DuckDB.

type Row = Record<string, unknown>;

async function modelSql(name: string): Promise<string> {
  return readFile(path.join(EXAMPLE, 'models', `${name}.sql`), 'utf8');
}

function render(sql: string, start: string, end: string): string {
  return sql
    .replaceAll('{{ start }}', `DATE '${start}'`)
    .replaceAll('{{ end }}', `DATE '${end}'`)
    .replace(/\{\{ ref\('([a-z_][a-z0-9_]*)'\) \}\}/g, '"$1"');
}

describe('shop example: model SQL on DuckDB', () => {
  // Seven days of orders so a full 7-day window can be checked on its last day.
  const DAYS = Array.from({ length: 7 }, (_, i) => addDays('2026-01-02', i)); // 01-02 .. 01-08
  const LAST = DAYS[6];
  let tmp: string;
  let db: DuckDBInstance;
  let c: DuckDBConnection;

  const rows = async (sql: string): Promise<Row[]> => (await c.runAndReadAll(sql)).getRowObjectsJson() as Row[];
  const columns = async (sql: string): Promise<Array<[string, string]>> =>
    (await rows(`DESCRIBE ${sql}`)).map((r) => [String(r.column_name), String(r.column_type)]);
  const q = (p: string) => `'${p.replaceAll("'", "''")}'`;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-shop-sql-'));
    const orderFiles: string[] = [];
    const fxFiles: string[] = [];
    for (const day of DAYS) {
      const o = path.join(tmp, `orders-${day}.csv`);
      const f = path.join(tmp, `fx-${day}.csv`);
      await writeFile(o, generateOrdersCsv(day));
      await writeFile(f, generateFxCsv(day));
      orderFiles.push(o);
      fxFiles.push(f);
    }
    db = await DuckDBInstance.create(':memory:');
    c = await db.connect();
    await c.run(
      `CREATE TABLE orders AS SELECT * FROM read_csv([${orderFiles.map(q).join(', ')}], header = true, columns = {
         'order_id': 'BIGINT', 'customer_id': 'BIGINT', 'amount_cents': 'BIGINT',
         'currency': 'VARCHAR', 'status': 'VARCHAR', 'order_date': 'DATE'})`,
    );
    await c.run(
      `CREATE TABLE fx_rates AS SELECT * FROM read_csv([${fxFiles.map(q).join(', ')}], header = true, columns = {
         'rate_date': 'DATE', 'currency': 'VARCHAR', 'usd_per_unit': 'DOUBLE'})`,
    );
    // Build daily_revenue one partition at a time, exactly like the engine would.
    const daily = await modelSql('daily_revenue');
    await c.run(`CREATE TABLE daily_revenue AS ${render(daily, DAYS[0], addDays(DAYS[0], 1))}`);
    for (const day of DAYS.slice(1)) await c.run(`INSERT INTO daily_revenue ${render(daily, day, addDays(day, 1))}`);
  });
  afterAll(async () => {
    c?.closeSync();
    db?.closeSync();
    await rm(tmp, { recursive: true, force: true });
  });

  it('daily_revenue: one row per currency for the window, matching the raw orders', async () => {
    const sql = render(await modelSql('daily_revenue'), LAST, addDays(LAST, 1));
    expect(await columns(sql)).toEqual([
      ['day', 'DATE'],
      ['currency', 'VARCHAR'],
      ['orders', 'BIGINT'],
      ['revenue_cents', 'BIGINT'],
      ['revenue_usd_cents', 'BIGINT'],
    ]);
    const out = await rows(`SELECT * FROM (${sql}) t ORDER BY currency`);
    expect(out.map((r) => r.currency)).toEqual(['EUR', 'GBP', 'USD']);
    const raw = parseOrders(generateOrdersCsv(LAST)).filter((r) => r.status === 'paid');
    for (const r of out) {
      expect(r.day).toBe(LAST);
      const mine = raw.filter((o) => o.currency === r.currency);
      expect(Number(r.orders)).toBe(mine.length);
      expect(Number(r.revenue_cents)).toBe(mine.reduce((s, o) => s + Number(o.amount_cents), 0));
      expect(Number(r.revenue_usd_cents)).toBeGreaterThan(0);
    }
    const usd = out.find((r) => r.currency === 'USD')!;
    expect(usd.revenue_usd_cents).toBe(usd.revenue_cents);
    const eur = out.find((r) => r.currency === 'EUR')!;
    expect(Number(eur.revenue_usd_cents)).toBeGreaterThan(Number(eur.revenue_cents)); // EUR > 1 USD
    // Every partition built in beforeAll holds exactly its own day.
    expect(await rows(`SELECT day, count(*) AS n FROM daily_revenue GROUP BY day ORDER BY day`)).toEqual(
      DAYS.map((day) => ({ day, n: '3' })),
    );
  });

  it('daily_revenue changes (EUR only) when the fix is loaded', async () => {
    const sql = render(await modelSql('daily_revenue'), LAST, addDays(LAST, 1));
    const before = await rows(`SELECT * FROM (${sql}) t ORDER BY currency`);
    const fixFile = path.join(tmp, `fix-${LAST}.csv`);
    await writeFile(fixFile, generateOrdersCsv(LAST, { fix: true }));
    await c.run('BEGIN');
    try {
      await c.run(`DELETE FROM orders WHERE order_date = DATE '${LAST}'`);
      await c.run(`INSERT INTO orders SELECT * FROM read_csv(${q(fixFile)}, header = true, columns = {
         'order_id': 'BIGINT', 'customer_id': 'BIGINT', 'amount_cents': 'BIGINT',
         'currency': 'VARCHAR', 'status': 'VARCHAR', 'order_date': 'DATE'})`);
      const after = await rows(`SELECT * FROM (${sql}) t ORDER BY currency`);
      expect(after.map((r) => r.currency)).toEqual(['EUR', 'GBP', 'USD']);
      for (let i = 0; i < 3; i++) {
        if (after[i].currency === 'EUR') {
          expect(Number(after[i].revenue_cents)).toBeLessThan(Number(before[i].revenue_cents));
          expect(after[i].orders).toBe(before[i].orders);
        } else {
          expect(after[i]).toEqual(before[i]);
        }
      }
    } finally {
      await c.run('ROLLBACK');
    }
  });

  it('revenue_7d: sums days d-6..d per currency, keyed by d', async () => {
    const sql = render(await modelSql('revenue_7d'), LAST, addDays(LAST, 1));
    expect(await columns(sql)).toEqual([
      ['day', 'DATE'],
      ['currency', 'VARCHAR'],
      ['orders_7d', 'BIGINT'],
      ['revenue_usd_cents_7d', 'BIGINT'],
    ]);
    const out = await rows(`SELECT * FROM (${sql}) t ORDER BY currency`);
    expect(out.map((r) => r.currency)).toEqual(['EUR', 'GBP', 'USD']);
    const daily = await rows(`SELECT * FROM daily_revenue`);
    for (const r of out) {
      expect(r.day).toBe(LAST);
      const mine = daily.filter((d) => d.currency === r.currency);
      expect(mine).toHaveLength(7);
      expect(Number(r.orders_7d)).toBe(mine.reduce((s, d) => s + Number(d.orders), 0));
      expect(Number(r.revenue_usd_cents_7d)).toBe(mine.reduce((s, d) => s + Number(d.revenue_usd_cents), 0));
      const today = mine.find((d) => d.day === LAST)!;
      expect(Number(r.revenue_usd_cents_7d)).toBeGreaterThanOrEqual(Number(today.revenue_usd_cents));
      expect(Number(r.revenue_usd_cents_7d)).toBeGreaterThan(0);
    }
    // A day whose window only partly overlaps the data: just days 01-02..01-04.
    const early = await rows(`SELECT * FROM (${render(await modelSql('revenue_7d'), '2026-01-04', '2026-01-05')}) t ORDER BY currency`);
    const usdDays = daily.filter((d) => d.currency === 'USD' && String(d.day) <= '2026-01-04');
    expect(usdDays).toHaveLength(3);
    expect(Number(early.find((r) => r.currency === 'USD')!.orders_7d)).toBe(usdDays.reduce((s, d) => s + Number(d.orders), 0));
    expect(early.every((r) => r.day === '2026-01-04')).toBe(true);
  });

  it('monthly_revenue: one row per currency keyed by the first day of the month', async () => {
    const sql = render(await modelSql('monthly_revenue'), '2026-01-01', '2026-02-01');
    expect(await columns(sql)).toEqual([
      ['month', 'DATE'],
      ['currency', 'VARCHAR'],
      ['orders', 'BIGINT'],
      ['revenue_usd_cents', 'BIGINT'],
    ]);
    const out = await rows(`SELECT * FROM (${sql}) t ORDER BY currency`);
    expect(out.map((r) => r.currency)).toEqual(['EUR', 'GBP', 'USD']);
    const daily = await rows(`SELECT * FROM daily_revenue`);
    for (const r of out) {
      expect(r.month).toBe('2026-01-01');
      const mine = daily.filter((d) => d.currency === r.currency);
      expect(Number(r.orders)).toBe(mine.reduce((s, d) => s + Number(d.orders), 0));
      expect(Number(r.revenue_usd_cents)).toBe(mine.reduce((s, d) => s + Number(d.revenue_usd_cents), 0));
    }
    // Another month's window sees none of January.
    expect(await rows(render(await modelSql('monthly_revenue'), '2026-02-01', '2026-03-01'))).toEqual([]);
  });

  it('uses only SQL that PostgreSQL also accepts', async () => {
    for (const name of ['daily_revenue', 'revenue_7d', 'monthly_revenue']) {
      const sql = (await modelSql(name)).replace(/--[^\n]*/g, '');
      expect(sql).toMatch(/^\s*SELECT\b/);
      expect(sql).not.toMatch(/GROUP BY ALL|ORDER BY ALL|QUALIFY|::|\bEXCLUDE\b|\bREPLACE\s*\(|"|;/i);
      expect(sql).toContain('{{ start }}');
      expect(sql).toContain('{{ end }}');
    }
  });
});

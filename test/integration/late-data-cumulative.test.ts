// Late data under a cumulative model (depends_on_past): partition d reads its own d-1, so a change at
// day d must rebuild d, d+1, … up to the last partition, in order, and nothing before d. The result must
// equal a from-scratch computation (a running sum over daily_revenue, by currency).
//
// Driven through the real CLI (bin/tidemark.js runs dist/: `npm test` builds first).
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUMULATIVE_YAML, SELF_READING_SQL } from './cumulative-fixture.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tidemark.js');
const exec = promisify(execFile);

const DAYS = 30; // 2026-01-01 .. 2026-01-30
const LAST_DAY = '2026-01-30';

async function cli<T = any>(dir: string, ...args: string[]): Promise<T> {
  const { stdout } = await exec(process.execPath, [BIN, ...args, '--json'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

function daysFrom(first: string, last: string): string[] {
  const out: string[] = [];
  for (let d = first; d <= last; d = addDays(d, 1)) out.push(d);
  return out;
}

/** Extra paid orders for one day, with ids far above the generated ones; `batch` keeps files' ids apart. */
function lateOrdersCsv(day: string, batch: number): string {
  const dayNum = Date.parse(`${day}T00:00:00Z`) / 86_400_000;
  const lines = ['order_id,customer_id,amount_cents,currency,status,order_date'];
  for (let n = 0; n < 40; n++) lines.push(`${dayNum * 100_000 + 50_000 + batch * 1_000 + n},${700 + n},${2_000 + n * 53},${['USD', 'EUR', 'GBP'][n % 3]},paid,${day}`);
  return `${lines.join('\n')}\n`;
}

/** From scratch: a running sum over the (already verified) daily totals. */
const ORACLE = `SELECT day, currency, CAST(SUM(revenue_usd_cents) OVER (PARTITION BY currency ORDER BY day) AS BIGINT) AS cum_revenue_usd_cents
FROM daily_revenue ORDER BY day, currency`;

interface Published {
  dataset: string;
  partition: string;
  version_before: number | null;
  version_after: number;
}
interface RunJson {
  status: string;
  published: Published[];
}

function byDataset(published: Published[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of published) (out[p.dataset] ??= []).push(p.partition);
  for (const k of Object.keys(out)) out[k].sort();
  return out;
}

describe('late data under a cumulative (depends_on_past) model', () => {
  let tmp: string;
  let dir: string;
  const orderFiles = daysFrom('2026-01-01', LAST_DAY).map((d) => `data/orders/orders-${d}.csv`);
  const fxFiles = daysFrom('2026-01-01', LAST_DAY).map((d) => `data/fx_rates/fx-${d}.csv`);
  const cumulative = () => cli<unknown[]>(dir, 'query', 'SELECT * FROM cumulative_revenue ORDER BY day, currency');

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-cumulative-'));
    dir = path.join(tmp, 'shop');
    await exec(process.execPath, [BIN, 'init', dir]);
    await appendFile(path.join(dir, 'tidemark.yaml'), CUMULATIVE_YAML);
    await writeFile(path.join(dir, 'models', 'cumulative_revenue.sql'), SELF_READING_SQL);
    expect(orderFiles).toHaveLength(DAYS);
    await cli(dir, 'ingest', 'orders', ...orderFiles);
    await cli(dir, 'ingest', 'fx_rates', ...fxFiles);
    const first = await cli<RunJson>(dir, 'run');
    expect(byDataset(first.published).cumulative_revenue).toEqual(daysFrom('2026-01-01', LAST_DAY));
  });

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('builds its first partitions from its own (empty) past and equals the from-scratch running sum', async () => {
    expect(await cumulative()).toEqual(await cli(dir, 'query', ORACLE));
    expect((await cli<RunJson>(dir, 'run')).status).toBe('noop');
  });

  it('a late file at d rebuilds cumulative d..last (and daily d, rolling d..d+6, month(d)), nothing before d', async () => {
    const d = '2026-01-10';
    const before = await cumulative();
    await writeFile(path.join(dir, `data/orders/late-${d}.csv`), lateOrdersCsv(d, 1));
    await cli(dir, 'ingest', 'orders', `data/orders/late-${d}.csv`);
    const result = await cli<RunJson>(dir, 'run');
    expect(byDataset(result.published)).toEqual({
      daily_revenue: [d],
      revenue_7d: daysFrom(d, addDays(d, 6)),
      monthly_revenue: ['2026-01-01'],
      cumulative_revenue: daysFrom(d, LAST_DAY),
    });
    const after = await cumulative();
    expect(after).toEqual(await cli(dir, 'query', ORACLE));
    // Days before d are byte-for-byte what they were; every day from d on moved.
    const day = (r: any) => String(r.day);
    expect(after.filter((r) => day(r) < d)).toEqual(before.filter((r) => day(r) < d));
    expect(after.filter((r) => day(r) >= d)).not.toEqual(before.filter((r) => day(r) >= d));
  });

  it('late files for two days in one ingest rebuild from the earlier one onwards, once each', async () => {
    const [early, later] = ['2026-01-05', '2026-01-20'];
    for (const d of [early, later]) await writeFile(path.join(dir, `data/orders/late-${d}.csv`), lateOrdersCsv(d, 2));
    const ingested = await cli<RunJson>(dir, 'ingest', 'orders', `data/orders/late-${later}.csv`, `data/orders/late-${early}.csv`);
    expect(byDataset(ingested.published)).toEqual({ orders: [early, later] });
    const result = await cli<RunJson>(dir, 'run');
    expect(byDataset(result.published)).toEqual({
      daily_revenue: [early, later],
      revenue_7d: [...daysFrom(early, addDays(early, 6)), ...daysFrom(later, addDays(later, 6))],
      monthly_revenue: ['2026-01-01'],
      cumulative_revenue: daysFrom(early, LAST_DAY),
    });
    expect(await cumulative()).toEqual(await cli(dir, 'query', ORACLE));
  });

  it('a run with nothing changed reports nothing to do', async () => {
    const noop = await cli<RunJson>(dir, 'run');
    expect(noop.status).toBe('noop');
    expect(noop.published).toEqual([]);
    const parts = await cli<{ state: string }[]>(dir, 'partitions', 'cumulative_revenue');
    expect(new Set(parts.map((p) => p.state))).toEqual(new Set(['published']));
  });
});

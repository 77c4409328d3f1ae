// Failure mode 5: late data for an old day arrives after the aggregates were published.
//
// The shop example is scaffolded into a temp folder and driven through the real CLI (bin/tidemark.js,
// which runs dist/: `npm test` builds first), on DuckDB and on PostgreSQL (issue 8). One late file
// for day d must bump only orders d, and the next `run` must rebuild exactly daily_revenue d,
// revenue_7d d..d+6 and monthly_revenue month(d), with results equal to a project built from the
// same files in one go.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanup, cliJson, requireBuild, scaffoldShop, testEngines, type TestEngine } from '../helpers/project.js';

/** Runs the CLI in a project folder and parses its --json output. */
async function cli<T = any>(dir: string, ...args: string[]): Promise<T> {
  return cliJson<T>(dir, args);
}

const DAYS = 30; // 2026-01-01 .. 2026-01-30
const LATE_DAY = '2026-01-10';
const LATE_FILE = `data/orders/late-${LATE_DAY}.csv`;

function januaryDays(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `2026-01-${String(i + 1).padStart(2, '0')}`);
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** 50 extra paid orders for one day, with ids far above the generated ones (which stay below n = 3000). */
function lateOrdersCsv(day: string): string {
  const dayNum = Date.parse(`${day}T00:00:00Z`) / 86_400_000;
  const lines = ['order_id,customer_id,amount_cents,currency,status,order_date'];
  for (let n = 0; n < 50; n++) lines.push(`${dayNum * 100_000 + 90_001 + n},${500 + n},${1_000 + n * 37},${['USD', 'EUR', 'GBP'][n % 3]},paid,${day}`);
  return `${lines.join('\n')}\n`;
}

/** The shop with just the 30 January days of data, on `engine`. */
function scaffold(engine: TestEngine): Promise<string> {
  return scaffoldShop('2026-01-01', januaryDays(DAYS)[DAYS - 1], { engine });
}

const orderFiles = januaryDays(DAYS).map((d) => `data/orders/orders-${d}.csv`);
const fxFiles = januaryDays(DAYS).map((d) => `data/fx_rates/fx-${d}.csv`);

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
interface PartitionJson {
  partition: string;
  state: string;
  version: number;
  checksum: string;
  stale_reasons?: string[];
}

/** dataset → sorted partitions, from a run's `published` list. */
function byDataset(published: Published[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of published) (out[p.dataset] ??= []).push(p.partition);
  for (const k of Object.keys(out)) out[k].sort();
  return out;
}

const MODELS = ['daily_revenue', 'revenue_7d', 'monthly_revenue'];
const ORDER_BY: Record<string, string> = { daily_revenue: 'day, currency', revenue_7d: 'day, currency', monthly_revenue: 'month, currency' };

describe.each(testEngines(inject('pgUrl')))('late data: one late file for an old day ($kind)', (engine) => {
  const made: string[] = [];
  let live: string;
  let before: Record<string, PartitionJson[]>;
  let staleView: PartitionJson[];
  let ingestResult: RunJson;
  let rebuild: RunJson;

  beforeAll(async () => {
    requireBuild();
    live = await scaffold(engine);
    made.push(live);
    await cli(live, 'ingest', 'orders', ...orderFiles);
    await cli(live, 'ingest', 'fx_rates', ...fxFiles);
    const first = await cli<RunJson>(live, 'run');
    expect(first.status).toBe('published');
    before = {};
    for (const ds of ['orders', ...MODELS]) before[ds] = await cli<PartitionJson[]>(live, 'partitions', ds);

    await writeFile(path.join(live, LATE_FILE), lateOrdersCsv(LATE_DAY));
    ingestResult = await cli<RunJson>(live, 'ingest', 'orders', ...orderFiles, LATE_FILE);
    staleView = await cli<PartitionJson[]>(live, 'partitions', 'daily_revenue');
    rebuild = await cli<RunJson>(live, 'run');
  });

  afterAll(() => cleanup(...made, ...made.map((dir) => path.dirname(dir))));

  it('ingesting the late file bumps only orders d, from v1 to v2', () => {
    expect(ingestResult.published.map((p) => [p.dataset, p.partition, p.version_before, p.version_after])).toEqual([['orders', LATE_DAY, 1, 2]]);
  });

  it('between ingest and run, partitions shows daily_revenue d stale because orders d went v1 → v2, and nothing else stale', () => {
    const stale = staleView.filter((p) => p.state === 'stale');
    expect(stale.map((p) => p.partition)).toEqual([LATE_DAY]);
    expect(stale[0].stale_reasons).toEqual([`orders ${LATE_DAY} changed v1 → v2`]);
    expect(staleView.filter((p) => p.partition !== LATE_DAY).every((p) => p.state === 'published')).toBe(true);
  });

  it('run rebuilds exactly daily d, rolling d..d+6 and month(d), each by one version', () => {
    expect(rebuild.status).toBe('published');
    const rolling = Array.from({ length: 7 }, (_, i) => addDays(LATE_DAY, i));
    expect(byDataset(rebuild.published)).toEqual({
      daily_revenue: [LATE_DAY],
      revenue_7d: rolling,
      monthly_revenue: ['2026-01-01'],
    });
    for (const p of rebuild.published) expect(p.version_after).toBe((p.version_before ?? 0) + 1);
  });

  it('untouched partitions keep their versions and checksums', async () => {
    const touched = new Set(rebuild.published.map((p) => `${p.dataset}/${p.partition}`));
    touched.add(`orders/${LATE_DAY}`);
    for (const ds of ['orders', ...MODELS]) {
      const after = await cli<PartitionJson[]>(live, 'partitions', ds);
      expect(after.map((p) => p.partition)).toEqual(before[ds].map((p) => p.partition));
      for (const [i, p] of after.entries()) {
        const was = before[ds][i];
        if (touched.has(`${ds}/${p.partition}`)) expect(p.version, `${ds} ${p.partition}`).toBe(was.version + 1);
        else expect([p.version, p.checksum], `${ds} ${p.partition}`).toEqual([was.version, was.checksum]);
        expect(p.state).toBe('published');
      }
    }
  });

  it('aggregates equal a from-scratch build of the same files', async () => {
    const scratch = await scaffold(engine);
    made.push(scratch);
    await writeFile(path.join(scratch, LATE_FILE), lateOrdersCsv(LATE_DAY));
    await cli(scratch, 'ingest', 'orders', ...orderFiles, LATE_FILE);
    await cli(scratch, 'ingest', 'fx_rates', ...fxFiles);
    await cli(scratch, 'run');
    for (const ds of MODELS) {
      const sql = `SELECT * FROM ${ds} ORDER BY ${ORDER_BY[ds]}`;
      const [a, b] = [await cli<unknown[]>(live, 'query', sql), await cli<unknown[]>(scratch, 'query', sql)];
      expect(a.length, ds).toBeGreaterThan(0);
      expect(a, ds).toEqual(b);
    }
    // The late orders really are in the aggregate (a run that ignored them would still be self-consistent).
    const [day] = await cli<{ orders: number | string }[]>(live, 'query', `SELECT sum(orders) AS orders FROM daily_revenue WHERE day = DATE '${LATE_DAY}'`);
    const [raw] = await cli<{ orders: number | string }[]>(live, 'query', `SELECT count(*) AS orders FROM orders WHERE order_date = DATE '${LATE_DAY}' AND status = 'paid'`);
    expect(Number(day.orders)).toBe(Number(raw.orders));
  });

  it('re-ingesting the same files and running again does nothing', async () => {
    const again = await cli<RunJson>(live, 'ingest', 'orders', ...orderFiles, LATE_FILE);
    expect(again.published).toEqual([]);
    const noop = await cli<RunJson>(live, 'run');
    expect(noop.status).toBe('noop');
    expect(noop.published).toEqual([]);
    const dry = await cli<{ datasets: unknown[] }>(live, 'run', '--dry-run');
    expect(dry.datasets).toEqual([]);
  });
});

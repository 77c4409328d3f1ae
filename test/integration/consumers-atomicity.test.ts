// Issue 9, failure mode 10: consumers never read a half-finished backfill. While a 30-partition
// backfill runs through the library, a reader on a separate connection of the same database sums
// the metric across all partitions in a loop: it only ever sees the complete old total or the
// complete new total.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import { openWorkspace } from '../../src/workspace.js';
import { builtShop, cleanup, cliJson, days, REDUCED_FROM, REDUCED_TO, requireBuild, writeOrdersFix } from '../helpers/project.js';

const ALL_DAYS = days(REDUCED_FROM, REDUCED_TO);
const TOTAL = 'SELECT CAST(sum(revenue_usd_cents) AS VARCHAR) AS total, count(*) AS n FROM daily_revenue';
let dir: string;

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, ALL_DAYS)]);
}, 300_000);
afterAll(() => cleanup(dir));

it('a concurrent reader sees only the old total or the new total during a 30-partition backfill', async () => {
  expect(ALL_DAYS).toHaveLength(30);
  const ws = await openWorkspace(dir, { actor: 'test', command: 'test' });
  const reader = await ws.engine.connect();
  try {
    const read = async () => (await reader.query<{ total: string; n: number }>(TOTAL))[0];
    const old = await read();
    const seen: { total: string; n: number }[] = [];
    let done = false;
    const loop = (async () => {
      while (!done) seen.push(await read());
    })();
    const result = await backfill(ws, { dataset: 'daily_revenue', from: ALL_DAYS[0], to: ALL_DAYS[29], allowFullRefresh: true }, { reason: 'EUR amount fix, all days', maxParallel: 2 }).finally(() => {
      done = true;
    });
    await loop;
    const now = await read();

    expect(result.published.filter((p) => p.dataset === 'daily_revenue')).toHaveLength(30);
    expect(now.total).not.toBe(old.total);
    expect(seen.length).toBeGreaterThan(0);
    const states = new Set(seen.map((s) => (s.total === old.total && Number(s.n) === Number(old.n) ? 'old' : s.total === now.total && Number(s.n) === Number(now.n) ? 'new' : `mixed ${s.total}/${s.n}`)));
    expect([...states].filter((s) => s !== 'old' && s !== 'new')).toEqual([]);
  } finally {
    await reader.close();
    await ws.close();
  }
});

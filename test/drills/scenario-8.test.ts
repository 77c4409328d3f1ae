// Drill, scenario 8 ("downstream cache not invalidated after backfill"), replayed with the real CLI.
// After a backfill the dashboard cache was invalidated, so its next read of a day is a miss that it
// answers from the warehouse. The on-call engineer then runs `consumers verify RUN` to prove the
// dashboard shows the corrected numbers. On DuckDB the warehouse is one file that one process holds:
// verify used to ask the dashboard while it held the file, so every miss failed (the dashboard could
// not read) and a correctly invalidated cache was reported as "could not be verified" (exit 1).
// DuckDB only: PostgreSQL has no such lock, so the drill cannot fail there.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCacheServer, type CacheServer } from '../helpers/cache-server.js';
import { builtShop, cleanup, cliAsync, days, requireBuild, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const FIX_DAYS = days('2026-03-01', '2026-03-03');
const DAY_TOTAL = 'SELECT sum(revenue_usd_cents) AS v FROM daily_revenue WHERE day = CAST($1 AS DATE)';

let dir = '';
let cache: CacheServer | undefined;
afterAll(async () => {
  await cache?.close();
  if (dir) cleanup(dir);
});

/** The dashboard's read on a cache miss: the warehouse, opened in this process (refused while another process holds the file). */
const warehouseDay = (day: string) => withWorkspace(dir, async (ws) => Number((await ws.engine.query<{ v: unknown }>(DAY_TOTAL, [day]))[0]?.v ?? 0));

describe('drill 8: verifying a dashboard whose cache was invalidated', () => {
  it('consumers verify lets the dashboard read the warehouse for its misses and agrees with it', async () => {
    requireBuild();
    cache = await startCacheServer({ dataset: 'daily_revenue', read: warehouseDay });
    dir = await builtShop();
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [revenue_cache]\n');
    writeFileSync(file, `${yaml}\nconsumers:\n  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", verify: { http: "${cache.dashboardUrl}", field: value, warehouse: "${DAY_TOTAL}" } }\n`);

    for (const d of FIX_DAYS) await cache.value(d); // the dashboard shows the old numbers
    writeOrdersFix(dir, FIX_DAYS);
    expect((await cliAsync(dir, ['ingest', 'orders', ...FIX_DAYS.map((d) => `data/orders/orders-${d}.csv`)])).code).toBe(0);
    const backfill = await cliAsync(dir, ['backfill', 'daily_revenue', '--from', FIX_DAYS[0], '--to', FIX_DAYS[2], '--reason', 'INC-8 EUR fix', '--yes', '--json']);
    expect(backfill.code, backfill.stderr).toBe(0);
    const run = JSON.parse(backfill.stdout) as { run_id: string; published: unknown[] };
    expect(run.published.length).toBeGreaterThan(0);
    expect(cache.cachedDays()).toEqual([]); // invalidated: the next read of each day is a miss

    const verify = await cliAsync(dir, ['consumers', 'verify', run.run_id, '--json']);
    const report = JSON.parse(verify.stdout) as { checked: number; errors: { error: string }[]; mismatches: unknown[] };
    expect(report.errors.map((e) => e.error)).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBe(run.published.length);
    expect(verify.code, verify.stderr).toBe(0);
    expect(cache.cachedDays().length).toBe(run.published.length); // the dashboard read the corrected numbers
  });
});

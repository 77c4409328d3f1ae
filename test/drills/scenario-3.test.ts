/**
 * Drill of scenario 3 (a backfill with the wrong date range overwrites good recent data), replayed
 * as the on-call engineer did it: the bad backfill --downstream, then `restore --run` WITHOUT
 * --downstream (the dependents are named as stale), then the same restore re-issued WITH
 * --downstream, as the first one's note suggests. Before the fix that second command said "Nothing
 * to restore" and exited 0 while the rolling and monthly partitions stayed stale, built from the
 * bad run's rows. It must rebuild exactly those dependents, so that everything is back to its
 * pre-incident checksum, and a third identical command then has nothing left to do.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { builtShop, cleanup, cli, cliJson, partitionsByKey, readModel, requireBuild, SHOP_MODELS, testEngines, writeModel } from '../helpers/project.js';

const SLOW = { timeout: 120_000 };

describe.each(testEngines(inject('pgUrl')))('scenario 3 drill: restore re-issued with --downstream ($kind)', SLOW, (engine) => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
  }, 180_000);
  afterAll(() => dir && cleanup(dir, path.dirname(dir)));

  test('the second restore rebuilds the dependents the first one left stale', () => {
    const before = partitionsByKey(dir, SHOP_MODELS);
    const good = readModel(dir, 'daily_revenue');
    // The "history fix" (counts refunded orders) run over the wrong, recent range.
    writeModel(dir, 'daily_revenue', good.replace("WHERE o.status = 'paid'", "WHERE o.status IN ('paid', 'refunded')"));
    const bad = cliJson<{ run_id: string; published: unknown[] }>(dir, ['backfill', 'daily_revenue', '--from', '2026-04-10', '--to', '2026-04-16', '--downstream', '--reason', 'history fix, wrong range', '--yes']);
    expect(bad.published.length).toBe(7 + 13 + 1); // 7 days, 13 rolling, April
    writeModel(dir, 'daily_revenue', good);

    const first = cli(dir, ['restore', 'daily_revenue', '--run', bad.run_id, '--reason', 'undo the wrong range', '--yes']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('add --downstream');

    const second = cliJson<{ published: { dataset: string; partition: string }[] }>(dir, ['restore', 'daily_revenue', '--run', bad.run_id, '--downstream', '--reason', 'undo the wrong range, dependents too', '--yes']);
    expect(second.published.map((p) => p.dataset).sort()).toEqual([...Array(13).fill('revenue_7d'), 'monthly_revenue'].sort());

    const after = partitionsByKey(dir, SHOP_MODELS);
    const differ = [...before].filter(([k, p]) => after.get(k)?.checksum !== p.checksum).map(([k]) => k);
    expect(differ).toEqual([]);
    const status = cliJson<{ datasets: { dataset: string; stale: number }[] }>(dir, ['status']);
    expect(status.datasets.filter((d) => d.stale > 0)).toEqual([]);

    const third = cliJson<{ run_id: string | null; published: unknown[] }>(dir, ['restore', 'daily_revenue', '--run', bad.run_id, '--downstream', '--reason', 'again', '--yes']);
    expect(third).toMatchObject({ run_id: null, published: [] });
  });
});

/**
 * Drill of scenario 1 (a fix for the last 7 days must not turn into a wider rewrite): the historical
 * partitions are locked, as the incident's corrective actions ask, and the on-call engineer types a
 * range one day too wide (`--last 8d`). The backfill is refused, as it must be; its hint used to name
 * only `tidemark unlock` of the whole historical lock — the one step the business had ruled out. The
 * hint must offer narrowing the range first (naming the locked partitions to leave out), and the
 * narrowed command must then rebuild exactly the 7 days and their dependents.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cli, cliJson, dataFiles, days, partitionsByKey, requireBuild, SHOP_MODELS, testEngines } from '../helpers/project.js';

const SLOW = { timeout: 120_000 };
const FIX = days('2026-04-24', '2026-04-30');

describe.each(testEngines(inject('pgUrl')))('scenario 1 drill: locked history and a range one day too wide ($kind)', SLOW, (engine) => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
    applyOrdersFix(dir, FIX);
    cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
  }, 180_000);
  afterAll(() => dir && cleanup(dir, path.dirname(dir)));

  test('the refusal says to narrow the range first; the narrowed backfill changes exactly the fix', () => {
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-20', '--to', '2026-04-23', '--reason', 'consumed by finance']).code).toBe(0);
    const before = partitionsByKey(dir, SHOP_MODELS);

    const wide = cli(dir, ['backfill', 'daily_revenue', '--last', '8d', '--downstream', '--reason', 'upstream fix', '--yes']);
    expect(wide.code).toBe(3);
    expect(wide.stderr).toContain('hint: narrow --from/--to to leave out 2026-04-23, or lift the lock');
    expect(partitionsByKey(dir, SHOP_MODELS)).toEqual(before);

    const done = cliJson<{ published: { dataset: string; partition: string }[] }>(dir, ['backfill', 'daily_revenue', '--last', '7d', '--downstream', '--reason', 'upstream fix', '--yes']);
    const changed = done.published.map((p) => `${p.dataset}/${p.partition}`).sort();
    expect(changed).toEqual([...FIX.map((d) => `daily_revenue/${d}`), 'monthly_revenue/2026-04-01', ...FIX.map((d) => `revenue_7d/${d}`)].sort());
    const after = partitionsByKey(dir, SHOP_MODELS);
    const moved = [...before].filter(([k, p]) => after.get(k)?.version !== p.version).map(([k]) => k).sort();
    expect(moved).toEqual(changed);
  });
});

/**
 * Drill of scenario 5 (late-arriving data): the aggregates for the last six weeks are published and
 * read when the upstream re-delivers the files of T-3..T-1, with 25 late orders for T-2 (2026-04-28).
 * The on-call engineer previews the ingest, loads it, asks `status` and `partitions` what is now wrong
 * and why, previews the rebuild with `run --dry-run`, runs it, and tells the downstream team how to
 * follow the restatement (`changes --since`). Checked: only orders T-2 gets a new version; `status`
 * counts, and `partitions` shows, every partition `run` will rebuild with the upstream change behind
 * it (daily d, rolling d..d+6, month(d)) — before the fix the rolling and monthly partitions read
 * "published", with no why, while `ready` called them stale; the ingest's summary names what became
 * stale and the next command; `run` rebuilds exactly those partitions, and the result equals a project
 * built from the same files in one go; the change feed shows them as restatements; a second `run` is
 * a no-op.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { builtShop, cleanup, cli, cliJson, dataFiles, partitionsByKey, requireBuild, scaffoldShop, SHOP_DATASETS, SHOP_MODELS, snapshotState, testEngines, type PartitionJson } from '../helpers/project.js';

const SLOW = { timeout: 240_000 };
const LATE_DAY = '2026-04-28'; // T-2: the data runs to 2026-04-30
const REDELIVERED = ['2026-04-27', '2026-04-28', '2026-04-29'];
/** What `run` must rebuild for one late day: daily d, rolling d..d+6 (the data ends at d+2), month(d). */
const AFFECTED = ['daily_revenue/2026-04-28', 'revenue_7d/2026-04-28', 'revenue_7d/2026-04-29', 'revenue_7d/2026-04-30', 'monthly_revenue/2026-04-01'];

/** The upstream re-delivers T-3..T-1; only T-2's file changed: 25 late paid orders appended. */
function redeliver(dir: string): void {
  const file = path.join(dir, 'data', 'orders', `orders-${LATE_DAY}.csv`);
  const dayNum = Date.parse(`${LATE_DAY}T00:00:00Z`) / 86_400_000;
  const late = Array.from({ length: 25 }, (_, n) => `${dayNum * 100_000 + 90_001 + n},${700 + n},${2_000 + n * 41},${['USD', 'EUR', 'GBP'][n % 3]},paid,${LATE_DAY}`);
  writeFileSync(file, `${readFileSync(file, 'utf8')}${late.join('\n')}\n`);
}

interface Change {
  dataset: string;
  partition: string;
  kind: string;
  version: number;
  previous_version: number | null;
  publish_seq: number;
}

describe.each(testEngines(inject('pgUrl')))('scenario 5 drill: late rows for T-2 after the aggregates were published ($kind)', SLOW, (engine) => {
  let dir: string;
  let scratch: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
  }, 240_000);
  afterAll(() => {
    if (dir) cleanup(dir, path.dirname(dir));
    if (scratch) cleanup(scratch, path.dirname(scratch));
  });

  test('the late file restates exactly the affected windows, says so at every step, and converges', async () => {
    const before = partitionsByKey(dir, SHOP_DATASETS);
    // A downstream team follows the aggregates incrementally: their cursor is the feed's head now.
    const cursor = cliJson<{ head_seq: number }>(dir, ['changes', 'revenue_7d', '--since', '0']).head_seq;

    redeliver(dir);
    const preview = cli(dir, ['ingest', 'orders', ...REDELIVERED.map((d) => `data/orders/orders-${d}.csv`), '--dry-run']);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('1 file(s) to load, 2 already loaded and unchanged.');
    expect(preview.stdout).toMatch(/orders\s+1\s+2026-04-28\b/);
    expect(preview.stdout).not.toContain('Models that read'); // a preview made nothing stale
    expect(partitionsByKey(dir, SHOP_DATASETS)).toEqual(before);

    // The upstream folder as delivered: every file again; only the changed one loads.
    const ingest = cli(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
    expect(ingest.code, ingest.stderr).toBe(0);
    const afterIngest = partitionsByKey(dir, SHOP_DATASETS);
    const bumped = [...afterIngest].filter(([k, p]) => before.get(k)?.version !== p.version).map(([k]) => k);
    expect(bumped).toEqual([`orders/${LATE_DAY}`]);
    expect(afterIngest.get(`orders/${LATE_DAY}`)).toMatchObject({ version: 2 });
    // The summary says what the late file made stale and what to type next.
    expect(ingest.stdout).toContain('Models that read orders are stale now where they read the changed partitions (daily_revenue, monthly_revenue, revenue_7d): `tidemark run` rebuilds exactly those; `tidemark run --dry-run` lists them first.');

    // What is wrong now, and why: every partition `run` will rebuild, with the upstream change behind it.
    const status = cliJson<{ datasets: { dataset: string; stale: number }[] }>(dir, ['status']);
    expect(Object.fromEntries(status.datasets.map((d) => [d.dataset, d.stale]))).toEqual({ orders: 0, fx_rates: 0, daily_revenue: 1, revenue_7d: 3, monthly_revenue: 1 });
    const stale = new Map<string, PartitionJson & { stale_reasons?: string[] }>();
    for (const ds of SHOP_MODELS) for (const p of cliJson<(PartitionJson & { stale_reasons?: string[] })[]>(dir, ['partitions', ds])) if (p.state === 'stale') stale.set(`${p.dataset}/${p.partition}`, p);
    expect([...stale.keys()].sort()).toEqual([...AFFECTED].sort());
    expect(stale.get(`daily_revenue/${LATE_DAY}`)!.stale_reasons).toEqual(['orders 2026-04-28 changed v1 → v2']);
    for (const k of AFFECTED.filter((x) => !x.startsWith('daily_revenue/'))) {
      expect(stale.get(k)!.stale_reasons).toEqual(['reads daily_revenue 2026-04-28, which is stale: orders 2026-04-28 changed v1 → v2']);
    }
    const text = cli(dir, ['partitions', 'monthly_revenue']);
    expect(text.stdout).toMatch(/^2026-04-01\s+stale\s+1\b.*reads daily_revenue 2026-04-28, which is stale: orders 2026-04-28 changed v1 → v2$/m);
    // `ready` and `partitions` give the same answer.
    const ready = cli(dir, ['ready', 'revenue_7d', '--partition', '2026-04-30']);
    expect(ready.code).toBe(3);
    expect(ready.stderr).toContain('it reads daily_revenue 2026-04-28, which is stale: orders 2026-04-28 changed v1 → v2');

    // Before rebuilding: exactly what `run` will do, nothing written.
    const state = await snapshotState(dir);
    const dry = cliJson<{ datasets: { dataset: string; partitions: string[] }[] }>(dir, ['run', '--dry-run']);
    expect(dry.datasets.flatMap((d) => d.partitions.map((p) => `${d.dataset}/${p}`)).sort()).toEqual([...AFFECTED].sort());
    expect(await snapshotState(dir)).toEqual(state);

    const run = cliJson<{ published: { dataset: string; partition: string; version_before: number; version_after: number }[] }>(dir, ['run']);
    expect(run.published.map((p) => `${p.dataset}/${p.partition}`).sort()).toEqual([...AFFECTED].sort());
    expect(run.published.every((p) => p.version_before === 1 && p.version_after === 2)).toBe(true);
    const after = partitionsByKey(dir, SHOP_DATASETS);
    const moved = [...after].filter(([k, p]) => afterIngest.get(k)?.version !== p.version).map(([k]) => k).sort();
    expect(moved).toEqual([...AFFECTED].sort());
    expect([...after.values()].filter((p) => p.state !== 'published')).toEqual([]);

    // Equal to a project built from the same files in one go.
    scratch = await scaffoldShop('2026-03-20', '2026-04-30', { engine });
    redeliver(scratch);
    cliJson(scratch, ['ingest', 'orders', ...dataFiles(scratch, 'orders')]);
    cliJson(scratch, ['ingest', 'fx_rates', ...dataFiles(scratch, 'fx_rates')]);
    cliJson(scratch, ['run']);
    const fresh = partitionsByKey(scratch, SHOP_DATASETS);
    expect([...after].filter(([k, p]) => fresh.get(k)?.checksum !== p.checksum).map(([k]) => k)).toEqual([]);
    expect(fresh.size).toBe(after.size);

    // The downstream team follows the restatement from its cursor: replacements, not appends.
    const feed = cliJson<{ changes: Change[]; head_seq: number }>(dir, ['changes', 'revenue_7d', '--since', String(cursor)]);
    expect(feed.changes.map((c) => [c.partition, c.kind, c.previous_version, c.version])).toEqual([
      ['2026-04-28', 'restate', 1, 2],
      ['2026-04-29', 'restate', 1, 2],
      ['2026-04-30', 'restate', 1, 2],
    ]);
    expect(cliJson<{ changes: Change[] }>(dir, ['changes', 'revenue_7d', '--since', String(feed.head_seq)]).changes).toEqual([]);

    // Re-running is a no-op, and nothing is left stale.
    expect(cliJson(dir, ['run'])).toMatchObject({ run_id: null, published: [] });
    expect(partitionsByKey(dir, SHOP_DATASETS)).toEqual(after);
    expect(cliJson<{ datasets: { stale: number }[] }>(dir, ['status']).datasets.every((d) => d.stale === 0)).toBe(true);
  });
});

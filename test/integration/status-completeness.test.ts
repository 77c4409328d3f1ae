/**
 * `status` says how far each dataset is complete (incident 5: "track watermark or data completeness",
 * "communicate correction semantics"): `complete_through`, the newest key through which every
 * partition from the first is published and fresh; `gaps`/`first_gap`, keys between the first and last
 * published partition with none; and under the table, for a dataset not complete through its last
 * partition, why at the watermark in the words `partitions` uses. Real CLI, real shop projects.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { applyOrdersFix, builtShop, cli, cliJson, dataFiles, readModel, REDUCED_TO, scaffoldShop, sharedProject, testEngines, writeModel } from '../helpers/project.js';

interface DatasetJson {
  dataset: string;
  last: string | null;
  complete_through: string | null;
  gaps: number;
  first_gap: string | null;
  incomplete_at: { partition: string; state: string; why: string[] } | null;
}

function datasets(dir: string): Map<string, DatasetJson> {
  return new Map(cliJson<{ datasets: DatasetJson[] }>(dir, ['status']).datasets.map((d) => [d.dataset, d]));
}

/** The lines `status` prints under its table: one per dataset not complete through its last partition. */
function incompleteLines(dir: string): string[] {
  const r = cli(dir, ['status']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((line) => /^[a-z_0-9]+: (complete through|not complete)/.test(line));
}

function expectAllComplete(dir: string): void {
  for (const d of datasets(dir).values()) {
    expect({ dataset: d.dataset, complete_through: d.complete_through, gaps: d.gaps, first_gap: d.first_gap, incomplete_at: d.incomplete_at }).toEqual({
      dataset: d.dataset,
      complete_through: d.last,
      gaps: 0,
      first_gap: null,
      incomplete_at: null,
    });
  }
  expect(incompleteLines(dir)).toEqual([]);
}

const LATE_DAY = '2026-03-05';

describe.each(testEngines(inject('pgUrl')))('status: how far each dataset is complete ($kind)', (engine) => {
  const shop = sharedProject(() => builtShop(undefined, undefined, { engine }));

  it('a built shop is complete through its last partition in every dataset, with no gaps', () => {
    expectAllComplete(shop.base());
    const table = cli(shop.base(), ['status']).stdout;
    expect(table).toMatch(/^dataset .* complete through$/m);
    expect(table).toMatch(new RegExp(`^daily_revenue .* ${REDUCED_TO}$`, 'm'));
  });

  it('a late file for a middle day moves the models back to the day before it, and `run` moves them forward again', () => {
    const dir = shop.fresh();
    applyOrdersFix(dir, [LATE_DAY]);
    const ds = datasets(dir);
    expect(ds.get('daily_revenue')).toMatchObject({
      complete_through: '2026-03-04',
      gaps: 0,
      first_gap: null,
      incomplete_at: { partition: LATE_DAY, state: 'stale', why: [`orders ${LATE_DAY} changed v1 → v2`] },
    });
    expect(ds.get('revenue_7d')).toMatchObject({ complete_through: '2026-03-04', incomplete_at: { partition: LATE_DAY, state: 'stale' } });
    expect(ds.get('monthly_revenue')).toMatchObject({ complete_through: '2026-02-01', incomplete_at: { partition: '2026-03-01', state: 'stale' } });
    // The source's new version is published: it is complete, and so is the other source.
    expect(ds.get('orders')).toMatchObject({ complete_through: REDUCED_TO, incomplete_at: null });
    expect(ds.get('fx_rates')).toMatchObject({ complete_through: REDUCED_TO, incomplete_at: null });

    expect(incompleteLines(dir)).toEqual([
      `daily_revenue: complete through 2026-03-04; ${LATE_DAY} is stale: orders ${LATE_DAY} changed v1 → v2`,
      `monthly_revenue: complete through 2026-02-01; 2026-03-01 is stale: reads daily_revenue ${LATE_DAY}, which is stale: orders ${LATE_DAY} changed v1 → v2`,
      `revenue_7d: complete through 2026-03-04; ${LATE_DAY} is stale: reads daily_revenue ${LATE_DAY}, which is stale: orders ${LATE_DAY} changed v1 → v2`,
    ]);

    cliJson(dir, ['run']);
    expectAllComplete(dir);
  });

  it('a failed partition stops the watermark the day before it', () => {
    const dir = shop.fresh();
    // Reading a day too early puts rows of another day in the partition: validation fails the run.
    const sql = readModel(dir, 'daily_revenue');
    writeModel(dir, 'daily_revenue', sql.replace('o.order_date >= {{ start }}', "o.order_date >= {{ start }} - INTERVAL '1 day'"));
    const failedRun = cli(dir, ['backfill', 'daily_revenue', '--from', LATE_DAY, '--to', LATE_DAY, '--reason', 'fails', '--yes']);
    expect(failedRun.code).toBe(4);
    const runId = /^run (r\S+): backfill/m.exec(failedRun.stderr)?.[1];
    expect(runId, failedRun.stderr).toBeDefined();
    writeModel(dir, 'daily_revenue', sql);

    expect(datasets(dir).get('daily_revenue')).toMatchObject({ complete_through: '2026-03-04', gaps: 0, incomplete_at: { partition: LATE_DAY, state: 'failed', failed_run: runId } });
    expect(incompleteLines(dir)).toEqual([`daily_revenue: complete through 2026-03-04; ${LATE_DAY} failed in run ${runId}: re-issue its command to resume it`]);
    // `partitions` names the run too.
    const row = cliJson<{ partition: string; state: string; failed_run?: string }[]>(dir, ['partitions', 'daily_revenue']).find((p) => p.partition === LATE_DAY);
    expect(row).toMatchObject({ state: 'failed', failed_run: runId });
    expect(cli(dir, ['partitions', 'daily_revenue']).stdout).toMatch(new RegExp(`^${LATE_DAY} +failed .*failed in run ${runId}$`, 'm'));
  });

  it('a failed partition that another command rebuilds to the same content is published again', () => {
    const dir = shop.fresh();
    const sql = readModel(dir, 'daily_revenue');
    writeModel(dir, 'daily_revenue', sql.replace('o.order_date >= {{ start }}', "o.order_date >= {{ start }} - INTERVAL '1 day'"));
    const failedRun = cli(dir, ['backfill', 'daily_revenue', '--from', LATE_DAY, '--to', LATE_DAY, '--reason', 'fails', '--yes']);
    expect(failedRun.code).toBe(4);
    writeModel(dir, 'daily_revenue', sql);
    // Not the failed command re-issued (that would resume its run) but a wider backfill: it computes
    // the live content again, so it publishes no version, yet the partition is confirmed as it is.
    const wider = cliJson<{ status: string; published: unknown[]; unchanged: number }>(dir, ['backfill', 'daily_revenue', '--from', '2026-03-04', '--to', LATE_DAY, '--reason', 'rebuild', '--yes']);
    expect(wider).toMatchObject({ status: 'published', published: [], unchanged: 2 });

    const row = cliJson<{ partition: string; state: string; failed_run?: string }[]>(dir, ['partitions', 'daily_revenue']).find((p) => p.partition === LATE_DAY);
    expect(row?.state).toBe('published');
    expect(row?.failed_run).toBeUndefined();
    expect(datasets(dir).get('daily_revenue')).toMatchObject({ complete_through: REDUCED_TO, incomplete_at: null });
    // The run itself still failed, and is still listed as such: re-issuing it would resume it.
    const status = cliJson<{ datasets: { dataset: string; failed: number }[]; failed_runs: { run_id: string }[] }>(dir, ['status']);
    expect(status.datasets.find((d) => d.dataset === 'daily_revenue')?.failed).toBe(0);
    expect(status.failed_runs.map((r) => r.run_id)).toEqual([/^run (r\S+): backfill/m.exec(failedRun.stderr)?.[1]]);
  });
});

describe.each(testEngines(inject('pgUrl')))('status: a source day with no data ($kind)', (engine) => {
  const GAP_DAY = '2026-03-05';
  const shop = sharedProject(async () => {
    const dir = await scaffoldShop('2026-03-01', '2026-03-10', { engine });
    // No file for one day in the middle: nothing refuses, the day is a gap.
    rmSync(path.join(dir, 'data', 'orders', `orders-${GAP_DAY}.csv`));
    cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
    cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
    return dir;
  });

  it('models not built yet are complete through nothing', () => {
    const ds = datasets(shop.base());
    for (const model of ['daily_revenue', 'revenue_7d', 'monthly_revenue']) {
      expect(ds.get(model)).toMatchObject({ complete_through: null, gaps: 0, first_gap: null, incomplete_at: { partition: '2026-03-01', state: 'missing' } });
    }
    expect(incompleteLines(shop.base())).toContain('daily_revenue: not complete from its first partition; 2026-03-01 is missing: not built yet');
  });

  it('the source and the models that read it are complete through the day before the gap, with one gap', () => {
    const dir = shop.fresh();
    cliJson(dir, ['run']);
    const ds = datasets(dir);
    for (const name of ['orders', 'daily_revenue', 'revenue_7d']) {
      expect(ds.get(name)).toMatchObject({ last: '2026-03-10', complete_through: '2026-03-04', gaps: 1, first_gap: GAP_DAY, incomplete_at: { partition: GAP_DAY, state: 'no_data', why: [] } });
    }
    expect(ds.get('fx_rates')).toMatchObject({ complete_through: '2026-03-10', gaps: 0, incomplete_at: null });
    expect(incompleteLines(dir)).toEqual([
      `orders: complete through 2026-03-04; no data for ${GAP_DAY} (1 gap)`,
      `daily_revenue: complete through 2026-03-04; no data for ${GAP_DAY} (1 gap)`,
      `revenue_7d: complete through 2026-03-04; no data for ${GAP_DAY} (1 gap)`,
    ]);
  });
});

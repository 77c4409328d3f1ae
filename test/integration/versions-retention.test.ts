/**
 * Retention and gc on a real DuckDB file through the CLI: versions beyond the policy (older than the
 * newest N replaced ones AND replaced more than D days ago) are removed by `gc`, and only those; a
 * removed version cannot be restored and the error names the oldest version still held; staging of
 * failed runs is kept for resume unless asked, leftovers are dropped; everything is audited.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openWorkspace } from '../../src/workspace.js';
import { readFile, scaleRevenue, shopProject, tm, tmJson, writeFile, removeProject, SETUP_TIMEOUT, SLOW } from './versions-fixture.js';

const A = '2026-04-25'; // gets versions 1..4
const B = '2026-04-27'; // gets versions 1..2

interface HistoryRow {
  partition: string;
  version: number;
  checksum: string;
  retained: boolean;
  current: boolean;
  run_id: string;
}

describe('retention and gc', SLOW, () => {
  let dir: string;
  let goodSql: string;

  const historyRows = () =>
    tmJson<{ p: string; v: number; n: number }[]>(dir, 'query', `SELECT v.partition AS p, v.version AS v, count(*) AS n FROM tidemark_history.daily_revenue h
        JOIN tidemark.versions v ON v.dataset = 'daily_revenue' AND v.replaced_seq = h._tm_replaced_seq AND v.partition = CAST(h.day AS VARCHAR)
        GROUP BY 1, 2 ORDER BY 1, 2`).map((r) => `${r.p} v${r.v}`);
  const backfillScaled = (factor: number, from: string, to: string) => {
    writeFile(dir, 'models/daily_revenue.sql', scaleRevenue(goodSql, factor));
    try {
      return tmJson(dir, 'backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', `scale ×${factor}`, '--yes');
    } finally {
      writeFile(dir, 'models/daily_revenue.sql', goodSql);
    }
  };

  beforeAll(() => {
    // 10 days: 2026-04-21 .. 2026-04-30; keep 1 replaced version, or anything replaced within 30 days.
    dir = shopProject('retention', 10, (yaml) => `${yaml}\nretention: { versions: 1, days: 30 }\n`);
    goodSql = readFile(dir, 'models/daily_revenue.sql');
    backfillScaled(2, A, A);
    backfillScaled(3, A, A);
    backfillScaled(4, A, B); // A: v4, B: v2 (and 04-26 v2)
  }, SETUP_TIMEOUT);
  afterAll(() => removeProject(dir));

  test('versions younger than `days` are kept even beyond `versions`', () => {
    const report = tmJson(dir, 'gc', '--reason', 'clean-up');
    expect(report.versions_removed).toEqual([]);
    expect(report.history_rows_removed).toBe(0);
    expect(historyRows()).toEqual([`${A} v1`, `${A} v2`, `${A} v3`, '2026-04-26 v1', `${B} v1`]);
  });

  test('gc removes exactly the versions beyond the policy, and --dry-run only reports them', () => {
    writeFile(dir, 'tidemark.yaml', readFile(dir, 'tidemark.yaml').replace('retention: { versions: 1, days: 30 }', 'retention: { versions: 1, days: 0 }'));
    const dry = tmJson(dir, 'gc', '--dry-run');
    expect(dry.dry_run).toBe(true);
    expect(dry.versions_removed.map((v: { partition: string; version: number }) => `${v.partition} v${v.version}`)).toEqual([`${A} v1`, `${A} v2`]);
    expect(dry.history_rows_removed).toBeGreaterThan(0);
    expect(historyRows()).toEqual([`${A} v1`, `${A} v2`, `${A} v3`, '2026-04-26 v1', `${B} v1`]);

    const done = tmJson(dir, 'gc', '--reason', 'monthly clean-up');
    expect(done.versions_removed).toEqual(dry.versions_removed);
    expect(done.history_rows_removed).toBe(dry.history_rows_removed);
    expect(historyRows()).toEqual([`${A} v3`, '2026-04-26 v1', `${B} v1`]);
    const hist = tmJson<HistoryRow[]>(dir, 'history', 'daily_revenue', '--partition', A);
    expect(hist.map((h) => [h.version, h.retained, h.current])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, true, false],
      [4, true, true],
    ]);
    // Other partitions' versions are untouched.
    expect(tmJson<HistoryRow[]>(dir, 'history', 'daily_revenue').filter((h) => h.partition !== A).every((h) => h.retained)).toBe(true);
    const audit = tmJson(dir, 'query', "SELECT action, reason, dataset FROM tidemark.audit WHERE action = 'gc.retention'");
    expect(audit).toEqual([{ action: 'gc.retention', reason: 'monthly clean-up', dataset: 'daily_revenue' }]);
    // A second gc finds nothing more.
    expect(tmJson(dir, 'gc', '--reason', 'clean-up').versions_removed).toEqual([]);
  });

  test('gc keeps (and names) the history of a dataset no longer in the project file', async () => {
    const ws = await openWorkspace(dir);
    try {
      // Versions of a model since removed from tidemark.yaml: two replaced long ago, one current.
      for (const [version, replaced] of [[1, '2025-01-02T00:00:00.000Z'], [2, '2025-01-03T00:00:00.000Z'], [3, null]] as const) {
        await ws.engine.exec(
          `INSERT INTO tidemark.versions (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs, kind, actor, reason, retained, replaced_at, replaced_seq)
           VALUES ('retired_model', '2025-01-01', $1, 1, 'c', 'r', $1, '2025-01-01T00:00:00.000Z', '{}', 'new', 'a', 'r', TRUE, $2, $3)`,
          [version, replaced, replaced ? version + 1 : null],
        );
      }
    } finally {
      await ws.close();
    }
    const report = tmJson(dir, 'gc', '--dry-run');
    expect(report.datasets_skipped).toEqual(['retired_model']);
    expect(report.versions_removed.some((v: { dataset: string }) => v.dataset === 'retired_model')).toBe(false);
    const text = tm(dir, 'gc', '--dry-run');
    expect(text.stdout).toContain('Kept: history of retired_model, no longer in the project file');
  });

  test('restoring a removed version is a clear error naming the oldest version still held', () => {
    const r = tm(dir, 'restore', 'daily_revenue', '--version', '1', '--from', A, '--to', A, '--reason', 'too late', '--yes');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`daily_revenue ${A}: version 1 was removed by retention`);
    expect(r.stderr).toContain('the oldest version still held is 3');
    const asOld = tm(dir, 'diff', tmJson<HistoryRow[]>(dir, 'history', 'daily_revenue', '--partition', A)[1].run_id, '--json');
    expect(asOld.code).toBe(0);
    expect(JSON.parse(asOld.stdout).partitions[0].note).toContain('removed by retention');
    // The oldest held version still restores, with its checksum.
    const held = tmJson<HistoryRow[]>(dir, 'history', 'daily_revenue', '--partition', A)[2];
    const ok = tmJson(dir, 'restore', 'daily_revenue', '--version', '3', '--from', A, '--to', A, '--reason', 'back to v3', '--yes');
    expect(ok.published[0].checksum_after).toBe(held.checksum);
  });

  test('gc keeps the staging of the latest failed attempt for resume, drops leftovers, and --all-staging drops it too', async () => {
    // A leftover staging table whose run is not recorded.
    const ws = await openWorkspace(dir);
    try {
      await ws.engine.exec('CREATE TABLE tidemark_staging."r00000000_000000_aaaaaa__daily_revenue" AS SELECT * FROM daily_revenue');
    } finally {
      await ws.close();
    }
    // A failed backfill (empty result for a day that had rows) keeps its staging.
    writeFile(dir, 'models/daily_revenue.sql', goodSql.replace('AND o.order_date < {{ end }}', "AND o.order_date < {{ end }}\n  AND o.order_date <> DATE '2026-04-23'"));
    const failed = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-22', '--to', '2026-04-23', '--reason', 'will fail', '--yes');
    expect(failed.code).toBe(4);
    // Base tables only: a run may also keep an overlay view next to its staging table.
    const staging = () =>
      tmJson<{ t: string }[]>(dir, 'query', "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'tidemark_staging' AND table_type = 'BASE TABLE' ORDER BY 1").map((r) => r.t);
    const tablesOf = (dropped: { table: string; view: boolean }[]) => dropped.filter((s) => !s.view);
    expect(staging()).toHaveLength(2);

    const first = tmJson(dir, 'gc', '--reason', 'clean-up');
    expect(tablesOf(first.staging_dropped).map((s) => s.table)).toEqual(['r00000000_000000_aaaaaa__daily_revenue']);
    expect(first.staging_rows_removed).toBe(30);
    expect(staging()).toHaveLength(1); // the failed attempt, kept so re-issuing resumes it

    const all = tmJson(dir, 'gc', '--all-staging', '--reason', 'clean-up');
    expect(tablesOf(all.staging_dropped)).toHaveLength(1);
    expect(all.staging_dropped.every((s: { run_status: string }) => s.run_status === 'failed')).toBe(true);
    expect(tmJson(dir, 'query', "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'tidemark_staging'")).toEqual([{ n: 0 }]);
    expect(tmJson(dir, 'query', "SELECT count(*) AS n FROM tidemark.audit WHERE action = 'gc.staging'")).toEqual([{ n: 2 }]);

    // Re-issuing the fixed command still works: it recomputes what gc dropped.
    writeFile(dir, 'models/daily_revenue.sql', goodSql);
    const again = tmJson(dir, 'backfill', 'daily_revenue', '--from', '2026-04-22', '--to', '2026-04-23', '--reason', 'will fail', '--yes');
    expect(again.status).toBe('published');
  });
});

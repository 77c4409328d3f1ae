/**
 * Refusals that keep good data safe, on a real DuckDB file through the CLI: the empty-result guard
 * (in staging, before publish) and the frozen, recent and locked guards (at plan time, exit 3,
 * naming the partitions). Every refusal leaves versions and live rows exactly as they were.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFile, scaleRevenue, shopProject, tm, tmJson, wholeState, writeFile, removeProject, SETUP_TIMEOUT, SLOW } from './versions-fixture.js';

// 20 days: 2026-04-11 .. 2026-04-30. Frozen before 04-15, the newest 3 days are "recent".
const PROTECT = '    protect: { frozen_before: 2026-04-15, recent: 3 }\n';

describe('guards refuse and leave data untouched', SLOW, () => {
  let dir: string;
  let goodSql: string;

  beforeAll(() => {
    dir = shopProject('guards', 20, (yaml) =>
      yaml.replace(
        // Without the row_count check the empty-result guard is the one that speaks for an empty day.
        '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n',
        `    checks: [{ not_null: [day, currency] }]\n${PROTECT}`,
      ),
    );
    goodSql = readFile(dir, 'models/daily_revenue.sql');
  }, SETUP_TIMEOUT);
  afterAll(() => removeProject(dir));

  test('a model whose filter produces nothing for some partitions is refused before publish', () => {
    const state = wholeState(dir);
    writeFile(dir, 'models/daily_revenue.sql', goodSql.replace('AND o.order_date < {{ end }}', "AND o.order_date < {{ end }}\n  AND o.order_date < DATE '2026-04-24'"));
    try {
      const r = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-22', '--to', '2026-04-25', '--reason', 'filter bug', '--yes');
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/daily_revenue 2026-04-2[45]: the result is empty but the partition has \d+ rows/);
      expect(r.stderr).toContain('--allow-empty');
      expect(wholeState(dir)).toEqual(state);
    } finally {
      writeFile(dir, 'models/daily_revenue.sql', goodSql);
    }
  });

  test('frozen partitions refuse a backfill with exit 3 naming them', () => {
    const state = wholeState(dir);
    const r = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-12', '--to', '2026-04-16', '--reason', 'touch history', '--yes');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('frozen');
    expect(r.stderr).toContain('2026-04-12, 2026-04-13, 2026-04-14');
    expect(r.stderr).not.toContain('2026-04-15,');
    const plan = tmJson(dir, 'plan', 'daily_revenue', '--from', '2026-04-12', '--to', '2026-04-16');
    expect(plan.guards.find((g: { code: string }) => g.code === 'FROZEN').partitions).toEqual(['2026-04-12', '2026-04-13', '2026-04-14']);
    expect(wholeState(dir)).toEqual(state);
  });

  test('recent partitions refuse a backfill without --include-recent', () => {
    const state = wholeState(dir);
    const r = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-26', '--to', '2026-04-30', '--reason', 'recent fix', '--yes');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('2026-04-28, 2026-04-29, 2026-04-30');
    expect(r.stderr).toContain('--include-recent');
    expect(wholeState(dir)).toEqual(state);
    const allowed = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-26', '--to', '2026-04-30', '--reason', 'recent fix', '--include-recent', '--dry-run');
    expect(allowed.code).toBe(0);
  });

  test('locks refuse backfill and restore; lock and unlock are audited; unlock needs a reason and an existing lock', () => {
    // A bad backfill to have something to restore later.
    writeFile(dir, 'models/daily_revenue.sql', scaleRevenue(goodSql, 3));
    const bad = tmJson(dir, 'backfill', 'daily_revenue', '--from', '2026-04-19', '--to', '2026-04-23', '--reason', 'wrong numbers', '--yes');
    writeFile(dir, 'models/daily_revenue.sql', goodSql);

    const locked = tm(dir, 'lock', 'daily_revenue', '--from', '2026-04-20', '--to', '2026-04-22', '--reason', 'month-end close under review');
    expect(locked.code).toBe(0);
    expect(tm(dir, 'lock', 'daily_revenue', '--from', '2026-04-20', '--to', '2026-04-22').code).toBe(2); // no reason
    const state = wholeState(dir);

    const bf = tm(dir, 'backfill', 'daily_revenue', '--from', '2026-04-19', '--to', '2026-04-23', '--reason', 'retry', '--yes');
    expect(bf.code).toBe(3);
    expect(bf.stderr).toContain('2026-04-20, 2026-04-21, 2026-04-22 locked by tester');
    expect(bf.stderr).toContain('tidemark unlock daily_revenue --from 2026-04-20 --to 2026-04-22');
    const rs = tm(dir, 'restore', 'daily_revenue', '--run', bad.run_id, '--reason', 'undo', '--yes');
    expect(rs.code).toBe(3);
    expect(rs.stderr).toContain('2026-04-20, 2026-04-21, 2026-04-22 locked');
    expect(wholeState(dir)).toEqual(state);
    expect(tmJson(dir, 'partitions', 'daily_revenue').filter((p: { state: string }) => p.state === 'locked').map((p: { partition: string }) => p.partition)).toEqual(['2026-04-20', '2026-04-21', '2026-04-22']);

    const noReason = tm(dir, 'unlock', 'daily_revenue', '--from', '2026-04-20', '--to', '2026-04-22');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
    const noLock = tm(dir, 'unlock', 'daily_revenue', '--from', '2026-04-25', '--to', '2026-04-26', '--reason', 'cleanup');
    expect(noLock.code).toBe(2);
    expect(noLock.stderr).toContain('no lock of daily_revenue lies within 2026-04-25..2026-04-26');
    const partial = tm(dir, 'unlock', 'daily_revenue', '--from', '2026-04-21', '--to', '2026-04-22', '--reason', 'cleanup');
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('overlaps 2026-04-20..2026-04-22');
    const un = tmJson(dir, 'unlock', 'daily_revenue', '--from', '2026-04-20', '--to', '2026-04-22', '--reason', 'review done');
    expect(un.removed).toHaveLength(1);
    expect(tmJson(dir, 'query', 'SELECT count(*) AS n FROM tidemark.locks')).toEqual([{ n: 0 }]);
    const audit = tmJson(dir, 'query', "SELECT action, reason, partitions FROM tidemark.audit WHERE action IN ('lock', 'unlock') ORDER BY seq");
    expect(audit.map((a: { action: string; reason: string }) => [a.action, a.reason])).toEqual([
      ['lock', 'month-end close under review'],
      ['unlock', 'review done'],
    ]);

    // Unlocked, the restore goes through and the bad numbers are gone.
    const ok = tmJson(dir, 'restore', 'daily_revenue', '--run', bad.run_id, '--reason', 'undo', '--yes');
    expect(ok.published.map((p: { partition: string }) => p.partition)).toEqual(['2026-04-19', '2026-04-20', '2026-04-21', '2026-04-22', '2026-04-23']);
  });

  test('restore is guarded like backfill: frozen and recent partitions refuse it', () => {
    writeFile(dir, 'models/daily_revenue.sql', scaleRevenue(goodSql, 5));
    const frozenRun = tmJson(dir, 'backfill', 'daily_revenue', '--from', '2026-04-16', '--to', '2026-04-16', '--reason', 'x', '--yes');
    const recentRun = tmJson(dir, 'backfill', 'daily_revenue', '--from', '2026-04-29', '--to', '2026-04-29', '--reason', 'x', '--include-recent', '--yes');
    writeFile(dir, 'models/daily_revenue.sql', goodSql);
    // Freeze 04-16 after the fact (a reviewed config change), then try to restore it.
    writeFile(dir, 'tidemark.yaml', readFile(dir, 'tidemark.yaml').replace(PROTECT, '    protect: { frozen_before: 2026-04-17, recent: 3 }\n'));
    const state = wholeState(dir);
    const frozen = tm(dir, 'restore', 'daily_revenue', '--run', frozenRun.run_id, '--reason', 'undo', '--yes');
    expect(frozen.code).toBe(3);
    expect(frozen.stderr).toContain('2026-04-16');
    expect(frozen.stderr).toContain('frozen');
    const recent = tm(dir, 'restore', 'daily_revenue', '--run', recentRun.run_id, '--reason', 'undo', '--yes');
    expect(recent.code).toBe(3);
    expect(recent.stderr).toContain('2026-04-29');
    expect(wholeState(dir)).toEqual(state);
    expect(tm(dir, 'restore', 'daily_revenue', '--run', recentRun.run_id, '--reason', 'undo', '--include-recent', '--yes').code).toBe(0);
  });
});

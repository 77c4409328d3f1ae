/**
 * A restore issued without --downstream leaves the dependents stale; issued again with --downstream,
 * its partitions are already current and it still rebuilds what reads them (api/restore.ts). Exactly
 * what reads them: an already-current partition whose dependents are all up to date adds nothing,
 * however many of the others have stale ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cliJson, days, requireBuild } from '../helpers/project.js';

interface PlanJson {
  datasets: { dataset: string; partitions: string[] }[];
  restored: unknown[];
  already_current: { partition: string }[];
}

describe('restore --downstream re-issued over already-current partitions', () => {
  let dir = '';
  afterAll(() => cleanup(dir));

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
  }, 120_000);

  it('rebuilds the stale dependents of the partitions that have some, and nothing for the others', () => {
    const beforeFix = new Date().toISOString();
    applyOrdersFix(dir, ['2026-03-03', '2026-03-04']);
    cliJson(dir, ['backfill', 'daily_revenue', '--from', '2026-03-03', '--to', '2026-03-04', '--downstream', '--reason', 'the fix', '--yes']);
    // Back to the content before the fix, without --downstream: revenue_7d from 03-03 and March's monthly_revenue are left stale.
    const undone = cliJson<{ published: unknown[] }>(dir, ['restore', 'daily_revenue', '--as-of', beforeFix, '--from', '2026-03-03', '--to', '2026-03-04', '--reason', 'undo', '--yes']);
    expect(undone.published).toHaveLength(2);

    // Again over a wider range, with --downstream: every partition already holds that version.
    const plan = cliJson<PlanJson>(dir, ['restore', 'daily_revenue', '--as-of', beforeFix, '--from', '2026-02-20', '--to', '2026-03-04', '--downstream', '--dry-run']);
    expect(plan.restored).toEqual([]);
    expect(plan.already_current.map((a) => a.partition)).toEqual(days('2026-02-20', '2026-03-04'));
    const planned = Object.fromEntries(plan.datasets.map((d) => [d.dataset, d.partitions]));
    // From 02-25 on a day has a stale dependent (revenue_7d from 03-03 reads 03-03; March's
    // monthly_revenue): its dependents are rebuilt. Those of 02-20..02-24 (revenue_7d up to 03-02 reads
    // nothing restored) are all current: nothing of them is planned but what the others reach.
    expect(planned).toEqual({ revenue_7d: days('2026-02-25', '2026-03-10'), monthly_revenue: ['2026-02-01', '2026-03-01'] });
  });
});

// A plan a library caller reviewed and hands back (`backfill(ws, request, options, plan)`, likewise
// restore) is executed only while it is still the plan. Guards are decided at plan time: a lock placed
// after the review refused nothing before, and the backfill published into the locked partitions.
// Each refusal here must leave data and state exactly as they were, and start no run.
import { describe, expect, inject, it } from 'vitest';
import { TidemarkError } from '../../src/errors.js';
import { backfill, planBackfill } from '../../src/api/operations.js';
import { history, lock, planRestore, restore } from '../../src/api/versions.js';
import { listRuns } from '../../src/api/runs.js';
import { applyOrdersFix, builtShop, sharedProject, snapshotState, testEngines, withWorkspace } from '../helpers/project.js';

const REQUEST = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02' };

/** What the call threw, as a plain object (a TidemarkError's code, exit code and guard codes). */
async function refusal(call: Promise<unknown>): Promise<{ code: string; exitCode: number; guards?: string[] }> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof TidemarkError)) throw error;
    const guards = (error.details.guards as { code: string }[] | undefined)?.map((g) => g.code);
    return { code: error.code, exitCode: error.exitCode, ...(guards ? { guards } : {}) };
  }
  throw new Error('expected a refusal, but the call succeeded');
}

const runCount = (dir: string) => withWorkspace(dir, async (ws) => (await listRuns(ws, { limit: 1000 })).length);

describe.each(testEngines(inject('pgUrl')))('a reviewed plan handed back to the library, on $kind', (engine) => {
  const shop = sharedProject(() => builtShop(undefined, undefined, { engine }));

  it('refuses a backfill plan whose partitions were locked after the review, writing nothing', async () => {
    const dir = shop.fresh();
    const plan = await withWorkspace(dir, async (ws) => {
      const reviewed = await planBackfill(ws, REQUEST);
      await lock(ws, { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-10', reason: 'month close' });
      return reviewed;
    });
    expect(plan.guards.filter((g) => g.blocking)).toEqual([]);
    const before = await snapshotState(dir);
    const runs = await runCount(dir);

    const refused = await withWorkspace(dir, (ws) => refusal(backfill(ws, REQUEST, { reason: 'reviewed before the lock' }, plan)));
    expect(refused).toEqual({ code: 'GUARD', exitCode: 3, guards: ['LOCKED'] });
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runs);
  });

  it('refuses a plan of another request than the one named, writing nothing', async () => {
    const dir = shop.fresh();
    const other = await withWorkspace(dir, (ws) => planBackfill(ws, { dataset: 'monthly_revenue', from: '2026-03-01', to: '2026-03-01' }));
    const before = await snapshotState(dir);
    const runs = await runCount(dir);

    const refused = await withWorkspace(dir, (ws) => refusal(backfill(ws, REQUEST, { reason: 'wrong plan' }, other)));
    expect(refused).toEqual({ code: 'CONFIRM', exitCode: 3 });
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runs);
  });

  it('refuses a restore plan whose partitions were locked after the review, writing nothing', async () => {
    const dir = shop.fresh();
    applyOrdersFix(dir, ['2026-03-01']);
    const reviewed = await withWorkspace(dir, async (ws) => {
      const fixed = await backfill(ws, REQUEST, { reason: 'EUR fix' });
      expect(fixed.status).toBe('published');
      const request = { dataset: 'daily_revenue', run: fixed.run_id! };
      const planned = await planRestore(ws, request);
      expect(planned.sources.length).toBeGreaterThan(0);
      await lock(ws, { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-10', reason: 'month close' });
      return { request, planned };
    });
    const before = await snapshotState(dir);
    const runs = await runCount(dir);

    const refused = await withWorkspace(dir, (ws) => refusal(restore(ws, reviewed.request, { reason: 'reviewed before the lock' }, reviewed.planned)));
    expect(refused).toEqual({ code: 'GUARD', exitCode: 3, guards: ['LOCKED'] });
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runs);
  });

  it('still executes a reviewed plan that nothing changed', async () => {
    const dir = shop.fresh();
    applyOrdersFix(dir, ['2026-03-01']);
    const published = await withWorkspace(dir, async (ws) => {
      const plan = await planBackfill(ws, REQUEST);
      const result = await backfill(ws, REQUEST, { reason: 'EUR fix' }, plan);
      expect(result.status).toBe('published');
      return (await history(ws, 'daily_revenue', { partition: '2026-03-01' })).filter((h) => h.current).map((h) => h.version);
    });
    expect(published).toEqual([2]);
  });
});

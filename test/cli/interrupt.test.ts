// Ctrl-C on a one-shot command while its run computes (DuckDB, real processes): the first signal
// cancels the run between tasks — nothing published, computed partitions kept, exit 1 with the
// cancel's error — and re-issuing resumes; a second signal stops at once, leaving the run interrupted
// and resumable. Waits are on the command's own progress lines, never on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cliChild, cliJson, days, projectCopies, requireBuild, snapshotLive, until } from '../helpers/project.js';

const FIX = days('2026-03-01', '2026-03-07');
let base: string;
const copies = projectCopies(() => base);

beforeAll(async () => {
  requireBuild();
  base = await builtShop();
  applyOrdersFix(base, FIX);
}, 300_000);
afterAll(() => {
  copies.removeAll();
  cleanup(base);
});

const computedLines = (text: string) => text.split('\n').filter((l) => / computed$/.test(l)).length;
const backfillArgs = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--reason', 'INC: EUR fix', '--yes'];

/** A throttled backfill in its own project, once `computed` of its tasks were computed, with the live data before it. */
async function backfillUnderWay(computed: number) {
  const dir = copies.fresh();
  const before = await snapshotLive(dir);
  const run = cliChild(dir, [...backfillArgs, '--rate', '60/min']);
  await until(() => computedLines(run.stderr()) >= computed);
  return { dir, before, run };
}

describe('Ctrl-C on a one-shot backfill', () => {
  it('first signal: the run stops between tasks, publishes nothing, exit 1; re-issuing resumes and reuses what was computed', async () => {
    const { dir, before, run } = await backfillUnderWay(2);
    run.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/tidemark: cancelling run r\S+: it stops between tasks/);
    expect(ended.stderr).toMatch(/^error: run r\S+ was cancelled between tasks; nothing was published$/m);
    expect(await snapshotLive(dir)).toEqual(before);

    const resumed = cliJson<{ status: string; reused: number; published: unknown[] }>(dir, backfillArgs);
    expect(resumed.status).toBe('published');
    expect(resumed.reused).toBeGreaterThanOrEqual(2);
    expect(resumed.published.length).toBe(FIX.length);
  });

  it('second signal: stops at once, the run interrupted and resumable', async () => {
    const { dir, before, run } = await backfillUnderWay(1);
    run.kill('SIGINT');
    await until(() => run.stderr().includes('Ctrl-C again to stop at once'));
    run.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(ended.stderr).toMatch(/stopped at once; run r\S+ is interrupted and resumable/);
    expect(await snapshotLive(dir)).toEqual(before);
    expect(cliJson<{ status: string }>(dir, backfillArgs).status).toBe('published');
  });
});

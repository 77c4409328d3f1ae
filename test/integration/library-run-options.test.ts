// RunOptions from a library caller are checked as the CLI checks its flags (`--max-parallel`,
// `--rate`, `--reason`), before anything is written. Unchecked, `maxParallel: NaN` computed no task
// yet recorded the run published, `Infinity` opened connections without end, a `rate` of 0 or below
// ran unthrottled, and a detached backfill was queued with a blank reason.
import { describe, expect, inject, it } from 'vitest';
import { TidemarkError } from '../../src/errors.js';
import { backfill, planBackfill, run } from '../../src/api/operations.js';
import { listRuns } from '../../src/api/runs.js';
import { enqueuePlan } from '../../src/workers/enqueue.js';
import type { RunOptions } from '../../src/execute/run-context.js';
import { applyOrdersFix, builtShop, sharedProject, snapshotState, testEngines, withWorkspace } from '../helpers/project.js';

const REQUEST = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-04' };

async function refusal(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof TidemarkError)) throw error;
    return { code: error.code, message: error.message };
  }
  throw new Error('expected a refusal, but the call succeeded');
}

const runCount = (dir: string) => withWorkspace(dir, async (ws) => (await listRuns(ws, { limit: 1000 })).length);

const BAD: [string, Partial<RunOptions>, RegExp][] = [
  ['maxParallel NaN', { maxParallel: Number.NaN }, /max-parallel.*NaN/],
  ['maxParallel Infinity', { maxParallel: Infinity }, /max-parallel.*Infinity/],
  ['maxParallel 0', { maxParallel: 0 }, /max-parallel.*'0'/],
  ['maxParallel 2.5', { maxParallel: 2.5 }, /max-parallel.*2\.5/],
  ['rate 0', { rate: 0 }, /rate.*'0'/],
  ['rate -1', { rate: -1 }, /rate.*-1/],
  ['rate NaN', { rate: Number.NaN }, /rate.*NaN/],
];

describe.each(testEngines(inject('pgUrl')))('RunOptions from a library caller, on $kind', (engine) => {
  const shop = sharedProject(() => builtShop(undefined, undefined, { engine }));

  it('refuses numbers the CLI would refuse, for backfill and run alike, writing nothing', async () => {
    const dir = shop.fresh();
    applyOrdersFix(dir, ['2026-03-01']);
    const before = await snapshotState(dir);
    const runs = await runCount(dir);
    const refused = await withWorkspace(dir, async (ws) => {
      const out: Record<string, { code: string; message: string }> = {};
      for (const [label, options] of BAD) {
        out[`backfill ${label}`] = await refusal(backfill(ws, REQUEST, { reason: 'EUR fix', ...options }));
        out[`run ${label}`] = await refusal(run(ws, {}, options));
      }
      return out;
    });
    for (const [label, , message] of BAD) {
      for (const call of ['backfill', 'run']) {
        expect(refused[`${call} ${label}`].code, `${call} ${label}`).toBe('USAGE');
        expect(refused[`${call} ${label}`].message, `${call} ${label}`).toMatch(message);
      }
    }
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runs);
  });

  it('still takes sound numbers: one task at a time, at most 600 a minute', async () => {
    const dir = shop.fresh();
    applyOrdersFix(dir, ['2026-03-01']);
    const result = await withWorkspace(dir, (ws) => backfill(ws, REQUEST, { reason: 'EUR fix', maxParallel: 1, rate: 600 }));
    expect(result.status).toBe('published');
    expect(result.published.map((p) => p.partition)).toEqual(['2026-03-01']);
  });

  it.runIf(engine.kind === 'postgres')('refuses to queue a detached backfill with a blank reason, writing nothing', async () => {
    const dir = shop.fresh();
    const before = await snapshotState(dir);
    const runs = await runCount(dir);
    const refused = await withWorkspace(dir, async (ws) => refusal(enqueuePlan(ws, await planBackfill(ws, REQUEST), { reason: ' ' })));
    expect(refused.code).toBe('USAGE');
    expect(refused.message).toMatch(/needs --reason/);
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runs);
  });
});

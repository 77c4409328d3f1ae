// How a wait for a run ends when the run will not publish, told apart by code (library) and said in
// one line (CLI `tidemark wait RUN`), on each engine:
//  - the run failed (a duplicate key): RUN_FAILED, with the run's own error;
//  - the run's process was killed mid-compute: RUN_FAILED at the first look, naming the command that
//    resumes it. Before, nothing was ever going to finish the run and the wait ran out its whole
//    timeout (an hour by default) and then said only that the run was "still computing";
//  - the time ran out while the run goes on: TIMEOUT (both used to be INTERNAL).
import { describe, expect, inject, it } from 'vitest';
import { TidemarkError } from '../../src/errors.js';
import { waitForRun } from '../../src/api/runs.js';
import { applyOrdersFix, builtShop, cli, cliJson, days, readModel, sharedProject, testEngines, withWorkspace, writeModel } from '../helpers/project.js';

const FIX = days('2026-03-01', '2026-03-04');
const BACKFILL = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--reason', 'INC: EUR fix', '--yes'];

/** The error a library wait ends with (it must end in error). */
async function waitError(dir: string, runId: string, timeoutMs: number): Promise<TidemarkError> {
  return withWorkspace(dir, async (ws) => {
    const error = await waitForRun(ws, runId, { timeoutMs, pollMs: 50 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TidemarkError);
    return error as TidemarkError;
  });
}

describe.each(testEngines(inject('pgUrl')))('waiting for a run that will not publish ($kind)', (engine) => {
  const { fresh } = sharedProject(async () => {
    const dir = await builtShop(undefined, undefined, { engine });
    applyOrdersFix(dir, FIX);
    return dir;
  });

  it('a failed run: RUN_FAILED with its error, and `wait` exits 1 saying so', async () => {
    const dir = fresh();
    const model = readModel(dir, 'daily_revenue');
    writeModel(dir, 'daily_revenue', `${model.trim()}\nUNION ALL SELECT * FROM (${model.trim()}) again`);
    const failed = cli(dir, [...BACKFILL, '--json']);
    expect(failed.code).toBe(4);
    const runId = cliJson<{ run_id: string }[]>(dir, ['runs'])[0].run_id;

    const error = await waitError(dir, runId, 10_000);
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'RUN_FAILED', exitCode: 1 });
    expect(error.message).toMatch(new RegExp(`^run ${runId} failed: .*duplicate key`));

    const waited = cli(dir, ['wait', runId, '--timeout', '10']);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(new RegExp(`^error: run ${runId} failed: `, 'm'));
  });

  it('a run whose process was killed: RUN_FAILED at once, naming the command that resumes it; re-issuing it publishes', async () => {
    const dir = fresh();
    const killed = cli(dir, BACKFILL, { env: { TIDEMARK_CRASH_AT: 'task.computed:2' } });
    expect(killed.signal).toBe('SIGKILL');
    const runId = cliJson<{ run_id: string; status: string }[]>(dir, ['runs'])[0].run_id;

    // A timeout the wait must not run out: it ends at its first look.
    const error = await waitError(dir, runId, 600_000);
    expect({ code: error.code, interrupted: error.details.interrupted }).toEqual({ code: 'RUN_FAILED', interrupted: true });
    expect(error.message).toMatch(new RegExp(`^run ${runId} was interrupted: its process \\(pid \\d+\\) ended while the run was computing; nothing of it was published$`));
    expect(error.hint).toContain('backfill daily_revenue --from 2026-03-01 --to 2026-03-04');

    const waited = cli(dir, ['wait', runId, '--json']);
    expect(waited.code).toBe(1);
    expect(JSON.parse(waited.stdout)).toMatchObject({ error: { code: 'RUN_FAILED', exit_code: 1 } });

    const resumed = cliJson<{ run_id: string; status: string }>(dir, BACKFILL);
    expect(resumed).toMatchObject({ run_id: runId, status: 'published' });
    const done = cli(dir, ['wait', runId]);
    expect(done.code, done.stderr).toBe(0);
  });

  // A run that goes on without a process of its own is queued for workers: PostgreSQL only.
  it.skipIf(engine.kind !== 'postgres')('the time runs out while the run goes on: TIMEOUT, exit 1', async () => {
    const dir = fresh();
    const queued = cliJson<{ run_id: string; status: string }>(dir, [...BACKFILL, '--detach']);
    expect(queued.status).toBe('queued');

    const error = await waitError(dir, queued.run_id, 300);
    expect({ code: error.code, exitCode: error.exitCode }).toEqual({ code: 'TIMEOUT', exitCode: 1 });
    expect(error.message).toBe(`run ${queued.run_id} is still queued after 0.3 s`);

    const waited = cli(dir, ['wait', queued.run_id, '--timeout', '0.5', '--json']);
    expect(waited.code).toBe(1);
    expect(JSON.parse(waited.stdout)).toMatchObject({ error: { code: 'TIMEOUT' } });
    cliJson(dir, ['cancel', queued.run_id]);
  });
});

// A failed `tidemark run` that nothing can resume any more leaves `status` (DuckDB and PostgreSQL, real
// CLI). The run failed on one partition; the user fixed the model and repaired the days with a
// backfill; re-issuing `tidemark run`, as status told them, finds nothing to do. Its failed attempt
// can never resume (its tasks are built), so that run dismisses it: cancelled, its error saying what
// superseded it, gone from status's failed runs. A run that still has the same tasks resumes instead.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyOrdersFix, builtShop, cli, cliJson, projectCopies, readModel, requireBuild, testEngines, writeModel } from '../helpers/project.js';

interface RunJson {
  run_id: string | null;
  status: string;
  superseded?: string[];
}

describe.each(testEngines(inject('pgUrl')))('on $kind', (engine) => {
  let base: string;
  const { fresh, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
  }, 300_000);
  afterAll(removeAll);

  /** A project whose orders of 2026-03-05 changed, and whose revenue_7d fails on 2026-03-06; returns the model's good SQL. */
  function failingProject(): { dir: string; good: string } {
    const dir = fresh();
    applyOrdersFix(dir, ['2026-03-05']);
    const good = readModel(dir, 'revenue_7d');
    const failing = good.replace('GROUP BY', "AND CAST(CASE WHEN {{ start }} = DATE '2026-03-06' THEN 'x' ELSE '1' END AS INTEGER) = 1\nGROUP BY");
    expect(failing).not.toBe(good);
    writeModel(dir, 'revenue_7d', failing);
    return { dir, good };
  }

  it('a run re-issued after a backfill repaired what it failed on finds nothing to do and dismisses the failed run', () => {
    const { dir, good } = failingProject();
    const failed = cli(dir, ['run', '--json']);
    expect(failed.code).toBe(2);
    const failedId = JSON.parse(failed.stdout).error.run_id as string;
    expect(cliJson(dir, ['status']).failed_runs.map((r: { run_id: string }) => r.run_id)).toEqual([failedId]);

    writeModel(dir, 'revenue_7d', good);
    expect(cliJson<RunJson>(dir, ['backfill', 'daily_revenue', '--from', '2026-03-05', '--to', '2026-03-05', '--downstream', '--reason', 'INC: fix', '--yes']).status).toBe('published');
    // The backfill did not end the failed run: status still tells the user to re-issue it.
    expect(cliJson(dir, ['status']).failed_runs).toHaveLength(1);

    const again = cli(dir, ['run']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to do: every partition is up to date.');
    expect(again.stdout).toContain(`Dismissed failed run(s) ${failedId}: this run left them nothing to resume`);
    expect(cliJson(dir, ['status']).failed_runs).toEqual([]);
    const dismissed = cliJson<{ run_id: string; status: string; error: string }[]>(dir, ['runs']).find((r) => r.run_id === failedId)!;
    expect(dismissed.status).toBe('cancelled');
    expect(dismissed.error).toMatch(/^superseded: `tidemark run` was issued again and nothing it had left was still to build \(it failed with: models\/revenue_7d\.sql \(revenue_7d 2026-03-06\): /);
    // Once dismissed, a further run has nothing to say about it.
    expect(cliJson<RunJson>(dir, ['run']).superseded).toBeUndefined();
  });

  it('a run re-issued with the same tasks resumes the failed run instead (nothing to dismiss)', () => {
    const { dir, good } = failingProject();
    const failedId = JSON.parse(cli(dir, ['run', '--json']).stdout).error.run_id as string;
    writeModel(dir, 'revenue_7d', good);
    const resumed = cliJson<RunJson>(dir, ['run']);
    expect(resumed).toMatchObject({ run_id: failedId, status: 'published' });
    expect(resumed.superseded).toBeUndefined();
    expect(cliJson(dir, ['status']).failed_runs).toEqual([]);
  });

  it('a run of other datasets leaves the failed run alone: it is not the command that failed', () => {
    const { dir, good } = failingProject();
    const failedId = JSON.parse(cli(dir, ['run', '--json']).stdout).error.run_id as string;
    writeModel(dir, 'revenue_7d', good);
    expect(cliJson<RunJson>(dir, ['run', 'daily_revenue']).superseded).toBeUndefined();
    expect(cliJson(dir, ['status']).failed_runs.map((r: { run_id: string }) => r.run_id)).toEqual([failedId]);
  });
});

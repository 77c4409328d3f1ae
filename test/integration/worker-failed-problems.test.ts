// A detached run computed by real `tidemark worker` processes on PostgreSQL that fails validation
// emits its run.failed outbox event with the validation problems by code, as a one-process run does
// (src/execute/problem-codes.ts): the console's plan route then offers the override that failure
// needs (src/server/overrides.ts), and re-issuing the backfill with it resumes the run and publishes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { call, startServe } from '../e2e/serve-process.js';
import { builtShop, cleanup, cli, cliJson, readModel, requireBuild, withWorkspace, writeModel } from '../helpers/project.js';

const pgUrl = inject('pgUrl');
const skip = !pgUrl;
const title = (name: string) => (skip ? `${name} (skipped: no pgUrl, TIDEMARK_TEST_ENGINES excludes postgres)` : name);

const RANGE = { dataset: 'revenue_7d', from: '2026-03-01', to: '2026-03-02' };
const BACKFILL = ['backfill', RANGE.dataset, '--from', RANGE.from, '--to', RANGE.to, '--reason', 'only USD from now on', '--yes'];

let dir = '';
beforeAll(async () => {
  if (skip) return;
  requireBuild();
  dir = await builtShop(undefined, undefined, { engine: { kind: 'postgres', url: pgUrl } });
  // revenue_7d keeps USD only: 3 rows per day → 1, a shrink beyond guards.max_shrink, found when computed.
  const sql = readModel(dir, 'revenue_7d');
  writeModel(dir, 'revenue_7d', sql.replace('GROUP BY currency', "  AND currency = 'USD'\nGROUP BY currency"));
}, 300_000);
afterAll(() => {
  if (dir) cleanup(dir);
});

/** The project's PostgreSQL schema prefix, for the serve child process (test/helpers/project.ts writes it). */
function pgPrefix(projectDir: string): string {
  return (JSON.parse(readFileSync(path.join(projectDir, '.tidemark', 'test-pg.json'), 'utf8')) as { prefix: string }).prefix;
}

describe('a run failed by workers', () => {
  it.skipIf(skip)(title('its run.failed event lists the validation problems by code, and the console plan offers the override they need'), async () => {
    const queued = cliJson<{ run_id: string; status: string }>(dir, [...BACKFILL, '--detach']);
    expect(queued.status).toBe('queued');
    const worker = cli(dir, ['worker', '--drain']);
    expect(worker.code, worker.stderr).toBe(0);
    expect(worker.stderr).toMatch(/failed revenue_7d 2026-03-0[12]: .*--allow-shrink/);

    const failure = await withWorkspace(dir, async ({ engine }) => {
      const t = (name: string) => engine.dialect.table(engine.stateSchema, name);
      const [run] = await engine.query<{ status: string }>(`SELECT status FROM ${t('runs')} WHERE run_id = $1`, [queued.run_id]);
      expect(run.status).toBe('failed');
      const events = await engine.query<{ payload: string }>(`SELECT payload FROM ${t('outbox')} WHERE run_id = $1 AND event_type = 'run.failed'`, [queued.run_id]);
      expect(events.length).toBe(1);
      return JSON.parse(events[0].payload) as { error: string; failed: { dataset: string; partition: string }[]; problems?: { dataset: string; partition: string; code: string }[] };
    });
    // The worker stops the run at its first failed task: that task's problems, by code, no messages.
    expect(failure.failed).toHaveLength(1);
    const [failed] = failure.failed;
    expect(failure.problems).toEqual([{ dataset: 'revenue_7d', partition: failed.partition, code: 'SHRINK' }]);

    const server = await startServe(dir, { env: { TIDEMARK_PG_SCHEMA_PREFIX: pgPrefix(dir) } });
    try {
      const planned = await call(server, 'POST', '/api/plan/backfill', RANGE, server.token);
      expect(planned.status, JSON.stringify(planned.body)).toBe(200);
      expect(planned.body.overrides).toEqual([
        expect.objectContaining({ flag: 'allow_shrink', option: '--allow-shrink', required: true, message: expect.stringContaining(`run ${queued.run_id}`) }),
      ]);
    } finally {
      await server.stop();
    }

    // Re-issued with the override as the console's action runs it, the same plan resumes the failed run and publishes.
    const resumed = cliJson<{ run_id: string; status: string }>(dir, [...BACKFILL, '--allow-shrink']);
    expect(resumed).toMatchObject({ run_id: queued.run_id, status: 'published' });
    const partitions = cliJson<{ partition: string; rows: number; run_id: string }[]>(dir, ['partitions', RANGE.dataset]);
    for (const day of [RANGE.from, RANGE.to]) expect(partitions.find((p) => p.partition === day)).toMatchObject({ rows: 1, run_id: queued.run_id });
  });
});

// `tidemark ready`: a partition is ready only when it is published, no run in flight holds it, and it is
// not stale, directly (its inputs changed) or transitively (it reads a stale partition), by the same
// rule `tidemark run` plans with. Late data, a cumulative model, `--wait --timeout`, and a detached
// (pid null) run on PostgreSQL. Real CLI subprocesses and the library, on DuckDB and PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readiness } from '../../src/api/consumers.js';
import { buildRunPlan } from '../../src/plan/build.js';
import { loadPlanningState } from '../../src/plan/snapshot.js';
import type { Workspace } from '../../src/workspace.js';
import { addCumulativeModel } from './cumulative-fixture.js';
import { applyOrdersFix, builtShop, cleanup, cli, cliAsync, cliJson, dataFiles, days, requireBuild, scaffoldShop, testEngines, withWorkspace } from '../helpers/project.js';

const LATE = '2026-03-01';
/** revenue_7d d reads daily_revenue d-6..d: a change at LATE reaches revenue_7d LATE..LATE+6. */
const ROLLING = days(LATE, '2026-03-07');

/**
 * Every published model partition: ready exactly when the run plan neither rebuilds it nor skips it as
 * frozen or locked (no run in flight here).
 */
async function readyAgreesWithRunPlan(ws: Workspace): Promise<{ notReady: string[] }> {
  const state = await loadPlanningState(ws.engine, ws.engine);
  const plan = buildRunPlan(ws.project, state);
  const planned = new Set([
    ...plan.tasks.map((t) => `${t.dataset} ${t.partition}`),
    ...plan.guards.filter((g) => g.code === 'SKIPPED_PROTECTED').flatMap((g) => g.partitions.map((p) => `${g.dataset} ${p}`)),
  ]);
  const notReady: string[] = [];
  for (const [dataset, partitions] of state.snapshot) {
    if (ws.project.datasets.get(dataset)?.kind !== 'model') continue;
    for (const partition of partitions.keys()) {
      const r = await readiness(ws, dataset, partition);
      expect(r.ready, `${dataset} ${partition}: ${r.reason}`).toBe(!planned.has(`${dataset} ${partition}`));
      if (!r.ready) notReady.push(`${dataset} ${partition}`);
    }
  }
  return { notReady: notReady.sort() };
}

describe.each(testEngines(inject('pgUrl')))('ready ($kind)', (engine) => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop(undefined, undefined, { engine });
  });
  afterAll(() => cleanup(dir));

  it('late data: the partition it changes and every partition reading it, transitively, are not ready and say why; after `run` all are ready', async () => {
    await withWorkspace(dir, async (ws) => {
      expect((await readyAgreesWithRunPlan(ws)).notReady).toEqual([]);
    });
    applyOrdersFix(dir, [LATE]); // a late file for an old day: orders LATE becomes version 2

    await withWorkspace(dir, async (ws) => {
      const direct = await readiness(ws, 'daily_revenue', LATE);
      expect(direct).toMatchObject({ ready: false, version: 1, held_by: [] });
      expect(direct.reason).toBe(`daily_revenue ${LATE} is stale: orders ${LATE} changed v1 → v2; run \`tidemark run\` to rebuild`);
      expect(direct.stale_because).toEqual({
        dataset: 'daily_revenue',
        partition: LATE,
        missing: false,
        changes: [{ upstream: 'orders', partition: LATE, from: 1, to: 2 }],
        replay_requested: false,
        via: [],
        protected_from_run: null,
      });

      // Transitively stale: their own inputs (daily_revenue versions) did not change yet.
      for (const [dataset, partition] of [...ROLLING.map((d) => ['revenue_7d', d]), ['monthly_revenue', '2026-03-01']]) {
        const r = await readiness(ws, dataset, partition);
        expect(r.ready, `${dataset} ${partition}`).toBe(false);
        expect(r.reason).toBe(`${dataset} ${partition} is stale: it reads daily_revenue ${LATE}, which is stale: orders ${LATE} changed v1 → v2; run \`tidemark run\` to rebuild`);
        expect(r.stale_because).toMatchObject({ dataset: 'daily_revenue', partition: LATE, via: [] });
      }
      // Exactly those: the same partitions `tidemark run` would rebuild, and no others.
      const { notReady } = await readyAgreesWithRunPlan(ws);
      expect(notReady).toEqual([`daily_revenue ${LATE}`, 'monthly_revenue 2026-03-01', ...ROLLING.map((d) => `revenue_7d ${d}`)].sort());
    });

    // The CLI: exit 3 with the reason, --json with its shape plus stale_because.
    const text = cli(dir, ['ready', 'revenue_7d', '--partition', ROLLING[3]]);
    expect(text.code).toBe(3);
    expect(text.stderr).toContain(`error: not ready: revenue_7d ${ROLLING[3]} is stale: it reads daily_revenue ${LATE}, which is stale: orders ${LATE} changed v1 → v2`);
    const json = cli(dir, ['ready', 'daily_revenue', '--partition', LATE, '--json']);
    expect(json.code).toBe(3);
    const parsed = JSON.parse(json.stdout);
    expect(Object.keys(parsed)).toEqual(['dataset', 'partition', 'ready', 'version', 'publish_seq', 'reason', 'held_by', 'stale_because']);
    expect(parsed).toMatchObject({ dataset: 'daily_revenue', partition: LATE, ready: false, stale_because: { dataset: 'daily_revenue', partition: LATE } });

    cliJson(dir, ['run']);
    await withWorkspace(dir, async (ws) => {
      expect(await readiness(ws, 'daily_revenue', LATE)).toMatchObject({ ready: true, version: 2, reason: null, stale_because: null });
      expect(await readiness(ws, 'revenue_7d', ROLLING[6])).toMatchObject({ ready: true, version: 2 });
      expect((await readyAgreesWithRunPlan(ws)).notReady).toEqual([]);
    });
    expect(cli(dir, ['ready', 'revenue_7d', '--partition', ROLLING[3]]).code).toBe(0);
  });

  it('--wait --timeout: exits 3 when still stale at the deadline; keeps waiting while stale and exits 0 once `run` rebuilt it', async () => {
    const day = '2026-03-10';
    applyOrdersFix(dir, [day]);
    const timedOut = cli(dir, ['ready', 'revenue_7d', '--partition', day, '--wait', '--timeout', '1']);
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toContain(`error: not ready: revenue_7d ${day} is stale: it reads daily_revenue ${day}`);
    expect(timedOut.stderr).toContain('hint: still not ready after 1 s');

    let runStarted = false;
    let exitedBeforeRun: boolean | null = null;
    const waiting = cliAsync(dir, ['ready', 'revenue_7d', '--partition', day, '--wait', '--timeout', '300']).then((r) => ((exitedBeforeRun = !runStarted), r));
    runStarted = true;
    // --wait: on DuckDB the poller opens the project file now and then; `run` waits for it rather than failing.
    const run = await cliAsync(dir, ['run', '--wait', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const ready = await waiting;
    expect(ready.code, ready.stderr).toBe(0);
    expect(exitedBeforeRun).toBe(false);
    expect(ready.stdout).toContain(`ready: revenue_7d ${day} (version 2)`);
  });

  it('a stale partition that is locked is not ready and says `run` leaves it; what reads it follows the run plan (not rebuilt: ready)', async () => {
    const day = '2026-03-05';
    expect(cli(dir, ['lock', 'daily_revenue', '--from', day, '--to', day, '--reason', 'under review']).code).toBe(0);
    applyOrdersFix(dir, [day]);
    await withWorkspace(dir, async (ws) => {
      const locked = await readiness(ws, 'daily_revenue', day);
      expect(locked).toMatchObject({ ready: false, stale_because: { dataset: 'daily_revenue', partition: day, protected_from_run: 'locked' } });
      expect(locked.reason).toBe(`daily_revenue ${day} is stale: orders ${day} changed v1 → v2; daily_revenue ${day} is locked, so \`tidemark run\` leaves it stale: \`tidemark unlock daily_revenue …\`, then \`tidemark run\``);
      expect((await readyAgreesWithRunPlan(ws)).notReady).toEqual([`daily_revenue ${day}`]);
    });
    expect(cli(dir, ['unlock', 'daily_revenue', '--from', day, '--to', day, '--reason', 'reviewed']).code).toBe(0);
    await withWorkspace(dir, async (ws) => {
      expect(await readiness(ws, 'revenue_7d', '2026-03-06')).toMatchObject({ ready: false, stale_because: { dataset: 'daily_revenue', partition: day, protected_from_run: null } });
    });
    cliJson(dir, ['run']);
    await withWorkspace(dir, async (ws) => {
      expect((await readyAgreesWithRunPlan(ws)).notReady).toEqual([]);
    });
  });

  it.skipIf(engine.kind !== 'postgres')('a detached run (pid null, computed by workers) holds its partitions until it ends', async () => {
    const day = '2026-03-12';
    const queued = cli(dir, ['backfill', 'daily_revenue', '--from', day, '--to', day, '--downstream', '--reason', 'detached', '--yes', '--detach', '--json']);
    expect(queued.code, queued.stderr).toBe(0);
    const runId = (JSON.parse(queued.stdout) as { run_id: string }).run_id;
    await withWorkspace(dir, async (ws) => {
      const [run] = await ws.engine.query<{ pid: number | null; status: string }>(`SELECT pid, status FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'runs')} WHERE run_id = $1`, [runId]);
      expect(run).toEqual({ pid: null, status: 'queued' });
      expect(await readiness(ws, 'daily_revenue', day)).toMatchObject({ ready: false, held_by: [runId], reason: `daily_revenue ${day} is being rebuilt by run ${runId}` });
      expect(await readiness(ws, 'revenue_7d', '2026-03-14')).toMatchObject({ ready: false, held_by: [runId] });
      expect(await readiness(ws, 'daily_revenue', '2026-03-11')).toMatchObject({ ready: true });
    });
    const held = cli(dir, ['ready', 'daily_revenue', '--partition', day, '--wait', '--timeout', '0']);
    expect(held.code).toBe(3);
    expect(held.stderr).toContain(`is being rebuilt by run ${runId}`);

    expect(cli(dir, ['cancel', runId]).code).toBe(0);
    await withWorkspace(dir, async (ws) => {
      expect(await readiness(ws, 'daily_revenue', day)).toMatchObject({ ready: true, held_by: [] });
    });
  });
});

/**
 * The environment the CLI helper gives a project's commands: on PostgreSQL, the project's own schema
 * prefix, which test/helpers/project.ts keeps in .tidemark/test-pg.json (its `cli` blocks, and this
 * test needs a command running while another one runs).
 */

// A cumulative model (depends_on_past): partition d reads its own d-1, so a change at d makes every
// later partition stale. `ready` then reads the datasets it depends on whole (partitionsReadTransitively
// returns null): the same answers as the run plan.
describe('ready with a cumulative model (duckdb)', () => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop();
    addCumulativeModel(dir);
    cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
    cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
    cliJson(dir, ['run']);
  });
  afterAll(() => cleanup(dir));

  it('a late file at d makes every later cumulative partition not ready, through daily_revenue d and the cumulative chain', async () => {
    applyOrdersFix(dir, [LATE]);
    await withWorkspace(dir, async (ws) => {
      const { notReady } = await readyAgreesWithRunPlan(ws);
      expect(notReady.filter((p) => p.startsWith('cumulative_revenue '))).toEqual(days(LATE, '2026-03-16').map((d) => `cumulative_revenue ${d}`));
      expect(await readiness(ws, 'cumulative_revenue', '2026-02-28')).toMatchObject({ ready: true });
      const later = await readiness(ws, 'cumulative_revenue', '2026-03-03');
      expect(later.stale_because).toMatchObject({ dataset: 'daily_revenue', partition: LATE, changes: [{ upstream: 'orders', partition: LATE, from: 1, to: 2 }] });
      expect(later.reason).toMatch(new RegExp(`^cumulative_revenue 2026-03-03 is stale: it reads .*daily_revenue ${LATE}, which is stale: orders ${LATE} changed v1 → v2`));
    });
    cliJson(dir, ['run']);
    await withWorkspace(dir, async (ws) => {
      expect((await readyAgreesWithRunPlan(ws)).notReady).toEqual([]);
    });
  });
});

// The scheduler inside one process, through the library on a real DuckDB file (issue 7): production
// tasks submitted during a backfill start before the backfill's remaining tasks; a backfill outside
// its window makes no progress and resumes inside it; a rate spaces its tasks. Time is a manual clock
// (the run's `clock` test hook: InternalRunOptions).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfill, run } from '../../src/api/operations.js';
import type { TidemarkEvent } from '../../src/events.js';
import type { InternalRunOptions } from '../../src/execute/run-context.js';
import { ManualClock } from '../../src/scheduler/manual-clock.js';
import { ProcessScheduler } from '../../src/scheduler/scheduler.js';
import { getRun, listTasks } from '../../src/state/runs.js';
import { requestCancelByMarker } from '../../src/scheduler/cancel.js';
import { openWorkspace, type Workspace } from '../../src/workspace.js';
import { applyOrdersFix, builtShop, cleanup, copyProject, days, requireBuild } from '../helpers/project.js';

let base: string;
const made: string[] = [];
const open: Workspace[] = [];

async function fresh(): Promise<Workspace> {
  const dir = copyProject(base);
  made.push(dir);
  return openIn(dir);
}
async function openIn(dir: string): Promise<Workspace> {
  const ws = await openWorkspace(dir, { actor: 'test', command: 'test' });
  open.push(ws);
  return ws;
}

/** Every event with the manual clock's time when it happened. */
function record(ws: Workspace, clock?: ManualClock): (TidemarkEvent & { at: number })[] {
  const events: (TidemarkEvent & { at: number })[] = [];
  ws.events.on((e) => events.push({ ...e, at: clock?.now() ?? 0 }));
  return events;
}

/** Resolves when `predicate` holds, checking after each event loop turn (no timing involved). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 5));
}

const local = (h: number, m = 0) => new Date(2026, 5, 1, h, m).getTime();

beforeAll(async () => {
  requireBuild();
  base = await builtShop();
}, 300_000);
afterAll(async () => {
  for (const ws of open) await ws.close();
  cleanup(base, ...made);
});

describe('scheduler priority', () => {
  it('with one shared slot, production tasks submitted during a backfill start before its remaining tasks', async () => {
    const seed = copyProject(base);
    made.push(seed);
    // Production has real work: corrected orders for the last five days make five days of models stale.
    applyOrdersFix(seed, days('2026-03-12', '2026-03-16'));
    const ws = await openIn(seed);
    const events = record(ws);
    const scheduler = new ProcessScheduler(ws.project.pools, ws.engine, { capacity: 1 });
    let contended = false;
    scheduler.slots.onChange(() => {
      const u = Object.fromEntries(scheduler.slots.usage().map((x) => [x.pool, x]));
      if (u.production.running > 0 && u.backfill.waiting > 0) contended = true;
    });

    // The backfill is held between tasks by a rate on a manual clock, so production arrives mid-way.
    const clock = new ManualClock(local(12));
    const backfillOptions: InternalRunOptions = { reason: 'priority test', rate: 60, clock, scheduler };
    const bf = backfill(ws, { dataset: 'daily_revenue', from: '2026-02-15', to: '2026-03-05' }, backfillOptions);
    await until(() => events.some((e) => e.type === 'task.finished' && e.status === 'computed') && clock.sleeping > 0);
    const runOptions: Partial<InternalRunOptions> = { scheduler };
    const prod = run(ws, {}, runOptions);
    await until(() => events.some((e) => e.type === 'run.started' && e.kind === 'run'));
    const prodStart = events.find((e) => e.type === 'run.started' && e.kind === 'run') as { run_id: string };
    const prodRun = prodStart.run_id;
    await until(() => events.some((e) => e.type === 'task.started' && e.run_id === prodRun));
    clock.advance(3_600_000); // the backfill may start its next task now: it must wait for production
    const prodResult = await prod;
    // Let the backfill run out its rate with time jumps.
    const ticker = setInterval(() => clock.advance(60_000), 2);
    const bfResult = await bf.finally(() => clearInterval(ticker));

    expect(prodResult.status).toBe('published');
    expect(bfResult.status).toBe('published');
    expect(contended).toBe(true); // the backfill really waited for a slot production held
    const started = events.filter((e) => e.type === 'task.started');
    const firstProd = started.findIndex((e) => e.run_id === prodRun);
    const lastProdFinished = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'task.finished' && e.run_id === prodRun).pop()!.i;
    const backfillStartsDuringProduction = events
      .map((e, i) => ({ e, i }))
      .filter(({ e, i }) => e.type === 'task.started' && e.run_id !== prodRun && i > events.indexOf(started[firstProd]) && i < lastProdFinished);
    expect(backfillStartsDuringProduction).toEqual([]);
    const backfillRun = bfResult.run_id!;
    expect(started.filter((e) => e.run_id === backfillRun).length).toBeGreaterThan(1);
    expect((await listTasks(ws.engine, ws.engine, backfillRun)).every((t) => t.status === 'published' || t.status === 'unchanged')).toBe(true);
  });
});

describe('scheduler throttling', () => {
  it('a backfill outside its window makes no progress, and resumes inside it', async () => {
    const ws = await fresh();
    const clock = new ManualClock(local(12));
    const events = record(ws, clock);
    const options: InternalRunOptions = { reason: 'window test', window: '22:00-06:00', clock };
    const result = backfill(ws, { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-07' }, options);
    await until(() => events.some((e) => e.type === 'run.paused'));
    const runId = (events.find((e) => e.type === 'run.started') as { run_id: string }).run_id;
    clock.set(local(21, 30)); // still outside: it wakes, looks, and waits again
    await clock.nextSleep(true);
    expect(events.filter((e) => e.type === 'task.started')).toEqual([]);
    expect((await listTasks(ws.engine, ws.engine, runId)).map((t) => t.status)).toEqual(Array(7).fill('pending'));
    expect(events.find((e) => e.type === 'run.paused')).toMatchObject({ reason: 'outside window 22:00-06:00; resumes at 22:00' });

    clock.set(local(22, 5));
    const done = await result;
    expect(done.status).toBe('published');
    const starts = events.filter((e) => e.type === 'task.started');
    expect(starts).toHaveLength(7);
    expect(starts.every((e) => e.at >= local(22))).toBe(true);
  });

  it('a rate spaces the starts of tasks; progress stops while the clock does not move', async () => {
    const ws = await fresh();
    const clock = new ManualClock(local(12));
    const events = record(ws, clock);
    const options: InternalRunOptions = { reason: 'rate test', rate: 2, clock };
    const result = backfill(ws, { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-03' }, options);
    const started = () => events.filter((e) => e.type === 'task.started').length;
    await until(() => started() === 1 && clock.sleeping > 0);
    clock.advance(10_000);
    await clock.nextSleep(true);
    expect(started()).toBe(1);
    clock.advance(20_000); // 30 s after the first start: 2/min allows the second
    await until(() => started() === 2 && clock.sleeping > 0);
    clock.advance(30_000);
    const done = await result;
    expect(done.status).toBe('published');
    expect(events.filter((e) => e.type === 'task.started').map((e) => e.at - local(12))).toEqual([0, 30_000, 60_000]);
    expect(events.filter((e) => e.type === 'run.paused').map((e) => (e as { reason: string }).reason)).toEqual(['throttled to 2/min']);
  });
});

describe('cancel', () => {
  it('a cancel marker (left when a one-shot command holds the file) stops the run between tasks; re-issuing resumes it', async () => {
    const ws = await fresh();
    const clock = new ManualClock(local(12));
    const events = record(ws, clock);
    const request = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-07' };
    const options: InternalRunOptions = { reason: 'cancel test', rate: 1, clock };
    const first = backfill(ws, request, options);
    await until(() => events.filter((e) => e.type === 'task.finished').length === 1 && clock.sleeping > 0);
    const runId = (events.find((e) => e.type === 'run.started') as { run_id: string }).run_id;
    requestCancelByMarker(ws.project, runId);
    clock.advance(1000); // the throttle wakes, sees the request, and stops
    await expect(first).rejects.toMatchObject({ code: 'CANCELLED' });
    expect((await getRun(ws.engine, ws.engine, runId))!.status).toBe('cancelled');
    const outbox = await ws.engine.query<{ event_type: string }>(`SELECT event_type FROM tidemark.outbox WHERE run_id = $1 ORDER BY event_id`, [runId]);
    expect(outbox.map((r) => r.event_type)).toEqual(['run.started', 'run.cancelled']);
    expect((await listTasks(ws.engine, ws.engine, runId)).filter((t) => t.status === 'computed')).toHaveLength(1);

    const again = await backfill(ws, request, { reason: 'cancel test' });
    expect(again.run_id).toBe(runId);
    expect(again.status).toBe('published');
    expect(again.reused).toBe(1);
  });
});

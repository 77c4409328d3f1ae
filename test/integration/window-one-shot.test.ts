// Failure mode 6, one-shot commands on DuckDB: no command that starts a run (backfill, run, restore,
// ingest, dedupe) holds the database while it waits for its run window. Started outside its window,
// the real CLI waits with the project closed (another process runs `status`, `ingest` and `run`
// meanwhile), completes when the window opens, and a SIGTERM ends it having written nothing. When the
// window closes mid-run, the run stops between tasks, the project is released, and the run resumes in
// the next window reusing what it computed; a cancel or a refusal while it waits leaves the published
// state unchanged. Time is a manual clock (in another process: a clock file, TIDEMARK_TEST_CLOCK_FILE);
// nothing sleeps for real minutes.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { backfill, run } from '../../src/api/operations.js';
import type { RunResult } from '../../src/execute/executor.js';
import type { TidemarkEvent } from '../../src/events.js';
import { ManualClock } from '../../src/scheduler/manual-clock.js';
import { oneShotAttempt, runInWindowAttempts, windowPolicy, type WindowWait } from '../../src/scheduler/window-attempts.js';
import { getRun, listTasks } from '../../src/state/runs.js';
import { openWorkspace, type Workspace } from '../../src/workspace.js';
import {
  applyOrdersFix,
  builtShop,
  cleanup,
  cli,
  cliChild,
  until,
  cliJson,
  days,
  sharedProject,
  scaffoldShop,
  snapshotLive,
  snapshotState,
  testEngines,
  withWorkspace,
  writeOrdersFix,
} from '../helpers/project.js';

const { fresh } = sharedProject(() => builtShop());

const local = (h: number, m = 0) => new Date(2026, 5, 1, h, m).getTime();
const RANGE = days('2026-03-01', '2026-03-07');
const REQUEST = { dataset: 'daily_revenue', from: RANGE[0], to: RANGE[6] };

/** Resolves when `predicate` holds, checking after each event loop turn (no timing involved). */

/** A daily window that is closed now and for the next two hours (local time). */
function windowClosedNow(): string {
  const hhmm = (ms: number) => new Date(ms).toTimeString().slice(0, 5);
  return `${hhmm(Date.now() + 2 * 3_600_000)}-${hhmm(Date.now() + 3 * 3_600_000)}`;
}

describe('a one-shot backfill started outside its window (the CLI)', () => {
  it('waits with the project closed: another process runs status, ingest and run; SIGTERM ends it having written nothing', async () => {
    const dir = fresh();
    const window = windowClosedNow();
    const bf = cliChild(dir, ['backfill', 'daily_revenue', '--from', RANGE[0], '--to', RANGE[6], '--reason', 'window test', '--yes', '--window', window, '--json']);
    const waitingLine = () => bf.stderr().split('\n').find((l) => l.startsWith('{'));
    await until(() => waitingLine() !== undefined);
    expect(JSON.parse(waitingLine()!)).toEqual({ status: 'waiting', reason: 'outside_window', window, opens_at: expect.any(String), run_id: null });

    // Production works on the same project while the backfill waits: reads, an ingest and a run.
    expect(cli(dir, ['status', '--json']).code).toBe(0);
    applyOrdersFix(dir, days('2026-03-10', '2026-03-11'));
    const prod = cliJson(dir, ['run']);
    expect(prod.status).toBe('published');
    expect(prod.published.length).toBeGreaterThan(0);

    const before = await snapshotState(dir);
    bf.kill('SIGTERM');
    const stopped = await bf.done;
    expect(stopped.code).toBe(1);
    // No run result on stdout: only the --json error object.
    expect(JSON.parse(stopped.stdout)).toEqual({ error: { code: 'CANCELLED', message: 'stopped while waiting for the run window; nothing was started', hint: expect.any(String), exit_code: 1 } });
    expect(stopped.stderr).toMatch(/^error: stopped while waiting for the run window; nothing was started$/m);
    expect(await snapshotState(dir)).toEqual(before);
    expect(cliJson<{ kind: string }[]>(dir, ['runs']).filter((r) => r.kind === 'backfill')).toEqual([]);
  }, 120_000);
});

/** The time of the clock file a child CLI reads (TIDEMARK_TEST_CLOCK_FILE); `set` moves it. */
interface ClockFile {
  file: string;
  set(ms: number): void;
}

function clockFile(dir: string, ms: number): ClockFile {
  const file = path.join(dir, '.tidemark', 'test-clock');
  // Written whole, then renamed: the child never reads a half-written time.
  const set = (t: number) => {
    writeFileSync(`${file}.tmp`, String(t));
    renameSync(`${file}.tmp`, file);
  };
  set(ms);
  return { file, set };
}

/** Gives the backfill pool (restore, dedupe) and a `nightly` pool the run window 22:00-06:00. */
function windowedPools(dir: string): void {
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8');
  const pools = '  backfill: { slots: 1, priority: 1, threads: 1 }\n';
  expect(yaml).toContain(pools);
  writeFileSync(file, yaml.replace(pools, '  backfill: { slots: 1, priority: 1, threads: 1, window: "22:00-06:00" }\n  nightly: { slots: 2, priority: 5, window: "22:00-06:00" }\n'));
}

/** The first JSON line a waiting CLI child wrote on stderr, once there is one. */
async function waitingLine(child: { stderr: () => string }): Promise<WindowWait> {
  const line = () => child.stderr().split('\n').find((l) => l.startsWith('{'));
  await until(() => line() !== undefined);
  return JSON.parse(line()!) as WindowWait;
}

describe('every one-shot command that starts a run waits for its window with the project closed (the CLI)', () => {
  it('`run` in a windowed pool, started outside its window: status and ingest work meanwhile; it plans and publishes when the window opens', async () => {
    const dir = fresh();
    windowedPools(dir);
    const first = days('2026-03-02', '2026-03-03');
    const later = days('2026-03-10', '2026-03-10');
    applyOrdersFix(dir, first); // stale models: the run has work
    const clock = clockFile(dir, local(12));
    const child = cliChild(dir, ['run', '--pool', 'nightly', '--json'], { env: { TIDEMARK_TEST_CLOCK_FILE: clock.file } });
    expect(await waitingLine(child)).toEqual({ status: 'waiting', reason: 'outside_window', window: '22:00-06:00', opens_at: new Date(local(22)).toISOString(), run_id: null });

    // The project is not held: reads and a production ingest from other processes.
    expect(cli(dir, ['status', '--json']).code).toBe(0);
    applyOrdersFix(dir, later);
    expect(cliJson<{ kind: string }[]>(dir, ['runs']).filter((r) => r.kind === 'run')).toHaveLength(1); // builtShop's own

    clock.set(local(22, 5));
    const done = await child.done;
    expect(done.code, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as RunResult;
    expect(result.status).toBe('published');
    // It planned when the window opened: the partitions ingested while it waited are in its run.
    const revenue = result.published.filter((p) => p.dataset === 'daily_revenue').map((p) => p.partition);
    expect(revenue.sort()).toEqual([...first, ...later]);
    const runs = cliJson<{ run_id: string; kind: string; status: string; pool: string }[]>(dir, ['runs']).filter((r) => r.kind === 'run');
    expect(runs.find((r) => r.run_id === result.run_id)).toMatchObject({ pool: 'nightly', status: expect.stringMatching(/^(published|complete)$/) });
    expect(cliJson(dir, ['run']).status).toBe('noop');
  }, 120_000);

  it('`run` started outside its window and stopped (SIGTERM) writes nothing', async () => {
    const dir = fresh();
    windowedPools(dir);
    applyOrdersFix(dir, days('2026-03-02', '2026-03-03'));
    const before = await snapshotState(dir);
    const runsBefore = cliJson<unknown[]>(dir, ['runs']);
    const clock = clockFile(dir, local(12));
    const child = cliChild(dir, ['run', '--pool', 'nightly'], { env: { TIDEMARK_TEST_CLOCK_FILE: clock.file } });
    await until(() => child.stderr().includes('tidemark: outside window 22:00-06:00: the run starts at 22:00'));
    expect(cli(dir, ['status']).code).toBe(0);
    child.kill('SIGTERM');
    const stopped = await child.done;
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toBe('');
    expect(stopped.stderr).toMatch(/^error: stopped while waiting for the run window; nothing was started$/m);
    expect(await snapshotState(dir)).toEqual(before);
    expect(cliJson<unknown[]>(dir, ['runs'])).toEqual(runsBefore);
  }, 120_000);

  it('`restore` in the windowed backfill pool, started outside its window: it waits confirmed, then restores when the window opens', async () => {
    const dir = fresh();
    windowedPools(dir);
    const fixed = days('2026-03-04', '2026-03-06');
    const liveBefore = (await snapshotLive(dir)).orders;
    const fix = cliJson<{ run_id: string }>(dir, ['ingest', 'orders', ...writeOrdersFix(dir, fixed)]);
    expect((await snapshotLive(dir)).orders).not.toEqual(liveBefore);
    const clock = clockFile(dir, local(12));
    const child = cliChild(dir, ['restore', 'orders', '--run', fix.run_id, '--reason', 'undo the fix', '--yes'], { env: { TIDEMARK_TEST_CLOCK_FILE: clock.file } });
    await until(() => child.stderr().includes('tidemark: outside window 22:00-06:00: the restore starts at 22:00'));
    expect(child.stdout()).toContain('  restores 2026-03-04'); // the plan it confirmed
    expect(cli(dir, ['status']).code).toBe(0);

    clock.set(local(22, 5));
    const done = await child.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout.match(/ {2}restores /g)).toHaveLength(1); // not shown (nor asked) again after the wait
    expect((await snapshotLive(dir)).orders).toEqual(liveBefore);
    const restores = cliJson<{ kind: string; status: string }[]>(dir, ['runs']).filter((r) => r.kind === 'restore');
    expect(restores.map((r) => r.status)).toEqual([expect.stringMatching(/^(published|complete)$/)]);
  }, 120_000);
});

/**
 * A command through the same pieces as the CLI (the attempts loop around a fresh workspace per
 * attempt, the executor's check before a run starts, the task gate), on a manual clock: one task a
 * minute from 05:58 in the window 22:00-06:00, so it computes two partitions and finds the window
 * closed at 06:00. `command` is what the CLI command would call (backfill, run).
 */
function windowed(dir: string, command: (ws: Workspace, options: { reason: string; rate: number; clock: ManualClock }) => Promise<RunResult>) {
  const clock = new ManualClock(local(5, 58));
  const events: TidemarkEvent[] = [];
  const waits: WindowWait[] = [];
  let opens = 0;
  const open = async <R>(fn: (ws: Workspace) => Promise<R>): Promise<R> => {
    const ws = await openWorkspace(dir, { actor: 'test', command: 'test command' });
    opens++;
    const off = ws.events.on((e) => events.push(e));
    try {
      return await fn(ws);
    } finally {
      off();
      await ws.close();
    }
  };
  const result = runInWindowAttempts((ws) => command(ws, { reason: 'window test', rate: 1, clock }), { open, clock, waiting: (w) => waits.push(w) });
  let settled = false;
  void result.then(
    () => (settled = true),
    () => (settled = true),
  );
  const computed = () => events.filter((e) => e.type === 'task.finished' && e.status === 'computed');
  return {
    clock,
    events,
    waits,
    result,
    opens: () => opens,
    /** Runs the command until the window closes after two computed partitions; returns its run id. */
    async untilWaiting(): Promise<string> {
      await until(() => computed().length === 1 && clock.sleeping > 0);
      clock.advance(60_000);
      await until(() => computed().length === 2 && clock.sleeping > 0);
      clock.advance(60_000); // 06:00: the window is closed
      await until(() => waits.length === 1);
      return (events.find((e) => e.type === 'run.started') as { run_id: string }).run_id;
    },
    /** Moves time one minute whenever the run waits for its rate, until it ends. */
    async driveToEnd(): Promise<void> {
      while (!settled) {
        await until(() => settled || clock.sleeping > 0);
        if (!settled) clock.advance(60_000);
      }
    },
  };
}

const windowedBackfill = (dir: string) => windowed(dir, (ws, options) => backfill(ws, REQUEST, { ...options, window: '22:00-06:00' }));

/** A project whose `nightly` pool has a window, with the upstream fix ingested: a windowed `run` there has work to do. */
function nightlyProject(): string {
  const dir = fresh();
  windowedPools(dir);
  applyOrdersFix(dir, RANGE);
  return dir;
}

/** `run` in the windowed `nightly` pool, on the manual clock. */
const windowedRun = (dir: string) => windowed(dir, (ws, options) => run(ws, {}, { ...options, pool: 'nightly' }));

describe('the window closes mid-run (DuckDB, one-shot)', () => {
  it('stops between tasks, releases the project while it waits, then resumes in the next window and publishes exactly the plan, reusing what it computed', async () => {
    const dir = fresh();
    applyOrdersFix(dir, RANGE); // corrected orders: the backfill has real changes to publish
    const bf = windowedBackfill(dir);
    const runId = await bf.untilWaiting();
    expect(bf.waits).toEqual([{ status: 'waiting', reason: 'outside_window', window: '22:00-06:00', opens_at: new Date(local(22)).toISOString(), run_id: runId }]);

    // Another process opens the project while the backfill waits: it reads and writes.
    const runs = cliJson<{ run_id: string; status: string; tasks: { computed: number; total: number } }[]>(dir, ['runs']);
    expect(runs.find((r) => r.run_id === runId)).toMatchObject({ status: 'computing', tasks: { computed: 2, total: 7 } });
    // The waiting run holds no partition: its range shows as stale, not building.
    const states = cliJson<{ partition: string; state: string }[]>(dir, ['partitions', 'daily_revenue']).filter((p) => RANGE.includes(p.partition));
    expect(states.map((p) => p.state)).toEqual(Array(7).fill('stale'));
    expect(cli(dir, ['status', '--json']).code).toBe(0);
    expect(cliJson(dir, ['run', 'revenue_7d']).status).toBe('noop'); // production run: opens, plans, nothing of its own to do
    applyOrdersFix(dir, days('2026-03-12', '2026-03-13')); // a production write (ingest) outside the backfill's range
    // `tidemark wait RUN` from another process: the run's process lives, so the wait goes on, and it
    // opens the project only for each look, so it never keeps the resuming backfill out of the file.
    const waiting = cliChild(dir, ['wait', runId, '--timeout', '300']);
    await until(() => /computing/.test(waiting.stderr()) || waiting.child.exitCode !== null);
    expect(waiting.child.exitCode, waiting.stderr()).toBeNull();

    bf.clock.set(local(22, 5));
    await bf.driveToEnd();
    const done = await bf.result;
    expect(done).toMatchObject({ status: 'published', run_id: runId, reused: 2 });
    const waited = await waiting.done;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(new RegExp(`^Run ${runId} (published|complete) \\(publish \\d+\\)\\.$`, 'm'));
    expect(bf.opens()).toBe(2);
    expect(done.published.map((p) => `${p.dataset}/${p.partition}`).sort()).toEqual(RANGE.map((d) => `daily_revenue/${d}`));
    // Every partition was computed exactly once over the two attempts.
    const started = bf.events.filter((e) => e.type === 'task.started').map((e) => (e as { partition: string }).partition);
    expect([...started].sort()).toEqual(RANGE);
    await withWorkspace(dir, async (ws) => {
      expect((await listTasks(ws.engine, ws.engine, runId)).map((t) => t.status)).toEqual(Array(7).fill('published'));
      expect(['published', 'complete']).toContain((await getRun(ws.engine, ws.engine, runId))!.status);
    });
  }, 120_000);

  it('`run` in a windowed pool: stops between tasks, releases the project (status and runs from other processes), resumes the same run', async () => {
    const dir = nightlyProject();
    const w = windowedRun(dir);
    const runId = await w.untilWaiting();
    expect(w.waits).toEqual([{ status: 'waiting', reason: 'outside_window', window: '22:00-06:00', opens_at: new Date(local(22)).toISOString(), run_id: runId }]);
    const runs = cliJson<{ run_id: string; status: string; tasks: { computed: number; total: number } }[]>(dir, ['runs']);
    const waiting = runs.find((r) => r.run_id === runId)!;
    expect(waiting).toMatchObject({ status: 'computing', tasks: { computed: 2 } });
    expect(waiting.tasks.total).toBeGreaterThan(2);
    expect(cli(dir, ['status', '--json']).code).toBe(0);

    w.clock.set(local(22, 5));
    await w.driveToEnd();
    const done = await w.result;
    expect(done).toMatchObject({ status: 'published', run_id: runId, reused: 2 });
    expect(w.opens()).toBe(2);
    expect(done.published.filter((p) => p.dataset === 'daily_revenue').map((p) => p.partition).sort()).toEqual(RANGE);
    expect(cliJson(dir, ['run']).status).toBe('noop');
  }, 120_000);

  it('a `run` whose plan changed while it waited (an ingest meanwhile) starts the new plan and cancels the run it replaces', async () => {
    const dir = nightlyProject();
    const w = windowedRun(dir);
    const stoppedRun = await w.untilWaiting();
    applyOrdersFix(dir, days('2026-03-12', '2026-03-12')); // production loads more data meanwhile

    w.clock.set(local(22, 5));
    await w.driveToEnd();
    const done = await w.result;
    expect(done.status).toBe('published');
    expect(done.run_id).not.toBe(stoppedRun);
    expect(done.published.filter((p) => p.dataset === 'daily_revenue').map((p) => p.partition).sort()).toEqual([...RANGE, '2026-03-12']);
    await withWorkspace(dir, async (ws) => {
      expect((await getRun(ws.engine, ws.engine, stoppedRun))!.status).toBe('cancelled');
    });
    const status = cliJson<{ interrupted_runs: unknown[]; active_runs: unknown[] }>(dir, ['status']);
    expect(status.interrupted_runs).toEqual([]);
    expect(status.active_runs).toEqual([]);
  }, 120_000);

  it('a `run` whose new plan meets its window closed again says it starts later, not that the replaced run stopped; then starts the new plan', async () => {
    const dir = nightlyProject();
    const nextDay = (h: number, m = 0) => local(h, m) + 86_400_000;
    let attempts = 0;
    const w = windowed(dir, (ws, options) => {
      // The second attempt plans after the window closed again (the clock moves on before it plans).
      if (++attempts === 2) options.clock.set(nextDay(6, 30));
      return run(ws, {}, { ...options, pool: 'nightly' });
    });
    const stoppedRun = await w.untilWaiting();
    applyOrdersFix(dir, days('2026-03-12', '2026-03-12')); // production loads more data meanwhile: another plan

    w.clock.set(local(22, 5));
    await until(() => w.waits.length === 2);
    // The new plan stopped before it created a run: nothing stopped between tasks in this attempt.
    expect(w.waits[1]).toEqual({ status: 'waiting', reason: 'outside_window', window: '22:00-06:00', opens_at: new Date(nextDay(22)).toISOString(), run_id: null });

    w.clock.set(nextDay(22, 5));
    await w.driveToEnd();
    const done = await w.result;
    expect(done.status).toBe('published');
    expect(done.run_id).not.toBe(stoppedRun);
    expect(w.opens()).toBe(3);
    await withWorkspace(dir, async (ws) => {
      expect((await getRun(ws.engine, ws.engine, stoppedRun))!.status).toBe('cancelled');
    });
  }, 120_000);

  it('`tidemark cancel` while it waits ends the wait: the run is cancelled and nothing was published', async () => {
    const dir = fresh();
    applyOrdersFix(dir, RANGE);
    const before = await snapshotState(dir);
    const bf = windowedBackfill(dir);
    const runId = await bf.untilWaiting();
    const cancel = cli(dir, ['cancel', runId, '--json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toEqual({ run_id: runId, status: 'cancelled' });
    bf.clock.advance(1000); // the wait looks again (still outside the window) and sees the request
    await expect(bf.result).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(bf.opens()).toBe(1);
    expect(await snapshotState(dir)).toEqual(before);
    await withWorkspace(dir, async (ws) => {
      expect((await getRun(ws.engine, ws.engine, runId))!.status).toBe('cancelled');
      const outbox = await ws.engine.query<{ event_type: string }>(`SELECT event_type FROM tidemark.outbox WHERE run_id = $1 ORDER BY event_id`, [runId]);
      expect(outbox.map((r) => r.event_type)).toEqual(['run.started', 'run.cancelled']);
    });
  }, 120_000);

  it('`tidemark cancel` of a waiting `run`: cancelled, nothing published', async () => {
    const dir = nightlyProject();
    const before = await snapshotState(dir);
    const w = windowedRun(dir);
    const runId = await w.untilWaiting();
    expect(cliJson(dir, ['cancel', runId])).toEqual({ run_id: runId, status: 'cancelled' });
    w.clock.advance(1000);
    await expect(w.result).rejects.toMatchObject({ code: 'CANCELLED', details: { run_id: runId } });
    expect(w.opens()).toBe(1);
    expect(await snapshotState(dir)).toEqual(before);
  }, 120_000);

  it('a confirmed plan that is another one after the wait is refused; nothing more is written and the stopped run stays resumable', async () => {
    const dir = fresh();
    applyOrdersFix(dir, RANGE);
    let attempts = 0;
    const w = windowed(dir, (ws, options) => {
      const attempt = oneShotAttempt()!;
      attempt.confirmed = true; // as the CLI's confirm() records it
      // The second attempt plans one partition fewer: not the plan the user confirmed.
      const request = attempts++ === 0 ? REQUEST : { ...REQUEST, to: RANGE[5] };
      return backfill(ws, request, { ...options, window: '22:00-06:00' });
    });
    const runId = await w.untilWaiting();
    const before = await snapshotState(dir);
    w.clock.set(local(22, 5));
    await expect(w.result).rejects.toMatchObject({ code: 'GUARD', message: expect.stringMatching(/the plan changed while the command waited/), details: { run_id: runId } });
    expect(await snapshotState(dir)).toEqual(before);
    await withWorkspace(dir, async (ws) => {
      expect((await getRun(ws.engine, ws.engine, runId))!.status).toBe('computing');
      expect((await listTasks(ws.engine, ws.engine, runId)).filter((t) => t.status === 'computed')).toHaveLength(2);
    });
  }, 120_000);

  it('a guard that appears while it waits refuses the resume and leaves the state unchanged; the run stays resumable', async () => {
    const dir = fresh();
    applyOrdersFix(dir, RANGE);
    const bf = windowedBackfill(dir);
    const runId = await bf.untilWaiting();
    expect(cli(dir, ['lock', 'daily_revenue', '--from', RANGE[4], '--to', RANGE[4], '--reason', 'incident review']).code).toBe(0);
    const before = await snapshotState(dir);
    bf.clock.set(local(22, 5));
    await expect(bf.result).rejects.toMatchObject({ code: 'GUARD' });
    expect(await snapshotState(dir)).toEqual(before);
    await withWorkspace(dir, async (ws) => {
      expect((await listTasks(ws.engine, ws.engine, runId)).filter((t) => t.status === 'computed')).toHaveLength(2);
      expect((await getRun(ws.engine, ws.engine, runId))!.status).toBe('computing');
    });
  }, 120_000);
});

describe.each(testEngines(inject('pgUrl')))('window policy on $kind', (engine) => {
  it('a one-shot command releases the database outside its window only on a single-writer engine; `serve` and the library API never do', async () => {
    const dir = await scaffoldShop(undefined, undefined, { engine });
    try {
      const open = <R>(fn: (ws: Workspace) => Promise<R>) => withWorkspace(dir, fn);
      const inAttempt = await runInWindowAttempts(async (ws) => windowPolicy(ws.engine), { open, waiting: () => undefined });
      expect(inAttempt).toBe(engine.kind === 'duckdb' ? 'stop' : 'wait');
      await withWorkspace(dir, async (ws) => expect(windowPolicy(ws.engine)).toBe('wait'));
    } finally {
      cleanup(dir);
    }
  }, 60_000);
});

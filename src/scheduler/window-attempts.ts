/**
 * Run windows for one-shot commands on a single-writer engine (failure mode 6).
 *
 * Outside its window a run starts no task (throttle.ts). Inside `tidemark serve`, or on an engine
 * that admits several writing processes (PostgreSQL), the run simply pauses between tasks: nobody
 * needs what it holds meanwhile. A one-shot CLI command on DuckDB holds the database file for as long
 * as it lives, so pausing there for hours would lock production `run`, and even `status`, out of the
 * project. Every one-shot CLI command therefore works in attempts (src/cli/context.ts withWorkspace
 * calls runInWindowAttempts, whatever the command):
 *
 *   open the workspace → run until the window closes → close the workspace → wait → open again → …
 *
 * Nothing is open between attempts. An attempt runs in an ambient OneShotAttempt (like hostedCall()
 * for `serve`), so the write path needs no per-command option: the executor checks the window before it
 * creates or resumes a run (gate.ts assertRunMayStart: a command started outside its window waits
 * having written nothing), and the gate ends the run between tasks with WINDOW_CLOSED instead of
 * pausing. The executor then leaves the run as an interrupted one is left (computing, its computed
 * partitions in staging) and clears its pid, so it holds no partition while it waits. The next attempt
 * runs the command again: it plans again, and the executor resumes that run by its run key, reusing
 * what is staged, and publishes it through the one write path. A plan the user confirmed must not
 * change meanwhile (refused: PLAN_CHANGED below); a plan nobody confirmed (`run`) may, and the run it
 * replaces is cancelled (retireSupersededRun) rather than left behind as interrupted.
 *
 * Reopening when the window opens, a command may find another process holding the file: that one
 * goes first, and the command tries again every few seconds, waiting meanwhile as every write command
 * waits for the file (holders.ts waitAsWriter): readers that arrive after it queue behind it.
 *
 * Stopping while waiting: Ctrl-C/SIGTERM end the wait with nothing held (the run stays resumable);
 * `tidemark cancel RUN`, which can open the project while we wait, cancels the run in the state store
 * and leaves a marker that the wait notices (cancel.ts). The next attempt checks the state store too,
 * so a cancel that lands between the last look at the marker and the reopen is not lost.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../config/load.js';
import type { Project } from '../config/project.js';
import type { Engine } from '../engines/engine.js';
import { TidemarkError, coerceError } from '../errors.js';
import { getRun, markRunCancelled } from '../state/runs.js';
import { waitAsWriter, type WriterWait } from '../holders.js';
import type { Workspace } from '../workspace.js';
import { cancelledError, cancelMarker } from './cancel.js';
import { inWindow, msUntilOpen, parseWindow, systemClock, type Clock, type RunWindow } from './throttle.js';

/** What the attempts of one command share: set up by runInWindowAttempts, read by the write path. */
export interface OneShotAttempt {
  /** The clock of run windows and rates (a test hook can replace the system clock: file-clock.ts). */
  readonly clock: Clock;
  /** Where the previous attempt stopped: the run it stopped (null when it had created none) and that run's plan. */
  stopped: { runId: string | null; runKey: string } | null;
  /** The user confirmed a plan (src/cli/context.ts confirm): later attempts do not ask again, and refuse another plan. */
  confirmed: boolean;
}

const current = new AsyncLocalStorage<OneShotAttempt>();

/** The attempt the calling code runs in: set for a one-shot CLI command, not inside `serve` or the library API. */
export function oneShotAttempt(): OneShotAttempt | undefined {
  return current.getStore();
}

/**
 * How a run meets a closed window: 'stop' (end the attempt, release the database) when waiting would
 * lock other processes out, i.e. a one-shot command (not inside `serve`) on a single-writer engine.
 */
export function windowPolicy(engine: Engine): 'wait' | 'stop' {
  return oneShotAttempt() && !engine.capabilities.multiWriter ? 'stop' : 'wait';
}

/** The clock of run windows and rates: the run's own (tests), else the attempt's, else the system's. */
export function windowClock(options: { clock?: Clock }): Clock {
  return options.clock ?? oneShotAttempt()?.clock ?? systemClock;
}

/** When a window opens, in local time: `03:00`, with the date when it is not today. */
export function formatLocalTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const hhmm = d.toTimeString().slice(0, 5);
  if (d.toDateString() === new Date(now).toDateString()) return hhmm;
  const date = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  return `${date} ${hhmm}`;
}

/**
 * The stop reason of an attempt outside its window, naming the run that stopped (`runId` null when
 * none was created or resumed) and the key of the plan that met the window: the next attempt resumes
 * that run only under that plan (runInWindowAttempts reads both from the error's details).
 */
export function windowClosedError(window: RunWindow, opensAt: number, run: { runId: string | null; runKey: string }, now = Date.now()): TidemarkError {
  const { runId } = run;
  const what = runId ? `run ${runId} stopped between tasks (computed partitions kept in staging)` : 'nothing started';
  return new TidemarkError('WINDOW_CLOSED', `outside window ${window.text}: ${what}; it can resume at ${formatLocalTime(opensAt, now)}`, {
    run_id: runId,
    run_key: run.runKey,
    window: window.text,
    opens_at: new Date(opensAt).toISOString(),
    hint: 're-issue the same command inside the window: it resumes the run, reusing the computed partitions',
  });
}

/** A confirmed plan changed while the command waited: the stopped run (if any) resumes only under its own plan. */
export function planChangedWhileWaiting(stoppedRun: string | null): TidemarkError {
  return new TidemarkError('GUARD', 'refused: the plan changed while the command waited for its run window; nothing more was written', {
    run_id: stoppedRun,
    hint: stoppedRun
      ? `review it with --dry-run, then issue the command again; the stopped run ${stoppedRun} resumes only under its own plan: \`tidemark cancel ${stoppedRun}\` ends it`
      : 'review it with --dry-run, then issue the command again',
  });
}

/** What a command waiting between attempts tells its user (one line; `--json`: one JSON object). */
export type WindowWait =
  | { status: 'waiting'; reason: 'outside_window'; window: string; opens_at: string; run_id: string | null }
  | { status: 'waiting'; reason: 'project_held'; holder: string; run_id: string | null };

export interface WindowAttemptsOptions {
  /** Opens the workspace, calls `fn`, and always closes it (the CLI: the body of withWorkspace). */
  open<R>(fn: (ws: Workspace) => Promise<R>): Promise<R>;
  /** Told each time the command starts waiting. */
  waiting(wait: WindowWait): void;
  clock?: Clock;
  /** Ends a wait: the command stops with nothing held. */
  signal?: AbortSignal;
  /** Process signals that end a wait (the CLI: SIGINT, SIGTERM), listened to only while waiting. */
  signals?: NodeJS.Signals[];
}

/** How often a wait looks at the clock, the cancel marker and the abort signal. */
const CHECK_EVERY_MS = 1000;
/** The window is open but another process holds the project (production goes first): retry this often. */
const HELD_RETRY_MS = 5000;

/**
 * Runs `attempt` in a fresh workspace until it returns, waiting with nothing open whenever it stops
 * with WINDOW_CLOSED. A command that never meets a closed window (every read, every write on
 * PostgreSQL, every write inside its window) is one ordinary open.
 */
export async function runInWindowAttempts<T>(attempt: (ws: Workspace) => Promise<T>, o: WindowAttemptsOptions): Promise<T> {
  const clock = o.clock ?? systemClock;
  const state: OneShotAttempt = { clock, stopped: null, confirmed: false };
  let project = null as Project | null;
  /** The command as the workspace records it (secrets redacted): how a waiting writer names itself. */
  let command = '';
  /** Told once per stretch of retries, not every few seconds. */
  let toldHeld = false;
  /** Runs stopped by earlier attempts that a later plan replaced (they are cancelled once the command succeeds). */
  const superseded: string[] = [];
  /** While the reopen after a wait is refused: this command's place before readers that arrive meanwhile. */
  let queued: WriterWait | null = null;
  const leaveQueue = () => {
    queued?.end();
    queued = null;
  };
  try {
    for (;;) {
      let opened = false;
      try {
        return await current.run(state, () =>
          o.open(async (ws) => {
            opened = true;
            leaveQueue(); // in: readers queued behind it now wait for it to close, as for any writer
            project = ws.project;
            command = ws.command;
            const stoppedRun = state.stopped?.runId ?? null;
            if (stoppedRun) await assertNotCancelledMeanwhile(ws, stoppedRun);
            const result = await attempt(ws);
            for (const runId of [...superseded, ...(stoppedRun ? [stoppedRun] : [])]) await retireSupersededRun(ws, runId);
            return result;
          }),
        );
      } catch (error) {
        const err = coerceError(error);
        if (err.code === 'WINDOW_CLOSED') {
          toldHeld = false;
          // Exactly what stopped, as the error says: a new plan that stopped before starting names no
          // run, and the run an earlier attempt stopped is then only superseded, never resumed as this plan's.
          const before = state.stopped?.runId ?? null;
          const runId = err.details.run_id as string | null;
          if (before && runId !== before) superseded.push(before);
          state.stopped = { runId, runKey: String(err.details.run_key) };
          const window = parseWindow(String(err.details.window));
          o.waiting({ status: 'waiting', reason: 'outside_window', window: window.text, opens_at: String(err.details.opens_at), run_id: runId });
          await waitWithNothingOpen(() => inWindow(window, clock.now()), () => Math.max(1, msUntilOpen(window, clock.now())), { ...o, clock, project, runId, waitingFor: 'the run window' });
        } else if (err.code === 'LOCKED' && !opened && state.stopped) {
          // Reopening after a wait: the window opened while another process (a production run) holds
          // the file. That one goes first; this command tries again shortly. Meanwhile it waits as
          // any writer waits for the file (holders.ts): readers that arrive after it queue behind it,
          // else a stream of overlapping readers could keep it out for good.
          if (project) {
            if (queued) queued.renew();
            else queued = waitAsWriter(path.join(project.dir, STATE_DIR), command);
          }
          const runId = state.stopped.runId;
          if (!toldHeld) o.waiting({ status: 'waiting', reason: 'project_held', holder: err.message, run_id: runId });
          toldHeld = true;
          const until = clock.now() + HELD_RETRY_MS;
          await waitWithNothingOpen(() => clock.now() >= until, () => until - clock.now(), { ...o, clock, project, runId, waitingFor: "the project's DuckDB file", whileWaiting: () => queued?.renew() });
        } else throw error;
      }
    }
  } finally {
    // Got in, gave up, or stopped (a signal, a cancel): no reader is held back for it any more.
    leaveQueue();
  }
}

/** Resuming a run: a `tidemark cancel` while the command waited ends it here instead. */
async function assertNotCancelledMeanwhile(ws: Workspace, runId: string): Promise<void> {
  const run = await getRun(ws.engine, ws.engine, runId);
  if (run?.status === 'cancelling') await markRunCancelled(ws.engine, ws.engine, runId);
  if (run?.status === 'cancelling' || run?.status === 'cancelled') throw cancelledError(runId);
}

/**
 * The command ended without resuming the run it stopped (its new plan was another one, or had nothing
 * left to do, e.g. production built those partitions meanwhile): that run is cancelled, not left
 * behind as interrupted. Its staging stays until `gc`, as any cancelled run's.
 */
async function retireSupersededRun(ws: Workspace, runId: string): Promise<void> {
  const run = await getRun(ws.engine, ws.engine, runId);
  if (run?.status === 'computing' && run.pid === null) await markRunCancelled(ws.engine, ws.engine, runId);
}

/** Sleeps on the clock until `done()`, in steps, holding nothing; a signal or a cancel marker ends it early. */
async function waitWithNothingOpen(
  done: () => boolean,
  remainingMs: () => number,
  o: { clock: Clock; signal?: AbortSignal; signals?: NodeJS.Signals[]; project: Project | null; runId: string | null; waitingFor: string; whileWaiting?: () => void },
): Promise<void> {
  let interrupted = false;
  let wake = () => undefined as void;
  const woken = new Promise<void>((resolve) => (wake = resolve));
  const interrupt = () => {
    interrupted = true;
    wake();
  };
  o.signal?.addEventListener('abort', interrupt);
  for (const s of o.signals ?? []) process.on(s, interrupt);
  try {
    for (;;) {
      if (interrupted || o.signal?.aborted) throw stoppedWhileWaiting(o.runId, o.waitingFor);
      if (o.runId && o.project && existsSync(cancelMarker(o.project, o.runId))) throw cancelledError(o.runId);
      if (done()) return;
      o.whileWaiting?.();
      await Promise.race([o.clock.sleep(Math.min(remainingMs(), CHECK_EVERY_MS)), woken]);
    }
  } finally {
    o.signal?.removeEventListener('abort', interrupt);
    for (const s of o.signals ?? []) process.off(s, interrupt);
  }
}

/** `waitingFor`: what the command waited for (the run window, or the file another process holds). */
function stoppedWhileWaiting(runId: string | null, waitingFor: string): TidemarkError {
  return new TidemarkError(
    'CANCELLED',
    runId
      ? `stopped while waiting for ${waitingFor}; run ${runId} keeps its computed partitions in staging and nothing was published`
      : `stopped while waiting for ${waitingFor}; nothing was started`,
    { run_id: runId, hint: runId ? 're-issue the same command to resume: tasks already computed are reused' : 're-issue the command to start it again' },
  );
}

/**
 * What a run passes before it starts (assertRunMayStart: its run window, for a one-shot command that
 * must not wait holding the database), and what each of its tasks passes before it starts (the task
 * gate): a cancel check, the throttle (window, rate) and a slot of the run's pool. Everything happens
 * between tasks; once a task has its slot it runs to the end.
 */
import type { Db } from '../engines/engine.js';
import type { Plan } from '../plan/types.js';
import { runKeyOf } from '../execute/run-key.js';
import type { InternalRunOptions, RunContext } from '../execute/run-context.js';
import type { Workspace } from '../workspace.js';
import { cancelChecker, cancelledError, clearCancelRequest } from './cancel.js';
import type { PoolLimits } from './pools.js';
import { defaultPool, schedulerFor, type ProcessScheduler } from './scheduler.js';
import { inWindow, msUntilOpen, parseWindow, Throttle, type RunWindow } from './throttle.js';
import { oneShotAttempt, planChangedWhileWaiting, windowClock, windowClosedError, windowPolicy } from './window-attempts.js';

/**
 * The window a run of `kind` obeys: --window, else its pool's `window:` (none for an unknown pool:
 * the pool check refuses it). The one answer for the task gate and for the check before a run starts.
 */
function runWindowOf(pools: Record<string, PoolLimits>, kind: string, options: { window?: string; pool?: string }): RunWindow | undefined {
  const text = options.window ?? pools[options.pool ?? defaultPool(kind)]?.window;
  return text ? parseWindow(text) : undefined;
}

/**
 * Called by the executor before it creates or resumes a run (after the plan, its guards and preflight;
 * never for a dry run or an empty plan). In a one-shot command on a single-writer engine, a run
 * outside its window stops here with WINDOW_CLOSED, so the command waits having written nothing
 * (window-attempts.ts). After such a wait, a plan other than the one the user confirmed is refused.
 * Anywhere else (`serve`, PostgreSQL, the library API) this does nothing: the task gate pauses in place.
 */
export function assertRunMayStart(ws: Workspace, plan: Plan, options: InternalRunOptions, runKey: string): void {
  if (windowPolicy(ws.engine) !== 'stop') return;
  const attempt = oneShotAttempt();
  const stopped = attempt?.stopped ?? null;
  if (stopped && attempt?.confirmed && stopped.runKey !== runKey) throw planChangedWhileWaiting(stopped.runId);
  const window = runWindowOf(schedulerOf(ws, options).slots.pools, plan.kind, options);
  if (!window) return;
  const clock = windowClock(options);
  const now = clock.now();
  if (inWindow(window, now)) return;
  // The run this plan resumes, if the previous attempt stopped it; none is created or resumed here.
  const stoppedRun = stopped && stopped.runKey === runKey ? stopped.runId : null;
  throw windowClosedError(window, now + msUntilOpen(window, now), { runId: stoppedRun, runKey }, now);
}

/**
 * The scheduler a run's tasks take slots from: its pools' `window:` is the one the check before the
 * run starts and the task gate both read.
 */
function schedulerOf(ws: Workspace, options: InternalRunOptions): ProcessScheduler {
  return options.scheduler ?? schedulerFor(ws);
}

/** Longest time a run keeps its pool claim between the end of its compute and its end. */
const CLAIM_AFTER_COMPUTE_MAX_MS = 10 * 60_000;

export interface TaskGate {
  readonly pool: string;
  /** Waits until a task may start; returns the function that ends it (releases the slot). */
  enter(db: Db): Promise<() => void>;
  /** The run stops computing (finished, failed or cancelled); its claim ends with the run. */
  close(): Promise<void>;
}

/** `parallel`: how many tasks the run could run at once (its demand on the pool). */
export function openTaskGate(ctx: RunContext, parallel: number): TaskGate {
  const { ws, runId, options } = ctx;
  const scheduler = schedulerOf(ws, options);
  const pool = options.pool ?? defaultPool(ctx.plan.kind);
  const throttleClock = windowClock(options);
  const throttle = new Throttle({ ratePerMinute: options.rate, window: runWindowOf(scheduler.slots.pools, ctx.plan.kind, options), clock: throttleClock });
  // A one-shot command on a single-writer engine ends the attempt instead of holding the database.
  const whenWindowCloses = windowPolicy(ws.engine);
  // A re-issued command resumes a cancelled run: its old request no longer applies.
  clearCancelRequest(ws.project, runId);
  const cancelled = cancelChecker(ws.project, ws.engine, runId);
  const member = scheduler.slots.join(pool, parallel);
  const stopOutside = (window: RunWindow, opensAt: number): never => {
    // The key the executor created or resumed this run under: the next attempt resumes it by that key.
    throw windowClosedError(window, opensAt, { runId, runKey: runKeyOf(ctx.plan) }, throttleClock.now());
  };

  return {
    pool,
    async enter(db) {
      const check = async () => {
        if (await cancelled(db)) throw cancelledError(runId);
      };
      if (throttle.active) {
        await throttle.admit({
          paused: (reason) => ws.events.emit({ type: 'run.paused', run_id: runId, reason }),
          check,
          outsideWindow: whenWindowCloses === 'stop' ? stopOutside : undefined,
        });
      } else await check();
      const slot = await member.acquire();
      try {
        await check(); // the wait for a slot may have been long
        await scheduler.applyLimits();
      } catch (error) {
        slot.release();
        throw error;
      }
      return () => slot.release();
    },
    async close() {
      // The run keeps its claim on the pool until it has published (or failed): a production run's
      // publish should not share the engine with backfill tasks that its claim would have held back.
      // The executor announces the end of every run that computed (run.published / run.failed); the
      // timer only bounds a claim that nothing ends.
      const leave = () => {
        off();
        clearTimeout(timer);
        member.leave();
        void scheduler.applyLimits().catch(() => undefined);
      };
      const off = ws.events.on((e) => {
        if ((e.type === 'run.published' || e.type === 'run.failed') && e.run_id === runId) leave();
      });
      const timer = setTimeout(leave, CLAIM_AFTER_COMPUTE_MAX_MS);
      timer.unref();
    },
  };
}

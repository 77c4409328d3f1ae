/**
 * What a run's task passes before it starts: a cancel check, the throttle (window, rate) and a slot of
 * the run's pool. Everything happens between tasks; once a task has its slot it runs to the end.
 */
import type { Db } from '../engines/engine.js';
import type { RunContext } from '../execute/run-context.js';
import { cancelChecker, cancelledError, clearCancelRequest } from './cancel.js';
import { defaultPool, schedulerFor } from './scheduler.js';
import { parseWindow, systemClock, Throttle, type RunWindow } from './throttle.js';
import { windowClosedError } from './window-attempts.js';

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
  const scheduler = options.scheduler ?? schedulerFor(ws);
  const pool = options.pool ?? defaultPool(ctx.plan.kind);
  const limits = scheduler.slots.limits(pool); // refuses an unknown pool before any task starts
  const windowText = options.window ?? limits.window;
  const throttleClock = options.clock ?? systemClock;
  const throttle = new Throttle({ ratePerMinute: options.rate, window: windowText ? parseWindow(windowText) : undefined, clock: throttleClock });
  // A re-issued command resumes a cancelled run: its old request no longer applies.
  clearCancelRequest(ws.project, runId);
  const cancelled = cancelChecker(ws.project, ws.engine, runId);
  const member = scheduler.slots.join(pool, parallel);
  const stopOutside = (window: RunWindow, opensAt: number): never => {
    throw windowClosedError(window, opensAt, runId, throttleClock.now());
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
          // A one-shot command on a single-writer engine ends the attempt instead of holding the database.
          outsideWindow: options.whenWindowCloses === 'stop' ? stopOutside : undefined,
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

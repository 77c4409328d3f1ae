/** `tidemark wait RUN`: follows a run (typically a detached one) until it is published or ends otherwise. */
import type { Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { runLiveness } from '../plan/snapshot.js';
import { getRun, isActive, type RunRecord } from '../state/runs.js';
import { runFailedError, taskCounts } from './finish.js';

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  onProgress?: (run: RunRecord, counts: Record<string, number>) => void;
  /** Told once each time the project cannot be read because a writer holds it (see RunLook). */
  onHeld?: (reason: string) => void;
}

/** What one look at a run saw: its record and task counts, or why the project could not be read right now. */
export type RunLook = { run: RunRecord | null; counts: Record<string, number>; interrupted?: boolean } | { held: string };

/** Resolves with the run once published (or complete); throws when it failed, was cancelled, or the time ran out. */
export function waitForRun(engine: Engine, runId: string, options: WaitOptions): Promise<RunRecord> {
  return followRun(() => lookAtRun(engine, runId), runId, options);
}

/**
 * `interrupted`: the run is in flight on record but its process is gone (the rule planning's guards
 * use, runLiveness): nothing will finish it until its command is re-issued, so waiting would only run
 * out the clock. A run computed by workers (pid null) is never interrupted: any worker may go on.
 */
export async function lookAtRun(engine: Engine, runId: string): Promise<RunLook> {
  const run = await getRun(engine, engine, runId);
  if (!run) return { run, counts: {} };
  const interrupted = isActive(run.status) && run.pid !== null && !(await runLiveness(engine, engine))(run);
  return { run, counts: await taskCounts(engine, engine, runId), ...(interrupted ? { interrupted } : {}) };
}

/**
 * waitForRun with each look taken by `look`: the CLI on DuckDB opens the project for each look and
 * closes it between them, since the run it waits for may need the file (a one-shot command holds it
 * whole); while a writer holds it, the look says so and the wait goes on.
 */
export async function followRun(look: () => Promise<RunLook>, runId: string, options: WaitOptions): Promise<RunRecord> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const seen = await look();
    let status: string;
    if ('held' in seen) {
      if (last !== `held ${seen.held}`) options.onHeld?.(seen.held);
      last = `held ${seen.held}`;
      status = 'held by a writer';
    } else {
      const { run, counts } = seen;
      if (!run) throw new TidemarkError('NOT_FOUND', `no run '${runId}'`, { hint: 'list runs with `tidemark runs`' });
      if (run.status === 'published' || run.status === 'complete') return run;
      if (run.status === 'failed') throw runFailedError(runId, run.error);
      if (run.status === 'cancelled') throw new TidemarkError('CANCELLED', `run ${runId} was cancelled; nothing was published`, { run_id: runId });
      if (seen.interrupted) {
        throw new TidemarkError('RUN_FAILED', `run ${runId} was interrupted: its process (pid ${run.pid}) ended while the run was ${run.status}; nothing of it was published`, {
          run_id: runId,
          interrupted: true,
          hint: `re-issue its command to resume it (tasks already computed are reused): ${run.command}`,
        });
      }
      const key = `${run.status} ${JSON.stringify(counts)}`;
      if (key !== last) options.onProgress?.(run, counts);
      last = key;
      status = run.status;
    }
    if (Date.now() >= deadline) {
      throw new TidemarkError('TIMEOUT', `run ${runId} is still ${status} after ${Number((options.timeoutMs / 1000).toFixed(1))} s`, {
        run_id: runId,
        hint: 'is a `tidemark worker` running? see `tidemark runs`; wait again with a longer --timeout',
      });
    }
    await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 250, Math.max(10, deadline - Date.now()))));
  }
}

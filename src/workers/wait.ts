/** `tidemark wait RUN`: follows a run (typically a detached one) until it is published or ends otherwise. */
import type { Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { getRun, type RunRecord } from '../state/runs.js';
import { runFailedError, taskCounts } from './finish.js';

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  onProgress?: (run: RunRecord, counts: Record<string, number>) => void;
}

/** Resolves with the run once published (or complete); throws when it failed, was cancelled, or the time ran out. */
export async function waitForRun(engine: Engine, runId: string, options: WaitOptions): Promise<RunRecord> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const run = await getRun(engine, engine, runId);
    if (!run) throw new TidemarkError('NOT_FOUND', `no run '${runId}'`, { hint: 'list runs with `tidemark runs`' });
    if (run.status === 'published' || run.status === 'complete') return run;
    if (run.status === 'failed') throw runFailedError(runId, run.error);
    if (run.status === 'cancelled') throw new TidemarkError('CANCELLED', `run ${runId} was cancelled; nothing was published`, { run_id: runId });
    const counts = await taskCounts(engine, engine, runId);
    const key = `${run.status} ${JSON.stringify(counts)}`;
    if (key !== last) options.onProgress?.(run, counts);
    last = key;
    if (Date.now() >= deadline) {
      throw new TidemarkError('INTERNAL', `run ${runId} is still ${run.status} after ${Math.round(options.timeoutMs / 1000)} s`, {
        run_id: runId,
        hint: 'is a `tidemark worker` running? see `tidemark runs`; wait again with a longer --timeout',
      });
    }
    await new Promise((r) => setTimeout(r, Math.min(options.pollMs ?? 250, Math.max(10, deadline - Date.now()))));
  }
}

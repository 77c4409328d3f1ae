/**
 * Ctrl-C (or SIGTERM) on a one-shot command while its run computes. The first asks the run to stop
 * between tasks, exactly as `tidemark cancel RUN` from another terminal would: the task in flight
 * finishes, nothing is published, computed partitions stay in staging, and the command ends with the
 * cancel's own error (exit 1); re-issuing it resumes. The second stops the process at once: the run is
 * left interrupted, which is resumable too (crash safety). Before a run exists, and after it
 * published, a signal stops the command at once, as it always did: nothing of it is half-written.
 * A command handed to `tidemark serve` behaves the same (server/client.ts).
 */
import { coerceError } from '../errors.js';
import { requestCancel } from '../scheduler/cancel.js';
import type { Workspace } from '../workspace.js';

const EXIT_CODE: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Listens while `ws`'s command runs; returns the function that stops listening. */
export function cancelRunOnInterrupt(ws: Workspace): () => void {
  let running: string | null = null;
  let asked = false;
  const off = ws.events.on((e) => {
    if (e.type === 'run.started') running = e.run_id;
    else if (e.type === 'run.publishing' || e.type === 'run.published' || e.type === 'run.failed') running = null;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    // A command with its own handler (`tidemark worker` drains its tasks) decides when it runs none.
    if (!running && process.listenerCount(signal) > 1) return;
    if (!running || asked) {
      if (running) process.stderr.write(`tidemark: stopped at once; run ${running} is interrupted and resumable: re-issue the same command\n`);
      process.exit(EXIT_CODE[signal] ?? 1);
    }
    asked = true;
    const runId = running;
    process.stderr.write(`tidemark: cancelling run ${runId}: it stops between tasks, publishes nothing and keeps its computed partitions for a resume. Ctrl-C again to stop at once.\n`);
    requestCancel(ws.engine, ws.engine, runId, ws.project).catch((error: unknown) => process.stderr.write(`tidemark: ${coerceError(error).message}\n`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    off();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

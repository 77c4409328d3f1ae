/**
 * Ctrl-C (or SIGTERM) on a one-shot command while its run computes. The first asks the run to stop
 * between tasks, exactly as `tidemark cancel RUN` from another terminal would: the task in flight
 * finishes, nothing is published, computed partitions stay in staging, and the command ends with the
 * cancel's own error (exit 1); re-issuing it resumes. The second stops the process at once: the run is
 * left interrupted, which is resumable too (crash safety). During the run's publish (one
 * transaction) the first signal lets the transaction commit, then stops (exit 130/143, the run
 * published); the second stops at once, and says whether the commit had begun: before it, nothing of
 * the run is published and re-issuing the command publishes it. Before a run exists, and after it
 * published, a signal stops the command at once, as it always did: nothing of it is half-written.
 * A command handed to `tidemark serve` behaves the same (server/client.ts).
 */
import { coerceError } from '../errors.js';
import { requestCancel } from '../scheduler/cancel.js';
import type { Workspace } from '../workspace.js';

const EXIT_CODE: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** How to send the second signal: a person pressed Ctrl-C; a supervisor (systemd, a CI runner, kill) sent SIGTERM. */
function again(signal: NodeJS.Signals): string {
  return signal === 'SIGINT' ? 'Ctrl-C again' : `${signal} again`;
}

/**
 * Ctrl-C (or SIGTERM) while a command opens the project, typically while it waits for a DuckDB file
 * another process holds (`--wait`): nothing of the command exists yet, so it stops at once (exit
 * 130/143). It stops through process.exit, whose exit hooks withdraw a waiting writer's record
 * (holders.ts): readers that arrived meanwhile stop waiting behind a writer that is gone. (Left to
 * the signal's default, the process would end without running them.) `waitingFor` says what the
 * open waits for, if it waits.
 */
export function stopAtOnceWhileOpening(waitingFor: () => string | null): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    const what = waitingFor();
    if (what) process.stderr.write(`tidemark: stopped while waiting for the project's DuckDB file (${what}); nothing was done\n`);
    process.exit(EXIT_CODE[signal] ?? 1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Listens while `ws`'s command runs; returns the function that stops listening. */
export function cancelRunOnInterrupt(ws: Workspace): () => void {
  let running: string | null = null;
  let asked = false;
  /** The run whose publish transaction is under way, and the signal that asked to stop during it. */
  let publishing: string | null = null;
  let stopAfterPublish: NodeJS.Signals | null = null;
  /** That transaction has done its work and commits (run.committing): stopped now, it may or may not have published. */
  let committing = false;
  const off = ws.events.on((e) => {
    if (e.type === 'run.started') running = e.run_id;
    else if (e.type === 'run.publishing' || e.type === 'run.published' || e.type === 'run.failed') running = null;
    if (e.type === 'run.publishing') {
      publishing = e.run_id;
      committing = false;
    } else if (e.type === 'run.published' || e.type === 'run.failed') publishing = null;
    if (e.type === 'run.committing' && e.run_id === publishing) committing = true;
    if (e.type === 'run.published' && stopAfterPublish) {
      process.stderr.write(`tidemark: run ${e.run_id} published; stopped as asked, before delivering to consumers (its notifications stay queued in the outbox); \`tidemark diff ${e.run_id}\` shows what it changed\n`);
      process.exit(EXIT_CODE[stopAfterPublish] ?? 1);
    }
  });
  const onSignal = (signal: NodeJS.Signals) => {
    // A command with its own handler (`tidemark worker` drains its tasks) decides when it runs none.
    if (!running && !publishing && process.listenerCount(signal) > 1) return;
    // The publish is one short transaction: stopping in it would throw the whole run's work away
    // and leave the user guessing whether it committed. It finishes (or fails) first; a second
    // signal still stops at once, and the transaction then rolls back.
    if (publishing && !stopAfterPublish) {
      stopAfterPublish = signal;
      process.stderr.write(`tidemark: run ${publishing} is publishing (one transaction); stopping once it commits. ${again(signal)} to stop at once (nothing of it is then published).\n`);
      return;
    }
    if (publishing) {
      // Before its commit, exiting ends the transaction uncommitted (the engine never sees a COMMIT).
      // Once it commits, the commit may or may not have happened when the process ends.
      process.stderr.write(
        committing
          ? `tidemark: stopped at once during the commit of run ${publishing}: it is either wholly published or not at all (\`tidemark runs\` shows which: published, or still publishing); re-issuing the same command resumes it if not\n`
          : `tidemark: stopped at once during the publish of run ${publishing}, before its commit: nothing of it was published; the run is interrupted and resumable: re-issue the same command to publish it (it reuses the computed partitions)\n`,
      );
      process.exit(EXIT_CODE[signal] ?? 1);
    }
    if (!running || asked) {
      if (running) process.stderr.write(`tidemark: stopped at once; run ${running} is interrupted and resumable: re-issue the same command\n`);
      process.exit(EXIT_CODE[signal] ?? 1);
    }
    asked = true;
    const runId = running;
    process.stderr.write(`tidemark: cancelling run ${runId}: it stops between tasks, publishes nothing and keeps its computed partitions for a resume. ${again(signal)} to stop at once.\n`);
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

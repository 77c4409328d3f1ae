/**
 * Runs as the library sees them: `tidemark runs`, `cancel RUN` and `wait RUN`, each taking the
 * workspace like every other library call. The scheduler's own functions take the engine (the server
 * and the CLI's interrupt handling call them with what they hold); these say what the commands say:
 * `listRuns` shows a published run that waits for no consumer as `complete`, as `tidemark runs` does.
 *
 * @example
 * const [latest] = await listRuns(ws, { limit: 1 });
 * if (latest?.status === 'computing') await cancelRun(ws, latest.run_id);
 */
import { requestCancel } from '../scheduler/cancel.js';
import { listRunSummaries, type RunSummary } from '../scheduler/run-list.js';
import type { RunRecord } from '../state/runs.js';
import { waitForRun as followRunOf, type WaitOptions } from '../workers/wait.js';
import type { Workspace } from '../workspace.js';
import { usageError } from '../errors.js';

/** The newest runs first (default 50), with their pool and task progress. */
export async function listRuns(ws: Workspace, options: { limit?: number } = {}): Promise<RunSummary[]> {
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`limit must be a positive integer, got ${limit}`);
  return listRunSummaries(ws.engine, limit, ws);
}

/**
 * Asks a run to stop between its tasks: nothing is published and its staging is kept, so re-issuing
 * its command resumes it. Returns the run `cancelling` (a process computes it and stops at its next
 * task) or `cancelled` (no process was computing it, or it had failed); refuses (USAGE) a run that is
 * publishing or finished, NOT_FOUND an unknown run. When another process holds the project's DuckDB
 * file (openWorkspace throws LOCKED), `requestCancelByMarker(loadProject(dir), runId)` asks that
 * process instead.
 */
export function cancelRun(ws: Workspace, runId: string): Promise<RunRecord> {
  return requestCancel(ws.engine, ws.engine, runId, ws.project);
}

/**
 * Follows a run (typically one queued by `enqueuePlan` for workers) until it is published; throws
 * when it failed or was cancelled (CANCELLED), or is still going after `timeoutMs`.
 */
export function waitForRun(ws: Workspace, runId: string, options: WaitOptions): Promise<RunRecord> {
  return followRunOf(ws.engine, runId, options);
}

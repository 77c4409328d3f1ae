/**
 * Cancelling a run: `tidemark cancel RUN` asks; the process executing the run checks between tasks,
 * stops, and marks the run `cancelled`. Nothing is published and staging is kept, so re-issuing the
 * command resumes with the tasks already computed.
 *
 * The request is recorded in the state store (status `cancelling`) when the canceller can open it,
 * which is always the case on PostgreSQL and through `tidemark serve`. When a one-shot DuckDB
 * command holds the file, nobody else can write to it: the request is then a marker file
 * `.tidemark/cancel/RUN` that the holder polls.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../config/load.js';
import type { Project } from '../config/project.js';
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { runLiveness } from '../plan/snapshot.js';
import { beginCancelling, getRun, markRunCancelled, type RunRecord } from '../state/runs.js';
import { cancelQueuedRun } from '../workers/finish.js';

/** Runs this process was asked to cancel (saves a state-store read per task). */
const requested = new Set<string>();

export function cancelMarker(project: Project, runId: string): string {
  return path.join(project.dir, STATE_DIR, 'cancel', runId.replace(/[^A-Za-z0-9_-]/g, '_'));
}

/**
 * Marks an in-flight run `cancelling`; refuses runs that are finished or already publishing. A run
 * that no process computes is cancelled at once (see below); pass `project` so that a one-shot
 * command waiting for its window to resume that run hears of it (a marker file) and stops waiting.
 */
export async function requestCancel(db: Db, engine: Engine, runId: string, project?: Project): Promise<RunRecord> {
  const run = await getRun(db, engine, runId);
  if (!run) throw new TidemarkError('NOT_FOUND', `no run '${runId}'`, { hint: 'list runs with `tidemark runs`' });
  if (run.status === 'cancelling') return run;
  if (run.status === 'publishing') {
    throw new TidemarkError('USAGE', `run ${runId} is publishing; its single publish transaction cannot be cancelled`, { hint: 'wait for it, then `tidemark restore` if the result is unwanted' });
  }
  // A failed run nobody will re-issue is dismissed: it leaves `status`'s failed list. Like any
  // cancelled run it keeps its staging, so re-issuing the command still resumes it (gc --all-staging drops it).
  if (run.status === 'failed') {
    await markRunCancelled(db, engine, runId);
    return { ...run, status: 'cancelled' };
  }
  if (run.status !== 'queued' && run.status !== 'planned' && run.status !== 'computing') {
    throw new TidemarkError('USAGE', `run ${runId} is ${run.status}; only a computing or failed run can be cancelled`);
  }
  // A queued run (issue 8) that no worker started yet is cancelled at once.
  if (run.status === 'queued' && (await cancelQueuedRun(engine, runId))) return { ...run, status: 'cancelled' };
  // A computing run that no live process holds (planning's rule, plan/snapshot.ts) is computed
  // nowhere: it was interrupted, or its one-shot command released the database to wait for its run
  // window (window-attempts.ts). Nobody would ever finish the cancel: do it now.
  if (run.status === 'computing' && !(await runLiveness(db, engine))(run)) {
    await markRunCancelled(db, engine, runId);
    if (project) requestCancelByMarker(project, runId);
    return { ...run, status: 'cancelled' };
  }
  // Conditional: a publish that started since the read above wins (beginPublishing), and is not
  // marked cancelling behind its back.
  if (!(await beginCancelling(db, engine, runId))) {
    const now = await getRun(db, engine, runId);
    throw new TidemarkError('USAGE', `run ${runId} is ${now?.status ?? 'gone'}; it can no longer be cancelled`, { hint: now?.status === 'publishing' ? 'wait for it, then `tidemark restore` if the result is unwanted' : 'see `tidemark runs`' });
  }
  requested.add(runId);
  return { ...run, status: 'cancelling' };
}

/** For a DuckDB file held by a one-shot command: leave a marker the holder picks up between tasks. */
export function requestCancelByMarker(project: Project, runId: string): void {
  const file = cancelMarker(project, runId);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, new Date().toISOString());
}

export function clearCancelRequest(project: Project, runId: string): void {
  requested.delete(runId);
  rmSync(cancelMarker(project, runId), { force: true });
}

/** Asked in this process, or by a marker file (a one-shot command's cancel from another process). */
export function cancelRequestedHere(project: Project, runId: string): boolean {
  return requested.has(runId) || existsSync(cancelMarker(project, runId));
}

/**
 * Has someone asked to cancel `runId`? Checks this process's requests and the marker file on every
 * call, and the state store at most once per `dbEveryMs` (another process may have asked there).
 */
export function cancelChecker(project: Project, engine: Engine, runId: string, dbEveryMs = 1000): (db: Db) => Promise<boolean> {
  let lastDbCheck = 0;
  return async (db) => {
    if (cancelRequestedHere(project, runId)) return true;
    const now = Date.now();
    if (now - lastDbCheck < dbEveryMs) return false;
    lastDbCheck = now;
    const rows = await db.query<{ status: string }>(`SELECT status FROM ${engine.dialect.table(engine.stateSchema, 'runs')} WHERE run_id = $1`, [runId]);
    return rows[0]?.status === 'cancelling';
  };
}

export function cancelledError(runId: string): TidemarkError {
  return new TidemarkError('CANCELLED', `run ${runId} was cancelled between tasks; nothing was published`, {
    run_id: runId,
    hint: 're-issue the same command to resume: tasks already computed are reused',
  });
}

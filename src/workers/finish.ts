/**
 * The end of a queued run, whichever worker gets there: publish once its last task is computed,
 * fail it when a task fails, mark it cancelled once a cancel request has no task left in flight.
 *
 * Publish happens exactly once. Any worker that sees every task done may try; the attempt runs the
 * ordinary publish transaction (src/execute/publish.ts), whose first statement takes the publishers'
 * row lock, and whose last step (the hook below) locks the run row and checks that the run is still
 * unpublished. A second attempt therefore waits for the first to commit, then finds the run published
 * and rolls back, having written nothing. A publisher that dies mid-transaction leaves nothing either,
 * and the next sweep (worker.ts) publishes the run.
 */
import { coerceError, TidemarkError } from '../errors.js';
import { problemCodesOf } from '../execute/problem-codes.js';
import { copyReplacedRowsAhead } from '../execute/history-copy.js';
import { publishRun } from '../execute/publish.js';
import type { RunContext } from '../execute/run-context.js';
import { dropStaging } from '../execute/staging.js';
import type { Db, Engine } from '../engines/engine.js';
import { nowIso } from '../state/json.js';
import { appendOutboxEvent } from '../state/outbox.js';
import { setRunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';

const UNPUBLISHED = ['queued', 'computing', 'publishing'];

class AlreadyPublished extends Error {}

/** Task counts of a run by status. */
export async function taskCounts(db: Db, engine: Engine, runId: string): Promise<Record<string, number>> {
  const rows = await db.query<{ status: string; n: number }>(`SELECT status, count(*) AS n FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 GROUP BY status`, [runId]);
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export function allDone(counts: Record<string, number>): boolean {
  return Object.keys(counts).every((s) => s === 'computed' || s === 'skipped');
}

/** Publishes the run if all its tasks are done and nobody published it yet; returns the publish_seq or null. */
export async function publishIfComplete(ctx: RunContext): Promise<number | null> {
  const { engine } = ctx.ws;
  if (!allDone(await taskCounts(engine, engine, ctx.runId))) return null;
  const status = (await engine.query<{ status: string }>(`SELECT status FROM ${stateTable(engine, 'runs')} WHERE run_id = $1`, [ctx.runId]))[0]?.status;
  if (!status || !UNPUBLISHED.includes(status)) return null;
  // Conditional, so a run failed or cancelled meanwhile keeps that status (and the hook below refuses it).
  const flipped = await engine.query(`UPDATE ${stateTable(engine, 'runs')} SET status = 'publishing', updated_at = $2 WHERE run_id = $1 AND status IN ('queued', 'computing') RETURNING run_id`, [
    ctx.runId,
    nowIso(),
  ]);
  let seq: number;
  try {
    // The worker that moved the run to publishing copies the replaced rows to history first, outside
    // the publish transaction that every other publisher waits for (execute/history-copy.ts). A
    // worker racing it to the publish just finds fewer copies, and copies the rest itself.
    if (flipped.length) await copyReplacedRowsAhead(ctx);
    const result = await publishRun(ctx, 'computed', { extra: (tx) => assertStillUnpublished(tx, engine, ctx.runId) });
    seq = result.publish_seq;
  } catch (error) {
    if (error instanceof AlreadyPublished) return null;
    const err = coerceError(error);
    await failRun(engine, ctx.runId, ctx.ws.redact(err.message), err);
    throw error;
  }
  await dropStaging(engine, ctx.runId, ctx.plan.datasets.map((d) => d.dataset)).catch(() => undefined);
  return seq;
}

async function assertStillUnpublished(tx: Db, engine: Engine, runId: string): Promise<void> {
  const rows = await tx.query<{ status: string }>(`SELECT status FROM ${stateTable(engine, 'runs')} WHERE run_id = $1 FOR UPDATE`, [runId]);
  if (!rows[0] || !UNPUBLISHED.includes(rows[0].status)) throw new AlreadyPublished(`run ${runId} is ${rows[0]?.status ?? 'gone'}`);
}

/**
 * Marks a run failed (once), with its outbox event; other workers stop claiming its tasks. `error` is
 * the message, already redacted; `cause`, the failure itself: a validation failure's problem codes go
 * into the event as the one-process executor puts them (problem-codes.ts), for the console's overrides.
 */
export async function failRun(engine: Engine, runId: string, error: string, cause?: TidemarkError): Promise<void> {
  await engine.transaction(async (tx) => {
    const rows = await tx.query<{ status: string }>(`SELECT status FROM ${stateTable(engine, 'runs')} WHERE run_id = $1 FOR UPDATE`, [runId]);
    if (!rows[0] || !['queued', 'computing', 'publishing', 'cancelling'].includes(rows[0].status)) return;
    const failed = await tx.query<{ dataset: string; partition: string }>(`SELECT dataset, partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND status = 'failed'`, [runId]);
    await setRunStatus(tx, engine, runId, 'failed', { error });
    await appendOutboxEvent(tx, engine, 'run.failed', runId, { error, failed, ...(cause ? problemCodesOf(cause) : {}) });
  });
}

/** A cancel request on a queued run takes effect once none of its tasks is in flight. */
export async function finishCancelled(engine: Engine, runId: string): Promise<boolean> {
  return engine.transaction(async (tx) => {
    const rows = await tx.query<{ status: string }>(`SELECT status FROM ${stateTable(engine, 'runs')} WHERE run_id = $1 FOR UPDATE`, [runId]);
    if (rows[0]?.status !== 'cancelling') return false;
    const counts = await taskCounts(tx, engine, runId);
    if (counts.computing) return false;
    await setRunStatus(tx, engine, runId, 'cancelled', { error: null });
    await appendOutboxEvent(tx, engine, 'run.cancelled', runId, { computed: counts.computed ?? 0, tasks: Object.values(counts).reduce((a, b) => a + b, 0) });
    return true;
  });
}

/**
 * Cancels a run still waiting in the queue at once: no worker holds any of its tasks, so there is
 * nothing to wait for. False if a worker claimed its first task meanwhile (then the workers finish it).
 */
export async function cancelQueuedRun(engine: Engine, runId: string): Promise<boolean> {
  return engine.transaction(async (tx) => {
    const rows = await tx.query<{ status: string }>(`SELECT status FROM ${stateTable(engine, 'runs')} WHERE run_id = $1 FOR UPDATE`, [runId]);
    if (rows[0]?.status !== 'queued') return false;
    const counts = await taskCounts(tx, engine, runId);
    await setRunStatus(tx, engine, runId, 'cancelled', { error: null });
    await appendOutboxEvent(tx, engine, 'run.cancelled', runId, { computed: counts.computed ?? 0, tasks: Object.values(counts).reduce((a, b) => a + b, 0) });
    return true;
  });
}

/** Runs executed by workers that are not finished (their pid is null). */
export async function activeWorkerRuns(engine: Engine): Promise<{ run_id: string; status: string; updated_at: string }[]> {
  return engine.query(`SELECT run_id, status, updated_at FROM ${stateTable(engine, 'runs')} WHERE pid IS NULL AND status IN ('queued', 'computing', 'cancelling', 'publishing') ORDER BY created_at`);
}

export function runFailedError(runId: string, message: string | null): TidemarkError {
  return new TidemarkError('RUN_FAILED', `run ${runId} failed: ${message ?? 'unknown error'}`, { run_id: runId, hint: 're-issue the same backfill to resume it: tasks already computed are reused' });
}

/**
 * Computes one claimed task of a queued run with the model stager's own pieces (render, compute into
 * staging with validation, mark computed in the same transaction), so a task computed by a worker is
 * exactly the task the one-process path computes.
 *
 * Fencing: every transaction that writes the task first locks its row and checks that this worker
 * still holds this attempt. A worker whose lease expired and whose task went to another worker
 * therefore writes nothing (its transaction rolls back); and while a worker's compute transaction
 * holds the row, nobody can reclaim it (the reclaim skips locked rows). No duplicate rows either way.
 */
import { getModel } from '../config/project.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import { inputsFor, type Snapshot } from '../core/staleness.js';
import type { ColumnInfo, Connection, Db, Engine } from '../engines/engine.js';
import { computeTask, currentSnapshot, readsFrom, refSource } from '../execute/model-stager.js';
import { renderModelSql, sqlHash } from '../execute/render.js';
import type { RunContext } from '../execute/run-context.js';
import type { PlannedTask } from '../plan/types.js';
import { checkpointLiteral } from '../state/checkpoints.js';
import { nowIso } from '../state/json.js';
import { updateTask } from '../state/runs.js';
import { stagingName, stateTable } from '../state/tables.js';
import type { ClaimedTask } from './claim.js';

export type TaskOutcome = { status: 'computed'; rows: number } | { status: 'skipped' } | { status: 'lost' };

/** This worker no longer holds the task: its lease expired and another worker took it. */
export class LeaseLostError extends Error {}

export async function computeClaimedTask(ctx: RunContext, conn: Connection, claim: ClaimedTask, workerId: string): Promise<TaskOutcome> {
  const { ws, runId } = ctx;
  const { engine, project } = ws;
  const model = getModel(project, claim.dataset);
  const snapshot = await snapshotOf(ctx);
  const planned = ctx.plan.tasks.find((t) => t.dataset === claim.dataset && t.partition === claim.partition)!;
  const live = snapshot.get(model.name)?.get(claim.partition);
  const task: PlannedTask = { ...planned, current_rows: live?.rows ?? null, current_version: live?.version ?? null };
  const fenced = fence(conn, engine, claim, workerId);
  try {
    // As in the one-process path: a dependent computes only if something it reads changed in this run.
    if (task.reason === 'downstream' && !readsFrom(project, model, task.partition, await changedInRun(engine, runId))) {
      await fenced.transaction((tx) => updateTask(tx, engine, runId, model.name, task.partition, { status: 'skipped', finished_at: nowIso(), error: null }));
      return { status: 'skipped' };
    }
    const checkpoint = model.incremental ? await checkpointLiteral(engine, engine, model) : undefined;
    const sql = renderModelSql(engine, project, model, task.partition, (d) => refSource(ctx, d), checkpoint);
    const inputs = inputsFor(project, model, task.partition, snapshot);
    const stats = await computeTask(ctx, fenced, model, task, sql, await stagedColumns(engine, runId, model.name), { sql_hash: sqlHash(sql), inputs });
    return { status: 'computed', rows: stats.rows };
  } catch (error) {
    if (error instanceof LeaseLostError) return { status: 'lost' };
    const message = ws.redact(error instanceof Error ? error.message : String(error));
    await fenced
      .transaction((tx) => updateTask(tx, engine, runId, model.name, task.partition, { status: 'failed', error: message, finished_at: nowIso(), attempt: true }))
      .catch(() => undefined);
    throw error;
  }
}

/**
 * The live state the run's tasks read, taken once per run and worker, as the one-process path takes
 * it once when it starts computing: nothing the run writes is published before the run ends.
 */
const snapshots = new WeakMap<RunContext, Promise<Snapshot>>();
function snapshotOf(ctx: RunContext): Promise<Snapshot> {
  let s = snapshots.get(ctx);
  if (!s) snapshots.set(ctx, (s = currentSnapshot(ctx.ws)));
  return s;
}

/** Partitions this run computed whose content differs from the live one, per dataset. */
async function changedInRun(engine: Engine, runId: string): Promise<Map<string, Set<string>>> {
  const rows = await engine.query<{ dataset: string; partition: string }>(
    `SELECT t.dataset, t.partition FROM ${stateTable(engine, 'tasks')} t
     LEFT JOIN ${stateTable(engine, 'partitions')} p ON p.dataset = t.dataset AND p.partition = t.partition
     WHERE t.run_id = $1 AND t.status = 'computed' AND (p.checksum IS NULL OR p.checksum <> t.checksum)`,
    [runId],
  );
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    let set = out.get(r.dataset);
    if (!set) out.set(r.dataset, (set = new Set()));
    set.add(r.partition);
  }
  return out;
}

async function stagedColumns(engine: Engine, runId: string, dataset: string): Promise<ColumnInfo[]> {
  return ((await engine.columns(engine.stagingSchema, stagingName(runId, dataset))) ?? []).filter((c) => c.name !== PARTITION_COLUMN);
}

/** `conn`, whose transactions first check (and lock) this worker's hold on the claimed task. */
function fence(conn: Connection, engine: Engine, claim: ClaimedTask, workerId: string): Connection {
  const holds = async (tx: Db) => {
    const rows = await tx.query<{ worker: string | null; status: string; started_at: string | null }>(
      `SELECT worker, status, started_at FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND dataset = $2 AND partition = $3 FOR UPDATE`,
      [claim.run_id, claim.dataset, claim.partition],
    );
    const row = rows[0];
    if (!row || row.worker !== workerId || row.status !== 'computing' || row.started_at !== claim.claimed_at) {
      throw new LeaseLostError(`${claim.dataset} ${claim.partition} of run ${claim.run_id}: lease lost (attempt ${claim.attempt})`);
    }
  };
  return {
    query: (sql, params) => conn.query(sql, params),
    exec: (sql, params) => conn.exec(sql, params),
    close: () => conn.close(),
    transaction: (fn) =>
      conn.transaction(async (tx) => {
        await holds(tx);
        return fn(tx);
      }),
  };
}

/**
 * The run lifecycle shared by every write: refuse on guards → create or resume the run → compute into
 * staging (a Stager) → publish in one transaction → drop staging. A failure stops at once, publishes
 * nothing and leaves staging for the next attempt.
 *
 * With `--publish partition` (model runs only) each computed batch is also published at once, in its
 * own transaction, one at a time; the run stays 'computing' until the last publish. A failure then
 * keeps what was already published, and re-issuing the command resumes the same run.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Db } from '../engines/engine.js';
import { Mutex } from '../engines/mutex.js';
import { releasePause, requestPause } from '../consumers/pause.js';
import { deliverRunStarted } from '../consumers/run-started.js';
import { TidemarkError, coerceError, guardRefusal, usageError } from '../errors.js';
import { blockingGuards, type Plan } from '../plan/types.js';
import { nowIso } from '../state/json.js';
import { appendOutboxEvent } from '../state/outbox.js';
import { beginPublishing, findResumableRun, insertRun, insertTasks, listTasks, markRunCancelled, setRunStatus, type RunRecord } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import { noteHolderRun, type Workspace } from '../workspace.js';
import { admitRun } from '../workers/admission.js';
import { crashPoint } from './crash.js';
import { copyReplacedRowsAhead } from './history-copy.js';
import { publishRun, publishedByRun, type DatasetSchemaChange, type PublishKind, type PublishPrepare, type PublishedPartition } from './publish.js';
import { PUBLISH_MODES, type InternalRunOptions, type RunContext, type RunOptions } from './run-context.js';
import { runKeyOf } from './run-key.js';
import { assertRunNumbers } from './run-numbers.js';
import { dropStaging } from './staging.js';
import { settleInterruptedPublishes, type InterruptedPublish } from './interrupted-publishes.js';
import { problemCodesOf } from './problem-codes.js';
import { requirePool } from '../scheduler/pools.js';
import { defaultPool } from '../scheduler/scheduler.js';
import { assertRunMayStart } from '../scheduler/gate.js';
import { cancelledError, cancelRequestedHere } from '../scheduler/cancel.js';

/**
 * What a run, backfill, restore, dedupe or ingest did. `status` tells whether a run exists:
 * `published` names it in `run_id`; `noop` (nothing to compute) and `dry_run` (planned and checked
 * only) created none, and their `run_id` is null. Narrow on `status` to read `run_id` as a string.
 */
export type RunResult = PublishedRunResult | NoRunResult;

/** A run was created, computed and published (`published` may be empty: every partition came out unchanged). */
export interface PublishedRunResult {
  run_id: string;
  status: 'published';
  published: PublishedPartition[];
  unchanged: number;
  /** Tasks whose staged output from an earlier attempt was reused. */
  reused: number;
  /** Dependents skipped because nothing they read changed. */
  skipped: number;
  /** Models whose live table gained columns (on_schema_change: add_columns); absent when none did. */
  schema_changes?: DatasetSchemaChange[];
  /**
   * Nothing was published, and runs whose process died after their publish committed (before they
   * reported) had published into this request's datasets: a re-issued command names them.
   */
  already_published_by?: InterruptedPublish[];
  /** Failed runs of the same `tidemark run` request this one dismissed: it left them nothing to resume (run-superseded.ts). */
  superseded?: string[];
  plan: Plan;
}

/** No run was created: `noop`, nothing to compute; `dry_run`, planned and checked only. Nothing was published. */
export interface NoRunResult extends Omit<PublishedRunResult, 'run_id' | 'status'> {
  run_id: null;
  status: 'noop' | 'dry_run';
}

/** How a kind of run fills staging. */
export interface Stager {
  /** Checks that need the engine but write nothing (model SQL binds, output shape matches). */
  preflight(ws: Workspace, plan: Plan): Promise<void>;
  /** Computes every task into staging, marking each computed or skipped; returns counts. */
  compute(ctx: RunContext): Promise<{ reused: number; skipped: number }>;
  publishKind?: PublishKind;
  /** Replace computed partitions even when their checksum equals the recorded one (repairs of out-of-band changes). */
  alwaysReplace?: boolean;
  /** Extra state written in the publish transaction (e.g. the ingest manifest). */
  publishHook?(ctx: RunContext): (tx: Db) => Promise<void>;
  /** Work done first in the publish transaction, before recorded versions are read (an ingest's schema change). */
  publishPrepare?(ctx: RunContext): PublishPrepare;
  /** Calls `ctx.publishBatch` as batches are computed, so the run may use `--publish partition`. */
  publishesPerBatch?: boolean;
  /**
   * The run stopped without publishing (failed, cancelled, or waiting for its window): removes what
   * compute wrote outside Tidemark's own schemas (an ingest's load table), which a resumed attempt
   * would not reuse.
   */
  stopped?(ctx: RunContext): Promise<void>;
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  return `r${t}_${randomBytes(3).toString('hex')}`;
}

export function assertNoBlockingGuards(plan: Plan): void {
  const blocking = blockingGuards(plan);
  if (!blocking.length) return;
  // Every blocking guard is named (not only the first), with its hint.
  throw guardRefusal(blocking, 'refused', { dataset: blocking[0].dataset, partitions: blocking[0].partitions });
}

export async function executePlan(ws: Workspace, plan: Plan, options: InternalRunOptions, stager: Stager): Promise<RunResult> {
  // The reason lands in runs, versions and the audit record: secrets never do (DESIGN.md).
  options = { ...options, reason: ws.redact(options.reason) };
  assertRunNumbers(options);
  const perBatch = publishPerBatch(plan, options, stager);
  assertNoBlockingGuards(plan);
  // Checked before anything is written: an unknown pool must not leave a failed run behind.
  const pool = requirePool(ws.project.pools, options.pool ?? defaultPool(plan.kind));
  const empty = { published: [], unchanged: 0, reused: 0, skipped: 0, plan };
  if (!plan.tasks.length) {
    if (options.dryRun) return { run_id: null, status: 'noop', ...empty };
    // Nothing to do, maybe because a run killed after its publish did it (interrupted-publishes.ts).
    return { run_id: null, status: 'noop', ...empty, ...alreadyPublishedBy(plan, await settleInterruptedPublishes(ws)) };
  }
  await stager.preflight(ws, plan);
  if (options.dryRun) return { run_id: null, status: 'dry_run', ...empty };
  const runKey = runKeyOf(plan);
  // A one-shot command on DuckDB outside its run window stops here, having written nothing (scheduler/window-attempts.ts).
  assertRunMayStart(ws, plan, options, runKey);
  await (options.beforeStart ?? requestPause)(ws, plan);
  const settled = await settleInterruptedPublishes(ws);

  const { engine } = ws;
  let started: StartedRun;
  try {
    started = await startRun(ws, plan, options, runKey, pool);
  } catch (error) {
    // This attempt was refused before it started (its admission, on a multi-writer engine): consumers
    // that paused for it resume now; nothing of it will send run.published or run.failed.
    if (!options.beforeStart) await releasePause(ws, plan, ws.redact(coerceError(error).message));
    throw error;
  }
  const { runId, resumable, publishedBefore, announced } = started;
  noteHolderRun(ws, runId);
  // A new run's run.started (or a resumed one's, see startRun) is committed: consumers hear it now,
  // before compute (bounded by their timeouts; a failure stays pending). No consumer to tell: no
  // state-store work at all.
  if (announced) await deliverRunStarted(ws, plan, runId);
  const ctx: RunContext = { ws, runId, plan, options, columns: new Map(), staged: new Map(), newRun: !resumable };
  if (perBatch) ctx.publishBatch = serialPublisher(ctx, stager);
  ws.events.emit({ type: 'run.started', run_id: runId, kind: plan.kind, tasks: plan.tasks.length, resumed: resumable !== null });

  let counts: { reused: number; skipped: number };
  let result;
  try {
    counts = await stager.compute(ctx);
    crashPoint('compute.done');
    // The rows the publish will replace go to history now, outside its transaction (history-copy.ts).
    // Per batch, each publish copies its own (they are small). Not for a run being cancelled.
    if (!perBatch && !cancelRequestedHere(ws.project, runId)) await copyReplacedRowsAhead(ctx);
    crashPoint('history.copied');
    // A cancel asked while the last tasks computed stops the run here, before anything is published.
    // (The state store's half is beginPublishing's condition.)
    if (cancelRequestedHere(ws.project, runId) || !(await beginPublishing(engine, engine, runId))) throw cancelledError(runId);
    ws.events.emit({ type: 'run.publishing', run_id: runId });
    // Per batch, this last publish has little or nothing left to publish: it ends the run.
    result = await publishRun(ctx, stager.publishKind ?? 'computed', { prepare: stager.publishPrepare?.(ctx), extra: stager.publishHook?.(ctx), alwaysReplace: stager.alwaysReplace });
    crashPoint('publish.committed');
    if (perBatch || publishedBefore) result = { ...result, ...(await publishedByRun(engine, engine, ws.project.order, runId)) };
  } catch (error) {
    const err = coerceError(error);
    await stager.stopped?.(ctx).catch(() => undefined);
    // Issue 7: a cancelled run is 'cancelled', not 'failed' (staging is kept either way, for resume).
    if (err.code === 'CANCELLED') await markRunCancelled(engine, engine, runId).catch(() => undefined);
    // The window closed (a one-shot command on a single-writer engine releases the database while it
    // waits): the run stays computing and resumable; without a pid it holds no partition
    // (plan/snapshot.ts), as an interrupted run, until it resumes.
    else if (err.code === 'WINDOW_CLOSED') await setRunStatus(engine, engine, runId, 'computing', { pid: null }).catch(() => undefined);
    else await markFailed(ws, runId, err).catch(() => undefined);
    ws.events.emit({ type: 'run.failed', run_id: runId, error: err.message, code: err.code });
    // The failed run exists now: re-issuing the command resumes it, `cancel` ends it, and the error
    // names it (`run_id` in --json) so a script need not look it up. An error that already says which
    // run it is about (a window that closed before this run started names none) keeps that.
    if (!('run_id' in err.details)) err.details.run_id = runId;
    throw err;
  } finally {
    noteHolderRun(ws, undefined);
  }
  await dropStaging(engine, runId, plan.datasets.map((d) => d.dataset), ctx.refViews).catch(() => undefined);
  ws.events.emit({ type: 'run.published', run_id: runId, published: result.published.length, unchanged: result.unchanged });
  return {
    run_id: runId,
    status: 'published',
    published: result.published,
    unchanged: result.unchanged,
    reused: counts.reused,
    skipped: counts.skipped,
    ...(result.schema_changes.length ? { schema_changes: result.schema_changes } : {}),
    ...(result.published.length ? {} : alreadyPublishedBy(plan, settled)),
    plan,
  };
}

/** The interrupted runs that published into what this plan covers: they are why it found nothing to publish. */
function alreadyPublishedBy(plan: Plan, settled: InterruptedPublish[]): { already_published_by?: InterruptedPublish[] } {
  // A `run` of the whole project names no target: it covers every dataset.
  const covered = new Set([...plan.targets, ...plan.datasets.map((d) => d.dataset)]);
  const runs = settled.filter((r) => !plan.targets.length || r.datasets.some((d) => covered.has(d)));
  return runs.length ? { already_published_by: runs } : {};
}

/** Validates `options.publish`; true for `--publish partition`. */
function publishPerBatch(plan: Plan, options: RunOptions, stager: Stager): boolean {
  const mode = options.publish ?? 'run';
  if (!PUBLISH_MODES.includes(mode)) throw usageError(`--publish must be ${PUBLISH_MODES.join(' or ')}, got '${String(mode)}'`, '--publish run (the default) publishes the whole run in one transaction');
  if (mode === 'run') return false;
  if (!stager.publishesPerBatch) {
    throw usageError(`--publish partition is not available for ${plan.kind}: it publishes in one transaction`, 'only run and backfill can publish per batch');
  }
  return true;
}

/**
 * `ctx.publishBatch` of a `--publish partition` run: each call publishes its batch in a transaction
 * of its own, after the previous call's publish ended (however many lanes compute), and resolves
 * once that publish committed; a failed publish fails the caller's batch, hence the run.
 */
function serialPublisher(ctx: RunContext, stager: Stager): NonNullable<RunContext['publishBatch']> {
  const oneAtATime = new Mutex();
  return (dataset, partitions) =>
    oneAtATime.run(async () => {
      await publishRun(ctx, stager.publishKind ?? 'computed', { batch: { dataset, partitions }, alwaysReplace: stager.alwaysReplace });
      crashPoint('publish.batch_committed');
    });
}

interface StartedRun {
  runId: string;
  /** The run re-issuing the command resumed, if any. */
  resumable: RunRecord | null;
  /** It published batches before it stopped (--publish partition): they are kept, and listed in the result. */
  publishedBefore: boolean;
  /** A resumed run whose consumers were told it ended (cancelled or failed): it announces its start again. */
  announced: boolean;
}

/** Resumes the run of this request, or creates it; both are admitted first on multi-writer engines. */
async function startRun(ws: Workspace, plan: Plan, options: RunOptions, runKey: string, pool: string): Promise<StartedRun> {
  const { engine } = ws;
  const resumable = await findResumableRun(engine, engine, runKey);
  if (resumable) {
    const runId = resumable.run_id;
    // Its consumers heard run.cancelled or run.failed: for them the backfill was over. Computing again
    // without a word would let one read (or resume an export) while partitions are about to change, so
    // the resume is announced as a start is (an interrupted run never said it ended: nothing to undo).
    const announced = resumable.status === 'cancelled' || resumable.status === 'failed';
    await engine.transaction(async (tx) => {
      // Multi-writer engines: resuming takes partitions back, so it is admitted like a new run (issue 8).
      await admitRun(tx, engine, plan, runId);
      // Tasks interrupted or failed last time start again; computed ones are checked for reuse.
      await tx.exec(`UPDATE ${stateTable(engine, 'tasks')} SET status = 'pending', error = NULL WHERE run_id = $1 AND status IN ('computing', 'failed', 'skipped')`, [runId]);
      // The re-issued command's reason and pool are the run's now: runs, diff and the audit agree.
      await setRunStatus(tx, engine, runId, 'computing', { error: null, pid: process.pid, reason: options.reason, pool });
      if (announced) await appendOutboxEvent(tx, engine, 'run.started', runId, { kind: plan.kind, datasets: plan.datasets, resumed: true });
    });
    const publishedBefore = (await listTasks(engine, engine, runId)).some((t) => t.status === 'published' || t.status === 'unchanged');
    return { runId, resumable, publishedBefore, announced };
  }
  const runId = newRunId();
  await createRun(ws, plan, {
    runId,
    runKey,
    status: 'computing',
    reason: options.reason,
    pool,
    pid: process.pid,
    record: { datasets: plan.datasets, guards: plan.guards, estimated_rows: plan.estimated_rows, reasons: plan.tasks.map((t) => t.reason) },
  });
  return { runId, resumable: null, publishedBefore: false, announced: true };
}

/**
 * Creates a run with its tasks and its `run.started` event in one transaction, after admission
 * (multi-writer engines re-check conflicts there). Used by one-process runs and by `--detach`.
 */
export async function createRun(
  ws: Workspace,
  plan: Plan,
  // `runKey`: runKeyOf(plan), when the caller has it already (hashing a large plan is not free).
  run: { runId: string; runKey?: string; status: 'computing' | 'queued'; reason: string; pool: string; pid: number | null; record: unknown },
): Promise<void> {
  const { engine } = ws;
  await engine.transaction(async (tx) => {
    // Another process may have planned the same partitions at this moment (issue 8).
    await admitRun(tx, engine, plan, run.pid === null ? null : run.runId);
    const now = nowIso();
    await insertRun(tx, engine, {
      run_id: run.runId,
      kind: plan.kind,
      run_key: run.runKey ?? runKeyOf(plan),
      status: run.status,
      actor: ws.actor,
      reason: run.reason,
      command: ws.command,
      pool: run.pool,
      request: plan.request,
      plan: run.record,
      error: null,
      pid: run.pid,
      host: os.hostname(),
      created_at: now,
      updated_at: now,
      published_at: null,
      publish_seq: null,
    });
    await insertTasks(tx, engine, run.runId, plan.tasks);
    await appendOutboxEvent(tx, engine, 'run.started', run.runId, { kind: plan.kind, datasets: plan.datasets, ...(run.status === 'queued' ? { queued: true } : {}) });
  });
}

async function markFailed(ws: Workspace, runId: string, err: TidemarkError): Promise<void> {
  const { engine } = ws;
  const tasks = await listTasks(engine, engine, runId);
  const failed = tasks.filter((t) => t.status === 'failed');
  await engine.transaction(async (tx) => {
    await setRunStatus(tx, engine, runId, 'failed', { error: ws.redact(err.message) });
    await appendOutboxEvent(tx, engine, 'run.failed', runId, {
      error: ws.redact(err.message),
      failed: failed.map((t) => ({ dataset: t.dataset, partition: t.partition })),
      // Which validation checks refused which partitions, by code (problem-codes.ts).
      ...problemCodesOf(err),
    });
  });
  if (failed.length && !err.details.partitions) err.details.partitions = failed.map((t) => t.partition);
}


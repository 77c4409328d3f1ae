/**
 * `tidemark backfill … --detach`: everything the one-process backfill does before its first task
 * (guards, preflight, the consumers' pause handshake, staging), then the run is created `queued`, with
 * its tasks, for `tidemark worker` processes to compute and publish. Returns at once with the run id.
 *
 * Staging is prepared before the run exists, so a worker can never claim a task whose staging table
 * is not there yet; the run is admitted (admission.ts) in the transaction that creates it.
 */
import { computeHash } from '../config/compute-hash.js';
import { getModel } from '../config/project.js';
import { releasePause, requestPause } from '../consumers/pause.js';
import { TidemarkError, coerceError } from '../errors.js';
import { assertNoBlockingGuards, createRun, newRunId } from '../execute/executor.js';
import { datasetsInOrder, modelStager, prepareStaging } from '../execute/model-stager.js';
import type { RunContext, RunOptions } from '../execute/run-context.js';
import { dropStaging } from '../execute/staging.js';
import type { Plan } from '../plan/types.js';
import { defaultPool } from '../scheduler/scheduler.js';
import type { Workspace } from '../workspace.js';
import { requireMultiWriter } from './multi-writer.js';
import type { QueuedPlanRecord } from './run-context.js';
import { requirePool } from '../scheduler/pools.js';
import { requireReason } from '../api/operations.js';

export interface QueuedRun {
  run_id: string | null;
  status: 'queued' | 'noop';
  tasks: number;
  pool: string;
}

export async function enqueuePlan(ws: Workspace, plan: Plan, options: RunOptions): Promise<QueuedRun> {
  const { engine, project } = ws;
  requireMultiWriter(engine, 'backfill --detach');
  // The CLI asks for --reason before it plans; a library caller reaches here directly.
  requireReason(options.reason, 'backfill');
  if (options.rate !== undefined || options.window !== undefined) {
    throw new TidemarkError('USAGE', '--rate and --window throttle one process; they do not apply to a detached run', {
      hint: 'limit a detached run with pool slots (pools: in tidemark.yaml, worker --pool), or run it without --detach',
    });
  }
  const reason = ws.redact(options.reason);
  const pool = requirePool(project.pools, options.pool ?? defaultPool(plan.kind));
  assertNoBlockingGuards(plan);
  if (!plan.tasks.length) return { run_id: null, status: 'noop', tasks: 0, pool };
  await modelStager.preflight(ws, plan);
  await requestPause(ws, plan);

  const runId = newRunId();
  const ctx: RunContext = { ws, runId, plan, options: { ...options, reason }, columns: new Map(), staged: new Map() };
  const datasets = plan.datasets.map((d) => d.dataset);
  try {
    for (const name of datasetsInOrder(project, plan)) {
      const first = plan.tasks.find((t) => t.dataset === name)!;
      const columns = await prepareStaging(ctx, getModel(project, name), first.partition);
      ctx.columns.set(name, columns.map((c) => c.name));
    }
    const record: QueuedPlanRecord = {
      datasets: plan.datasets,
      guards: plan.guards,
      estimated_rows: plan.estimated_rows,
      reasons: plan.tasks.map((t) => t.reason),
      targets: plan.targets,
      options: { allowEmpty: options.allowEmpty, allowShrink: options.allowShrink },
      config_hash: project.configHash,
      compute_hash: computeHash(project),
    };
    // No pid: the run belongs to no process; workers compute it (src/plan/snapshot.ts).
    await createRun(ws, plan, { runId, status: 'queued', reason, pool, pid: null, record });
  } catch (error) {
    await dropStaging(engine, runId, datasets).catch(() => undefined);
    // Not queued (refused at admission, or its staging failed): consumers that paused for it resume.
    await releasePause(ws, plan, ws.redact(coerceError(error).message));
    throw error;
  }
  ws.events.emit({ type: 'log', message: `run ${runId} queued: ${plan.tasks.length} task(s) in pool ${pool}` });
  return { run_id: runId, status: 'queued', tasks: plan.tasks.length, pool };
}

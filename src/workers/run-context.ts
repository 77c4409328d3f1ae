/**
 * A queued run as a worker sees it: the RunContext the stager pieces and publish expect, rebuilt from
 * the state store (the run row, its tasks and its staging tables), since the process that planned it
 * is gone. Audit records name the run's own actor and command, not the worker's.
 */
import { computeHash } from '../config/compute-hash.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import { TidemarkError } from '../errors.js';
import type { RunContext } from '../execute/run-context.js';
import { planDatasets, type Plan, type PlannedTask, type RunKind, type TaskReason } from '../plan/types.js';
import { getRun, listTasks, type RunRecord } from '../state/runs.js';
import { stagingName } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

/** What `backfill --detach` stores in runs.plan, beyond what the executor stores. */
export interface QueuedPlanRecord {
  datasets: Plan['datasets'];
  guards: Plan['guards'];
  estimated_rows: number;
  reasons: TaskReason[];
  targets: string[];
  options: { allowEmpty?: boolean; allowShrink?: boolean };
  /** The project's files (tidemark.yaml and model SQL) as they were when the run was queued. */
  config_hash: string;
  /** What that project computes (src/config/compute-hash.ts): workers must compute the same. Absent on runs queued before it was recorded. */
  compute_hash?: string;
}

export async function loadRunContext(ws: Workspace, runId: string): Promise<{ ctx: RunContext; run: RunRecord }> {
  const { engine } = ws;
  const run = await getRun(engine, engine, runId);
  if (!run) throw new TidemarkError('NOT_FOUND', `no run '${runId}'`);
  const stored = run.plan as QueuedPlanRecord;
  const queuedWithOther = stored.compute_hash ? stored.compute_hash !== computeHash(ws.project) : stored.config_hash && stored.config_hash !== ws.project.configHash;
  if (queuedWithOther) {
    // Computing with other model SQL than the plan's would publish something nobody planned.
    throw new TidemarkError('CONFIG', `run ${runId} was queued with a different version of the project (tidemark.yaml or model SQL) than this worker's`, {
      hint: `run workers from the same project version as the one that queued the run (restart them after a deploy), or cancel it (tidemark cancel ${runId}) and queue it again`,
    });
  }
  const tasks: PlannedTask[] = (await listTasks(engine, engine, runId)).map((t) => ({
    dataset: t.dataset,
    partition: t.partition,
    reason: stored.reasons?.[t.ord] ?? 'requested',
    // Filled per task from the live state when it is computed (nothing is published meanwhile).
    current_rows: null,
    current_version: null,
  }));
  const plan: Plan = {
    kind: run.kind as RunKind,
    targets: stored.targets ?? [],
    tasks,
    datasets: planDatasets(tasks),
    guards: stored.guards ?? [],
    estimated_rows: stored.estimated_rows ?? 0,
    request: run.request,
  };
  const columns = new Map<string, string[]>();
  for (const { dataset } of plan.datasets) {
    const staged = await engine.columns(engine.stagingSchema, stagingName(runId, dataset));
    if (!staged) throw new TidemarkError('INTERNAL', `run ${runId}: the staging table of ${dataset} is missing`, { hint: 'cancel the run and issue the backfill again' });
    columns.set(dataset, staged.filter((c) => c.name !== PARTITION_COLUMN).map((c) => c.name));
  }
  const runWs: Workspace = { ...ws, actor: run.actor, command: run.command };
  const ctx: RunContext = {
    ws: runWs,
    runId,
    plan,
    options: { reason: run.reason, pool: run.pool, ...(stored.options ?? {}) },
    columns,
    staged: new Map(),
  };
  return { ctx, run };
}

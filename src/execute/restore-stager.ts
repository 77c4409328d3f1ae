/**
 * The Stager of a restore: it fills the run's staging table with the rows of the chosen retained
 * version of each partition, copied from history (or from live, if that version is live), so a
 * restore goes through the same executor → validation → publish path as every write and lands as a
 * NEW version whose content — and so checksum — equals the old one. With --downstream, the
 * dependents in the plan are then computed by the model stager, reading the restored partitions from
 * staging, and everything is published in one transaction.
 *
 * The plan carries which version to copy per partition in `plan.request.versions`.
 */
import { getDataset, getModel, type DatasetSpec, type Project } from '../config/project.js';
import { upstreamKeys } from '../core/dependencies.js';
import type { PartitionKey } from '../core/grain.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import { mappingOf } from '../core/staleness.js';
import type { ColumnInfo, Db } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { planDatasets, type Plan, type PlannedTask } from '../plan/types.js';
import { nowIso } from '../state/json.js';
import { listVersions } from '../state/partitions.js';
import { updateTask } from '../state/runs.js';
import { stagingTable, stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { checksumColumns, locatedVersions, removedByRetention, storedColumnsOf, userColumns, versionRowsSql } from '../api/version-content.js';
import type { Stager } from './executor.js';
import { modelStager } from './model-stager.js';
import type { RunContext } from './run-context.js';
import { ensureRefView } from './render.js';
import { ensureStagingTable } from './staging.js';
import { validateStaged, validationError } from './validate.js';

/** partition → version to bring back, as recorded in the plan's request. */
export function restoreVersions(plan: Plan): Record<string, number> {
  return (plan.request.versions ?? {}) as Record<string, number>;
}

export const restoreStager: Stager = {
  publishKind: 'restore',

  async preflight(ws, plan) {
    const dataset = plan.targets[0];
    if (!(await storedColumnsOf(ws.engine, ws.engine, dataset))) {
      throw new TidemarkError('NOT_FOUND', `${dataset} has no live table: nothing was ever published to restore`);
    }
    const dependents = dependentsPlan(ws.project, plan);
    if (dependents.tasks.length) await modelStager.preflight(ws, dependents);
  },

  async compute(ctx) {
    const { ws, plan } = ctx;
    const ds = getDataset(ws.project, plan.targets[0]);
    const stored = (await storedColumnsOf(ws.engine, ws.engine, ds.name))!;
    await ensureStagingTable(ws.engine, ws.engine, ctx.runId, ds.name, stored);
    // Dependents read the restored partitions from staging, through the run's overlay view of the
    // dataset, like any run's (render.ts).
    const visible = userColumns(stored).map((c) => c.name);
    await ensureRefView(ws.engine, ws.engine, ws.project, ctx.runId, ds.name, visible, true);
    ctx.columns.set(ds.name, visible);
    const versions = restoreVersions(plan);
    for (const t of plan.tasks.filter((x) => x.reason === 'restore')) {
      await copyVersion(ctx, ds, t, versions[t.partition], stored);
    }
    const dependents = dependentsPlan(ws.project, plan);
    if (!dependents.tasks.length) return { reused: 0, skipped: 0 };
    return modelStager.compute({ ...ctx, plan: dependents });
  },

  publishHook(ctx) {
    // A restored partition carries the input fingerprint of the version it brings back, not of
    // today's upstream: if the upstream changed since, `run` sees it as stale, which it is.
    return async (tx: Db) => {
      const ds = getDataset(ctx.ws.project, ctx.plan.targets[0]);
      if (ds.kind !== 'model') return;
      const { engine } = ctx.ws;
      for (const [partition, version] of Object.entries(restoreVersions(ctx.plan))) {
        const old = (await listVersions(tx, engine, ds.name, partition)).find((v) => v.version === version);
        if (!old) continue;
        const inputs = JSON.stringify(old.inputs);
        await tx.exec(`UPDATE ${stateTable(engine, 'partitions')} SET inputs = $4 WHERE dataset = $1 AND partition = $2 AND run_id = $3`, [ds.name, partition, ctx.runId, inputs]);
        await tx.exec(`UPDATE ${stateTable(engine, 'versions')} SET inputs = $4 WHERE dataset = $1 AND partition = $2 AND run_id = $3`, [ds.name, partition, ctx.runId, inputs]);
      }
    };
  },
};

/** Copies one version's rows into staging, validates them, and checks they still match the version's checksum. */
async function copyVersion(ctx: RunContext, ds: DatasetSpec, t: PlannedTask, version: number, stored: ColumnInfo[]): Promise<void> {
  const { ws, runId } = ctx;
  const columns = stored.map((c) => c.name);
  const { engine } = ws;
  const d = engine.dialect;
  const located = await locatedVersions(engine, engine, ds.name, t.partition);
  const chosen = located.find((v) => v.record.version === version);
  if (!chosen) throw new TidemarkError('NOT_FOUND', `${ds.name} ${t.partition} has no version ${version}`, { dataset: ds.name, partitions: [t.partition] });
  if (chosen.location === 'removed') throw removedByRetention(ds.name, t.partition, version, located);

  ws.events.emit({ type: 'task.started', run_id: runId, dataset: ds.name, partition: t.partition });
  await updateTask(engine, engine, runId, ds.name, t.partition, { status: 'computing', started_at: nowIso(), attempt: true });
  const staging = stagingTable(engine, runId, ds.name);
  const p = d.quote(PARTITION_COLUMN);
  try {
    const stats = await engine.transaction(async (tx) => {
      await tx.exec(`DELETE FROM ${staging} WHERE ${p} = $1`, [t.partition]);
      const source = versionRowsSql(engine, ds, chosen.location as 'live' | 'history', t.partition, columns, 1, 2);
      await tx.exec(`INSERT INTO ${staging} (${[...columns, PARTITION_COLUMN].map((c) => d.quote(c)).join(', ')}) SELECT q.*, $1 FROM (${source}) q`, [t.partition, version]);
      const problems = await validateStaged(tx, {
        engine,
        dataset: ds,
        staging,
        columns: userColumns(stored).map((c) => c.name),
        partitions: [t.partition],
        currentRows: new Map(t.current_rows !== null ? [[t.partition, t.current_rows]] : []),
        maxShrink: ws.project.guards.max_shrink,
        allowEmpty: Boolean(ctx.options.allowEmpty),
        allowShrink: Boolean(ctx.options.allowShrink),
      });
      if (problems.length) throw validationError(problems);
      const [row] = await tx.query<{ n: number; c: string }>(`SELECT count(*) AS n, ${d.checksum(checksumColumns(ds, stored))} AS c FROM ${staging} WHERE ${p} = $1`, [t.partition]);
      return { rows: Number(row.n), checksum: String(row.c) };
    });
    if (stats.checksum !== chosen.record.checksum || stats.rows !== chosen.record.rows) {
      // History must give back exactly what was published; anything else is corruption, not a restore.
      throw new TidemarkError('INTERNAL', `${ds.name} ${t.partition}: the retained rows of version ${version} do not match its recorded checksum (${stats.rows} rows, ${stats.checksum} vs ${chosen.record.rows} rows, ${chosen.record.checksum})`, {
        dataset: ds.name,
        partitions: [t.partition],
        hint: 'nothing was published; inspect tidemark_history and `tidemark audit verify`',
      });
    }
    await updateTask(engine, engine, runId, ds.name, t.partition, { status: 'computed', rows: stats.rows, checksum: stats.checksum, inputs: chosen.record.inputs, finished_at: nowIso(), error: null });
    ws.events.emit({ type: 'task.finished', run_id: runId, dataset: ds.name, partition: t.partition, status: 'computed', rows: stats.rows });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await updateTask(engine, engine, runId, ds.name, t.partition, { status: 'failed', error: ws.redact(message), finished_at: nowIso() });
    ws.events.emit({ type: 'task.finished', run_id: runId, dataset: ds.name, partition: t.partition, status: 'failed' });
    throw error;
  }
}

/**
 * The dependents' part of a restore plan, as the model stager should see it. A dependent that reads
 * a restored partition directly must compute (the model stager only knows what it computed itself,
 * so it would otherwise skip it as "nothing it reads changed"); deeper ones keep `downstream` and
 * are skipped when the partitions they read come out unchanged.
 */
export function dependentsPlan(project: Project, plan: Plan): Plan {
  const target = getDataset(project, plan.targets[0]);
  const restored = new Set(plan.tasks.filter((t) => t.reason === 'restore').map((t) => t.partition));
  const tasks = plan.tasks
    .filter((t) => t.reason !== 'restore')
    .map((t) => (readsRestored(project, t, target, restored) ? { ...t, reason: 'requested' as const } : t));
  return { ...plan, tasks, datasets: planDatasets(tasks) };
}

function readsRestored(project: Project, t: PlannedTask, target: DatasetSpec, restored: Set<PartitionKey>): boolean {
  const model = getModel(project, t.dataset);
  return model.upstream.some((up) => up.dataset === target.name && upstreamKeys(t.partition, mappingOf(model, target, up.lookback)).some((k) => restored.has(k)));
}

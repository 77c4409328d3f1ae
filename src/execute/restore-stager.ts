/**
 * The Stager of a restore: the run's staging is a view of the rows of the chosen retained version of
 * each partition in history (nothing is copied until publish inserts them into live), so a
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
import type { ColumnInfo, Db, Engine, JsonColumn } from '../engines/engine.js';
import { jsonRowsParam } from '../engines/json-rows.js';
import { TidemarkError } from '../errors.js';
import { planDatasets, type Plan, type PlannedTask } from '../plan/types.js';
import { nowIso } from '../state/json.js';
import { listVersions, type VersionRecord } from '../state/partitions.js';
import { markTasksComputed } from '../state/runs.js';
import { liveTable, stagingTable, stateTable } from '../state/tables.js';
import { checksumColumns, historyRowsSql, locationOf, partitionWindow, removedByRetention, storedColumnsOf, userColumns } from '../api/version-content.js';
import type { Stager } from './executor.js';
import { modelStager } from './model-stager.js';
import { disjoint, integerRanges, overall } from './key-ranges.js';
import { EMPTY_CHECKSUM, stageAsView } from './staging.js';
import type { RunContext } from './run-context.js';
import { ensureRefView, refViewTable } from './render.js';
import { validateStaged, validationError } from './validate.js';

/** What publishHook writes back per restored partition: the input fingerprint of its old version. */
const RESTORED_INPUTS_COLUMNS: readonly JsonColumn[] = [
  { name: 'partition', type: 'VARCHAR' },
  { name: 'inputs', type: 'VARCHAR' },
];

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
    const dependents = dependentsPlan(ws.project, plan);
    const restoring = plan.tasks.filter((x) => x.reason === 'restore');
    // Only dependents to rebuild (every partition already current): they read the live table.
    if (restoring.length) await stageVersions(ctx, ds, restoring, restoreVersions(plan), stored, dependents.tasks.length > 0);
    if (!dependents.tasks.length) return { reused: 0, skipped: 0 };
    return modelStager.compute({ ...ctx, plan: dependents });
  },

  publishHook(ctx) {
    return async (tx: Db) => {
      const { engine } = ctx.ws;
      const ds = getDataset(ctx.ws.project, ctx.plan.targets[0]);
      // The staging view reads history: it goes with the publish that consumed it (dropStaging only
      // drops tables). The run's overlay view reads it, so that one goes first (PostgreSQL insists).
      const recorded = await listVersions(tx, engine, ds.name, Object.keys(restoreVersions(ctx.plan)));
      await checkStillHeld(tx, ctx, ds, recorded);
      await tx.exec(`DROP VIEW IF EXISTS ${refViewTable(engine, ctx.runId, ds.name)}`);
      await tx.exec(`DROP VIEW IF EXISTS ${stagingTable(engine, ctx.runId, ds.name)}`);
      // A restored partition carries the input fingerprint of the version it brings back, not of
      // today's upstream: if the upstream changed since, `run` sees it as stale, which it is.
      if (ds.kind !== 'model') return;
      const versions = restoreVersions(ctx.plan);
      const old = recorded.filter((v) => versions[v.partition] === v.version);
      if (!old.length) return;
      const json = jsonRowsParam(old.map((v) => ({ partition: v.partition, inputs: JSON.stringify(v.inputs) })));
      const rows = engine.dialect.jsonRows('$1', RESTORED_INPUTS_COLUMNS, 'r');
      for (const table of ['partitions', 'versions'] as const) {
        await tx.exec(
          `UPDATE ${stateTable(engine, table)} AS t SET inputs = r.inputs FROM ${rows}
           WHERE t.dataset = $2 AND t.run_id = $3 AND t.partition = r.partition`,
          [json, ds.name, ctx.runId],
        );
      }
    };
  },
};

/**
 * Stages every restored partition at once, without copying a row: the run's staging is a VIEW of the
 * chosen versions' rows in history (one set-based read, a join on (replacing publish, window)), which
 * publish inserts into live like any staging. Then one transaction checks all partitions at once
 * (validate.ts `publishedBefore`: what today's rows and config can fail), checks each against its recorded rows and checksum (history must give back exactly what was published)
 * and marks the tasks computed. History rows of a version change only when publish adds new
 * versions or gc removes expired ones; publish checks that gc has not (publishHook), so a version gc
 * removed in between fails the publish instead of restoring a partition short.
 */
async function stageVersions(ctx: RunContext, ds: DatasetSpec, tasks: PlannedTask[], versions: Record<string, number>, stored: ColumnInfo[], hasDependents: boolean): Promise<void> {
  const { ws, runId } = ctx;
  const { engine } = ws;
  const d = engine.dialect;
  const all = await listVersions(engine, engine, ds.name, tasks.map((t) => t.partition));
  // The current version of a partition is the one not replaced yet.
  const current = new Map(all.filter((v) => v.replaced_at === null).map((v) => [v.partition, v]));
  const chosen: { task: PlannedTask; record: VersionRecord }[] = [];
  for (const t of tasks) {
    const version = versions[t.partition];
    const located = all.filter((v) => v.partition === t.partition).map((record) => ({ record, location: locationOf(record, current.get(t.partition)?.version) }));
    const found = located.find((v) => v.record.version === version);
    if (!found) throw new TidemarkError('NOT_FOUND', `${ds.name} ${t.partition} has no version ${version}`, { dataset: ds.name, partitions: [t.partition] });
    if (found.location === 'removed') throw removedByRetention(ds.name, t.partition, version, located);
    chosen.push({ task: t, record: found.record });
  }

  const columns = stored.map((c) => c.name);
  const visible = userColumns(stored).map((c) => c.name);
  await createStagingView(engine, runId, ds, columns, chosen.map((c) => c.record), current, Boolean(ctx.newRun));
  // Dependents read the restored partitions from staging, through the run's overlay view of the
  // dataset, like any run's (render.ts); a restore without --downstream needs none.
  if (hasDependents) await ensureRefView(engine, engine, ws.project, runId, ds.name, visible, true);
  ctx.columns.set(ds.name, visible);

  for (const c of chosen) ws.events.emit({ type: 'task.started', run_id: runId, dataset: ds.name, partition: c.task.partition });
  const keys = chosen.map((c) => c.task.partition);
  const staging = stagingTable(engine, runId, ds.name);
  try {
    await engine.transaction(async (tx) => {
      // With the rows and checksums, each partition's range of the first key column: restored
      // partitions whose ranges do not overlap cannot share a key, which publish then need not re-check.
      const first = d.quote(ds.key[0]);
      const rows = await tx.query<{ part: string; n: number; c: string; lo: unknown; hi: unknown }>(
        `SELECT ${d.quote(PARTITION_COLUMN)} AS part, count(*) AS n, ${d.checksum(checksumColumns(ds, stored))} AS c, min(${first}) AS lo, max(${first}) AS hi FROM ${staging} GROUP BY 1`,
      );
      const ranges = integerRanges(stored.find((c) => c.name === ds.key[0])?.type, rows);
      if (ranges && disjoint(ranges)) (ctx.keysUniqueInStaging ??= new Set()).add(ds.name);
      const covering = ranges && overall(ranges);
      if (covering) (ctx.stagedKeyRanges ??= new Map()).set(ds.name, covering);
      const problems = await validateStaged(tx, {
        engine,
        dataset: ds,
        staging,
        columns: visible,
        partitions: keys,
        currentRows: new Map(chosen.filter((c) => c.task.current_rows !== null).map((c) => [c.task.partition, c.task.current_rows!])),
        maxShrink: ws.project.guards.max_shrink,
        allowEmpty: Boolean(ctx.options.allowEmpty),
        allowShrink: Boolean(ctx.options.allowShrink),
        publishedBefore: true,
        stagedRows: new Map(rows.map((r) => [r.part, Number(r.n)])),
      });
      const found = new Map(rows.map((r) => [r.part, { rows: Number(r.n), checksum: String(r.c) }]));
      for (const { task, record } of chosen) {
        const got = found.get(task.partition) ?? { rows: 0, checksum: EMPTY_CHECKSUM };
        if (got.checksum !== record.checksum || got.rows !== record.rows) {
          // The usual cause: the partition's live rows were changed outside Tidemark while it was this
          // version, and the publish that replaced them kept those rows in history as evidence. The
          // version as published then exists nowhere, and only a rebuild brings it back.
          throw new TidemarkError(
            'INTERNAL',
            `${ds.name} ${task.partition}: version ${record.version} cannot be restored as it was published: its retained rows differ from it (${got.rows} rows, checksum ${got.checksum}, against ${record.rows} rows, ${record.checksum} published); they were changed outside Tidemark, in the live table before they were replaced or in history since; nothing was published`,
            {
              dataset: ds.name,
              partitions: [task.partition],
              hint: `${ds.kind === 'model' ? `rebuild the partition instead: \`tidemark backfill ${ds.name} --from ${task.partition} --to ${task.partition} --reason "…"\`` : `load that version's files again instead: \`tidemark ingest ${ds.name} FILE… --reason "…"\``}, or restore another version (\`tidemark history ${ds.name} --partition ${task.partition}\` lists them)`,
            },
          );
        }
      }
      if (problems.length) {
        // The version's rows are what they are: the way forward is the flag, or another version.
        const first = problems[0].partition;
        throw validationError(problems, `nothing was published; a version is restored exactly as it was published: if the problem is intended, pass the flag it names; otherwise restore another version (\`tidemark history ${ds.name} --partition ${first}\` lists them)`);
      }
      await markTasksComputed(tx, engine, runId, ds.name, chosen.map(({ task, record }) => ({ partition: task.partition, rows: record.rows, checksum: record.checksum, inputs: record.inputs })));
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const named = error instanceof TidemarkError && error.details.partitions ? new Set(error.details.partitions as string[]) : new Set(keys);
    const failed = keys.filter((k) => named.has(k));
    await markFailed(engine, engine, runId, ds.name, failed, ws.redact(message));
    for (const k of failed) ws.events.emit({ type: 'task.finished', run_id: runId, dataset: ds.name, partition: k, status: 'failed' });
    throw error;
  }
  for (const c of chosen) ws.events.emit({ type: 'task.finished', run_id: runId, dataset: ds.name, partition: c.task.partition, status: 'computed', rows: c.record.rows });
}

/**
 * The run's staging of a restore: a view of the chosen versions' rows, tagged with their partition.
 * Values are inlined (a view takes no parameters); partition keys are Tidemark's own ISO keys.
 * A version that is live again (something restored it meanwhile) is read from live: publish leaves
 * such a partition unchanged (same checksum), so it is only read for the checks above.
 */
async function createStagingView(engine: Engine, runId: string, ds: DatasetSpec, columns: string[], records: VersionRecord[], current: Map<string, { version: number }>, newRun: boolean): Promise<void> {
  const d = engine.dialect;
  const cols = columns.map((c) => d.quote(c));
  const inHistory = records.filter((r) => current.get(r.partition)?.version !== r.version);
  const inLive = records.filter((r) => current.get(r.partition)?.version === r.version);
  const parts: string[] = [];
  if (inHistory.length) parts.push(historyRowsSql(engine, ds, inHistory, columns, PARTITION_COLUMN));
  const pc = d.quote(ds.partitionColumn);
  for (const r of inLive) {
    parts.push(
      `SELECT ${cols.join(', ')}, CAST(${d.stringLiteral(r.partition)} AS VARCHAR) AS ${d.quote(PARTITION_COLUMN)} FROM ${liveTable(engine, ds.name)}
       WHERE ${partitionWindow(engine, ds, r.partition, pc)} AND ${d.partitionKey(pc, ds.grain)} = ${d.stringLiteral(r.partition)}`,
    );
  }
  // A re-issued restore resumes the same run: its overlay view (which reads the staging) goes first.
  if (!newRun) await engine.exec(`DROP VIEW IF EXISTS ${refViewTable(engine, runId, ds.name)}`);
  await stageAsView(engine, runId, ds.name, parts.join(' UNION ALL '), newRun);
}

/**
 * Every version being restored is still held, in the publish transaction: gc marks a version not
 * retained in the same transaction that deletes its rows, so a version gc removed since staging
 * fails the publish here instead of restoring a partition short.
 */
async function checkStillHeld(tx: Db, ctx: RunContext, ds: DatasetSpec, recorded: VersionRecord[]): Promise<void> {
  const { engine } = ctx.ws;
  const wanted = restoreVersions(ctx.plan);
  const published = new Set(
    (await tx.query<{ partition: string }>(`SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND dataset = $2 AND status = 'published'`, [ctx.runId, ds.name])).map((t) => t.partition),
  );
  if (!published.size) return;
  const held = new Set(recorded.filter((v) => v.retained && wanted[v.partition] === v.version).map((v) => v.partition));
  const short = [...published].filter((p) => wanted[p] !== undefined && !held.has(p)).sort();
  if (short.length) {
    throw new TidemarkError('NOT_FOUND', `${ds.name}: the retained rows of ${short.join(', ')} were removed while restoring (tidemark gc?)`, {
      dataset: ds.name,
      partitions: short,
      hint: `nothing was published; tidemark history ${ds.name} shows which versions are still held`,
    });
  }
}

async function markFailed(db: Db, engine: Engine, runId: string, dataset: string, partitions: string[], error: string): Promise<void> {
  for (let i = 0; i < partitions.length; i += 200) {
    const chunk = partitions.slice(i, i + 200);
    await db.exec(
      `UPDATE ${stateTable(engine, 'tasks')} SET status = 'failed', error = $3, finished_at = $4, attempts = attempts + 1 WHERE run_id = $1 AND dataset = $2 AND partition IN (${chunk.map((_, j) => `$${j + 5}`).join(', ')})`,
      [runId, dataset, error, nowIso(), ...chunk],
    );
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
  // Partitions already current count too: a dependent reading one was left stale by an earlier restore.
  const current = (plan.request.current ?? []) as PartitionKey[];
  const restored = new Set([...plan.tasks.filter((t) => t.reason === 'restore').map((t) => t.partition), ...current]);
  const tasks = plan.tasks
    .filter((t) => t.reason !== 'restore')
    .map((t) => (readsRestored(project, t, target, restored) ? { ...t, reason: 'requested' as const } : t));
  return { ...plan, tasks, datasets: planDatasets(tasks) };
}

function readsRestored(project: Project, t: PlannedTask, target: DatasetSpec, restored: Set<PartitionKey>): boolean {
  const model = getModel(project, t.dataset);
  return model.upstream.some((up) => up.dataset === target.name && upstreamKeys(t.partition, mappingOf(model, target, up.lookback)).some((k) => restored.has(k)));
}

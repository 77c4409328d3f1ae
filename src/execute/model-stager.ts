/**
 * Computes model partitions into staging: each task renders its model's SQL for its window, inserts
 * the rows in one transaction with their validation, and is marked computed only after that commits.
 * Tasks run dataset by dataset in dependency order, in parallel within a dataset. With
 * `--publish partition` each batch is published as soon as it is computed (`ctx.publishBatch`), so a
 * dataset's partitions are all published before its dependents are computed.
 */
import { getModel, type ModelSpec, type Project } from '../config/project.js';
import { addPartitions, type PartitionKey } from '../core/grain.js';
import { upstreamKeys } from '../core/dependencies.js';
import { FILE_COLUMN, PARTITION_COLUMN } from '../core/identifiers.js';
import { inputsFor, mappingOf, partitionsRead, type Snapshot } from '../core/staleness.js';
import type { ColumnInfo, Connection, Db, Engine } from '../engines/engine.js';
import { Mutex } from '../engines/mutex.js';
import { TidemarkError } from '../errors.js';
import type { Plan, PlannedTask } from '../plan/types.js';
import { addNotice, columnsAddedNotice } from '../plan/columns-added.js';
import { checkpointLiteral } from '../state/checkpoints.js';
import { loadPartitionVersions, loadPartitionVersionsOf, type Inputs } from '../state/partitions.js';
import { listTasks, markTasksComputed, updateTask, type TaskRecord } from '../state/runs.js';
import { stagingTable, stateTable } from '../state/tables.js';
import { nowIso } from '../state/json.js';
import type { Workspace } from '../workspace.js';
import { crashPoint } from './crash.js';
import type { Stager } from './executor.js';
import { ensureRefView, refViewTable, renderModelSql, sqlHash, type RefSource } from './render.js';
import type { RunContext } from './run-context.js';
import { openTaskGate } from '../scheduler/gate.js';
import { addedColumns, describeColumnDiff, ensureStagingTable, sameColumns, EMPTY_CHECKSUM } from './staging.js';
import { measureStaged, validateStaged, validationError } from './validate.js';

export const modelStager: Stager = {
  publishesPerBatch: true,

  async preflight(ws, plan) {
    // In a chain each live table is read as a model's output and as the next one's input: once is enough.
    const live = liveColumnsReader(ws.engine);
    const described = new Map<string, { output: ColumnInfo[]; live: ColumnInfo[] | null }>();
    for (const name of datasetsInOrder(ws.project, plan)) {
      const model = getModel(ws.project, name);
      const first = plan.tasks.find((t) => t.dataset === name)!;
      const refs = await plainRefs(ws, model, live);
      if (!refs) continue; // an upstream is built by this same run; checked when staging is prepared
      const sql = renderModelSql(ws.engine, ws.project, model, first.partition, (d) => refs.get(d)!);
      const liveColumns = await live(name);
      const output = await describeModel(ws.engine, ws.engine, model, sql, liveColumns);
      described.set(name, { output, live: liveColumns });
      const gained = liveColumns && !sameColumns(liveColumns, output) ? addedColumns(liveColumns, output) : null;
      if (gained?.length) addNotice(plan, columnsAddedNotice(model.name, model.sqlFile, gained, plan.tasks.filter((t) => t.dataset === name).map((t) => t.partition)));
    }
    describedAgainstLive.set(plan, described);
  },

  async compute(ctx) {
    const { ws, plan } = ctx;
    const { engine, project } = ws;
    const snapshot = await currentSnapshot(ws, plan);
    // Every task of the run, read once: only this computation changes them until it ends. A run
    // created by this attempt has exactly the plan's tasks, all pending.
    const taskRecords = ctx.newRun ? plan.tasks.map((t, ord) => pendingTask(ctx.runId, t, ord)) : await listTasks(engine, engine, ctx.runId);
    // Run views are created for the datasets that a later dataset of the run reads (and cumulative
    // models, which read their own past): no other reader exists, so the rest would be created only to
    // be dropped. A new run keeps count, so that cleanup drops only those.
    const viewed = datasetsReadInRun(project, plan);
    if (ctx.newRun) ctx.refViews = new Set();
    /** Datasets staged by this run whose output has exactly their live table's columns. */
    const stagedAsLive = new Map<string, boolean>();
    let reused = 0;
    let skipped = 0;
    const changed = new Map<string, Set<PartitionKey>>();
    const recomputed = new Map<string, Set<PartitionKey>>();
    const parallel = Math.max(1, ctx.options.maxParallel ?? 2);
    const connections: Connection[] = [];
    // Issue 7: every computed task takes a slot of the run's pool and passes the throttle and the cancel
    // check first; all of it happens between tasks, never inside one.
    const gate = openTaskGate(ctx, parallel);
    try {
      for (let i = 0; i < parallel; i++) connections.push(await engine.connect());
      for (const name of datasetsInOrder(project, plan)) {
        const model = getModel(project, name);
        const planned = plan.tasks.filter((t) => t.dataset === name);
        const anyComputed = taskRecords.some((t) => t.dataset === name && t.status === 'computed');
        // The output preflight described against live tables is the output against this run's views
        // too when every view it reads has the live table's exact columns, and no other process can
        // have changed a live table since (a single-writer engine: this process holds the database).
        const reads = [...model.upstream.map((u) => u.dataset), ...(model.dependsOnPast ? [model.name] : [])];
        const viewsAsLive = reads.every((d) => !ctx.columns.has(d) || stagedAsLive.get(d) === true);
        // The live table's columns read then are still its columns, on the same grounds.
        const known = viewsAsLive && !engine.capabilities.multiWriter ? describedAgainstLive.get(plan)?.get(name) : undefined;
        const view = viewed.has(name);
        const { columns, recreated, live: liveColumns } = await prepareStagingTable(ctx, model, planned[0].partition, { anyComputed, described: known?.output, live: known?.live, view });
        const publishBatch =
          ctx.publishBatch && (view ? publisherKeepingViewCurrent(ctx, model, columns, liveColumns) : (partitions: PartitionKey[]) => ctx.publishBatch!(name, partitions));
        ctx.columns.set(name, columns.map((c) => c.name));
        stagedAsLive.set(name, liveColumns !== null && sameColumns(liveColumns, columns));
        // A recreated staging table holds nothing: its tasks were reset to pending (and need no DELETE).
        const records = new Map(taskRecords.filter((t) => t.dataset === name).map((t) => [t.partition, recreated && t.status === 'computed' ? { ...t, status: 'pending' } : t]));
        const live = snapshot.get(name) ?? new Map();
        const myChanged = new Set<PartitionKey>();
        const myRecomputed = new Set<PartitionKey>();
        changed.set(name, myChanged);
        recomputed.set(name, myRecomputed);
        const readsAny = (t: PlannedTask, sets: Map<string, Set<PartitionKey>>) => readsFrom(project, model, t.partition, sets);
        // {{ checkpoint }} of an incremental model: its mark when this dataset's computation starts.
        const checkpoint = model.incremental ? await checkpointLiteral(engine, engine, model) : undefined;

        /** Staged by an earlier attempt and reused as they are: a batch publishes them with its computed ones. */
        const reusedKeys = new Set<PartitionKey>();
        /** Skipped, reused, or to compute: decided per partition before any work. */
        const triage = (t: PlannedTask): { sql: string; hash: string; inputs: Inputs } | null => {
          const rec = records.get(t.partition)!;
          if (rec.status === 'published' || rec.status === 'unchanged') {
            // An earlier publish of this run (--publish partition) made it final: neither computed nor
            // published again. What it changed still makes its dependents compute.
            reused++;
            if (rec.status === 'published') myChanged.add(t.partition);
            ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: t.partition, status: 'reused', rows: Number(rec.rows) });
            return null;
          }
          const sql = renderModelSql(engine, project, model, t.partition, (d) => refSource(ctx, d), checkpoint);
          const hash = sqlHash(sql);
          const inputs = inputsFor(project, model, t.partition, snapshot);
          if (t.reason === 'downstream' && !readsAny(t, changed)) {
            skipped++;
            skippedKeys.push(t.partition);
            ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: t.partition, status: 'skipped' });
            return null;
          }
          if (rec.status === 'computed' && rec.sql_hash === hash && JSON.stringify(rec.inputs) === JSON.stringify(inputs) && !readsAny(t, recomputed)) {
            reused++;
            reusedKeys.add(t.partition);
            noteChange(t.partition, rec.checksum, live.get(t.partition)?.checksum, myChanged);
            ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: t.partition, status: 'reused', rows: Number(rec.rows) });
            return null;
          }
          return { sql, hash, inputs };
        };
        const skippedKeys: PartitionKey[] = [];

        /** Computes a batch into staging; returns its partitions now staged (computed or reused), for publishing. */
        const stageBatch = async (conn: Connection, batch: PlannedTask[]): Promise<PartitionKey[]> => {
          const work = batch.map((t) => ({ task: t, plan: triage(t) })).filter((w): w is { task: PlannedTask; plan: NonNullable<ReturnType<typeof triage>> } => w.plan !== null);
          const staged = batch.filter((t) => reusedKeys.has(t.partition)).map((t) => t.partition);
          if (!work.length) return staged;
          const endTask = await gate.enter(conn);
          for (const w of work) ws.events.emit({ type: 'task.started', run_id: ctx.runId, dataset: name, partition: w.task.partition });
          try {
            const stats = await computeBatch(ctx, conn, model, work, columns, recreated);
            for (const w of work) {
              const st = stats.get(w.task.partition)!;
              crashPoint('task.computed');
              myRecomputed.add(w.task.partition);
              noteChange(w.task.partition, st.checksum, live.get(w.task.partition)?.checksum, myChanged);
              ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: w.task.partition, status: 'computed', rows: st.rows });
            }
            return [...staged, ...work.map((w) => w.task.partition)];
          } catch (first) {
            let error: unknown = first;
            if (work.length > 1 && first instanceof TidemarkError && first.code === 'SQL') {
              // Find the partition whose SQL fails: the partitions before it are computed and kept.
              error = null;
              for (const w of work) {
                try {
                  const one = await computeBatch(ctx, conn, model, [w], columns, recreated);
                  const st = one.get(w.task.partition)!;
                  myRecomputed.add(w.task.partition);
                  noteChange(w.task.partition, st.checksum, live.get(w.task.partition)?.checksum, myChanged);
                  ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: w.task.partition, status: 'computed', rows: st.rows });
                } catch (e) {
                  error = e;
                  work.splice(0, work.indexOf(w));
                  break;
                }
              }
              if (error === null) return [...staged, ...work.map((w) => w.task.partition)];
            }
            const err = error instanceof TidemarkError ? error : modelSqlError(model, work.map((w) => w.task.partition), error);
            // Only the partitions the error names failed; the rest of the batch simply was not computed.
            const failed = new Set(err.details.partitions ?? work.map((w) => w.task.partition));
            for (const w of work) {
              if (!failed.has(w.task.partition)) continue;
              await updateTask(engine, engine, ctx.runId, name, w.task.partition, { status: 'failed', error: ws.redact(err.message), finished_at: nowIso(), attempt: true });
              ws.events.emit({ type: 'task.finished', run_id: ctx.runId, dataset: name, partition: w.task.partition, status: 'failed' });
            }
            throw err;
          } finally {
            endTask();
          }
        };
        const runBatch = async (conn: Connection, batch: PlannedTask[]) => {
          const staged = await stageBatch(conn, batch);
          // Published after the task's slot is released: a publish waits for the one before it.
          if (publishBatch && staged.length) await publishBatch(staged);
        };
        // A cumulative model reads its own previous partition, committed: one partition at a time, in order.
        const lanes = model.dependsOnPast ? connections.slice(0, 1) : connections;
        // A rate limit counts partitions, so a throttled run computes them one at a time.
        const size = model.dependsOnPast || ctx.options.rate ? 1 : batchSize(planned.length, lanes.length);
        await runAll(lanes, chunk(planned, size), runBatch);
        await markSkipped(ctx, name, skippedKeys);
      }
    } finally {
      await gate.close();
      for (const c of connections) await c.close();
    }
    return { reused, skipped };
  },
};

/**
 * Publishes a batch of `model` (ctx.publishBatch), then keeps the run's view of it reading what it
 * should: the view reads the live table for partitions no longer 'computed', so it is rebuilt when
 * that table was created or gained columns since the view was made (a first build; add_columns).
 * Calls for one dataset run one after another, the view rebuilt by at most one of them at a time.
 */
function publisherKeepingViewCurrent(ctx: RunContext, model: ModelSpec, columns: ColumnInfo[], liveAtView: ColumnInfo[] | null): (partitions: PartitionKey[]) => Promise<void> {
  const { engine, project } = ctx.ws;
  const oneAtATime = new Mutex();
  return (partitions) =>
    oneAtATime.run(async () => {
      await ctx.publishBatch!(model.name, partitions);
      const live = await engine.columns(engine.dataSchema, model.name);
      if (live && !(liveAtView && sameColumns(liveAtView, live))) {
        await ensureRefView(engine, engine, project, ctx.runId, model.name, columns.map((c) => c.name), true, { liveColumns: live });
        liveAtView = live;
      }
    });
}

/** Dependents compute only when something they read actually changed in this run. */
function noteChange(partition: PartitionKey, checksum: string | null, liveChecksum: string | undefined, into: Set<PartitionKey>): void {
  if (checksum !== liveChecksum) into.add(partition);
}

/**
 * Partitions are computed in batches: one transaction stages, validates and records a batch, so the
 * fixed cost of a task (commit, validation queries, bookkeeping) is paid once per batch. Batches stay
 * small enough to keep every connection busy and a failure's blast radius (nothing is published) equal.
 */
export function batchSize(tasks: number, lanes: number): number {
  // A few tasks (a routine run after a late file): one batch. Its fixed cost (a transaction, the
  // validation queries) is then most of the work, and the engine parallelises one statement itself.
  if (tasks <= 8) return Math.max(1, tasks);
  return Math.min(32, Math.ceil(tasks / (lanes * 2)));
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function markSkipped(ctx: RunContext, dataset: string, keys: PartitionKey[]): Promise<void> {
  const { engine } = ctx.ws;
  for (const part of chunk(keys, 200)) {
    const list = part.map((_, i) => `$${i + 3}`).join(', ');
    await engine.exec(`UPDATE ${stateTable(engine, 'tasks')} SET status = 'skipped', finished_at = '${nowIso()}' WHERE run_id = $1 AND dataset = $2 AND partition IN (${list})`, [ctx.runId, dataset, ...part]);
  }
}

/** Runs batches with one worker per connection; the first failure stops new batches from starting. */
async function runAll<T>(connections: Connection[], tasks: T[], fn: (c: Connection, t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  await Promise.all(
    connections.map(async (conn) => {
      while (failure === null && next < tasks.length) {
        const t = tasks[next++];
        try {
          await fn(conn, t);
        } catch (error) {
          if (failure === null) failure = error;
        }
      }
    }),
  );
  if (failure !== null) throw failure;
}

/**
 * Stages a batch of partitions, validates them and marks their tasks computed, all in one
 * transaction: staged rows and the record that they are complete commit together.
 */
async function computeBatch(
  ctx: RunContext,
  conn: Connection,
  model: ModelSpec,
  work: { task: PlannedTask; plan: { sql: string; hash: string; inputs: Inputs } }[],
  columns: ColumnInfo[],
  freshStaging = false,
): Promise<Map<string, { rows: number; checksum: string }>> {
  const { engine, project } = ctx.ws;
  const d = engine.dialect;
  const staging = stagingTable(engine, ctx.runId, model.name);
  const p = d.quote(PARTITION_COLUMN);
  const keys = work.map((w) => w.task.partition);
  const inList = keys.map((_, i) => `$${i + 1}`).join(', ');
  return conn.transaction(async (tx) => {
    // Rows of an earlier attempt go first; a staging table created by this attempt has none.
    if (!freshStaging) await tx.exec(`DELETE FROM ${staging} WHERE ${p} IN (${inList})`, keys);
    // One INSERT for the whole batch lets DuckDB run the partitions' queries together (other engines:
    // one INSERT per partition, see Capabilities.unionBatches); if it fails, the caller retries the
    // partitions one by one so the error names the partition.
    try {
      if (engine.capabilities.unionBatches) {
        const union = work.map((w, i) => `SELECT q${i}.*, $${i + 1} FROM (${w.plan.sql}) q${i}`).join(' UNION ALL ');
        await tx.exec(`INSERT INTO ${staging} ${union}`, keys);
      } else {
        for (const w of work) await tx.exec(`INSERT INTO ${staging} SELECT q.*, $1 FROM (${w.plan.sql}) q`, [w.task.partition]);
      }
    } catch (error) {
      throw modelSqlError(model, keys, error);
    }
    // Counts, checksums and the window check in one scan; validation reuses them.
    const names = columns.map((c) => c.name);
    const measured = await measureStaged(tx, { engine, dataset: model, staging, columns: names, partitions: keys });
    const problems = await validateStaged(tx, {
      engine,
      dataset: model,
      staging,
      columns: names,
      partitions: keys,
      currentRows: new Map(work.filter((w) => w.task.current_rows !== null).map((w) => [w.task.partition, w.task.current_rows!])),
      maxShrink: project.guards.max_shrink,
      allowEmpty: Boolean(ctx.options.allowEmpty),
      allowShrink: Boolean(ctx.options.allowShrink),
      stagedRows: measured.stagedRows,
      windowRows: measured.windowRows,
      keysUnique: measured.keysUnique,
    });
    if (problems.length) throw validationError(problems);
    const stats = new Map<string, { rows: number; checksum: string }>();
    for (const w of work) stats.set(w.task.partition, measured.stats.get(w.task.partition) ?? { rows: 0, checksum: EMPTY_CHECKSUM });
    await markTasksComputed(tx, engine, ctx.runId, model.name, work.map((w) => ({ partition: w.task.partition, ...stats.get(w.task.partition)!, sql_hash: w.plan.hash, inputs: w.plan.inputs })));
    return stats;
  });
}

/** Computes one partition (a batch of one), e.g. a task claimed by `tidemark worker`. */
async function computeTask(
  ctx: RunContext,
  conn: Connection,
  model: ModelSpec,
  t: PlannedTask,
  sql: string,
  columns: ColumnInfo[],
  record: { sql_hash: string; inputs: Inputs },
): Promise<{ rows: number; checksum: string }> {
  const stats = await computeBatch(ctx, conn, model, [{ task: t, plan: { sql, hash: record.sql_hash, inputs: record.inputs } }], columns);
  return stats.get(t.partition)!;
}

function modelSqlError(model: ModelSpec, partitions: string[], error: unknown): TidemarkError {
  const message = error instanceof Error ? error.message : String(error);
  return new TidemarkError('SQL', `${model.sqlFile} (${model.name} ${partitions.join(', ')}): ${message}`, {
    dataset: model.name,
    partitions,
    hint: `fix ${model.sqlFile} and re-issue the command; nothing was published`,
  });
}

/** Creates the run's staging table for a model from the shape of its output. */
async function prepareStaging(ctx: RunContext, model: ModelSpec, firstPartition: PartitionKey): Promise<ColumnInfo[]> {
  return (await prepareStagingTable(ctx, model, firstPartition)).columns;
}

/**
 * prepareStaging, also saying whether the staging table was (re)created, hence empty. Options:
 * `anyComputed` false when the caller knows no task of the dataset is computed; `described` the
 * model's output and `live` the live table's columns (null: no table) when the caller knows them;
 * `view` false when nothing in this run reads the dataset through the run's view.
 */
async function prepareStagingTable(
  ctx: RunContext,
  model: ModelSpec,
  firstPartition: PartitionKey,
  known: { anyComputed?: boolean; described?: ColumnInfo[]; live?: ColumnInfo[] | null; view?: boolean } = {},
): Promise<{ columns: ColumnInfo[]; recreated: boolean; live: ColumnInfo[] | null }> {
  const { engine, project } = ctx.ws;
  const { anyComputed = true, described, view = true } = known;
  // The live table's columns, read once here and handed to the checks and the view that need them.
  const live = known.live !== undefined ? known.live : await engine.columns(engine.dataSchema, model.name);
  // A run created by this attempt has no staging table yet, unless made just below.
  let knownAbsent = Boolean(ctx.newRun);
  if (model.dependsOnPast && !live && model.columns) {
    // The first build of a cumulative model reads its own past through the run's view, which must
    // exist before its output can be described: create it from the declared columns.
    await prepareSelfView(ctx, model, model.columns);
    knownAbsent = false;
  }
  const sql = renderModelSql(engine, project, model, firstPartition, (d) => refSource(ctx, d));
  const columns = await describeModel(engine, engine, model, sql, live, described);
  if (model.columns) {
    const declared = model.columns.map((c) => ({ name: c.name, type: engine.dialect.columnType(c.type) }));
    if (!sameColumns(declared, columns)) {
      throw new TidemarkError('VALIDATION', `${model.name}: the output of ${model.sqlFile} does not match its declared columns: ${describeColumnDiff(declared, columns)}`, { dataset: model.name });
    }
  }
  const recreated = await ensureStagingTable(engine, engine, ctx.runId, model.name, columns, {
    // The run's view reads the staging table: it goes first when the table is replaced.
    beforeDrop: () => engine.exec(`DROP VIEW IF EXISTS ${refViewTable(engine, ctx.runId, model.name)}`),
    knownAbsent,
  });
  if (view) {
    await ensureRefView(engine, engine, project, ctx.runId, model.name, columns.map((c) => c.name), live !== null, { liveColumns: live ?? [], fresh: recreated });
    ctx.refViews?.add(model.name);
  }
  // Tasks computed into the table just replaced must be computed again (`anyComputed`: the caller knows none were).
  if (recreated && anyComputed) {
    await engine.exec(`UPDATE ${stateTable(engine, 'tasks')} SET status = 'pending' WHERE run_id = $1 AND dataset = $2 AND status = 'computed'`, [ctx.runId, model.name]);
  }
  return { columns, recreated, live };
}

async function prepareSelfView(ctx: RunContext, model: ModelSpec, declared: ColumnInfo[]): Promise<void> {
  const { engine, project } = ctx.ws;
  const columns = declared.map((c) => ({ name: c.name, type: engine.dialect.columnType(c.type) }));
  await engine.exec(`DROP VIEW IF EXISTS ${refViewTable(engine, ctx.runId, model.name)}`);
  await ensureStagingTable(engine, engine, ctx.runId, model.name, columns);
  await ensureRefView(engine, engine, project, ctx.runId, model.name, columns.map((c) => c.name), false);
  ctx.refViews?.add(model.name);
  ctx.columns.set(model.name, columns.map((c) => c.name));
}

/** The model's output columns; refuses SQL errors and output that no longer matches the live table. */
async function describeModel(db: Db, engine: Engine, model: ModelSpec, sql: string, liveColumns?: ColumnInfo[] | null, described?: ColumnInfo[]): Promise<ColumnInfo[]> {
  let columns: ColumnInfo[];
  try {
    // `described`: the caller already knows what `sql` returns; the checks below still apply.
    columns = described ?? (await engine.describeQuery(db, sql));
  } catch (error) {
    const message = error instanceof TidemarkError ? error.message : String(error);
    throw new TidemarkError('SQL', `${model.sqlFile}: ${message}`, { dataset: model.name, hint: `fix ${model.sqlFile}; nothing was changed` });
  }
  const reserved = columns.find((c) => c.name.toLowerCase().startsWith('_tm_'));
  if (reserved) throw new TidemarkError('CONFIG', `${model.sqlFile}: column '${reserved.name}' uses the reserved prefix _tm_`);
  for (const col of [model.partitionColumn, ...model.key]) {
    if (!columns.some((c) => c.name === col)) {
      throw new TidemarkError('CONFIG', `${model.sqlFile}: the SELECT has no column '${col}' (declared as ${col === model.partitionColumn ? 'partition.column' : 'key'} of ${model.name})`, {
        hint: `output columns: ${columns.map((c) => c.name).join(', ')}`,
      });
    }
  }
  const live = liveColumns !== undefined ? liveColumns : await engine.columns(engine.dataSchema, model.name, db);
  // Schema evolution (issue 6): with on_schema_change: add_columns, new columns at the end pass here;
  // publish adds them to the live table (replacePartitions). Anything else still fails.
  const additive = live !== null && model.onSchemaChange === 'add_columns' && addedColumns(live, columns) !== null;
  if (live && !sameColumns(live, columns) && !additive) {
    throw new TidemarkError('VALIDATION', `${model.name}: the output of ${model.sqlFile} no longer matches the live table: ${describeColumnDiff(live, columns)}`, {
      dataset: model.name,
      hint:
        model.onSchemaChange === 'add_columns'
          ? 'on_schema_change: add_columns only adds new columns at the end; restore the SQL, or migrate the table deliberately'
          : 'a backfill never changes the live schema; restore the SQL, set on_schema_change: add_columns for new columns, or migrate the table deliberately',
    });
  }
  return columns;
}

/** Datasets of the plan read through the run's view during it: by a later dataset of the plan, or by themselves (cumulative models). */
function datasetsReadInRun(project: Project, plan: Plan): Set<string> {
  const read = new Set<string>();
  for (const name of datasetsInOrder(project, plan)) {
    const model = getModel(project, name);
    for (const up of model.upstream) read.add(up.dataset);
    if (model.dependsOnPast) read.add(name);
  }
  return read;
}

/** The task record of a planned task in a run just created (executor.createRun inserts them so). */
function pendingTask(runId: string, t: PlannedTask, ord: number): TaskRecord {
  return { run_id: runId, dataset: t.dataset, partition: t.partition, ord, status: 'pending', attempts: 0, rows: null, checksum: null, sql_hash: null, inputs: {}, error: null, started_at: null, finished_at: null };
}

function datasetsInOrder(project: Project, plan: Plan): string[] {
  const inPlan = new Set(plan.tasks.map((t) => t.dataset));
  return project.order.filter((n) => inPlan.has(n));
}

/**
 * Current partition versions: with a plan, of its partitions and of those they read (what triage and
 * input fingerprints look at); without one, of every partition.
 */
async function currentSnapshot(ws: Workspace, plan?: Plan): Promise<Snapshot> {
  if (!plan) return loadPartitionVersions(ws.engine, ws.engine);
  return loadPartitionVersionsOf(ws.engine, ws.engine, partitionsRead(ws.project, plan.tasks));
}

/** How `ref(dataset)` reads during this run: live only, or staged partitions over live. */
function refSource(ctx: RunContext, dataset: string): RefSource {
  const ds = ctx.ws.project.datasets.get(dataset)!;
  const columns = ctx.columns.get(dataset) ?? (ds.kind === 'source' ? ds.columns.map((c) => c.name) : null);
  if (ctx.columns.has(dataset)) return { columns, staging: { runId: ctx.runId } };
  return { columns };
}

/** Refs for a plan-time check against live tables only; null if an upstream has no live table yet. */
async function plainRefs(ws: Workspace, model: ModelSpec, liveColumns = liveColumnsReader(ws.engine)): Promise<Map<string, RefSource> | null> {
  const refs = new Map<string, RefSource>();
  for (const up of [...model.upstream.map((u) => u.dataset), ...(model.dependsOnPast ? [model.name] : [])]) {
    const ds = ws.project.datasets.get(up)!;
    const live = await liveColumns(up);
    if (!live) {
      if (up === model.name) continue;
      return null;
    }
    refs.set(up, { columns: ds.kind === 'source' ? live.map((c) => c.name).filter((c) => c !== FILE_COLUMN) : null });
  }
  if (model.dependsOnPast && !refs.has(model.name)) return null;
  return refs;
}

/** Preflight's description of each model's output against the live tables (and their columns), for compute to reuse. */
const describedAgainstLive = new WeakMap<Plan, Map<string, { output: ColumnInfo[]; live: ColumnInfo[] | null }>>();

/** Reads live tables' columns, each at most once (for checks that write nothing in between). */
function liveColumnsReader(engine: Engine): (dataset: string) => Promise<ColumnInfo[] | null> {
  const known = new Map<string, Promise<ColumnInfo[] | null>>();
  return (dataset) => {
    let columns = known.get(dataset);
    if (!columns) known.set(dataset, (columns = engine.columns(engine.dataSchema, dataset)));
    return columns;
  };
}

/** True if partition `key` of `model` reads any partition in `sets` (per upstream dataset, or its own past). */
function readsFrom(project: Project, model: ModelSpec, key: PartitionKey, sets: Map<string, Set<PartitionKey>>): boolean {
  for (const up of model.upstream) {
    const set = sets.get(up.dataset);
    if (!set?.size) continue;
    if (upstreamKeys(key, mappingOf(model, project.datasets.get(up.dataset)!, up.lookback)).some((k) => set.has(k))) return true;
  }
  if (model.dependsOnPast) return sets.get(model.name)?.has(addPartitions(key, model.grain, -1)) ?? false;
  return false;
}

// -------------------------------------------------------------------------------------------------
// Issue 8: `tidemark worker` computes the tasks of queued runs one claimed task at a time, outside
// `modelStager.compute` (src/workers/compute.ts). It reuses these pieces, exported here rather than
// moved so that compute's body stays as it is.
export { computeTask, currentSnapshot, datasetsInOrder, prepareStaging, readsFrom, refSource };

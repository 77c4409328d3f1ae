/** Runs and their tasks: the operational journal that makes a run resumable. */
import type { Db, Engine, JsonColumn } from '../engines/engine.js';
import { jsonRowsParam } from '../engines/json-rows.js';
import { nowIso, parseJson } from './json.js';
import { appendOutboxEvent } from './outbox.js';
import { stateTable } from './tables.js';

// 'cancelling': `tidemark cancel` asked the executing process to stop between tasks (issue 7); the run
// still holds its partitions until that process marks it 'cancelled'.
// 'queued' (issue 8): created by `backfill --detach`, waiting for `tidemark worker` processes (pid null).
export type RunStatus = 'queued' | 'planned' | 'computing' | 'cancelling' | 'publishing' | 'published' | 'complete' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'computing' | 'computed' | 'skipped' | 'failed' | 'published' | 'unchanged';

export interface RunRecord {
  run_id: string;
  kind: string;
  run_key: string;
  status: RunStatus;
  actor: string;
  reason: string;
  command: string;
  pool: string;
  request: Record<string, unknown>;
  plan: unknown;
  error: string | null;
  pid: number | null;
  host: string | null;
  created_at: string;
  updated_at: string;
  published_at: string | null;
  publish_seq: number | null;
}

export interface TaskRecord {
  run_id: string;
  dataset: string;
  partition: string;
  ord: number;
  status: TaskStatus;
  attempts: number;
  rows: number | null;
  checksum: string | null;
  sql_hash: string | null;
  inputs: Record<string, Record<string, number>>;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export const ACTIVE: readonly RunStatus[] = ['queued', 'planned', 'computing', 'cancelling', 'publishing'];
export const isActive = (s: RunStatus): boolean => ACTIVE.includes(s);

/** A run row's columns as a header (numbers as numbers); runFromRow adds the parsed JSON columns. */
function headerFromRow(r: Record<string, unknown>): RunHeader {
  return { ...(r as unknown as RunHeader), pid: r.pid === null ? null : Number(r.pid), publish_seq: r.publish_seq === null ? null : Number(r.publish_seq) };
}

function runFromRow(r: Record<string, unknown>): RunRecord {
  return { ...headerFromRow(r), request: parseJson(r.request, {}), plan: parseJson(r.plan, null) };
}

function taskFromRow(r: Record<string, unknown>): TaskRecord {
  return {
    ...(r as unknown as TaskRecord),
    rows: r.rows === null ? null : Number(r.rows),
    ord: Number(r.ord),
    attempts: Number(r.attempts),
    inputs: parseJson(r.inputs, {}),
  };
}

export async function getRun(db: Db, engine: Engine, runId: string): Promise<RunRecord | null> {
  const rows = await db.query(`SELECT * FROM ${stateTable(engine, 'runs')} WHERE run_id = $1`, [runId]);
  return rows[0] ? runFromRow(rows[0]) : null;
}

/** A run without its request and plan (most of its row, as JSON text): what lists of runs show. */
export type RunHeader = Omit<RunRecord, 'request' | 'plan'>;

const HEADER_COLUMNS = 'run_id, kind, run_key, status, actor, reason, command, pool, error, pid, host, created_at, updated_at, published_at, publish_seq';

/** The newest runs without their JSON columns, which the engine would otherwise read for every run it sorts. */
export async function recentRuns(db: Db, engine: Engine, limit: number): Promise<RunHeader[]> {
  const rows = await db.query(`SELECT ${HEADER_COLUMNS} FROM ${stateTable(engine, 'runs')} ORDER BY created_at DESC, run_id DESC LIMIT ${Math.max(1, Math.floor(limit))}`);
  return rows.map(headerFromRow);
}

/** The latest unfinished run issued with the same request, which re-issuing the command resumes. */
export async function findResumableRun(db: Db, engine: Engine, runKey: string): Promise<RunRecord | null> {
  const rows = await db.query(
    `SELECT * FROM ${stateTable(engine, 'runs')} WHERE run_key = $1 AND status IN ('planned', 'computing', 'cancelling', 'publishing', 'failed', 'cancelled') ORDER BY created_at DESC LIMIT 1`,
    [runKey],
  );
  return rows[0] ? runFromRow(rows[0]) : null;
}

export async function listActiveRuns(db: Db, engine: Engine): Promise<RunRecord[]> {
  const rows = await db.query(`SELECT * FROM ${stateTable(engine, 'runs')} WHERE status IN (${ACTIVE.map((st) => `'${st}'`).join(', ')})`);
  return rows.map(runFromRow);
}

export async function insertRun(db: Db, engine: Engine, run: RunRecord): Promise<void> {
  await db.exec(
    `INSERT INTO ${stateTable(engine, 'runs')} (run_id, kind, run_key, status, actor, reason, command, pool, request, plan, error, pid, host, created_at, updated_at, published_at, publish_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    [run.run_id, run.kind, run.run_key, run.status, run.actor, run.reason, run.command, run.pool, JSON.stringify(run.request), JSON.stringify(run.plan), run.error, run.pid, run.host, run.created_at, run.updated_at, run.published_at, run.publish_seq],
  );
}

/** `pid: null` releases the run (its process no longer computes it); `reason`/`pool` are a re-issued command's. */
export async function setRunStatus(
  db: Db,
  engine: Engine,
  runId: string,
  status: RunStatus,
  extra: { error?: string | null; publish_seq?: number; pid?: number | null; reason?: string; pool?: string } = {},
): Promise<void> {
  const now = nowIso();
  const sets = ['status = $2', 'updated_at = $3'];
  const params: unknown[] = [runId, status, now];
  if (extra.error !== undefined) params.push(extra.error), sets.push(`error = $${params.length}`);
  if (extra.publish_seq !== undefined) {
    params.push(extra.publish_seq), sets.push(`publish_seq = $${params.length}`);
    params.push(now), sets.push(`published_at = $${params.length}`);
  }
  if (extra.pid !== undefined) params.push(extra.pid), sets.push(`pid = $${params.length}`);
  if (extra.reason !== undefined) params.push(extra.reason), sets.push(`reason = $${params.length}`);
  if (extra.pool !== undefined) params.push(extra.pool), sets.push(`pool = $${params.length}`);
  await db.exec(`UPDATE ${stateTable(engine, 'runs')} SET ${sets.join(', ')} WHERE run_id = $1`, params);
}

/**
 * computing → publishing, only from computing: one conditional UPDATE, so a cancel (which moves
 * computing → cancelling the same way, cancel.ts) and the start of a publish cannot both win. False
 * when the run is cancelling, or was cancelled meanwhile.
 */
export async function beginPublishing(db: Db, engine: Engine, runId: string): Promise<boolean> {
  const rows = await db.query(`UPDATE ${stateTable(engine, 'runs')} SET status = 'publishing', updated_at = $2 WHERE run_id = $1 AND status = 'computing' RETURNING run_id`, [runId, nowIso()]);
  return rows.length > 0;
}

/** → cancelling, only from a status a run still computes in (the other half of beginPublishing's race). */
export async function beginCancelling(db: Db, engine: Engine, runId: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE ${stateTable(engine, 'runs')} SET status = 'cancelling', updated_at = $2 WHERE run_id = $1 AND status IN ('queued', 'planned', 'computing') RETURNING run_id`,
    [runId, nowIso()],
  );
  return rows.length > 0;
}

const NEW_TASK_COLUMNS: readonly JsonColumn[] = [
  { name: 'dataset', type: 'VARCHAR' },
  { name: 'partition', type: 'VARCHAR' },
  { name: 'ord', type: 'INTEGER' },
];

/** The run's tasks, pending, in plan order (`ord`): one INSERT for any number of tasks (engines/json-rows.ts). */
export async function insertTasks(db: Db, engine: Engine, runId: string, tasks: { dataset: string; partition: string }[]): Promise<void> {
  if (!tasks.length) return;
  const json = jsonRowsParam(tasks.map((t, ord) => ({ dataset: t.dataset, partition: t.partition, ord })));
  await db.exec(
    `INSERT INTO ${stateTable(engine, 'tasks')} (run_id, dataset, partition, ord, status, attempts)
     SELECT CAST($2 AS VARCHAR), r.dataset, r.partition, r.ord, 'pending', 0 FROM ${engine.dialect.jsonRows('$1', NEW_TASK_COLUMNS, 'r')}`,
    [json, runId],
  );
}

export async function listTasks(db: Db, engine: Engine, runId: string): Promise<TaskRecord[]> {
  const rows = await db.query(`SELECT * FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 ORDER BY ord`, [runId]);
  return rows.map(taskFromRow);
}

/**
 * The failed and the unchanged tasks of some runs, in one statement: the partitions each run failed
 * on, and those it found already holding what it computed (it confirmed them without publishing a version).
 */
export async function listFailedAndUnchangedTasks(db: Db, engine: Engine, runIds: string[]): Promise<Pick<TaskRecord, 'run_id' | 'dataset' | 'partition' | 'status'>[]> {
  if (!runIds.length) return [];
  return db.query(
    `SELECT run_id, dataset, partition, status FROM ${stateTable(engine, 'tasks')} WHERE status IN ('failed', 'unchanged') AND run_id IN (${runIds.map((_, i) => `$${i + 1}`).join(', ')})`,
    runIds,
  );
}

export async function updateTask(
  db: Db,
  engine: Engine,
  runId: string,
  dataset: string,
  partition: string,
  fields: Partial<Pick<TaskRecord, 'status' | 'rows' | 'checksum' | 'sql_hash' | 'error' | 'started_at' | 'finished_at'>> & { inputs?: TaskRecord['inputs']; attempt?: boolean },
): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [runId, dataset, partition];
  for (const [k, v] of Object.entries(fields)) {
    if (k === 'attempt') {
      if (v) sets.push('attempts = attempts + 1');
      continue;
    }
    params.push(k === 'inputs' ? JSON.stringify(v) : v);
    sets.push(`${k} = $${params.length}`);
  }
  await db.exec(`UPDATE ${stateTable(engine, 'tasks')} SET ${sets.join(', ')} WHERE run_id = $1 AND dataset = $2 AND partition = $3`, params);
}

/** What a computed task records: its staged rows, their checksum, and what it was computed from. */
export interface ComputedTask {
  partition: string;
  rows: number;
  checksum: string;
  /** The rendered SQL's hash (model tasks; a restore has none). */
  sql_hash?: string | null;
  inputs: unknown;
}

const COMPUTED_TASK_COLUMNS: readonly JsonColumn[] = [
  { name: 'partition', type: 'VARCHAR' },
  { name: 'rows', type: 'BIGINT' },
  { name: 'checksum', type: 'VARCHAR' },
  { name: 'sql_hash', type: 'VARCHAR' },
  { name: 'inputs', type: 'VARCHAR' },
];

/** Records tasks as computed with one UPDATE … FROM the tasks as JSON rows, not one per task. */
export async function markTasksComputed(db: Db, engine: Engine, runId: string, dataset: string, done: ComputedTask[]): Promise<void> {
  if (!done.length) return;
  const json = jsonRowsParam(done.map((t) => ({ partition: t.partition, rows: t.rows, checksum: t.checksum, sql_hash: t.sql_hash ?? null, inputs: JSON.stringify(t.inputs) })));
  await db.exec(
    `UPDATE ${stateTable(engine, 'tasks')} AS t SET status = 'computed', rows = r.rows, checksum = r.checksum, sql_hash = r.sql_hash, inputs = r.inputs, error = NULL,
       started_at = $4, finished_at = $4, attempts = t.attempts + 1
     FROM ${engine.dialect.jsonRows('$1', COMPUTED_TASK_COLUMNS, 'r')}
     WHERE t.run_id = $2 AND t.dataset = $3 AND t.partition = r.partition`,
    [json, runId, dataset, nowIso()],
  );
}

/**
 * Ends a run as cancelled, with its `run.cancelled` event, in one transaction; its staging stays for a
 * resume. `note`: why, kept as the run's error (e.g. what superseded a failed attempt); none for a
 * plain cancel.
 */
export async function markRunCancelled(db: Db, engine: Engine, runId: string, note: string | null = null): Promise<void> {
  await db.transaction((tx) => recordRunCancelled(tx, engine, runId, note));
}

/** The statements of markRunCancelled, in a transaction the caller holds (e.g. a publish's). */
/**
 * The failed runs of one kind, with their requests parsed: what a later command of that kind checks
 * when it dismisses the attempts it superseded (execute/run-superseded.ts, execute/ingest-superseded.ts).
 * Failed runs are few (a failure is re-issued or cancelled), so they are read whole.
 */
export async function listFailedRuns<R = unknown>(db: Db, engine: Engine, kind: string): Promise<{ run_id: string; request: R | null; error: string | null }[]> {
  const rows = await db.query<{ run_id: string; request: unknown; error: string | null }>(`SELECT run_id, request, error FROM ${stateTable(engine, 'runs')} WHERE kind = $1 AND status = 'failed'`, [kind]);
  return rows.map((r) => ({ run_id: r.run_id, request: parseJson<R | null>(r.request, null), error: r.error }));
}

export async function recordRunCancelled(tx: Db, engine: Engine, runId: string, note: string | null = null): Promise<void> {
  const tasks = await listTasks(tx, engine, runId);
  await setRunStatus(tx, engine, runId, 'cancelled', { error: note });
  await appendOutboxEvent(tx, engine, 'run.cancelled', runId, { computed: tasks.filter((t) => t.status === 'computed').length, tasks: tasks.length });
}

/**
 * The library API: the same functions the CLI calls. Each takes an open workspace.
 *
 * @example
 * const ws = await openWorkspace('./shop');
 * await ingest(ws, 'orders', ['data/orders/orders-2026-01-01.csv']);
 * await run(ws);
 * const plan = await planBackfill(ws, { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true });
 * await backfill(ws, { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true }, { reason: 'upstream fix' });
 * // A very large run: publish each batch as soon as it is computed (RunOptions.publish, DESIGN.md "Publish").
 * await backfill(ws, { dataset: 'daily_revenue', from: '2024-01-01', to: '2026-04-30' }, { reason: 'restatement', publish: 'partition' });
 */
import { oneStatement } from '../config/model-sql.js';
import { getDataset } from '../config/project.js';
import { completeness, type Completeness } from './completeness.js';
import { assertStillThePlan } from './confirmed-plan.js';
import { runsAwaitingConsumers, type AwaitingRun } from './consumers.js';
import { frozenPartitions, lockedPartitions, recentPartitions } from '../core/guards.js';
import { sortKeys } from '../core/grain.js';
import { describeStaleReasons, expectedPartitions, inputsFor, replayRequested, staleReasons } from '../core/staleness.js';
import { TidemarkError, usageError } from '../errors.js';
import { executePlan, type RunResult } from '../execute/executor.js';
import { modelStager } from '../execute/model-stager.js';
import type { RunOptions } from '../execute/run-context.js';
import { buildBackfillPlan, buildRunPlan, type BackfillRequest, type RunRequest } from '../plan/build.js';
import { loadPlanningState, type PlanningState } from '../plan/snapshot.js';
import { staleThroughReads } from '../plan/stale-cause.js';
import { isUpToDate, rememberIfUpToDate, upToDateKey } from '../plan/up-to-date.js';
import type { Plan } from '../plan/types.js';
import { loadPartitions, type PartitionRecord } from '../state/partitions.js';
import { listFailedAndUnchangedTasks, recentRuns, type RunHeader, type RunRecord } from '../state/runs.js';
import { dismissSupersededRuns } from '../execute/run-superseded.js';
import { AdmissionConflict } from '../workers/admission.js';
import type { Workspace } from '../workspace.js';

export async function planRun(ws: Workspace, request: RunRequest = {}): Promise<Plan> {
  return (await planRunNotingShortcut(ws, request)).plan;
}

/**
 * planRun, and whether it took the shortcut: a scheduled run that finds nothing to do, twice in a row,
 * does not re-plan (src/plan/up-to-date.ts). Nothing has changed since the `run` that planned from
 * the state then, so nothing is left for that shortcut's run to do after it either.
 */
async function planRunNotingShortcut(ws: Workspace, request: RunRequest): Promise<{ plan: Plan; upToDate: boolean }> {
  const key = await upToDateKey(ws, request);
  if (key !== null && isUpToDate(ws, key)) return { plan: buildRunPlan(ws.project, NOTHING_PUBLISHED, request), upToDate: true };
  const plan = buildRunPlan(ws.project, await loadPlanningState(ws.engine, ws.engine), request);
  if (key !== null) rememberIfUpToDate(ws, key, plan);
  return { plan, upToDate: false };
}

/** Planning state with no partitions: what an up-to-date project plans from (an empty plan). */
const NOTHING_PUBLISHED: PlanningState = { snapshot: new Map(), locks: [], claims: new Map(), inFlight: [], interrupted: [] };

export async function planBackfill(ws: Workspace, request: BackfillRequest): Promise<Plan> {
  // A backfill plans the named range (and what reads it), never staleness: no input fingerprints needed.
  return buildBackfillPlan(ws.project, await loadPlanningState(ws.engine, ws.engine, { withInputs: false }), request);
}

/** The checks a real run makes before writing anything (model SQL binds, output shape matches live). */
export async function preflight(ws: Workspace, plan: Plan): Promise<void> {
  if (plan.tasks.length) await modelStager.preflight(ws, plan);
}

/**
 * Plans and executes a `run`. Production is never refused because another run holds some partitions
 * (SKIPPED_IN_FLIGHT): the planner leaves them, and their dependents, to that run. On a multi-writer
 * engine a run may also start after this plan and before its admission (workers/admission.ts); then
 * the admission refuses, having written nothing, and the run is planned again from the state that
 * now includes it, so the planner leaves those partitions in the same way, with the same notice.
 */
export async function run(ws: Workspace, request: RunRequest = {}, options: Partial<RunOptions> = {}): Promise<RunResult> {
  const runOptions: RunOptions = { reason: options.reason ?? 'scheduled run: build missing and stale partitions', ...options };
  for (let attempt = 1; ; attempt++) {
    const { plan, upToDate } = await planRunNotingShortcut(ws, request);
    try {
      const result = await executePlan(ws, plan, runOptions, modelStager);
      // Up to date: the run that last planned from this same state dismissed what it superseded, and a
      // failed run since would have needed other state; the shortcut stays free of that read.
      if (result.status === 'dry_run' || upToDate) return result;
      const superseded = await dismissSupersededRuns(ws, plan, result.run_id);
      return superseded.length ? { ...result, superseded } : result;
    } catch (error) {
      // Bounded: runs that keep starting in each gap get the refusal (exit 3) after the last attempt.
      if (!(error instanceof AdmissionConflict) || attempt >= RUN_ADMISSION_ATTEMPTS) throw error;
      ws.events.emit({ type: 'log', message: `${error.message.replace(/^refused: /, '')}; planning the run again without them` });
    }
  }
}

/** Plans a `run` may make when runs in flight keep taking its partitions between plan and admission. */
export const RUN_ADMISSION_ATTEMPTS = 3;

/**
 * Backfills a range; pass `plan` to execute exactly the plan a user already confirmed (refused, with
 * nothing written, when planning `request` again no longer gives that plan: confirmed-plan.ts).
 */
export async function backfill(ws: Workspace, request: BackfillRequest, options: RunOptions, confirmed?: Plan): Promise<RunResult> {
  requireReason(options.reason, 'backfill');
  const plan = await planBackfill(ws, request);
  if (confirmed) assertStillThePlan(confirmed, plan);
  return executePlan(ws, confirmed ?? plan, options, modelStager);
}

export function requireReason(reason: string | undefined, command: string): asserts reason is string {
  if (!reason || !reason.trim()) {
    throw usageError(`${command} needs --reason: it is recorded in the audit trail`, `tidemark ${command} … --reason "why this is being done"`);
  }
}

export type PartitionState = 'published' | 'stale' | 'missing' | 'building' | 'failed' | 'frozen' | 'locked';

export interface PartitionRow {
  dataset: string;
  partition: string;
  state: PartitionState;
  version: number | null;
  rows: number | null;
  checksum: string | null;
  run_id: string | null;
  published_at: string | null;
  stale_reasons?: string[];
  protected?: string[];
  /** A failed partition: the newest run that failed on it (re-issuing its command resumes it). */
  failed_run?: string;
}

/** Every partition of a dataset with its state: published, stale (and why), missing, building, failed, frozen or locked. */
export async function listPartitions(ws: Workspace, dataset: string): Promise<PartitionRow[]> {
  getDataset(ws.project, dataset);
  return partitionRows(ws, dataset, await partitionStateInputs(ws, dataset));
}

/** What partition states are derived from, read once: `status` reads it for all datasets at once. */
interface PartitionStateInputs {
  state: PlanningState;
  /** The recorded partitions (of one dataset, or of all). */
  records: Map<string, Map<string, PartitionRecord>>;
  /** The partitions each dataset should have (core/staleness.ts). */
  expected: Map<string, Set<string>>;
  /** The newest 20 runs. */
  recent: RunHeader[];
  /** dataset → partition → the newest of those runs that failed on it, and when. */
  failed: Map<string, Map<string, { run_id: string; at: string }>>;
  /** dataset → partition → why, for partitions stale only through what they read (plan/stale-cause.ts). */
  throughReads: Map<string, Map<string, string>>;
}

async function partitionStateInputs(ws: Workspace, dataset?: string): Promise<PartitionStateInputs> {
  const { engine } = ws;
  const state = await loadPlanningState(engine, engine);
  const records = await loadPartitions(engine, engine, dataset);
  const recent = await recentRuns(engine, engine, 20);
  const failedRuns = recent.filter((r) => r.status === 'failed');
  // Only when a run failed: the failed tasks, and the unchanged ones of the other runs (dropConfirmedFailures).
  const tasks = failedRuns.length ? await listFailedAndUnchangedTasks(engine, engine, recent.map((r) => r.run_id)) : [];
  const failed = new Map<string, Map<string, { run_id: string; at: string }>>();
  // Newest run first: a partition's entry is the latest failure.
  for (const r of failedRuns) {
    for (const t of tasks) {
      if (t.run_id !== r.run_id || t.status !== 'failed') continue;
      let m = failed.get(t.dataset);
      if (!m) failed.set(t.dataset, (m = new Map()));
      if (!m.has(t.partition)) m.set(t.partition, { run_id: r.run_id, at: r.updated_at });
    }
  }
  if (failed.size) dropConfirmedFailures(recent, tasks, failed);
  return { state, records, expected: expectedPartitions(ws.project, state.snapshot), recent, failed, throughReads: staleThroughReads(ws.project, state) };
}

/**
 * A failure is over once a later run rebuilt the partition. One that published a new version moves
 * the partition's published_at past the failure; one that computed exactly the live content publishes
 * nothing (an `unchanged` task), so its publish time is the run's. Without this, a partition repaired
 * by another command (a narrower backfill, the one a refused restore names) stayed `failed`, and held
 * the dataset's watermark back, until someone cancelled the failed run.
 */
function dropConfirmedFailures(recent: RunHeader[], tasks: { run_id: string; dataset: string; partition: string; status: string }[], failed: Map<string, Map<string, { run_id: string; at: string }>>): void {
  const publishedAt = new Map(recent.flatMap((r) => (r.status !== 'failed' && r.published_at ? [[r.run_id, r.published_at] as const] : [])));
  for (const t of tasks) {
    if (t.status !== 'unchanged' || !publishedAt.has(t.run_id)) continue;
    const failure = failed.get(t.dataset)?.get(t.partition);
    if (failure && publishedAt.get(t.run_id)! > failure.at) failed.get(t.dataset)!.delete(t.partition);
  }
}

function partitionRows(ws: Workspace, dataset: string, { state, records: recorded, expected: expectedOf, failed: failures, throughReads }: PartitionStateInputs): PartitionRow[] {
  const ds = getDataset(ws.project, dataset);
  const { project } = ws;
  const records = recorded.get(dataset) ?? new Map<string, PartitionRecord>();
  const expected = expectedOf.get(dataset) ?? new Set();
  const keys = sortKeys([...records.keys(), ...expected]);
  const frozen = new Set(frozenPartitions(ds, keys));
  const locked = new Set(lockedPartitions(state.locks, dataset, keys).flatMap((l) => l.partitions));
  const recent = recentPartitions(ds, records.keys());
  const building = state.claims.get(dataset) ?? new Map();
  const failed = failures.get(dataset) ?? new Map<string, { run_id: string; at: string }>();
  return keys.map((k) => {
    const rec = records.get(k);
    let stale: string[] = [];
    if (rec && ds.kind === 'model') stale = describeStaleReasons(staleReasons(rec.inputs, inputsFor(project, ds, k, state.snapshot)), replayRequested(rec.inputs));
    // Its own inputs unchanged, but it reads a partition `run` rebuilds: `run` rebuilds it too, and `ready` says so.
    const upstream = stale.length ? undefined : throughReads.get(dataset)?.get(k);
    if (upstream) stale = [upstream];
    const protections = [...(frozen.has(k) ? ['frozen'] : []), ...(locked.has(k) ? ['locked'] : []), ...(recent.has(k) ? ['recent'] : [])];
    let st: PartitionState = rec ? 'published' : 'missing';
    if (stale.length) st = 'stale';
    const failure = failed.get(k);
    if (failure && (!rec || failure.at > rec.published_at)) st = 'failed';
    if (building.has(k)) st = 'building';
    if (st === 'published' && frozen.has(k)) st = 'frozen';
    if (st === 'published' && locked.has(k)) st = 'locked';
    const row: PartitionRow = {
      dataset,
      partition: k,
      state: st,
      version: rec?.version ?? null,
      rows: rec?.rows ?? null,
      checksum: rec?.checksum ?? null,
      run_id: rec?.run_id ?? null,
      published_at: rec?.published_at ?? null,
    };
    if (stale.length) row.stale_reasons = stale;
    if (protections.length) row.protected = protections;
    if (st === 'failed') row.failed_run = failure!.run_id;
    return row;
  });
}

/** Completeness (src/api/completeness.ts): the watermark `complete_through`, `gaps`, `first_gap`, `incomplete_at`. */
export interface DatasetStatus extends Completeness {
  dataset: string;
  kind: 'source' | 'model';
  grain: string;
  partitions: number;
  published: number;
  stale: number;
  missing: number;
  failed: number;
  rows: number;
  first: string | null;
  last: string | null;
}

export interface ProjectStatus {
  project: string;
  engine: string;
  datasets: DatasetStatus[];
  active_runs: Pick<RunRecord, 'run_id' | 'kind' | 'status' | 'actor' | 'created_at'>[];
  /** Runs left in flight by a process that is gone (killed, crashed): they hold nothing; re-issuing resumes, cancel ends them. */
  interrupted_runs: Pick<RunRecord, 'run_id' | 'kind' | 'status' | 'actor' | 'created_at'>[];
  failed_runs: Pick<RunRecord, 'run_id' | 'kind' | 'error' | 'created_at'>[];
  /** Runs published but not complete: required consumers have not all acknowledged (issue 9). */
  awaiting_consumers: AwaitingRun[];
}

export async function status(ws: Workspace): Promise<ProjectStatus> {
  const datasets: DatasetStatus[] = [];
  const inputs = await partitionStateInputs(ws);
  for (const name of ws.project.order) {
    const rows = partitionRows(ws, name, inputs);
    const ds = ws.project.datasets.get(name)!;
    const count = (s: PartitionState) => rows.filter((r) => r.state === s).length;
    const present = rows.filter((r) => r.version !== null);
    datasets.push({
      dataset: name,
      kind: ds.kind,
      grain: ds.grain,
      partitions: rows.length,
      published: present.length,
      stale: count('stale'),
      missing: count('missing'),
      failed: count('failed'),
      rows: present.reduce((s, r) => s + (r.rows ?? 0), 0),
      first: present[0]?.partition ?? null,
      last: present[present.length - 1]?.partition ?? null,
      ...completeness(ds.grain, rows),
    });
  }
  const { state, recent } = inputs;
  const summary = ({ run_id, kind, status: s, actor, created_at }: RunRecord) => ({ run_id, kind, status: s, actor, created_at });
  return {
    project: ws.project.name,
    engine: ws.engine.kind,
    datasets,
    active_runs: state.inFlight.map(summary),
    interrupted_runs: state.interrupted.map(summary),
    failed_runs: recent.filter((r) => r.status === 'failed').map(({ run_id, kind, error, created_at }) => ({ run_id, kind, error, created_at })),
    awaiting_consumers: await runsAwaitingConsumers(ws),
  };
}

const READ_ONLY = /^\s*(select|with|from|describe|show|explain|summarize|values|table)\b/i;
const WRITES = /^(insert|update|delete|merge|upsert|replace|drop|create|alter|truncate|copy|attach|detach|install|load|set|reset|pragma|call|checkpoint|force|vacuum|analyze|import|export|begin|start|commit|rollback|abort|end|grant|revoke|comment|use|prepare|execute|deallocate|do|listen|notify|lock|cluster|reindex|refresh|discard)$/i;

/** Read-only SQL: only query statements are accepted, and they run in a transaction that is always rolled back. */
export async function query(ws: Workspace, sql: string): Promise<Record<string, unknown>[]> {
  // One statement: a `;` inside a string literal or a comment is not a second one (config/model-sql.ts).
  const text = oneStatement(sql);
  if (text === null) {
    throw new TidemarkError('USAGE', 'query is read-only and runs one statement: this SQL holds more than one (a `;` outside quotes and comments ends a statement)', {
      hint: 'run each SELECT as its own `tidemark query`; data changes go through ingest, run, backfill or restore so they are versioned and audited',
    });
  }
  if (!READ_ONLY.test(text)) {
    // A first word that writes gets the way to write; any other is most likely a typo of SELECT.
    const word = /^[A-Za-z_]+/.exec(text)?.[0];
    const typo = word !== undefined && !WRITES.test(word);
    throw new TidemarkError('USAGE', typo ? `query is read-only: '${word}' does not start a SELECT (or WITH/FROM/DESCRIBE/SHOW/EXPLAIN) statement` : 'query is read-only: give one SELECT (or WITH/DESCRIBE/SHOW/EXPLAIN) statement', {
      hint: typo ? 'check the first keyword\'s spelling (SELECT …)' : 'data changes go through ingest, run, backfill or restore so they are versioned and audited',
    });
  }
  let rows: Record<string, unknown>[] = [];
  await ws.engine
    .transaction(async (tx) => {
      // DuckDB keeps the live tables in its default schema; PostgreSQL in a schema of their own, so
      // put it first on the search path: `SELECT * FROM daily_revenue` means the same on both.
      if (ws.engine.kind === 'postgres') {
        // READ ONLY makes the server refuse writes a SELECT can still make (nextval(), setval(), writing
        // functions); the rollback alone would not undo what acts outside the transaction.
        await tx.exec('SET TRANSACTION READ ONLY');
        await tx.exec(`SET LOCAL search_path TO ${ws.engine.dialect.quote(ws.engine.dataSchema)}, public`);
      }
      // DuckDB has no read-only transaction: read-only is a setting of the whole database instance,
      // chosen when it is opened. `tidemark query` opens it read-only (duckdb-access.ts), so DuckDB
      // itself refuses any write there; a library caller's workspace may hold the file read-write, and
      // then the rollback is the guard: it undoes every change to tables and schemas (DDL included, and
      // the statement that EXPLAIN ANALYZE executes). It does not undo what acts outside the
      // transaction: a sequence advanced by nextval() (Tidemark's own tables use none), an extension
      // installed or loaded on demand (reading an https:// path), connection state such as setseed();
      // nor does it limit what a query reads (read_csv of any file the process can read).
      rows = await tx.query(text);
      throw ROLLBACK;
    })
    .catch((error) => {
      if (error !== ROLLBACK) throw error;
    });
  return rows;
}
const ROLLBACK = Symbol('rollback');

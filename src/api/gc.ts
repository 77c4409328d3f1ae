/**
 * `tidemark gc`: applies the retention policy to history and drops staging nobody will resume.
 *
 * Retention (`retention: { versions: N, days: D }`): per partition, a replaced version is removed
 * only when it is older than the newest N replaced versions AND was replaced more than D days ago.
 * The live version is never touched. Its history rows are deleted and `versions.retained` set to
 * false in one transaction with the audit record, so `history` and `restore` can say which
 * versions are gone.
 *
 * Staging: a failed or interrupted run keeps its staging so re-issuing the command resumes it. gc
 * drops staging of runs that published (a leftover), runs no longer recorded, and failed attempts
 * superseded by a later run of the same request; `allStaging` also drops the latest failed attempt
 * of each request. Staging of a run whose process is alive is never dropped.
 *
 * File tables (PostgreSQL: the tables a process loads data files into, engines/postgres/file-tables.ts)
 * are dropped once the process that made them is gone, which its owner lock tells (file-table-owner.ts);
 * those of a running process are left alone, whatever their age: its ingest reads them again.
 */
import { getDataset, type Project } from '../config/project.js';
import type { Db, Engine } from '../engines/engine.js';
import { isProcessAlive } from '../io/process-alive.js';
import { appendAudit } from '../state/audit.js';
import { isActive, type RunRecord } from '../state/runs.js';
import { historyTable, stateTable } from '../state/tables.js';
import { historyRowPredicates } from './version-content.js';
import { dropCopiedRows, type HistoryCopy } from '../execute/history-copy.js';
import { runOfLoadTable } from '../execute/first-load.js';
import type { Workspace } from '../workspace.js';
import { claimDeadOwners, fileTableInstance, releaseOwners } from '../engines/postgres/file-table-owner.js';

export interface GcOptions {
  reason?: string;
  dryRun?: boolean;
  /** Also drop the staging of the latest failed attempt of each request (it can then not resume). */
  allStaging?: boolean;
}

/** GcOptions with what only tests set (not exported from the package: src/index.ts). */
export interface InternalGcOptions extends GcOptions {
  /** Clock for the `days` rule. */
  now?: Date;
}

export interface RemovedVersion {
  dataset: string;
  partition: string;
  version: number;
  rows: number;
  replaced_at: string;
  /** The publish that replaced it: its history rows carry this number. */
  replaced_seq: number;
}

export interface DroppedStaging {
  /** The staging schema, or the data schema for a first load's load table (execute/first-load.ts). */
  schema: string;
  table: string;
  /** Null for a file table: a process's, not a run's. */
  run_id: string | null;
  run_status: string | null;
  rows: number;
  /** A run's overlay view (no rows of its own). */
  view: boolean;
  /** Present (true) for a file table a PostgreSQL process that is gone left (engines/postgres/file-tables.ts). */
  file_table?: true;
}

/** Replaced rows a run copied to history ahead of a publish it never made (execute/history-copy.ts). */
export interface DroppedHistoryCopies {
  run_id: string;
  run_status: string | null;
  dataset: string;
  partitions: number;
  rows: number;
}

export interface GcReport {
  dry_run: boolean;
  policy: { versions: number; days: number };
  versions_removed: RemovedVersion[];
  history_rows_removed: number;
  /** Datasets with expired versions that the project file no longer declares: their history is kept. */
  datasets_skipped: string[];
  staging_dropped: DroppedStaging[];
  staging_rows_removed: number;
  history_copies_dropped: DroppedHistoryCopies[];
}

export async function gc(ws: Workspace, options: GcOptions = {}): Promise<GcReport> {
  const { now = new Date() }: InternalGcOptions = options;
  const { engine, project } = ws;
  const policy = project.retention;
  const reason = options.reason?.trim() || `gc: retention policy (keep ${policy.versions} replaced versions per partition and anything replaced within ${policy.days} days)`;
  // History rows are found through the dataset's partition column: a dataset no longer in the
  // project file keeps its history until it is configured again.
  const all = await expiredVersions(engine, policy, now);
  const expired = all.filter((v) => project.datasets.has(v.dataset));
  const skipped = [...new Set(all.filter((v) => !project.datasets.has(v.dataset)).map((v) => v.dataset))].sort();
  let historyRows = 0;
  const byDataset = new Map<string, RemovedVersion[]>();
  for (const v of expired) byDataset.set(v.dataset, [...(byDataset.get(v.dataset) ?? []), v]);
  for (const [dataset, versions] of byDataset) {
    historyRows += await countHistoryRows(engine, engine, project, dataset, versions);
    if (options.dryRun) continue;
    await engine.transaction(async (tx) => {
      await removeFromHistory(tx, engine, project, dataset, versions);
      await appendAudit(tx, engine, {
        actor: ws.actor,
        action: 'gc.retention',
        reason,
        command: ws.command,
        run_id: null,
        dataset,
        partitions: [...new Set(versions.map((v) => v.partition))].sort(),
        details: { policy, removed: versions.map(({ partition, version, rows }) => ({ partition, version, rows })) },
        config_hash: project.configHash,
      });
    });
  }

  // What runs left behind (staging, history copies) goes in a gc.staging record, in the same transaction.
  const auditLeftovers = (tx: Db, details: Record<string, unknown>) =>
    appendAudit(tx, engine, { actor: ws.actor, action: 'gc.staging', reason, command: ws.command, run_id: null, dataset: null, partitions: [], details, config_hash: project.configHash });
  // Tables and copies first, runs second: a run is recorded before it creates any, so a run started meanwhile is known.
  const tables = (await stagingTables(engine)).map((t) => ({ ...t, owner: ownerOf(engine, t) }));
  const copyRows = await historyCopies(engine);
  const runs = await knownRuns(engine, [...tables.flatMap((t) => (t.owner?.kind === 'run' ? [t.owner.run_id] : [])), ...copyRows.map((c) => c.run_id)]);
  const files = await fileTablesOfDeadProcesses(engine, tables);
  let staging: DroppedStaging[];
  let copies: DroppedHistoryCopies[];
  try {
    const ofRuns = await stagingToDrop(engine, tables, runs, Boolean(options.allStaging));
    // Views first (they read the tables): file tables are tables.
    staging = [...ofRuns, ...files.dropped];
    const leftover = historyCopiesToDrop(copyRows, project, runs);
    copies = await describeCopies(engine, engine, project, runs, leftover);
    if (copies.length && !options.dryRun) {
      copies = await engine.transaction(async (tx) => {
        // What is dropped is what this transaction takes: a publish may have taken some meanwhile.
        const dropped = await dropHistoryCopies(tx, engine, project, runs, leftover);
        if (dropped.length) await auditLeftovers(tx, { history_copies_dropped: dropped });
        return dropped;
      });
    }
    if (staging.length && !options.dryRun) {
      await engine.transaction(async (tx) => {
        for (const s of staging) await tx.exec(`DROP ${s.view ? 'VIEW' : 'TABLE'} IF EXISTS ${engine.dialect.table(s.schema, s.table)}`);
        await auditLeftovers(tx, {
          dropped: staging.map(({ schema, table, run_id, run_status, rows, view, file_table }) => ({ schema, table, run_id, run_status, rows, view, ...(file_table ? { file_table } : {}) })),
        });
      });
    }
  } finally {
    await files.release();
  }
  return {
    dry_run: Boolean(options.dryRun),
    policy,
    versions_removed: expired,
    history_rows_removed: historyRows,
    datasets_skipped: skipped,
    staging_dropped: staging,
    staging_rows_removed: staging.reduce((n, s) => n + s.rows, 0),
    history_copies_dropped: copies,
  };
}

/** Replaced versions still held that the policy no longer keeps. */
async function expiredVersions(engine: Engine, policy: { versions: number; days: number }, now: Date): Promise<RemovedVersion[]> {
  const rows = await engine.query<{ dataset: string; partition: string; version: number; rows: number; replaced_at: string; replaced_seq: number }>(
    `SELECT dataset, partition, version, rows, replaced_at, replaced_seq FROM ${stateTable(engine, 'versions')}
     WHERE retained AND replaced_at IS NOT NULL ORDER BY dataset, partition, version DESC`,
  );
  const cutoff = new Date(now.getTime() - policy.days * 86_400_000).toISOString();
  const out: RemovedVersion[] = [];
  let group = '';
  let rank = 0;
  for (const r of rows) {
    const key = `${r.dataset}\0${r.partition}`;
    rank = key === group ? rank + 1 : 1;
    group = key;
    if (rank <= policy.versions || r.replaced_at > cutoff) continue;
    out.push({ dataset: r.dataset, partition: r.partition, version: Number(r.version), rows: Number(r.rows), replaced_at: r.replaced_at, replaced_seq: Number(r.replaced_seq) });
  }
  return out.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.partition.localeCompare(b.partition) || a.version - b.version);
}

/** `(partition = $a AND version = $b) OR …` over chunks, so hundreds of versions stay a few statements. */
function chunks<T>(items: T[], size = 200): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `(partition = $a AND version = $b) OR …` over the versions table. */
function versionPredicate(versions: RemovedVersion[], offset: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const terms = versions.map((v) => {
    params.push(v.partition, v.version);
    return `(partition = $${offset + params.length - 1} AND version = $${offset + params.length})`;
  });
  return { sql: terms.join(' OR '), params };
}

/** The history rows of `versions` (each its tag's rows in the partition's window), by chunk. */
function historyPredicates(engine: Engine, project: Project, dataset: string, versions: RemovedVersion[]): string[] {
  return historyRowPredicates(engine, getDataset(project, dataset), versions.map((v) => ({ partition: v.partition, tag: v.replaced_seq })));
}

async function historyExists(db: Db, engine: Engine, dataset: string): Promise<boolean> {
  return (await engine.columns(engine.historySchema, dataset, db)) !== null;
}

/** History rows matching the predicates (none without a history table). */
async function countRows(db: Db, engine: Engine, dataset: string, predicates: string[]): Promise<number> {
  if (!(await historyExists(db, engine, dataset))) return 0;
  let n = 0;
  for (const which of predicates) n += Number((await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${historyTable(engine, dataset)} WHERE ${which}`))[0].n);
  return n;
}

async function countHistoryRows(db: Db, engine: Engine, project: Project, dataset: string, versions: RemovedVersion[]): Promise<number> {
  return countRows(db, engine, dataset, historyPredicates(engine, project, dataset, versions));
}

async function removeFromHistory(tx: Db, engine: Engine, project: Project, dataset: string, versions: RemovedVersion[]): Promise<void> {
  const exists = await historyExists(tx, engine, dataset);
  for (const chunk of chunks(versions)) {
    if (exists) for (const which of historyPredicates(engine, project, dataset, chunk)) await tx.exec(`DELETE FROM ${historyTable(engine, dataset)} WHERE ${which}`);
    const v = versionPredicate(chunk, 1);
    await tx.exec(`UPDATE ${stateTable(engine, 'versions')} SET retained = FALSE WHERE dataset = $1 AND (${v.sql})`, [dataset, ...v.params]);
  }
}

/** What gc needs to know of a run: whether it is in flight, finished, or the one re-issuing its command resumes. */
type KnownRun = Pick<RunRecord, 'run_id' | 'run_key' | 'status' | 'pid' | 'created_at'>;

/** The recorded runs, and the latest of each request: the one re-issuing the command resumes. */
interface KnownRuns {
  runs: Map<string, KnownRun>;
  latestOfKey: Map<string, KnownRun>;
}

/**
 * The runs that own staging or history copies, and every run of the same requests (to tell which one
 * re-issuing the command resumes), with only the columns gc decides with. Not every run: a project
 * keeps every run it ever made, and what gc may drop belongs to a handful of them.
 */
async function knownRuns(engine: Engine, owners: (string | null)[]): Promise<KnownRuns> {
  const ids = [...new Set(owners.filter((id): id is string => id !== null))];
  const runsTable = stateTable(engine, 'runs');
  const rows = ids.length
    ? await engine.query<KnownRun>(
        `SELECT run_id, run_key, status, pid, created_at FROM ${runsTable}
         WHERE run_key IN (SELECT run_key FROM ${runsTable} WHERE run_id IN (${ids.map((_, i) => `$${i + 1}`).join(', ')}))
         ORDER BY created_at DESC, run_id DESC`,
        ids,
      )
    : [];
  const runs = new Map(rows.map((r) => [r.run_id, { ...r, pid: r.pid === null ? null : Number(r.pid) }]));
  // Newest first (the ORDER BY): a request's first run met is its latest.
  const latestOfKey = new Map<string, KnownRun>();
  for (const r of runs.values()) if (!latestOfKey.has(r.run_key)) latestOfKey.set(r.run_key, r);
  return { runs, latestOfKey };
}

/**
 * Who a table of the staging or data schema belongs to, decided once for every use: a run (its staging
 * table `<run>__<dataset>` or overlay view; `load`: a first load's load table in the data schema,
 * execute/first-load.ts), a process (a PostgreSQL file table, named by its engine instance), or no one
 * gc knows (a live table).
 */
type TableOwner = { kind: 'run'; run_id: string; load: boolean } | { kind: 'process'; instance: string } | null;

function ownerOf(engine: Engine, t: TableRow): TableOwner {
  if (t.table_schema !== engine.stagingSchema) {
    const run = runOfLoadTable(t.table_name);
    return run === null ? null : { kind: 'run', run_id: run, load: true };
  }
  const instance = engine.kind === 'postgres' ? fileTableInstance(t.table_name) : null;
  return instance !== null ? { kind: 'process', instance } : { kind: 'run', run_id: t.table_name.split('__')[0], load: false };
}

/** In flight; a run with no pid is computed by workers (issue 8) and in flight while active. */
function inFlight(known: KnownRuns, runId: string): boolean {
  const run = known.runs.get(runId);
  return run !== undefined && isActive(run.status) && (run.pid === null || isProcessAlive(run.pid));
}

/** Whether a run's staging may go: not while it is in flight, nor (unless `all`) while re-issuing its command would resume it. */
function leftBehind(known: KnownRuns, runId: string, all: boolean): boolean {
  if (inFlight(known, runId)) return false;
  const run = known.runs.get(runId) ?? null;
  const finished = run !== null && (run.status === 'published' || run.status === 'complete');
  const resumable = run !== null && !finished && known.latestOfKey.get(run.run_key)?.run_id === run.run_id;
  return !resumable || all;
}

interface TableRow {
  table_schema: string;
  table_name: string;
  table_type: string;
}

type OwnedTable = TableRow & { owner: TableOwner };

/** The tables and views of the staging schema and the data schema (where first loads' load tables are). */
function stagingTables(engine: Engine): Promise<TableRow[]> {
  return engine.query<TableRow>(`SELECT table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema IN ($1, $2) ORDER BY table_name`, [
    engine.stagingSchema,
    engine.dataSchema,
  ]);
}

/**
 * Staging tables (and the runs' overlay views over them) no one will resume from, and first loads'
 * load tables of runs not in flight: a resumed load builds its table again (execute/first-load.ts),
 * so one a killed process left is of no use, and it sits in the user's data schema. The staging view
 * over a load table goes with it, even when its run could resume (which builds both again): it reads
 * nothing without the table, and PostgreSQL would not drop the table while the view depends on it.
 */
async function stagingToDrop(engine: Engine, tables: OwnedTable[], known: KnownRuns, all: boolean): Promise<DroppedStaging[]> {
  const out: DroppedStaging[] = [];
  const isView = (type: string) => type.toUpperCase().includes('VIEW');
  const ofRuns = tables.flatMap((t) => (t.owner?.kind === 'run' ? [{ ...t, owner: t.owner }] : []));
  // Runs whose load table goes: a first load's run stages one dataset, its staging is the view over that table.
  const loadsDropped = new Set(ofRuns.filter((t) => t.owner.load && !inFlight(known, t.owner.run_id)).map((t) => t.owner.run_id));
  for (const { table_schema: schema, table_name: table, table_type: type, owner } of ofRuns) {
    const { run_id: runId, load } = owner;
    const view = isView(type);
    // A load table goes with its run's; staging goes when no one resumes from it, or when it is the view over a load table that goes.
    const drop = load ? loadsDropped.has(runId) : leftBehind(known, runId, all) || (view && loadsDropped.has(runId));
    if (!drop) continue;
    const rows = view ? 0 : await rowsIn(engine, schema, table);
    out.push({ schema, table, run_id: runId, run_status: known.runs.get(runId)?.status ?? null, rows, view });
  }
  // Views first: they read the tables.
  return out.sort((a, b) => Number(b.view) - Number(a.view) || a.table.localeCompare(b.table));
}

/** What a table gc drops held, for its report. */
async function rowsIn(engine: Engine, schema: string, table: string): Promise<number> {
  return Number((await engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${engine.dialect.table(schema, table)}`))[0].n);
}

/** The file tables gc may drop, and the session holding their dead owners' locks until it has. */
interface DeadOwnersFileTables {
  dropped: DroppedStaging[];
  release(): Promise<void>;
}

/**
 * File tables whose process is gone. gc's own session takes their owners' locks (file-table-owner.ts)
 * and keeps them until `release`, after the drop: no new process can take one of their ids meanwhile.
 * A lock it cannot take belongs to a running process (whose ingest reads its tables again), or to
 * another gc dropping them now: left alone. DuckDB reads files directly and has none.
 */
async function fileTablesOfDeadProcesses(engine: Engine, tables: OwnedTable[]): Promise<DeadOwnersFileTables> {
  const files = tables.flatMap((t) => (t.owner?.kind === 'process' ? [{ schema: t.table_schema, table: t.table_name, instance: t.owner.instance }] : []));
  if (files.length === 0) return { dropped: [], release: async () => undefined };
  const session = await engine.connect();
  let dead = new Set<string>();
  const release = async () => {
    try {
      await releaseOwners(session, dead);
    } finally {
      await session.close();
    }
  };
  try {
    dead = await claimDeadOwners(session, new Set(files.map((t) => t.instance)));
    const dropped: DroppedStaging[] = [];
    for (const { schema, table, instance } of files) {
      if (!dead.has(instance)) continue;
      dropped.push({ schema, table, run_id: null, run_status: null, rows: await rowsIn(engine, schema, table), view: false, file_table: true });
    }
    return { dropped, release };
  } catch (error) {
    await release();
    throw error;
  }
}

type RunCopy = HistoryCopy & { run_id: string };

/** Every history copy a run made ahead of its publish (execute/history-copy.ts). */
async function historyCopies(engine: Engine): Promise<RunCopy[]> {
  return engine.query<RunCopy>(`SELECT run_id, dataset, partition, version, tag FROM ${stateTable(engine, 'history_copies')} ORDER BY run_id, dataset, partition`);
}

/**
 * Copies of runs not in flight. A later attempt of a run never uses them (history-copy.ts), so
 * resumable runs' copies go too. Copies of datasets the project no longer declares stay, as their
 * history does.
 */
function historyCopiesToDrop(copies: RunCopy[], project: Project, known: KnownRuns): RunCopy[] {
  return copies.filter((c) => project.datasets.has(c.dataset) && !inFlight(known, c.run_id));
}

/**
 * Takes (deletes) those of `planned` still there, with their history rows; what it dropped. Matched
 * by tag too: a run resumed since it was planned has new copies (another tag), which stay.
 */
async function dropHistoryCopies(tx: Db, engine: Engine, project: Project, known: KnownRuns, planned: RunCopy[]): Promise<DroppedHistoryCopies[]> {
  const params: unknown[] = [];
  const groups = new Map(planned.map((c) => [`${c.run_id}\0${c.dataset}\0${c.tag}`, c]));
  const which = [...groups.values()].map((c) => (params.push(c.run_id, c.dataset, c.tag), `(run_id = $${params.length - 2} AND dataset = $${params.length - 1} AND tag = $${params.length})`)).join(' OR ');
  const taken = await tx.query<RunCopy>(`DELETE FROM ${stateTable(engine, 'history_copies')} WHERE ${which} RETURNING run_id, dataset, partition, version, tag`, params);
  const dropped = await describeCopies(tx, engine, project, known, taken);
  for (const dataset of new Set(taken.map((c) => c.dataset))) await dropCopiedRows(tx, engine, getDataset(project, dataset), taken.filter((c) => c.dataset === dataset));
  return dropped;
}

/** The copies by run and dataset, with their history rows counted. */
async function describeCopies(db: Db, engine: Engine, project: Project, known: KnownRuns, copies: RunCopy[]): Promise<DroppedHistoryCopies[]> {
  const groups = new Map<string, RunCopy[]>();
  for (const c of copies) {
    const key = `${c.run_id}\0${c.dataset}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  const out: DroppedHistoryCopies[] = [];
  for (const group of groups.values()) {
    const { run_id, dataset } = group[0];
    const rows = await countRows(db, engine, dataset, historyRowPredicates(engine, getDataset(project, dataset), group));
    out.push({ run_id, run_status: known.runs.get(run_id)?.status ?? null, dataset, partitions: group.length, rows });
  }
  return out.sort((a, b) => a.run_id.localeCompare(b.run_id) || a.dataset.localeCompare(b.dataset));
}

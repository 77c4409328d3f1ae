/**
 * Replaced rows copied to history before the publish transaction, not inside it.
 *
 * A publish that replaces partitions keeps their old rows in history (issue 3). Copying them is the
 * one part of that publish that grows with the data (700k rows: ~50 ms on DuckDB), and the publish
 * transaction is the critical section: on PostgreSQL it holds the publishers' lock (every other
 * publish waits), on DuckDB it is the window in which a concurrent write to the same tables
 * conflicts. So once a run has computed, and just before it publishes, this step copies the live
 * rows of each partition it is about to replace, in a transaction of its own, under a fresh tag,
 * and records what it copied (`history_copies`: partition, version, tag).
 *
 * The publish then takes the run's copies (`takeHistoryCopies`, which deletes them in its
 * transaction: a row lock on PostgreSQL, so gc cannot remove one under it) and uses a copy only if
 * this attempt made it (`ctx.historyCopyTag`) and its version is still the version replaced: the
 * partition's live rows are then the rows copied moments before (a publish is the only way Tidemark
 * changes them, and it bumps the version; on DuckDB no other process can open the file meanwhile).
 * Anything else — no copy, a copy from an earlier attempt of the run (the live rows may have been
 * edited since, and history must hold the rows actually replaced), a copy of an older version, a
 * partition changed only at publish (a repair of drifted rows) — is copied in the publish
 * transaction as before, under the publish's sequence number, and the unused copies' rows are
 * deleted there too.
 *
 * The step is only a speed-up: if it fails, the run goes on and its publish copies everything
 * itself. A run that stops between its copy and its publish leaves copies behind, which its next
 * attempt or gc removes (`gc` drops the copies of every run not in flight). Tags count down from -1
 * (meta `history_tag`), so they never meet a publish sequence number.
 */
import { getDataset, type DatasetSpec } from '../config/project.js';
import { windowOf } from '../core/grain.js';
import { REPLACED_SEQ_COLUMN } from '../core/identifiers.js';
import type { Db, Engine } from '../engines/engine.js';
import { coerceError } from '../errors.js';
import { historyRowPredicates } from '../api/version-content.js';
import { historyTable, liveTable, stateTable } from '../state/tables.js';
import type { RunContext } from './run-context.js';

/** One partition's live rows copied to history ahead of a publish. */
export interface HistoryCopy {
  dataset: string;
  partition: string;
  /** The version whose rows were copied. */
  version: number;
  /** What the copied history rows carry in `_tm_replaced_seq`. */
  tag: number;
}

/**
 * Below this many rows to copy, the copy stays in the publish transaction: the step's own statements
 * (a few per dataset) would cost more than copying the rows there (~70 ns a row on DuckDB).
 * TIDEMARK_HISTORY_COPY_AHEAD_ROWS changes it (the tests set 0 to take this path on small data).
 */
function copyAheadMinRows(): number {
  const raw = process.env.TIDEMARK_HISTORY_COPY_AHEAD_ROWS;
  const set = raw ? Number(raw) : NaN;
  return Number.isFinite(set) && set >= 0 ? set : 100_000;
}

/**
 * Copies to history the live rows of every partition the run computed with new content, when there
 * are enough of them (copyAheadMinRows), and sets `ctx.historyCopyTag`. Copies an earlier attempt of
 * the run left are removed first.
 */
export async function copyReplacedRowsAhead(ctx: RunContext): Promise<void> {
  // Nothing the plan saw has a version yet (a first load, new partitions): no live row to replace.
  // Were one published since, the publish would copy it itself.
  if (!keepsHistory(ctx) || (ctx.newRun && ctx.plan.tasks.every((t) => t.current_version === null))) return;
  const datasets = ctx.plan.datasets.map((d) => getDataset(ctx.ws.project, d.dataset));
  try {
    const { engine } = ctx.ws;
    // A run created by this attempt has none; a resumed one may (its earlier attempt stopped after copying).
    if (!ctx.newRun) await engine.transaction((tx) => dropRunCopies(tx, engine, ctx, datasets));
    const pending = await engine.query<{ dataset: string; n: number }>(
      `SELECT t.dataset, sum(p.rows) AS n
       FROM ${stateTable(engine, 'tasks')} t JOIN ${stateTable(engine, 'partitions')} p ON p.dataset = t.dataset AND p.partition = t.partition
       WHERE t.run_id = $1 AND t.status = 'computed' AND t.checksum <> p.checksum
       GROUP BY t.dataset`,
      [ctx.runId],
    );
    const rows = new Map(pending.map((r) => [r.dataset, Number(r.n)]));
    const chosen = datasets.filter((ds) => rows.has(ds.name));
    if (!chosen.length || chosen.reduce((n, ds) => n + rows.get(ds.name)!, 0) < copyAheadMinRows()) return;
    const tag = await nextHistoryTag(engine);
    await engine.transaction(async (tx) => {
      for (const ds of chosen) await copyDataset(tx, engine, ctx.runId, ds, tag);
    });
    ctx.historyCopyTag = tag;
  } catch (error) {
    // E.g. on PostgreSQL, two runs creating the same history table at once: the publish copies instead.
    ctx.ws.events.emit({ type: 'log', message: `history not copied ahead (the publish copies it): ${ctx.ws.redact(coerceError(error).message)}` });
  }
}

/** Records and copies the replaced rows of one dataset's partitions computed with new content. */
async function copyDataset(tx: Db, engine: Engine, runId: string, ds: DatasetSpec, tag: number): Promise<void> {
  const copies = stateTable(engine, 'history_copies');
  const copied = await tx.query<{ partition: string }>(
    `INSERT INTO ${copies} (run_id, dataset, partition, version, tag)
     SELECT t.run_id, t.dataset, t.partition, p.version, CAST($3 AS BIGINT)
     FROM ${stateTable(engine, 'tasks')} t JOIN ${stateTable(engine, 'partitions')} p ON p.dataset = t.dataset AND p.partition = t.partition
     WHERE t.run_id = $1 AND t.dataset = $2 AND t.status = 'computed' AND t.checksum <> p.checksum
     RETURNING partition`,
    [runId, ds.name, tag],
  );
  const live = copied.length ? await engine.columns(engine.dataSchema, ds.name, tx) : null;
  if (!live) return;
  const d = engine.dialect;
  const history = historyTable(engine, ds.name);
  const stored = [...live, { name: REPLACED_SEQ_COLUMN, type: 'BIGINT' }];
  await tx.exec(`CREATE TABLE IF NOT EXISTS ${history} (${stored.map((c) => `${d.quote(c.name)} ${c.type}`).join(', ')})`);
  const pc = d.quote(ds.partitionColumn);
  const sorted = copied.map((c) => c.partition).sort();
  // Bounds let the engine skip untouched row groups; the key test picks the exact partitions.
  const lo = d.windowLiteral(windowOf(sorted[0], ds.grain).start, ds.grain);
  const hi = d.windowLiteral(windowOf(sorted[sorted.length - 1], ds.grain).end, ds.grain);
  await tx.exec(
    `INSERT INTO ${history} (${stored.map((c) => d.quote(c.name)).join(', ')})
     SELECT ${live.map((c) => d.quote(c.name)).join(', ')}, CAST($3 AS BIGINT) FROM ${liveTable(engine, ds.name)}
     WHERE ${pc} >= ${lo} AND ${pc} < ${hi}
       AND ${d.partitionKey(pc, ds.grain)} IN (SELECT partition FROM ${copies} WHERE run_id = $1 AND dataset = $2 AND tag = $3)`,
    [runId, ds.name, tag],
  );
}

/** Deletes the copies an earlier attempt of the run left, with their history rows. */
async function dropRunCopies(tx: Db, engine: Engine, ctx: RunContext, datasets: DatasetSpec[]): Promise<void> {
  const taken = await takeHistoryCopies(tx, engine, ctx.runId, datasets.map((d) => d.name));
  for (const ds of datasets) await dropCopiedRows(tx, engine, ds, [...(taken.get(ds.name)?.values() ?? [])]);
}

/**
 * The run's copies of these datasets, taken (deleted) in the caller's transaction, by dataset and
 * partition. Copies of a dataset the project no longer declares are left (gc leaves them too): their
 * history rows could not be found without the dataset's partition column.
 */
export async function takeHistoryCopies(tx: Db, engine: Engine, runId: string, datasets: string[]): Promise<Map<string, Map<string, HistoryCopy>>> {
  const out = new Map<string, Map<string, HistoryCopy>>();
  if (!datasets.length) return out;
  const params: unknown[] = [runId];
  const names = datasets.map((name) => (params.push(name), `$${params.length}`)).join(', ');
  const rows = await tx.query<HistoryCopy>(`DELETE FROM ${stateTable(engine, 'history_copies')} WHERE run_id = $1 AND dataset IN (${names}) RETURNING dataset, partition, version, tag`, params);
  for (const r of rows) {
    const copy = { dataset: r.dataset, partition: r.partition, version: Number(r.version), tag: Number(r.tag) };
    let mine = out.get(copy.dataset);
    if (!mine) out.set(copy.dataset, (mine = new Map()));
    mine.set(copy.partition, copy);
  }
  return out;
}

/** Removes the history rows of copies nobody will use (their records are already deleted). */
export async function dropCopiedRows(tx: Db, engine: Engine, ds: DatasetSpec, copies: HistoryCopy[]): Promise<void> {
  if (!copies.length || !(await engine.columns(engine.historySchema, ds.name, tx))) return;
  for (const which of historyRowPredicates(engine, ds, copies)) await tx.exec(`DELETE FROM ${historyTable(engine, ds.name)} WHERE ${which}`);
}

/** A new tag, in its own short transaction: the copy itself must not hold the counter's row lock. */
async function nextHistoryTag(engine: Engine): Promise<number> {
  const rows = await engine.query<{ value: string }>(
    `UPDATE ${stateTable(engine, 'meta')} SET value = CAST(CAST(value AS BIGINT) - 1 AS VARCHAR) WHERE key = 'history_tag' RETURNING value`,
  );
  return Number(rows[0].value);
}

/**
 * `retention: { versions: 0, days: 0 }` keeps no replaced version: gc would remove each one as soon as
 * it is replaced, so publish does not write it to history at all, and records it as not retained in
 * the same transaction (history and restore then say it is gone, as after gc).
 */
export function keepsHistory(ctx: RunContext): boolean {
  const { versions, days } = ctx.ws.project.retention;
  return versions > 0 || days > 0;
}

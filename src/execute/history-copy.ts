/**
 * Replaced rows copied to history before the publish transaction, not inside it.
 *
 * A publish that replaces partitions keeps their old rows in history (issue 3). Copying them is the
 * one part of that publish that grows with the data (700k rows: ~50 ms on DuckDB), and the publish
 * transaction is the critical section: on PostgreSQL it holds the publishers' lock (every other
 * publish waits), on DuckDB it is the window in which a concurrent write to the same tables
 * conflicts. So once a run has computed, and before it starts publishing, this step copies the live
 * rows of each partition it is about to replace, in a transaction of its own, under a fresh tag,
 * and records what it copied (`history_copies`: partition, version, tag).
 *
 * The publish then takes the copies (`takeHistoryCopies`, which deletes them in its transaction:
 * a row lock on PostgreSQL, so gc cannot remove one under it) and uses a copy only if its version is
 * still the version it replaces: the partition's live rows are then exactly the rows copied (a
 * publish is the only way they change, and it bumps the version). Anything else — no copy, a copy of
 * an older version, a partition changed only at publish (a repair of drifted rows) — is copied in
 * the publish transaction as before, under the publish's sequence number. Copies the publish does
 * not use lose their history rows in the same transaction.
 *
 * A run that stops between the copy and the publish leaves copies behind: a resumed run reuses those
 * still current; gc removes those of runs that failed, were cancelled or are gone (`dropUnusedCopies`).
 * Tags count down from -1 (meta `history_tag`), so they never meet a publish sequence number.
 */
import type { DatasetSpec } from '../config/project.js';
import { windowOf } from '../core/grain.js';
import { REPLACED_SEQ_COLUMN } from '../core/identifiers.js';
import type { Db, Engine } from '../engines/engine.js';
import { partitionWindow } from '../api/version-content.js';
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
 * Copies to history the live rows of every partition the run computed with new content, for the
 * datasets of `datasets`, when there are enough of them (copyAheadMinRows). Idempotent per run: a
 * partition already copied at its current version is left alone, a copy of an older version is
 * replaced.
 */
export async function copyReplacedRowsAhead(ctx: RunContext, datasets: DatasetSpec[]): Promise<void> {
  if (!keepsHistory(ctx)) return;
  const { engine } = ctx.ws;
  const copies = stateTable(engine, 'history_copies');
  const partitions = stateTable(engine, 'partitions');
  // Per dataset: the rows of partitions computed with new content and not copied at their current version.
  const pending = await engine.query<{ dataset: string; n: number; stale: number }>(
    `SELECT t.dataset, sum(p.rows) AS n, count(c.partition) AS stale
     FROM ${stateTable(engine, 'tasks')} t JOIN ${partitions} p ON p.dataset = t.dataset AND p.partition = t.partition
     LEFT JOIN ${copies} c ON c.run_id = t.run_id AND c.dataset = t.dataset AND c.partition = t.partition
     WHERE t.run_id = $1 AND t.status = 'computed' AND t.checksum <> p.checksum AND (c.version IS NULL OR c.version <> p.version)
     GROUP BY t.dataset`,
    [ctx.runId],
  );
  const byName = new Map(pending.map((r) => [r.dataset, { rows: Number(r.n), stale: Number(r.stale) }]));
  const chosen = datasets.filter((ds) => byName.has(ds.name));
  if (!chosen.length || chosen.reduce((n, ds) => n + byName.get(ds.name)!.rows, 0) < copyAheadMinRows()) return;
  const tag = await nextHistoryTag(engine);
  const d = engine.dialect;
  await engine.transaction(async (tx) => {
    for (const ds of chosen) {
      if (byName.get(ds.name)!.stale) {
        // Copies of a version republished since (a resumed run): dropped, so the partition is copied again.
        const stale = await tx.query<HistoryCopy>(
          `DELETE FROM ${copies} WHERE run_id = $1 AND dataset = $2
             AND NOT EXISTS (SELECT 1 FROM ${partitions} p WHERE p.dataset = history_copies.dataset AND p.partition = history_copies.partition AND p.version = history_copies.version)
           RETURNING dataset, partition, version, tag`,
          [ctx.runId, ds.name],
        );
        await dropCopiedRows(tx, engine, ds, stale);
      }
      const copied = await tx.query<{ partition: string }>(
        `INSERT INTO ${copies} (run_id, dataset, partition, version, tag)
         SELECT t.run_id, t.dataset, t.partition, p.version, CAST($3 AS BIGINT)
         FROM ${stateTable(engine, 'tasks')} t JOIN ${partitions} p ON p.dataset = t.dataset AND p.partition = t.partition
         WHERE t.run_id = $1 AND t.dataset = $2 AND t.status = 'computed' AND t.checksum <> p.checksum
           AND NOT EXISTS (SELECT 1 FROM ${copies} c WHERE c.run_id = t.run_id AND c.dataset = t.dataset AND c.partition = t.partition)
         RETURNING partition`,
        [ctx.runId, ds.name, tag],
      );
      const live = copied.length ? await engine.columns(engine.dataSchema, ds.name, tx) : null;
      if (!live) continue;
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
        [ctx.runId, ds.name, tag],
      );
    }
  });
}

/**
 * The run's copies, taken (deleted) in the publish transaction, by dataset and partition. What the
 * publish does not use, it passes to `dropCopiedRows` before it commits.
 */
export async function takeHistoryCopies(tx: Db, engine: Engine, runId: string): Promise<Map<string, Map<string, HistoryCopy>>> {
  const rows = await tx.query<HistoryCopy>(`DELETE FROM ${stateTable(engine, 'history_copies')} WHERE run_id = $1 RETURNING dataset, partition, version, tag`, [runId]);
  const out = new Map<string, Map<string, HistoryCopy>>();
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
  for (const which of await copiedRowPredicates(tx, engine, ds, copies)) await tx.exec(`DELETE FROM ${historyTable(engine, ds.name)} WHERE ${which}`);
}

/** How many history rows the copies hold. */
export async function countCopiedRows(db: Db, engine: Engine, ds: DatasetSpec, copies: HistoryCopy[]): Promise<number> {
  let n = 0;
  for (const which of await copiedRowPredicates(db, engine, ds, copies)) n += Number((await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${historyTable(engine, ds.name)} WHERE ${which}`))[0].n);
  return n;
}

/** The history rows of `copies` (tag and partition window), as predicates over chunks of them; none without a history table. */
async function copiedRowPredicates(db: Db, engine: Engine, ds: DatasetSpec, copies: HistoryCopy[]): Promise<string[]> {
  if (!copies.length || !(await engine.columns(engine.historySchema, ds.name, db))) return [];
  const d = engine.dialect;
  const pc = d.quote(ds.partitionColumn);
  const out: string[] = [];
  for (let i = 0; i < copies.length; i += 200) {
    out.push(
      copies
        .slice(i, i + 200)
        .map((c) => `(${d.quote(REPLACED_SEQ_COLUMN)} = ${Math.trunc(Number(c.tag))} AND ${partitionWindow(engine, ds, c.partition, pc)})`)
        .join(' OR '),
    );
  }
  return out;
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

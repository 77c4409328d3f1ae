/**
 * `check` and `dedupe`: find and repair duplicate keys in data that predates key enforcement (a table
 * adopted from elsewhere, or a key declared stricter than before). The repair is a normal run through
 * the write path: the affected partitions are restaged without the extra rows, validated, published
 * as new versions (the old ones stay restorable) with their audit record.
 */
import { getDataset, type DatasetSpec } from '../config/project.js';
import { sortKeys } from '../core/grain.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import type { Db } from '../engines/engine.js';
import { TidemarkError, usageError } from '../errors.js';
import { executePlan, type RunResult, type Stager } from '../execute/executor.js';
import type { RunOptions } from '../execute/run-context.js';
import { ensureStagingTable } from '../execute/staging.js';
import { validateStaged, validationError } from '../execute/validate.js';
import { conflictGuards, protectionGuards } from '../plan/build.js';
import { loadPlanningState } from '../plan/snapshot.js';
import { planDatasets, type Plan } from '../plan/types.js';
import { nowIso } from '../state/json.js';
import { liveTable, stagingTable, stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { storedColumnsOf, userColumns } from './version-content.js';
import { assertStillThePlan } from './confirmed-plan.js';
import { requireReason } from './operations.js';

export interface DuplicateReport {
  dataset: string;
  key: string[];
  duplicate_keys: number;
  extra_rows: number;
  partitions: string[];
  examples: Record<string, unknown>[];
}

function keyList(ws: Workspace, ds: DatasetSpec): string {
  return ds.key.map((k) => ws.engine.dialect.quote(k)).join(', ');
}

/** Duplicate keys in a dataset's live table (exit 4 from the CLI when any). */
export async function checkDuplicates(ws: Workspace, dataset: string): Promise<DuplicateReport> {
  return (await scanDuplicates(ws, getDataset(ws.project, dataset))).report;
}

/**
 * Two reads of the live table: the duplicated keys (how many, the extra rows, the worst five), and
 * each row's key count by partition, which gives the partitions holding duplicates and how many rows
 * they hold in all (what a dedupe plan estimates from). Keys group as GROUP BY groups them, NULLs
 * together, as the repair's row_number() does.
 */
async function scanDuplicates(ws: Workspace, ds: DatasetSpec): Promise<{ report: DuplicateReport; liveRows: number }> {
  const { engine } = ws;
  const d = engine.dialect;
  const none = { report: { dataset: ds.name, key: ds.key, duplicate_keys: 0, extra_rows: 0, partitions: [], examples: [] }, liveRows: 0 };
  if (!(await engine.columns(engine.dataSchema, ds.name))) return none;
  const keys = keyList(ws, ds);
  const live = liveTable(engine, ds.name);
  // The worst five, with the totals over all duplicated keys alongside (window aggregates over the groups).
  const worst = await engine.query<Record<string, unknown> & { _tm_keys: number; _tm_extra: number }>(
    `SELECT ${keys}, n, count(*) OVER () AS _tm_keys, sum(n) OVER () - count(*) OVER () AS _tm_extra
     FROM (SELECT ${keys}, count(*) AS n FROM ${live} GROUP BY ${keys} HAVING count(*) > 1) t ORDER BY n DESC LIMIT 5`,
  );
  if (!worst.length) return none;
  const parts = await engine.query<{ p: string; n_rows: number | string }>(
    `SELECT p, count(*) AS n_rows FROM (
       SELECT ${d.partitionKey(d.quote(ds.partitionColumn), ds.grain)} AS p, count(*) OVER (PARTITION BY ${keys}) AS n FROM ${live}
     ) t GROUP BY p HAVING max(n) > 1`,
  );
  const examples = worst.map(({ _tm_keys: _k, _tm_extra: _e, ...example }) => example);
  const report = {
    dataset: ds.name,
    key: ds.key,
    duplicate_keys: Number(worst[0]._tm_keys),
    extra_rows: Number(worst[0]._tm_extra),
    partitions: sortKeys(parts.map((p) => p.p)),
    examples,
  };
  return { report, liveRows: parts.reduce((n, p) => n + Number(p.n_rows), 0) };
}

export interface DedupeRequest {
  dataset: string;
  /** Which row of a duplicated key survives, ordered by `orderBy` (default: the partition column). */
  keep?: 'first' | 'last';
  orderBy?: string;
  includeRecent?: boolean;
}

export async function planDedupe(ws: Workspace, request: DedupeRequest): Promise<{ plan: Plan; report: DuplicateReport }> {
  const ds = getDataset(ws.project, request.dataset);
  const stored = await storedColumnsOf(ws.engine, ws.engine, ds.name);
  if (request.orderBy && !stored?.some((c) => c.name === request.orderBy)) {
    throw usageError(`--order-by: ${ds.name} has no column '${request.orderBy}'`, `columns: ${(stored ?? []).map((c) => c.name).join(', ')}`);
  }
  const { report, liveRows } = await scanDuplicates(ws, ds);
  const state = await loadPlanningState(ws.engine, ws.engine);
  const current = state.snapshot.get(ds.name) ?? new Map();
  const tasks = report.partitions.map((p) => ({
    dataset: ds.name,
    partition: p,
    reason: 'dedupe' as const,
    current_rows: current.get(p)?.rows ?? null,
    current_version: current.get(p)?.version ?? null,
  }));
  const guards = [...protectionGuards(ws.project, state, tasks, 'dedupe', request.includeRecent ?? false), ...conflictGuards(tasks, state)];
  const plan: Plan = {
    kind: 'dedupe',
    targets: [ds.name],
    tasks,
    datasets: planDatasets(tasks),
    guards,
    // What the partitions will hold: their live rows less the extra ones. Not the recorded rows less
    // the extra ones: duplicates written behind Tidemark's back are in no recorded count, so that
    // estimate came out short by the extra rows (~0 for a partition loaded twice).
    estimated_rows: liveRows - report.extra_rows,
    request: { kind: 'dedupe', dataset: ds.name, keep: request.keep ?? 'first', order_by: request.orderBy ?? ds.partitionColumn, partitions: report.partitions },
  };
  return { plan, report };
}

export async function dedupe(ws: Workspace, request: DedupeRequest, options: RunOptions, confirmed?: Plan): Promise<RunResult> {
  requireReason(options.reason, 'dedupe');
  const { plan: fresh } = await planDedupe(ws, request);
  // A plan reviewed earlier is executed only while it is still the plan (confirmed-plan.ts).
  if (confirmed) assertStillThePlan(confirmed, fresh);
  const plan = confirmed ?? fresh;
  if (!plan.tasks.length) throw new TidemarkError('NOT_FOUND', `${request.dataset} has no duplicate keys: nothing to repair`);
  return executePlan(ws, plan, options, dedupeStager);
}

const dedupeStager: Stager = {
  // The duplicates were written outside Tidemark, so the recorded checksum may already describe the
  // clean content: the partitions are replaced regardless.
  alwaysReplace: true,
  async preflight() {
    /* the plan was computed from the live table itself */
  },
  async compute(ctx) {
    const { ws, plan } = ctx;
    const { engine } = ws;
    const d = engine.dialect;
    const ds = getDataset(ws.project, plan.targets[0]);
    const stored = (await storedColumnsOf(engine, engine, ds.name))!;
    await ensureStagingTable(engine, engine, ctx.runId, ds.name, stored);
    ctx.columns.set(ds.name, userColumns(stored).map((c) => c.name));
    const staging = stagingTable(engine, ctx.runId, ds.name);
    const cols = stored.map((c) => d.quote(c.name)).join(', ');
    const orderBy = d.quote(String(plan.request.order_by));
    const direction = plan.request.keep === 'last' ? 'DESC' : 'ASC';
    // Ties on the order column are broken by every column, so the survivor is the same on every attempt.
    const tieBreak = stored.map((c) => d.quote(c.name)).join(', ');
    const key = d.partitionKey(d.quote(ds.partitionColumn), ds.grain);
    const p = d.quote(PARTITION_COLUMN);
    await engine.transaction(async (tx: Db) => {
      await tx.exec(`DELETE FROM ${staging}`);
      await tx.exec(
        `INSERT INTO ${staging} (${cols}, ${p})
         SELECT ${cols}, ${key} FROM (
           SELECT *, row_number() OVER (PARTITION BY ${keyList(ws, ds)} ORDER BY ${orderBy} ${direction}, ${tieBreak}) AS _tm_rn FROM ${liveTable(engine, ds.name)}
         ) t
         WHERE _tm_rn = 1 AND ${key} IN (SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND dataset = $2)`,
        [ctx.runId, ds.name],
      );
      const problems = await validateStaged(tx, {
        engine,
        dataset: ds,
        staging,
        columns: userColumns(stored).map((c) => c.name),
        currentRows: new Map(plan.tasks.filter((t) => t.current_rows !== null).map((t) => [t.partition, t.current_rows!])),
        maxShrink: ws.project.guards.max_shrink,
        allowEmpty: Boolean(ctx.options.allowEmpty),
        allowShrink: Boolean(ctx.options.allowShrink),
      });
      if (problems.length) throw validationError(problems);
      const stats = await tx.query<{ part: string; n: number; c: string }>(
        `SELECT ${p} AS part, count(*) AS n, ${d.checksum(userColumns(stored).map((c) => c.name))} AS c FROM ${staging} GROUP BY ${p}`,
      );
      const now = nowIso();
      for (const s of stats) {
        await tx.exec(
          `UPDATE ${stateTable(engine, 'tasks')} SET status = 'computed', rows = $4, checksum = $5, started_at = $6, finished_at = $6, attempts = attempts + 1 WHERE run_id = $1 AND dataset = $2 AND partition = $3`,
          [ctx.runId, ds.name, s.part, Number(s.n), String(s.c), now],
        );
      }
    });
    return { reused: 0, skipped: 0 };
  },
};

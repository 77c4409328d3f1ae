/**
 * Checkpoints of incremental models, as a user sees and repairs them (DESIGN.md failure mode 9):
 * `show` (the mark next to the data), `validate` (does the mark agree with the data and are the keys
 * unique?) and `reset` (move the mark deliberately: describe the effect, then apply it, audited).
 *
 * The mark itself is maintained by publish (state/checkpoints.ts advanceCheckpoint). A reset does not
 * rewrite data: it lowers (or repairs) the mark and marks the partitions holding rows beyond it stale,
 * so the next `tidemark run` replays them through plan → compute → publish, as replacements.
 *
 * @example
 * const report = await validateCheckpoint(ws, 'order_facts');
 * if (!report.ok) {
 *   const effect = await planCheckpointReset(ws, { dataset: 'order_facts', to: '2045900000' });
 *   console.log(effect.replay); // partitions the next run recomputes
 *   await resetCheckpoint(ws, { dataset: 'order_facts', to: '2045900000', reason: 'mark was corrupted' });
 *   await run(ws);
 * }
 */
import { getModel, incrementalModelNames, incrementalModelsHint, type ModelSpec } from '../config/project.js';
import { typeFamily } from '../config/types.js';
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { appendAudit } from '../state/audit.js';
import { cursorColumnOf, cursorType, liveCursorMax, readCheckpoint, typedValue, writeCheckpoint, type CheckpointRecord } from '../state/checkpoints.js';
import { nowIso } from '../state/json.js';
import { currentPublishSeq } from '../state/meta.js';
import { liveTable, stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { listPartitions, requireReason } from './operations.js';

export interface PartitionRows {
  partition: string;
  rows: number;
}

export interface CheckpointView {
  dataset: string;
  cursor_column: string;
  /** The stored checkpoint, or null when none was ever written. */
  checkpoint: Omit<CheckpointRecord, 'dataset'> | null;
  /** max(cursor) over the live table (null when it has no rows). */
  data_max: string | null;
  /** Rows of the live table with cursor > checkpoint, by partition (all rows when there is no mark). */
  beyond: PartitionRows[];
  rows_beyond: number;
}

export type FindingCode = 'missing' | 'cursor_changed' | 'ahead' | 'behind' | 'duplicate_keys' | 'stale_partitions' | 'replay_pending';

export interface CheckpointFinding {
  code: FindingCode;
  /**
   * problem: state and data disagree and nothing in Tidemark will fix it by itself (exit 4).
   * pending: partitions already known to be stale; the next `tidemark run` replays them as replacements.
   */
  severity: 'problem' | 'pending';
  message: string;
  partitions: string[];
  rows?: number;
  /** Stale partitions: why each is stale (upstream version changes, or a reset's replay request). */
  reasons?: Record<string, string[]>;
  /** Duplicate keys: a few examples. */
  examples?: Record<string, unknown>[];
}

export interface CheckpointValidation extends CheckpointView {
  ok: boolean;
  findings: CheckpointFinding[];
}

export interface ResetRequest {
  dataset: string;
  /** The new mark, in the cursor column's type (`2045900000`, `2026-03-01 00:00:00`). */
  to: string;
}

export interface ResetEffect {
  dataset: string;
  cursor_column: string;
  from: string | null;
  /** The new mark, as the engine writes the value back (normalised). */
  to: string;
  data_max: string | null;
  /** Partitions holding rows with cursor > to: marked stale, recomputed and replaced by the next run. */
  replay: PartitionRows[];
  rows_beyond: number;
  /** Replay partitions a routine run leaves alone (frozen or locked): they need an explicit backfill. */
  protected: string[];
  applied: boolean;
  /** The audit record written (applied resets only). */
  audit_seq?: number;
}

/** The mark next to the data: value, publish, and the rows beyond it. */
export async function showCheckpoint(ws: Workspace, dataset: string): Promise<CheckpointView> {
  const model = incrementalModel(ws, dataset);
  return view(ws.engine, ws.engine, model);
}

/**
 * Compares the checkpoint with the data. Problems (exit 4 in the CLI): no checkpoint while data
 * exists; a checkpoint for another cursor column; a mark ahead of the data (it claims rows that are
 * absent: a reader trusting it skips them); rows beyond the mark in partitions nothing will replay (a
 * gap); duplicate keys in the live table. Pending (reported, not a problem): stale partitions and the
 * rows beyond the mark inside them, which the next run replays as replacements.
 */
export async function validateCheckpoint(ws: Workspace, dataset: string): Promise<CheckpointValidation> {
  const model = incrementalModel(ws, dataset);
  const { engine } = ws;
  const v = await view(engine, engine, model);
  const findings: CheckpointFinding[] = [];
  const cp = v.checkpoint;

  const { reasons: stale, leftByRun } = await stalePartitions(ws, model);
  if (stale.size) {
    findings.push({
      code: 'stale_partitions',
      severity: 'pending',
      message: `${stale.size} partition(s) are stale (their inputs changed, or a checkpoint reset asked for a replay); the next \`tidemark run\` replays them${exceptLeftByRun([...stale.keys()], leftByRun)}`,
      partitions: [...stale.keys()],
      reasons: Object.fromEntries(stale),
    });
  }
  if (cp && cp.cursor_column !== v.cursor_column) {
    findings.push({
      code: 'cursor_changed',
      severity: 'problem',
      message: `the checkpoint is a mark of '${cp.cursor_column}', but the cursor is now '${v.cursor_column}'`,
      partitions: [],
    });
  }
  if ((!cp || cp.value === null) && v.data_max !== null) {
    findings.push({
      code: 'missing',
      severity: 'problem',
      message: `no checkpoint, but ${v.rows_beyond} row(s) are published (max ${v.cursor_column} = ${v.data_max})`,
      partitions: v.beyond.map((b) => b.partition),
      rows: v.rows_beyond,
    });
  } else if (cp?.value != null && v.data_max === null) {
    findings.push({ code: 'ahead', severity: 'problem', message: `the checkpoint is ${cp.value} but ${model.name} has no rows: it claims rows that are absent`, partitions: [] });
  } else if (cp?.value != null && v.data_max !== null) {
    if (await isAhead(engine, model, cp.value)) {
      findings.push({
        code: 'ahead',
        severity: 'problem',
        message: `the checkpoint ${cp.value} is ahead of the data (max ${v.cursor_column} = ${v.data_max}): it claims rows in (${v.data_max}, ${cp.value}] were processed, and none exist`,
        partitions: [],
      });
    }
    const unscheduled = v.beyond.filter((b) => !stale.has(b.partition));
    const scheduled = v.beyond.filter((b) => stale.has(b.partition));
    if (unscheduled.length) {
      findings.push({
        code: 'behind',
        severity: 'problem',
        message: `${sum(unscheduled)} row(s) lie beyond the checkpoint ${cp.value} in partitions nothing will replay (a gap between the mark and the data)`,
        partitions: unscheduled.map((b) => b.partition),
        rows: sum(unscheduled),
      });
    }
    if (scheduled.length) {
      findings.push({
        code: 'replay_pending',
        severity: 'pending',
        message: `${sum(scheduled)} row(s) lie beyond the checkpoint ${cp.value} in stale partitions; the next run replays them and moves the mark${exceptLeftByRun(scheduled.map((b) => b.partition), leftByRun)}`,
        partitions: scheduled.map((b) => b.partition),
        rows: sum(scheduled),
      });
    }
  }
  const dups = await duplicateKeys(engine, model);
  if (dups.count) {
    findings.push({
      code: 'duplicate_keys',
      severity: 'problem',
      message: `${dups.count} key value(s) of (${model.key.join(', ')}) appear more than once in the live table`,
      partitions: dups.partitions,
      examples: dups.examples,
    });
  }
  return { ...v, ok: !findings.some((f) => f.severity === 'problem'), findings };
}

/** What a reset to `to` would do, without writing anything (the dry run, and what is confirmed). */
export async function planCheckpointReset(ws: Workspace, request: ResetRequest): Promise<ResetEffect> {
  const model = incrementalModel(ws, request.dataset);
  const effect = await resetEffect(ws.engine, ws.engine, model, request.to);
  const rows = await listPartitions(ws, model.name);
  const replay = new Set(effect.replay.map((r) => r.partition));
  effect.protected = rows.filter((r) => replay.has(r.partition) && (r.protected ?? []).some((p) => p === 'frozen' || p === 'locked')).map((r) => r.partition);
  return effect;
}

/**
 * Moves the checkpoint to `to` and marks the partitions holding rows beyond it stale (their input
 * fingerprint is cleared), with the audit record, in one transaction. The data is untouched: the
 * next `tidemark run` recomputes those partitions and publish replaces them and re-derives the mark.
 */
export async function resetCheckpoint(ws: Workspace, request: ResetRequest & { reason: string }): Promise<ResetEffect> {
  requireReason(request.reason, 'checkpoint reset');
  const model = incrementalModel(ws, request.dataset);
  const { engine, project } = ws;
  const planned = await planCheckpointReset(ws, request);
  return engine.transaction(async (tx) => {
    // Recomputed inside the transaction: what is written is exactly what the data says now.
    const effect = { ...(await resetEffect(tx, engine, model, request.to)), protected: planned.protected };
    const now = nowIso();
    await writeCheckpoint(tx, engine, { dataset: model.name, cursor_column: effect.cursor_column, value: effect.to, publish_seq: await currentPublishSeq(tx, engine), updated_at: now });
    await markForReplay(tx, engine, model.name, effect.replay.map((r) => r.partition));
    const record = await appendAudit(tx, engine, {
      actor: ws.actor,
      action: 'checkpoint_reset',
      reason: request.reason,
      command: ws.command,
      run_id: null,
      dataset: model.name,
      partitions: effect.replay.map((r) => r.partition),
      details: { cursor_column: effect.cursor_column, from: effect.from, to: effect.to, data_max: effect.data_max, replay: effect.replay, rows_beyond: effect.rows_beyond },
      config_hash: project.configHash,
    });
    return { ...effect, applied: true, audit_seq: record.seq };
  });
}

function incrementalModel(ws: Workspace, dataset: string): ModelSpec {
  // Every refusal names the datasets that do have a checkpoint, if any: the one meant is usually among them.
  const spec = ws.project.datasets.get(dataset);
  if (!spec) throw new TidemarkError('UNKNOWN_DATASET', `unknown dataset '${dataset}'`, { hint: incrementalModelsHint(ws.project) });
  const candidates = incrementalModelNames(ws.project).length ? `\n${incrementalModelsHint(ws.project)}` : '';
  // A source first says what it is not (getModel would talk of rebuilding, which nobody asked for).
  if (spec.kind === 'source') {
    throw new TidemarkError('USAGE', `${dataset} is a source, not an incremental model: it has no checkpoint (checkpoints exist only for models with incremental:)`, {
      dataset,
      hint: `a source is loaded with \`tidemark ingest ${dataset} FILE…\`: a changed file replaces exactly the rows it contributed, so there is no mark to move${candidates}`,
    });
  }
  if (!spec.incremental) {
    throw new TidemarkError('USAGE', `${dataset} is not an incremental model: it has no checkpoint`, {
      dataset,
      hint: `declare incremental: { cursor: COLUMN } on ${dataset} in tidemark.yaml${candidates}`,
    });
  }
  return getModel(ws.project, dataset);
}

async function view(db: Db, engine: Engine, model: ModelSpec): Promise<CheckpointView> {
  const cursor = cursorColumnOf(model);
  const cp = await readCheckpoint(db, engine, model.name);
  const dataMax = await liveCursorMax(db, engine, model);
  const beyond = dataMax === null ? [] : await rowsBeyond(db, engine, model, cp?.value ?? null);
  return {
    dataset: model.name,
    cursor_column: cursor,
    checkpoint: cp ? { cursor_column: cp.cursor_column, value: cp.value, publish_seq: cp.publish_seq, updated_at: cp.updated_at } : null,
    data_max: dataMax,
    beyond,
    rows_beyond: sum(beyond),
  };
}

/** Rows with cursor > value (every row when value is null), counted per partition. */
async function rowsBeyond(db: Db, engine: Engine, model: ModelSpec, value: string | null): Promise<PartitionRows[]> {
  const type = await cursorType(db, engine, model);
  if (type === null) return [];
  const d = engine.dialect;
  const key = d.partitionKey(d.quote(model.partitionColumn), model.grain);
  const where = value === null ? '' : ` WHERE ${d.quote(cursorColumnOf(model))} > ${typedValue(engine, value, type)}`;
  const rows = await db.query<{ p: string; n: number | bigint }>(`SELECT ${key} AS p, count(*) AS n FROM ${liveTable(engine, model.name)}${where} GROUP BY 1 ORDER BY 1`);
  return rows.map((r) => ({ partition: String(r.p), rows: Number(r.n) }));
}

async function isAhead(engine: Engine, model: ModelSpec, value: string): Promise<boolean> {
  const type = (await cursorType(engine, engine, model))!;
  const rows = await engine.query<{ ahead: boolean }>(`SELECT ${typedValue(engine, value, type)} > max(${engine.dialect.quote(cursorColumnOf(model))}) AS ahead FROM ${liveTable(engine, model.name)}`);
  return Boolean(rows[0]?.ahead);
}

async function resetEffect(db: Db, engine: Engine, model: ModelSpec, to: string): Promise<ResetEffect> {
  const cursor = cursorColumnOf(model);
  const type = await cursorType(db, engine, model);
  if (type === null) {
    throw new TidemarkError('BAD_INPUT', `${model.name} has no published data yet: there is no checkpoint to reset`, { dataset: model.name, hint: '`tidemark run` builds it and sets the checkpoint' });
  }
  const normalised = await normaliseValue(db, engine, model, to, type);
  const dataMax = await liveCursorMax(db, engine, model);
  const beyondMax = await db.query<{ beyond: boolean }>(`SELECT ${typedValue(engine, normalised, type)} > max(${engine.dialect.quote(cursor)}) AS beyond FROM ${liveTable(engine, model.name)}`);
  if (beyondMax[0]?.beyond) {
    throw new TidemarkError('BAD_INPUT', `--to ${to} is beyond the data (max ${cursor} = ${dataMax}): the checkpoint would claim rows that do not exist`, {
      dataset: model.name,
      hint: `pick a value ≤ ${dataMax}; rows beyond the new mark are replayed by the next run`,
    });
  }
  const current = await readCheckpoint(db, engine, model.name);
  const replay = await rowsBeyond(db, engine, model, normalised);
  return { dataset: model.name, cursor_column: cursor, from: current?.value ?? null, to: normalised, data_max: dataMax, replay, rows_beyond: sum(replay), protected: [], applied: false };
}

/** A whole number, as an integer cursor takes it (`12.0` is 12). */
const WHOLE_NUMBER = /^\s*[+-]?\d+(\.0*)?\s*$/;

/** The value as the engine reads it back in the cursor's type; a value of the wrong type is bad input. */
async function normaliseValue(db: Db, engine: Engine, model: ModelSpec, to: string, type: string): Promise<string> {
  // DuckDB casts the text '2057000000.5' to 2057000001 (PostgreSQL refuses it): a reset must move the
  // mark to the value asked, not to a neighbour, so a fraction is refused, as ingest refuses one.
  if (typeFamily(type) === 'integer' && !WHOLE_NUMBER.test(to)) {
    throw new TidemarkError('BAD_INPUT', `--to '${to}' is not a value of ${model.name}.${cursorColumnOf(model)} (${type}): a whole number is expected, and Tidemark never rounds one`, { dataset: model.name });
  }
  try {
    const rows = await db.query<{ v: string }>(`SELECT CAST(CAST($1 AS ${type}) AS VARCHAR) AS v`, [to]);
    if (rows[0]?.v == null) throw new Error('null');
    return rows[0].v;
  } catch {
    throw new TidemarkError('BAD_INPUT', `--to '${to}' is not a value of ${model.name}.${cursorColumnOf(model)} (${type})`, { dataset: model.name });
  }
}

/** An empty input fingerprint never matches the current inputs, so `run` sees the partitions as stale. */
export const REPLAY_MARKER = '{}';

async function markForReplay(tx: Db, engine: Engine, dataset: string, partitions: string[]): Promise<void> {
  for (let i = 0; i < partitions.length; i += 500) {
    const chunk = partitions.slice(i, i + 500);
    const params: unknown[] = [dataset, REPLAY_MARKER];
    const list = chunk.map((p) => (params.push(p), `$${params.length}`)).join(', ');
    await tx.exec(`UPDATE ${stateTable(engine, 'partitions')} SET inputs = $2 WHERE dataset = $1 AND partition IN (${list})`, params);
  }
}

/** Stale partitions of the model with why (upstream changes, or a replay requested by a reset). */
async function stalePartitions(ws: Workspace, model: ModelSpec): Promise<{ reasons: Map<string, string[]>; leftByRun: string[] }> {
  const reasons = new Map<string, string[]>();
  const leftByRun: string[] = [];
  for (const row of await listPartitions(ws, model.name)) {
    if (!row.stale_reasons?.length) continue;
    reasons.set(row.partition, row.stale_reasons);
    // A routine run leaves frozen and locked partitions stale (buildRunPlan's SKIPPED_PROTECTED).
    if (row.protected?.some((p) => p === 'frozen' || p === 'locked')) leftByRun.push(row.partition);
  }
  return { reasons, leftByRun };
}

/** `, except 2026-04-30 (frozen or locked: …)` when a routine run leaves some of `partitions` alone. */
function exceptLeftByRun(partitions: string[], leftByRun: string[]): string {
  const left = partitions.filter((p) => leftByRun.includes(p));
  return left.length ? `, except ${left.join(', ')} (frozen or locked: a routine run leaves them alone; backfill them explicitly)` : '';
}

async function duplicateKeys(engine: Engine, model: ModelSpec): Promise<{ count: number; partitions: string[]; examples: Record<string, unknown>[] }> {
  if ((await engine.columns(engine.dataSchema, model.name)) === null) return { count: 0, partitions: [], examples: [] };
  const d = engine.dialect;
  const k = model.key.map((c) => d.quote(c)).join(', ');
  const live = liveTable(engine, model.name);
  const dups = `SELECT ${k} FROM ${live} GROUP BY ${k} HAVING count(*) > 1`;
  const count = await engine.query<{ n: number | bigint }>(`SELECT count(*) AS n FROM (${dups}) x`);
  const n = Number(count[0].n);
  if (!n) return { count: 0, partitions: [], examples: [] };
  const examples = await engine.query<Record<string, unknown>>(`SELECT ${k}, count(*) AS copies FROM ${live} GROUP BY ${k} HAVING count(*) > 1 ORDER BY ${k} LIMIT 5`);
  const on = model.key.map((c) => `l.${d.quote(c)} = x.${d.quote(c)}`).join(' AND ');
  const parts = await engine.query<{ p: string }>(`SELECT DISTINCT ${d.partitionKey(`l.${d.quote(model.partitionColumn)}`, model.grain)} AS p FROM ${live} l JOIN (${dups}) x ON ${on} ORDER BY 1`);
  return { count: n, partitions: parts.map((p) => String(p.p)), examples: examples.map((e) => ({ ...e, copies: Number(e.copies) })) };
}

function sum(rows: PartitionRows[]): number {
  return rows.reduce((s, r) => s + r.rows, 0);
}

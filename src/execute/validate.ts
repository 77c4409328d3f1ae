/**
 * Validation of staged rows, before anything is published: rows outside their partition's window
 * (the wrong-date-filter incident), duplicate keys, declared checks, and empty or shrinking results.
 * Every problem names its partition.
 */
import type { DatasetSpec } from '../config/project.js';
import { renderTemplate } from '../config/template.js';
import { PARTITION_COLUMN } from '../core/identifiers.js';
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';

export interface Problem {
  dataset: string;
  partition: string;
  code: 'OUTSIDE_WINDOW' | 'NULL_PARTITION' | 'DUPLICATE_KEY' | 'CHECK' | 'EMPTY_RESULT' | 'SHRINK';
  message: string;
}

export interface ValidationInput {
  engine: Engine;
  dataset: DatasetSpec;
  staging: string;
  columns: string[];
  /** The partitions to check, or every partition in the staging table. */
  partitions?: string[];
  /** Current live row counts, for the empty and shrink guards. */
  currentRows: Map<string, number>;
  maxShrink: number;
  allowEmpty: boolean;
  allowShrink: boolean;
  /**
   * Check duplicate keys across all the partitions validated together, not only within each: one
   * aggregate then proves what publish would otherwise check again (RunContext.keysUniqueInStaging).
   */
  keysAcrossPartitions?: boolean;
  /** `_tm_partition` was computed from the partition column itself (ingest): no row can be outside its window, only NULL. */
  partitionFromColumn?: boolean;
  /**
   * The rows are, checksum for checksum, a version that passed these checks when it was published (a
   * restore): the content checks that only depend on the rows (window, duplicate keys) are not run
   * again; declared checks (the config may have gained some) and the empty/shrink guards (today's
   * rows) are. Keys across partitions are still checked by publish, against today's live table.
   */
  publishedBefore?: boolean;
  /** Staged row counts per partition, when the caller already has them. */
  stagedRows?: Map<string, number>;
  /** The window and NULL check's rows, when the caller already has them (measureStaged). */
  windowRows?: WindowRow[];
  /** measureStaged proved that no key repeats within a partition: the duplicate-key query is not needed. */
  keysUnique?: boolean;
  /**
   * With `keysAcrossPartitions` and a key of one integer column: its range and counts over the rows in
   * scope, when the caller already read them (ingest, with the checksums). Whether a key repeats is
   * then answered by a bitmap of that range where the engine has one (see keyRepeatsInBitmap).
   */
  keyRange?: KeyColumnRange;
}

/** One integer key column over the rows validated: its bounds, its non-NULL values, all rows. */
export interface KeyColumnRange {
  /** The column's declared type, for the bounds' literals. */
  type: string;
  lo: bigint;
  hi: bigint;
  /** Rows whose key is not NULL. */
  keys: number;
  rows: number;
}

/** Per partition with rows outside its window or with a NULL partition column: how many, and their range. */
export interface WindowRow {
  part: string;
  /** Rows outside the window, NULLs included. */
  n: number;
  nulls: number;
  lo: string | null;
  hi: string | null;
}

export async function validateStaged(db: Db, v: ValidationInput): Promise<Problem[]> {
  const d = v.engine.dialect;
  const p = d.quote(PARTITION_COLUMN);
  const pc = d.quote(v.dataset.partitionColumn);
  const scope = v.partitions === undefined ? 'TRUE' : `${p} IN (${v.partitions.map((_, i) => `$${i + 1}`).join(', ')})`;
  const params: unknown[] = v.partitions ?? [];
  const problems: Problem[] = [];
  const name = v.dataset.name;
  const add = (partition: string, code: Problem['code'], message: string) => problems.push({ dataset: name, partition, code, message });

  const outside = v.publishedBefore ? [] : v.windowRows ?? await db.query<WindowRow>(
    `SELECT ${p} AS part, count(*) AS n, count(*) - count(${pc}) AS nulls, CAST(min(${pc}) AS VARCHAR) AS lo, CAST(max(${pc}) AS VARCHAR) AS hi
     FROM ${v.staging} WHERE ${scope} AND (${pc} IS NULL${v.partitionFromColumn ? '' : ` OR ${d.partitionKey(pc, v.dataset.grain)} <> ${p}`}) GROUP BY ${p}`,
    params,
  );
  for (const r of outside) {
    if (Number(r.nulls) > 0) add(r.part, 'NULL_PARTITION', `${r.nulls} row(s) have NULL ${v.dataset.partitionColumn}`);
    const n = Number(r.n) - Number(r.nulls);
    if (n > 0) add(r.part, 'OUTSIDE_WINDOW', `${n} row(s) fall outside the partition window: ${v.dataset.partitionColumn} ranges ${r.lo} .. ${r.hi}`);
  }

  const keyCols = v.dataset.key.map((k) => d.quote(k));
  // Across partitions, a key repeated in two of them is reported in the first; keys that include the
  // partition column cannot repeat across partitions, so those are grouped per partition as usual.
  const across = v.keysAcrossPartitions && !v.dataset.key.includes(v.dataset.partitionColumn);
  const dups =
    v.publishedBefore || (v.keysUnique && !across)
      ? []
      : across
        ? await duplicateKeysAcrossPartitions(db, v, keyCols, scope, params)
        : await db.query<Record<string, unknown>>(
            `SELECT ${p} AS _part, ${keyCols.join(', ')}, count(*) AS _n FROM ${v.staging} WHERE ${scope} GROUP BY ${p}, ${keyCols.join(', ')} HAVING count(*) > 1 ORDER BY ${p}, _n DESC, ${keyCols.join(', ')} LIMIT 20`,
            params,
          );
  const dupByPart = new Map<string, Record<string, unknown>[]>();
  for (const r of dups) {
    const list = dupByPart.get(String(r._part)) ?? [];
    list.push(r);
    dupByPart.set(String(r._part), list);
  }
  // The examples are the most repeated keys, then the smallest: the same message on every engine and every run.
  for (const [part, rows] of dupByPart) {
    const shown = rows.slice(0, 3).map((r) => `(${v.dataset.key.map((k) => `${k}=${String(r[k])}`).join(', ')}) ×${r._n}`);
    add(part, 'DUPLICATE_KEY', `duplicate key ${v.dataset.key.join(', ')}: ${shown.join('; ')}${rows.length > 3 ? ' …' : ''}`);
  }

  for (const check of v.dataset.checks) {
    for (const r of await runCheck(db, v, check, scope, params)) add(r.part, 'CHECK', r.message);
  }

  const staged =
    v.stagedRows ??
    new Map((await db.query<{ part: string; n: number }>(`SELECT ${p} AS part, count(*) AS n FROM ${v.staging} WHERE ${scope} GROUP BY ${p}`, params)).map((r) => [r.part, Number(r.n)]));
  const partitions = v.partitions ?? [...staged.keys()];
  for (const part of partitions) {
    const before = v.currentRows.get(part) ?? 0;
    const after = staged.get(part) ?? 0;
    if (before > 0 && after === 0 && !v.allowEmpty) {
      add(part, 'EMPTY_RESULT', `the result is empty but the partition has ${before} rows (pass --allow-empty if that is intended)`);
    } else if (before > 0 && after > 0 && after < before * (1 - v.maxShrink) && !v.allowShrink) {
      add(part, 'SHRINK', `the result shrinks the partition from ${before} to ${after} rows, more than guards.max_shrink (${Math.round(v.maxShrink * 100)}%) (pass --allow-shrink if intended)`);
    }
  }
  return problems;
}

/**
 * Keys repeated anywhere in the staged rows, each with the first partition it is in (up to 20, first
 * partitions first). Grouping every staged key is the costliest check of a large load, so it is done
 * in two steps: whether any key repeats — from a bitmap of an integer key's range when the caller
 * read the range, else grouped by the key alone (a text aggregate per row roughly doubles its cost),
 * with the engine's dense-key aggregation where it has one — and only when one does, which keys and
 * partitions, for the message.
 */
async function duplicateKeysAcrossPartitions(db: Db, v: ValidationInput, keyCols: string[], scope: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  const p = v.engine.dialect.quote(PARTITION_COLUMN);
  const keys = keyCols.join(', ');
  const anyRepeated = async () => (await db.query(`SELECT 1 AS found FROM ${v.staging} WHERE ${scope} GROUP BY ${keys} HAVING count(*) > 1 LIMIT 1`, params)).length > 0;
  const found =
    (keyCols.length === 1 && v.keyRange ? await keyRepeatsInBitmap(db, v, keyCols[0], v.keyRange, scope, params) : null) ??
    (v.engine.withDenseKeyAggregation ? await v.engine.withDenseKeyAggregation(db, anyRepeated) : await anyRepeated());
  if (!found) return [];
  return db.query<Record<string, unknown>>(
    `SELECT min(${p}) AS _part, ${keys}, count(*) AS _n FROM ${v.staging} WHERE ${scope} GROUP BY ${keys} HAVING count(*) > 1 ORDER BY _part, _n DESC, ${keys} LIMIT 20`,
    params,
  );
}

/** A bitmap of the key's range costs one bit per value of the range, per engine thread: at most 16 MiB. */
const BITMAP_MAX_BITS = 1n << 27n;
/** Sparser than this, setting and counting the bitmap's bits costs more than grouping the keys. */
const BITMAP_MAX_BITS_PER_KEY = 32n;

/**
 * Whether a key of one integer column repeats, from its range (`range`, read by the caller over the
 * same rows): more values than the range holds must repeat; otherwise DuckDB's bitstring_agg sets
 * one bit per distinct value of the range, and a key repeats exactly when fewer bits are set than
 * there are keys. One pass without a hash table: about a third of the time of grouping 5M keys, even
 * with the dense-key aggregation. NULL keys group together in the duplicate-key query, so two of them
 * repeat. Null when this cannot answer (another engine, a range too sparse for a bitmap).
 */
async function keyRepeatsInBitmap(db: Db, v: ValidationInput, key: string, range: KeyColumnRange, scope: string, params: unknown[]): Promise<boolean | null> {
  if (range.rows - range.keys > 1) return true;
  if (range.keys === 0) return false;
  const span = range.hi - range.lo + 1n;
  if (BigInt(range.keys) > span) return true;
  if (v.engine.kind !== 'duckdb' || span > BITMAP_MAX_BITS || span > BigInt(range.keys) * BITMAP_MAX_BITS_PER_KEY) return null;
  const bound = (b: bigint) => `CAST(${b.toString()} AS ${range.type})`;
  const [row] = await db.query<{ distinct_keys: number | string | null }>(
    `SELECT bit_count(bitstring_agg(${key}, ${bound(range.lo)}, ${bound(range.hi)})) AS distinct_keys FROM ${v.staging} WHERE ${scope}`,
    params,
  );
  return Number(row?.distinct_keys ?? 0) < range.keys;
}

async function runCheck(db: Db, v: ValidationInput, check: DatasetSpec['checks'][number], scope: string, params: unknown[]): Promise<{ part: string; message: string }[]> {
  const d = v.engine.dialect;
  const p = d.quote(PARTITION_COLUMN);
  const q = (c: string) => d.quote(c);
  if ('not_null' in check) {
    const out: { part: string; message: string }[] = [];
    for (const col of check.not_null) {
      const rows = await db.query<{ part: string; n: number }>(`SELECT ${p} AS part, count(*) AS n FROM ${v.staging} WHERE ${scope} AND ${q(col)} IS NULL GROUP BY ${p}`, params);
      for (const r of rows) out.push({ part: r.part, message: `check not_null(${col}) failed: ${r.n} NULL value(s)` });
    }
    return out;
  }
  if ('unique' in check) {
    const cols = check.unique.map(q).join(', ');
    const rows = await db.query<{ part: string; n: number }>(
      `SELECT part, count(*) AS n FROM (SELECT ${p} AS part FROM ${v.staging} WHERE ${scope} GROUP BY ${p}, ${cols} HAVING count(*) > 1) t GROUP BY part`,
      params,
    );
    return rows.map((r) => ({ part: r.part, message: `check unique(${check.unique.join(', ')}) failed: ${r.n} duplicated value(s)` }));
  }
  if ('accepted_values' in check) {
    const { column, values } = check.accepted_values;
    const offset = params.length;
    const placeholders = values.map((_, i) => `$${offset + i + 1}`).join(', ');
    const rows = await db.query<{ part: string; n: number; example: string }>(
      `SELECT ${p} AS part, count(*) AS n, CAST(min(${q(column)}) AS VARCHAR) AS example FROM ${v.staging} WHERE ${scope} AND ${q(column)} IS NOT NULL AND CAST(${q(column)} AS VARCHAR) NOT IN (${placeholders}) GROUP BY ${p}`,
      [...params, ...values.map(String)],
    );
    return rows.map((r) => ({ part: r.part, message: `check accepted_values(${column}) failed: ${r.n} row(s) such as '${r.example}'` }));
  }
  if ('row_count' in check) {
    const { min, max } = check.row_count;
    const rows = await db.query<{ part: string; n: number }>(`SELECT ${p} AS part, count(*) AS n FROM ${v.staging} WHERE ${scope} GROUP BY ${p}`, params);
    const counts = new Map(rows.map((r) => [r.part, Number(r.n)]));
    for (const part of v.partitions ?? []) if (!counts.has(part)) counts.set(part, 0);
    const out: { part: string; message: string }[] = [];
    for (const [part, n] of counts) {
      if (min !== undefined && n < min) out.push({ part, message: `check row_count failed: ${n} row(s), expected at least ${min}` });
      if (max !== undefined && n > max) out.push({ part, message: `check row_count failed: ${n} row(s), expected at most ${max}` });
    }
    return out;
  }
  // Custom SQL: `{{ this }}` is the staged rows of the partition(s); the query must return no rows.
  // `{{ this }}` names a CTE rather than being a subquery in place: PostgreSQL refuses a subquery in
  // FROM without an alias, and a CTE name takes the user's own alias (`FROM {{ this }} t`) or none.
  const cols = v.columns.map(q).join(', ');
  const self = q('_tm_this');
  const sql = renderTemplate(check.sql, { this: self }, `datasets.${v.dataset.name}.checks`);
  let rows: Record<string, unknown>[];
  try {
    rows = await db.query(`WITH ${self} AS (SELECT ${cols}, ${p} FROM ${v.staging} WHERE ${scope}) SELECT * FROM (${sql}) t LIMIT 3`, params);
  } catch (error) {
    throw new TidemarkError('SQL', `check ${check.name ?? 'sql'} of ${v.dataset.name} failed to run: ${(error as Error).message}`);
  }
  if (!rows.length) return [];
  const part = v.partitions?.length === 1 ? v.partitions[0] : String(rows[0][PARTITION_COLUMN] ?? '(all)');
  // The staging bookkeeping column means nothing to the user: the example shows their columns only.
  const { [PARTITION_COLUMN]: _partition, ...example } = rows[0];
  return [{ part, message: `check ${check.name ?? 'sql'} failed: returned ${rows.length}${rows.length === 3 ? '+' : ''} row(s), e.g. ${JSON.stringify(example)}` }];
}

/** The way forward after a model's (or a repair's) validation failed: its staged partitions are reused. */
const RECOMPUTE_HINT = 'nothing was published; fix the model or the data and re-issue the command (computed partitions are reused)';
/** After an ingest's: there is no model, and what is validated is the files' rows with those other files loaded into the same partitions. */
export const INGEST_VALIDATION_HINT =
  "nothing was published; the rows checked are these files' together with those other files already loaded into the same partitions: correct the files and ingest them again";

export function validationError(problems: Problem[], hint = RECOMPUTE_HINT): TidemarkError {
  const first = problems[0];
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
  return new TidemarkError('VALIDATION', `${first.dataset} ${first.partition}: ${first.message}${more}`, {
    dataset: first.dataset,
    partitions: [...new Set(problems.map((p) => p.partition))],
    problems,
    hint,
  });
}

/**
 * One aggregate over a batch just staged: each partition's row count and checksum (what its task
 * records), and the rows of the window and NULL check, which validateStaged then takes as
 * `stagedRows` and `windowRows` instead of querying them again. A batch's fixed cost is mostly its
 * statements, so three or four scans of the staged rows become one.
 *
 * A dataset keyed by its partition column alone (a daily rollup keyed by day) has a repeated key
 * exactly when a partition has fewer distinct values of that column than rows; NULLs, which the
 * duplicate-key query groups together, count as a possible repeat, so that query still runs then.
 */
export async function measureStaged(
  db: Db,
  v: Pick<ValidationInput, 'engine' | 'dataset' | 'staging' | 'columns' | 'partitionFromColumn'> & { partitions: string[] },
): Promise<{ stats: Map<string, { rows: number; checksum: string }>; stagedRows: Map<string, number>; windowRows: WindowRow[]; keysUnique: boolean }> {
  const d = v.engine.dialect;
  const p = d.quote(PARTITION_COLUMN);
  const pc = d.quote(v.dataset.partitionColumn);
  // NULL partition columns compare as unknown, so `outside` (like the check's query) keeps them apart.
  const outside = v.partitionFromColumn ? 'FALSE' : `${d.partitionKey(pc, v.dataset.grain)} <> ${p}`;
  const keyIsPartitionColumn = v.dataset.key.length === 1 && v.dataset.key[0] === v.dataset.partitionColumn;
  const rows = await db.query<{ part: string; n: number; c: string; nulls: number; outside: number; lo: string | null; hi: string | null; distinct_keys: number | null }>(
    `SELECT ${p} AS part, count(*) AS n, ${d.checksum(v.columns)} AS c, count(*) - count(${pc}) AS nulls, count(*) FILTER (WHERE ${outside}) AS outside,
       CAST(min(${pc}) FILTER (WHERE ${outside}) AS VARCHAR) AS lo, CAST(max(${pc}) FILTER (WHERE ${outside}) AS VARCHAR) AS hi,
       ${keyIsPartitionColumn ? `count(DISTINCT ${pc})` : 'NULL'} AS distinct_keys
     FROM ${v.staging} WHERE ${p} IN (${v.partitions.map((_, i) => `$${i + 1}`).join(', ')}) GROUP BY ${p}`,
    v.partitions,
  );
  const stats = new Map<string, { rows: number; checksum: string }>();
  const stagedRows = new Map<string, number>();
  const windowRows: WindowRow[] = [];
  let keysUnique = keyIsPartitionColumn;
  for (const r of rows) {
    const n = Number(r.n);
    stats.set(r.part, { rows: n, checksum: String(r.c) });
    stagedRows.set(r.part, n);
    const nulls = Number(r.nulls);
    const bad = nulls + Number(r.outside);
    if (bad > 0) windowRows.push({ part: r.part, n: bad, nulls, lo: r.lo, hi: r.hi });
    if (nulls > 0 || Number(r.distinct_keys) !== n) keysUnique = false;
  }
  return { stats, stagedRows, windowRows, keysUnique };
}

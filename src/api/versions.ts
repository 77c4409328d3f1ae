/**
 * Versions as a user sees them: `history` lists every version of a dataset's partitions, `diff`
 * compares what a run replaced with what it published — the "compare metrics pre/post fix" step
 * before a backfill is signed off. Restore, locks and gc live in their own files and are re-exported
 * here so the library has one entry point for versions.
 *
 * @example
 * const d = await diffRun(ws, runId, { dataset: 'daily_revenue' });
 * for (const p of d.partitions) console.log(p.partition, p.checksum_before, p.checksum_after, p.changed);
 */
import { getDataset, type DatasetSpec } from '../config/project.js';
import { isNumericFamily, typeFamily } from '../config/types.js';
import { parsePartitionKey } from '../core/grain.js';
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { loadPartitions, listVersions, type VersionRecord } from '../state/partitions.js';
import { getRun } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { checksumColumns, locationOf, storedColumnsOf, userColumns, versionRowsSql, type VersionLocation } from './version-content.js';
import { EMPTY_CHECKSUM } from '../execute/staging.js';
import type { PublishedPartition } from '../execute/publish.js';

export { planRestore, restore, type RestorePlan, type RestoreRequest, type RestoreResult } from './restore.js';
export { lock, unlock, type LockRequest, type LockResult, type UnlockResult } from './locks.js';
export { gc, type GcOptions, type GcReport } from './gc.js';

export interface HistoryEntry {
  dataset: string;
  partition: string;
  version: number;
  kind: VersionRecord['kind'];
  run_id: string;
  actor: string;
  reason: string;
  rows: number;
  checksum: string;
  published_at: string;
  replaced_at: string | null;
  /** The version now live. */
  current: boolean;
  /** Its rows are still held (live, or in history until retention removes them). */
  retained: boolean;
}

/** Every version of a dataset (or one partition), oldest first within each partition. */
export async function history(ws: Workspace, dataset: string, options: { partition?: string } = {}): Promise<HistoryEntry[]> {
  const ds = getDataset(ws.project, dataset);
  const partition = options.partition === undefined ? undefined : parsePartitionKey(options.partition, ds.grain);
  const records = await listVersions(ws.engine, ws.engine, ds.name, partition);
  return records.map((r) => ({
    dataset: r.dataset,
    partition: r.partition,
    version: r.version,
    kind: r.kind,
    run_id: r.run_id,
    actor: r.actor,
    reason: r.reason,
    rows: r.rows,
    checksum: r.checksum,
    published_at: r.published_at,
    replaced_at: r.replaced_at,
    current: r.replaced_at === null,
    retained: r.retained,
  }));
}

export interface MetricSum {
  before: number | string | null;
  after: number | string | null;
}

export interface PartitionDiff extends PublishedPartition {
  /** Key-level counts; null when one side's rows were removed by retention. */
  added: number | null;
  removed: number | null;
  changed: number | null;
  /** Sum of each numeric non-key column before and after. */
  sums: Record<string, MetricSum> | null;
  /** Set when a side cannot be read (which version's rows retention removed), or its rows are not those it was published with. */
  note?: string;
}

export interface RunDiff {
  run_id: string;
  kind: string;
  actor: string;
  reason: string;
  status: string;
  partitions: PartitionDiff[];
}

/**
 * Per partition a run changed: rows, checksums, key-level added/removed/changed and numeric sums,
 * between the version the run replaced and the version it published. Either may since have moved
 * to history (a later run replaced it); both are read from wherever they are held now.
 */
export async function diffRun(ws: Workspace, runId: string, options: { dataset?: string } = {}): Promise<RunDiff> {
  const { engine, project } = ws;
  const run = await getRun(engine, engine, runId);
  if (!run) throw new TidemarkError('NOT_FOUND', `no run '${runId}'`, { hint: 'run ids are listed by `tidemark runs` and in `tidemark history DATASET`' });
  const only = options.dataset === undefined ? undefined : getDataset(project, options.dataset).name;
  const published = await versionsPublishedBy(engine, engine, runId, only);
  const partitions: PartitionDiff[] = [];
  const current = await loadPartitions(engine, engine);
  for (const after of published) {
    const ds = project.datasets.get(after.dataset);
    if (!ds) continue; // a dataset since removed from tidemark.yaml
    const before = after.version > 1 ? (await listVersions(engine, engine, ds.name, after.partition)).find((v) => v.version === after.version - 1) ?? null : null;
    const currentVersion = current.get(ds.name)?.get(after.partition)?.version;
    partitions.push(await diffPartition(engine, ds, before, after, currentVersion));
  }
  return { run_id: run.run_id, kind: run.kind, actor: run.actor, reason: run.reason, status: run.status, partitions };
}

async function versionsPublishedBy(db: Db, engine: Engine, runId: string, dataset?: string): Promise<VersionRecord[]> {
  const rows = await db.query<{ dataset: string; partition: string }>(
    `SELECT dataset, partition FROM ${stateTable(engine, 'versions')} WHERE run_id = $1${dataset ? ' AND dataset = $2' : ''} ORDER BY dataset, partition`,
    dataset ? [runId, dataset] : [runId],
  );
  const out: VersionRecord[] = [];
  for (const r of rows) {
    const v = (await listVersions(db, engine, r.dataset, r.partition)).find((x) => x.run_id === runId);
    if (v) out.push(v);
  }
  return out;
}

async function diffPartition(engine: Engine, ds: DatasetSpec, before: VersionRecord | null, after: VersionRecord, currentVersion: number | undefined): Promise<PartitionDiff> {
  const base: PartitionDiff = {
    dataset: ds.name,
    partition: after.partition,
    version_before: before?.version ?? null,
    version_after: after.version,
    rows_before: before?.rows ?? null,
    rows_after: after.rows,
    checksum_before: before?.checksum ?? null,
    checksum_after: after.checksum,
    added: null,
    removed: null,
    changed: null,
    sums: null,
  };
  const afterAt = locationOf(after, currentVersion);
  const beforeAt: VersionLocation | 'none' = before ? locationOf(before, currentVersion) : 'none';
  const gone = [afterAt === 'removed' ? `version ${after.version}` : null, beforeAt === 'removed' ? `version ${before!.version}` : null].filter(Boolean);
  if (gone.length) return { ...base, note: `rows of ${gone.join(' and ')} were removed by retention; only counts and checksums are known` };
  const stored = await storedColumnsOf(engine, engine, ds.name);
  if (!stored) return { ...base, note: 'the live table does not exist' };

  const d = engine.dialect;
  const cols = userColumns(stored);
  const names = cols.map((c) => c.name);
  const checksummed = checksumColumns(ds, stored);
  const selected = [...new Set([...names, ...checksummed])];
  const keys = ds.key;
  const values = names.filter((c) => !keys.includes(c));
  const metrics = cols.filter((c) => isNumericFamily(typeFamily(c.type)) && !keys.includes(c.name) && c.name !== ds.partitionColumn).map((c) => c.name);
  const afterSql = versionRowsSql(engine, ds, afterAt as 'live' | 'history', after, selected, 1, 2);
  // A partition the run created has no "before": an empty relation of the same shape.
  const beforeSql = beforeAt === 'none' ? `${afterSql} AND FALSE` : versionRowsSql(engine, ds, beforeAt as 'live' | 'history', before!, selected, 1, 3);
  const q = (c: string) => d.quote(c);
  const differs = values.length ? values.map((c) => `b.${q(c)} IS DISTINCT FROM a.${q(c)}`).join(' OR ') : 'FALSE';
  const sums = metrics.flatMap((c, i) => [`(SELECT sum(${q(c)}) FROM b) AS b_${i}`, `(SELECT sum(${q(c)}) FROM a) AS a_${i}`]);
  // What each side's rows add up to, against what its version recorded: see heldAsPublished.
  const held = (side: 'a' | 'b') => `(SELECT count(*) FROM ${side}) AS ${side}_rows, (SELECT ${d.checksum(checksummed)} FROM ${side}) AS ${side}_checksum`;
  const sql = `WITH b AS (SELECT 1 AS _tm_in, t.* FROM (${beforeSql}) t), a AS (SELECT 1 AS _tm_in, t.* FROM (${afterSql}) t)
    SELECT
      sum(CASE WHEN b._tm_in IS NULL THEN 1 ELSE 0 END) AS added,
      sum(CASE WHEN a._tm_in IS NULL THEN 1 ELSE 0 END) AS removed,
      sum(CASE WHEN a._tm_in IS NOT NULL AND b._tm_in IS NOT NULL AND (${differs}) THEN 1 ELSE 0 END) AS changed,
      ${held('b')}, ${held('a')}
      ${sums.length ? `, ${sums.join(', ')}` : ''}
    FROM b FULL OUTER JOIN a ON ${keys.map((k) => `b.${q(k)} = a.${q(k)}`).join(' AND ')}`;
  const params = beforeAt === 'none' ? [after.partition, after.version] : [after.partition, after.version, before!.version];
  const [row] = await engine.query<Record<string, number | string | null>>(sql, params);
  const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
  const altered = [
    ...(before && !heldAsPublished(before, row.b_rows, row.b_checksum) ? [{ version: before, rows: num(row.b_rows), checksum: String(row.b_checksum ?? EMPTY_CHECKSUM) }] : []),
    ...(!heldAsPublished(after, row.a_rows, row.a_checksum) ? [{ version: after, rows: num(row.a_rows), checksum: String(row.a_checksum ?? EMPTY_CHECKSUM) }] : []),
  ];
  return {
    ...base,
    added: num(row.added),
    removed: num(row.removed),
    changed: num(row.changed),
    sums: Object.fromEntries(metrics.map((c, i) => [c, { before: row[`b_${i}`] ?? null, after: row[`a_${i}`] ?? null }])),
    ...(altered.length
      ? {
          note:
            altered.map((x) => `the rows held for version ${x.version.version} (${x.rows} rows, checksum ${x.checksum}) are not those it was published with (${x.version.rows} rows, ${x.version.checksum})`).join('; ') +
            `: they were changed outside Tidemark (in the live table, or in history since); added/removed/changed and the sums compare the rows held`,
        }
      : {}),
  };
}

/**
 * Whether the rows a version is read from now are the ones it was published with. They are not when
 * the live table was edited outside Tidemark: while the version is live, or before a later publish
 * replaced it (a repair keeps the edited rows in history as evidence). Its recorded rows and checksum
 * then describe content that exists nowhere, and a diff would show changes its checksums deny.
 */
function heldAsPublished(version: VersionRecord, rows: unknown, checksum: unknown): boolean {
  return Number(rows ?? 0) === version.rows && String(checksum ?? EMPTY_CHECKSUM) === version.checksum;
}

/** Sums of a diff's metrics over all its partitions of one dataset (for the summary line). */
export function totalSums(partitions: PartitionDiff[]): Record<string, { before: number; after: number }> {
  const out: Record<string, { before: number; after: number }> = {};
  for (const p of partitions) {
    for (const [c, s] of Object.entries(p.sums ?? {})) {
      const t = (out[c] ??= { before: 0, after: 0 });
      t.before += Number(s.before ?? 0);
      t.after += Number(s.after ?? 0);
    }
  }
  return out;
}

/**
 * `tidemark audit verify --data`: proves the live tables hold what the audit trail says was
 * published (incident 7's "compliance checks after recovery"). The hash chain proves the records
 * were not altered; it cannot see an `UPDATE daily_revenue …` run from any SQL client straight on a
 * live table. This recomputes every published partition's row count and checksum from the live
 * table exactly as publish recorded them (live-checksums.ts) and compares them with
 * `tidemark.partitions`. Live rows whose window has no published partition at all (inserted by
 * hand) are reported too.
 *
 * And it closes the loop from state to trail: each partition's recorded version, rows and checksum
 * must be what the audit trail last sealed for it (publish records list them per partition; a
 * schema change that recomputed checksums lists the new ones). Someone who edits a live table and
 * `tidemark.partitions` together, so that the two agree, is caught here: the chain is hash-linked,
 * so the trail cannot be edited to match without `audit verify` failing.
 *
 * Set-based: one aggregate per dataset, grouped by partition window, however many partitions.
 * Read-only: it writes nothing, not even an audit record (core/mutations.ts lists `audit verify`
 * as read-only).
 */
import { getDataset, type DatasetSpec, type Project } from '../config/project.js';
import { addPartitions, parsePartitionKey, sortKeys, type PartitionKey } from '../core/grain.js';
import { TidemarkError } from '../errors.js';
import { EMPTY_CHECKSUM } from '../execute/staging.js';
import { loadPartitions, type PartitionRecord } from '../state/partitions.js';
import type { Workspace } from '../workspace.js';
import { sealedStates, type SealedState } from './audit-sealed.js';
import { measureLiveWindows, type KeyRange, type LiveWindow } from './live-checksums.js';

export interface DataVerifyRequest {
  /** Datasets to check (default: every dataset of the project). */
  datasets?: string[];
  /** Inclusive partition keys; a date selects, in a coarser dataset, the partition containing it. */
  from?: string;
  to?: string;
}

/** A published partition whose live rows are not what was published. */
export interface PartitionDrift {
  dataset: string;
  partition: PartitionKey;
  /** The current version, as recorded: what `partitions` and the audit trail say is live. */
  version: number;
  /** `rows`: the row count differs (rows deleted or inserted); `checksum`: same count, different content. */
  problem: 'rows' | 'checksum';
  stored_rows: number;
  stored_checksum: string;
  live_rows: number;
  live_checksum: string;
}

/** Live rows in a window no published partition covers: written outside Tidemark. */
export interface UnpublishedRows {
  dataset: string;
  /** The partition key of their window; null when their partition column is NULL. */
  partition: PartitionKey | null;
  rows: number;
  checksum: string;
}

/** A partition whose recorded state is not what the audit trail last sealed for it. */
export interface UnauditedState {
  dataset: string;
  partition: PartitionKey;
  /** What `tidemark.partitions` records. */
  version: number;
  rows: number;
  checksum: string;
  /** What the trail last sealed for the partition (null: no record mentions it). */
  audited: SealedState | null;
}

export interface DatasetDataSummary {
  dataset: string;
  /** Published partitions compared. */
  partitions: number;
  /** Live rows read (in the selected range). */
  rows: number;
}

export interface DataVerdict {
  ok: boolean;
  datasets: DatasetDataSummary[];
  mismatches: PartitionDrift[];
  unpublished: UnpublishedRows[];
  /** Partitions whose recorded version, rows or checksum the audit trail never sealed. */
  unaudited: UnauditedState[];
}

export async function verifyData(ws: Workspace, request: DataVerifyRequest = {}): Promise<DataVerdict> {
  const { project, engine } = ws;
  const names = request.datasets?.length ? [...new Set(request.datasets.map((n) => getDataset(project, n).name))] : project.order;
  const specs = names.map((n) => project.datasets.get(n)!);
  // Bad --from/--to is refused before anything is read.
  const ranges = new Map(specs.map((ds) => [ds.name, selectedRange(ds, request)]));
  return engine.transaction(async (tx) => {
    // One snapshot for the state and the live tables, so a publish committed meanwhile (PostgreSQL
    // has other writers) cannot show up as a difference; DuckDB transactions are snapshots already.
    if (engine.capabilities.multiWriter) await tx.exec('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const stored = await loadPartitions(tx, engine);
    const trail = await sealedStates(tx, engine);
    const verdict: DataVerdict = { ok: true, datasets: [], mismatches: [], unpublished: [], unaudited: [] };
    for (const ds of specs) {
      const range = ranges.get(ds.name)!;
      const published = [...(stored.get(ds.name)?.values() ?? [])].filter((p) => inRange(p.partition, range));
      const live = await measureLiveWindows(tx, engine, ds, range);
      const drift = compare(ds, published, live);
      verdict.mismatches.push(...drift.mismatches);
      verdict.unpublished.push(...drift.unpublished);
      verdict.unaudited.push(...unsealed(ds, published, trail.get(ds.name) ?? new Map()));
      verdict.datasets.push({ dataset: ds.name, partitions: published.length, rows: live.reduce((n, w) => n + w.rows, 0) });
    }
    verdict.ok = !verdict.mismatches.length && !verdict.unpublished.length && !verdict.unaudited.length;
    return verdict;
  });
}

/** The error a failed data check is reported with (exit 4), naming the first few partitions and the way back. */
export function dataDriftError(project: Project, verdict: DataVerdict): TidemarkError {
  const parts = [
    ...verdict.mismatches.map((m) => `${m.dataset} ${m.partition} (${m.problem === 'rows' ? `${m.stored_rows} rows recorded, ${m.live_rows} live` : `checksum ${m.stored_checksum} recorded, ${m.live_checksum} live`})`),
    ...verdict.unpublished.map((u) => `${u.dataset} ${u.partition ?? '(NULL partition column)'} (${u.rows} row(s) in no published partition)`),
    ...verdict.unaudited.map((u) => `${u.dataset} ${u.partition} (${describeUnsealed(u)})`),
  ];
  const shown = parts.slice(0, 5).join(', ') + (parts.length > 5 ? `, … (${parts.length - 5} more)` : '');
  // Partitions to rebuild: changed live rows, or a record edited to match them (a partition may be
  // both: named once), as one command per run of adjacent partitions of a dataset.
  const [rebuild, ...others] = repairRanges(project, [...verdict.mismatches, ...verdict.unaudited]);
  const firstUnpublished = verdict.unpublished[0];
  const what = verdict.mismatches.length || verdict.unpublished.length ? 'the live data differs from the audit trail' : 'the recorded partitions differ from the audit trail';
  return new TidemarkError('CHECK_FAILED', `${what}: ${shown}`, {
    dataset: (rebuild ?? firstUnpublished).dataset,
    partitions: [...new Set([...verdict.mismatches, ...verdict.unaudited].map((m) => m.partition).concat(verdict.unpublished.flatMap((u) => (u.partition ? [u.partition] : []))))],
    hint: rebuild
      ? [repairHint(project, rebuild, !verdict.mismatches.length), ...otherRepairs(project, others)].join('\n')
      : `rows were written outside Tidemark where nothing was published, so no version records them and no Tidemark command replaces them: find where they came from, then delete them (${firstUnpublished.dataset} ${firstUnpublished.partition ?? 'rows with a NULL partition column'}) and verify again`,
  });
}

/** `recorded v3, 1200 rows, checksum …; the audit trail sealed v2, …` */
function describeUnsealed(u: UnauditedState): string {
  return `recorded ${describeRecorded(u)}; ${u.audited ? `the audit trail sealed ${describeSealed(u.audited)}` : 'no audit record publishes it'}`;
}

/** `v3 1200 rows checksum …`: what tidemark.partitions records. */
export function describeRecorded(u: UnauditedState): string {
  return `v${u.version}, ${u.rows} rows, checksum ${u.checksum}`;
}

/** `v2, 1200 rows, checksum … (record 17)`: what the trail sealed (the checksum unknown after an old schema change). */
export function describeSealed(s: SealedState): string {
  return `v${s.version}, ${s.rows} rows, checksum ${s.checksum ?? '(not sealed)'} (record ${s.seq})`;
}

/** Adjacent partitions of one dataset to put back with one command (a source's files are reloaded at once). */
interface RepairRange {
  dataset: string;
  from: PartitionKey;
  to: PartitionKey;
  partitions: number;
  /** The recorded version of a single partition (an earlier one can be restored); null for a range. */
  version: number | null;
}

/**
 * The partitions to put back, grouped: a model's adjacent partitions into one backfill (one publish,
 * whose --downstream rebuilds each dependent once), all of a source's into one reload.
 */
function repairRanges(project: Project, drifted: { dataset: string; partition: PartitionKey; version: number }[]): RepairRange[] {
  const byDataset = new Map<string, Map<PartitionKey, number>>();
  for (const m of drifted) {
    let keys = byDataset.get(m.dataset);
    if (!keys) byDataset.set(m.dataset, (keys = new Map()));
    keys.set(m.partition, m.version);
  }
  const out: RepairRange[] = [];
  for (const [dataset, keys] of byDataset) {
    const ds = getDataset(project, dataset);
    const first = out.length;
    for (const key of sortKeys(keys.keys())) {
      const last = out.length > first ? out[out.length - 1] : null;
      if (last && (ds.kind === 'source' || addPartitions(last.to, ds.grain, 1) === key)) {
        out[out.length - 1] = { ...last, to: key, partitions: last.partitions + 1, version: null };
        continue;
      }
      out.push({ dataset, from: key, to: key, partitions: 1, version: keys.get(key)! });
    }
  }
  return out;
}

/**
 * The way back for partitions changed in place. Their genuine rows exist nowhere any more (history
 * holds only replaced versions), so they are rebuilt: a backfill, or for a source an ingest
 * --reload of its files, replaces a partition whose live rows drifted even when it computes the
 * recorded content (publish.ts).
 */
function repairHint(project: Project, r: RepairRange, recordEdited: boolean): string {
  const one = r.partitions === 1;
  const earlier = r.version !== null && r.version > 1 ? `, or bring back an earlier version: \`tidemark restore ${r.dataset} --version ${r.version - 1} --from ${r.from} --to ${r.to} --reason "…"\`` : '';
  const model = getDataset(project, r.dataset).kind === 'model';
  const cause = recordEdited
    ? `tidemark.partitions was changed outside Tidemark (\`tidemark audit lineage ${r.dataset} --partition ${r.from}\` shows what the trail sealed); `
    : `the live rows${model ? '' : ` of source ${r.dataset}`} were changed outside Tidemark; `;
  if (model) return `${cause}rebuild ${one ? 'the partition' : `the ${r.partitions} partitions`} as recorded: ${repairCommand(project, r)} (add --downstream for ${one ? 'its' : 'their'} dependents)${earlier}`;
  return `${cause}load ${one ? "the partition's" : 'their'} files again: ${repairCommand(project, r)} (\`tidemark history ${r.dataset} --partition ${r.from}\` shows the run that loaded them)${earlier}`;
}

/** How many further ranges the hint names one by one; the rest are counted. */
const REPAIRS_SHOWN = 4;

/**
 * The hint's further lines when partitions of several ranges or datasets differ (each named once):
 * each one's repair, so nobody fixes the first, verifies again and only then learns of the next (the
 * way back for each is the same as the first line's: rebuild, reload, or restore an earlier version).
 */
function otherRepairs(project: Project, others: RepairRange[]): string[] {
  const lines = others.slice(0, REPAIRS_SHOWN).map((r) => `likewise ${r.dataset} ${r.from === r.to ? r.from : `${r.from}..${r.to}`}: ${repairCommand(project, r)}`);
  const more = others.slice(REPAIRS_SHOWN).reduce((n, r) => n + r.partitions, 0);
  if (more > 0) lines.push(`and ${more} more partition(s), repaired the same way: the report lists them all (\`--json\`: data.mismatches, data.unaudited)`);
  return lines;
}

/** The command that puts partitions back as recorded: rebuild a model's, reload a source's files. */
function repairCommand(project: Project, r: RepairRange): string {
  if (getDataset(project, r.dataset).kind === 'model') return `\`tidemark backfill ${r.dataset} --from ${r.from} --to ${r.to} --reason "…"\``;
  return `\`tidemark ingest ${r.dataset} FILE… --reload --reason "…"\``;
}

/** --from/--to as keys of the dataset's grain (each bound optional). */
function selectedRange(ds: DatasetSpec, request: DataVerifyRequest): KeyRange {
  const from = request.from === undefined ? null : parsePartitionKey(request.from, ds.grain);
  const to = request.to === undefined ? null : parsePartitionKey(request.to, ds.grain);
  if (from !== null && to !== null && from > to) {
    throw new TidemarkError('BAD_DATE', `--from ${request.from} is after --to ${request.to}`, { hint: 'swap them: --from is the first partition, --to the last (inclusive)' });
  }
  return { from, to };
}

/** Recorded partitions whose version, rows or checksum the trail never sealed (the state store was edited). */
function unsealed(ds: DatasetSpec, published: PartitionRecord[], sealed: Map<PartitionKey, SealedState>): UnauditedState[] {
  return published
    .filter((p) => {
      const s = sealed.get(p.partition);
      return !s || s.version !== p.version || s.rows !== Number(p.rows) || (s.checksum !== null && s.checksum !== String(p.checksum));
    })
    .map((p) => ({ dataset: ds.name, partition: p.partition, version: p.version, rows: Number(p.rows), checksum: String(p.checksum), audited: sealed.get(p.partition) ?? null }))
    .sort((a, b) => a.partition.localeCompare(b.partition));
}

/** ISO keys of one grain sort lexically. */
function inRange(key: PartitionKey, range: KeyRange): boolean {
  return (range.from === null || key >= range.from) && (range.to === null || key <= range.to);
}

/** Each published partition against its live window; live windows nothing was published in. */
function compare(ds: DatasetSpec, published: PartitionRecord[], live: LiveWindow[]): { mismatches: PartitionDrift[]; unpublished: UnpublishedRows[] } {
  const byKey = new Map(live.map((w) => [w.key, w]));
  const mismatches: PartitionDrift[] = [];
  for (const p of published) {
    // A published partition with no live rows reads as an empty one (a deliberately empty partition verifies).
    const now = byKey.get(p.partition) ?? { rows: 0, checksum: EMPTY_CHECKSUM };
    if (now.rows === p.rows && now.checksum === String(p.checksum)) continue;
    mismatches.push({
      dataset: ds.name,
      partition: p.partition,
      version: p.version,
      problem: now.rows !== p.rows ? 'rows' : 'checksum',
      stored_rows: p.rows,
      stored_checksum: String(p.checksum),
      live_rows: now.rows,
      live_checksum: now.checksum,
    });
  }
  const publishedKeys = new Set(published.map((p) => p.partition));
  const unpublished = live
    .filter((w) => w.key === null || !publishedKeys.has(w.key))
    .map((w) => ({ dataset: ds.name, partition: w.key, rows: w.rows, checksum: w.checksum }))
    .sort((a, b) => (a.partition ?? '').localeCompare(b.partition ?? ''));
  return { mismatches: mismatches.sort((a, b) => a.partition.localeCompare(b.partition)), unpublished };
}

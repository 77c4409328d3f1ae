/**
 * The audit trail as seen by users (DESIGN.md failure mode 7): list records, verify the hash chain,
 * export it with its head so the head can be anchored outside Tidemark, and show the lineage of a
 * partition (every version: who, when, why, which run, built from which upstream versions).
 *
 * Records are written only by the write path (state/audit.ts inside the publish transaction); this
 * module never writes.
 */
import { verifyAuditChain, type AuditRecord, type ChainVerdict } from '../audit/chain.js';
import { canonicalJson } from '../audit/canonical.js';
import { getDataset } from '../config/project.js';
import { parsePartitionKey } from '../core/grain.js';
import { TidemarkError, usageError } from '../errors.js';
import { countAudit, readAudit, readStoredAudit, type AuditQuery } from '../state/audit.js';
import { listVersions, type Inputs } from '../state/partitions.js';
import { getRun } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

export interface AuditLogQuery {
  dataset?: string;
  /** ISO date or date-time (UTC unless it carries an offset), or a span back from now: 30m, 24h, 7d. */
  since?: string;
  runId?: string;
}

/** Audit records in sequence order, optionally filtered. */
export async function auditLog(ws: Workspace, q: AuditLogQuery = {}): Promise<AuditRecord[]> {
  const records = await readAudit(ws.engine, ws.engine, auditQuery(q));
  requireKnownDataset(ws, q, records.length);
  await requireKnownRun(ws, q, records.length);
  return records;
}

/** The newest `size` records matching the query (sequence order) and how many match in all: a page, not the whole trail. */
export async function auditPage(ws: Workspace, q: AuditLogQuery, size: number): Promise<{ total: number; records: AuditRecord[] }> {
  const filter = auditQuery(q);
  const total = await countAudit(ws.engine, ws.engine, filter);
  requireKnownDataset(ws, q, total);
  await requireKnownRun(ws, q, total);
  return { total, records: total ? await readAudit(ws.engine, ws.engine, filter, size) : [] };
}

/** The state store's filter for a query: `since` read as an instant. */
function auditQuery(q: AuditLogQuery): AuditQuery {
  return { dataset: q.dataset, runId: q.runId, since: q.since === undefined ? undefined : parseSince(q.since) };
}

/** A dataset removed from the project keeps its records; a name that is neither (no record matched) is a typo. */
function requireKnownDataset(ws: Workspace, q: AuditLogQuery, matched: number): void {
  if (q.dataset !== undefined && !matched && !ws.project.datasets.has(q.dataset)) getDataset(ws.project, q.dataset);
}

/** A run with no record (it published nothing) lists none; a run id that names no run is a typo, said as such. */
async function requireKnownRun(ws: Workspace, q: AuditLogQuery, matched: number): Promise<void> {
  if (q.runId === undefined || matched || (await getRun(ws.engine, ws.engine, q.runId))) return;
  throw new TidemarkError('NOT_FOUND', `no run '${q.runId}'`, { hint: 'run ids are listed by `tidemark runs` and in `tidemark history DATASET`' });
}

const SPAN = /^(\d+)([mhd])$/;
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;

/** `--since` → the ISO instant records are compared with (they store `at` as toISOString()). */
export function parseSince(since: string, now: Date = new Date()): string {
  const text = since.trim();
  const span = SPAN.exec(text);
  if (span) {
    const ms = Number(span[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() - ms).toISOString();
  }
  if (ISO.test(text) && isCalendarDate(text.slice(0, 10))) {
    // Without an offset a time means UTC, like every timestamp Tidemark stores.
    let iso = text.length === 10 ? `${text}T00:00:00` : text.replace(' ', 'T');
    if (/T\d{2}(?:Z|[+-]|$)/.test(iso)) iso = iso.replace(/(T\d{2})/, '$1:00'); // 2026-03-07T13
    if (!/(?:Z|[+-]\d{2}:?\d{2})$/.test(iso)) iso += 'Z';
    const instant = new Date(iso);
    if (!Number.isNaN(instant.getTime())) return instant.toISOString();
  }
  throw new TidemarkError('BAD_DATE', `--since: cannot read '${since}' as a time`, { hint: 'use an ISO date or time (2026-03-07, 2026-03-07T13:00Z) or a span such as 24h or 7d' });
}

/** Date refuses nothing (2026-02-30 becomes March 2nd); we do. */
function isCalendarDate(ymd: string): boolean {
  const [y, m, d] = ymd.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

const HASH = /^[0-9a-f]{64}$/;

/** Recomputes the whole chain; with `head` (an exported head hash) a cut-off tail is detected too. */
export async function verifyAudit(ws: Workspace, opts: { head?: string } = {}): Promise<ChainVerdict> {
  let head: string | undefined;
  if (opts.head !== undefined) {
    head = opts.head.trim().toLowerCase();
    if (!HASH.test(head)) throw usageError(`--head must be a 64-character hex SHA-256 hash, got '${opts.head}'`, 'pass the head printed by `tidemark audit verify` or the last line of `tidemark audit export`');
  }
  const records = await readStoredAudit(ws.engine, ws.engine);
  return verifyAuditChain(records, { head });
}

/** The error a broken chain is reported with: exit 4, naming the first bad sequence number. */
export function chainBrokenError(verdict: Extract<ChainVerdict, { ok: false }>): TidemarkError {
  return new TidemarkError('CHECK_FAILED', `audit chain broken at record ${verdict.seq}: ${verdict.message}`, {
    seq: verdict.seq,
    problem: verdict.problem,
    hint: 'the audit table was changed outside Tidemark; compare with an exported copy (`tidemark audit export`) to see what changed',
  });
}

export interface AuditExport {
  /** One canonical JSON (RFC 8785) record per line, then `{"count":N,"head":"<hash>"}`. */
  lines: string[];
  count: number;
  head: string;
}

/**
 * Exports the verified chain. A broken chain is refused (exit 4): anchoring the head of a chain
 * that has already been tampered with would bless the tampering.
 */
export async function exportAudit(ws: Workspace): Promise<AuditExport> {
  const records = await readAudit(ws.engine, ws.engine);
  const verdict = verifyAuditChain(records);
  if (!verdict.ok) throw chainBrokenError(verdict);
  const lines = records.map((r) => canonicalJson(r));
  lines.push(canonicalJson({ head: verdict.head, count: verdict.count }));
  return { lines, count: verdict.count, head: verdict.head };
}

export interface UpstreamVersion {
  dataset: string;
  partition: string;
  version: number;
}

export interface LineageEntry {
  dataset: string;
  partition: string;
  version: number;
  /** new | restate | restore */
  kind: string;
  /** Who, when, why. */
  actor: string;
  published_at: string;
  reason: string;
  run_id: string;
  /** ingest | run | backfill | restore … (null if the run record is gone). */
  run_kind: string | null;
  publish_seq: number;
  rows: number;
  checksum: string;
  /** The upstream partition versions this version was built from (empty for sources). */
  inputs: UpstreamVersion[];
  /** When it stopped being live (null: it is the live version). */
  replaced_at: string | null;
  /** Whether its rows are still retained in history (restorable). */
  retained: boolean;
  /** The audit record that describes this publish, and its command line. */
  audit_seq: number | null;
  command: string | null;
}

/** Every version of one partition, oldest first. */
export async function lineage(ws: Workspace, dataset: string, partition: string): Promise<LineageEntry[]> {
  const ds = getDataset(ws.project, dataset);
  const key = parsePartitionKey(partition, ds.grain);
  const versions = await listVersions(ws.engine, ws.engine, dataset, key);
  if (!versions.length) {
    throw new TidemarkError('NOT_FOUND', `${dataset} has no versions of partition ${key}`, { dataset, partitions: [key], hint: `tidemark partitions ${dataset} lists the partitions that exist` });
  }
  // Only the records of the runs that made these versions: the dataset's whole trail grows with every publish.
  const runIds = [...new Set(versions.map((v) => v.run_id))];
  const audits = await readAudit(ws.engine, ws.engine, { dataset, runIds });
  const runKinds = await runKindsOf(ws, runIds);
  return versions.map((v) => {
    const record = audits.find((a) => a.run_id === v.run_id && a.partitions.includes(key) && describesVersion(a, key, v.version));
    return {
      dataset,
      partition: key,
      version: v.version,
      kind: v.kind,
      actor: v.actor,
      published_at: v.published_at,
      reason: v.reason,
      run_id: v.run_id,
      run_kind: runKinds.get(v.run_id) ?? record?.action ?? null,
      publish_seq: v.publish_seq,
      rows: v.rows,
      checksum: v.checksum,
      inputs: flattenInputs(v.inputs),
      replaced_at: v.replaced_at,
      retained: v.retained,
      audit_seq: record?.seq ?? null,
      command: record?.command ?? null,
    };
  });
}

/** Publish records list per partition `version_after` in details.changed; other records just name the partition. */
function describesVersion(record: AuditRecord, partition: string, version: number): boolean {
  const changed = (record.details as { changed?: { partition?: string; version_after?: number }[] } | null)?.changed;
  if (!Array.isArray(changed)) return true;
  return changed.some((c) => c.partition === partition && c.version_after === version);
}

function flattenInputs(inputs: Inputs): UpstreamVersion[] {
  const out: UpstreamVersion[] = [];
  for (const [dataset, parts] of Object.entries(inputs ?? {})) {
    for (const [partition, version] of Object.entries(parts)) out.push({ dataset, partition, version: Number(version) });
  }
  return out.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.partition.localeCompare(b.partition));
}

async function runKindsOf(ws: Workspace, runIds: string[]): Promise<Map<string, string>> {
  if (!runIds.length) return new Map();
  const params = runIds;
  const rows = await ws.engine.query<{ run_id: string; kind: string }>(
    `SELECT run_id, kind FROM ${stateTable(ws.engine, 'runs')} WHERE run_id IN (${params.map((_, i) => `$${i + 1}`).join(', ')})`,
    params,
  );
  return new Map(rows.map((r) => [r.run_id, r.kind]));
}

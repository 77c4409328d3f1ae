/**
 * Consumer verification: does what a consumer serves agree with the warehouse? For every partition
 * a run published in a dataset the consumer follows, read the consumer's value (HTTP GET of JSON, or
 * a SQL query) and the warehouse's, and compare. A cache that ignored its invalidation shows up here.
 */
import type { ConsumerConfig } from '../config/schema.js';
import { TidemarkError, coerceError } from '../errors.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { subscriptions, type VerifyConfig } from './config.js';
import { eventFromRow, eventPartitions, type PartitionRef } from './events.js';

export interface VerifyCheck {
  consumer: string;
  dataset: string;
  partition: string;
  consumer_value: unknown;
  warehouse_value: unknown;
  ok: boolean;
  error?: string;
}

export interface VerifyReport {
  run_id: string;
  checked: number;
  mismatches: VerifyCheck[];
  errors: VerifyCheck[];
  checks: VerifyCheck[];
  /** Consumers following the run's datasets without a `verify` block. */
  unverifiable: string[];
}

/** The partitions a run published, from its `run.published` event. */
async function publishedPartitions(ws: Workspace, runId: string): Promise<PartitionRef[]> {
  const rows = await ws.engine.query(`SELECT * FROM ${stateTable(ws.engine, 'outbox')} WHERE run_id = $1 AND event_type = 'run.published' ORDER BY event_id`, [runId]);
  if (!rows.length) {
    const known = await ws.engine.query(`SELECT status FROM ${stateTable(ws.engine, 'runs')} WHERE run_id = $1`, [runId]);
    if (!known.length) throw new TidemarkError('NOT_FOUND', `unknown run '${runId}'`, { hint: '`tidemark runs` lists run ids (and --json output of run, backfill, ingest, restore)' });
    throw new TidemarkError('USAGE', `run ${runId} has not published (status ${String(known[0].status)}): nothing to verify`);
  }
  return rows.flatMap((r) => eventPartitions(eventFromRow(r).payload));
}

function verifyOf(c: ConsumerConfig): VerifyConfig | undefined {
  return c.kind === 'file' ? undefined : c.verify;
}

export async function verifyRun(ws: Workspace, runId: string, options: { consumer?: string } = {}): Promise<VerifyReport> {
  if (options.consumer && !ws.project.consumers[options.consumer]) {
    throw new TidemarkError('USAGE', `unknown consumer '${options.consumer}'`, { hint: `consumers: ${Object.keys(ws.project.consumers).join(', ') || 'none'}` });
  }
  const partitions = await publishedPartitions(ws, runId);
  const report: VerifyReport = { run_id: runId, checked: 0, mismatches: [], errors: [], checks: [], unverifiable: [] };
  for (const [name, follows] of subscriptions(ws.project)) {
    if (options.consumer && name !== options.consumer) continue;
    const mine = partitions.filter((p) => follows.includes(p.dataset));
    if (!mine.length) continue;
    const verify = verifyOf(ws.project.consumers[name]);
    if (!verify) {
      report.unverifiable.push(name);
      continue;
    }
    for (const p of mine) {
      const check = await checkPartition(ws, name, verify, p);
      report.checks.push(check);
      report.checked++;
      if (check.error) report.errors.push(check);
      else if (!check.ok) report.mismatches.push(check);
    }
  }
  return report;
}

async function checkPartition(ws: Workspace, consumer: string, v: VerifyConfig, p: PartitionRef): Promise<VerifyCheck> {
  const check: VerifyCheck = { consumer, dataset: p.dataset, partition: p.partition, consumer_value: null, warehouse_value: null, ok: false };
  try {
    check.warehouse_value = await sqlValue(ws, v.warehouse, p);
    check.consumer_value = 'http' in v ? await httpValue(v.http, v.field, p) : await sqlValue(ws, v.sql, p);
    check.ok = agree(check.consumer_value, check.warehouse_value, v.tolerance);
  } catch (error) {
    check.error = ws.redact(coerceError(error).message);
  }
  return check;
}

/** First column of the first row; `$1` is the partition and `$2` the dataset. */
async function sqlValue(ws: Workspace, sql: string, p: PartitionRef): Promise<unknown> {
  const params = /\$2\b/.test(sql) ? [p.partition, p.dataset] : /\$1\b/.test(sql) ? [p.partition] : [];
  const rows = await ws.engine.query(sql, params);
  if (!rows.length) return null;
  return Object.values(rows[0])[0] ?? null;
}

async function httpValue(template: string, field: string, p: PartitionRef): Promise<unknown> {
  const url = template.replaceAll('{partition}', encodeURIComponent(p.partition)).replaceAll('{dataset}', encodeURIComponent(p.dataset));
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  let value: unknown = await res.json();
  for (const key of field.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value ?? null;
}

/** Numbers (or numeric strings, as engines return big integers) compare as numbers; the rest as text. */
export function agree(a: unknown, b: unknown, tolerance = 0): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  const ints = [String(a).trim(), String(b).trim()];
  if (tolerance === 0 && ints.every((s) => /^-?\d+$/.test(s))) return BigInt(ints[0]) === BigInt(ints[1]);
  const x = Number(a);
  const y = Number(b);
  if (typeof a !== 'boolean' && typeof b !== 'boolean' && String(a).trim() !== '' && String(b).trim() !== '' && Number.isFinite(x) && Number.isFinite(y)) {
    return Math.abs(x - y) <= tolerance;
  }
  return String(a) === String(b);
}

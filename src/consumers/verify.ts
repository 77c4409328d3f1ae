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
  return askConsumers(await readWarehouse(ws, runId, options));
}

/** What `readWarehouse` gathered: every check with its warehouse value (and a SQL consumer's value); HTTP values come later. */
export interface WarehouseReading {
  run_id: string;
  checks: { check: VerifyCheck; verify: VerifyConfig }[];
  unverifiable: string[];
  redact: (text: string) => string;
}

/**
 * The part of a verification that needs the project: the run's partitions, the warehouse values, and
 * the values of consumers verified by SQL. Separate from the HTTP reads because a dashboard that
 * answers a cache miss by reading the warehouse cannot do so while this process holds a DuckDB
 * file: the CLI closes the project before it asks such consumers (`askConsumers`).
 */
export async function readWarehouse(ws: Workspace, runId: string, options: { consumer?: string } = {}): Promise<WarehouseReading> {
  if (options.consumer && !ws.project.consumers[options.consumer]) {
    throw new TidemarkError('USAGE', `unknown consumer '${options.consumer}'`, { hint: `consumers: ${Object.keys(ws.project.consumers).join(', ') || 'none'}` });
  }
  const partitions = await publishedPartitions(ws, runId);
  const reading: WarehouseReading = { run_id: runId, checks: [], unverifiable: [], redact: ws.redact };
  for (const [name, follows] of subscriptions(ws.project)) {
    if (options.consumer && name !== options.consumer) continue;
    const mine = partitions.filter((p) => follows.includes(p.dataset));
    if (!mine.length) continue;
    const verify = verifyOf(ws.project.consumers[name]);
    if (!verify) {
      reading.unverifiable.push(name);
      continue;
    }
    for (const p of mine) {
      const check: VerifyCheck = { consumer: name, dataset: p.dataset, partition: p.partition, consumer_value: null, warehouse_value: null, ok: false };
      reading.checks.push({ check, verify });
      try {
        check.warehouse_value = await sqlValue(ws, verify.warehouse, p);
        if (!('http' in verify)) check.consumer_value = await sqlValue(ws, verify.sql, p);
      } catch (error) {
        check.error = ws.redact(coerceError(error).message);
      }
    }
  }
  return reading;
}

/** Reads the HTTP consumers' values (no project needed) and compares every check. */
export async function askConsumers(reading: WarehouseReading): Promise<VerifyReport> {
  const report: VerifyReport = { run_id: reading.run_id, checked: 0, mismatches: [], errors: [], checks: [], unverifiable: reading.unverifiable };
  for (const { check, verify } of reading.checks) {
    if (!check.error && 'http' in verify) {
      try {
        check.consumer_value = await httpValue(verify.http, verify.field, check);
      } catch (error) {
        check.error = reading.redact(coerceError(error).message);
      }
    }
    if (!check.error) check.ok = agree(check.consumer_value, check.warehouse_value, verify.tolerance);
    report.checks.push(check);
    report.checked++;
    if (check.error) report.errors.push(check);
    else if (!check.ok) report.mismatches.push(check);
  }
  return report;
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

/**
 * Reading the outbox and deciding who hears about each event. An event concerns a consumer when the
 * run touched a dataset the consumer follows: the datasets a publish changed for `run.published`,
 * the datasets the run planned for `run.started` / `run.failed` / `run.cancelled`. A consumer that
 * heard a run start also hears it end: the run's `run.published` reaches it even when nothing it
 * follows changed (the run recomputed its partitions to the content they held), or a dashboard that
 * put up "backfill in progress" on `run.started` would wait for an end that never comes, and a
 * pausing consumer would never be told to resume. A batch's `run.published` of a `--publish
 * partition` run (`partial: true`) is not an end: it reaches only the consumers following what the
 * batch changed.
 */
import type { Db, Engine } from '../engines/engine.js';
import { parseJson } from '../state/json.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { acceptsEvent, hasConsumers, subscriptions } from './config.js';

export interface OutboxEvent {
  event_id: number;
  event_type: string;
  run_id: string;
  payload: Record<string, unknown>;
  created_at: string;
}

export interface PartitionRef {
  dataset: string;
  partition: string;
  version?: number;
}

export async function outboxAfter(db: Db, engine: Engine, afterId: number): Promise<OutboxEvent[]> {
  const rows = await db.query(`SELECT * FROM ${stateTable(engine, 'outbox')} WHERE event_id > $1 ORDER BY event_id`, [afterId]);
  return rows.map(eventFromRow);
}

export function eventFromRow(r: Record<string, unknown>): OutboxEvent {
  return {
    event_id: Number(r.event_id),
    event_type: String(r.event_type),
    run_id: String(r.run_id),
    payload: parseJson<Record<string, unknown>>(r.payload, {}),
    created_at: String(r.created_at),
  };
}

/** `datasets` of a payload as names: run.started carries plan entries `{ dataset, partitions }`. */
export function datasetNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((d) => (typeof d === 'string' ? d : String((d as { dataset?: unknown }).dataset ?? ''))).filter(Boolean);
}

/** Partitions an event names: the published versions, or the planned partitions of a starting run. */
export function eventPartitions(payload: Record<string, unknown>): PartitionRef[] {
  if (Array.isArray(payload.partitions)) return payload.partitions as PartitionRef[];
  if (Array.isArray(payload.datasets)) {
    return (payload.datasets as unknown[]).flatMap((d) =>
      d && typeof d === 'object' && Array.isArray((d as { partitions?: unknown }).partitions)
        ? ((d as { partitions: string[] }).partitions.map((p) => ({ dataset: (d as { dataset: string }).dataset, partition: p })))
        : [],
    );
  }
  return [];
}

/** Datasets each run planned (from its plan in `tidemark.runs`), in one statement; a run not recorded plans none. */
export async function plannedDatasets(db: Db, engine: Engine, runIds: string[]): Promise<Map<string, string[]>> {
  const ids = [...new Set(runIds)];
  if (!ids.length) return new Map();
  const rows = await db.query<{ run_id: string; plan: unknown }>(`SELECT run_id, plan FROM ${stateTable(engine, 'runs')} WHERE run_id IN (${ids.map((_, i) => `$${i + 1}`).join(', ')})`, ids);
  return new Map(rows.map((r) => [r.run_id, datasetNames(parseJson<{ datasets?: unknown } | null>(r.plan, null)?.datasets)]));
}

/** The consumers an event is delivered to, in name order. */
export async function recipientsOf(ws: Workspace, event: OutboxEvent, db: Db = ws.engine): Promise<string[]> {
  // A project without consumers: nothing to look up (every command's fan-out asks this per event).
  if (!hasConsumers(ws.project)) return [];
  return recipientsGiven(ws, event, (await plannedDatasets(db, ws.engine, [event.run_id])).get(event.run_id) ?? []);
}

/** recipientsOf, with the datasets the event's run planned already read (plannedDatasets). */
export function recipientsGiven(ws: Workspace, event: OutboxEvent, planned: string[]): string[] {
  const changed = event.event_type === 'run.published' ? datasetNames(event.payload.datasets) : planned;
  const out: string[] = [];
  for (const [name, follows] of subscriptions(ws.project)) {
    const c = ws.project.consumers[name];
    if (!acceptsEvent(c, event.event_type)) continue;
    const heardItStart = acceptsEvent(c, 'run.started') && follows.some((d) => planned.includes(d));
    const endOfWhatItHeardStart = event.event_type === 'run.published' && event.payload.partial !== true && heardItStart;
    const concerns = follows.some((d) => changed.includes(d)) || endOfWhatItHeardStart;
    if (concerns) out.push(name);
  }
  return out.sort();
}

/** The JSON a consumer receives: the outbox payload plus the event id, project and time. */
export function eventBody(ws: Workspace, event: OutboxEvent): Record<string, unknown> {
  const { payload } = event;
  return {
    event_id: event.event_id,
    type: event.event_type,
    run_id: event.run_id,
    project: ws.project.name,
    created_at: event.created_at,
    ...payload,
    datasets: datasetNames(payload.datasets),
    partitions: eventPartitions(payload),
  };
}

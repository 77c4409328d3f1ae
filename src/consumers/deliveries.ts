/**
 * The `tidemark.deliveries` table: one row per (outbox event, consumer), updated after every attempt
 * (attempt count, last error, when to try again), so the dispatcher can resume from any process.
 * Statuses: pending → delivered, or pending → dead after the consumer's max attempts.
 */
import type { Db, Engine } from '../engines/engine.js';
import { jsonRowsParam } from '../engines/json-rows.js';
import { stateTable } from '../state/tables.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface DeliveryRow {
  event_id: number;
  consumer: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  delivered_at: string | null;
}

/** A delivery with the event it carries. */
export interface DeliveryWithEvent extends DeliveryRow {
  event_type: string;
  run_id: string;
  payload: string;
  created_at: string;
}

function fromRow<T extends DeliveryRow>(r: Record<string, unknown>): T {
  return { ...(r as unknown as T), event_id: Number(r.event_id), attempts: Number(r.attempts) };
}

/**
 * Queues `eventId` for `consumer`; returns false when it already was. The unique index on
 * (event_id, consumer) (migration 5) decides, so a row is inserted once however many processes try.
 */
export async function insertDelivery(db: Db, engine: Engine, eventId: number, consumer: string, now: string): Promise<boolean> {
  const inserted = await db.query(
    `INSERT INTO ${stateTable(engine, 'deliveries')} (event_id, consumer, status, attempts, next_attempt_at, last_error, delivered_at)
     VALUES (CAST($1 AS BIGINT), CAST($2 AS VARCHAR), 'pending', 0, CAST($3 AS VARCHAR), NULL, NULL)
     ON CONFLICT (event_id, consumer) DO NOTHING RETURNING event_id`,
    [eventId, consumer, now],
  );
  return inserted.length > 0;
}

/** A consumer's undelivered events, oldest first: they are delivered strictly in this order. */
export async function pendingFor(db: Db, engine: Engine, consumer: string): Promise<DeliveryWithEvent[]> {
  const rows = await db.query(
    `SELECT d.*, o.event_type, o.run_id, o.payload, o.created_at FROM ${stateTable(engine, 'deliveries')} d
     JOIN ${stateTable(engine, 'outbox')} o ON o.event_id = d.event_id
     WHERE d.consumer = $1 AND d.status = 'pending' ORDER BY d.event_id`,
    [consumer],
  );
  return rows.map((r) => fromRow<DeliveryWithEvent>(r));
}

export async function consumersWithPending(db: Db, engine: Engine): Promise<string[]> {
  const rows = await db.query<{ consumer: string }>(`SELECT DISTINCT consumer FROM ${stateTable(engine, 'deliveries')} WHERE status = 'pending' ORDER BY consumer`);
  return rows.map((r) => r.consumer);
}

export async function recordAttempt(
  db: Db,
  engine: Engine,
  d: { event_id: number; consumer: string },
  outcome: { status: DeliveryStatus; attempts: number; next_attempt_at: string | null; last_error: string | null; delivered_at: string | null },
): Promise<void> {
  await db.exec(
    `UPDATE ${stateTable(engine, 'deliveries')} SET status = $3, attempts = $4, next_attempt_at = $5, last_error = $6, delivered_at = $7 WHERE event_id = $1 AND consumer = $2`,
    [d.event_id, d.consumer, outcome.status, outcome.attempts, outcome.next_attempt_at, outcome.last_error, outcome.delivered_at],
  );
}

export interface DeliveryFilter {
  consumer?: string;
  runId?: string;
  /** Deliveries of any of these runs. */
  runIds?: string[];
  eventType?: string;
  /** Only deliveries not acknowledged (pending or dead). */
  undelivered?: boolean;
  eventId?: number;
  /** Only deliveries attempted at least once or no longer pending (consumers/failures.ts `hasFailed` is a subset). */
  attempted?: boolean;
  /** Only dead deliveries and pending ones whose last attempt failed (what `hasFailed` selects). */
  failed?: boolean;
  /** The newest N only. */
  limit?: number;
}

/** Every delivery, optionally of one consumer or run, newest event first. */
export async function listDeliveries(db: Db, engine: Engine, filter: DeliveryFilter = {}): Promise<DeliveryWithEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.consumer) params.push(filter.consumer), where.push(`d.consumer = $${params.length}`);
  if (filter.runId) params.push(filter.runId), where.push(`o.run_id = $${params.length}`);
  if (filter.runIds) where.push(`o.run_id IN (${filter.runIds.map((id) => (params.push(id), `$${params.length}`)).join(', ') || 'NULL'})`);
  if (filter.eventType) params.push(filter.eventType), where.push(`o.event_type = $${params.length}`);
  if (filter.undelivered) where.push(`d.status <> 'delivered'`);
  if (filter.eventId !== undefined) params.push(filter.eventId), where.push(`d.event_id = $${params.length}`);
  if (filter.attempted) where.push(`(d.status <> 'pending' OR d.attempts > 0)`);
  if (filter.failed) where.push(`(d.status = 'dead' OR (d.status = 'pending' AND d.attempts > 0))`);
  const limit = filter.limit === undefined ? '' : ` LIMIT ${Math.max(1, Math.floor(filter.limit))}`;
  const rows = await db.query(
    `SELECT d.*, o.event_type, o.run_id, o.payload, o.created_at FROM ${stateTable(engine, 'deliveries')} d
     JOIN ${stateTable(engine, 'outbox')} o ON o.event_id = d.event_id
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.event_id DESC, d.consumer${limit}`,
    params,
  );
  return rows.map((r) => fromRow<DeliveryWithEvent>(r));
}

/**
 * Each consumer's newest delivery that was attempted or settled, and its newest one never attempted
 * (at most two rows a consumer), in one statement however many consumers: what `consumers status` shows.
 */
export async function newestDeliveries(db: Db, engine: Engine): Promise<DeliveryWithEvent[]> {
  const attempted = `(d.status <> 'pending' OR d.attempts > 0)`;
  const rows = await db.query(
    `SELECT * FROM (
       SELECT d.*, o.event_type, o.run_id, o.payload, o.created_at,
         row_number() OVER (PARTITION BY d.consumer, ${attempted} ORDER BY d.event_id DESC) AS newest
       FROM ${stateTable(engine, 'deliveries')} d JOIN ${stateTable(engine, 'outbox')} o ON o.event_id = d.event_id
     ) t WHERE newest = 1 ORDER BY event_id DESC, consumer`,
  );
  return rows.map((r) => fromRow<DeliveryWithEvent>(r));
}

/** How many deliveries each consumer has in each status, without reading them. */
export async function countDeliveries(db: Db, engine: Engine): Promise<{ consumer: string; status: DeliveryStatus; n: number }[]> {
  const rows = await db.query<{ consumer: string; status: DeliveryStatus; n: number }>(
    `SELECT consumer, status, count(*) AS n FROM ${stateTable(engine, 'deliveries')} GROUP BY consumer, status ORDER BY consumer, status`,
  );
  return rows.map((r) => ({ ...r, n: Number(r.n) }));
}

/** Puts these deliveries back in the queue with a fresh attempt budget; returns how many. */
export async function requeue(db: Db, engine: Engine, deliveries: readonly { event_id: number; consumer: string }[], now: string): Promise<number> {
  if (!deliveries.length) return 0;
  const keys = engine.dialect.jsonRows('$2', [{ name: 'event_id', type: 'BIGINT' }, { name: 'consumer', type: 'VARCHAR' }], 'k');
  const rows = await db.query(
    `UPDATE ${stateTable(engine, 'deliveries')} SET status = 'pending', attempts = 0, next_attempt_at = $1, last_error = NULL, delivered_at = NULL
     WHERE (event_id, consumer) IN (SELECT k.event_id, k.consumer FROM ${keys}) RETURNING event_id`,
    [now, jsonRowsParam(deliveries.map((d) => ({ event_id: d.event_id, consumer: d.consumer })))],
  );
  return rows.length;
}

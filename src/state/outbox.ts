/**
 * The transactional outbox: events are written in the same transaction as the change they announce.
 *
 * Event ids are max + 1, and consumers fan events out by a cursor on the id (consumers/enqueue.ts),
 * so ids must grow in commit order: an event committed with a lower id than one already fanned out
 * would never be delivered. On an engine several processes write (PostgreSQL), two transactions
 * would read the same max and the second would fail on the unique id. So an append first takes a
 * lock held until its transaction ends: the next append waits, then reads the max it committed.
 * The lock is taken late in a publish (its last statements), so it is held only briefly.
 */
import type { Db, Engine } from '../engines/engine.js';
import { nowIso } from './json.js';
import { stateTable } from './tables.js';

export type OutboxEventType = 'run.started' | 'run.published' | 'run.failed' | 'run.cancelled';

export async function appendOutboxEvent(tx: Db, engine: Engine, type: OutboxEventType, runId: string, payload: Record<string, unknown>): Promise<number> {
  const table = stateTable(engine, 'outbox');
  await engine.lockTransaction?.(tx, 'outbox');
  const rows = await tx.query<{ id: number | null }>(`SELECT max(event_id) AS id FROM ${table}`);
  const id = Number(rows[0]?.id ?? 0) + 1;
  await tx.exec(`INSERT INTO ${table} (event_id, event_type, run_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)`, [
    id,
    type,
    runId,
    JSON.stringify({ type, run_id: runId, ...payload }),
    nowIso(),
  ]);
  return id;
}

/** The payload of a run's latest event of a type (e.g. why it last failed), or null when it has none. */
export async function latestRunEvent(db: Db, engine: Engine, runId: string, type: OutboxEventType): Promise<Record<string, unknown> | null> {
  const rows = await db.query<{ payload: string }>(
    `SELECT payload FROM ${stateTable(engine, 'outbox')} WHERE run_id = $1 AND event_type = $2 ORDER BY event_id DESC LIMIT 1`,
    [runId, type],
  );
  return rows[0] ? (JSON.parse(rows[0].payload) as Record<string, unknown>) : null;
}

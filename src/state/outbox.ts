/** The transactional outbox: events are written in the same transaction as the change they announce. */
import type { Db, Engine } from '../engines/engine.js';
import { nowIso } from './json.js';
import { stateTable } from './tables.js';

export type OutboxEventType = 'run.started' | 'run.published' | 'run.failed' | 'run.cancelled';

export async function appendOutboxEvent(tx: Db, engine: Engine, type: OutboxEventType, runId: string, payload: Record<string, unknown>): Promise<number> {
  const table = stateTable(engine, 'outbox');
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

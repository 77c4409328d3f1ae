/**
 * Turning outbox events into deliveries. A cursor in `tidemark.meta` remembers the last event
 * already fanned out, so each event is enqueued once per consumer, and a consumer added later hears
 * about events from then on rather than the whole history. A `run.published` that no required
 * consumer has to acknowledge completes its run at once.
 *
 * Exactly once across processes: a fan-out first locks the cursor row (an UPDATE of it, the first
 * statement of its transaction), so on PostgreSQL two processes fanning out at once (two `serve`s, a
 * command and a `serve`) take turns: the second reads the cursor, the outbox and the deliveries only
 * once the first committed, finds its events already fanned out, and counts and completes nothing
 * twice. DuckDB has one writing process, whose transactions on the engine already take turns. The
 * unique index on (event_id, consumer) (migration 5) backs this up: a delivery row is never doubled,
 * and `deliveries` counts only rows actually inserted.
 */
import type { Db } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { completeRunIfAcknowledged } from './completion.js';
import { insertDelivery } from './deliveries.js';
import { outboxAfter, recipientsOf } from './events.js';

const CURSOR_KEY = 'consumers_outbox_cursor';

/**
 * Locks the cursor row until the transaction ends and returns its value. In read committed, an UPDATE
 * that waited for another transaction's lock returns the value that transaction committed.
 */
async function lockCursor(tx: Db, ws: Workspace): Promise<number> {
  const locked = await tx.query<{ value: string }>(`UPDATE ${stateTable(ws.engine, 'meta')} SET value = value WHERE key = $1 RETURNING value`, [CURSOR_KEY]);
  // Migration 5 creates the row, and nothing deletes it.
  if (!locked.length) throw new TidemarkError('INTERNAL', `the state store has no ${CURSOR_KEY} row in tidemark.meta`, { hint: 'the state store was changed outside Tidemark; restore the row (value: the last event_id fanned out, or 0)' });
  return Number(locked[0].value);
}

/** Whether the outbox holds events past the cursor: read without a lock, so an idle dispatch writes nothing. */
async function hasNewEvents(ws: Workspace): Promise<boolean> {
  const { engine } = ws;
  const rows = await engine.query<{ n: number }>(
    `SELECT count(*) AS n FROM ${stateTable(engine, 'outbox')} WHERE event_id > coalesce((SELECT CAST(value AS BIGINT) FROM ${stateTable(engine, 'meta')} WHERE key = $1), -1)`,
    [CURSOR_KEY],
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/**
 * The last event already fanned out (read without a lock). Events after it have no delivery rows
 * yet: a process died between its publish and its dispatch, and the next fan-out enqueues them.
 */
export async function fannedOutUpTo(db: Db, ws: Workspace): Promise<number> {
  const rows = await db.query<{ value: string }>(`SELECT value FROM ${stateTable(ws.engine, 'meta')} WHERE key = $1`, [CURSOR_KEY]);
  return Number(rows[0]?.value ?? 0);
}

async function writeCursor(tx: Db, ws: Workspace, value: number): Promise<void> {
  await tx.exec(`UPDATE ${stateTable(ws.engine, 'meta')} SET value = $2 WHERE key = $1`, [CURSOR_KEY, String(value)]);
}

export interface EnqueueResult {
  events: number;
  /** Delivery rows this fan-out inserted. */
  deliveries: number;
  completed: string[];
}

export async function enqueueNewEvents(ws: Workspace, now: string): Promise<EnqueueResult> {
  const result: EnqueueResult = { events: 0, deliveries: 0, completed: [] };
  // Every dispatch (each serve tick, each command) starts here: most find nothing new, and then
  // neither lock nor write the cursor row all processes' fan-outs share.
  if (!(await hasNewEvents(ws))) return result;
  await ws.engine.transaction(async (tx) => {
    const events = await outboxAfter(tx, ws.engine, await lockCursor(tx, ws));
    for (const event of events) {
      result.events++;
      for (const consumer of await recipientsOf(ws, event, tx)) {
        if (await insertDelivery(tx, ws.engine, event.event_id, consumer, now)) result.deliveries++;
      }
      if (await completeRunIfAcknowledged(ws, event, tx)) result.completed.push(event.run_id);
    }
    if (events.length) await writeCursor(tx, ws, events[events.length - 1].event_id);
  });
  return result;
}

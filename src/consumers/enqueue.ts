/**
 * Turning outbox events into deliveries. A cursor in `tidemark.meta` remembers the last event
 * already fanned out, so each event is enqueued once per consumer, and a consumer added later hears
 * about events from then on rather than the whole history. A `run.published` that no required
 * consumer has to acknowledge completes its run at once.
 */
import type { Db } from '../engines/engine.js';
import { Mutex } from '../engines/mutex.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { completeRunIfAcknowledged } from './completion.js';
import { insertDelivery } from './deliveries.js';
import { outboxAfter, recipientsOf } from './events.js';

const CURSOR_KEY = 'consumers_outbox_cursor';

async function readCursor(db: Db, ws: Workspace): Promise<number> {
  const rows = await db.query<{ value: string }>(`SELECT value FROM ${stateTable(ws.engine, 'meta')} WHERE key = $1`, [CURSOR_KEY]);
  return rows.length ? Number(rows[0].value) : 0;
}

async function writeCursor(db: Db, ws: Workspace, value: number): Promise<void> {
  const table = stateTable(ws.engine, 'meta');
  await db.exec(`UPDATE ${table} SET value = $2 WHERE key = $1`, [CURSOR_KEY, String(value)]);
  await db.exec(`INSERT INTO ${table} (key, value) SELECT CAST($1 AS VARCHAR), CAST($2 AS VARCHAR) WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE key = CAST($1 AS VARCHAR))`, [CURSOR_KEY, String(value)]);
}

export interface EnqueueResult {
  events: number;
  deliveries: number;
  completed: string[];
}

/**
 * One fan-out at a time per engine in this process: `tidemark serve` dispatches from a timer and from
 * the commands it hosts, and two fan-outs reading the same cursor side by side (PostgreSQL, read
 * committed) would insert the same deliveries twice.
 */
const fanOuts = new WeakMap<object, Mutex>();

function fanOutLock(ws: Workspace): Mutex {
  let lock = fanOuts.get(ws.engine);
  if (!lock) fanOuts.set(ws.engine, (lock = new Mutex()));
  return lock;
}

export async function enqueueNewEvents(ws: Workspace, now: string): Promise<EnqueueResult> {
  return fanOutLock(ws).run(() => fanOut(ws, now));
}

async function fanOut(ws: Workspace, now: string): Promise<EnqueueResult> {
  const result: EnqueueResult = { events: 0, deliveries: 0, completed: [] };
  await ws.engine.transaction(async (tx) => {
    const events = await outboxAfter(tx, ws.engine, await readCursor(tx, ws));
    for (const event of events) {
      result.events++;
      for (const consumer of await recipientsOf(ws, event, tx)) {
        await insertDelivery(tx, ws.engine, event.event_id, consumer, now);
        result.deliveries++;
      }
      if (await completeRunIfAcknowledged(ws, event, tx)) result.completed.push(event.run_id);
    }
    if (events.length) await writeCursor(tx, ws, events[events.length - 1].event_id);
  });
  return result;
}

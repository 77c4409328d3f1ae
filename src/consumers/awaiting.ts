/**
 * Which required consumers a `published` run is still waiting for, read without writing anything
 * (`status`, `consumers status` and `runs` are read commands).
 *
 * The deliveries alone do not tell: a process killed right after its publish committed (before the
 * fan-out that enqueues the run's `run.published` and completes a run nobody has to acknowledge)
 * leaves an event with no delivery rows at all. Such an event is counted here as waiting for each
 * required consumer it will be fanned out to (status `pending`, no attempt yet). A run left waiting
 * for nobody is complete in effect: it is shown as complete, and the next write command's fan-out
 * (executor.ts) or any dispatch records it so (completion.ts).
 */
import type { Db } from '../engines/engine.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { listDeliveries, type DeliveryStatus } from './deliveries.js';
import { isRequired } from './failures.js';
import { fannedOutUpTo } from './enqueue.js';
import { eventFromRow, recipientsOf } from './events.js';

export interface AwaitedConsumer {
  consumer: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
}

export async function awaitedConsumers(ws: Workspace, runId: string, db: Db = ws.engine): Promise<AwaitedConsumer[]> {
  const { engine } = ws;
  const out: AwaitedConsumer[] = [];
  // Fanned out: its deliveries that a required consumer has not acknowledged (pending or dead), counted
  // as the completion check counts them (completion.ts): only consumers the event still concerns.
  const deliveries = (await listDeliveries(db, engine, { runId })).filter((d) => d.event_type === 'run.published' && d.status !== 'delivered');
  const concerned = new Map<number, string[]>();
  for (const d of deliveries) {
    if (!concerned.has(d.event_id)) concerned.set(d.event_id, await recipientsOf(ws, eventFromRow(d as unknown as Record<string, unknown>), db));
    if (!concerned.get(d.event_id)!.includes(d.consumer) || !isRequired(ws, d.consumer)) continue;
    out.push({ consumer: d.consumer, status: d.status, attempts: d.attempts, last_error: d.last_error });
  }
  // Not fanned out yet: every required consumer it will reach.
  const cursor = await fannedOutUpTo(db, ws);
  const events = await db.query(`SELECT * FROM ${stateTable(engine, 'outbox')} WHERE run_id = $1 AND event_type = 'run.published' AND event_id > $2 ORDER BY event_id`, [runId, cursor]);
  for (const event of events.map(eventFromRow)) {
    for (const consumer of await recipientsOf(ws, event, db)) {
      if (isRequired(ws, consumer)) out.push({ consumer, status: 'pending', attempts: 0, last_error: null });
    }
  }
  return out;
}

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
import { hasConsumers } from './config.js';
import { listDeliveries, type DeliveryStatus } from './deliveries.js';
import { isRequired } from './failures.js';
import { fannedOutUpTo } from './enqueue.js';
import { eventFromRow, plannedDatasets, recipientsGiven, type OutboxEvent } from './events.js';

export interface AwaitedConsumer {
  consumer: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
}

/** For each of `runIds`, the required consumers it waits for; a constant number of statements however many runs. */
export async function awaitedConsumers(ws: Workspace, runIds: string[], db: Db = ws.engine): Promise<Map<string, AwaitedConsumer[]>> {
  const { engine } = ws;
  const out = new Map<string, AwaitedConsumer[]>(runIds.map((id) => [id, []]));
  // Without consumers no event has a recipient: nobody to wait for, nothing to read.
  if (!runIds.length || !hasConsumers(ws.project)) return out;
  // Fanned out: their deliveries that a required consumer has not acknowledged (pending or dead), counted
  // as the completion check counts them (completion.ts): only consumers the event still concerns.
  const deliveries = await listDeliveries(db, engine, { runIds, eventType: 'run.published', undelivered: true });
  // Not fanned out yet: every required consumer they will reach.
  const cursor = await fannedOutUpTo(db, ws);
  const ids = runIds.map((_, i) => `$${i + 2}`).join(', ');
  const events = (
    await db.query(`SELECT * FROM ${stateTable(engine, 'outbox')} WHERE run_id IN (${ids}) AND event_type = 'run.published' AND event_id > $1 ORDER BY event_id`, [cursor, ...runIds])
  ).map(eventFromRow);
  const planned = await plannedDatasets(db, engine, [...deliveries.map((d) => d.run_id), ...events.map((e) => e.run_id)]);
  const recipients = new Map<number, string[]>();
  const recipientsOf = (event: OutboxEvent) => {
    let names = recipients.get(event.event_id);
    if (!names) recipients.set(event.event_id, (names = recipientsGiven(ws, event, planned.get(event.run_id) ?? [])));
    return names;
  };
  for (const d of deliveries) {
    const concerned = recipients.get(d.event_id) ?? recipientsOf(eventFromRow(d as unknown as Record<string, unknown>));
    if (!concerned.includes(d.consumer) || !isRequired(ws, d.consumer)) continue;
    out.get(d.run_id)?.push({ consumer: d.consumer, status: d.status, attempts: d.attempts, last_error: d.last_error });
  }
  for (const event of events) {
    for (const consumer of recipientsOf(event)) {
      if (isRequired(ws, consumer)) out.get(event.run_id)?.push({ consumer, status: 'pending', attempts: 0, last_error: null });
    }
  }
  return out;
}

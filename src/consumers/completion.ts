/**
 * A run is `complete` once every required consumer that its `run.published` concerns has
 * acknowledged that event (DESIGN.md: planned → … → published → complete). Optional consumers and
 * dead-lettered deliveries do not complete a run: a dead required delivery leaves it `published`,
 * which `tidemark status` shows.
 *
 * A `--publish partition` run has several `run.published` events: one per batch (`partial: true`,
 * published while the run is still computing) and a last one that sets it `published`. It is
 * complete once the last one committed and every required consumer acknowledged every one of them,
 * whichever event's acknowledgement comes last.
 */
import { hasConsumers } from './config.js';
import type { Db } from '../engines/engine.js';
import { getRun, setRunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { eventFromRow, recipientsOf, type OutboxEvent } from './events.js';

export async function completeRunIfAcknowledged(ws: Workspace, event: OutboxEvent, db: Db = ws.engine): Promise<boolean> {
  if (event.event_type !== 'run.published') return false;
  const { engine } = ws;
  // The run's last publish has not committed yet: a partial event cannot complete it.
  const run = await getRun(db, engine, event.run_id);
  if (run?.status !== 'published') return false;
  // Without consumers nobody has to acknowledge anything: no event to read.
  if (hasConsumers(ws.project)) for (const e of await publishedEventsOf(db, ws, event.run_id)) if (!(await acknowledgedByRequired(ws, e, db))) return false;
  await setRunStatus(db, engine, event.run_id, 'complete');
  return true;
}

/**
 * Every required consumer the event was fanned out to acknowledged it. (A consumer added to
 * tidemark.yaml after an event was fanned out never receives it, so it cannot hold the run.)
 */
async function acknowledgedByRequired(ws: Workspace, event: OutboxEvent, db: Db): Promise<boolean> {
  const required = (await recipientsOf(ws, event, db)).filter((name) => ws.project.consumers[name]?.required !== false);
  if (!required.length) return true;
  const rows = await db.query<{ consumer: string; status: string }>(`SELECT consumer, status FROM ${stateTable(ws.engine, 'deliveries')} WHERE event_id = $1`, [event.event_id]);
  const status = new Map(rows.map((r) => [r.consumer, r.status]));
  return required.every((name) => !status.has(name) || status.get(name) === 'delivered');
}

async function publishedEventsOf(db: Db, ws: Workspace, runId: string): Promise<OutboxEvent[]> {
  const rows = await db.query(`SELECT * FROM ${stateTable(ws.engine, 'outbox')} WHERE run_id = $1 AND event_type = 'run.published' ORDER BY event_id`, [runId]);
  return rows.map(eventFromRow);
}

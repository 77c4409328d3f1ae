/**
 * A run is `complete` once every required consumer that its `run.published` concerns has
 * acknowledged that event (DESIGN.md: planned → … → published → complete). Optional consumers and
 * dead-lettered deliveries do not complete a run: a dead required delivery leaves it `published`,
 * which `tidemark status` shows.
 */
import type { Db } from '../engines/engine.js';
import { getRun, setRunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { recipientsOf, type OutboxEvent } from './events.js';

export async function completeRunIfAcknowledged(ws: Workspace, event: OutboxEvent, db: Db = ws.engine): Promise<boolean> {
  if (event.event_type !== 'run.published') return false;
  const { engine } = ws;
  const required = (await recipientsOf(ws, event, db)).filter((name) => ws.project.consumers[name]?.required !== false);
  if (required.length) {
    const rows = await db.query<{ consumer: string }>(`SELECT consumer FROM ${stateTable(engine, 'deliveries')} WHERE event_id = $1 AND status = 'delivered'`, [event.event_id]);
    const acked = new Set(rows.map((r) => r.consumer));
    if (!required.every((name) => acked.has(name))) return false;
  }
  const run = await getRun(db, engine, event.run_id);
  if (run?.status !== 'published') return false;
  await setRunStatus(db, engine, event.run_id, 'complete');
  return true;
}

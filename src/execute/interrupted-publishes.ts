/**
 * Publishes whose process died before it finished (SIGKILL after the publish committed, before its
 * dispatch): the data and the audit record are committed, but the run's `run.published` was never
 * fanned out to consumers, so a run with no consumer to wait for still reads `published`, not
 * `complete`, and the user never saw its result.
 *
 * The next write command settles them before it starts its own run: it fans their events out, which
 * completes the runs nobody has to acknowledge (consumers/enqueue.ts) and queues the deliveries of the
 * others for the next dispatch. Read commands write nothing; they derive the same answer
 * (consumers/awaiting.ts). The settled runs are returned so that a re-issued command that finds
 * nothing left to publish can name the run that already published it.
 */
import { datasetNames, eventFromRow } from '../consumers/events.js';
import { enqueueNewEvents, OUTBOX_CURSOR_KEY } from '../consumers/enqueue.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

export interface InterruptedPublish {
  run_id: string;
  kind: string;
  published_at: string | null;
  /** Datasets the run's publish changed. */
  datasets: string[];
}

export async function settleInterruptedPublishes(ws: Workspace): Promise<InterruptedPublish[]> {
  const { engine } = ws;
  // One statement, as every write command runs it (usually finding nothing). Only finished runs: a
  // --publish partition run still computing publishes batches and dispatches itself.
  const rows = await engine.query<Record<string, unknown> & { kind: string; published_at: string | null }>(
    `SELECT o.*, r.kind, r.published_at FROM ${stateTable(engine, 'outbox')} o JOIN ${stateTable(engine, 'runs')} r ON r.run_id = o.run_id
     WHERE o.event_id > coalesce((SELECT CAST(value AS BIGINT) FROM ${stateTable(engine, 'meta')} WHERE key = $1), -1)
       AND o.event_type = 'run.published' AND r.status IN ('published', 'complete') ORDER BY o.event_id`,
    [OUTBOX_CURSOR_KEY],
  );
  if (!rows.length) return [];
  await enqueueNewEvents(ws, new Date().toISOString());
  const byRun = new Map<string, InterruptedPublish>();
  for (const row of rows) {
    const event = eventFromRow(row);
    const run = byRun.get(event.run_id) ?? { run_id: event.run_id, kind: row.kind, published_at: row.published_at === null ? null : String(row.published_at), datasets: [] };
    for (const d of datasetNames(event.payload.datasets)) if (!run.datasets.includes(d)) run.datasets.push(d);
    byRun.set(event.run_id, run);
  }
  return [...byRun.values()];
}

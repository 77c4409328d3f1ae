/**
 * Publishes whose process died before it finished (SIGKILL after the publish committed, before its
 * dispatch): the data and the audit record are committed, but the run's `run.published` was never
 * fanned out to consumers, so a run with no consumer to wait for still reads `published`, not
 * `complete`, and the user never saw its result.
 *
 * The next write command settles them before it starts its own run: it fans their events out, which
 * completes the runs nobody has to acknowledge (consumers/enqueue.ts) and queues the deliveries of the
 * others for the next dispatch. Read commands write nothing; they derive the same answer
 * (consumers/awaiting.ts). The settled runs whose process is gone are returned so that a re-issued
 * command that finds nothing left to publish can name the run that already published it.
 */
import os from 'node:os';
import { datasetNames, outboxAfter } from '../consumers/events.js';
import { enqueueNewEvents, fannedOutUpTo } from '../consumers/enqueue.js';
import { isProcessAlive } from '../io/process-alive.js';
import { getRun, type RunRecord } from '../state/runs.js';
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
  // Every write command runs this, and it usually finds nothing beyond the fan-out cursor.
  const events = (await outboxAfter(engine, engine, await fannedOutUpTo(engine, ws))).filter((e) => e.event_type === 'run.published');
  if (!events.length) return [];
  const runs = new Map<string, RunRecord | null>();
  for (const e of events) if (!runs.has(e.run_id)) runs.set(e.run_id, await getRun(engine, engine, e.run_id));
  // Only finished runs: a --publish partition run still computing publishes batches and dispatches itself.
  const finished = events.filter((e) => ['published', 'complete'].includes(runs.get(e.run_id)?.status ?? ''));
  if (!finished.length) return [];
  await enqueueNewEvents(ws, new Date().toISOString());
  // Named only when their process is known to be gone: a library caller that has not called
  // dispatch(ws) yet, in this process or one still running, interrupted nothing.
  const here = os.hostname();
  const byRun = new Map<string, InterruptedPublish>();
  for (const event of finished) {
    const run = runs.get(event.run_id)!;
    if (run.pid === null || run.host !== here || isProcessAlive(run.pid)) continue;
    const named = byRun.get(run.run_id) ?? { run_id: run.run_id, kind: run.kind, published_at: run.published_at, datasets: [] };
    for (const d of datasetNames(event.payload.datasets)) if (!named.datasets.includes(d)) named.datasets.push(d);
    byRun.set(run.run_id, named);
  }
  return [...byRun.values()];
}

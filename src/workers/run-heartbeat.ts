/**
 * Heartbeats of runs computed inside one process on a multi-writer engine (`tidemark backfill`
 * without --detach, `tidemark run`, `tidemark serve`): while such a run computes and publishes, its row
 * in run_leases is extended every third of the lease, so a planner on another machine (where its pid
 * means nothing) knows it is alive; when the process dies, the lease runs out and the run stops
 * holding its partitions (re-issuing the command resumes it, as on one machine).
 */
import type { Engine } from '../engines/engine.js';
import type { EventBus } from '../events.js';
import { stateTable } from '../state/tables.js';
import { leaseMs, leaseUntil } from './lease.js';

/** Starts beating for every run this process starts; returns the function that stops them all. */
export function attachRunHeartbeat(engine: Engine, events: EventBus): () => void {
  if (!engine.capabilities.multiWriter) return () => undefined;
  const ms = leaseMs();
  const table = stateTable(engine, 'run_leases');
  const beating = new Map<string, NodeJS.Timeout>();
  const beat = (runId: string) =>
    engine.exec(`UPDATE ${table} SET lease_until = $2 WHERE run_id = $1`, [runId, leaseUntil(ms)]).catch(() => undefined);
  const stop = (runId: string) => {
    const timer = beating.get(runId);
    if (!timer) return;
    clearInterval(timer);
    beating.delete(runId);
    void engine.exec(`DELETE FROM ${table} WHERE run_id = $1`, [runId]).catch(() => undefined);
  };
  const off = events.on((e) => {
    if (e.type === 'run.started' && !beating.has(e.run_id)) {
      // A resumed run had no lease row (its old process died): create one.
      void engine
        .transaction(async (tx) => {
          await tx.exec(`DELETE FROM ${table} WHERE run_id = $1`, [e.run_id]);
          await tx.exec(`INSERT INTO ${table} (run_id, holder, lease_until) VALUES ($1, $2, $3)`, [e.run_id, `pid ${process.pid}`, leaseUntil(ms)]);
        })
        .catch(() => undefined);
      const timer = setInterval(() => void beat(e.run_id), Math.max(50, Math.floor(ms / 3)));
      timer.unref();
      beating.set(e.run_id, timer);
    } else if (e.type === 'run.published' || e.type === 'run.failed') stop(e.run_id);
  });
  return () => {
    off();
    for (const runId of [...beating.keys()]) {
      clearInterval(beating.get(runId));
      beating.delete(runId);
    }
  };
}

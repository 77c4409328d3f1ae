/** Everything a plan is computed from, read once from the state store. */
import type { Db, Engine } from '../engines/engine.js';
import type { Snapshot } from '../core/staleness.js';
import type { UserLock } from '../core/guards.js';
import { loadPartitions } from '../state/partitions.js';
import { listLocks } from '../state/locks.js';
import { listActiveRuns, listTasks, type RunRecord } from '../state/runs.js';

export interface PlanningState {
  snapshot: Snapshot;
  locks: UserLock[];
  /** Partitions held by runs in flight: dataset → partition → run. */
  claims: Map<string, Map<string, RunRecord>>;
}

export async function loadPlanningState(db: Db, engine: Engine): Promise<PlanningState> {
  const partitions = await loadPartitions(db, engine);
  const snapshot: Snapshot = new Map();
  for (const [ds, m] of partitions) snapshot.set(ds, new Map([...m].map(([k, r]) => [k, { version: r.version, rows: r.rows, checksum: r.checksum, inputs: r.inputs }])));
  const claims = new Map<string, Map<string, RunRecord>>();
  for (const run of await listActiveRuns(db, engine)) {
    if (!isProcessAlive(run.pid)) continue; // an interrupted run holds nothing; re-issuing it resumes
    for (const t of await listTasks(db, engine, run.run_id)) {
      let m = claims.get(t.dataset);
      if (!m) claims.set(t.dataset, (m = new Map()));
      m.set(t.partition, run);
    }
  }
  return { snapshot, locks: await listLocks(db, engine), claims };
}

export function isProcessAlive(pid: number | null): boolean {
  if (!pid) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

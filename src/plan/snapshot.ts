/** Everything a plan is computed from, read once from the state store. */
import os from 'node:os';
import type { Db, Engine } from '../engines/engine.js';
import type { Snapshot } from '../core/staleness.js';
import type { UserLock } from '../core/guards.js';
import { loadPartitionVersions } from '../state/partitions.js';
import { listLocks } from '../state/locks.js';
import { listActiveRuns, listTasks, type RunRecord } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import { isProcessAlive } from '../io/process-alive.js';

export interface PlanningState {
  snapshot: Snapshot;
  locks: UserLock[];
  /** Partitions held by runs in flight: dataset → partition → run. */
  claims: Map<string, Map<string, RunRecord>>;
  /** Runs in flight that hold their partitions (runLiveness), and those that do not: interrupted, re-issuing resumes them. */
  inFlight: RunRecord[];
  interrupted: RunRecord[];
}

/**
 * `withInputs: false` for plans that never look at input fingerprints (a backfill names its range;
 * staleness is not asked): the snapshot's `inputs` are then empty, and reading it costs half as much.
 */
export async function loadPlanningState(db: Db, engine: Engine, options: { withInputs?: boolean } = {}): Promise<PlanningState> {
  const snapshot = options.withInputs === false ? await loadPartitionSizes(db, engine) : await loadPartitionVersions(db, engine);
  const claims = new Map<string, Map<string, RunRecord>>();
  const alive = await runLiveness(db, engine);
  const active = await listActiveRuns(db, engine);
  // An interrupted run holds nothing; re-issuing it resumes.
  const inFlight = active.filter(alive);
  for (const run of inFlight) {
    for (const t of await listTasks(db, engine, run.run_id)) {
      let m = claims.get(t.dataset);
      if (!m) claims.set(t.dataset, (m = new Map()));
      m.set(t.partition, run);
    }
  }
  return { snapshot, locks: await listLocks(db, engine), claims, inFlight, interrupted: active.filter((r) => !alive(r)) };
}

/** loadPartitionVersions without the input fingerprints (each one a JSON text to read and parse): `inputs` are empty. */
async function loadPartitionSizes(db: Db, engine: Engine): Promise<Snapshot> {
  const rows = await db.query<{ dataset: string; partition: string; version: number; rows: number; checksum: string }>(
    `SELECT dataset, partition, version, rows, checksum FROM ${stateTable(engine, 'partitions')}`,
  );
  const out: Snapshot = new Map();
  for (const r of rows) {
    let m = out.get(r.dataset);
    if (!m) out.set(r.dataset, (m = new Map()));
    m.set(r.partition, { version: Number(r.version), rows: Number(r.rows), checksum: r.checksum, inputs: {} });
  }
  return out;
}

/** What deciding whether a run still holds its partitions reads of it. */
export type RunHolder = Pick<RunRecord, 'run_id' | 'pid' | 'host'>;

/**
 * Whether a run in flight (listActiveRuns) still holds its partitions: the one rule that planning's
 * conflict guards and `tidemark ready` share. On a one-process engine a run holds while its process
 * is alive; an interrupted run holds nothing (re-issuing it resumes).
 */
export async function runLiveness(db: Db, engine: Engine): Promise<(run: RunHolder) => boolean> {
  return engine.capabilities.multiWriter ? runLivenessAcrossMachines(db, engine) : (run) => isProcessAlive(run.pid);
}

/**
 * Multi-writer engines (issue 8): a pid means something only on its own machine. A run computed by
 * workers (pid null: `backfill --detach`) holds its partitions until it ends, whichever workers come
 * and go (their task leases decide who computes, not whether the run holds); a one-process run holds
 * them while its process is alive (same machine) or its heartbeat in run_leases is fresh (another one).
 */
async function runLivenessAcrossMachines(db: Db, engine: Engine): Promise<(run: RunHolder) => boolean> {
  const now = new Date().toISOString();
  const fresh = new Set((await db.query<{ run_id: string }>(`SELECT run_id FROM ${stateTable(engine, 'run_leases')} WHERE lease_until > $1`, [now])).map((r) => r.run_id));
  const here = os.hostname();
  return (run) => run.pid === null || (run.host === here ? isProcessAlive(run.pid) : fresh.has(run.run_id));
}


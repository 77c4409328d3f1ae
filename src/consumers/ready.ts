/**
 * Readiness for downstream jobs: a partition is ready when it is published, no run in flight holds it
 * (by the rule planning uses: runLiveness), and it is not stale, directly or through what it reads
 * (by the rule planning uses: ready-staleness.ts). A job runs
 * `tidemark ready daily_revenue --partition 2026-03-07 --wait --timeout 600 && ./export.sh`.
 */
import { getDataset } from '../config/project.js';
import { parsePartitionKey } from '../core/grain.js';
import type { Engine } from '../engines/engine.js';
import { runLiveness } from '../plan/snapshot.js';
import { ACTIVE, type RunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { describeStaleCause, staleCause, type StaleCause } from './ready-staleness.js';

export type { StaleCause } from './ready-staleness.js';

export interface Readiness {
  dataset: string;
  partition: string | null;
  ready: boolean;
  version: number | null;
  publish_seq: number | null;
  /** Why not, when not ready. */
  reason: string | null;
  /** Runs in flight that hold the partition. */
  held_by: string[];
  /** When published and not held but stale: the upstream change that makes it so (else null). */
  stale_because: StaleCause | null;
}

export async function readiness(ws: Workspace, dataset: string, given?: string): Promise<Readiness> {
  const ds = getDataset(ws.project, dataset); // unknown dataset → clear error
  // A malformed or impossible key is bad input (exit 2), not "not published"; a date names its partition.
  const partition = given === undefined ? undefined : parsePartitionKey(given, ds.grain);
  const { engine } = ws;
  const rows = await engine.query<{ partition: string; version: number; publish_seq: number }>(
    partition
      ? `SELECT partition, version, publish_seq FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 AND partition = $2`
      : `SELECT partition, version, publish_seq FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 ORDER BY partition DESC LIMIT 1`,
    partition ? [dataset, partition] : [dataset],
  );
  const rec = rows[0];
  const key = partition ?? rec?.partition ?? null;
  const out: Readiness = {
    dataset,
    partition: key,
    ready: false,
    version: rec ? Number(rec.version) : null,
    publish_seq: rec ? Number(rec.publish_seq) : null,
    reason: null,
    held_by: [],
    stale_because: null,
  };
  if (key !== null) out.held_by = await runsHolding(engine, dataset, key);
  if (!rec) out.reason = key ? `${dataset} ${key} is not published` : `${dataset} has no published partition`;
  else if (out.held_by.length) out.reason = `${dataset} ${key} is being rebuilt by run ${out.held_by.join(', ')}`;
  else {
    out.stale_because = await staleCause(ws.project, engine, dataset, rec.partition);
    if (out.stale_because) out.reason = describeStaleCause(dataset, rec.partition, out.stale_because);
    else out.ready = true;
  }
  return out;
}

/**
 * Runs in flight that still hold `dataset key`: those planning would see as conflicting (active, and
 * kept by runLiveness: a detached run until it ends, a one-process run while its process or its
 * heartbeat lives), minus those that already published that partition (a `--publish partition`
 * run), for which it is final. One query: a scheduler polls this.
 */
async function runsHolding(engine: Engine, dataset: string, key: string): Promise<string[]> {
  const rows = await engine.query<{ run_id: string; pid: number | bigint | null; host: string | null; status: RunStatus }>(
    `SELECT DISTINCT r.run_id, r.pid, r.host, r.status FROM ${stateTable(engine, 'runs')} r JOIN ${stateTable(engine, 'tasks')} t ON t.run_id = r.run_id
     WHERE t.dataset = $1 AND t.partition = $2 AND t.status NOT IN ('published', 'unchanged') AND r.status IN (${ACTIVE.map((s) => `'${s}'`).join(', ')})`,
    [dataset, key],
  );
  const inFlight = rows.map((r) => ({ run_id: r.run_id, host: r.host, pid: r.pid === null ? null : Number(r.pid) }));
  if (!inFlight.length) return []; // the usual answer
  const alive = await runLiveness(engine, engine);
  return inFlight.filter(alive).map((r) => r.run_id);
}

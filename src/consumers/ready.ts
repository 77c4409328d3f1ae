/**
 * Readiness for downstream jobs: a partition is ready when it is published and no run in flight
 * (planned, computing or publishing, by a live process) holds it. A job runs
 * `tidemark ready daily_revenue --partition 2026-03-07 --wait --timeout 600 && ./export.sh`.
 */
import { getDataset } from '../config/project.js';
import { isProcessAlive } from '../plan/snapshot.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

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
}

export async function readiness(ws: Workspace, dataset: string, partition?: string): Promise<Readiness> {
  getDataset(ws.project, dataset); // unknown dataset → clear error
  const { engine } = ws;
  const rows = await engine.query<{ partition: string; version: number; publish_seq: number }>(
    partition
      ? `SELECT partition, version, publish_seq FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 AND partition = $2`
      : `SELECT partition, version, publish_seq FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 ORDER BY partition DESC LIMIT 1`,
    partition ? [dataset, partition] : [dataset],
  );
  const rec = rows[0];
  const key = partition ?? rec?.partition ?? null;
  const out: Readiness = { dataset, partition: key, ready: false, version: rec ? Number(rec.version) : null, publish_seq: rec ? Number(rec.publish_seq) : null, reason: null, held_by: [] };
  if (key !== null) {
    const holders = await engine.query<{ run_id: string; pid: number | null; status: string }>(
      `SELECT DISTINCT r.run_id, r.pid, r.status FROM ${stateTable(engine, 'runs')} r JOIN ${stateTable(engine, 'tasks')} t ON t.run_id = r.run_id
       WHERE r.status IN ('planned', 'computing', 'publishing') AND t.dataset = $1 AND t.partition = $2 AND t.status NOT IN ('published', 'unchanged')`,
      [dataset, key],
    );
    // A partition a `--publish partition` run already published is final for that run: ready.
    // An interrupted run (its process gone) holds nothing: re-issuing it resumes.
    out.held_by = holders.filter((h) => isProcessAlive(h.pid === null ? null : Number(h.pid))).map((h) => h.run_id);
  }
  if (!rec) out.reason = key ? `${dataset} ${key} is not published` : `${dataset} has no published partition`;
  else if (out.held_by.length) out.reason = `${dataset} ${key} is being rebuilt by run ${out.held_by.join(', ')}`;
  else out.ready = true;
  return out;
}

/**
 * Readiness for downstream jobs: a partition is ready when it is published, no run in flight holds it
 * (by the rule planning uses: runLiveness), and it is not stale, directly or through what it reads
 * (by the rule planning uses: ready-staleness.ts). A job runs
 * `tidemark ready daily_revenue --partition 2026-03-07 --wait --timeout 600 && ./export.sh`; for a
 * range (ready-range.ts) the same answer per partition, from the same few reads.
 */
import { getDataset } from '../config/project.js';
import { parsePartitionKey, type PartitionKey } from '../core/grain.js';
import type { Engine } from '../engines/engine.js';
import { runLiveness } from '../plan/snapshot.js';
import { ACTIVE, type RunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { describeStaleCause, staleCauses, type StaleCause } from './ready-staleness.js';

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
  const key = given === undefined ? await newestPublished(ws.engine, dataset) : parsePartitionKey(given, ds.grain);
  if (key === null) return { dataset, partition: null, ready: false, version: null, publish_seq: null, reason: `${dataset} has no published partition`, held_by: [], stale_because: null };
  return (await readinessOfKeys(ws, dataset, [key]))[0];
}

/**
 * Readiness of each of `keys` (partitions of `dataset`, in order, of one contiguous range): their
 * records, the runs holding any of them and their staleness are each read once, whatever their count.
 */
export async function readinessOfKeys(ws: Workspace, dataset: string, keys: readonly PartitionKey[]): Promise<Readiness[]> {
  if (!keys.length) return [];
  const { engine } = ws;
  const [first, last] = [keys[0], keys[keys.length - 1]];
  const rows = await engine.query<{ partition: string; version: number | bigint; publish_seq: number | bigint }>(
    `SELECT partition, version, publish_seq FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 AND partition BETWEEN $2 AND $3`,
    [dataset, first, last],
  );
  const records = new Map(rows.map((r) => [r.partition, { version: Number(r.version), publish_seq: Number(r.publish_seq) }]));
  const holders = await runsHolding(engine, dataset, first, last);
  // Staleness is asked only of what could be ready otherwise, as one question for all of them.
  const candidates = keys.filter((k) => records.has(k) && !holders.has(k));
  const causes = await staleCauses(ws.project, engine, dataset, candidates);
  return keys.map((key) => {
    const rec = records.get(key);
    const out: Readiness = {
      dataset,
      partition: key,
      ready: false,
      version: rec?.version ?? null,
      publish_seq: rec?.publish_seq ?? null,
      reason: null,
      held_by: holders.get(key) ?? [],
      stale_because: null,
    };
    if (!rec) out.reason = `${dataset} ${key} is not published`;
    else if (out.held_by.length) out.reason = `${dataset} ${key} is being rebuilt by run ${out.held_by.join(', ')}`;
    else {
      out.stale_because = causes.get(key) ?? null;
      if (out.stale_because) out.reason = describeStaleCause(dataset, key, out.stale_because);
      else out.ready = true;
    }
    return out;
  });
}

async function newestPublished(engine: Engine, dataset: string): Promise<PartitionKey | null> {
  const rows = await engine.query<{ partition: string }>(`SELECT partition FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 ORDER BY partition DESC LIMIT 1`, [dataset]);
  return rows[0]?.partition ?? null;
}

/**
 * Runs in flight that still hold partitions `from`..`to` of `dataset` (key → run ids): those planning
 * would see as conflicting (active, and kept by runLiveness: a detached run until it ends, a
 * one-process run while its process or its heartbeat lives), minus those that already published that
 * partition (a `--publish partition` run), for which it is final. One query: a scheduler polls this.
 */
async function runsHolding(engine: Engine, dataset: string, from: PartitionKey, to: PartitionKey): Promise<Map<PartitionKey, string[]>> {
  const rows = await engine.query<{ run_id: string; pid: number | bigint | null; host: string | null; status: RunStatus; partition: string }>(
    `SELECT DISTINCT r.run_id, r.pid, r.host, r.status, t.partition FROM ${stateTable(engine, 'runs')} r JOIN ${stateTable(engine, 'tasks')} t ON t.run_id = r.run_id
     WHERE t.dataset = $1 AND t.partition BETWEEN $2 AND $3 AND t.status NOT IN ('published', 'unchanged') AND r.status IN (${ACTIVE.map((s) => `'${s}'`).join(', ')})
     ORDER BY t.partition, r.run_id`,
    [dataset, from, to],
  );
  const out = new Map<PartitionKey, string[]>();
  if (!rows.length) return out; // the usual answer
  const alive = await runLiveness(engine, engine);
  for (const r of rows) {
    if (!alive({ run_id: r.run_id, host: r.host, pid: r.pid === null ? null : Number(r.pid) })) continue;
    const held = out.get(r.partition);
    if (held) held.push(r.run_id);
    else out.set(r.partition, [r.run_id]);
  }
  return out;
}

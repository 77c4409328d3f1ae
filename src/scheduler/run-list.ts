/** `tidemark runs`: recent runs with their pool and task progress. */
import { awaitedConsumers } from '../consumers/awaiting.js';
import type { Engine } from '../engines/engine.js';
import { runLiveness } from '../plan/snapshot.js';
import { isActive, recentRuns, type RunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

export interface RunSummary {
  run_id: string;
  kind: string;
  status: RunStatus;
  pool: string;
  actor: string;
  reason: string;
  created_at: string;
  updated_at: string;
  published_at: string | null;
  /** Why it failed, or what ended it (a superseded attempt), when it did not publish. */
  error: string | null;
  /**
   * `skipped`: dependents not computed because their upstream turned out unchanged; they need no work.
   * `done`: tasks that need no more work (computed or skipped), so a finished run shows done = total.
   */
  tasks: { total: number; computed: number; pending: number; failed: number; skipped: number; done: number };
  /**
   * A run in flight whose process is gone (killed, crashed, a `serve` stopped under it): its status
   * still says `computing`, but nothing computes it and it holds nothing; re-issuing its command
   * resumes it, `tidemark cancel` ends it (the rule `status` lists as interrupted and planning uses).
   */
  interrupted: boolean;
}

/**
 * With the workspace, a `published` run that waits for no consumer (its process died before the
 * fan-out that records it complete) is shown `complete`, as it is (consumers/awaiting.ts); this reads
 * and writes nothing more.
 */
export async function listRunSummaries(engine: Engine, limit = 50, ws?: Workspace): Promise<RunSummary[]> {
  const runs = await recentRuns(engine, engine, limit);
  if (!runs.length) return [];
  const rows = await engine.query<{ run_id: string; status: string; n: number }>(
    `SELECT run_id, status, count(*) AS n FROM ${stateTable(engine, 'tasks')} WHERE run_id IN (${runs.map((_, i) => `$${i + 1}`).join(', ')}) GROUP BY run_id, status`,
    runs.map((r) => r.run_id),
  );
  const published = ws ? runs.filter((r) => r.status === 'published').map((r) => r.run_id) : [];
  const awaited = ws ? await awaitedConsumers(ws, published) : new Map<string, unknown[]>();
  const completeInEffect = new Set(published.filter((id) => !awaited.get(id)!.length));
  const alive = runs.some((r) => isActive(r.status)) ? await runLiveness(engine, engine) : () => true;
  return runs.map((r) => {
    const tasks = { total: 0, computed: 0, pending: 0, failed: 0, skipped: 0, done: 0 };
    for (const row of rows.filter((x) => x.run_id === r.run_id)) {
      const n = Number(row.n);
      tasks.total += n;
      if (row.status === 'computed' || row.status === 'published' || row.status === 'unchanged') tasks.computed += n;
      else if (row.status === 'failed') tasks.failed += n;
      else if (row.status === 'skipped') tasks.skipped += n;
      else tasks.pending += n;
    }
    tasks.done = tasks.computed + tasks.skipped;
    const status: RunStatus = completeInEffect.has(r.run_id) ? 'complete' : r.status;
    return { run_id: r.run_id, kind: r.kind, status, pool: r.pool, actor: r.actor, reason: r.reason, created_at: r.created_at, updated_at: r.updated_at, published_at: r.published_at, error: r.error, tasks, interrupted: isActive(r.status) && !alive(r) };
  });
}

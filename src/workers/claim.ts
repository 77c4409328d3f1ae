/**
 * Claiming work across processes. A worker takes, in one transaction, a free slot of a pool and the
 * next claimable task of a queued run in that pool, both with `FOR UPDATE SKIP LOCKED`: two workers
 * never take the same slot or the same task, and neither waits for the other.
 *
 * - Pools are tried in priority order (production before backfill), so slots and priorities hold
 *   across every worker on every machine: a pool's `slots` is the number of its tasks computing at
 *   once in total, counted in `pool_slots`, not per process.
 * - Within a pool, runs go first come first served, and a run's tasks in plan order.
 * - A task is claimable once every task of the datasets it may read in the same run (earlier in
 *   dependency order) is computed or skipped: dependents read their upstream's staged partitions.
 *   A model that reads its own past (cumulative) computes its partitions one at a time, in order.
 */
import type { Project } from '../config/project.js';
import type { Db, Engine } from '../engines/engine.js';
import { nowIso } from '../state/json.js';
import { stateTable } from '../state/tables.js';
import { leaseUntil } from './lease.js';

export interface ClaimedTask {
  run_id: string;
  dataset: string;
  partition: string;
  ord: number;
  /** The attempt number this claim is (1 for the first). */
  attempt: number;
  /** When it was claimed (tasks.started_at): with the worker id, it fences a worker whose lease was lost. */
  claimed_at: string;
  pool: string;
  slot: number;
}

/** Creates the slot rows of every pool (idempotent; slots added to a pool later appear here). */
export async function ensurePoolSlots(engine: Engine, pools: Project['pools']): Promise<void> {
  const table = stateTable(engine, 'pool_slots');
  for (const [pool, limits] of Object.entries(pools)) {
    for (let slot = 0; slot < limits.slots; slot++) {
      await engine.exec(`INSERT INTO ${table} (pool, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [pool, slot]);
    }
  }
}

/** The pools a worker serves, highest priority first. */
export function poolsByPriority(project: Project, served: string[] | undefined): string[] {
  const names = served?.length ? served : Object.keys(project.pools);
  return [...names].sort((a, b) => project.pools[b].priority - project.pools[a].priority || a.localeCompare(b));
}

export async function claimNextTask(db: Db, engine: Engine, project: Project, worker: { id: string; pools: string[]; leaseMs: number }): Promise<ClaimedTask | null> {
  const tasks = stateTable(engine, 'tasks');
  const runs = stateTable(engine, 'runs');
  const slots = stateTable(engine, 'pool_slots');
  const serial = [...project.datasets.values()].filter((d) => d.kind === 'model' && d.dependsOnPast).map((d) => d.name);
  return db.transaction(async (tx) => {
    const now = nowIso();
    for (const pool of worker.pools) {
      const free = await tx.query<{ slot: number }>(
        `SELECT slot FROM ${slots} WHERE pool = $1 AND slot < $2 AND (worker IS NULL OR lease_until < $3) ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [pool, project.pools[pool].slots, now],
      );
      if (!free.length) continue;
      const params: unknown[] = [pool, ...serial];
      const serialList = serial.length ? `u.dataset IN (${serial.map((_, i) => `$${i + 2}`).join(', ')})` : 'FALSE';
      const next = await tx.query<{ run_id: string; dataset: string; partition: string; ord: number; attempts: number }>(
        `SELECT t.run_id, t.dataset, t.partition, t.ord, t.attempts FROM ${tasks} t JOIN ${runs} r ON r.run_id = t.run_id
         WHERE r.pool = $1 AND r.pid IS NULL AND r.status IN ('queued', 'computing') AND t.status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM ${tasks} u WHERE u.run_id = t.run_id AND u.ord < t.ord AND u.status NOT IN ('computed', 'skipped')
                           AND (u.dataset <> t.dataset OR ${serialList}))
         ORDER BY r.created_at, r.run_id, t.ord LIMIT 1 FOR UPDATE OF t SKIP LOCKED`,
        params,
      );
      if (!next.length) continue;
      const t = next[0];
      const slot = Number(free[0].slot);
      const until = leaseUntil(worker.leaseMs);
      await tx.exec(
        // attempts counts attempts that ended (computed, failed, or lease expired): not incremented here.
        `UPDATE ${tasks} SET status = 'computing', worker = $4, lease_until = $5, started_at = $6, error = NULL
         WHERE run_id = $1 AND dataset = $2 AND partition = $3`,
        [t.run_id, t.dataset, t.partition, worker.id, until, now],
      );
      await tx.exec(`UPDATE ${slots} SET worker = $3, run_id = $4, dataset = $5, partition = $6, lease_until = $7 WHERE pool = $1 AND slot = $2`, [
        pool,
        slot,
        worker.id,
        t.run_id,
        t.dataset,
        t.partition,
        until,
      ]);
      await tx.exec(`UPDATE ${runs} SET status = 'computing', updated_at = $2 WHERE run_id = $1 AND status = 'queued'`, [t.run_id, now]);
      return { run_id: t.run_id, dataset: t.dataset, partition: t.partition, ord: Number(t.ord), attempt: Number(t.attempts) + 1, claimed_at: now, pool, slot };
    }
    return null;
  });
}

export async function releaseSlot(db: Db, engine: Engine, claim: ClaimedTask, workerId: string): Promise<void> {
  await db.exec(
    `UPDATE ${stateTable(engine, 'pool_slots')} SET worker = NULL, run_id = NULL, dataset = NULL, partition = NULL, lease_until = NULL WHERE pool = $1 AND slot = $2 AND worker = $3`,
    [claim.pool, claim.slot, workerId],
  );
}

/** Gives a claimed task back untouched (this worker cannot compute it), as if never claimed. */
export async function unclaimTask(db: Db, engine: Engine, claim: ClaimedTask, workerId: string): Promise<void> {
  await db.exec(
    `UPDATE ${stateTable(engine, 'tasks')} SET status = 'pending', worker = NULL, lease_until = NULL, started_at = NULL
     WHERE run_id = $1 AND dataset = $2 AND partition = $3 AND worker = $4 AND started_at = $5 AND status = 'computing'`,
    [claim.run_id, claim.dataset, claim.partition, workerId, claim.claimed_at],
  );
}

/**
 * Leases: a worker holds each task it computes (and the pool slot it computes it in) until
 * `lease_until`, and its heartbeat pushes that forward every third of the lease. A worker that stops
 * beating (killed, machine lost) lets its leases expire; the next sweep puts its tasks back to
 * `pending` (the claim counts the new attempt) and records the retry in the audit trail.
 *
 * Times are ISO-8601 UTC text, compared as text, taken from each machine's clock: machines need
 * synchronised clocks (NTP), with a skew well below the lease (30 s by default, TIDEMARK_LEASE_MS).
 */
import type { Db, Engine } from '../engines/engine.js';
import type { Project } from '../config/project.js';
import { appendAudit } from '../state/audit.js';
import { nowIso } from '../state/json.js';
import { appendOutboxEvent } from '../state/outbox.js';
import { setRunStatus } from '../state/runs.js';
import { stateTable } from '../state/tables.js';

const DEFAULT_LEASE_MS = 30_000;

/** A task whose lease expired this many times fails its run instead of being retried again. */
export const MAX_ATTEMPTS = 3;

export function leaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.TIDEMARK_LEASE_MS);
  return Number.isFinite(n) && n >= 100 ? Math.floor(n) : DEFAULT_LEASE_MS;
}

export function leaseUntil(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/**
 * Extends the leases of this worker's tasks and slots. A task whose row is locked is inside its
 * compute transaction, which already protects it (nobody can reclaim a locked row): it is skipped
 * rather than waited for, so one long task does not hold back the heartbeat of the others.
 */
export async function extendLeases(db: Db, engine: Engine, workerId: string, ms: number): Promise<void> {
  const tasks = stateTable(engine, 'tasks');
  const until = leaseUntil(ms);
  await db.exec(
    `UPDATE ${tasks} SET lease_until = $2 WHERE (run_id, dataset, partition) IN
       (SELECT run_id, dataset, partition FROM ${tasks} WHERE worker = $1 AND status = 'computing' FOR UPDATE SKIP LOCKED)`,
    [workerId, until],
  );
  await db.exec(`UPDATE ${stateTable(engine, 'pool_slots')} SET lease_until = $2 WHERE worker = $1`, [workerId, until]);
}

export interface ExpiredTask {
  run_id: string;
  dataset: string;
  partition: string;
  worker: string | null;
  attempts: number;
  lease_until: string;
}

/**
 * Puts tasks whose lease expired back to `pending` (or fails their run after MAX_ATTEMPTS), with an
 * audit record per retry. Returns what it reclaimed.
 */
export async function reclaimExpiredTasks(engine: Engine, project: Project, by: { workerId: string; actor: string; command: string }): Promise<ExpiredTask[]> {
  const tasks = stateTable(engine, 'tasks');
  return engine.transaction(async (tx) => {
    const expired = (
      await tx.query<ExpiredTask>(
        `SELECT t.run_id, t.dataset, t.partition, t.worker, t.attempts, t.lease_until FROM ${tasks} t JOIN ${stateTable(engine, 'runs')} r ON r.run_id = t.run_id
         WHERE r.pid IS NULL AND t.status = 'computing' AND t.lease_until < $1 ORDER BY t.run_id, t.ord FOR UPDATE OF t SKIP LOCKED`,
        [nowIso()],
      )
    ).map((t) => ({ ...t, attempts: Number(t.attempts) }));
    if (!expired.length) return [];
    // Publishers take this row lock first (state/meta.ts); taking it too keeps the audit chain linear.
    await tx.query(`SELECT value FROM ${stateTable(engine, 'meta')} WHERE key = 'publish_seq' FOR UPDATE`);
    for (const t of expired) {
      // The expired attempt ended: it counts (as computed and failed attempts do).
      const attempt = t.attempts + 1;
      const exhausted = attempt >= MAX_ATTEMPTS;
      const error = `lease of worker ${t.worker ?? '?'} expired at ${t.lease_until} (attempt ${attempt})${exhausted ? `; gave up after ${MAX_ATTEMPTS} attempts` : '; retried'}`;
      await tx.exec(`UPDATE ${tasks} SET status = $4, attempts = attempts + 1, worker = NULL, lease_until = NULL, error = $5 WHERE run_id = $1 AND dataset = $2 AND partition = $3`, [
        t.run_id,
        t.dataset,
        t.partition,
        exhausted ? 'failed' : 'pending',
        error,
      ]);
      const run = (await tx.query<{ reason: string }>(`SELECT reason FROM ${stateTable(engine, 'runs')} WHERE run_id = $1`, [t.run_id]))[0];
      await appendAudit(tx, engine, {
        actor: by.actor,
        action: exhausted ? 'task.abandon' : 'task.retry',
        reason: run?.reason ?? '',
        command: by.command,
        run_id: t.run_id,
        dataset: t.dataset,
        partitions: [t.partition],
        details: { attempt, worker: t.worker, lease_until: t.lease_until, reclaimed_by: by.workerId, error },
        config_hash: project.configHash,
      });
      if (exhausted) {
        await setRunStatus(tx, engine, t.run_id, 'failed', { error: `${t.dataset} ${t.partition}: ${error}` });
        await appendOutboxEvent(tx, engine, 'run.failed', t.run_id, { error, failed: [{ dataset: t.dataset, partition: t.partition }] });
      }
    }
    return expired;
  });
}

/**
 * Run admission on multi-writer engines. Planning refuses partitions held by a run in flight, but two
 * processes can plan the same partitions at the same moment, each before the other's run exists.
 * So the transaction that creates a run first locks the single admission row, then plans the
 * conflicts again from committed state: of two overlapping runs created at once, the second waits for
 * the first to commit, sees it, and is refused (exit 3) — never interleaved.
 *
 * The refusal is an AdmissionConflict, so that `run`, which leaves held partitions to their holder
 * rather than refusing (SKIPPED_IN_FLIGHT), can tell it apart and plan again (api/operations.ts).
 */
import type { Db, Engine } from '../engines/engine.js';
import type { Guard } from '../core/guards.js';
import { refusalText, TidemarkError } from '../errors.js';
import { conflictGuards } from '../plan/build.js';
import { loadPlanningState } from '../plan/snapshot.js';
import type { Plan } from '../plan/types.js';
import { stateTable } from '../state/tables.js';
import { leaseMs, leaseUntil } from './lease.js';

/**
 * Call inside the transaction that inserts the run. `heartbeatRunId`: a run computed by this process
 * (not by workers) gets its first heartbeat in the same transaction, so that no planner on another
 * machine ever sees it without one (src/plan/snapshot.ts).
 */
export async function admitRun(tx: Db, engine: Engine, plan: Plan, heartbeatRunId: string | null): Promise<void> {
  if (!engine.capabilities.multiWriter) return;
  await tx.query(`SELECT id FROM ${stateTable(engine, 'run_admission')} FOR UPDATE`);
  const conflicts = conflictGuards(plan.tasks, await loadPlanningState(tx, engine));
  if (conflicts.length) throw new AdmissionConflict(conflicts);
  if (heartbeatRunId) {
    const leases = stateTable(engine, 'run_leases');
    await tx.exec(`DELETE FROM ${leases} WHERE run_id = $1`, [heartbeatRunId]);
    await tx.exec(`INSERT INTO ${leases} (run_id, holder, lease_until) VALUES ($1, $2, $3)`, [heartbeatRunId, `pid ${process.pid}`, leaseUntil(leaseMs())]);
  }
}

/**
 * A run in flight, committed between this plan and its admission, holds some of its partitions. The
 * transaction that would have created the run rolls back: nothing was written. A refusal (GUARD, exit
 * 3) for every kind of run but `run`, which plans again without those partitions.
 */
export class AdmissionConflict extends TidemarkError {
  constructor(readonly conflicts: Guard[]) {
    const { message, hint } = refusalText(conflicts);
    super('GUARD', message, { hint, dataset: conflicts[0].dataset, partitions: conflicts[0].partitions, guards: conflicts });
  }
}

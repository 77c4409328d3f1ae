/**
 * A failed `tidemark run` resumes only while the same command plans exactly the same tasks: its run
 * key hashes them. Once a later `run` of the same request has built what was stale (or found nothing
 * left to build, because a backfill or another run did it meanwhile), re-issuing the command plans
 * other tasks, or none, and the failed attempt can never resume; yet `status` would go on listing it
 * under "Failed runs (re-issue the command to resume)" until someone cancels it, and the user who did
 * re-issue it, as told, is left wondering what is still wrong. So a `run` that succeeds dismisses the
 * failed runs of its own request: each becomes `cancelled` (as `tidemark cancel` would), its error
 * says what superseded it, and its staging stays for `gc`. A run that left partitions to a run in
 * flight (SKIPPED_IN_FLIGHT) has not built everything, so it dismisses nothing. (A failed backfill
 * needs none of this: re-issuing it plans the same tasks and resumes it; a failed ingest is
 * dismissed by the ingest of its corrected files, ingest-superseded.ts.)
 */
import type { Plan } from '../plan/types.js';
import { listFailedRuns, recordRunCancelled } from '../state/runs.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

/** Dismisses the failed runs of `plan`'s request that the run `by` (null: nothing to do) superseded; returns their ids. */
export async function dismissSupersededRuns(ws: Workspace, plan: Plan, by: string | null): Promise<string[]> {
  if (plan.kind !== 'run' || plan.guards.some((g) => g.code === 'SKIPPED_IN_FLIGHT')) return [];
  const { engine } = ws;
  const request = JSON.stringify(plan.request);
  const runs = stateTable(engine, 'runs');
  // A read first keeps the usual case (none) free of a write transaction.
  const failed = (await listFailedRuns(engine, engine, 'run')).filter((r) => r.run_id !== by && JSON.stringify(r.request ?? {}) === request);
  if (!failed.length) return [];
  const what = by ? `run ${by} built what it had left` : 'nothing it had left was still to build';
  return engine.transaction(async (tx) => {
    const dismissed: string[] = [];
    for (const run of failed) {
      // Still failed: one resumed meanwhile by another process is its, not ours to end.
      const [still] = await tx.query(`SELECT 1 AS failed FROM ${runs} WHERE run_id = $1 AND status = 'failed'`, [run.run_id]);
      if (!still) continue;
      await recordRunCancelled(tx, engine, run.run_id, `superseded: \`tidemark run\` was issued again and ${what} (it failed with: ${run.error ?? 'unknown error'})`);
      dismissed.push(run.run_id);
    }
    return dismissed;
  });
}

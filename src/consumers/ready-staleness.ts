/**
 * Are published partitions stale for `tidemark ready`, and why? Stale means what planning means: the
 * partition is in the plan `tidemark run` would make (its inputs changed since it was built, or it
 * reads a partition that is stale or missing, transitively), or it is stale but frozen or locked, so
 * `run` leaves it. The plan is the real one (buildRunPlan), computed over only the partitions the
 * asked ones depend on (partitionsReadTransitively): they decide their answers, and a scheduler calling
 * `ready` in a loop should not pay for planning the whole project. One read, one plan and one walk
 * for all the asked partitions (a range): the walk from the plan to the cause is plan/stale-cause.ts,
 * which `partitions` and `status` use too.
 */
import type { Project } from '../config/project.js';
import { sortKeys, type PartitionKey } from '../core/grain.js';
import { datasetsReadTransitively, partitionsReadTransitively } from '../core/staleness.js';
import type { Engine } from '../engines/engine.js';
import { buildRunPlan } from '../plan/build.js';
import { PlanCauses, type StaleCause } from '../plan/stale-cause.js';
import { listLocks } from '../state/locks.js';
import { loadPartitionVersions, loadPartitionVersionsBetween } from '../state/partitions.js';

export { describeStaleCause, describeStaleFix, describeStaleness, type StaleCause } from '../plan/stale-cause.js';

/** Per asked key of `dataset`: null when fresh (`tidemark run` has nothing to rebuild in it or in anything it reads), else why not. */
export async function staleCauses(project: Project, engine: Engine, dataset: string, keys: readonly PartitionKey[]): Promise<Map<PartitionKey, StaleCause | null>> {
  if (!keys.length) return new Map();
  const closure = partitionsReadTransitively(project, dataset, keys);
  // A range per dataset may read a few partitions outside the closure: harmless, the closure's own
  // answers depend on the closure alone, and a range is cheaper to ask than a list.
  const snapshot = closure
    ? await loadPartitionVersionsBetween(engine, engine, keyRanges(closure))
    : await loadPartitionVersions(engine, engine, datasetsReadTransitively(project, dataset));
  // No claims: runs in flight are `ready`'s other question (held_by), asked before this one.
  const plan = buildRunPlan(project, { snapshot, locks: await listLocks(engine, engine), claims: new Map(), inFlight: [], interrupted: [] });
  const causes = new PlanCauses(project, plan, snapshot);
  return new Map(keys.map((key) => [key, causes.causeOf(dataset, key)]));
}

/** First and last key per dataset (sortKeys: keys of one grain sort as they follow in time). */
function keyRanges(keys: Map<string, Set<PartitionKey>>): Map<string, { from: PartitionKey; to: PartitionKey }> {
  const out = new Map<string, { from: PartitionKey; to: PartitionKey }>();
  for (const [dataset, set] of keys) {
    const sorted = sortKeys(set);
    out.set(dataset, { from: sorted[0], to: sorted[sorted.length - 1] });
  }
  return out;
}

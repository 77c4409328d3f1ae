/**
 * A restore brings back a model partition with the input fingerprint it was built from. When what it
 * read has changed since (the upstream fix the bad backfill was meant to apply, say), the restored
 * partition is stale the moment it is published, and the next `tidemark run` rebuilds it from the
 * current upstream, replacing what the restore brought back. That may be exactly what is wanted, or
 * it may silently undo the restore at the next scheduled run: the plan says so up front, naming the
 * partitions and how to keep them. A notice, not a refusal.
 */
import type { Project } from '../config/project.js';
import { listKeys, type Guard } from '../core/guards.js';
import { describeStale, inputsChanged, inputsFor, staleReasons } from '../core/staleness.js';
import { sortKeys, type PartitionKey } from '../core/grain.js';
import type { Inputs } from '../state/partitions.js';
import type { PlanningState } from './snapshot.js';

export function restoredStale(project: Project, state: PlanningState, dataset: string, restored: { partition: PartitionKey; inputs: Inputs }[]): Guard[] {
  const ds = project.datasets.get(dataset);
  if (ds?.kind !== 'model') return [];
  const stale = restored.filter((r) => inputsChanged(r.inputs, inputsFor(project, ds, r.partition, state.snapshot)));
  if (!stale.length) return [];
  const partitions = sortKeys(stale.map((r) => r.partition));
  const first = stale.find((r) => r.partition === partitions[0])!;
  const why = staleReasons(first.inputs, inputsFor(project, ds, first.partition, state.snapshot)).map(describeStale);
  return [
    {
      code: 'RESTORED_STALE',
      dataset,
      partitions,
      message:
        `${dataset}: ${partitions.length} restored partition(s) were built from upstream versions that have changed since ` +
        `(${partitions[0]}: ${why.slice(0, 2).join('; ')}${why.length > 2 ? `; … ${why.length - 2} more` : ''}), so they are stale once restored ` +
        `and the next \`tidemark run\` rebuilds them from the current upstream: ${listKeys(partitions)}`,
      hint:
        `to keep the restored versions, restore what they read as well, or lock them once restored (\`run\` leaves locked partitions as they are): ` +
        `tidemark lock ${dataset} --from ${partitions[0]} --to ${partitions[partitions.length - 1]} --reason "…"`,
      blocking: false,
    },
  ];
}

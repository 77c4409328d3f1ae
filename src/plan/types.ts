/**
 * A plan is plain data: one interpreter prints it (`plan`, `--dry-run`, the console), another
 * executes it, so a dry run can never disagree with the real run.
 */
import type { Guard } from '../core/guards.js';
import type { PartitionKey } from '../core/grain.js';
import type { StaleReason } from '../core/staleness.js';

export type RunKind = 'run' | 'backfill' | 'ingest' | 'restore' | 'dedupe';

/** Why a partition is in the plan. */
export type TaskReason = 'requested' | 'missing' | 'stale' | 'downstream' | 'ingest' | 'restore' | 'dedupe';

export interface PlannedTask {
  dataset: string;
  partition: PartitionKey;
  reason: TaskReason;
  stale?: StaleReason[];
  /** Rows now in the live partition (null when it does not exist yet). */
  current_rows: number | null;
  current_version: number | null;
}

export interface PlanDataset {
  dataset: string;
  partitions: PartitionKey[];
}

export interface Plan {
  kind: RunKind;
  /** The dataset(s) the user named. */
  targets: string[];
  /** Tasks in execution order: dependency order of datasets, then partition order. */
  tasks: PlannedTask[];
  datasets: PlanDataset[];
  guards: Guard[];
  estimated_rows: number;
  /** Normalised request, also used to recognise a re-issued command. */
  request: Record<string, unknown>;
}

export function planDatasets(tasks: PlannedTask[]): PlanDataset[] {
  const byDataset = new Map<string, PartitionKey[]>();
  for (const t of tasks) {
    let list = byDataset.get(t.dataset);
    if (!list) byDataset.set(t.dataset, (list = []));
    list.push(t.partition);
  }
  return [...byDataset].map(([dataset, partitions]) => ({ dataset, partitions }));
}

export function blockingGuards(plan: Plan): Guard[] {
  return plan.guards.filter((g) => g.blocking);
}

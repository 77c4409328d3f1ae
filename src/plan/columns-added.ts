/**
 * A model with `on_schema_change: add_columns` whose SQL now returns new columns at the end: its
 * publish adds them to the live table (existing rows get NULL), audited. The plan says so before
 * anything is written, in `plan`, `--dry-run` and the confirmation a backfill asks for, so a schema
 * change is never a surprise of the publish (failure mode 4: "a backfill never alters the live
 * table's schema unless the config says so" — and when it says so, the plan shows it). A notice,
 * found by the pre-write check of the model SQL (model-stager.ts preflight), which compares each
 * model's output with its live table.
 */
import type { Guard } from '../core/guards.js';
import type { PartitionKey } from '../core/grain.js';
import type { ColumnInfo } from '../engines/engine.js';
import type { Plan } from './types.js';

/** Notices the pre-write check adds to a plan after planning (plan-id.ts leaves them out of a plan's identity). */
export const PRE_WRITE_NOTICES: ReadonlySet<Guard['code']> = new Set(['ADDS_COLUMNS']);

export function columnsAddedNotice(dataset: string, sqlFile: string, added: ColumnInfo[], partitions: PartitionKey[]): Guard {
  const list = added.map((c) => `${c.name} ${c.type}`).join(', ');
  return {
    code: 'ADDS_COLUMNS',
    dataset,
    partitions,
    message: `${dataset}: ${sqlFile} returns ${added.length} new column(s) at the end (${list}); on_schema_change: add_columns adds them to the live table when this run publishes (rows of partitions it does not rebuild get NULL), recorded in the audit trail`,
    hint: `to keep the live schema as it is, remove the new column(s) from ${sqlFile}`,
    blocking: false,
  };
}

/** Adds `notice` to the plan's guards once: the pre-write check can run twice on one plan (shown before a confirmation, then run). */
export function addNotice(plan: Plan, notice: Guard): void {
  if (!plan.guards.some((g) => g.code === notice.code && g.dataset === notice.dataset)) plan.guards.push(notice);
}

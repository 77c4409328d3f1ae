/**
 * The hash a confirmed plan is recognised by: which partitions, and which guards apply. The console
 * sends it back with the plan the user confirmed (server/api-actions.ts); the library's backfill,
 * restore and dedupe compare a plan handed to them with a fresh one (api/confirmed-plan.ts).
 */
import { createHash } from 'node:crypto';
import { PRE_WRITE_NOTICES } from './columns-added.js';
import type { Plan } from './types.js';

export function planId(plan: Plan): string {
  // The guards planning decides. A notice the pre-write check adds later (a model gaining columns) is
  // left out: a plan shown after that check must be recognised in a fresh plan that has not had it yet,
  // and the run checks the model SQL again before it writes.
  const decided = plan.guards.filter((g) => !PRE_WRITE_NOTICES.has(g.code));
  const shape = { tasks: plan.tasks.map((t) => [t.dataset, t.partition]), guards: decided.map((g) => [g.code, g.dataset, g.partitions, g.blocking]) };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}

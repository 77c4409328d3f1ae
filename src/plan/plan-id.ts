/**
 * The hash a confirmed plan is recognised by: which partitions, and which guards apply. The console
 * sends it back with the plan the user confirmed (server/api-actions.ts); the library's backfill,
 * restore and dedupe compare a plan handed to them with a fresh one (api/confirmed-plan.ts).
 */
import { createHash } from 'node:crypto';
import type { Plan } from './types.js';

export function planId(plan: Plan): string {
  const shape = { tasks: plan.tasks.map((t) => [t.dataset, t.partition]), guards: plan.guards.map((g) => [g.code, g.dataset, g.partitions, g.blocking]) };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
}

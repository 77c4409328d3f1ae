/**
 * The run key: one hash of a plan's request and tasks. A re-issued command whose plan has the same
 * key resumes that run (state/runs.ts findResumableRun) instead of starting another. Its own file so
 * that the scheduler can name the key of a run it stops (gate.ts) without importing the executor.
 */
import { createHash } from 'node:crypto';
import type { Plan } from '../plan/types.js';

export function runKeyOf(plan: Plan): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(plan.request));
  for (const t of plan.tasks) h.update(`\n${t.dataset}\0${t.partition}`);
  return h.digest('hex').slice(0, 32);
}

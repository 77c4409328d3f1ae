/**
 * What a project computes, hashed: the datasets (model SQL, schemas, checks, dependencies) and the
 * guards that validate what they build. A worker computes a queued run only when this matches the
 * project that queued it, since other model SQL would publish something nobody planned.
 *
 * Left out, because the rows a task writes do not depend on them: pools (slots, priority, threads;
 * the README's advice is to raise the backfill pool's slots when adding workers, which happens while
 * runs are queued), consumers (and which of them a dataset notifies), protected ranges, retention,
 * the engine (each machine may reach the same server by its own URL), where the project folder lies,
 * and the files' comments and layout, which `configHash` includes for the audit records.
 */
import { createHash } from 'node:crypto';
import type { Project } from './project.js';

export function computeHash(project: Project): string {
  // A dataset's consumers and protected ranges decide who hears of a publish and what a plan may
  // touch, not what a queued task computes: they are left out too.
  const datasets = [...project.datasets.values()].map(({ consumers: _consumers, protect: _protect, ...computed }) => computed);
  const computed = { datasets, order: project.order, guards: project.guards };
  return createHash('sha256').update(JSON.stringify(computed)).digest('hex');
}

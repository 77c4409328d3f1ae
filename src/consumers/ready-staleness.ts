/**
 * Is a published partition stale for `tidemark ready`, and why? Stale means what planning means: the
 * partition is in the plan `tidemark run` would make (its inputs changed since it was built, or it
 * reads a partition that is stale or missing, transitively), or it is stale but frozen or locked, so
 * `run` leaves it. The plan is the real one (buildRunPlan), computed over only the partitions the
 * asked one depends on (partitionsReadTransitively): they decide its answer, and a scheduler calling
 * `ready` in a loop should not pay for planning the whole project.
 */
import { getDataset, type Project } from '../config/project.js';
import { frozenPartitions } from '../core/guards.js';
import { sortKeys, type PartitionKey } from '../core/grain.js';
import { datasetsReadTransitively, describeStale, inputsFor, partitionsRead, partitionsReadTransitively, staleReasons, type Snapshot, type StaleReason } from '../core/staleness.js';
import type { Engine } from '../engines/engine.js';
import { buildRunPlan } from '../plan/build.js';
import type { Plan, PlannedTask } from '../plan/types.js';
import { listLocks } from '../state/locks.js';
import { loadPartitionVersions, loadPartitionVersionsBetween } from '../state/partitions.js';

export interface StaleCause {
  /** Where the change is: the asked partition itself, or one it reads (directly or through others). */
  dataset: string;
  partition: PartitionKey;
  /** True when that partition is expected (its upstreams have data) but was never built. */
  missing: boolean;
  /** How its inputs changed since it was built, as `tidemark partitions` shows them (empty when missing). */
  changes: StaleReason[];
  /** The partitions in between, in reading order: the asked one reads via[0], …, the last reads `dataset partition`. */
  via: { dataset: string; partition: PartitionKey }[];
  /** Set when the asked partition is frozen (protect in tidemark.yaml) or locked: `tidemark run` leaves it stale. */
  protected_from_run: 'frozen' | 'locked' | null;
}

/** Null when `dataset key` is fresh: `tidemark run` has nothing to rebuild in it or in anything it reads. */
export async function staleCause(project: Project, engine: Engine, dataset: string, key: PartitionKey): Promise<StaleCause | null> {
  const closure = partitionsReadTransitively(project, dataset, key);
  // A range per dataset may read a few partitions outside the closure: harmless, the closure's own
  // answers depend on the closure alone, and a range is cheaper to ask than a list.
  const snapshot = closure
    ? await loadPartitionVersionsBetween(engine, engine, keyRanges(closure))
    : await loadPartitionVersions(engine, engine, datasetsReadTransitively(project, dataset));
  // No claims: runs in flight are `ready`'s other question (held_by), asked before this one.
  const plan = buildRunPlan(project, { snapshot, locks: await listLocks(engine, engine), claims: new Map(), inFlight: [], interrupted: [] });
  if (!rebuildsOrSkips(plan, dataset, key)) return null;

  const planned = new Map(plan.tasks.map((t) => [id(t.dataset, t.partition), t]));
  const protection = planned.has(id(dataset, key)) ? null : frozenPartitions(getDataset(project, dataset), [key]).length ? 'frozen' : 'locked';

  // Walk down what the plan rebuilds to the partition whose own inputs changed (or that is missing).
  const via: StaleCause['via'] = [];
  let at = { dataset, partition: key };
  for (;;) {
    const task = planned.get(id(at.dataset, at.partition));
    const changes = task ? (task.stale ?? []) : directChanges(project, snapshot, at.dataset, at.partition);
    const missing = task?.reason === 'missing';
    if (missing || changes.length) {
      return { dataset: at.dataset, partition: at.partition, missing, changes, via: via.slice(0, -1), protected_from_run: protection };
    }
    const next = plannedRead(project, planned, at.dataset, at.partition);
    // Unreachable while buildRunPlan only plans a partition for a reason found here; stop rather than loop.
    if (!next) return { dataset: at.dataset, partition: at.partition, missing: false, changes: [], via: via.slice(0, -1), protected_from_run: protection };
    via.push(next);
    at = next;
  }
}

/** The sentence `ready` prints, naming the upstream change and what rebuilds it. */
export function describeStaleCause(dataset: string, key: PartitionKey, cause: StaleCause): string {
  const changes = cause.changes.slice(0, 3).map(describeStale).join(', ') + (cause.changes.length > 3 ? `, and ${cause.changes.length - 3} more` : '');
  const what = cause.missing ? 'is not built yet' : `is stale: ${changes}`;
  const chain = [...cause.via, cause].map((p) => `${p.dataset} ${p.partition}`);
  // A cumulative model's chain runs back one partition a day: name its ends, count the middle.
  if (chain.length > 3) chain.splice(1, chain.length - 1, `(through ${chain.length - 2} more) ${chain[chain.length - 1]}`);
  const where =
    cause.dataset === dataset && cause.partition === key
      ? `${dataset} ${key} ${what}`
      : `${dataset} ${key} is stale: it reads ${chain.join(', which reads ')}, which ${what}`;
  const fix =
    cause.protected_from_run === 'frozen'
      ? `${dataset} ${key} is frozen by protect in tidemark.yaml, so \`tidemark run\` leaves it stale (a reviewed config change unfreezes it)`
      : cause.protected_from_run === 'locked'
        ? `${dataset} ${key} is locked, so \`tidemark run\` leaves it stale: \`tidemark unlock ${dataset} …\`, then \`tidemark run\``
        : 'run `tidemark run` to rebuild';
  return `${where}; ${fix}`;
}

/** The run plan rebuilds `dataset key`, or would but leaves it because it is frozen or locked (SKIPPED_PROTECTED). */
function rebuildsOrSkips(plan: Plan, dataset: string, key: PartitionKey): boolean {
  return (
    plan.tasks.some((t) => t.dataset === dataset && t.partition === key) ||
    plan.guards.some((g) => g.code === 'SKIPPED_PROTECTED' && g.dataset === dataset && g.partitions.includes(key))
  );
}

/** Why a partition `run` skips (frozen or locked) is stale itself: its own input changes, if any. */
function directChanges(project: Project, snapshot: Snapshot, dataset: string, key: PartitionKey): StaleReason[] {
  const spec = project.datasets.get(dataset);
  const rec = snapshot.get(dataset)?.get(key);
  return spec?.kind === 'model' && rec ? staleReasons(rec.inputs, inputsFor(project, spec, key, snapshot)) : [];
}

/** A partition `dataset key` reads (the read relation planning uses) that the plan rebuilds. */
function plannedRead(project: Project, planned: Map<string, PlannedTask>, dataset: string, key: PartitionKey): { dataset: string; partition: PartitionKey } | null {
  for (const [name, keys] of partitionsRead(project, [{ dataset, partition: key }])) {
    for (const k of sortKeys(keys)) {
      if ((name !== dataset || k !== key) && planned.has(id(name, k))) return { dataset: name, partition: k };
    }
  }
  return null;
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

function id(dataset: string, partition: PartitionKey): string {
  return `${dataset}\0${partition}`;
}

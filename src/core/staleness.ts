/**
 * Which partitions a model should have, what each was built from, and why one is stale. Pure: it works
 * on a snapshot of partition versions, so plans and `status` agree and unit tests need no database.
 */
import type { DatasetSpec, ModelSpec, Project } from '../config/project.js';
import { addPartitions, isCoarser, partitionsOverlapping, truncateKey, type PartitionKey } from './grain.js';
import { upstreamKeys, type PartitionMapping } from './dependencies.js';

export interface PartitionVersion {
  version: number;
  rows: number;
  checksum: string;
  inputs: Record<string, Record<string, number>>;
}

/** dataset → partition → current version. */
export type Snapshot = Map<string, Map<PartitionKey, PartitionVersion>>;

export interface StaleReason {
  upstream: string;
  partition: PartitionKey;
  from: number | null;
  to: number | null;
}

export function mappingOf(model: ModelSpec, upstream: DatasetSpec, lookback: number): PartitionMapping {
  return { upstreamGrain: upstream.grain, downstreamGrain: model.grain, lookback };
}

/**
 * Partitions each dataset should have: a source has what was ingested; a model has a partition
 * wherever every one of its upstreams has data for it (so a join with a rates table does not invent
 * days without orders). `extra` adds partitions a plan is about to create upstream.
 */
export function expectedPartitions(project: Project, snapshot: Snapshot): Map<string, Set<PartitionKey>> {
  const expected = new Map<string, Set<PartitionKey>>();
  for (const name of project.order) {
    const ds = project.datasets.get(name)!;
    if (ds.kind === 'source') {
      expected.set(name, new Set(snapshot.get(name)?.keys() ?? []));
      continue;
    }
    let result: Set<PartitionKey> | undefined;
    for (const up of ds.upstream) {
      const upSpec = project.datasets.get(up.dataset)!;
      const mapped = new Set<PartitionKey>();
      for (const key of expected.get(up.dataset) ?? []) {
        if (isCoarser(ds.grain, upSpec.grain) || ds.grain === upSpec.grain) mapped.add(truncateKey(key, ds.grain));
        else for (const k of partitionsOverlapping(key, upSpec.grain, ds.grain)) mapped.add(k);
      }
      result = intersect(result, mapped);
    }
    expected.set(name, result ?? new Set());
  }
  return expected;
}

function intersect(a: Set<PartitionKey> | undefined, b: Set<PartitionKey>): Set<PartitionKey> {
  if (!a) return b;
  const out = new Set<PartitionKey>();
  for (const k of a) if (b.has(k)) out.add(k);
  return out;
}

/**
 * The partitions whose versions a set of model partitions depends on: each one itself, what it reads
 * (its input fingerprint) and, for a cumulative model, its previous partition. dataset → keys.
 */
export function partitionsRead(project: Project, partitions: { dataset: string; partition: PartitionKey }[]): Map<string, Set<PartitionKey>> {
  const out = new Map<string, Set<PartitionKey>>();
  const add = (dataset: string, key: PartitionKey) => {
    let set = out.get(dataset);
    if (!set) out.set(dataset, (set = new Set()));
    set.add(key);
  };
  for (const { dataset, partition } of partitions) {
    add(dataset, partition);
    const model = project.datasets.get(dataset);
    if (model?.kind !== 'model') continue;
    for (const up of model.upstream) {
      for (const k of upstreamKeys(partition, mappingOf(model, project.datasets.get(up.dataset)!, up.lookback))) add(up.dataset, k);
    }
    if (model.dependsOnPast) add(dataset, addPartitions(partition, model.grain, -1));
  }
  return out;
}

/**
 * Everything partitions `keys` of `dataset` depend on, directly or through their upstreams:
 * partitionsRead applied until nothing new (dataset → keys, `keys` themselves included). Whether those
 * partitions are stale, directly or transitively, is decided by these partitions alone, so `ready`
 * reads only them (for a range, one walk for all its partitions). Null when the walk reaches a
 * cumulative model: each of its partitions depends on every earlier one, so the caller reads the
 * datasets of `datasetsReadTransitively` whole instead.
 */
export function partitionsReadTransitively(project: Project, dataset: string, keys: readonly PartitionKey[]): Map<string, Set<PartitionKey>> | null {
  const out = new Map<string, Set<PartitionKey>>([[dataset, new Set(keys)]]);
  let frontier = keys.map((partition) => ({ dataset, partition }));
  while (frontier.length) {
    const next: { dataset: string; partition: PartitionKey }[] = [];
    for (const [name, keys] of partitionsRead(project, frontier)) {
      const spec = project.datasets.get(name);
      if (spec?.kind === 'model' && spec.dependsOnPast) return null;
      let known = out.get(name);
      if (!known) out.set(name, (known = new Set()));
      for (const k of keys) if (!known.has(k)) (known.add(k), next.push({ dataset: name, partition: k }));
    }
    frontier = next;
  }
  return out;
}

/** `dataset` and every dataset it reads, directly or through its upstreams. */
export function datasetsReadTransitively(project: Project, dataset: string): string[] {
  const out = new Set<string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    out.add(name);
    const spec = project.datasets.get(name);
    if (spec?.kind === 'model') for (const up of spec.upstream) visit(up.dataset);
  };
  visit(dataset);
  return [...out];
}

/** The upstream partition versions model partition `key` reads now: its input fingerprint. */
export function inputsFor(project: Project, model: ModelSpec, key: PartitionKey, snapshot: Snapshot): Record<string, Record<string, number>> {
  const inputs: Record<string, Record<string, number>> = {};
  for (const up of model.upstream) {
    const upSpec = project.datasets.get(up.dataset)!;
    const current = snapshot.get(up.dataset);
    const versions: Record<string, number> = {};
    for (const k of upstreamKeys(key, mappingOf(model, upSpec, up.lookback))) {
      const v = current?.get(k);
      if (v) versions[k] = v.version;
    }
    inputs[up.dataset] = versions;
  }
  if (model.dependsOnPast) {
    const prev = addPartitions(key, model.grain, -1);
    const v = snapshot.get(model.name)?.get(prev);
    inputs[model.name] = v ? { [prev]: v.version } : {};
  }
  return inputs;
}

/** Differences between what a partition was built from and what its inputs are now. */
export function staleReasons(recorded: Record<string, Record<string, number>>, now: Record<string, Record<string, number>>): StaleReason[] {
  const reasons: StaleReason[] = [];
  for (const [upstream, versions] of Object.entries(now)) {
    const before = recorded[upstream] ?? {};
    for (const key of new Set([...Object.keys(before), ...Object.keys(versions)])) {
      const from = before[key] ?? null;
      const to = versions[key] ?? null;
      if (from !== to) reasons.push({ upstream, partition: key, from, to });
    }
  }
  return reasons.sort((a, b) => (a.upstream + a.partition).localeCompare(b.upstream + b.partition));
}

/**
 * True when `staleReasons(recorded, now)` would report anything, without building the reasons:
 * planning asks this of every partition, and almost every answer is no.
 */
export function inputsChanged(recorded: Record<string, Record<string, number>>, now: Record<string, Record<string, number>>): boolean {
  for (const upstream in now) {
    const versions = now[upstream];
    const before = recorded[upstream] ?? {};
    for (const key in versions) if ((before[key] ?? null) !== versions[key]) return true;
    for (const key in before) if (!(key in versions) && before[key] !== null) return true;
  }
  return false;
}

/**
 * A recorded input fingerprint that names no upstream at all. inputsFor names every upstream (with no
 * versions when it had no data), so only `checkpoint reset` writes one: it clears the fingerprint so that
 * the next run replays the partition. Its differences from the current inputs are then every upstream
 * partition "appearing", which is not what happened, so the replay request is said instead.
 */
export function replayRequested(recorded: Record<string, Record<string, number>>): boolean {
  return Object.keys(recorded).length === 0;
}

export const REPLAY_REQUESTED = 'replay requested by `checkpoint reset`';

/** Why a partition is stale, in the words `partitions`, `status` and `ready` use; `replay`: see replayRequested. */
export function describeStaleReasons(reasons: StaleReason[], replay: boolean): string[] {
  if (!reasons.length) return [];
  return replay ? [REPLAY_REQUESTED] : reasons.map(describeStale);
}

export function describeStale(r: StaleReason): string {
  if (r.from === null) return `${r.upstream} ${r.partition} appeared (v${r.to})`;
  if (r.to === null) return `${r.upstream} ${r.partition} disappeared (was v${r.from})`;
  return `${r.upstream} ${r.partition} changed v${r.from} → v${r.to}`;
}

/**
 * Hand-made projects and snapshots for the pure planning tests (no files, no database): dataset specs
 * as loadProject makes them, a project of them, and a snapshot in which every model partition was
 * built from version 1 of its sources.
 */
import type { DatasetSpec, ModelSpec, Project, SourceSpec } from '../../src/config/project.js';
import type { Grain } from '../../src/core/grain.js';
import type { UserLock } from '../../src/core/guards.js';
import { expectedPartitions, inputsFor, type Snapshot } from '../../src/core/staleness.js';
import type { PlanningState } from '../../src/plan/snapshot.js';

export function sourceSpec(name: string, column: string, key: string[]): SourceSpec {
  return { name, kind: 'source', partitionColumn: column, grain: 'day', key, checks: [], protect: { frozen: [] }, consumers: [], columns: [], history: [] };
}

/** A model partitioned by `column` at `grain`; `upstream` lists [dataset, lookback]. Keyed by `column` unless `extra.key` says otherwise. */
export function modelSpec(name: string, grain: Grain, column: string, upstream: [string, number][], extra: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name,
    kind: 'model',
    partitionColumn: column,
    grain,
    key: [column],
    checks: [],
    protect: { frozen: [] },
    consumers: [],
    sqlFile: `models/${name}.sql`,
    sqlTemplate: 'SELECT 1',
    upstream: upstream.map(([dataset, lookback]) => ({ dataset, lookback })),
    dependsOnPast: false,
    onSchemaChange: 'fail',
    ...extra,
  };
}

/** A DuckDB project of `datasets`, built in `order`, that exists nowhere on disk. */
export function projectOf(datasets: DatasetSpec[], order: string[], maxBackfill = 90): Project {
  return {
    dir: '/nowhere',
    configPath: '/nowhere/tidemark.yaml',
    name: 'shop',
    engine: { kind: 'duckdb', path: '/nowhere/x.duckdb' },
    pools: {},
    guards: { max_backfill_partitions: maxBackfill, max_shrink: 0.5 },
    retention: { versions: 10, days: 30 },
    datasets: new Map(datasets.map((d) => [d.name, d])),
    order,
    consumers: {},
    configHash: 'x',
    secrets: [],
  };
}

/**
 * Sources at version 1 for `days` (`rows(source)` rows a partition), every model partition built
 * from them; then `sourceVersions` ('orders/2026-03-10' → 2) bumps source partitions, as a late file does.
 */
export function builtSnapshot(project: Project, days: string[], sourceVersions: Record<string, number> = {}, rows: (source: string) => number = () => 10): Snapshot {
  const snap: Snapshot = new Map();
  for (const ds of project.datasets.values()) {
    if (ds.kind === 'source') snap.set(ds.name, new Map(days.map((d) => [d, { version: 1, rows: rows(ds.name), checksum: `c-${ds.name}-${d}`, inputs: {} }])));
  }
  const expected = expectedPartitions(project, snap);
  for (const name of project.order) {
    const ds = project.datasets.get(name)!;
    if (ds.kind !== 'model') continue;
    const m = new Map();
    snap.set(name, m);
    for (const k of [...expected.get(name)!].sort()) m.set(k, { version: 1, rows: 3, checksum: `c-${name}-${k}`, inputs: inputsFor(project, ds, k, snap) });
  }
  for (const [at, version] of Object.entries(sourceVersions)) {
    const [src, day] = at.split('/');
    snap.get(src)!.get(day)!.version = version;
  }
  return snap;
}

/** What the planner reads besides the snapshot: nothing in flight, no claims; `locks` as given. */
export function planningState(snapshot: Snapshot, locks: UserLock[] = []): PlanningState {
  return { snapshot, locks, claims: new Map(), inFlight: [], interrupted: [] };
}

/**
 * Scope → plan. `run` plans missing and stale partitions; `backfill` plans exactly the named range
 * and, with `downstream`, exactly the partitions of dependents that read it. Guards are evaluated
 * here, before any write.
 */
import { getDataset, getModel, type ModelSpec, type Project } from '../config/project.js';
import { addPartitions, parsePartitionKey, partitionRange, sortKeys, type Grain, type PartitionKey } from '../core/grain.js';
import { downstreamKeys, upstreamKeys } from '../core/dependencies.js';
import { expectedPartitions, inputsChanged, inputsFor, mappingOf, staleReasons } from '../core/staleness.js';
import { frozenPartitions, fullRefreshGuard, listKeys, lockedPartitions, recentPartitions, type Guard } from '../core/guards.js';
import { TidemarkError } from '../errors.js';
import type { PlanningState } from './snapshot.js';
import { planDatasets, type Plan, type PlannedTask, type RunKind, type TaskReason } from './types.js';

export interface RunRequest {
  datasets?: string[];
}

export interface BackfillRequest {
  dataset: string;
  from: string;
  to: string;
  downstream?: boolean;
  allowFullRefresh?: boolean;
  includeRecent?: boolean;
}

/** Parses and checks a --from/--to range for a dataset. */
export function resolveRange(project: Project, dataset: string, from: string, to: string): PartitionKey[] {
  const ds = getDataset(project, dataset);
  const a = parsePartitionKey(from, ds.grain);
  const b = parsePartitionKey(to, ds.grain);
  if (a > b) throw new TidemarkError('BAD_DATE', `--from ${from} is after --to ${to}`, { hint: 'swap them: --from is the first partition, --to the last (inclusive)' });
  return partitionRange(a, b, ds.grain);
}

export function buildRunPlan(project: Project, state: PlanningState, request: RunRequest = {}): Plan {
  const selected = new Set(request.datasets?.length ? request.datasets.map((d) => getModel(project, d).name) : project.order);
  const expected = expectedPartitions(project, state.snapshot);
  const planned = new Map<string, Set<PartitionKey>>();
  const tasks: PlannedTask[] = [];
  const skippedProtected = new Map<string, PartitionKey[]>();
  /** Per holding run and dataset: partitions a run in flight is rebuilding, left to it. */
  const skippedHeld = new Map<string, { dataset: string; run: { run_id: string; kind: string }; partitions: PartitionKey[] }>();

  for (const name of project.order) {
    const ds = project.datasets.get(name)!;
    if (ds.kind !== 'model' || !selected.has(name)) continue;
    const current = state.snapshot.get(name) ?? new Map();
    const keys = sortKeys(expected.get(name) ?? []);
    const frozen = new Set(frozenPartitions(ds, keys));
    const mine = new Set<PartitionKey>();
    for (const key of keys) {
      const rec = current.get(key);
      let reason: TaskReason | null = null;
      let stale;
      if (!rec) reason = 'missing';
      else {
        const now = inputsFor(project, ds, key, state.snapshot);
        if (inputsChanged(rec.inputs, now)) {
          stale = staleReasons(rec.inputs, now);
          reason = 'stale';
        }
        else if (readsPlanned(project, ds, key, planned, mine)) reason = 'downstream';
      }
      if (!reason) continue;
      // A routine run never rewrites protected history; it reports what it left alone instead.
      if (rec && (frozen.has(key) || lockedPartitions(state.locks, name, [key]).length)) {
        let list = skippedProtected.get(name);
        if (!list) skippedProtected.set(name, (list = []));
        list.push(key);
        continue;
      }
      // Production is never refused because a backfill holds some partitions: it builds the rest and
      // leaves those to the run rebuilding them (their dependents follow in the next run after it).
      const holder = state.claims.get(name)?.get(key);
      if (holder) {
        const id = `${holder.run_id}\0${name}`;
        let entry = skippedHeld.get(id);
        if (!entry) skippedHeld.set(id, (entry = { dataset: name, run: holder, partitions: [] }));
        entry.partitions.push(key);
        continue;
      }
      mine.add(key);
      tasks.push(task(name, key, reason, rec, stale));
    }
    planned.set(name, mine);
  }

  const guards: Guard[] = [...skippedProtected].map(([dataset, partitions]) => ({
    code: 'SKIPPED_PROTECTED',
    dataset,
    partitions,
    message: `${dataset}: ${partitions.length} stale partition(s) are frozen or locked and were left as they are: ${listKeys(partitions)}`,
    hint: `unlock them or backfill explicitly: tidemark backfill ${dataset} --from … --to … --reason …`,
    blocking: false,
  }));
  for (const { dataset, run, partitions } of skippedHeld.values()) {
    guards.push({
      code: 'SKIPPED_IN_FLIGHT',
      dataset,
      partitions,
      message: `${dataset}: ${partitions.length} partition(s) are being rebuilt by ${run.kind} run ${run.run_id} in flight and were left to it: ${listKeys(partitions)}`,
      hint: `\`tidemark runs\` follows it; the next \`tidemark run\` after it publishes rebuilds whatever still needs it`,
      blocking: false,
    });
  }
  return finish('run', request.datasets ?? [], tasks, guards, state, { kind: 'run', datasets: [...selected].sort() });
}

export function buildBackfillPlan(project: Project, state: PlanningState, request: BackfillRequest): Plan {
  const model = getModel(project, request.dataset);
  const range = resolveRange(project, model.name, request.from, request.to);
  const expected = expectedPartitions(project, state.snapshot);
  const current = state.snapshot.get(model.name) ?? new Map();
  const available = new Set([...(expected.get(model.name) ?? []), ...current.keys()]);
  const targets = range.filter((k) => available.has(k));
  if (targets.length === 0) {
    const all = sortKeys(available);
    throw new TidemarkError('BAD_INPUT', `${model.name} has no partitions between ${range[0]} and ${range[range.length - 1]}`, {
      hint: all.length ? `its partitions run from ${all[0]} to ${all[all.length - 1]}` : `its upstream has no data yet: ingest it first`,
    });
  }

  const tasks: PlannedTask[] = targets.map((k) => task(model.name, k, 'requested', current.get(k)));
  const dependents = expandDownstream(project, state, expected, model.name, targets);
  if (request.downstream) tasks.push(...dependents);

  const guards: Guard[] = request.downstream ? [] : dependentsLeftStale('backfill', model.name, dependents);
  const full = fullRefreshGuard(model, targets, new Set(current.keys()), {
    kind: 'backfill',
    allowFullRefresh: request.allowFullRefresh,
    maxBackfillPartitions: project.guards.max_backfill_partitions,
  });
  if (full) guards.push(full);
  guards.push(...protectionGuards(project, state, tasks, 'backfill', request.includeRecent ?? false));
  guards.push(...conflictGuards(tasks, state));
  guards.push(...rangeWidened(model.name, model.grain, request.from, request.to));
  const normalized = {
    kind: 'backfill',
    dataset: model.name,
    from: targets[0],
    to: targets[targets.length - 1],
    downstream: Boolean(request.downstream),
  };
  return finish('backfill', [model.name], tasks, guards, state, normalized);
}

/**
 * A month partition named by a day inside it (`--from 2026-01-15`) is rebuilt whole: the plan says
 * so, rather than leave someone to believe only the days from the 15th on were touched. An hourly
 * dataset's `--to` given as a day (`--to 2026-03-01`) is that day's first hour, 2026-03-01T00: the
 * plan says so too, rather than leave someone to believe the whole day was rebuilt (`--from` as a
 * day is its first hour, which is what it means). Notices.
 */
export function rangeWidened(dataset: string, grain: Grain, from: string, to: string): Guard[] {
  if (grain === 'hour') return toFirstHour(dataset, to);
  if (grain !== 'month') return [];
  return (
    [
      ['--from', from],
      ['--to', to],
    ] as const
  ).flatMap(([flag, given]) => {
    const day = given.trim();
    const key = parsePartitionKey(day, grain);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || day === key) return [];
    return [
      {
        code: 'RANGE_WIDENED' as const,
        dataset,
        partitions: [key],
        message: `${dataset}: ${flag} ${day} lies in the month partition ${key}, which is rebuilt whole`,
        hint: `partitions are whole months: name them by their first day (${flag} ${key})`,
        blocking: false,
      },
    ];
  });
}

function toFirstHour(dataset: string, to: string): Guard[] {
  const day = to.trim();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return [];
  const first = parsePartitionKey(day, 'hour');
  return [
    {
      code: 'TO_FIRST_HOUR' as const,
      dataset,
      partitions: [first],
      message: `${dataset}: --to ${day} names the hour ${first}, the first of that day: the range ends there, not at the end of the day`,
      hint: `partitions are hours: to take in the whole day, give --to ${day}T23`,
      blocking: false,
    },
  ];
}

/**
 * A backfill or restore without --downstream leaves every dependent that reads what it changes stale
 * until a later `run`: the plan says which, so the blast radius it shows is the whole one. A notice,
 * not a refusal: rebuilding dependents later, or not at all for identical content, can be intended.
 */
export function dependentsLeftStale(kind: 'backfill' | 'restore', dataset: string, dependents: PlannedTask[]): Guard[] {
  return planDatasets(dependents).map((d) => ({
    code: 'DEPENDENTS_LEFT_STALE' as const,
    dataset: d.dataset,
    partitions: d.partitions,
    message: `${d.dataset}: ${d.partitions.length} partition(s) read what this ${kind} of ${dataset} changes and will be stale until rebuilt: ${listKeys(d.partitions)}`,
    hint: 'add --downstream to rebuild them in the same publish, or run `tidemark run` afterwards',
    blocking: false,
  }));
}

/**
 * Exactly the partitions of every (transitive) dependent that read the changed partitions: a day d
 * reaches rolling partitions d..d+lookback and the month of d, and nothing else.
 */
export function expandDownstream(
  project: Project,
  state: PlanningState,
  expected: Map<string, Set<PartitionKey>>,
  dataset: string,
  keys: PartitionKey[],
): PlannedTask[] {
  const changed = new Map<string, Set<PartitionKey>>([[dataset, new Set(keys)]]);
  const tasks: PlannedTask[] = [];
  for (const name of project.order) {
    const ds = project.datasets.get(name)!;
    if (ds.kind !== 'model' || name === dataset) continue;
    const reach = new Set<PartitionKey>();
    for (const up of ds.upstream) {
      const upKeys = changed.get(up.dataset);
      if (!upKeys) continue;
      const mapping = mappingOf(ds, project.datasets.get(up.dataset)!, up.lookback);
      for (const k of upKeys) for (const d of downstreamKeys(k, mapping)) reach.add(d);
    }
    const exists = expected.get(name) ?? new Set();
    const current = state.snapshot.get(name) ?? new Map();
    let affected = sortKeys([...reach].filter((k) => exists.has(k) || current.has(k)));
    if (ds.dependsOnPast && affected.length) {
      // A cumulative model carries every change forward: rebuild from the earliest one onwards.
      const all = sortKeys([...exists, ...current.keys()]);
      affected = all.filter((k) => k >= affected[0]);
    }
    if (!affected.length) continue;
    changed.set(name, new Set(affected));
    for (const k of affected) tasks.push(task(name, k, 'downstream', current.get(k)));
  }
  return tasks;
}

function readsPlanned(project: Project, ds: ModelSpec, key: PartitionKey, planned: Map<string, Set<PartitionKey>>, mine: Set<PartitionKey>): boolean {
  for (const up of ds.upstream) {
    const upPlanned = planned.get(up.dataset);
    if (!upPlanned?.size) continue;
    const mapping = mappingOf(ds, project.datasets.get(up.dataset)!, up.lookback);
    if (upstreamKeys(key, mapping).some((k) => upPlanned.has(k))) return true;
  }
  return ds.dependsOnPast && mine.has(addPartitions(key, ds.grain, -1));
}

function task(dataset: string, partition: PartitionKey, reason: TaskReason, rec?: { version: number; rows: number } | undefined, stale?: PlannedTask['stale']): PlannedTask {
  const t: PlannedTask = { dataset, partition, reason, current_rows: rec?.rows ?? null, current_version: rec?.version ?? null };
  if (stale?.length) t.stale = stale;
  return t;
}

/** Frozen, locked and recent partitions touched by a backfill or restore. */
export function protectionGuards(project: Project, state: PlanningState, tasks: PlannedTask[], kind: RunKind, includeRecent: boolean): Guard[] {
  const guards: Guard[] = [];
  for (const { dataset, partitions } of planDatasets(tasks)) {
    const ds = getDataset(project, dataset);
    const frozen = frozenPartitions(ds, partitions);
    if (frozen.length) {
      guards.push({
        code: 'FROZEN',
        dataset,
        partitions: frozen,
        message: `${dataset}: ${frozen.length} partition(s) are frozen by protect in tidemark.yaml: ${listKeys(frozen)}`,
        hint: `narrow the range, or change datasets.${dataset}.protect in tidemark.yaml (a reviewed change)`,
        blocking: true,
      });
    }
    for (const { lock, partitions: locked } of lockedPartitions(state.locks, dataset, partitions)) {
      guards.push({
        code: 'LOCKED',
        dataset,
        partitions: locked,
        message: `${dataset}: ${listKeys(locked)} locked by ${lock.actor} (${lock.from_key}..${lock.to_key}: ${lock.reason})`,
        // Narrowing comes first: a lock protects data someone decided must not change.
        hint: `narrow --from/--to to leave out ${listKeys(locked)}, or lift the lock (audited): tidemark unlock ${dataset} --from ${lock.from_key} --to ${lock.to_key} --reason "…"`,
        blocking: true,
      });
    }
    if (!includeRecent) {
      const recent = recentPartitions(ds, state.snapshot.get(dataset)?.keys() ?? []);
      const touched = partitions.filter((k) => recent.has(k));
      if (touched.length) {
        guards.push({
          code: 'RECENT',
          dataset,
          partitions: touched,
          message: `${dataset}: ${listKeys(touched)} among the newest ${ds.protect.recent} partitions, protected from ${kind}`,
          hint: recentHint(kind, ds.grain, tasks, dataset, touched),
          blocking: true,
        });
      }
    }
  }
  return guards;
}

/**
 * Narrowing comes first, as for a lock: the newest partitions are protected because they may still
 * change. When the range named by the user starts before them, the hint gives the newest `--to` that
 * leaves them out; otherwise (a dependent's partitions, a dedupe, a range of recent partitions only)
 * it names them, then `--include-recent`.
 */
function recentHint(kind: RunKind, grain: Grain, tasks: PlannedTask[], dataset: string, recent: PartitionKey[]): string {
  const include = `pass --include-recent to ${kind} them too`;
  if (kind === 'dedupe') return include; // a dedupe takes no range to narrow
  const named = tasks.filter((t) => t.dataset === dataset && (t.reason === 'requested' || t.reason === 'restore')).map((t) => t.partition);
  const before = addPartitions(sortKeys(recent)[0], grain, -1);
  if (named.length && sortKeys(named)[0] <= before) return `narrow the range to leave out ${listKeys(recent)} (--to ${before} at the latest), or ${include}`;
  return `narrow --from/--to to leave out ${listKeys(recent)}, or ${include}`;
}

/** Two runs never write the same partition: a run in flight holding one refuses the plan. */
export function conflictGuards(tasks: PlannedTask[], state: PlanningState): Guard[] {
  const byRun = new Map<string, { dataset: string; partitions: PartitionKey[]; pid: number | null; kind: string }>();
  for (const t of tasks) {
    const run = state.claims.get(t.dataset)?.get(t.partition);
    if (!run) continue;
    const key = `${run.run_id}\0${t.dataset}`;
    let entry = byRun.get(key);
    if (!entry) byRun.set(key, (entry = { dataset: t.dataset, partitions: [], pid: run.pid, kind: run.kind }));
    entry.partitions.push(t.partition);
  }
  return [...byRun].map(([key, e]) => {
    const runId = key.split('\0')[0];
    // A run queued by `backfill --detach` has no process to name: whichever workers claim its tasks compute it.
    const holder = e.pid === null ? 'queued for workers' : `pid ${e.pid}`;
    return {
      code: 'RUN_CONFLICT' as const,
      dataset: e.dataset,
      partitions: e.partitions,
      message: `${e.dataset}: ${listKeys(e.partitions)} held by ${e.kind} run ${runId} (${holder}) in flight`,
      hint: e.pid === null ? `wait for it (tidemark wait ${runId}), or retry with --wait` : 'wait for it (tidemark runs), or retry with --wait',
      blocking: true,
    };
  });
}

function finish(kind: RunKind, targets: string[], tasks: PlannedTask[], guards: Guard[], state: PlanningState, request: Record<string, unknown>): Plan {
  return {
    kind,
    targets,
    tasks,
    datasets: planDatasets(tasks),
    guards,
    estimated_rows: estimateRows(tasks, state),
    request,
  };
}

/** Rows a plan will write: current rows where a partition exists, else the dataset's average. */
function estimateRows(tasks: PlannedTask[], state: PlanningState): number {
  let total = 0;
  const averages = new Map<string, number>();
  for (const t of tasks) {
    if (t.current_rows !== null) {
      total += t.current_rows;
      continue;
    }
    let avg = averages.get(t.dataset);
    if (avg === undefined) {
      const parts = [...(state.snapshot.get(t.dataset)?.values() ?? [])];
      avg = parts.length ? Math.round(parts.reduce((s, p) => s + p.rows, 0) / parts.length) : 0;
      averages.set(t.dataset, avg);
    }
    total += avg;
  }
  return total;
}

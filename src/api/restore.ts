/**
 * Restore: bring retained versions back as a NEW publish (a restore is a new commit, not a rewind,
 * so change feeds and consumers see it as a change). Which versions come back:
 *  - `run`: the versions a run replaced, for the partitions of the dataset it changed — so the
 *    incident backfill is undone in one command, and a restore is undone by restoring its own run;
 *  - `version`: version N of each partition in --from..--to;
 *  - `asOf`: the version that was live at that instant, for each partition (or those in range).
 * The plan goes through the same guards as a backfill (frozen, locked, recent, runs in flight), the
 * same confirmation, and the same executor; with `downstream` the dependents are recomputed from
 * the restored partitions in the same run and published in the same transaction.
 */
import { getDataset, type Project } from '../config/project.js';
import { sortKeys, type PartitionKey } from '../core/grain.js';
import { expectedPartitions, inputsChanged, inputsFor } from '../core/staleness.js';
import { TidemarkError, usageError } from '../errors.js';
import { executePlan, type RunResult } from '../execute/executor.js';
import { restoreStager } from '../execute/restore-stager.js';
import type { RunOptions } from '../execute/run-context.js';
import { conflictGuards, dependentsLeftStale, expandDownstream, protectionGuards, rangeWidened, resolveRange } from '../plan/build.js';
import { restoredStale } from '../plan/restored-stale.js';
import { loadPlanningState, type PlanningState } from '../plan/snapshot.js';
import { planDatasets, type Plan, type PlannedTask } from '../plan/types.js';
import { listVersions, type VersionRecord } from '../state/partitions.js';
import { getRun } from '../state/runs.js';
import type { Workspace } from '../workspace.js';
import { assertStillThePlan } from './confirmed-plan.js';
import { requireReason } from './operations.js';
import { locationOf, removedByRetention, type LocatedVersion } from './version-content.js';

export interface RestoreRequest {
  dataset: string;
  /** Restore the versions this run replaced. */
  run?: string;
  /** Restore this version number of each partition in from..to. */
  version?: number;
  /** Restore the versions live at this instant (ISO date or timestamp, UTC unless a zone is given). */
  asOf?: string;
  from?: string;
  to?: string;
  downstream?: boolean;
  includeRecent?: boolean;
}

export interface RestoreSource {
  partition: string;
  /** The version whose content comes back. */
  version: number;
  rows: number;
  checksum: string;
  run_id: string;
  published_at: string;
  /** The version it replaces (now live). */
  current_version: number;
}

export interface RestorePlan {
  plan: Plan;
  dataset: string;
  sources: RestoreSource[];
  /** Partitions whose live content already equals the version asked for. */
  already_current: { partition: string; version: number }[];
  /** Partitions with nothing to restore (the run created them, they did not exist at --as-of). */
  not_restorable: { partition: string; why: string }[];
}

export type RestoreResult = RunResult & {
  restore: Omit<RestorePlan, 'plan'>;
};

export async function planRestore(ws: Workspace, request: RestoreRequest): Promise<RestorePlan> {
  const { engine, project } = ws;
  const ds = getDataset(project, request.dataset);
  const modes = [request.run !== undefined, request.version !== undefined, request.asOf !== undefined].filter(Boolean).length;
  if (modes !== 1) throw usageError('restore needs exactly one of --run ID, --version N or --as-of TIME', `tidemark restore ${ds.name} --run RUN_ID --reason "…"`);
  if ((request.from === undefined) !== (request.to === undefined)) throw usageError('give both --from and --to, or neither');
  const range = request.from !== undefined ? new Set(resolveRange(project, ds.name, request.from, request.to!)) : null;
  const inRange = (k: string) => !range || range.has(k);

  const state = await loadPlanningState(engine, engine);
  const current = state.snapshot.get(ds.name) ?? new Map();
  const all = await listVersions(engine, engine, ds.name);
  const byPartition = new Map<string, LocatedVersion[]>();
  for (const r of all) {
    let list = byPartition.get(r.partition);
    if (!list) byPartition.set(r.partition, (list = []));
    list.push({ record: r, location: locationOf(r, current.get(r.partition)?.version) });
  }

  // A range with no partition of the dataset in it (a mistyped year, say) is refused, as a backfill
  // refuses it: "nothing to restore" would read as "already current". --run names its own partitions.
  if (range && request.run === undefined && ![...range].some((k) => byPartition.has(k))) {
    const keys = sortKeys(byPartition.keys());
    const asked = sortKeys([...range]);
    throw new TidemarkError('BAD_INPUT', `${ds.name} has no partitions between ${asked[0]} and ${asked[asked.length - 1]}`, {
      hint: keys.length ? `its partitions run from ${keys[0]} to ${keys[keys.length - 1]}` : `it has no published partitions yet`,
    });
  }

  const wanted = new Map<string, number>();
  const notRestorable: RestorePlan['not_restorable'] = [];
  if (request.run !== undefined) {
    const run = await getRun(engine, engine, request.run);
    if (!run) throw new TidemarkError('NOT_FOUND', `no run '${request.run}'`, { hint: `tidemark history ${ds.name} lists the runs that published each version` });
    const published = all.filter((v) => v.run_id === run.run_id);
    if (!published.length) {
      throw new TidemarkError('NOT_FOUND', `run ${run.run_id} (${run.kind}) changed no partition of ${ds.name}`, { hint: `tidemark diff ${run.run_id} shows what it changed` });
    }
    const inScope = published.filter((x) => inRange(x.partition));
    if (!inScope.length) {
      const keys = sortKeys(published.map((v) => v.partition));
      const asked = sortKeys([...range!]);
      throw new TidemarkError('USAGE', `run ${run.run_id} changed no partition of ${ds.name} between ${asked[0]} and ${asked[asked.length - 1]}`, {
        hint: `it changed ${keys.length} partition(s) from ${keys[0]} to ${keys[keys.length - 1]}: adjust --from/--to, or drop them to restore all`,
      });
    }
    for (const v of inScope) {
      if (v.version === 1) notRestorable.push({ partition: v.partition, why: `created by run ${run.run_id}; there is no earlier version` });
      else wanted.set(v.partition, v.version - 1);
    }
  } else if (request.version !== undefined) {
    if (!Number.isInteger(request.version) || request.version < 1) throw usageError(`--version must be a positive integer, got '${request.version}'`);
    if (!range) throw usageError('--version N needs --from and --to: version numbers are per partition', `tidemark restore ${ds.name} --version ${request.version} --from 2026-03-07 --to 2026-03-07 --reason "…"`);
    for (const k of range) {
      const versions = byPartition.get(k);
      if (!versions) continue; // no such partition: nothing to restore there
      if (!versions.some((v) => v.record.version === request.version)) {
        const last = versions[versions.length - 1].record.version;
        throw new TidemarkError('NOT_FOUND', `${ds.name} ${k} has no version ${request.version} (its versions are 1..${last})`, { dataset: ds.name, partitions: [k], hint: `tidemark history ${ds.name} --partition ${k}` });
      }
      wanted.set(k, request.version);
    }
  } else {
    const at = parseInstant(request.asOf!);
    for (const [k, versions] of byPartition) {
      if (!inRange(k)) continue;
      const live = versions.find((v) => v.record.published_at <= at && (v.record.replaced_at === null || v.record.replaced_at > at));
      if (live) wanted.set(k, live.record.version);
      else notRestorable.push({ partition: k, why: `did not exist at ${at}` });
    }
  }

  const sources: RestoreSource[] = [];
  const restoredInputs: { partition: PartitionKey; inputs: VersionRecord['inputs'] }[] = [];
  const alreadyCurrent: RestorePlan['already_current'] = [];
  for (const k of sortKeys(wanted.keys())) {
    const versions = byPartition.get(k)!;
    const version = wanted.get(k)!;
    const chosen = versions.find((v) => v.record.version === version)!;
    if (chosen.location === 'removed') throw removedByRetention(ds.name, k, version, versions);
    const now = current.get(k);
    if (!now) {
      notRestorable.push({ partition: k, why: 'it has no live version to replace' });
      continue;
    }
    if (chosen.location === 'live' || chosen.record.checksum === now.checksum) {
      alreadyCurrent.push({ partition: k, version });
      continue;
    }
    sources.push(sourceOf(chosen.record, now.version));
    restoredInputs.push({ partition: k, inputs: chosen.record.inputs });
  }

  const tasks: PlannedTask[] = sources.map((s) => ({
    dataset: ds.name,
    partition: s.partition,
    reason: 'restore',
    current_rows: current.get(s.partition)?.rows ?? null,
    current_version: current.get(s.partition)?.version ?? null,
  }));
  const expected = expectedPartitions(project, state.snapshot);
  const seeds = sources.map((s) => s.partition);
  // A restore issued first without --downstream leaves the dependents stale; re-issued with
  // --downstream, its partitions are already current, and it still rebuilds what reads them.
  if (request.downstream) seeds.push(...withStaleDependents(project, state, expected, ds.name, alreadyCurrent.map((a) => a.partition)));
  const dependents = seeds.length ? expandDownstream(project, state, expected, ds.name, sortKeys(seeds)) : [];
  if (request.downstream) tasks.push(...dependents);
  const guards = [
    ...(request.from !== undefined ? rangeWidened(ds.name, ds.grain, request.from, request.to!) : []),
    ...(request.downstream ? [] : dependentsLeftStale('restore', ds.name, dependents)),
    ...restoredStale(project, state, ds.name, restoredInputs),
    ...protectionGuards(project, state, tasks, 'restore', request.includeRecent ?? false),
    ...conflictGuards(tasks, state),
  ];
  const downstreamRows = tasks.filter((t) => t.reason !== 'restore').reduce((n, t) => n + (t.current_rows ?? 0), 0);
  const plan: Plan = {
    kind: 'restore',
    targets: [ds.name],
    tasks,
    datasets: planDatasets(tasks),
    guards,
    estimated_rows: sources.reduce((n, s) => n + s.rows, 0) + downstreamRows,
    // The versions to copy travel in the request: the stager reads them, and a re-issued restore
    // of the same versions resumes the same run.
    request: { kind: 'restore', dataset: ds.name, versions: Object.fromEntries(sources.map((s) => [s.partition, s.version])), downstream: Boolean(request.downstream), ...currentSeeds(seeds, sources) },
  };
  return { plan, dataset: ds.name, sources, already_current: alreadyCurrent, not_restorable: notRestorable };
}

/**
 * Restores; pass `confirmed` to execute exactly the plan a user already reviewed (refused, with
 * nothing written, when planning `request` again no longer gives that plan: confirmed-plan.ts).
 */
export async function restore(ws: Workspace, request: RestoreRequest, options: RunOptions, confirmed?: RestorePlan): Promise<RestoreResult> {
  requireReason(options.reason, 'restore');
  const fresh = await planRestore(ws, request);
  // The versions each partition gets back travel in the plan's request, so they are compared too.
  if (confirmed) assertStillThePlan(confirmed.plan, fresh.plan);
  const planned = confirmed ?? fresh;
  const result = await executePlan(ws, planned.plan, options, restoreStager);
  const { plan: _plan, ...restore } = planned;
  return { ...result, restore };
}

function sourceOf(v: VersionRecord, currentVersion: number): RestoreSource {
  return { partition: v.partition, version: v.version, rows: v.rows, checksum: v.checksum, run_id: v.run_id, published_at: v.published_at, current_version: currentVersion };
}

/** An ISO date or timestamp as a UTC ISO instant comparable with published_at / replaced_at. */
export function parseInstant(text: string): string {
  const t = text.trim();
  // A timestamp without a zone means UTC, like every timestamp Tidemark records.
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(t) ? `${t.length === 13 ? `${t}:00` : t}Z` : t;
  const d = /^\d{4}-\d{2}-\d{2}$/.test(t) || /T/.test(withZone) ? new Date(withZone) : new Date(NaN);
  if (Number.isNaN(d.getTime())) {
    throw new TidemarkError('BAD_DATE', `malformed --as-of '${text}'`, { hint: 'use an ISO date or timestamp, e.g. 2026-03-07 or 2026-03-07T13:45:00Z' });
  }
  return d.toISOString();
}

/**
 * Those of `partitions` with a dependent that no longer matches the upstream versions it was built
 * from. The dependents of all of them are expanded, and their staleness computed, once: a partition's
 * own dependents are among them (the expansion only grows with its seeds), so none of it is stale
 * when none of theirs is, the usual case; only then is each partition's own expansion looked at.
 */
function withStaleDependents(project: Project, state: PlanningState, expected: Map<string, Set<PartitionKey>>, dataset: string, partitions: PartitionKey[]): PartitionKey[] {
  if (!partitions.length) return [];
  const key = (t: { dataset: string; partition: PartitionKey }) => `${t.dataset}\0${t.partition}`;
  const stale = new Set(
    expandDownstream(project, state, expected, dataset, sortKeys(partitions))
      .filter((t) => {
        const ds = project.datasets.get(t.dataset)!;
        const rec = state.snapshot.get(t.dataset)?.get(t.partition);
        return ds.kind === 'model' && rec !== undefined && inputsChanged(rec.inputs, inputsFor(project, ds, t.partition, state.snapshot));
      })
      .map(key),
  );
  if (!stale.size) return [];
  return partitions.filter((p) => expandDownstream(project, state, expected, dataset, [p]).some((t) => stale.has(key(t))));
}

/** The already-current partitions whose dependents the restore rebuilds (absent when none: most restores). */
function currentSeeds(seeds: PartitionKey[], sources: RestoreSource[]): { current?: PartitionKey[] } {
  const restored = new Set(sources.map((s) => s.partition));
  const current = seeds.filter((k) => !restored.has(k));
  return current.length ? { current } : {};
}

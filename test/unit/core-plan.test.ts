// Staleness, guards and the planner on hand-made projects and snapshots: pure, no database.
import { describe, expect, it } from 'vitest';
import type { DatasetSpec, ModelSpec, Project } from '../../src/config/project.js';
import { partitionRange, type Grain } from '../../src/core/grain.js';
import { frozenPartitions, fullRefreshGuard, lockedPartitions, recentPartitions, type UserLock } from '../../src/core/guards.js';
import { expectedPartitions, inputsFor, staleReasons, describeStale, type Snapshot } from '../../src/core/staleness.js';
import { buildBackfillPlan, buildRunPlan, resolveRange } from '../../src/plan/build.js';
import { blockingGuards, type Plan } from '../../src/plan/types.js';
import { TidemarkError } from '../../src/errors.js';
import { builtSnapshot as builtSpecsSnapshot, modelSpec, planningState, projectOf, sourceSpec } from '../helpers/specs.js';

/** The shop's models are keyed by their partition column and currency. */
const source = sourceSpec;
const model = (name: string, grain: Grain, column: string, upstream: [string, number][], extra: Partial<ModelSpec> = {}) => modelSpec(name, grain, column, upstream, { key: [column, 'currency'], ...extra });

/** The shop example's shape: orders + fx_rates → daily_revenue → revenue_7d (lookback 6), monthly_revenue. */
function shopProject(overrides: Partial<Record<string, Partial<DatasetSpec>>> = {}, maxBackfill = 90): Project {
  const list: DatasetSpec[] = [
    source('orders', 'order_date', ['order_id']),
    source('fx_rates', 'rate_date', ['rate_date', 'currency']),
    model('daily_revenue', 'day', 'day', [['orders', 0], ['fx_rates', 0]]),
    model('monthly_revenue', 'month', 'month', [['daily_revenue', 0]]),
    model('revenue_7d', 'day', 'day', [['daily_revenue', 6]]),
  ].map((ds) => ({ ...ds, ...(overrides[ds.name] ?? {}) }) as DatasetSpec);
  return projectOf(list, ['fx_rates', 'orders', 'daily_revenue', 'monthly_revenue', 'revenue_7d'], maxBackfill);
}

const DAYS = partitionRange('2026-02-01', '2026-03-31', 'day');

/** A fully built snapshot over DAYS (orders 2000 rows a day); `sourceVersions` bumps source partitions, as a late fix would. */
const builtSnapshot = (project: Project, sourceVersions: Record<string, number> = {}): Snapshot =>
  builtSpecsSnapshot(project, DAYS, sourceVersions, (src) => (src === 'orders' ? 2000 : 3));
const state = planningState;

function partitionsOf(plan: Plan): Record<string, string[]> {
  return Object.fromEntries(plan.datasets.map((d) => [d.dataset, d.partitions]));
}

describe('staleness', () => {
  const project = shopProject();
  it('expects model partitions where every upstream has data, months by containment', () => {
    const snap = builtSnapshot(project);
    const expected = expectedPartitions(project, snap);
    expect([...expected.get('daily_revenue')!].sort()).toEqual(DAYS);
    expect([...expected.get('monthly_revenue')!].sort()).toEqual(['2026-02-01', '2026-03-01']);
    // A day with orders but no FX rate has no daily_revenue partition.
    snap.get('fx_rates')!.delete('2026-03-31');
    expect(expectedPartitions(project, snap).get('daily_revenue')!.has('2026-03-31')).toBe(false);
  });

  it('a built snapshot has nothing stale; a changed upstream version is reported exactly', () => {
    const snap = builtSnapshot(project);
    const d = project.datasets.get('revenue_7d') as ModelSpec;
    const rec = snap.get('revenue_7d')!.get('2026-03-05')!;
    expect(staleReasons(rec.inputs, inputsFor(project, d, '2026-03-05', snap))).toEqual([]);
    snap.get('daily_revenue')!.get('2026-03-01')!.version = 2;
    const reasons = staleReasons(rec.inputs, inputsFor(project, d, '2026-03-05', snap));
    expect(reasons).toEqual([{ upstream: 'daily_revenue', partition: '2026-03-01', from: 1, to: 2 }]);
    expect(describeStale(reasons[0])).toBe('daily_revenue 2026-03-01 changed v1 → v2');
  });

  it('an upstream partition appearing or disappearing makes a model partition stale', () => {
    expect(staleReasons({ a: { '2026-03-01': 1 } }, { a: {} })).toEqual([{ upstream: 'a', partition: '2026-03-01', from: 1, to: null }]);
    expect(describeStale({ upstream: 'a', partition: 'p', from: null, to: 1 })).toContain('appeared');
  });
});

describe('guards', () => {
  const project = shopProject();
  const daily = project.datasets.get('daily_revenue')!;

  it('the full-refresh guard fires on all partitions or more than the threshold', () => {
    const existing = new Set(DAYS);
    const opts = { kind: 'backfill' as const, maxBackfillPartitions: 30 };
    expect(fullRefreshGuard(daily, DAYS.slice(0, 7), existing, opts)).toBeNull();
    expect(fullRefreshGuard(daily, DAYS, existing, opts)?.code).toBe('FULL_REFRESH');
    expect(fullRefreshGuard(daily, DAYS.slice(0, 31), existing, opts)?.message).toContain('more than guards.max_backfill_partitions (30)');
    expect(fullRefreshGuard(daily, DAYS, existing, { ...opts, allowFullRefresh: true })).toBeNull();
    expect(fullRefreshGuard(daily, DAYS, existing, { ...opts, kind: 'run' })).toBeNull();
  });

  it('frozen, recent and locked partitions are found exactly', () => {
    const ds = { ...daily, protect: { frozen_before: '2026-02-10', frozen: [{ from: '2026-03-01', to: '2026-03-02' }], recent: 2 } };
    expect(frozenPartitions(ds, DAYS)).toEqual([...partitionRange('2026-02-01', '2026-02-09', 'day'), '2026-03-01', '2026-03-02']);
    expect([...recentPartitions(ds, DAYS)]).toEqual(['2026-03-30', '2026-03-31']);
    const lock: UserLock = { lock_id: 'l1', dataset: 'daily_revenue', from_key: '2026-03-10', to_key: '2026-03-12', reason: 'audit', actor: 'ana' };
    expect(lockedPartitions([lock], 'daily_revenue', partitionRange('2026-03-11', '2026-03-20', 'day'))).toEqual([{ lock, partitions: ['2026-03-11', '2026-03-12'] }]);
    expect(lockedPartitions([lock], 'revenue_7d', DAYS)).toEqual([]);
  });
});

describe('buildBackfillPlan', () => {
  it('--downstream for daily_revenue 2026-03-01..07 gives revenue_7d 03-01..03-13 and the March rollup exactly', () => {
    const project = shopProject();
    const plan = buildBackfillPlan(project, state(builtSnapshot(project)), { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-07', downstream: true });
    expect(partitionsOf(plan)).toEqual({
      daily_revenue: partitionRange('2026-03-01', '2026-03-07', 'day'),
      monthly_revenue: ['2026-03-01'],
      revenue_7d: partitionRange('2026-03-01', '2026-03-13', 'day'),
    });
    expect(plan.tasks.filter((t) => t.dataset === 'daily_revenue').every((t) => t.reason === 'requested')).toBe(true);
    expect(plan.tasks.filter((t) => t.dataset !== 'daily_revenue').every((t) => t.reason === 'downstream')).toBe(true);
    expect(plan.guards).toEqual([]);
    // 7 + 1 + 13 existing partitions of 3 rows each.
    expect(plan.estimated_rows).toBe(21 * 3);
  });

  it('without --downstream only the named partitions are planned, and a notice names the dependents left stale', () => {
    const project = shopProject();
    const plan = buildBackfillPlan(project, state(builtSnapshot(project)), { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-07' });
    expect(partitionsOf(plan)).toEqual({ daily_revenue: partitionRange('2026-03-01', '2026-03-07', 'day') });
    const notices = plan.guards.map((g) => ({ code: g.code, dataset: g.dataset, partitions: g.partitions, blocking: g.blocking }));
    expect(notices).toEqual([
      { code: 'DEPENDENTS_LEFT_STALE', dataset: 'monthly_revenue', partitions: ['2026-03-01'], blocking: false },
      { code: 'DEPENDENTS_LEFT_STALE', dataset: 'revenue_7d', partitions: partitionRange('2026-03-01', '2026-03-13', 'day'), blocking: false },
    ]);
    expect(plan.guards[1].hint).toContain('--downstream');
  });

  it('a range crossing a month boundary reaches both months, and the window stops at existing partitions', () => {
    const project = shopProject();
    const plan = buildBackfillPlan(project, state(builtSnapshot(project)), { dataset: 'daily_revenue', from: '2026-02-27', to: '2026-03-28', downstream: true });
    expect(partitionsOf(plan).monthly_revenue).toEqual(['2026-02-01', '2026-03-01']);
    expect(partitionsOf(plan).revenue_7d).toEqual(partitionRange('2026-02-27', '2026-03-31', 'day'));
  });

  it('refuses a full refresh unless allowed', () => {
    const project = shopProject({}, 20);
    const snap = builtSnapshot(project);
    const all = buildBackfillPlan(project, state(snap), { dataset: 'daily_revenue', from: '2026-02-01', to: '2026-03-31' });
    expect(blockingGuards(all).map((g) => g.code)).toEqual(['FULL_REFRESH']);
    const many = buildBackfillPlan(project, state(snap), { dataset: 'daily_revenue', from: '2026-02-01', to: '2026-02-28' });
    expect(blockingGuards(many)[0].message).toContain('more than guards.max_backfill_partitions (20)');
    const allowed = buildBackfillPlan(project, state(snap), { dataset: 'daily_revenue', from: '2026-02-01', to: '2026-03-31', allowFullRefresh: true });
    expect(blockingGuards(allowed)).toEqual([]);
    // What is left are the notices about dependents a backfill without --downstream leaves stale.
    expect(allowed.guards.map((g) => g.code)).toEqual(['DEPENDENTS_LEFT_STALE', 'DEPENDENTS_LEFT_STALE']);
  });

  it('frozen, locked and recent partitions in scope are blocking guards naming them', () => {
    const project = shopProject({ revenue_7d: { protect: { frozen: [], recent: 3 } } as Partial<DatasetSpec> });
    const lock: UserLock = { lock_id: 'l1', dataset: 'daily_revenue', from_key: '2026-03-05', to_key: '2026-03-06', reason: 'audit', actor: 'ana' };
    const snap = builtSnapshot(project);
    const plan = buildBackfillPlan(project, state(snap, [lock]), { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-07' });
    expect(blockingGuards(plan).map((g) => [g.code, g.partitions])).toEqual([['LOCKED', ['2026-03-05', '2026-03-06']]]);
    const recent = buildBackfillPlan(project, state(snap), { dataset: 'daily_revenue', from: '2026-03-25', to: '2026-03-31', downstream: true });
    expect(recent.guards.map((g) => [g.code, g.dataset, g.partitions])).toEqual([['RECENT', 'revenue_7d', ['2026-03-29', '2026-03-30', '2026-03-31']]]);
    const included = buildBackfillPlan(project, state(snap), { dataset: 'daily_revenue', from: '2026-03-25', to: '2026-03-31', downstream: true, includeRecent: true });
    expect(included.guards).toEqual([]);
  });

  it('refuses unknown datasets, sources, bad and reversed ranges, and empty ranges', () => {
    const project = shopProject();
    const st = state(builtSnapshot(project));
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as TidemarkError).code;
      }
      return 'none';
    };
    expect(code(() => buildBackfillPlan(project, st, { dataset: 'nope', from: '2026-03-01', to: '2026-03-02' }))).toBe('UNKNOWN_DATASET');
    expect(code(() => buildBackfillPlan(project, st, { dataset: 'orders', from: '2026-03-01', to: '2026-03-02' }))).toBe('USAGE');
    expect(code(() => buildBackfillPlan(project, st, { dataset: 'daily_revenue', from: '2026-02-30', to: '2026-03-02' }))).toBe('BAD_DATE');
    expect(code(() => buildBackfillPlan(project, st, { dataset: 'daily_revenue', from: '2026-03-05', to: '2026-03-02' }))).toBe('BAD_DATE');
    expect(code(() => buildBackfillPlan(project, st, { dataset: 'daily_revenue', from: '2027-01-01', to: '2027-01-02' }))).toBe('BAD_INPUT');
    expect(resolveRange(project, 'monthly_revenue', '2026-02', '2026-03-15')).toEqual(['2026-02-01', '2026-03-01']);
  });

  it("names the project's datasets for an unknown one (the close ones first), or says it has none", () => {
    const hint = (project: Project, dataset = 'nope') => {
      try {
        buildBackfillPlan(project, state(builtSnapshot(project)), { dataset, from: '2026-03-01', to: '2026-03-02' });
      } catch (e) {
        return (e as TidemarkError).hint;
      }
      return 'none';
    };
    expect(hint(shopProject())).toMatch(/^datasets in this project: orders, /);
    // A name found inside others is offered as a guess, not as the project's only datasets.
    expect(hint(shopProject(), 'x')).toBe('did you mean fx_rates? (datasets in this project: orders, fx_rates, daily_revenue, monthly_revenue, revenue_7d)');
    expect(hint(shopProject(), 'daily_revenu')).toMatch(/^did you mean daily_revenue\? \(datasets in this project: orders, /);
    const empty = { ...shopProject(), datasets: new Map(), order: [], configPath: '/p/tidemark.yaml' };
    expect(hint(empty)).toBe('this project declares no datasets yet: add them under datasets: in tidemark.yaml');
  });
});

describe('buildRunPlan', () => {
  it('plans nothing for an up-to-date snapshot', () => {
    const project = shopProject();
    expect(buildRunPlan(project, state(builtSnapshot(project))).tasks).toEqual([]);
  });

  it('plans every missing partition in dependency order on an empty project', () => {
    const project = shopProject();
    const snap = builtSnapshot(project);
    for (const m of ['daily_revenue', 'monthly_revenue', 'revenue_7d']) snap.delete(m);
    const plan = buildRunPlan(project, state(snap));
    expect(plan.datasets.map((d) => [d.dataset, d.partitions.length])).toEqual([
      ['daily_revenue', 59],
      ['monthly_revenue', 2],
      ['revenue_7d', 59],
    ]);
    expect(plan.tasks.every((t) => t.reason === 'missing')).toBe(true);
  });

  it('a changed source day rebuilds that day, its 7 rolling days and its month, nothing else', () => {
    const project = shopProject();
    const snap = builtSnapshot(project, { 'orders/2026-03-10': 2 });
    const plan = buildRunPlan(project, state(snap));
    expect(partitionsOf(plan)).toEqual({
      daily_revenue: ['2026-03-10'],
      monthly_revenue: ['2026-03-01'],
      revenue_7d: partitionRange('2026-03-10', '2026-03-16', 'day'),
    });
    expect(plan.tasks[0]).toMatchObject({ dataset: 'daily_revenue', partition: '2026-03-10', reason: 'stale', stale: [{ upstream: 'orders', partition: '2026-03-10', from: 1, to: 2 }] });
    expect(plan.tasks.slice(1).every((t) => t.reason === 'downstream')).toBe(true);
  });

  it('a run leaves frozen stale partitions alone and says so', () => {
    const project = shopProject({ daily_revenue: { protect: { frozen_before: '2026-03-01', frozen: [] } } as Partial<DatasetSpec> });
    const plan = buildRunPlan(project, state(builtSnapshot(project, { 'orders/2026-02-10': 2 })));
    expect(plan.tasks.filter((t) => t.dataset === 'daily_revenue')).toEqual([]);
    expect(plan.guards).toMatchObject([{ code: 'SKIPPED_PROTECTED', dataset: 'daily_revenue', partitions: ['2026-02-10'], blocking: false }]);
  });
});

// Why `run` rebuilds a partition that reads a stale one (plan/stale-cause.ts), on hand-made projects
// and snapshots: what `partitions` and `status` show for it, the same walk `ready` makes. Pure.
import { describe, expect, it } from 'vitest';
import type { DatasetSpec, Project } from '../../src/config/project.js';
import { partitionRange } from '../../src/core/grain.js';
import type { Snapshot } from '../../src/core/staleness.js';
import { buildRunPlan } from '../../src/plan/build.js';
import { describeStaleCause, PlanCauses, staleThroughReads } from '../../src/plan/stale-cause.js';
import { builtSnapshot, modelSpec, planningState, projectOf, sourceSpec } from '../helpers/specs.js';

const source = sourceSpec;
const model = modelSpec;

/** The shop's shape, plus `running_total`: a cumulative model (d reads its own d-1) over daily_revenue. */
function project(): Project {
  const list: DatasetSpec[] = [
    source('orders', 'order_date', ['order_id']),
    model('daily_revenue', 'day', 'day', [['orders', 0]]),
    model('monthly_revenue', 'month', 'month', [['daily_revenue', 0]]),
    model('revenue_7d', 'day', 'day', [['daily_revenue', 6]]),
    model('running_total', 'day', 'day', [['daily_revenue', 0]], { dependsOnPast: true }),
  ];
  return projectOf(list, ['orders', 'daily_revenue', 'monthly_revenue', 'revenue_7d', 'running_total']);
}

const DAYS = partitionRange('2026-03-01', '2026-03-31', 'day');

/** Everything built from orders v1; then orders `late` moves to v2, as a late file does. */
const lateSnapshot = (p: Project, late: string): Snapshot => builtSnapshot(p, DAYS, { [`orders/${late}`]: 2 });
const state = (snapshot: Snapshot) => planningState(snapshot);

describe('partitions stale through what they read', () => {
  const p = project();
  const snap = lateSnapshot(p, '2026-03-10');
  const through = staleThroughReads(p, state(snap));

  it('names every partition `run` rebuilds only because it reads a stale one, and not the directly stale one', () => {
    expect(through.has('daily_revenue')).toBe(false); // its own inputs changed: partitions shows that change
    expect([...through.get('revenue_7d')!.keys()]).toEqual(partitionRange('2026-03-10', '2026-03-16', 'day'));
    expect([...through.get('monthly_revenue')!.keys()]).toEqual(['2026-03-01']);
    expect(through.get('revenue_7d')!.get('2026-03-16')).toBe('reads daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2');
    expect(through.get('monthly_revenue')!.get('2026-03-01')).toBe('reads daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2');
  });

  it('a cumulative chain is walked once for all its partitions, and named by its ends', () => {
    expect([...through.get('running_total')!.keys()]).toEqual(partitionRange('2026-03-10', '2026-03-31', 'day'));
    expect(through.get('running_total')!.get('2026-03-10')).toBe('reads daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2');
    expect(through.get('running_total')!.get('2026-03-11')).toBe('reads running_total 2026-03-10, which reads daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2');
    expect(through.get('running_total')!.get('2026-03-31')).toBe('reads running_total 2026-03-30, which reads (through 20 more) daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2');
  });

  it('gives `ready` the same cause, asked partition by partition in any order', () => {
    const plan = buildRunPlan(p, state(snap));
    const causes = new PlanCauses(p, plan, snap);
    // Asked from the far end first: what it remembers on the way must not change the nearer answers.
    const far = causes.causeOf('running_total', '2026-03-31')!;
    expect(far.via).toHaveLength(21);
    expect(causes.causeOf('running_total', '2026-03-12')!.via.map((v) => `${v.dataset} ${v.partition}`)).toEqual(['running_total 2026-03-11', 'running_total 2026-03-10']);
    expect(describeStaleCause('revenue_7d', '2026-03-12', causes.causeOf('revenue_7d', '2026-03-12')!)).toBe(
      'revenue_7d 2026-03-12 is stale: it reads daily_revenue 2026-03-10, which is stale: orders 2026-03-10 changed v1 → v2; run `tidemark run` to rebuild',
    );
    expect(describeStaleCause('daily_revenue', '2026-03-10', causes.causeOf('daily_revenue', '2026-03-10')!)).toBe('daily_revenue 2026-03-10 is stale: orders 2026-03-10 changed v1 → v2; run `tidemark run` to rebuild');
    expect(causes.causeOf('revenue_7d', '2026-03-09')).toBeNull();
  });

  it('a day that arrives inside the range: what reads it is named as reading a partition not built yet', () => {
    const s = lateSnapshot(p, '2026-03-10');
    // Built while orders 2026-03-20 had not arrived: daily_revenue had no such partition then.
    for (const name of p.order) s.get(name)!.delete('2026-03-20');
    const built = lateSnapshot(p, '2026-03-10');
    for (const [name, parts] of s) if (name !== 'orders') for (const [k, v] of parts) v.inputs = withoutDay(built.get(name)!.get(k)!.inputs, '2026-03-20');
    s.get('orders')!.set('2026-03-20', { version: 1, rows: 10, checksum: 'c-late', inputs: {} });
    const t = staleThroughReads(p, state(s));
    expect(t.get('revenue_7d')!.get('2026-03-21')).toBe('reads daily_revenue 2026-03-20, which is not built yet');
  });
});

function withoutDay(inputs: Record<string, Record<string, number>>, day: string): Record<string, Record<string, number>> {
  return Object.fromEntries(Object.entries(inputs).map(([ds, v]) => [ds, Object.fromEntries(Object.entries(v).filter(([k]) => k !== day))]));
}

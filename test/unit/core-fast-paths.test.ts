// The planner's fast paths (issue 5 benchmark) agree with the plain definitions they shortcut: pure, no database.
import { describe, expect, it } from 'vitest';
import type { DatasetSpec, ModelSpec, Project, SourceSpec } from '../../src/config/project.js';
import { upstreamKeys } from '../../src/core/dependencies.js';
import { addPartitions, partitionsOverlapping, truncateKey, type Grain } from '../../src/core/grain.js';
import { inputsChanged, partitionsRead, staleReasons } from '../../src/core/staleness.js';

/** Partition arithmetic the slow way, through Date objects: the reference the ordinals must match. */
function referenceAdd(key: string, grain: Grain, n: number): string {
  const [y, m, d, h] = [+key.slice(0, 4), +key.slice(5, 7), +key.slice(8, 10), key.length > 10 ? +key.slice(11, 13) : 0];
  const date = new Date(Date.UTC(y, m - 1, d, h));
  if (grain === 'hour') date.setUTCHours(date.getUTCHours() + n);
  else if (grain === 'day') date.setUTCDate(date.getUTCDate() + n);
  else date.setUTCMonth(date.getUTCMonth() + n, 1);
  const day = date.toISOString().slice(0, 10);
  if (grain === 'hour') return `${day}T${date.toISOString().slice(11, 13)}`;
  return grain === 'month' ? `${day.slice(0, 7)}-01` : day;
}

describe('partition arithmetic on ordinals', () => {
  it('matches Date arithmetic over years of days, hours and months, both ways', () => {
    let day = '2023-01-01';
    for (let i = 0; i < 1500; i++) {
      for (const n of [-400, -31, -7, -1, 0, 1, 6, 29, 366]) expect(addPartitions(day, 'day', n)).toBe(referenceAdd(day, 'day', n));
      for (const n of [-25, -1, 0, 1, 24, 1000]) expect(addPartitions(`${day}T05`, 'hour', n)).toBe(referenceAdd(`${day}T05`, 'hour', n));
      for (const n of [-13, -1, 0, 1, 12]) expect(addPartitions(day, 'month', n)).toBe(referenceAdd(day, 'month', n));
      day = referenceAdd(day, 'day', 1);
    }
  });

  it('truncates, and maps a key of one grain onto itself', () => {
    expect(truncateKey('2024-02-29T23', 'day')).toBe('2024-02-29');
    expect(truncateKey('2024-02-29', 'month')).toBe('2024-02-01');
    expect(truncateKey('2024-02-29', 'hour')).toBe('2024-02-29T00');
    expect(partitionsOverlapping('2024-02-29', 'day', 'day')).toEqual(['2024-02-29']);
    expect(partitionsOverlapping('2024-02-01', 'month', 'day')).toHaveLength(29);
    expect(upstreamKeys('2024-03-02', { upstreamGrain: 'day', downstreamGrain: 'day', lookback: 0 })).toEqual(['2024-03-02']);
    expect(upstreamKeys('2024-03-02', { upstreamGrain: 'day', downstreamGrain: 'day', lookback: 2 })).toEqual(['2024-02-29', '2024-03-01', '2024-03-02']);
  });
});

describe('inputsChanged', () => {
  const cases: [string, Record<string, Record<string, number>>, Record<string, Record<string, number>>][] = [
    ['identical', { a: { d1: 1, d2: 3 } }, { a: { d1: 1, d2: 3 } }],
    ['same keys in another order', { a: { d2: 3, d1: 1 } }, { a: { d1: 1, d2: 3 } }],
    ['a version changed', { a: { d1: 1, d2: 3 } }, { a: { d1: 1, d2: 4 } }],
    ['a partition appeared', { a: { d1: 1 } }, { a: { d1: 1, d2: 1 } }],
    ['a partition disappeared', { a: { d1: 1, d2: 1 } }, { a: { d1: 1 } }],
    ['an upstream never recorded', {}, { a: { d1: 1 } }],
    ['an upstream never recorded, reading nothing', {}, { a: {} }],
    ['a recorded upstream no longer read', { a: { d1: 1 }, b: { d1: 2 } }, { a: { d1: 1 } }],
    ['nothing at all', {}, {}],
  ];
  for (const [name, recorded, now] of cases) {
    it(`agrees with staleReasons: ${name}`, () => {
      expect(inputsChanged(recorded, now)).toBe(staleReasons(recorded, now).length > 0);
    });
  }
});

describe('partitionsRead', () => {
  const events: SourceSpec = { name: 'events', kind: 'source', partitionColumn: 'd', grain: 'day', key: ['id'], checks: [], protect: { frozen: [] }, consumers: [], columns: [], history: [] };
  const model = (name: string, upstream: string, lookback: number, extra: Partial<ModelSpec> = {}): ModelSpec => ({
    name,
    kind: 'model',
    partitionColumn: 'day',
    grain: 'day',
    key: ['day'],
    checks: [],
    protect: { frozen: [] },
    consumers: [],
    sqlFile: `models/${name}.sql`,
    sqlTemplate: 'SELECT 1',
    upstream: [{ dataset: upstream, lookback }],
    dependsOnPast: false,
    onSchemaChange: 'fail',
    ...extra,
  });
  const list: DatasetSpec[] = [events, model('daily', 'events', 0), model('rolling', 'daily', 2), model('running', 'daily', 0, { dependsOnPast: true })];
  const project = { datasets: new Map(list.map((d) => [d.name, d])), order: list.map((d) => d.name) } as unknown as Project;

  it('names each partition, what its fingerprint reads and a cumulative model’s previous partition', () => {
    const read = partitionsRead(project, [
      { dataset: 'daily', partition: '2024-03-01' },
      { dataset: 'rolling', partition: '2024-03-01' },
      { dataset: 'running', partition: '2024-03-01' },
    ]);
    const sorted = Object.fromEntries([...read].map(([d, keys]) => [d, [...keys].sort()]));
    expect(sorted).toEqual({
      daily: ['2024-02-28', '2024-02-29', '2024-03-01'],
      events: ['2024-03-01'],
      rolling: ['2024-03-01'],
      running: ['2024-02-29', '2024-03-01'],
    });
  });
});

/**
 * Rows sent as one JSON parameter (Dialect.jsonRows + engines/json-rows.ts) on a real DuckDB and the
 * test PostgreSQL: awkward values come back exactly, as the declared types, on both engines alike;
 * and the state writes built on it (recordNewVersions, insertTasks, markTasksComputed) record what
 * they did before they took JSON.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Engine, JsonColumn } from '../../src/engines/engine.js';
import { jsonRowsParam } from '../../src/engines/json-rows.js';
import { listVersions, loadPartitions, recordNewVersions } from '../../src/state/partitions.js';
import { insertTasks, listTasks, markTasksComputed } from '../../src/state/runs.js';
import { closeTestEngines, openTestEngine } from '../helpers/engines.js';
import { testEngines, type TestEngine } from '../helpers/project.js';

afterEach(closeTestEngines);

/** A migrated state store: DuckDB in memory, or PostgreSQL in schemas of its own (dropped after). */
const openEngine = (target: TestEngine): Promise<Engine> => openTestEngine(target, 'jsonrows', { migrated: true });

const COLUMNS: JsonColumn[] = [
  { name: 'id', type: 'INTEGER' },
  { name: 'text', type: 'VARCHAR' },
  { name: 'big', type: 'BIGINT' },
  { name: 'flag', type: 'BOOLEAN' },
  { name: 'ratio', type: 'DOUBLE' },
];

const AWKWARD = `it's "quoted" \\ back\\slash, new\nline, tab\t, unicode é ☃ 😀, {"json": [1]}, '); DROP TABLE x; --`;

describe.each(testEngines(inject('pgUrl')))('jsonRows ($kind)', (target) => {
  it('reads awkward values back exactly, with the declared types', async () => {
    const engine = await openEngine(target);
    const rows = [
      { id: 1, text: AWKWARD, big: 2 ** 53 - 1, flag: true, ratio: 1.5 },
      { id: 2, text: '', big: 2 ** 31, flag: false, ratio: -0.25 },
      // Explicit nulls and missing keys both read as NULL; a bigint (as drivers return BIGINT) is sent as text.
      { id: 3, text: null, big: null, flag: null },
      { id: 4, big: 9007199254740993n },
      { id: 5, text: 'extra keys are ignored', unknown: 'x' },
    ];
    const got = await engine.query(`SELECT r.id, r.text, r.big, r.flag, r.ratio FROM ${engine.dialect.jsonRows('$1', COLUMNS, 'r')} ORDER BY id`, [jsonRowsParam(rows)]);
    expect(got).toEqual([
      { id: 1, text: AWKWARD, big: 9007199254740991, flag: true, ratio: 1.5 },
      { id: 2, text: '', big: 2147483648, flag: false, ratio: -0.25 },
      { id: 3, text: null, big: null, flag: null, ratio: null },
      // Beyond 2^53 both engines return a BIGINT as text (engines' plain values), so nothing was rounded.
      { id: 4, text: null, big: '9007199254740993', flag: null, ratio: null },
      { id: 5, text: 'extra keys are ignored', big: null, flag: null, ratio: null },
    ]);
    const types = await engine.query<{ t: string }>(`SELECT typeof_text AS t FROM (SELECT ${target.kind === 'duckdb' ? 'typeof(big)' : 'pg_typeof(big)::text'} AS typeof_text FROM ${engine.dialect.jsonRows('$1', COLUMNS, 'r')}) x`, [jsonRowsParam([{ big: 1 }])]);
    expect(types[0].t.toLowerCase()).toBe('bigint');
  });

  it('gives an empty relation for an empty array, usable in joins and plain column names', async () => {
    const engine = await openEngine(target);
    expect(await engine.query(`SELECT id FROM ${engine.dialect.jsonRows('$1', COLUMNS, 'r')}`, ['[]'])).toEqual([]);
    const [count] = await engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${engine.dialect.jsonRows('$1', COLUMNS, 'r')} WHERE text = $2`, [jsonRowsParam([{ text: AWKWARD }, { text: 'other' }]), AWKWARD]);
    expect(Number(count.n)).toBe(1);
  });

  it('refuses column names and types it cannot write safely', async () => {
    const { dialect } = await openEngine(target);
    expect(() => dialect.jsonRows('$1', [{ name: `a"b`, type: 'VARCHAR' }], 'r')).toThrow(/plain lowercase/);
    expect(() => dialect.jsonRows('$1', [{ name: 'Upper', type: 'VARCHAR' }], 'r')).toThrow(/plain lowercase/);
    expect(() => dialect.jsonRows('$1', [{ name: 'a', type: 'VARCHAR' }], 'r; --')).toThrow(/plain lowercase/);
    expect(() => dialect.jsonRows('$1', [{ name: 'a', type: `VARCHAR"}]'` as never }], 'r')).toThrow(/unknown column type/);
    expect(() => dialect.jsonRows('$1', [], 'r')).toThrow(/no columns/);
  });

  it('records new versions: previous ones replaced by this publish, partitions swapped, versions appended', async () => {
    const engine = await openEngine(target);
    const inputs = { [AWKWARD]: { '2026-01-01': 3 } };
    const first = (day: string, dataset = 'orders') => ({ dataset, partition: day, version: 1, rows: 10, checksum: `c-${day}`, inputs: {}, kind: 'new' as const });
    await engine.transaction((tx) =>
      recordNewVersions(tx, engine, [first('2026-01-01'), first('2026-01-02'), first('2026-01-01', 'daily')], { run_id: 'run-1', publish_seq: 1, published_at: 't1', actor: 'ann', reason: AWKWARD }),
    );
    await engine.transaction((tx) =>
      recordNewVersions(
        tx,
        engine,
        [
          { dataset: 'orders', partition: '2026-01-01', version: 2, rows: 2 ** 40, checksum: '-123456789012345678901', inputs, kind: 'restate' },
          { dataset: 'daily', partition: '2026-01-02', version: 1, rows: 0, checksum: 'c0', inputs: {}, kind: 'new' },
        ],
        { run_id: 'run-2', publish_seq: 2 ** 33, published_at: 't2', actor: 'bob', reason: 'fix' },
      ),
    );
    await engine.transaction((tx) => recordNewVersions(tx, engine, [], { run_id: 'run-3', publish_seq: 3, published_at: 't3', actor: 'bob', reason: 'none' }));

    const partitions = await loadPartitions(engine, engine);
    expect([...partitions.get('orders')!.values()]).toEqual([
      { dataset: 'orders', partition: '2026-01-01', version: 2, rows: 2 ** 40, checksum: '-123456789012345678901', run_id: 'run-2', publish_seq: 2 ** 33, published_at: 't2', inputs },
      { dataset: 'orders', partition: '2026-01-02', version: 1, rows: 10, checksum: 'c-2026-01-02', run_id: 'run-1', publish_seq: 1, published_at: 't1', inputs: {} },
    ]);
    expect([...partitions.get('daily')!.keys()]).toEqual(['2026-01-01', '2026-01-02']);

    const versions = await listVersions(engine, engine, 'orders');
    expect(versions.map((v) => [v.partition, v.version, v.kind, v.actor, v.reason, v.retained, v.replaced_at, v.replaced_seq])).toEqual([
      ['2026-01-01', 1, 'new', 'ann', AWKWARD, true, 't2', 2 ** 33],
      ['2026-01-01', 2, 'restate', 'bob', 'fix', true, null, null],
      ['2026-01-02', 1, 'new', 'ann', AWKWARD, true, null, null],
    ]);
    // Another dataset's partition with the same key was not touched by orders' new version.
    expect((await listVersions(engine, engine, 'daily', '2026-01-01')).map((v) => v.replaced_at)).toEqual([null]);
  });

  it('inserts tasks in plan order and marks them computed, NULL sql_hash included, counting the attempt', async () => {
    const engine = await openEngine(target);
    const keys = Array.from({ length: 450 }, (_, i) => ({ dataset: i % 2 ? 'orders' : 'daily', partition: `k${String(449 - i).padStart(3, '0')}` }));
    await insertTasks(engine, engine, 'run-1', keys);
    await insertTasks(engine, engine, 'run-1', []);
    const tasks = await listTasks(engine, engine, 'run-1');
    expect(tasks.map((t) => [t.dataset, t.partition, t.ord, t.status, t.attempts])).toEqual(keys.map((k, i) => [k.dataset, k.partition, i, 'pending', 0]));

    const orders = keys.filter((k) => k.dataset === 'orders');
    await markTasksComputed(
      engine,
      engine,
      'run-1',
      'orders',
      orders.map((k, i) => ({ partition: k.partition, rows: i === 0 ? 2 ** 35 : i, checksum: `c${i}`, sql_hash: i % 2 ? `h${i}` : null, inputs: i === 0 ? { [AWKWARD]: { a: 1 } } : {} })),
    );
    await markTasksComputed(engine, engine, 'run-1', 'orders', []);
    const after = await listTasks(engine, engine, 'run-1');
    const computed = after.filter((t) => t.dataset === 'orders');
    expect(computed.every((t) => t.status === 'computed' && t.attempts === 1 && t.error === null && t.started_at !== null)).toBe(true);
    const first = computed.find((t) => t.partition === orders[0].partition)!;
    expect([first.rows, first.checksum, first.sql_hash, first.inputs]).toEqual([2 ** 35, 'c0', null, { [AWKWARD]: { a: 1 } }]);
    const second = computed.find((t) => t.partition === orders[1].partition)!;
    expect([second.rows, second.checksum, second.sql_hash]).toEqual([1, 'c1', 'h1']);
    // The other dataset's tasks, with the same run, were not touched.
    expect(after.filter((t) => t.dataset === 'daily').every((t) => t.status === 'pending' && t.attempts === 0 && t.rows === null)).toBe(true);
  });
});

// A source's first load writes the files' rows once, on DuckDB and on PostgreSQL: into a load table in
// the data schema that the publish renames to the live table (src/execute/first-load.ts). These tests
// check what a user can see, on both engines: the live table and its records are exactly those of any
// other load, and its definition that of a table the staging-table path creates; no load table or
// staging is left behind; a kill at any point leaves no live table and no state, and the re-run
// publishes once; a refused or failed load leaves the data schema and the state as they were, and gc
// removes the load table a killed attempt left. On PostgreSQL, two first loads of one source staged
// side by side both publish: one renames its table, the other's rows are inserted.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { typeName } from '../../src/config/types.js';
import { adoptLoadTable, loadTableName, runOfLoadTable } from '../../src/execute/first-load.js';
import { ensureStagingTable } from '../../src/execute/staging.js';
import { stagingName } from '../../src/state/tables.js';
import type { Workspace } from '../../src/workspace.js';
import {
  cleanup,
  cli,
  cliChild,
  cliJson,
  copyProject,
  dataFiles,
  requireBuild,
  scaffoldShop,
  snapshotState,
  testEngines,
  until,
  withWorkspace,
  type TestEngine,
} from '../helpers/project.js';

/**
 * The tables a PostgreSQL process loads files into (engines/postgres/file-tables.ts): dropped when it
 * closes, left behind when it is killed (gc removes them). No first load reads them after its load
 * table is made, so they are not part of what these tests compare.
 */
const isFileTable = (name: string) => name.startsWith('_tm_file_');

/** Tables of the data and staging schemas, by schema (without the per-process file tables). */
async function tablesOf(dir: string): Promise<{ main: string[]; staging: string[] }> {
  return withWorkspace(dir, async (ws) => {
    const rows = await ws.engine.query<{ s: string; t: string }>(
      `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema IN ($1, $2) ORDER BY table_name`,
      [ws.engine.dataSchema, ws.engine.stagingSchema],
    );
    const of = (schema: string) => rows.filter((r) => r.s === schema && !isFileTable(r.t)).map((r) => r.t).sort();
    return { main: of(ws.engine.dataSchema), staging: of(ws.engine.stagingSchema) };
  });
}

/** Recorded rows and checksums of a dataset, and the same recomputed from its live table. */
async function recordedAndLive(dir: string, dataset: string, columns: string[], partitionColumn: string) {
  return withWorkspace(dir, async (ws) => {
    const e = ws.engine;
    const d = e.dialect;
    const recorded = await e.query<{ partition: string; rows: number; checksum: string }>(
      `SELECT partition, rows, checksum FROM ${d.table(e.stateSchema, 'partitions')} WHERE dataset = $1 ORDER BY partition`,
      [dataset],
    );
    const live = await e.query<{ partition: string; rows: number; checksum: string }>(
      `SELECT ${d.partitionKey(d.quote(partitionColumn), 'day')} AS partition, count(*) AS rows, ${d.checksum(columns)} AS checksum FROM ${d.table(e.dataSchema, dataset)} GROUP BY 1 ORDER BY 1`,
    );
    const plain = (rows: { partition: string; rows: number; checksum: string }[]) => rows.map((r) => ({ ...r, rows: Number(r.rows) }));
    return { recorded: plain(recorded), live: plain(live) };
  });
}

async function orderCounts(dir: string): Promise<{ rows: number; repeated: number }> {
  return withWorkspace(dir, async (ws) => {
    const orders = ws.engine.dialect.table(ws.engine.dataSchema, 'orders');
    const [r] = await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${orders}`);
    const [dup] = await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT order_id FROM ${orders} GROUP BY order_id HAVING count(*) > 1) d`);
    return { rows: Number(r.n), repeated: Number(dup.n) };
  });
}

/** Data rows of CSV files (a header line each). */
function csvRows(dir: string, files: string[]): number {
  return files.reduce((n, f) => n + readFileSync(path.join(dir, f), 'utf8').trim().split('\n').length - 1, 0);
}

const ORDER_COLUMNS = ['order_id', 'customer_id', 'amount_cents', 'currency', 'status', 'order_date'];

/**
 * A source of the declarable types (but REAL: DuckDB reports a REAL column as FLOAT, which its schema
 * check then takes for another type, whatever made the table), under a name long enough that its load table's name is cut
 * (and hashed, first-load.ts), loaded from several files (the load table's SELECT is a UNION ALL).
 */
const TYPED = 'payments_with_a_long_descriptive_name_for_cutting';
const TYPED_COLUMNS = {
  id: 'BIGINT',
  amount: 'DECIMAL(12,2)',
  rate: 'DOUBLE',
  qty: 'SMALLINT',
  n: 'INTEGER',
  ok: 'BOOLEAN',
  note: 'VARCHAR',
  at: 'TIMESTAMP',
  day: 'DATE',
} as const;

function addTypedSource(dir: string): string[] {
  const config = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(config, 'utf8');
  const columns = Object.entries(TYPED_COLUMNS).map(([c, t]) => `${c}: "${t}"`).join(', ');
  const source = `datasets:\n  ${TYPED}:\n    kind: source\n    partition: { column: day, grain: day }\n    key: [id]\n    schema:\n      current: { ${columns} }\n`;
  writeFileSync(config, yaml.replace(/^datasets:\n/m, source));
  return ['2026-03-01', '2026-03-02', '2026-03-03'].map((day, i) => {
    const rel = path.join('data', `payments-${day}.csv`);
    const rows = [0, 1, 2].map((j) => `${i * 10 + j},${(i * 10 + j) * 1.25 + 0.01},${j / 3},${j},${100000 + j},${j % 2 === 0},note ${j},${day} 1${j}:00:00,${day}`);
    writeFileSync(path.join(dir, rel), `id,amount,rate,qty,n,ok,note,at,day\n${rows.join('\n')}\n`);
    return rel;
  });
}

/**
 * A table's definition as the engine keeps it: its columns (information_schema, and on PostgreSQL the
 * catalog: NOT NULL, defaults, identity, collation) and on PostgreSQL the table's own properties
 * (owner, privileges, persistence, options, indexes, triggers, rules, row security).
 */
async function definitionOf(ws: Workspace, table: string): Promise<unknown> {
  const e = ws.engine;
  const columns = await e.query(
    `SELECT column_name, ordinal_position, data_type, is_nullable, column_default, character_maximum_length, numeric_precision, numeric_scale
     FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [e.dataSchema, table],
  );
  if (e.kind !== 'postgres') return { columns, engine: await e.columns(e.dataSchema, table) };
  const catalog = await e.query(
    `SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.atthasdef, a.attidentity, a.attgenerated, CAST(a.attcollation AS BIGINT) AS collation
     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [e.dataSchema, table],
  );
  const [relation] = await e.query(
    `SELECT CAST(c.relowner AS BIGINT) AS owner, CAST(c.relacl AS TEXT) AS acl, c.relpersistence, CAST(c.reloptions AS TEXT) AS options, c.relkind,
            CAST(c.reltablespace AS BIGINT) AS tablespace, c.relhasindex, c.relhastriggers, c.relhasrules, c.relrowsecurity, CAST(c.relam AS BIGINT) AS am
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [e.dataSchema, table],
  );
  return { columns, catalog, relation, engine: await e.columns(e.dataSchema, table) };
}

describe('load table names', () => {
  it('fit in 63 characters, keep the run id readable, and differ for datasets that share a long prefix', () => {
    const run = 'r20260101_000000_abcdef';
    const shared = 'a_dataset_name_long_enough_to_be_cut_when_it_is_part_of';
    const a = loadTableName(run, `${shared}_orders`);
    const b = loadTableName(run, `${shared}_refunds`);
    expect(a).not.toBe(b);
    for (const name of [a, b]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(runOfLoadTable(name)).toBe(run);
    }
    // A short name is left as it is.
    expect(loadTableName(run, 'orders')).toBe(`_tm_load__${run}__orders`);
  });
});

describe.each(testEngines(inject('pgUrl')))('a first load ($kind)', (engine: TestEngine) => {
  let base: string;
  const made: string[] = [];
  beforeAll(async () => {
    requireBuild();
    base = await scaffoldShop('2026-03-01', '2026-03-05', { engine });
  }, 120_000);
  afterAll(() => cleanup(base, ...made));

  function fresh(): string {
    const dir = copyProject(base);
    made.push(dir);
    return dir;
  }

  it('renames its load table into place: the live table and its records are those of a load through an existing table, and nothing is left behind', async () => {
    const dir = fresh();
    const files = dataFiles(dir, 'orders');
    const first = cliJson(dir, ['ingest', 'orders', ...files.slice(0, 3)]);
    expect(first.status).toBe('published');
    expect(first.published).toHaveLength(3);
    expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
    const afterFirst = await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date');
    expect(afterFirst.recorded).toEqual(afterFirst.live);

    // The same files loaded in two steps, the second into the existing table (a view of the files on
    // DuckDB, a staging table on PostgreSQL), record the same partitions as one load of all of them.
    const more = cliJson(dir, ['ingest', 'orders', ...files]);
    expect(more.published.map((p: { partition: string }) => p.partition)).toEqual(['2026-03-04', '2026-03-05']);
    const together = fresh();
    cliJson(together, ['ingest', 'orders', ...files]);
    expect(await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date')).toEqual(await recordedAndLive(together, 'orders', ORDER_COLUMNS, 'order_date'));
    expect(await tablesOf(together)).toEqual({ main: ['orders'], staging: [] });

    const verify = cli(together, ['audit', 'verify', '--data']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);

  it('makes a live table defined exactly as the staging-table path defines it, which later loads and schema checks take as it is', async () => {
    const dir = fresh();
    const files = addTypedSource(dir);
    const first = cliJson(dir, ['ingest', TYPED, ...files.slice(0, 2)]);
    expect(first.status).toBe('published');
    expect(await tablesOf(dir)).toEqual({ main: [TYPED], staging: [] });

    await withWorkspace(dir, async (ws) => {
      const e = ws.engine;
      const d = e.dialect;
      // What the staging-table path makes (ingest.ts before first loads had a load table, and still
      // for later loads on PostgreSQL): a staging table of the declared columns and `_tm_file`, and
      // from its columns, as engine.columns() reads them, the live table (publish.ts replacePartitions).
      const runId = 'r20260101_000000_abcdef';
      const declared = Object.entries(TYPED_COLUMNS).map(([name, type]) => ({ name, type: d.columnType(type) }));
      await ensureStagingTable(e, e, runId, 'reference', [...declared, { name: '_tm_file', type: 'VARCHAR' }]);
      const staged = (await e.columns(e.stagingSchema, stagingName(runId, 'reference')))!.filter((c) => c.name !== '_tm_partition');
      await e.exec(`CREATE TABLE IF NOT EXISTS ${d.table(e.dataSchema, 'reference')} (${staged.map((c) => `${d.quote(c.name)} ${c.type}`).join(', ')})`);
      expect(await definitionOf(ws, TYPED)).toEqual(await definitionOf(ws, 'reference'));

      // And the declared types, as the schema checks compare them (ingest-evolution.ts).
      const live = (await e.columns(e.dataSchema, TYPED))!;
      expect(live.map((c) => [c.name, typeName(c.type)])).toEqual([...Object.entries(TYPED_COLUMNS).map(([c, t]) => [c, typeName(t)]), ['_tm_file', 'VARCHAR']]);
      await e.exec(`DROP TABLE ${d.table(e.dataSchema, 'reference')}`);
      await e.exec(`DROP TABLE ${d.table(e.stagingSchema, stagingName(runId, 'reference'))}`);
    });

    const check = cli(dir, ['schema', 'check', TYPED, '--json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    // A later load goes into the table as it is (no schema change), and the records match the rows.
    const later = cliJson(dir, ['ingest', TYPED, ...files]);
    expect(later.published.map((p: { partition: string }) => p.partition)).toEqual(['2026-03-03']);
    expect(later.schema_change).toBeUndefined();
    const verify = cli(dir, ['audit', 'verify', '--data']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);

  describe.each(['ingest.file_loaded:1', 'ingest.staged:1', 'publish.replaced:1', 'publish.before_commit:1'])('killed at %s', (point) => {
    it('leaves no live table and no state; the re-run publishes once and removes the load table', async () => {
      const dir = fresh();
      const files = dataFiles(dir, 'orders');
      const before = await snapshotState(dir);
      const killed = cli(dir, ['ingest', 'orders', ...files, '--json'], { env: { TIDEMARK_CRASH_AT: point } });
      expect(killed.signal).toBe('SIGKILL');
      const after = await snapshotState(dir);
      expect(after.state).toEqual(before.state);
      // Readers of the data schema see no orders table: at most the run's load table.
      expect((await tablesOf(dir)).main.filter((t) => !t.startsWith('_tm_load__'))).toEqual([]);

      const rerun = cliJson(dir, ['ingest', 'orders', ...files]);
      expect(rerun.status).toBe('published');
      expect(rerun.published).toHaveLength(files.length);
      expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
      expect(await orderCounts(dir)).toEqual({ rows: csvRows(dir, files), repeated: 0 });
      const recorded = await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date');
      expect(recorded.recorded).toEqual(recorded.live);
      const again = cliJson(dir, ['ingest', 'orders', ...files]);
      expect(again.files.every((f: { status: string }) => f.status === 'unchanged')).toBe(true);
    }, 120_000);
  });

  it('refused by validation leaves the data schema and the state as they were; gc removes (and audits) the load table a killed attempt left, with the staging view over it', async () => {
    const dir = fresh();
    const files = dataFiles(dir, 'orders');
    // One order twice in a file: a duplicate key.
    const bad = path.join(dir, files[1]);
    const original = readFileSync(bad, 'utf8');
    writeFileSync(bad, `${original.trimEnd()}\n${original.split('\n')[1]}\n`);
    const before = await snapshotState(dir);
    const refused = cli(dir, ['ingest', 'orders', ...files, '--json']);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain('order_id');
    expect(await snapshotState(dir)).toEqual(before);
    expect(await tablesOf(dir)).toEqual({ main: [], staging: [] });

    // Killed after the load: its load table stays until the run resumes or gc decides no one will.
    writeFileSync(bad, original);
    const killed = cli(dir, ['ingest', 'orders', files[0], '--json'], { env: { TIDEMARK_CRASH_AT: 'ingest.staged:1' } });
    expect(killed.signal).toBe('SIGKILL');
    const left = await tablesOf(dir);
    expect(left.main).toHaveLength(1);
    expect(left.main[0]).toMatch(/^_tm_load__r\d{8}_\d{6}_[0-9a-f]{6}__orders$/);
    const runId = left.main[0].slice('_tm_load__'.length).split('__')[0];
    expect(left.staging).toEqual([`${runId}__orders`]);
    // The run stays resumable, but a resumed load builds its table (and the view over it) again: gc drops both.
    const gc = cliJson(dir, ['gc', '--reason', 'drop what the killed load left']);
    const { dataSchema, stagingSchema } = await withWorkspace(dir, async (ws) => ({ dataSchema: ws.engine.dataSchema, stagingSchema: ws.engine.stagingSchema }));
    const dropped = gc.staging_dropped.filter((s: { table: string }) => !isFileTable(s.table));
    expect(dropped).toEqual([
      { schema: stagingSchema, table: `${runId}__orders`, run_id: runId, run_status: 'computing', rows: 0, view: true },
      { schema: dataSchema, table: left.main[0], run_id: runId, run_status: 'computing', rows: expect.any(Number), view: false },
    ]);
    expect(dropped[1].rows).toBeGreaterThan(0);
    expect(await tablesOf(dir)).toEqual({ main: [], staging: [] });
    const audit = cliJson(dir, ['audit', 'log']);
    const last = (Array.isArray(audit) ? audit : audit.records).at(-1);
    expect(last.action).toBe('gc.staging');
    expect(JSON.stringify(last.details)).toContain(left.main[0]);

    // The re-issued command resumes the run, loads the file again and publishes.
    const rerun = cliJson(dir, ['ingest', 'orders', files[0]]);
    expect(rerun.run_id).toBe(runId);
    expect(rerun.status).toBe('published');
    expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
  }, 120_000);

  it('that fails on a value leaves the data schema and the state as they were', async () => {
    const dir = fresh();
    const files = dataFiles(dir, 'orders');
    const before = await snapshotState(dir);
    // An amount that is not a number: read only when the rows are loaded, not while planning.
    const bad = path.join(dir, files[2]);
    const lines = readFileSync(bad, 'utf8').trimEnd().split('\n');
    lines[1] = lines[1].replace(/^(\d+,\d+,)\d+/, '$1not_a_number');
    writeFileSync(bad, `${lines.join('\n')}\n`);
    const failed = cli(dir, ['ingest', 'orders', ...files, '--json']);
    expect(failed.code, failed.stderr).toBe(2);
    expect(failed.stderr).toContain(files[2]);
    expect(await snapshotState(dir)).toEqual(before);
    expect(await tablesOf(dir)).toEqual({ main: [], staging: [] });
  }, 120_000);

  it('is inserted, not renamed, when the live table appeared since it was staged', async () => {
    const dir = fresh();
    await withWorkspace(dir, async (ws) => {
      const e = ws.engine;
      const runId = 'r20260101_000000_abcdef';
      const orders = e.dialect.table(e.dataSchema, 'orders');
      await e.exec(`CREATE TABLE ${e.dialect.table(e.dataSchema, loadTableName(runId, 'orders'))} AS SELECT 1 AS order_id`);
      await e.exec(`CREATE TABLE ${orders} (order_id INTEGER)`);
      expect(await e.transaction((tx) => adoptLoadTable(tx, e, runId, 'orders'))).toBe(false);
      expect(await e.columns(e.dataSchema, loadTableName(runId, 'orders'))).not.toBeNull();
      // Without a live table it is renamed into place.
      await e.exec(`DROP TABLE ${orders}`);
      expect(await e.transaction((tx) => adoptLoadTable(tx, e, runId, 'orders'))).toBe(true);
      expect(await e.columns(e.dataSchema, loadTableName(runId, 'orders'))).toBeNull();
      expect(await e.query(`SELECT order_id FROM ${orders}`)).toEqual([{ order_id: 1 }]);
    });
  }, 60_000);

  it.runIf(engine.kind === 'postgres')(
    'staged side by side with another first load of the source, both publish (one renamed, the other inserted); one of the same partitions is refused',
    async () => {
      const dir = fresh();
      const files = dataFiles(dir, 'orders');
      const [a, b] = [files.slice(0, 2), files.slice(2)];
      await withWorkspace(dir, async (ws) => {
        const e = ws.engine;
        const runs = e.dialect.table(e.stateSchema, 'runs');
        // Publishes take the publish_seq row first (state/meta.ts): holding it lets both loads stage
        // their load tables and wait at their publish, so that neither sees the other's live table.
        const holder = await e.connect();
        await holder.exec('BEGIN');
        await holder.query(`SELECT value FROM ${e.dialect.table(e.stateSchema, 'meta')} WHERE key = 'publish_seq' FOR UPDATE`);
        const first = cliChild(dir, ['ingest', 'orders', ...a, '--json']);
        const second = cliChild(dir, ['ingest', 'orders', ...b, '--json']);
        try {
          await until(async () => Number((await e.query<{ n: number }>(`SELECT count(*) AS n FROM ${runs} WHERE status = 'publishing'`))[0].n) === 2);
          // Both staged in a load table of their own; readers see no orders table yet.
          const staged = await tablesOf(dir);
          expect(staged.main).toHaveLength(2);
          expect(staged.main.every((t) => t.startsWith('_tm_load__'))).toBe(true);
          // A third load of partitions the first holds is refused before it writes anything.
          const overlapping = cli(dir, ['ingest', 'orders', a[0], '--json']);
          expect(overlapping.code, overlapping.stderr).toBe(3);
        } finally {
          await holder.exec('ROLLBACK');
          await holder.close();
        }
        const results = [await first.done, await second.done];
        for (const r of results) expect(r.code, r.stderr).toBe(0);
        expect(results.map((r) => JSON.parse(r.stdout).status)).toEqual(['published', 'published']);
        expect(Number((await e.query<{ n: number }>(`SELECT count(*) AS n FROM ${runs} WHERE kind = 'ingest'`))[0].n)).toBe(2);
      });
      expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
      expect(await orderCounts(dir)).toEqual({ rows: csvRows(dir, files), repeated: 0 });
      const recorded = await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date');
      expect(recorded.recorded).toEqual(recorded.live);
      expect(recorded.recorded).toHaveLength(files.length);
      const verify = cli(dir, ['audit', 'verify', '--data']);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    },
    120_000,
  );
});

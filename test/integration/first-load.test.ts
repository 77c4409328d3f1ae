// A source's first load on DuckDB writes the files' rows once, into a load table in the data schema
// that the publish renames to the live table (src/execute/first-load.ts). These tests check what a
// user can see: the live table and its records are exactly those of any other load; no load table or
// staging is left behind; a kill at any point leaves no live table and no state, and the re-run
// publishes once; a refused load writes nothing live, and gc removes the load table a superseded
// attempt left.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adoptLoadTable, loadTableName } from '../../src/execute/first-load.js';
import { cleanup, cli, cliJson, copyProject, dataFiles, requireBuild, scaffoldShop, snapshotState, withWorkspace } from '../helpers/project.js';

let base: string;
const made: string[] = [];
beforeAll(async () => {
  requireBuild();
  base = await scaffoldShop('2026-03-01', '2026-03-05');
}, 120_000);
afterAll(() => cleanup(base, ...made));

function fresh(): string {
  const dir = copyProject(base);
  made.push(dir);
  return dir;
}

/** Tables of the data and staging schemas, by schema. */
async function tablesOf(dir: string): Promise<{ main: string[]; staging: string[] }> {
  return withWorkspace(dir, async (ws) => {
    const rows = await ws.engine.query<{ s: string; t: string }>(
      `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_schema IN ($1, $2) ORDER BY table_name`,
      [ws.engine.dataSchema, ws.engine.stagingSchema],
    );
    return { main: rows.filter((r) => r.s === ws.engine.dataSchema).map((r) => r.t), staging: rows.filter((r) => r.s === ws.engine.stagingSchema).map((r) => r.t) };
  });
}

/** Recorded rows and checksums of a dataset, and the same recomputed from its live table. */
async function recordedAndLive(dir: string, dataset: string, columns: string[], partitionColumn: string) {
  return withWorkspace(dir, async (ws) => {
    const d = ws.engine.dialect;
    const recorded = await ws.engine.query<{ partition: string; rows: number; checksum: string }>(`SELECT partition, rows, checksum FROM tidemark.partitions WHERE dataset = $1 ORDER BY partition`, [dataset]);
    const live = await ws.engine.query<{ partition: string; rows: number; checksum: string }>(
      `SELECT ${d.partitionKey(d.quote(partitionColumn), 'day')} AS partition, count(*) AS rows, ${d.checksum(columns)} AS checksum FROM ${d.quote(dataset)} GROUP BY 1 ORDER BY 1`,
    );
    const plain = (rows: { partition: string; rows: number; checksum: string }[]) => rows.map((r) => ({ ...r, rows: Number(r.rows) }));
    return { recorded: plain(recorded), live: plain(live) };
  });
}

async function repeatedOrderIds(dir: string): Promise<number> {
  return withWorkspace(dir, async (ws) => Number((await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT order_id FROM orders GROUP BY order_id HAVING count(*) > 1) d`))[0].n));
}

const ORDER_COLUMNS = ['order_id', 'customer_id', 'amount_cents', 'currency', 'status', 'order_date'];

describe('a first load', () => {
  it('renames its load table into place: the live table and its records are those of a load through an existing table, and nothing is left behind', async () => {
    const dir = fresh();
    const files = dataFiles(dir, 'orders');
    const first = cliJson(dir, ['ingest', 'orders', ...files.slice(0, 3)]);
    expect(first.status).toBe('published');
    expect(first.published).toHaveLength(3);
    expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
    const afterFirst = await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date');
    expect(afterFirst.recorded).toEqual(afterFirst.live);

    // The same files loaded in two steps, the second into the existing table (a view of the files),
    // record the same partitions as one load of all of them.
    const more = cliJson(dir, ['ingest', 'orders', ...files]);
    expect(more.published.map((p: { partition: string }) => p.partition)).toEqual(['2026-03-04', '2026-03-05']);
    const together = fresh();
    cliJson(together, ['ingest', 'orders', ...files]);
    expect(await recordedAndLive(dir, 'orders', ORDER_COLUMNS, 'order_date')).toEqual(await recordedAndLive(together, 'orders', ORDER_COLUMNS, 'order_date'));
    expect(await tablesOf(together)).toEqual({ main: ['orders'], staging: [] });

    const verify = cli(together, ['audit', 'verify', '--data']);
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
      expect(await repeatedOrderIds(dir)).toBe(0);
      const again = cliJson(dir, ['ingest', 'orders', ...files]);
      expect(again.files.every((f: { status: string }) => f.status === 'unchanged')).toBe(true);
    }, 120_000);
  });

  it('refused by validation leaves the data schema and the state as they were; gc removes (and audits) the load table a killed attempt left, which its resume would not use', async () => {
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
    const left = (await tablesOf(dir)).main;
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^_tm_load__r\d{8}_\d{6}_[0-9a-f]{6}__orders$/);
    const runId = left[0].slice('_tm_load__'.length).split('__')[0];
    // The run stays resumable (its staging view is kept), but a resumed load builds its table again: gc drops this one.
    const gc = cliJson(dir, ['gc', '--reason', 'drop what the killed load left']);
    const dropped = gc.staging_dropped.filter((s: { schema: string }) => s.schema === 'main');
    expect(dropped).toEqual([{ schema: 'main', table: left[0], run_id: runId, run_status: 'computing', rows: expect.any(Number), view: false }]);
    expect(gc.staging_dropped.filter((s: { schema: string }) => s.schema !== 'main')).toEqual([]);
    expect(dropped[0].rows).toBeGreaterThan(0);
    expect((await tablesOf(dir)).main).toEqual([]);
    const audit = cliJson(dir, ['audit', 'log']);
    const last = (Array.isArray(audit) ? audit : audit.records).at(-1);
    expect(last.action).toBe('gc.staging');
    expect(JSON.stringify(last.details)).toContain(left[0]);

    // The re-issued command resumes the run, loads the file again and publishes.
    const rerun = cliJson(dir, ['ingest', 'orders', files[0]]);
    expect(rerun.run_id).toBe(runId);
    expect(rerun.status).toBe('published');
    expect(await tablesOf(dir)).toEqual({ main: ['orders'], staging: [] });
  }, 120_000);

  it('is inserted, not renamed, when the live table appeared since it was staged', async () => {
    const dir = fresh();
    await withWorkspace(dir, async (ws) => {
      const e = ws.engine;
      const runId = 'r20260101_000000_abcdef';
      await e.exec(`CREATE TABLE ${e.dialect.table(e.dataSchema, loadTableName(runId, 'orders'))} AS SELECT 1 AS order_id`);
      await e.exec(`CREATE TABLE ${e.dialect.table(e.dataSchema, 'orders')} (order_id INTEGER)`);
      expect(await e.transaction((tx) => adoptLoadTable(tx, e, runId, 'orders'))).toBe(false);
      expect(await e.columns(e.dataSchema, loadTableName(runId, 'orders'))).not.toBeNull();
      // Without a live table it is renamed into place.
      await e.exec(`DROP TABLE ${e.dialect.table(e.dataSchema, 'orders')}`);
      expect(await e.transaction((tx) => adoptLoadTable(tx, e, runId, 'orders'))).toBe(true);
      expect(await e.columns(e.dataSchema, loadTableName(runId, 'orders'))).toBeNull();
      expect(await e.query(`SELECT order_id FROM ${e.dialect.table(e.dataSchema, 'orders')}`)).toEqual([{ order_id: 1 }]);
    });
  }, 60_000);
});

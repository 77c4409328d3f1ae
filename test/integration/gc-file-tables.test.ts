// On PostgreSQL, ingest reads a file through a per-process "file table" in the staging schema
// (src/engines/postgres/file-tables.ts), read by several statements: at plan time (partition
// discovery) and again when staging. Several processes share one store, so `tidemark gc` must tell
// the file tables of a process that is still running (kept: its ingest goes on reading them) from
// those of a process that is gone (dropped and audited). It tells them apart by the session-level
// advisory lock each engine holds while it has file tables, never by age.
//
// Process A is this test process with a workspace of its own (its own engine, its own sessions);
// process B is the real CLI. PostgreSQL only: DuckDB reads files directly and has no file tables.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DroppedStaging } from '../../src/api/gc.js';
import { FILE_TABLE_LOCK_CLASS } from '../../src/engines/postgres/file-table-owner.js';
import { ingest, planIngest } from '../../src/execute/ingest.js';
import type { Workspace } from '../../src/workspace.js';
import { cleanup, cli, cliAsync, cliJson, copyProject, days, REDUCED_TO, requireBuild, scaffoldShop, dataFiles, until, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const pgUrl = inject('pgUrl');
const skip = !pgUrl;
const title = (name: string) => (skip ? `${name} (skipped: no pgUrl, TIDEMARK_TEST_ENGINES excludes postgres)` : name);

const isFileTable = (name: string) => name.startsWith('_tm_file_');
/** The last three days of the project: a fix of the orders already loaded, so a later load (the live table exists). */
const FIX_DAYS = days('2026-03-14', REDUCED_TO);

/** The file tables in the project's staging schema, as any session sees them. */
async function fileTables(ws: Workspace): Promise<string[]> {
  const rows = await ws.engine.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [ws.engine.stagingSchema]);
  return rows.map((r) => r.t).filter(isFileTable);
}

type Dropped = DroppedStaging;

describe('gc and the file tables of PostgreSQL ingests', () => {
  let base = '';
  const made: string[] = [];
  /** A copy of a project whose orders are loaded (so the next ingest of them is a later load). */
  const fresh = () => {
    const dir = copyProject(base);
    made.push(dir);
    return dir;
  };

  beforeAll(async () => {
    if (skip) return;
    requireBuild();
    base = await scaffoldShop(undefined, undefined, { engine: { kind: 'postgres', url: pgUrl } });
    cliJson(base, ['ingest', 'orders', ...dataFiles(base, 'orders')]);
  }, 120_000);
  afterAll(() => cleanup(...(base ? [base] : []), ...made));

  it.skipIf(skip)(title('leave the file tables of a process still ingesting; its ingest then completes'), async () => {
    const dir = fresh();
    // In this process, paths are read from its own working directory.
    const absolute = writeOrdersFix(dir, FIX_DAYS).map((f) => path.join(dir, f));
    await withWorkspace(dir, async (ws) => {
      // A plans the ingest: it reads the files, so its file tables are loaded, and it is still running.
      const planned = await planIngest(ws, 'orders', absolute);
      expect(planned.files.map((f) => f.status)).toEqual(FIX_DAYS.map(() => 'changed'));
      const mine = await fileTables(ws);
      expect(mine).toHaveLength(FIX_DAYS.length);

      // B collects garbage meanwhile (asynchronously: A's sessions stay served while B runs).
      const gc = await cliAsync(dir, ['gc', '--reason', 'clean up while another process ingests', '--json']);
      expect(gc.code, gc.stderr).toBe(0);
      const report = JSON.parse(gc.stdout) as { staging_dropped: Dropped[] };
      expect(report.staging_dropped.filter((s) => isFileTable(s.table))).toEqual([]);
      expect(await fileTables(ws)).toEqual(mine);

      // A goes on: the ingest reads the same (still loaded) file tables again, stages and publishes.
      const result = await ingest(ws, 'orders', absolute, { reason: 'late fix' });
      expect(result.status).toBe('published');
      expect(result.published.map((p) => p.partition).sort()).toEqual(FIX_DAYS);
    });
    // A closed: it dropped its own file tables.
    expect(await withWorkspace(dir, fileTables)).toEqual([]);
  }, 120_000);

  it.skipIf(skip)(title('after the session holding its lock is lost, a running ingest loads again the files gc dropped, and completes'), async () => {
    const dir = fresh();
    const absolute = writeOrdersFix(dir, FIX_DAYS).map((f) => path.join(dir, f));
    await withWorkspace(dir, async (ws) => {
      await planIngest(ws, 'orders', absolute);
      const mine = await fileTables(ws);
      expect(mine).toHaveLength(FIX_DAYS.length);
      // The session holding A's owner lock ends (a dropped connection, a restarted server): PostgreSQL releases the lock.
      const instance = /^_tm_file_([0-9a-f]{8})_/.exec(mine[0])![1];
      const holder = `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = CAST($1 AS OID) AND objid = CAST($2 AS OID) AND objsubid = 2`;
      const key = [FILE_TABLE_LOCK_CLASS, Number.parseInt(instance, 16)];
      const [{ pid }] = await ws.engine.query<{ pid: number }>(holder, key);
      await ws.engine.query('SELECT pg_terminate_backend($1)', [pid]);
      await until(async () => (await ws.engine.query(holder, key)).length === 0);

      // To B, A's process is gone: its file tables go.
      const gc = await cliAsync(dir, ['gc', '--reason', 'A lost its session', '--json']);
      expect(gc.code, gc.stderr).toBe(0);
      expect((JSON.parse(gc.stdout) as { staging_dropped: Dropped[] }).staging_dropped.filter((s) => isFileTable(s.table)).map((s) => s.table)).toEqual(mine);
      expect(await fileTables(ws)).toEqual([]);

      // A takes its lock again on a new session and loads the files whose tables are gone before reading them.
      const result = await ingest(ws, 'orders', absolute, { reason: 'late fix' });
      expect(result.status).toBe('published');
      expect(result.published.map((p) => p.partition).sort()).toEqual(FIX_DAYS);
      expect(await ws.engine.query(holder, key)).toHaveLength(1);
    });
    expect(await withWorkspace(dir, fileTables)).toEqual([]);
  }, 120_000);

  it.skipIf(skip)(title('drop (and audit) the file tables of a killed process; its ingest resumes and publishes'), async () => {
    const dir = fresh();
    const fixes = writeOrdersFix(dir, FIX_DAYS);
    const killed = cli(dir, ['ingest', 'orders', ...fixes, '--json'], { env: { TIDEMARK_CRASH_AT: 'ingest.staged:1' } });
    expect(killed.signal).toBe('SIGKILL');
    const left = await withWorkspace(dir, fileTables);
    expect(left).toHaveLength(FIX_DAYS.length);

    // A dry run names them and drops nothing.
    const dry = cliJson<{ staging_dropped: Dropped[] }>(dir, ['gc', '--dry-run']);
    expect(dry.staging_dropped.filter((s) => isFileTable(s.table)).map((s) => s.table)).toEqual(left);
    expect(await withWorkspace(dir, fileTables)).toEqual(left);
    const human = cli(dir, ['gc', '--dry-run']);
    for (const table of left) expect(human.stdout).toContain(`${table} (files loaded by a process that is gone, `);

    const gc = cliJson<{ staging_dropped: Dropped[] }>(dir, ['gc', '--reason', 'drop what the killed ingest left']);
    const stagingSchema = await withWorkspace(dir, async (ws) => ws.engine.stagingSchema);
    const rowsPerFile = FIX_DAYS.map(() => expect.any(Number));
    expect(gc.staging_dropped.filter((s) => isFileTable(s.table))).toEqual(
      left.map((table, i) => ({ schema: stagingSchema, table, run_id: null, run_status: null, rows: rowsPerFile[i], view: false, file_table: true })),
    );
    expect(gc.staging_dropped.filter((s) => isFileTable(s.table)).every((s) => s.rows > 0)).toBe(true);
    // The killed run itself stays resumable: its staging is kept.
    expect(gc.staging_dropped.filter((s) => !isFileTable(s.table))).toEqual([]);
    expect(await withWorkspace(dir, fileTables)).toEqual([]);
    const audit = cliJson(dir, ['audit', 'log']);
    const last = (Array.isArray(audit) ? audit : audit.records).at(-1);
    expect(last.action).toBe('gc.staging');
    for (const table of left) expect(JSON.stringify(last.details)).toContain(table);

    // The re-issued command resumes the run, reads the files again and publishes.
    const rerun = cliJson(dir, ['ingest', 'orders', ...fixes]);
    expect(rerun.status).toBe('published');
    expect(await withWorkspace(dir, fileTables)).toEqual([]);
  }, 120_000);
});

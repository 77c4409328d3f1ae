// A MODEL with on_schema_change: add_columns gaining a column, and what that does to the recorded
// checksums of its other versions. A checksum hashes each row over the stored columns, and a row with
// one more column (even NULL) hashes differently, so the publish that adds the column recomputes, in
// its transaction, the recorded checksum of every version whose rows are kept — as an ingest does for
// a source (schema-evolution.test.ts). Without that, `audit verify --data` reported every older
// partition as changed, a later backfill republished partitions whose content had not changed, and a
// version from before the change could no longer be restored (its checksum check failed).
//
// The shop's daily_revenue gains `avg_order_cents`, tracked from 2026-03-10 on (NULL before). Before
// the change, 2026-03-03 was fixed and rebuilt: its version 1 is in history, replaced before the change.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  applyOrdersFix,
  builtShop,
  cli,
  copyProject,
  partitionsByKey,
  projectCopies,
  readModel,
  requireBuild,
  snapshotState,
  testEngines,
  withWorkspace,
  writeModel,
} from '../helpers/project.js';

/** Replaced (fixed and rebuilt) before the column is added: version 1 is in history. */
const FIXED_DAY = '2026-03-03';
/** The range whose backfill adds the column (the new column is filled from its first day on). */
const ADDED_FROM = '2026-03-10';
const ADDED_TO = '2026-03-11';
/** Not touched by the column-adding backfill; before ADDED_FROM, so the new SQL gives NULL there. */
const OTHER_FROM = '2026-03-05';
const OTHER_TO = '2026-03-06';
/** Every daily_revenue partition of the reduced shop (2026-02-15..2026-03-16). */
const PARTITIONS = 30;

const NEW_COLUMN = `,
  CASE WHEN o.order_date >= DATE '${ADDED_FROM}' THEN CAST(AVG(o.amount_cents) AS BIGINT) END AS avg_order_cents
FROM`;

/** daily_revenue with on_schema_change: add_columns, and its SQL with the new column at the end. */
function allowAddColumns(dir: string): void {
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8');
  const from = '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n';
  if (!yaml.includes(from)) throw new Error('the shop tidemark.yaml no longer declares daily_revenue as expected');
  writeFileSync(file, yaml.replace(from, `${from}    on_schema_change: add_columns\n`));
}

function addColumnToSql(dir: string): void {
  const sql = readModel(dir, 'daily_revenue');
  const edited = sql.replace(/\nFROM/, NEW_COLUMN);
  if (edited === sql) throw new Error('the shop daily_revenue.sql no longer has a FROM line');
  writeModel(dir, 'daily_revenue', edited);
}

const backfill = (dir: string, from: string, to: string, reason: string, env?: Record<string, string>) =>
  cli(dir, ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', reason, '--yes', '--json'], { env });

type Row = Record<string, string | null>;

/** The live rows of daily_revenue on `day`, every value as text, ordered by currency. */
async function liveRows(dir: string, day: string): Promise<Row[]> {
  return withWorkspace(dir, async (ws) => {
    const { engine } = ws;
    const columns = (await engine.columns(engine.dataSchema, 'daily_revenue'))!.map((c) => engine.dialect.quote(c.name));
    const rows = await engine.query<Record<string, unknown>>(
      `SELECT ${columns.map((c) => `CAST(${c} AS VARCHAR) AS ${c}`).join(', ')} FROM ${engine.dialect.table(engine.dataSchema, 'daily_revenue')} WHERE day = DATE '${day}' ORDER BY currency`,
    );
    return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)])));
  });
}

/** `audit verify --data --json`: exit code and its data verdict. */
function verifyData(dir: string): { code: number | null; ok: boolean; mismatches: { dataset: string; partition: string }[]; unaudited: { dataset: string; partition: string }[] } {
  const r = cli(dir, ['audit', 'verify', '--data', '--json']);
  const report = JSON.parse(r.stdout);
  return { code: r.code, ok: report.data.ok, mismatches: report.data.mismatches, unaudited: report.data.unaudited };
}

async function auditOf(dir: string, runId: string): Promise<Record<string, any>> {
  return withWorkspace(dir, async (ws) => {
    const [row] = await ws.engine.query<{ details: string }>(
      `SELECT details FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'audit')} WHERE run_id = $1 AND dataset = 'daily_revenue'`,
      [runId],
    );
    return JSON.parse(row.details) as Record<string, any>;
  });
}

describe.each(testEngines(inject('pgUrl')))('a model gaining a column keeps its recorded checksums true ($kind)', { timeout: 300_000 }, (engine) => {
  let preChange = '';
  let base = '';
  const copies = projectCopies(() => base);
  /** daily_revenue rows before the column existed: FIXED_DAY's version 1, ADDED_FROM's version 1. */
  const before: Record<string, Row[]> = {};
  let added: { run_id: string; published: { partition: string; version_after: number }[]; schema_changes?: unknown };

  beforeAll(async () => {
    requireBuild();
    preChange = await builtShop(undefined, undefined, { engine });
    allowAddColumns(preChange);
    before[FIXED_DAY] = await liveRows(preChange, FIXED_DAY);
    before[ADDED_FROM] = await liveRows(preChange, ADDED_FROM);
    applyOrdersFix(preChange, [FIXED_DAY]);
    const fixed = backfill(preChange, FIXED_DAY, FIXED_DAY, 'fix before the column');
    expect(fixed.code, fixed.stderr).toBe(0);
    addColumnToSql(preChange);
    base = copyProject(preChange);
    const r = backfill(base, ADDED_FROM, ADDED_TO, 'add avg_order_cents');
    expect(r.code, r.stderr).toBe(0);
    added = JSON.parse(r.stdout);
  }, 300_000);
  afterAll(() => {
    copies.track(preChange);
    copies.removeAll();
  });

  it('the publish that adds the column recomputes every recorded checksum: audit verify --data is clean, and the audit record and --json say so', async () => {
    expect(added.published.map((p) => [p.partition, p.version_after])).toEqual([
      [ADDED_FROM, 2],
      [ADDED_TO, 2],
    ]);
    const change = {
      added: [{ name: 'avg_order_cents', type: 'BIGINT' }],
      // Every partition's current version (read before the replaced ones moved to history), and the
      // version of FIXED_DAY replaced before the change.
      checksums_recomputed: { current: PARTITIONS, replaced: 1 },
    };
    const sealed = (await auditOf(base, added.run_id)).schema_change;
    // The record also seals each current version's new checksum, so the trail alone says what the
    // records must hold (audit verify --data follows it).
    expect(sealed).toEqual({ ...change, checksums: expect.any(Object) });
    expect(Object.keys(sealed.checksums)).toHaveLength(PARTITIONS);
    expect(added.schema_changes).toEqual([{ dataset: 'daily_revenue', ...change }]);
    expect((await liveRows(base, ADDED_FROM)).every((r) => r.avg_order_cents !== null)).toBe(true);
    expect((await liveRows(base, OTHER_FROM)).every((r) => r.avg_order_cents === null)).toBe(true);

    const verdict = verifyData(base);
    expect(verdict.mismatches).toEqual([]);
    expect(verdict.unaudited).toEqual([]);
    expect(verdict.code).toBe(0);
    expect(cli(base, ['audit', 'verify']).code).toBe(0);
  });

  it('a backfill of another range publishes nothing for partitions whose content did not change', async () => {
    const dir = copies.fresh();
    const recorded = partitionsByKey(dir, ['daily_revenue']);
    const r = backfill(dir, OTHER_FROM, OTHER_TO, 'recompute, nothing changed');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ published: [], unchanged: 2 });
    expect(partitionsByKey(dir, ['daily_revenue'])).toEqual(recorded);
  });

  it('versions from before the change restore, passing their checksum check, with the old rows and NULL in the new column', async () => {
    const dir = copies.fresh();
    for (const day of [FIXED_DAY, ADDED_FROM]) {
      const r = cli(dir, ['restore', 'daily_revenue', '--version', '1', '--from', day, '--to', day, '--reason', 'back to before the column', '--yes', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).status).toBe('published');
      expect(await liveRows(dir, day)).toEqual(before[day].map((row) => ({ ...row, avg_order_cents: null })));
    }
    expect(verifyData(dir).code).toBe(0);
  });

  it('--publish partition: the batch that adds the column recomputes the checksums, and the run result still reports it', async () => {
    const dir = copyProject(preChange);
    copies.track(dir);
    const r = cli(dir, ['backfill', 'daily_revenue', '--from', ADDED_FROM, '--to', ADDED_TO, '--reason', 'add avg_order_cents', '--publish', 'partition', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.published.map((p: { partition: string }) => p.partition)).toEqual([ADDED_FROM, ADDED_TO]);
    expect(result.schema_changes).toEqual(added.schema_changes);
    expect(verifyData(dir).code).toBe(0);
  });

  it('a publish killed before commit leaves the table without the column and every checksum as it was; issued again, it completes', async () => {
    const dir = copyProject(preChange);
    copies.track(dir);
    const state = await snapshotState(dir);
    const killed = backfill(dir, ADDED_FROM, ADDED_TO, 'add avg_order_cents', { TIDEMARK_CRASH_AT: 'publish.before_commit' });
    expect(killed.signal).toBe('SIGKILL');
    const after = await snapshotState(dir);
    expect(after.state).toEqual(state.state);
    expect(after.live).toEqual(state.live);
    const done = backfill(dir, ADDED_FROM, ADDED_TO, 'add avg_order_cents');
    expect(done.code, done.stderr).toBe(0);
    expect(verifyData(dir).code).toBe(0);
  });
});

// Model output conformance with on_schema_change: add_columns. A model that gains a column at the end
// publishes it (ALTER TABLE … ADD COLUMN in the publish transaction, audited); a dropped column still
// fails with the column-level difference, and without add_columns any change fails.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, cli, cliJson, requireBuild, snapshotState, tempDir, withWorkspace } from '../helpers/project.js';
import { FILES, SCHEMA_YAML, writeSchemaProject } from './schema-fixture.js';

const MODEL_YAML = (onSchemaChange: string) => `${SCHEMA_YAML}
  daily:
    kind: model
    sql: models/daily.sql
    partition: { column: day, grain: day }
    key: [day]
    on_schema_change: ${onSchemaChange}
`;
const WINDOW = `FROM {{ ref('orders') }} WHERE order_date >= {{ start }} AND order_date < {{ end }} GROUP BY 1`;
const BASE_SQL = `SELECT order_date AS day, count(*) AS orders ${WINDOW}`;
const WIDER_SQL = `SELECT order_date AS day, count(*) AS orders, sum(amount_cents) AS cents ${WINDOW}`;
const NARROWER_SQL = `SELECT order_date AS day, sum(amount_cents) AS cents ${WINDOW}`;

async function project(onSchemaChange: string): Promise<string> {
  const dir = tempDir('tidemark-schema-model-');
  await writeSchemaProject(dir, MODEL_YAML(onSchemaChange));
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  writeFileSync(path.join(dir, 'models', 'daily.sql'), BASE_SQL);
  cliJson(dir, ['ingest', 'orders', ...Object.values(FILES)]);
  cliJson(dir, ['run']);
  return dir;
}

const backfill = (dir: string) => cli(dir, ['backfill', 'daily', '--from', '2025-01-03', '--to', '2025-01-04', '--reason', 'add cents', '--yes', '--json']);

describe('on_schema_change: add_columns', () => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await project('add_columns');
  });
  afterAll(() => cleanup(dir));

  it('a dropped column still fails with the column-level difference, changing nothing', async () => {
    writeFileSync(path.join(dir, 'models', 'daily.sql'), NARROWER_SQL);
    const before = await snapshotState(dir);
    const r = backfill(dir);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('daily: the output of models/daily.sql no longer matches the live table');
    expect(r.stderr).toContain('- orders BIGINT (missing)');
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('columns in another order name both orders, changing nothing', async () => {
    writeFileSync(path.join(dir, 'models', 'daily.sql'), `SELECT count(*) AS orders, order_date AS day ${WINDOW.replace('GROUP BY 1', 'GROUP BY order_date')}`);
    const before = await snapshotState(dir);
    const r = backfill(dir);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('daily: the output of models/daily.sql no longer matches the live table: columns are in a different order: the live table has day, orders; the output orders, day');
    // A dry run refuses it too; with --json its one object on stdout is that error, not a plan that looks fine beside exit 4.
    const dry = cli(dir, ['backfill', 'daily', '--from', '2025-01-03', '--to', '2025-01-04', '--dry-run', '--json']);
    expect(dry.code).toBe(4);
    expect(JSON.parse(dry.stdout)).toMatchObject({ error: { code: 'VALIDATION', exit_code: 4 } });
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('the plan says a new column at the end will be added, before anything is written (plan, dry runs, the backfill)', async () => {
    writeFileSync(path.join(dir, 'models', 'daily.sql'), WIDER_SQL);
    const before = await snapshotState(dir);
    const notice = {
      code: 'ADDS_COLUMNS',
      dataset: 'daily',
      partitions: ['2025-01-03', '2025-01-04'],
      message: expect.stringContaining('daily: models/daily.sql returns 1 new column(s) at the end (cents HUGEINT); on_schema_change: add_columns adds them to the live table'),
      blocking: false,
    };
    const range = ['daily', '--from', '2025-01-03', '--to', '2025-01-04'];
    expect(cliJson(dir, ['plan', ...range]).guards).toEqual([expect.objectContaining(notice)]);
    expect(cliJson(dir, ['backfill', ...range, '--dry-run']).guards).toEqual([expect.objectContaining(notice)]);
    const human = cli(dir, ['backfill', ...range, '--dry-run']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Guards:\n.*daily: models\/daily\.sql returns 1 new column\(s\) at the end \(cents HUGEINT\)/);
    expect(human.stdout).toContain('Dry run: nothing was written.');
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('a new column at the end is added to the live table inside the publish, and audited', async () => {
    writeFileSync(path.join(dir, 'models', 'daily.sql'), WIDER_SQL);
    const r = backfill(dir);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.published.map((p: { partition: string }) => p.partition)).toEqual(['2025-01-03', '2025-01-04']);
    expect(result.notices.map((n: { code: string }) => n.code)).toEqual(['ADDS_COLUMNS']);
    await withWorkspace(dir, async (ws) => {
      expect((await ws.engine.columns('main', 'daily'))!.map((c) => `${c.name} ${c.type}`)).toEqual(['day DATE', 'orders BIGINT', 'cents HUGEINT']);
      // The history table holds the replaced rows with the new column empty.
      expect((await ws.engine.columns('tidemark_history', 'daily'))!.map((c) => c.name).sort()).toEqual(['_tm_replaced_seq', 'cents', 'day', 'orders']);
      const rows = await ws.engine.query<{ day: string; orders: number; cents: number | null }>(`SELECT CAST(day AS VARCHAR) AS day, orders, cents FROM daily ORDER BY day`);
      expect(rows.map((x) => [x.day, Number(x.orders), x.cents === null ? null : Number(x.cents)])).toEqual([
        ['2025-01-01', 2, null],
        ['2025-01-02', 1, null],
        ['2025-01-03', 2, 650],
        ['2025-01-04', 2, 1500],
        ['2025-01-05', 1, null],
      ]);
      const [audit] = await ws.engine.query<{ details: string }>(`SELECT details FROM tidemark.audit WHERE run_id = $1 AND dataset = 'daily'`, [result.run_id]);
      // The five partitions' recorded checksums are recomputed with the new column (schema-model-checksums.test.ts).
      const change = { added: [{ name: 'cents', type: 'HUGEINT' }], checksums_recomputed: { current: 5, replaced: 0 } };
      expect(JSON.parse(audit.details).schema_change).toEqual({ ...change, checksums: expect.any(Object) });
      expect(Object.keys(JSON.parse(audit.details).schema_change.checksums)).toHaveLength(5);
      expect(result.schema_changes).toEqual([{ dataset: 'daily', ...change }]);
    });
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);
  });
});

describe('on_schema_change: fail (the default)', () => {
  it('refuses a new column too, changing nothing', async () => {
    requireBuild();
    const dir = await project('fail');
    try {
      writeFileSync(path.join(dir, 'models', 'daily.sql'), WIDER_SQL);
      const before = await snapshotState(dir);
      const r = backfill(dir);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain('+ cents HUGEINT (new)');
      expect(await snapshotState(dir)).toEqual(before);
    } finally {
      cleanup(dir);
    }
  });
});

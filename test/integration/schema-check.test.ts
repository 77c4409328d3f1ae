// `tidemark schema check`: proves without writing that files map onto the current schema, counting
// files and rows per version and, per column, the rows whose values would not cast. Exit 4 on failure.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, cli, cliJson, requireBuild, snapshotState, tempDir } from '../helpers/project.js';
import { FILES, writeSchemaProject } from './schema-fixture.js';

describe('schema check', () => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = tempDir('tidemark-schema-check-');
    await writeSchemaProject(dir);
    cliJson(dir, ['ingest', 'orders', ...Object.values(FILES)]);
  });
  afterAll(() => cleanup(dir));

  it('checks every file of the ingest manifest and counts files and rows per version (exit 0)', () => {
    const before = cli(dir, ['schema', 'check', 'orders', '--json']);
    expect(before.code).toBe(0);
    const report = JSON.parse(before.stdout);
    expect(report.ok).toBe(true);
    expect(report.current_version).toBe(3);
    expect(report.versions).toEqual([
      { version: 3, current: true, files: 2, rows: 3 },
      { version: 2, current: false, files: 1, rows: 2 },
      { version: 1, current: false, files: 1, rows: 3 },
    ]);
    expect(report.files.map((f: { file: string; version: number }) => [f.file, f.version])).toEqual([
      [FILES.v1, 1],
      [FILES.v2, 2],
      [FILES.v3csv, 3],
      [FILES.v3parquet, 3],
    ]);
    const human = cli(dir, ['schema', 'check', 'orders']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Every file maps onto the current schema.');
  });

  it('counts, per column, the rows that would fail to cast, and exits 4 without writing', async () => {
    writeFileSync(
      path.join(dir, 'data', 'v1-bad.csv'),
      'order_id,customer,amount,legacy_flag,order_date\n20,100,abc,,2025-03-01\n21,x,1.5,,2025-03-01\n22,102,,,2025-03-01\n23,103,2,,2025-03-01\n',
    );
    const state = await snapshotState(dir);
    const r = cli(dir, ['schema', 'check', 'orders', 'data/v1-bad.csv', FILES.v3csv, '--json']);
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    const bad = report.files.find((f: { file: string }) => f.file === 'data/v1-bad.csv');
    expect(bad).toMatchObject({ version: 1, rows: 4, ok: false });
    // 'abc' is no DOUBLE and 'x' no BIGINT; an empty amount is NULL, not a failure.
    expect(bad.failures).toEqual([
      { column: 'customer', stage: 'read', type: 'BIGINT', rows: 1 },
      { column: 'amount', stage: 'read', type: 'DOUBLE', rows: 1 },
    ]);
    expect(report.files.find((f: { file: string }) => f.file === FILES.v3csv).ok).toBe(true);
    expect(report.versions.map((v: { files: number }) => v.files)).toEqual([1, 0, 1]);
    expect(r.stderr).toContain('1 of 2 file(s) do not map onto the current schema of orders: data/v1-bad.csv');
    // Its shape matched version 1: there is no suggested history entry to point at, its values are what is wrong.
    expect(r.stderr).toMatch(/^hint: fix the files \(each file's error or failures say what is wrong\)/m);
    expect(r.stderr).not.toContain('suggestion');
    expect(await snapshotState(dir)).toEqual(state);
  });

  it('reports a file of unknown shape with its difference and a suggested history entry (exit 4)', () => {
    writeFileSync(path.join(dir, 'data', 'odd.csv'), 'order_id,client,total,order_date\n30,1,2.5,2025-03-02\n');
    const r = cli(dir, ['schema', 'check', 'orders', 'data/odd.csv']);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('data/odd.csv: data/odd.csv matches no schema version of orders');
    expect(r.stdout).toContain('suggested history entry:');
    expect(r.stdout).toContain('currency: "CAST(NULL AS VARCHAR)"');
    expect(r.stderr).toMatch(/^hint: declare the missing shape under schema.history \(see the suggestion above\)/m);
    const json = JSON.parse(cli(dir, ['schema', 'check', 'orders', 'data/odd.csv', '--json']).stdout);
    expect(json.files[0].version).toBeNull();
    expect(json.files[0].diff.missing.map((c: { name: string }) => c.name)).toContain('customer_id');
    expect(json.files[0].diff.extra.map((c: { name: string }) => c.name)).toEqual(['client', 'total']);
  });

  it('skips manifest files no longer on disk and says so', () => {
    rmSync(path.join(dir, FILES.v2));
    const report = cliJson(dir, ['schema', 'check', 'orders']);
    expect(report.ok).toBe(true);
    expect(report.missing_files).toEqual([FILES.v2]);
    expect(report.versions.map((v: { files: number }) => v.files)).toEqual([2, 0, 1]);
  });

  it('refuses an unknown source (exit 2)', () => {
    expect(cli(dir, ['schema', 'check', 'nope']).code).toBe(2);
  });
});

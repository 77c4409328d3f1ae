/**
 * Drill of scenario 4 (history no longer matches the current schema). Its validation step is
 * "validate record counts and field mappings": the on-call engineer looks at the loaded rows with
 * `tidemark query`. A filter that matched far more rows than meant (every order, not the two
 * adapted ones) made the text output crash with "Maximum call stack size exceeded" (the column
 * widths were computed by spreading every cell into Math.max). Any result size must print.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { cleanup, cli, requireBuild, scaffoldShop, testEngines } from '../helpers/project.js';

const SLOW = { timeout: 60_000 };
const ROWS = 300_000;

describe.each(testEngines(inject('pgUrl')))('scenario 4 drill: validating with query ($kind)', SLOW, (engine) => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop('2026-04-29', '2026-04-30', { engine });
  }, 60_000);
  afterAll(() => dir && cleanup(dir, path.dirname(dir)));

  test(`a query returning ${ROWS} rows prints them all as a table`, () => {
    const sql = engine.kind === 'duckdb' ? `SELECT range AS n FROM range(${ROWS})` : `SELECT n FROM generate_series(0, ${ROWS - 1}) AS n`;
    const r = cli(dir, ['query', sql]);
    expect(r.stderr).not.toContain('error:');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(ROWS + 2); // header, rule, one line per row
    expect(lines[lines.length - 1].trim()).toBe(String(ROWS - 1));
  });
});

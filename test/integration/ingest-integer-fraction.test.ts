// A CSV value with a fraction in an integer column (a file of dollars where the schema says cents) is
// refused by ingest, as `schema check` refuses it, instead of being rounded into the column: exit 2
// naming the column and the value, and data and state exactly as before, on both engines. A whole
// number written with a fraction part ('2323.0') loses nothing and loads on both.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { builtShop, cleanup, cli, cliJson, requireBuild, snapshotState, testEngines, withWorkspace, type TestEngine } from '../helpers/project.js';

const HEADER = 'order_id,customer_id,amount_cents,currency,status,order_date';

describe.each(testEngines(inject('pgUrl')))('ingest of a fraction into an integer column ($kind)', (engine: TestEngine) => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-01', '2026-03-03', { engine });
  }, 300_000);
  afterAll(() => cleanup(dir));

  it('is refused naming the column, and changes nothing', async () => {
    const file = path.join(dir, 'data', 'orders', 'dollars-2026-03-04.csv');
    writeFileSync(file, `${HEADER}\n900000001,1,2323,USD,paid,2026-03-04\n900000002,2,12.5,USD,paid,2026-03-04\n`);
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', file]);
    expect(r.code).toBe(2);
    // DuckDB would round it and PostgreSQL refuses it in words that name no column: the guard names it, in plain words on both.
    expect(r.stderr).toMatch(/^error: .*dollars-2026-03-04\.csv: amount_cents is not an integer: 12\.5 \(declared BIGINT; ingest never rounds a value into it\)$/m);
    expect(r.stderr).not.toMatch(/Could not convert|Conversion Error|invalid input syntax/);
    expect(r.stderr).toMatch(/^hint: fix the value in the file; .*declare amount_cents as DOUBLE in a datasets\.orders\.schema\.history entry/m);
    expect(await snapshotState(dir)).toEqual(before);
    // `schema check` says the same about the same file.
    expect(cli(dir, ['schema', 'check', 'orders', file]).code).toBe(4);
  });

  // PostgreSQL refuses the text '2323.0' for a BIGINT on its own; read as a number first, it loads as on DuckDB.
  it('loads a whole number written with a fraction part', async () => {
    const file = path.join(dir, 'data', 'orders', 'whole-2026-03-05.csv');
    writeFileSync(file, `${HEADER}\n900000003,3,2323.0,USD,paid,2026-03-05\n`);
    expect(cliJson(dir, ['ingest', 'orders', file]).status).toBe('published');
    const rows = await withWorkspace(dir, (ws) => ws.engine.query<{ amount_cents: unknown }>(`SELECT amount_cents FROM ${ws.engine.dialect.table(ws.engine.dataSchema, 'orders')} WHERE order_id = 900000003`));
    expect(rows.map((r) => Number(r.amount_cents))).toEqual([2323]);
  });

  it('still loads the shop files unchanged', () => {
    // The example's own files went through the same cast in beforeAll; one more, read again, is a no-op.
    const file = path.join(dir, 'data', 'orders', 'orders-2026-03-01.csv');
    expect(readFileSync(file, 'utf8').startsWith(HEADER)).toBe(true);
    expect(cliJson(dir, ['ingest', 'orders', file]).status).toBe('noop');
  });
});

// An adapter's result on its way into an integer column is never rounded either. The shop's orders
// gain history versions whose amount_cents adapter gives text (`amount`, declared VARCHAR), a DOUBLE
// (`dollars * 100`) or a DOUBLE it rounds itself (`round(euros * 100)`). A result with a fraction
// fails the ingest naming the file, the column, the value and the adapter (exit 2; partitions,
// versions, audit and the live table exactly as before) and `schema check` counts it at the `adapt`
// stage without writing; a whole result loads, and so does an adapter that rounds explicitly.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanup, cli, cliJson, requireBuild, scaffoldShop, snapshotState, testEngines, withWorkspace, type TestEngine } from '../helpers/project.js';

const CURRENT = 'order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, status: VARCHAR, order_date: DATE';
const HISTORY = `      history:
        - version: 1
          columns: { order_id: BIGINT, customer_id: BIGINT, amount: VARCHAR, currency: VARCHAR, status: VARCHAR, order_date: DATE }
          adapt: { amount_cents: amount }
        - version: 2
          columns: { order_id: BIGINT, customer_id: BIGINT, dollars: DOUBLE, currency: VARCHAR, status: VARCHAR, order_date: DATE }
          adapt: { amount_cents: "dollars * 100" }
        - version: 3
          columns: { order_id: BIGINT, customer_id: BIGINT, euros: DOUBLE, currency: VARCHAR, status: VARCHAR, order_date: DATE }
          adapt: { amount_cents: "round(euros * 100)" }
`;

/** A CSV of one order in the shape whose amount column is `amountColumn`. */
function writeOrder(dir: string, name: string, amountColumn: string, orderId: number, amount: string, day: string): string {
  const rel = path.join('data', 'orders', name);
  writeFileSync(path.join(dir, rel), `order_id,customer_id,${amountColumn},currency,status,order_date\n${orderId},1,${amount},USD,paid,${day}\n`);
  return rel;
}

async function amountOf(dir: string, orderId: number): Promise<number[]> {
  const rows = await withWorkspace(dir, (ws) =>
    ws.engine.query<{ amount_cents: unknown }>(`SELECT amount_cents FROM ${ws.engine.dialect.table(ws.engine.dataSchema, 'orders')} WHERE order_id = ${orderId}`),
  );
  return rows.map((r) => Number(r.amount_cents));
}

describe.each(testEngines(inject('pgUrl')))('an adapter result with a fraction into an integer column ($kind)', (engine: TestEngine) => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop('2026-03-01', '2026-03-01', { engine });
    cliJson(dir, ['ingest', 'orders', path.join('data', 'orders', 'orders-2026-03-01.csv')]);
    const config = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(config, 'utf8');
    const line = `      current: { ${CURRENT} }\n`;
    expect(yaml).toContain(line);
    writeFileSync(config, yaml.replace(line, line + HISTORY));
  }, 300_000);
  afterAll(() => cleanup(dir));

  it('text with a fraction is refused naming the file, the column, the value and the adapter; nothing changes', async () => {
    const file = writeOrder(dir, 'text-2026-03-02.csv', 'amount', 900000001, '12.5', '2026-03-02');
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', file]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*text-2026-03-02\.csv: amount_cents is not an integer: 12\.5 \(as adapted from schema version 1; declared BIGINT; ingest never rounds a value into it\)$/m);
    expect(r.stderr).toMatch(/^hint: if rounding is intended, write it in the adapter, datasets\.orders\.schema\.history\[0\]\.adapt\.amount_cents: "amount": e\.g\. round\(…\) or CAST\(… AS BIGINT\)/m);
    expect(r.stderr).not.toMatch(/Could not convert|invalid input syntax/);
    expect(await snapshotState(dir)).toEqual(before);
    // schema check counts it at the adapt stage, without writing.
    const check = cli(dir, ['schema', 'check', 'orders', file, '--json']);
    expect(check.code, check.stderr).toBe(4);
    expect(JSON.parse(check.stdout).files[0]).toMatchObject({ version: 1, ok: false, failures: [{ column: 'amount_cents', stage: 'adapt', type: 'BIGINT', rows: 1 }] });
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('a whole number as text loads', async () => {
    const file = writeOrder(dir, 'text-2026-03-03.csv', 'amount', 900000002, '12', '2026-03-03');
    expect(cli(dir, ['schema', 'check', 'orders', file]).code).toBe(0);
    expect(cliJson(dir, ['ingest', 'orders', file]).status).toBe('published');
    expect(await amountOf(dir, 900000002)).toEqual([12]);
  });

  // PostgreSQL refuses the text '12.0' for a BIGINT on its own; read as a number first, it loads as on DuckDB.
  it('a whole number written with a fraction part as text loads', async () => {
    const file = writeOrder(dir, 'text-2026-03-04.csv', 'amount', 900000003, '12.0', '2026-03-04');
    expect(cliJson(dir, ['ingest', 'orders', file]).status).toBe('published');
    expect(await amountOf(dir, 900000003)).toEqual([12]);
  });

  it('a DOUBLE adapter result with a fraction is refused; a whole one loads', async () => {
    const file = writeOrder(dir, 'dollars-2026-03-05.csv', 'dollars', 900000004, '12.345', '2026-03-05');
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', file]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error: .*dollars-2026-03-05\.csv: amount_cents is not an integer: 1234\.5 \(as adapted from schema version 2; declared BIGINT; ingest never rounds a value into it\)$/m);
    expect(r.stderr).toMatch(/^hint: if rounding is intended, write it in the adapter, datasets\.orders\.schema\.history\[1\]\.adapt\.amount_cents: "dollars \* 100"/m);
    expect(await snapshotState(dir)).toEqual(before);
    const check = cli(dir, ['schema', 'check', 'orders', file, '--json']);
    expect(check.code, check.stderr).toBe(4);
    expect(JSON.parse(check.stdout).files[0]).toMatchObject({ version: 2, ok: false, failures: [{ column: 'amount_cents', stage: 'adapt', type: 'BIGINT', rows: 1 }] });
    expect(await snapshotState(dir)).toEqual(before);

    const whole = writeOrder(dir, 'dollars-2026-03-06.csv', 'dollars', 900000005, '12.5', '2026-03-06');
    expect(cliJson(dir, ['ingest', 'orders', whole]).status).toBe('published');
    expect(await amountOf(dir, 900000005)).toEqual([1250]);
  });

  it('an adapter that rounds explicitly loads what it rounds to', async () => {
    const file = writeOrder(dir, 'euros-2026-03-07.csv', 'euros', 900000006, '12.3456', '2026-03-07');
    expect(cli(dir, ['schema', 'check', 'orders', file]).code).toBe(0);
    expect(cliJson(dir, ['ingest', 'orders', file]).status).toBe('published');
    expect(await amountOf(dir, 900000006)).toEqual([1235]);
  });
});

// CSV files with another delimiter. A `;`-separated file (a European spreadsheet export) is refused
// for a source that did not declare it, the hint naming the `csv: { delimiter: … }` option, state
// unchanged; once the source declares `csv: { delimiter: ";" }`, it loads value by value (quoted
// fields holding the delimiter included), and `schema check` reads it the same way. The delimiter is
// part of the manifest's mapping: a file loaded under one is not a no-op once the source reads another
// (refused, saying both ways forward). The option is validated when tidemark.yaml loads, naming its YAML path.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateOrdersCsv } from '../../src/example/shop.js';
import { cleanup, cli, cliJson, requireBuild, scaffoldShop, snapshotState, testEngines, withWorkspace, type TestEngine } from '../helpers/project.js';

const COLUMNS = ['order_id', 'customer_id', 'amount_cents', 'currency', 'status', 'order_date'];
const DAY = '2026-03-02';

/** The shop's orders of `day` as rows of fields, with one status that holds the delimiter and a quote. */
function ordersOf(day: string): string[][] {
  const rows = generateOrdersCsv(day).trimEnd().split('\n').slice(1).map((l) => l.split(','));
  rows[0][4] = 'paid; "late", split';
  return rows;
}

/** Rows written with `delimiter`, quoted as CSV quotes them (the double quote, doubled inside). */
function writeDelimited(rows: string[][], delimiter: string): string {
  const field = (v: string) => (v.includes(delimiter) || v.includes('"') || v.includes(',') ? `"${v.replaceAll('"', '""')}"` : v);
  return [COLUMNS, ...rows].map((r) => r.map(field).join(delimiter)).join('\n').concat('\n');
}

async function ordersOfDay(dir: string, day: string): Promise<string[][]> {
  return withWorkspace(dir, async (ws) => {
    const q = ws.engine.dialect.quote;
    const rows = await ws.engine.query<Record<string, unknown>>(
      `SELECT ${COLUMNS.map((c) => `CAST(${q(c)} AS VARCHAR) AS ${q(c)}`).join(', ')} FROM ${ws.engine.dialect.table(ws.engine.dataSchema, 'orders')} WHERE CAST(order_date AS VARCHAR) = $1 ORDER BY order_id`,
      [day],
    );
    return rows.map((r) => COLUMNS.map((c) => String(r[c])));
  });
}

const YAML = (dir: string) => path.join(dir, 'tidemark.yaml');

/** Adds `line` to the orders source in tidemark.yaml (or takes it away again with the original text). */
function declareOnOrders(dir: string, line: string): string {
  const original = readFileSync(YAML(dir), 'utf8');
  const edited = original.replace(/^( {2}orders:\n {4}kind: source\n)/m, `$1    ${line}\n`);
  expect(edited).not.toBe(original);
  writeFileSync(YAML(dir), edited);
  return original;
}

describe.each(testEngines(inject('pgUrl')))('CSV files with another delimiter ($kind)', (engine: TestEngine) => {
  let dir: string;
  const semi = path.join('in', `orders-${DAY}.csv`);
  const semiGz = path.join('in', 'orders-2026-03-03.csv.gz');
  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop('2026-03-01', '2026-03-01', { engine });
    cliJson(dir, ['ingest', 'orders', path.join('data', 'orders', 'orders-2026-03-01.csv')]);
    mkdirSync(path.join(dir, 'in'));
    writeFileSync(path.join(dir, semi), writeDelimited(ordersOf(DAY), ';'));
    writeFileSync(path.join(dir, semiGz), gzipSync(writeDelimited(ordersOf('2026-03-03'), ';')));
  }, 300_000);
  afterAll(() => cleanup(dir));

  it('a ;-separated file is refused for a source that did not declare it, the hint naming the option', async () => {
    const before = await snapshotState(dir);
    for (const file of [semi, semiGz]) {
      const r = cli(dir, ['ingest', 'orders', file]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^error: ${file.replaceAll('.', '\\.')} is separated by semicolons, not commas`, 'm'));
      expect(r.stderr).toContain('hint: declare the delimiter in tidemark.yaml: datasets.orders.csv: { delimiter: ";" }');
      expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    }
    // A tab-separated .csv: naming it .tsv is the fix that needs no setting.
    const tab = path.join('in', 'orders-tabs.csv');
    writeFileSync(path.join(dir, tab), writeDelimited(ordersOf(DAY), '\t'));
    const r = cli(dir, ['ingest', 'orders', tab]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error: .*orders-tabs\.csv is separated by tabs, not commas/m);
    expect(r.stderr).toContain('hint: name it .tsv (read as tab-separated), or declare the delimiter in tidemark.yaml: datasets.orders.csv: { delimiter: "\\t" }');
    rmSync(path.join(dir, tab));
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('with csv: { delimiter: ";" } declared it loads value by value, plain or gzip; a comma file is then refused', async () => {
    const original = declareOnOrders(dir, 'csv: { delimiter: ";" }');
    try {
      const r = cliJson(dir, ['ingest', 'orders', semi, semiGz]);
      expect(r.status).toBe('published');
      expect(r.published.map((p: { partition: string }) => p.partition)).toEqual([DAY, '2026-03-03']);
      expect(await ordersOfDay(dir, DAY)).toEqual(ordersOf(DAY));
      expect(await ordersOfDay(dir, '2026-03-03')).toEqual(ordersOf('2026-03-03'));
      // schema check reads it with the same delimiter.
      const check = cli(dir, ['schema', 'check', 'orders', semi, '--json']);
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout).files[0]).toMatchObject({ ok: true, rows: ordersOf(DAY).length });
      // The source now reads ;-separated CSV: a comma-separated one is another dialect, said as such.
      const before = await snapshotState(dir);
      const commas = cli(dir, ['ingest', 'orders', path.join('data', 'orders', 'orders-2026-03-01.csv'), '--reload']);
      expect(commas.code).toBe(2);
      expect(commas.stderr).toMatch(/is separated by commas, not semicolons \(datasets\.orders\.csv\.delimiter is ";"\)/);
      expect(await snapshotState(dir)).toEqual(before);
    } finally {
      writeFileSync(YAML(dir), original);
    }
  });

  it('a .tsv file is tab-separated, whatever the source declares', async () => {
    const tsv = path.join('in', 'orders-2026-03-04.tsv');
    writeFileSync(path.join(dir, tsv), writeDelimited(ordersOf('2026-03-04'), '\t'));
    const original = declareOnOrders(dir, 'csv: { delimiter: ";" }');
    try {
      expect(cliJson(dir, ['ingest', 'orders', tsv]).status).toBe('published');
    } finally {
      writeFileSync(YAML(dir), original);
    }
    expect(await ordersOfDay(dir, '2026-03-04')).toEqual(ordersOf('2026-03-04'));
  });

  it('a file loaded under a declared delimiter is not taken as unchanged once the source reads another one', async () => {
    // Loaded above with csv: { delimiter: ";" }; tidemark.yaml no longer declares it.
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', semi, '--json']);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
    expect(r.stderr).toContain(`error: ${semi} was loaded when orders read CSV separated by semicolons, and is unchanged since: ${semi} is separated by semicolons, not commas (ingest reads comma-separated CSV)`);
    expect(r.stderr).toContain(
      `hint: to read it as it was loaded, declare datasets.orders.csv: { delimiter: ";" } in tidemark.yaml; or, if only the files loaded before are separated by semicolons, leave ${semi} out of this ingest (it is unchanged: its rows stay as they were loaded)`,
    );
    expect(await snapshotState(dir)).toEqual(before);
    // Declared again, the same bytes read the same way: a no-op, as before the change.
    const original = declareOnOrders(dir, 'csv: { delimiter: ";" }');
    try {
      const again = cliJson(dir, ['ingest', 'orders', semi, semiGz]);
      expect(again.status).toBe('noop');
      expect(again.files.map((f: { status: string }) => f.status)).toEqual(['unchanged', 'unchanged']);
    } finally {
      writeFileSync(YAML(dir), original);
    }
    expect(await snapshotState(dir)).toEqual(before);
  });

  it.runIf(engine.kind === 'duckdb')('the option is checked when tidemark.yaml loads, naming its path', () => {
    for (const bad of ['csv: { delimiter: ";;" }', "csv: { delimiter: '\\t' }", 'csv: { delimiter: "a" }', `csv: { delimiter: '"' }`, 'csv: { separator: ";" }']) {
      const original = declareOnOrders(dir, bad);
      try {
        const r = cli(dir, ['status']);
        expect(r.code, bad).toBe(2);
        expect(r.stderr, bad).toMatch(/^error: tidemark\.yaml:\d+: datasets\.orders\.csv/m);
      } finally {
        writeFileSync(YAML(dir), original);
      }
    }
  });
});

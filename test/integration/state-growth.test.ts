/**
 * The "day 400" drill: a project used daily keeps every run, task, outbox event, delivery, audit
 * record and manifest row it ever made. Commands that need a handful of those rows must read that
 * handful, not the whole table, or they slow down as the project ages. Shown without timing: with
 * TIDEMARK_TRACE_SQL=1 each statement prints how many rows it returned, and these reads must return
 * what they need, not everything the project accumulated.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanup, cli, cliJson, copyProject, dataFiles, requireBuild, scaffoldShop, stateSchemaOf, testEngines, writeOrdersFix } from '../helpers/project.js';

interface Statement {
  rows: number | null;
  sql: string;
}

/** The statements a command ran, from its TIDEMARK_TRACE_SQL lines. */
function traced(dir: string, args: string[]): Statement[] {
  const r = cli(dir, args, { env: { TIDEMARK_TRACE_SQL: '1' } });
  expect(r.code, `tidemark ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stderr
    .split('\n')
    .map((line) => /^\[sql\s+[\d.]+ ms(?: (\d+) rows)?\] (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ rows: m[1] === undefined ? null : Number(m[1]), sql: m[2] }));
}

/** `SELECT count(*) AS n FROM {s}.table …` on the project's state schema. */
const count = (dir: string, sql: string): number => Number(cliJson<{ n: number }[]>(dir, ['query', sql.replaceAll('{s}', stateSchemaOf(dir))])[0].n);

/** Daily cycles after the first load: one new orders file and one new fx file, then `run`. */
const FIRST_LOAD_DAYS = 24;

describe.each(testEngines(inject('pgUrl')))('reads that must not grow with the project age ($kind)', (target) => {
  let dir = '';
  const copies: string[] = [];
  const fresh = () => {
    const copy = copyProject(dir);
    copies.push(copy);
    return copy;
  };

  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop(undefined, undefined, { engine: target });
    // A consumer of daily_revenue, so runs leave outbox events and deliveries behind.
    const yaml = path.join(dir, 'tidemark.yaml');
    const text = readFileSync(yaml, 'utf8').replace('    key: [day, currency]\n    # Checks', '    key: [day, currency]\n    consumers: [refresh]\n    # Checks');
    writeFileSync(yaml, `${text}\nconsumers:\n  refresh: { kind: sql, sql: "SELECT 1" }\n`);
    const orders = dataFiles(dir, 'orders');
    const fx = dataFiles(dir, 'fx_rates');
    cliJson(dir, ['ingest', 'orders', ...orders.slice(0, FIRST_LOAD_DAYS)]);
    cliJson(dir, ['ingest', 'fx_rates', ...fx.slice(0, FIRST_LOAD_DAYS)]);
    cliJson(dir, ['run']);
    for (let i = FIRST_LOAD_DAYS; i < orders.length; i++) {
      cliJson(dir, ['ingest', 'orders', orders[i]]);
      cliJson(dir, ['ingest', 'fx_rates', fx[i]]);
      cliJson(dir, ['run']);
    }
  }, 240_000);

  afterAll(() => cleanup(dir, ...copies));

  it('the project has a history: many manifest rows, runs, deliveries and audit records', () => {
    expect(count(dir, `SELECT count(*) AS n FROM {s}.ingested_files WHERE dataset = 'orders'`)).toBe(dataFiles(dir, 'orders').length);
    expect(count(dir, `SELECT count(*) AS n FROM {s}.runs`)).toBeGreaterThan(15);
    expect(count(dir, `SELECT count(*) AS n FROM {s}.deliveries`)).toBeGreaterThan(5);
  });

  it('ingest of one changed file looks that file up in the manifest, not every file the source loaded', () => {
    const project = fresh();
    const [fixed] = writeOrdersFix(project, [dataFiles(project, 'orders').at(-2)!.match(/\d{4}-\d{2}-\d{2}/)![0]]);
    const manifestReads = traced(project, ['ingest', 'orders', fixed]).filter((s) => /FROM \S*ingested_files\S* WHERE dataset = \$1/.test(s.sql) && s.sql.startsWith('SELECT'));
    expect(manifestReads.length).toBeGreaterThan(0);
    for (const read of manifestReads) expect(read.rows, read.sql).toBe(1);
  });

  it('status reads the partitions snapshot and the recent runs once, not once per dataset', () => {
    const statements = traced(dir, ['status', '--json']);
    const snapshots = statements.filter((s) => /^SELECT dataset, partition, version, rows, checksum, inputs FROM \S*partitions\S*$/.test(s.sql.trim()));
    expect(snapshots).toHaveLength(1);
    // The newest runs are read without their plans and requests (most of a run row).
    expect(statements.filter((s) => /^SELECT \* FROM \S*runs\S* ORDER BY created_at/.test(s.sql))).toEqual([]);
  });

  it('gc with nothing left behind reads no run', () => {
    const statements = traced(dir, ['gc', '--dry-run', '--json']);
    for (const read of statements.filter((s) => /FROM \S*"runs"/.test(s.sql))) expect(read.rows, read.sql).toBe(0);
  });

  it('consumers status counts deliveries in the engine and reads only the rows it shows', () => {
    const deliveries = count(dir, `SELECT count(*) AS n FROM {s}.deliveries`);
    const reads = traced(dir, ['consumers', 'status', '--json']).filter((s) => /FROM \S*deliveries/.test(s.sql) && s.rows !== null);
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) expect(read.rows!, read.sql).toBeLessThan(deliveries);
  });

  it("lineage reads the audit records of the partition's runs, not the dataset's whole trail", () => {
    const first = dataFiles(dir, 'orders')[0].match(/\d{4}-\d{2}-\d{2}/)![0];
    const entries = cliJson<unknown[]>(dir, ['audit', 'lineage', 'daily_revenue', '--partition', first]);
    const records = count(dir, `SELECT count(*) AS n FROM {s}.audit WHERE dataset = 'daily_revenue'`);
    expect(records).toBeGreaterThan(entries.length);
    const reads = traced(dir, ['audit', 'lineage', 'daily_revenue', '--partition', first, '--json']).filter((s) => /FROM \S*audit\S* WHERE/.test(s.sql));
    expect(reads).toHaveLength(1);
    expect(reads[0].rows).toBe(entries.length);
  });
});

/**
 * Read commands read each thing once: `status` the runs in flight, the recent runs and the failed
 * tasks in one statement each (not once per dataset or per run), and `status`, `consumers status` and
 * `runs` a number of statements that does not grow with the consumers configured or the runs that
 * wait for them. Shown without timing, by the statements TIDEMARK_TRACE_SQL=1 prints.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanup, cli, copyProject, dataFiles, readModel, requireBuild, scaffoldShop, testEngines, writeModel, writeOrdersFix } from '../helpers/project.js';

/** The statements a command ran, from its TIDEMARK_TRACE_SQL lines (exit 4 is fine: a consumer is failing). */
function traced(dir: string, args: string[]): string[] {
  const r = cli(dir, args, { env: { TIDEMARK_TRACE_SQL: '1' } });
  expect([0, 4], `tidemark ${args.join(' ')}: ${r.stderr}`).toContain(r.code);
  return r.stderr
    .split('\n')
    .map((line) => /^\[sql\s+[\d.]+ ms(?: \d+ rows)?\] (.*)$/.exec(line)?.[1])
    .filter((sql): sql is string => sql !== undefined);
}

/** Runs a command whose exit code says only that a required consumer is failing (what these projects have). */
function run(dir: string, args: string[]): void {
  const r = cli(dir, args);
  expect([0, 1], `tidemark ${args.join(' ')}: ${r.stderr}`).toContain(r.code);
}

function addConsumers(dir: string, consumers: Record<string, string>): void {
  const yaml = path.join(dir, 'tidemark.yaml');
  let text = readFileSync(yaml, 'utf8');
  const names = Object.keys(consumers);
  const current = /^ {4}consumers: \[(.*)\]\n {4}# Checks/m.exec(text);
  const list = [...(current ? current[1].split(', ') : []), ...names].join(', ');
  text = current ? text.replace(current[0], `    consumers: [${list}]\n    # Checks`) : text.replace('    key: [day, currency]\n    # Checks', `    key: [day, currency]\n    consumers: [${list}]\n    # Checks`);
  if (!/^consumers:$/m.test(text)) text += '\nconsumers:\n';
  for (const [name, spec] of Object.entries(consumers)) text += `  ${name}: ${spec}\n`;
  writeFileSync(yaml, text);
}

describe.each(testEngines(inject('pgUrl')))('read commands read each thing once ($kind)', (engine) => {
  let base = '';
  const copies: string[] = [];
  const fresh = () => {
    const copy = copyProject(base);
    copies.push(copy);
    return copy;
  };

  beforeAll(async () => {
    requireBuild();
    base = await scaffoldShop(undefined, undefined, { engine });
    // A required consumer that never acknowledges: published runs stay waiting for it.
    addConsumers(base, { stuck: '{ kind: command, command: "false", max_attempts: 1, backoff_ms: 0 }' });
    run(base, ['ingest', 'orders', ...dataFiles(base, 'orders')]);
    run(base, ['ingest', 'fx_rates', ...dataFiles(base, 'fx_rates')]);
    run(base, ['run']);
    // Two failed runs, each with a failed task: a model reading a day too early fails validation.
    const sql = readModel(base, 'daily_revenue');
    writeModel(base, 'daily_revenue', sql.replace('o.order_date >= {{ start }}', "o.order_date >= {{ start }} - INTERVAL '1 day'"));
    expect(cli(base, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'fails', '--yes']).code).toBe(4);
    expect(cli(base, ['backfill', 'daily_revenue', '--from', '2026-03-05', '--to', '2026-03-05', '--reason', 'fails too', '--yes']).code).toBe(4);
    writeModel(base, 'daily_revenue', sql);
  }, 240_000);

  afterAll(() => cleanup(base, ...copies));

  it('status reads the runs in flight, the recent runs and the failed tasks once, and the partitions not per dataset', () => {
    const statements = traced(base, ['status', '--json']);
    expect(statements.filter((s) => /FROM \S*runs\S* WHERE status IN \('queued'/.test(s))).toHaveLength(1);
    // The recent runs' header columns (the trace cuts the statement short).
    expect(statements.filter((s) => s.startsWith('SELECT run_id, kind, run_key, status, actor'))).toHaveLength(1);
    expect(statements.filter((s) => /FROM \S*tasks/.test(s))).toHaveLength(1);
    // The planning snapshot and the partition records: not one read per dataset.
    expect(statements.filter((s) => /FROM \S*partitions/.test(s))).toHaveLength(2);
  });

  it('status, consumers status and runs: as many statements with more consumers and more runs waiting for them', () => {
    const commands = [['status', '--json'], ['consumers', 'status', '--json'], ['runs', '--json']];
    const before = commands.map((args) => traced(base, args).length);

    const more = fresh();
    addConsumers(more, { stuck_too: '{ kind: command, command: "false", max_attempts: 1, backoff_ms: 0 }', fine: '{ kind: command, command: "true" }' });
    // Another published run waiting for consumers: late data rebuilt by `run`.
    run(more, ['ingest', 'orders', ...writeOrdersFix(more, ['2026-03-10'])]);
    run(more, ['run']);
    const status = JSON.parse(cli(more, ['status', '--json']).stdout) as { awaiting_consumers: unknown[] };
    expect(status.awaiting_consumers.length).toBeGreaterThan(1);

    expect(commands.map((args) => traced(more, args).length)).toEqual(before);
  });
});

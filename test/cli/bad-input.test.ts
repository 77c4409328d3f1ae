// Bad input through the real CLI (issue 2): exit 2 (or 3 for guards and confirmation), exactly one
// `error:` line plus a `hint:` where there is a way forward, no stack trace, and data and state
// exactly as before.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtShop, cleanup, cli, cliJson, readModel, requireBuild, snapshotState, writeModel, type CliResult } from '../helpers/project.js';

let dir: string;
let yaml: string;
let dailySql: string;

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  yaml = readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8');
  dailySql = readModel(dir, 'daily_revenue');
}, 300_000);
afterAll(() => cleanup(dir));

const YAML = () => path.join(dir, 'tidemark.yaml');

interface Case {
  name: string;
  args: string[];
  exit: number;
  error: RegExp;
  hint?: RegExp;
  /** Breaks the project before the command; the project is restored afterwards. */
  setup?: () => void;
}

const backfill = (from: string, to: string, ...more: string[]) => ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', 'test', '--yes', ...more];

const CASES: Case[] = [
  { name: 'unknown dataset (backfill)', args: ['backfill', 'daily_revenu', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes'], exit: 2, error: /unknown dataset 'daily_revenu'/, hint: /daily_revenue/ },
  { name: 'unknown dataset (plan)', args: ['plan', 'nope', '--from', '2026-03-01', '--to', '2026-03-02'], exit: 2, error: /unknown dataset 'nope'/, hint: /datasets in this project/ },
  { name: 'unknown dataset (ingest)', args: ['ingest', 'nope', 'data/orders/orders-2026-03-01.csv'], exit: 2, error: /unknown dataset 'nope'/ },
  { name: 'unknown dataset (partitions)', args: ['partitions', 'nope'], exit: 2, error: /unknown dataset 'nope'/ },
  { name: 'malformed date', args: backfill('2026/03/01', '2026-03-02'), exit: 2, error: /malformed date '2026\/03\/01'/, hint: /2026-03-07/ },
  { name: 'impossible date', args: backfill('2026-02-30', '2026-03-02'), exit: 2, error: /impossible date '2026-02-30'/ },
  { name: '--from after --to', args: backfill('2026-03-05', '2026-03-02'), exit: 2, error: /--from 2026-03-05 is after --to 2026-03-02/, hint: /swap/ },
  { name: 'a range with no partitions', args: backfill('2027-01-01', '2027-01-05'), exit: 2, error: /no partitions between 2027-01-01 and 2027-01-05/, hint: /2026-02-15 to 2026-03-16/ },
  { name: 'backfilling a source', args: ['backfill', 'orders', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes'], exit: 2, error: /'orders' is a source/, hint: /tidemark ingest orders/ },
  // A relative path is read from the current folder, which --project does not change: the hint says so.
  { name: 'missing file for ingest', args: ['ingest', 'orders', 'data/orders/orders-2026-03-01.csv', 'data/orders/missing.csv'], exit: 2, error: /cannot read data\/orders\/missing\.csv: no such file/, hint: /a relative path is read from the current folder \(.*\), not from the project's; nothing was loaded/ },
  {
    name: 'a CSV missing a column',
    setup: () => {
      const csv = readFileSync(path.join(dir, 'data/orders/orders-2026-03-03.csv'), 'utf8');
      const noStatus = csv.split('\n').map((l) => l.split(',').filter((_, i) => i !== 4).join(',')).join('\n');
      writeFileSync(path.join(dir, 'data/orders/no-status.csv'), noStatus);
    },
    args: ['ingest', 'orders', 'data/orders/no-status.csv'],
    exit: 2,
    error: /no-status\.csv matches no schema version of orders; against version 1 \(closest\): missing status VARCHAR/,
    hint: /expected columns: order_id BIGINT/,
  },
  {
    name: 'a CSV with a bad value',
    setup: () => writeFileSync(path.join(dir, 'data/orders/bad-date.csv'), 'order_id,customer_id,amount_cents,currency,status,order_date\n1,2,3,USD,paid,2026-02-30\n'),
    args: ['ingest', 'orders', 'data/orders/bad-date.csv'],
    exit: 2,
    error: /bad-date\.csv/,
  },
  {
    name: 'an SQL error in a model',
    setup: () => writeModel(dir, 'daily_revenue', dailySql.replace('o.currency AS currency', 'o.currencyy AS currency')),
    args: backfill('2026-03-01', '2026-03-02'),
    exit: 2,
    error: /models\/daily_revenue\.sql: .*currencyy/,
    hint: /fix models\/daily_revenue\.sql/,
  },
  {
    name: 'an SQL syntax error in a model',
    setup: () => writeModel(dir, 'daily_revenue', dailySql.replace('SELECT', 'SELEC')),
    args: backfill('2026-03-01', '2026-03-02', '--downstream'),
    exit: 2,
    error: /models\/daily_revenue\.sql: Parser Error/,
  },
  {
    name: 'a config error names the YAML path',
    setup: () => writeFileSync(YAML(), yaml.replace('partition: { column: day, grain: day }\n    key: [day, currency]\n    # Checks', 'partition: { column: day, grain: weekly }\n    key: [day, currency]\n    # Checks')),
    args: ['status'],
    exit: 2,
    error: /tidemark\.yaml:\d+: datasets\.daily_revenue\.partition\.grain: expected one of hour, day, month/,
  },
  {
    name: 'an impossible pool window in the config',
    setup: () => writeFileSync(YAML(), yaml.replace('\npools:\n', '\npools:\n  nightly: { slots: 1, window: "25:00-26:00" }\n')),
    args: ['status'],
    exit: 2,
    error: /tidemark\.yaml:\d+: pools\.nightly\.window: a window looks like 22:00-06:00/,
  },
  {
    name: 'an unknown pool with --window is refused before any wait',
    args: backfill('2026-03-01', '2026-03-02', '--pool', 'nope', '--window', '03:00-03:01'),
    exit: 2,
    error: /unknown pool 'nope'/,
  },
  { name: 'an unknown pool on restore, before its plan', args: ['restore', 'daily_revenue', '--version', '1', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes', '--pool', 'nope'], exit: 2, error: /unknown pool 'nope'/ },
  { name: 'an impossible --window', args: backfill('2026-03-01', '2026-03-02', '--window', '24:00-25:00'), exit: 2, error: /a window looks like 22:00-06:00/, hint: /hours 00-23/ },
  {
    name: 'an unknown field in the config',
    setup: () => writeFileSync(YAML(), yaml.replace('guards: { max_backfill_partitions: 90 }', 'guards: { max_backfill_partitions: 90, max_partitions: 3 }')),
    args: ['status'],
    exit: 2,
    error: /guards: unknown field 'max_partitions'/,
  },
  {
    name: 'depends_on_past under depends_on, where a partition mapping goes',
    setup: () => writeFileSync(YAML(), yaml.replace('depends_on: { daily_revenue: { lookback: 6 } }', 'depends_on: { daily_revenue: { lookback: 6 }, revenue_7d: { depends_on_past: true } }')),
    args: ['status'],
    exit: 2,
    error: /datasets\.revenue_7d\.depends_on\.revenue_7d: unknown field 'depends_on_past'/,
    hint: /depends_on_past is a field of the model itself: datasets\.revenue_7d\.depends_on_past: true/,
  },
  {
    name: 'ref() to an unknown dataset',
    setup: () => writeModel(dir, 'daily_revenue', dailySql.replace("{{ ref('fx_rates') }}", "{{ ref('fx_ratez') }}")),
    args: ['status'],
    exit: 2,
    error: /models\/daily_revenue\.sql: ref\('fx_ratez'\) names an unknown dataset/,
    hint: /fx_rates/,
  },
  {
    name: 'a dependency cycle',
    setup: () => writeModel(dir, 'daily_revenue', dailySql.replace("WHERE o.status = 'paid'", "WHERE o.status = 'paid' AND o.currency IN (SELECT currency FROM {{ ref('revenue_7d') }})")),
    args: ['status'],
    exit: 2,
    error: /dependency cycle: (daily_revenue → revenue_7d → daily_revenue|revenue_7d → daily_revenue → revenue_7d)/,
  },
  { name: 'backfill without --reason', args: ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--yes'], exit: 2, error: /backfill needs --reason/, hint: /--reason "/ },
  { name: 'backfill without --yes and no TTY', args: ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x'], exit: 3, error: /confirmation needed/, hint: /--yes/ },
  { name: 'a full refresh (every partition)', args: backfill('2026-02-15', '2026-03-16'), exit: 3, error: /every partition of daily_revenue \(30\): that is a full refresh/, hint: /--allow-full-refresh/ },
  {
    name: 'more partitions than guards.max_backfill_partitions',
    setup: () => writeFileSync(YAML(), yaml.replace('max_backfill_partitions: 90', 'max_backfill_partitions: 10')),
    args: backfill('2026-03-01', '2026-03-11'),
    exit: 3,
    error: /11 partitions of daily_revenue, more than guards\.max_backfill_partitions \(10\)/,
    hint: /--allow-full-refresh/,
  },
  { name: 'a bad --max-parallel', args: backfill('2026-03-01', '2026-03-02', '--max-parallel', '0'), exit: 2, error: /--max-parallel must be a positive integer/ },
  { name: 'a missing argument (commander)', args: ['backfill'], exit: 2, error: /missing required argument 'dataset'/ },
  { name: '--last on an unknown dataset', args: ['plan', 'nope', '--last', '7d'], exit: 2, error: /unknown dataset 'nope'/ },
  { name: '--last 0d', args: ['plan', 'daily_revenue', '--last', '0d'], exit: 2, error: /--last 0d names no partition/, hint: /--last 1d/ },
  { name: '--last in hours on a daily dataset', args: ['plan', 'daily_revenue', '--last', '24h'], exit: 2, error: /--last 24h counts hours, but the dataset is partitioned by day/, hint: /--last 24d/ },
  { name: '--last in days on a monthly dataset', args: ['backfill', 'monthly_revenue', '--last', '7d', '--reason', 'x', '--yes'], exit: 2, error: /partitioned by month/, hint: /--last 7m/ },
  { name: '--last with --from', args: ['plan', 'daily_revenue', '--last', '7d', '--from', '2026-03-01'], exit: 2, error: /--last and --from both set where the range starts/ },
  { name: 'a malformed --last', args: ['plan', 'daily_revenue', '--last', 'week'], exit: 2, error: /--last looks like 7d/, hint: /partitioned by day: --last Nd/ },
  { name: '--last in weeks', args: ['plan', 'monthly_revenue', '--last', '2w'], exit: 2, error: /--last looks like 7d/, hint: /partitioned by month: --last Nm/ },
  // An empty --actor (a script's unset variable) would record nobody in the audit trail.
  { name: 'an empty --actor', args: ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--actor', ''], exit: 2, error: /--actor is empty/, hint: /--actor alice/ },
  // A word swallowed by --wait [seconds] would otherwise run every dataset.
  { name: '--wait swallowing a dataset', args: ['run', '--wait', 'daily_revenue'], exit: 2, error: /--wait takes a number of seconds, got 'daily_revenue'/, hint: /after the command's arguments/ },
  { name: 'a missing file in schema check', args: ['schema', 'check', 'orders', 'nope.csv'], exit: 2, error: /cannot read nope\.csv: no such file/, hint: /read from the current folder/ },
  // A mistyped run id is not an empty log.
  { name: 'audit log of an unknown run', args: ['audit', 'log', '--run', 'r_nope'], exit: 2, error: /no run 'r_nope'/, hint: /tidemark runs/ },
  { name: 'an unknown pool', args: backfill('2026-03-01', '2026-03-02', '--pool', 'nosuch'), exit: 2, error: /unknown pool 'nosuch'/, hint: /production, backfill/ },
  {
    name: 'init into a folder holding files it would write',
    args: ['init', '.'],
    exit: 2,
    error: /already has README\.md, data, models, tidemark\.yaml: init would overwrite them/,
    hint: /new or empty folder/,
  },
  { name: 'a write statement in query', args: ['query', 'DELETE FROM orders'], exit: 2, error: /query is read-only/, hint: /ingest, run, backfill or restore/ },
  { name: 'two statements in query', args: ['query', 'SELECT 1; DROP TABLE orders'], exit: 2, error: /query is read-only and runs one statement: this SQL holds more than one/, hint: /its own `tidemark query`/ },
  { name: 'two SELECTs in query', args: ['query', 'SELECT 1; SELECT 2'], exit: 2, error: /runs one statement/, hint: /run each SELECT as its own/ },
  // A misspelt SELECT is not told that data changes go through ingest.
  { name: 'a misspelt SELECT in query', args: ['query', 'selec 1'], exit: 2, error: /query is read-only: 'selec' does not start a SELECT/, hint: /^hint: check the first keyword's spelling/ },
  { name: '--detach on DuckDB', args: backfill('2026-03-01', '2026-03-02', '--detach'), exit: 2, error: /backfill --detach: workers need a multi-writer engine/, hint: /engine: \{ kind: postgres/ },
];

function lines(r: CliResult, prefix: string): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith(prefix));
}

describe('bad input', () => {
  it.each(CASES)('$name → exit $exit, one error line, nothing changed', async (c) => {
    const before = await snapshotState(dir);
    let r: CliResult;
    try {
      c.setup?.();
      r = cli(dir, c.args);
    } finally {
      writeFileSync(YAML(), yaml);
      writeModel(dir, 'daily_revenue', dailySql);
    }
    expect({ code: r.code, errors: lines(r, 'error:').length }, r.stderr).toEqual({ code: c.exit, errors: 1 });
    expect(lines(r, 'error:')[0]).toMatch(c.error);
    if (c.hint) expect(lines(r, 'hint:')[0] ?? '(no hint)').toMatch(c.hint);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(r.stderr.split('\n').filter((l) => l.trim() && !/^(error|hint):/.test(l) && !l.startsWith('(run with --help'))).toEqual([]);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('--detach on DuckDB is refused before the plan is printed', () => {
    const r = cli(dir, backfill('2026-03-01', '2026-03-02', '--detach'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('--allow-full-refresh lifts the full-refresh guard', () => {
    const plan = cliJson(dir, ['plan', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-16']);
    const blocking = (p: { guards: { code: string; blocking: boolean }[] }) => p.guards.filter((g) => g.blocking).map((g) => g.code);
    expect(blocking(plan)).toEqual(['FULL_REFRESH']);
    const allowed = cliJson(dir, ['plan', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-16', '--allow-full-refresh']);
    expect(blocking(allowed)).toEqual([]);
    const r = cli(dir, [...backfill('2026-02-15', '2026-03-16', '--allow-full-refresh'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).unchanged).toBe(30);
  });

  it.each([
    ['a partition already loaded (rows staged in a table)', '2026-03-06'],
    ['a new partition (the file read in place)', '2026-06-01'],
  ])('a value that does not convert, deep in a file, in %s: exit 2 naming the file; live data unchanged; the corrected file dismisses the failed attempt', async (_what, day) => {
    const file = `data/orders/convert-${day}.csv`;
    const good = `order_id,customer_id,amount_cents,currency,status,order_date\n${Array.from({ length: 50 }, (_, i) => `${9_000_000 + Number(day.slice(5, 7)) * 1000 + i},7,${100 + i},USD,paid,${day}`).join('\n')}\n`;
    writeFileSync(path.join(dir, file), `${good}abc,7,100,USD,paid,${day}\n`);
    const before = await snapshotState(dir);
    const r = cli(dir, ['ingest', 'orders', file]);
    expect(r.code).toBe(2);
    expect(lines(r, 'error:')).toEqual([expect.stringMatching(new RegExp(`^error: ${file.replace(/[.]/g, '\\.')}: .*'abc'`))]);
    expect(lines(r, 'hint:')[0]).toMatch(/fix the value in the file/);
    expect((await snapshotState(dir)).live).toEqual(before.live);
    const failed = cliJson<{ failed_runs: { run_id: string }[] }>(dir, ['status']).failed_runs;
    expect(failed).toHaveLength(1);

    // Corrected and ingested again: it loads, and the failed attempt (which can never resume) is dismissed.
    writeFileSync(path.join(dir, file), good);
    const fixed = cliJson<{ status: string; superseded: string[] }>(dir, ['ingest', 'orders', file]);
    expect(fixed).toMatchObject({ status: 'published', superseded: [failed[0].run_id] });
    expect(cliJson<{ failed_runs: unknown[] }>(dir, ['status']).failed_runs).toEqual([]);
    const runs = cliJson<{ run_id: string; status: string; error: string | null }[]>(dir, ['runs']);
    expect(runs.find((x) => x.run_id === failed[0].run_id)).toMatchObject({ status: 'cancelled', error: expect.stringMatching(/^superseded: /) });
  });

  it('a dry run records nothing, so it needs no --reason (backfill, restore); the real command still does', async () => {
    const before = await snapshotState(dir);
    const dry = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run: nothing was written.');
    const restoreDry = cli(dir, ['restore', 'daily_revenue', '--version', '1', '--from', '2026-03-01', '--to', '2026-03-02', '--dry-run']);
    expect(restoreDry.code, restoreDry.stderr).toBe(0);
    expect(restoreDry.stdout).toContain('Dry run: nothing was written.');
    expect(cli(dir, ['restore', 'daily_revenue', '--version', '1', '--from', '2026-03-01', '--to', '2026-03-02', '--yes']).stderr).toMatch(/^error: restore needs --reason/m);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('an engine error is one line; --debug adds the full engine message and stack', () => {
    const plain = cli(dir, ['query', 'SELECT * FROM no_such_table']);
    expect(plain.code).toBe(2);
    expect(plain.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: Catalog Error: .*no_such_table/)]);
    const debug = cli(dir, ['query', 'SELECT * FROM no_such_table', '--debug']);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/^error: /);
    expect(debug.stderr.trim().split('\n').length).toBeGreaterThan(1);
  });
});

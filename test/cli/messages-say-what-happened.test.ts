// What the CLI prints must be what happened, read at 2 a.m. by someone who copies the next command:
// a `cd` that pastes for a folder with spaces, an unlock that leaves a wider lock in place says so, a
// restore with nothing restorable does not claim "up to date", a diff total over partitions whose rows
// retention removed says what it sums, and a history entry with a wrong type names the type.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, applyOrdersFix, builtShop, cli, cliJson, dataFiles, sharedProject, scaffoldShop, tempDir, writeOrdersFix } from '../helpers/project.js';

const FIX_DAYS = ['2026-03-10', '2026-03-11', '2026-03-12'];

const copies = sharedProject(() => builtShop('2026-03-01', '2026-03-14'));

describe('init', () => {
  it('prints a `cd` that a shell takes as one folder, spaces and quotes included', () => {
    const parent = tempDir('tidemark-init-');
    copies.track(parent);
    const folder = "it's a shöp";
    const r = spawnSync(process.execPath, [BIN, 'init', folder], { cwd: parent, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const cd = /Next: (cd .*?) && tidemark/.exec(r.stdout)?.[1];
    expect(cd).toBe(`cd 'it'\\''s a shöp'`);
    const shell = spawnSync('sh', ['-c', `${cd} && pwd`], { cwd: parent, encoding: 'utf8' });
    expect(shell.status).toBe(0);
    expect(shell.stdout.trim()).toBe(path.join(parent, folder));
  });
});

describe('unlock', () => {
  it('names a wider lock that still covers part of the range', () => {
    const dir = copies.fresh();
    cliJson(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-10', '--reason', 'close']);
    cliJson(dir, ['lock', 'daily_revenue', '--from', '2026-03-03', '--to', '2026-03-04', '--reason', 'inner']);
    const r = cli(dir, ['unlock', 'daily_revenue', '--from', '2026-03-02', '--to', '2026-03-05', '--reason', 'reopen']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Unlocked daily_revenue 2026-03-03..2026-03-04');
    expect(r.stdout).toContain('Still locked: daily_revenue 2026-03-01..2026-03-10 (locked by');
    expect(r.stdout).toContain('tidemark unlock daily_revenue --from 2026-03-01 --to 2026-03-10');
    // And it is still locked: a backfill of 03-02 is refused.
    expect(cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-02', '--to', '2026-03-02', '--reason', 'x', '--yes']).code).toBe(3);
    cliJson(dir, ['lock', 'daily_revenue', '--from', '2026-03-03', '--to', '2026-03-04', '--reason', 'inner again']);
    const json = cliJson(dir, ['unlock', 'daily_revenue', '--from', '2026-03-02', '--to', '2026-03-05', '--reason', 'reopen']);
    expect(json.still_locked.map((l: { from_key: string; to_key: string }) => `${l.from_key}..${l.to_key}`)).toEqual(['2026-03-01..2026-03-10']);
  });
});

describe('restore and diff after retention', () => {
  let dir: string;
  let backfillRun: string;
  beforeAll(() => {
    dir = copies.fresh();
    const yaml = path.join(dir, 'tidemark.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace('guards: { max_backfill_partitions: 90 }', 'guards: { max_backfill_partitions: 90 }\nretention: { versions: 1, days: 0 }'));
    applyOrdersFix(dir, FIX_DAYS);
    backfillRun = cliJson(dir, ['backfill', 'daily_revenue', '--from', FIX_DAYS[0], '--to', FIX_DAYS[2], '--reason', 'fix', '--yes']).run_id;
    // Two restores of the first day give it versions 3 and 4; gc then removes its versions 1 and 2.
    const undo = cliJson(dir, ['restore', 'daily_revenue', '--run', backfillRun, '--from', FIX_DAYS[0], '--to', FIX_DAYS[0], '--reason', 'undo', '--yes']).run_id;
    cliJson(dir, ['restore', 'daily_revenue', '--run', undo, '--reason', 'redo', '--yes']);
    expect(cliJson(dir, ['gc', '--reason', 'retention']).versions_removed.length).toBeGreaterThan(0);
  }, 120_000);

  it('diff totals say they cover only the partitions whose rows are still held', () => {
    const r = cli(dir, ['diff', backfillRun]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note ${FIX_DAYS[0]}: rows of version 2 and version 1 were removed by retention`);
    expect(r.stdout).toMatch(/total revenue_cents: \d+ → \d+ \([-\d.]+%\) \(over 2 of 3 partitions; the others have no rows to sum, see the notes\)/);
  });

  it('a restore with nothing restorable says so instead of "up to date"', () => {
    const r = cli(dir, ['restore', 'daily_revenue', '--as-of', '2020-01-01', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to restore (see below)');
    expect(r.stdout).toContain('not restorable: 2026-03-01: did not exist at 2020-01-01');
    expect(r.stdout).not.toContain('up to date');
  });

  it('an unknown run points at `tidemark runs`', () => {
    const r = cli(dir, ['diff', 'r_no_such_run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hint: run ids are listed by `tidemark runs`/m);
  });
});

describe('schema history with a wrong column type', () => {
  it('names the version, the declared type and the way out', () => {
    const dir = copies.fresh();
    const yaml = path.join(dir, 'tidemark.yaml');
    const current = 'current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, status: VARCHAR, order_date: DATE }';
    const text = readFileSync(yaml, 'utf8');
    expect(text).toContain(current);
    writeFileSync(
      yaml,
      text.replace(
        current,
        `${current.replace('order_date: DATE }', 'order_date: DATE, channel: VARCHAR }')}\n      history:\n        - version: 1\n          columns: { order_id: BIGINT, customer_id: BIGINT, amount_cents: DATE, currency: VARCHAR, status: VARCHAR, order_date: DATE }\n          adapt: { channel: "'web'" }`,
      ),
    );
    const r = cli(dir, ['schema', 'check', 'orders']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: tidemark.yaml: datasets.orders.schema.history[0].columns.amount_cents: version 1 declares amount_cents DATE, which cannot become the current amount_cents BIGINT');
    expect(r.stderr).toMatch(/^hint: fix its type in version 1's columns, or add an adapter: adapt: \{ amount_cents: /m);
  });
});

describe('consumers verify', () => {
  it('says there is nothing to verify when no consumer follows what the run published, and names an unknown run by `tidemark runs`', () => {
    const dir = copies.fresh();
    applyOrdersFix(dir, FIX_DAYS);
    const run = cliJson(dir, ['backfill', 'daily_revenue', '--from', FIX_DAYS[0], '--to', FIX_DAYS[2], '--reason', 'fix', '--yes']);
    const verify = cli(dir, ['consumers', 'verify', run.run_id]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('No consumer follows the datasets this run published: nothing to verify.');
    const unknown = cli(dir, ['consumers', 'verify', 'r_nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^hint: `tidemark runs` lists run ids/m);
  });
});

describe('a month named by a day inside it', () => {
  it('the plan says the month partition is rebuilt whole (a notice, exit 0); named by its first day, no notice', () => {
    const dir = copies.fresh();
    const widened = cliJson(dir, ['plan', 'monthly_revenue', '--from', '2026-03-05', '--to', '2026-03-01']);
    expect(widened.guards).toEqual([
      {
        code: 'RANGE_WIDENED',
        dataset: 'monthly_revenue',
        partitions: ['2026-03-01'],
        message: 'monthly_revenue: --from 2026-03-05 lies in the month partition 2026-03-01, which is rebuilt whole',
        hint: 'partitions are whole months: name them by their first day (--from 2026-03-01)',
        blocking: false,
      },
    ]);
    expect(widened.datasets).toMatchObject([{ dataset: 'monthly_revenue', partitions: ['2026-03-01'] }]);
    const exact = cliJson(dir, ['plan', 'monthly_revenue', '--from', '2026-03-01', '--to', '2026-03']);
    expect(exact.guards).toEqual([]);
  });
});

describe('ingest --dry-run', () => {
  it('does not claim ~0 rows for files it has not counted', () => {
    const dir = copies.fresh();
    const file = path.join(dir, 'data', 'orders', 'orders-2026-03-15.csv');
    writeFileSync(file, `${readFileSync(path.join(dir, 'data', 'orders', 'orders-2026-03-14.csv'), 'utf8').replaceAll('2026-03-14', '2026-03-15')}`);
    const r = cli(dir, ['ingest', 'orders', file, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Plan: ingest of orders — 1 partition\(s\) in 1 dataset\(s\)$/m);
    expect(r.stdout).not.toContain('~0 rows');
    // Nothing was loaded: nothing is stale yet.
    expect(r.stdout).not.toContain('Models that read');
  });
});

describe('ingest names the models it made stale', () => {
  it('only models already built: a first load leaves them missing, not stale; a new day is to be built, not stale', async () => {
    const dir = await scaffoldShop('2026-03-01', '2026-03-04');
    copies.track(dir);
    const orders = dataFiles(dir, 'orders');
    const newDayFile = orders.pop()!; // 2026-03-04 arrives later
    const first = cli(dir, ['ingest', 'orders', ...orders]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).not.toContain('Models that read');
    cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
    cliJson(dir, ['run']);
    const late = cli(dir, ['ingest', 'orders', ...writeOrdersFix(dir, ['2026-03-02'])]);
    expect(late.code, late.stderr).toBe(0);
    expect(late.stdout).toContain('Models that read orders are stale now where they read the changed partitions (daily_revenue, monthly_revenue, revenue_7d)');
    // A new day: what reads it is to be built, not stale.
    const newDay = cli(dir, ['ingest', 'orders', newDayFile]);
    expect(newDay.code, newDay.stderr).toBe(0);
    expect(newDay.stdout).toContain('Models that read orders have partitions to build for the new ones (daily_revenue, monthly_revenue, revenue_7d): `tidemark run` builds them');
    expect(newDay.stdout).not.toContain('stale now');
    // Orders for a day with no FX rate: every model here joins fx_rates, so none has a partition for it,
    // and the ingest names none (it named all three, and `run` then had nothing to do).
    cliJson(dir, ['run']);
    const noRates = path.join(dir, 'data', 'orders', 'orders-2026-03-10.csv');
    writeFileSync(noRates, 'order_id,customer_id,amount_cents,currency,status,order_date\n2099000001,1,100,USD,paid,2026-03-10\n');
    const unmatched = cli(dir, ['ingest', 'orders', noRates]);
    expect(unmatched.code, unmatched.stderr).toBe(0);
    expect(unmatched.stdout).not.toContain('have partitions to build');
    expect(unmatched.stdout).toContain('No model that reads orders has a partition to build or rebuild for them: a model partition exists only where every dataset it reads has data');
    cliJson(dir, ['run']);
    expect(cli(dir, ['run', '--dry-run']).stdout).toContain('nothing to do');
  });
});

describe('a file given to the wrong source', () => {
  it('names the source whose columns it has and the command that loads it there, before the history entry; nothing is loaded', () => {
    const dir = copies.fresh();
    const fx = dataFiles(dir, 'fx_rates')[0];
    const before = cliJson(dir, ['partitions', 'orders']);
    const r = cli(dir, ['ingest', 'orders', fx]);
    expect(r.code).toBe(2);
    const hints = r.stderr.split('\n').filter((l) => l.startsWith('hint: '));
    expect(hints[0]).toBe(`hint: its columns are those of source fx_rates: if it is one of their files, \`tidemark ingest fx_rates ${fx}\``);
    expect(hints[1]).toMatch(/^hint: if it really is a file of orders: expected columns: order_id BIGINT, /);
    expect(cliJson(dir, ['partitions', 'orders'])).toEqual(before);
    // A file whose columns fit no source keeps the one hint it had.
    const odd = path.join(dir, 'data', 'odd.csv');
    writeFileSync(odd, 'a,b\n1,2\n');
    const other = cli(dir, ['ingest', 'orders', odd]);
    expect(other.code).toBe(2);
    expect(other.stderr.split('\n').filter((l) => l.startsWith('hint: '))).toHaveLength(1);
    expect(other.stderr).not.toContain('its columns are those of');
  });
});

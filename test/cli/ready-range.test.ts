// `tidemark ready DATASET --from A --to B`: a range is ready when every partition of it is ready by the
// single-partition rule (published, not held by a run in flight, not stale directly or through what it
// reads); otherwise exit 3 with one `error: not ready:` line counting the partitions that are not and
// naming the first few with their reasons. Late data in the middle of a range (a daily and a rolling
// model), a partition never built, a run holding part of the range, `--wait` until another process's
// `run` fixed it, bad input (exit 2, nothing changed), the `--json` shape, and the library call, which
// asks the same few queries however long the range. Real CLI subprocesses, on DuckDB and PostgreSQL.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it, vi } from 'vitest';
import { rangeReadiness } from '../../src/api/consumers.js';
import { generateOrdersCsv } from '../../src/example/shop.js';
import { applyOrdersFix, builtShop, cleanup, cli, cliAsync, cliChild, cliJson, days, scaffoldShop, sharedProject, snapshotState, testEngines, until, withWorkspace, type CliResult } from '../helpers/project.js';

const RUN_FIX = 'run `tidemark run` to rebuild';
/** The keys of `tidemark ready --partition … --json`, which each partition of a range keeps. */
const READINESS_KEYS = ['dataset', 'partition', 'ready', 'version', 'publish_seq', 'reason', 'held_by', 'stale_because'];

interface RangeJson {
  dataset: string;
  from: string;
  to: string;
  ready: boolean;
  reason: string | null;
  partitions: { dataset: string; partition: string; ready: boolean; version: number | null; reason: string | null; held_by: string[]; stale_because: { dataset: string; partition: string } | null }[];
}

const ready = (dir: string, dataset: string, from: string, to: string, ...more: string[]) => cli(dir, ['ready', dataset, '--from', from, '--to', to, ...more]);
const rangeJson = (r: CliResult) => JSON.parse(r.stdout) as RangeJson;
const notReady = (r: RangeJson) => r.partitions.filter((p) => !p.ready).map((p) => p.partition);
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('error: ')) ?? '';

describe.each(testEngines(inject('pgUrl')))('ready over a range of partitions ($kind)', (engine) => {
  const project = sharedProject(() => builtShop(undefined, undefined, { engine })); // 2026-02-15..2026-03-16, built

  it('late data in the middle: exactly the stale partitions are named (daily: that day; rolling: the 7 reading it); after `run` ready again', async () => {
    const dir = project.fresh();
    const all = ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe('ready: daily_revenue 2026-03-01..2026-03-07 (7 partition(s))\n');
    expect(ready(dir, 'revenue_7d', '2026-03-01', '2026-03-14').code).toBe(0);

    const late = '2026-03-04';
    applyOrdersFix(dir, [late]);
    const daily = ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07');
    expect(daily.code).toBe(3);
    expect(errorLine(daily.stderr)).toBe(`error: not ready: 1 of 7 partitions of daily_revenue 2026-03-01..2026-03-07 is not ready: ${late} is stale: orders ${late} changed v1 → v2; ${RUN_FIX}`);
    expect(daily.stderr).toContain('hint: add --wait --timeout SECONDS to wait for it');

    // revenue_7d d reads daily_revenue d-6..d: 03-04..03-10 read the late day, 03-01..03-03 and 03-11..03-14 do not.
    const rolling = ready(dir, 'revenue_7d', '2026-03-01', '2026-03-14');
    expect(rolling.code).toBe(3);
    const through = `is stale: it reads daily_revenue ${late}, which is stale: orders ${late} changed v1 → v2`;
    expect(errorLine(rolling.stderr)).toBe(
      `error: not ready: 7 of 14 partitions of revenue_7d 2026-03-01..2026-03-14 are not ready: 2026-03-04 ${through}; 2026-03-05 ${through}; 2026-03-06 ${through}; and 4 more; ${RUN_FIX}`,
    );
    const rollingJson = rangeJson(ready(dir, 'revenue_7d', '2026-03-01', '2026-03-14', '--json'));
    expect(notReady(rollingJson)).toEqual(days(late, '2026-03-10'));
    // A monthly model asked with days: the month of each, as backfill and plan read them.
    const monthly = rangeJson(ready(dir, 'monthly_revenue', '2026-02-20', '2026-03-10', '--json'));
    expect([monthly.from, monthly.to, notReady(monthly)]).toEqual(['2026-02-01', '2026-03-01', ['2026-03-01']]);

    // The library gives the CLI's answer, and asks as many queries for 3 weeks as for 3 days: one look, not one per partition.
    await withWorkspace(dir, async (ws) => {
      expect(await rangeReadiness(ws, 'revenue_7d', '2026-03-01', '2026-03-14')).toEqual(rollingJson);
      const queries = vi.spyOn(ws.engine, 'query');
      await rangeReadiness(ws, 'revenue_7d', '2026-03-04', '2026-03-06');
      const short = queries.mock.calls.length;
      queries.mockClear();
      await rangeReadiness(ws, 'revenue_7d', '2026-02-20', '2026-03-12');
      expect(queries.mock.calls.length).toBe(short);
      queries.mockRestore();
    });

    cliJson(dir, ['run']);
    expect(ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07').code).toBe(0);
    const after = ready(dir, 'revenue_7d', '2026-03-01', '2026-03-14');
    expect(after.code, after.stderr).toBe(0);
  });

  it('--json: the range and each partition in the single-partition shape, field by field', () => {
    const dir = project.fresh();
    applyOrdersFix(dir, ['2026-03-02']);
    const r = ready(dir, 'daily_revenue', '2026-03-01', '2026-03-03', '--json');
    expect(r.code).toBe(3);
    const json = rangeJson(r);
    expect(Object.keys(json)).toEqual(['dataset', 'from', 'to', 'ready', 'reason', 'partitions']);
    expect(json.dataset).toBe('daily_revenue');
    expect(json.from).toBe('2026-03-01');
    expect(json.to).toBe('2026-03-03');
    expect(json.ready).toBe(false);
    expect(json.reason).toBe(`1 of 3 partitions of daily_revenue 2026-03-01..2026-03-03 is not ready: 2026-03-02 is stale: orders 2026-03-02 changed v1 → v2; ${RUN_FIX}`);
    expect(json.partitions.map((p) => p.partition)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03']);
    for (const p of json.partitions) {
      expect(Object.keys(p)).toEqual(READINESS_KEYS);
      // Each element is what `--partition` answers for it.
      expect(p).toEqual(JSON.parse(cli(dir, ['ready', 'daily_revenue', '--partition', p.partition, '--json']).stdout));
    }
    const [fresh, stale] = json.partitions;
    expect(fresh).toEqual({ dataset: 'daily_revenue', partition: '2026-03-01', ready: true, version: 1, publish_seq: expect.any(Number), reason: null, held_by: [], stale_because: null });
    expect(stale).toEqual({
      dataset: 'daily_revenue',
      partition: '2026-03-02',
      ready: false,
      version: 1,
      publish_seq: expect.any(Number),
      reason: `daily_revenue 2026-03-02 is stale: orders 2026-03-02 changed v1 → v2; ${RUN_FIX}`,
      held_by: [],
      stale_because: { dataset: 'daily_revenue', partition: '2026-03-02', missing: false, changes: [{ upstream: 'orders', partition: '2026-03-02', from: 1, to: 2 }], replay_requested: false, via: [], protected_from_run: null },
    });
  });

  it('--last N: the newest N partitions as they are at each look, or before --to; as backfill --last counts them', () => {
    const dir = project.fresh(); // built through 2026-03-16
    const last = cli(dir, ['ready', 'daily_revenue', '--last', '7d']);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toBe('ready: daily_revenue 2026-03-10..2026-03-16 (7 partition(s))\n');
    applyOrdersFix(dir, ['2026-03-12']);
    const stale = cli(dir, ['ready', 'daily_revenue', '--last', '7d', '--json']);
    expect(stale.code).toBe(3);
    const json = rangeJson(stale);
    expect([json.from, json.to, notReady(json)]).toEqual(['2026-03-10', '2026-03-16', ['2026-03-12']]);
    // Counted back from --to: a range before the late day is ready.
    expect(cli(dir, ['ready', 'daily_revenue', '--last', '3d', '--to', '2026-03-11']).stdout).toBe('ready: daily_revenue 2026-03-09..2026-03-11 (3 partition(s))\n');
  });

  it('--last before anything is published: not ready (a job may wait for the first build), not bad input', async () => {
    const dir = await scaffoldShop(undefined, undefined, { engine });
    try {
      const r = cli(dir, ['ready', 'daily_revenue', '--last', '7d', '--json']);
      expect(r.code, r.stderr).toBe(3);
      expect(errorLine(r.stderr)).toBe('error: not ready: daily_revenue has no published partition');
      expect(JSON.parse(r.stdout)).toEqual({ dataset: 'daily_revenue', from: null, to: null, ready: false, reason: 'daily_revenue has no published partition', partitions: [] });
    } finally {
      cleanup(dir);
    }
  });

  it('a partition of the range never built is not ready, named as not published', () => {
    const dir = project.fresh();
    const newDay = '2026-03-17'; // orders arrive for a new day; no `run` yet
    const file = path.join('data', 'orders', `orders-${newDay}.csv`);
    writeFileSync(path.join(dir, file), generateOrdersCsv(newDay));
    cliJson(dir, ['ingest', 'orders', file]);
    const r = ready(dir, 'daily_revenue', '2026-03-14', newDay);
    expect(r.code).toBe(3);
    expect(errorLine(r.stderr)).toBe(`error: not ready: 1 of 4 partitions of daily_revenue 2026-03-14..${newDay} is not ready: ${newDay} is not published`);
    const json = rangeJson(ready(dir, 'daily_revenue', '2026-03-14', newDay, '--json'));
    expect(json.partitions.at(-1)).toMatchObject({ partition: newDay, ready: false, version: null, publish_seq: null, reason: `daily_revenue ${newDay} is not published` });
    expect(notReady(json)).toEqual([newDay]);
  });

  it('a run holding part of the range: not ready, naming the run; ready once it published', async () => {
    const dir = project.fresh();
    const fixed = ['2026-03-05', '2026-03-06'];
    applyOrdersFix(dir, fixed);
    // The backfill of two days of the range, held in its publish transaction (src/execute/crash.ts pause point).
    const pause = path.join(dir, 'paused-in-publish');
    const backfill = cliChild(dir, ['backfill', 'daily_revenue', '--from', fixed[0], '--to', fixed[1], '--reason', 'EUR fix', '--yes'], {
      env: { TIDEMARK_PAUSE_AT: 'publish.before_commit:1', TIDEMARK_PAUSE_FILE: pause },
    });
    try {
      await until(() => existsSync(pause) || backfill.child.exitCode !== null);
      expect(backfill.child.exitCode, backfill.stderr()).toBeNull();
      const runId = /^run (r\S+): backfill/m.exec(backfill.stderr())?.[1];
      expect(runId, backfill.stderr()).toBeDefined();

      const held = ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07');
      expect(held.code).toBe(3);
      const json = rangeJson(ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07', '--json'));
      expect(json.ready).toBe(false);
      if (engine.kind === 'postgres') {
        // Readers read the committed state: the run is in flight, and holds exactly its two days.
        const by = `is being rebuilt by run ${runId}`;
        expect(errorLine(held.stderr)).toBe(`error: not ready: 2 of 7 partitions of daily_revenue 2026-03-01..2026-03-07 are not ready: ${fixed[0]} ${by}; ${fixed[1]} ${by}`);
        expect(notReady(json)).toEqual(fixed);
        expect(json.partitions.filter((p) => !p.ready).map((p) => p.held_by)).toEqual([[runId], [runId]]);
      } else {
        // One writer holds the DuckDB file: the whole range is being written, and the holder names its run.
        expect(errorLine(held.stderr)).toMatch(new RegExp(`^error: not ready: the project's DuckDB file is held by another Tidemark process: pid ${backfill.child.pid} running 'tidemark backfill daily_revenue .*' \\(run ${runId}\\)`));
        expect(notReady(json)).toEqual(days('2026-03-01', '2026-03-07'));
        // A malformed key is bad input whether or not the file is held, for one partition as for a range.
        expect(cli(dir, ['ready', 'daily_revenue', '--partition', '2026-02-30']).code).toBe(2);
        expect(ready(dir, 'daily_revenue', '2026-03-07', '2026-03-01').code).toBe(2);
        // --last counts back from a newest partition nobody can read while the file is written.
        const last = cli(dir, ['ready', 'daily_revenue', '--last', '7d', '--json']);
        expect(last.code).toBe(3);
        expect(JSON.parse(last.stdout)).toMatchObject({ from: null, to: null, ready: false, partitions: [] });
        expect(cli(dir, ['ready', 'daily_revenue', '--last', '7x']).code).toBe(2);
      }
    } finally {
      rmSync(pause, { force: true });
    }
    const done = await backfill.done;
    expect(done.code, done.stderr).toBe(0);
    const after = ready(dir, 'daily_revenue', '2026-03-01', '2026-03-07');
    expect(after.code, after.stderr).toBe(0);
  });

  it('--wait: exits 3 at the deadline while stale; a waiting `ready` exits 0 once a `run` in another process rebuilt the range', async () => {
    const dir = project.fresh();
    const late = '2026-03-10';
    applyOrdersFix(dir, [late]);
    const timedOut = ready(dir, 'revenue_7d', '2026-03-08', '2026-03-14', '--wait', '--timeout', '1');
    expect(timedOut.code).toBe(3);
    expect(errorLine(timedOut.stderr)).toMatch(/^error: not ready: 5 of 7 partitions of revenue_7d 2026-03-08\.\.2026-03-14 are not ready: 2026-03-10 is stale: it reads daily_revenue 2026-03-10/);
    expect(timedOut.stderr).toContain('hint: still not ready after 1 s');

    const waiting = cliAsync(dir, ['ready', 'revenue_7d', '--from', '2026-03-08', '--to', '2026-03-14', '--wait', '--timeout', '300']);
    // --wait: on DuckDB the poller opens the project file now and then; `run` waits for it rather than failing.
    const run = await cliAsync(dir, ['run', '--wait', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const waited = await waiting;
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toBe('ready: revenue_7d 2026-03-08..2026-03-14 (7 partition(s))\n');
  });

  it('bad input: --from after --to, a malformed or impossible date, --partition with --from, half a range → exit 2, one error line, nothing changed', async () => {
    const dir = project.fresh();
    applyOrdersFix(dir, ['2026-03-03']); // something stale: a check that ran would say not ready (3)
    const before = await snapshotState(dir);
    const cases: [string[], string, string][] = [
      [['--from', '2026-03-07', '--to', '2026-03-01'], 'error: --from 2026-03-07 is after --to 2026-03-01', 'hint: swap them: --from is the first partition, --to the last (inclusive)'],
      [['--from', '2026/03/01', '--to', '2026-03-07'], "error: malformed date '2026/03/01'", 'hint: use an ISO date such as 2026-03-07'],
      [['--from', '2026-02-27', '--to', '2026-02-30'], "error: impossible date '2026-02-30'", 'hint: 2026-02 has 28 days'],
      [['--partition', '2026-03-03', '--from', '2026-03-01', '--to', '2026-03-07'], 'error: --partition names one partition and --from/--to/--last a range: give one of them', 'hint: tidemark ready daily_revenue --partition KEY, or --from KEY --to KEY, or --last 7d'],
      [['--partition', '2026-03-03', '--last', '7d'], 'error: --partition names one partition and --from/--to/--last a range: give one of them', 'hint: tidemark ready daily_revenue --partition KEY, or --from KEY --to KEY, or --last 7d'],
      [['--from', '2026-03-01'], 'error: a range needs both --from and --to (inclusive partition keys), or --last N', 'hint: e.g. tidemark ready daily_revenue --from 2026-03-01 --to 2026-03-01'],
      [['--last', '7x'], "error: --last looks like 7d, 24h or 3m (a count and the dataset's grain), got '7x'", 'hint: this dataset is partitioned by day: --last Nd, or give --from and --to'],
      [['--last', '2m'], 'error: --last 2m counts months, but the dataset is partitioned by day', 'hint: count days: --last 2d, or give --from and --to'],
      [['--last', '7d', '--from', '2026-03-01'], 'error: --last and --from both set where the range starts: give one of them', 'hint: --last 7d [--to KEY], or --from KEY --to KEY'],
    ];
    for (const [args, error, hint] of cases) {
      for (const extra of [[], ['--wait', '--timeout', '60']]) {
        const r = cli(dir, ['ready', 'daily_revenue', ...args, ...extra]);
        expect({ args, extra, code: r.code }).toEqual({ args, extra, code: 2 });
        expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([error]);
        expect(r.stderr).toContain(`${hint}\n`);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(r.stdout).toBe('');
      }
    }
    expect(await snapshotState(dir)).toEqual(before);
  });
});

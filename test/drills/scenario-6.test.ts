/**
 * Drill of scenario 6 (a big backfill starves production): an EUR fix for ten days is backfilled with
 * its dependents, throttled (`--rate`) in the backfill pool, when late orders for T-2 arrive and the
 * production `run` must get through. On DuckDB a one-shot command holds the file for its whole run,
 * throttled or not, so production is refused: the refusal used to say "wait, or run `tidemark serve`",
 * and serve itself is refused while the backfill holds the file. It must name the way that keeps the
 * backfill's work: `tidemark cancel RUN`, then serve, and re-issue the backfill through it (it resumes).
 * Then, on both engines: production is admitted while the throttled backfill computes, builds
 * everything the backfill does not hold and names what it left to it; the backfill runs in the backfill
 * pool and production in the production pool; it can be paused (cancel) and resumed (re-issued, same run,
 * its computed tasks reused), deferred off-peak (`--window` closed now: nothing computed); a backfill over
 * everything is refused (the limit); and the end state equals a project built from the same files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startServe, type ServeProcess } from '../e2e/serve-process.js';
import { builtShop, cleanup, cli, cliChild, cliJson, dataFiles, days, partitionsByKey, requireBuild, scaffoldShop, SHOP_DATASETS, testEngines, until, writeOrdersFix, type CliChild } from '../helpers/project.js';

const SLOW = { timeout: 300_000 };
const FIX = days('2026-04-11', '2026-04-20');
const LATE_DAY = '2026-04-28';
/** The fix's blast radius: 10 days, the rolling days reading them (04-11..04-26), April. */
const BACKFILL_TASKS = 10 + 16 + 1;
const BACKFILL = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--downstream', '--reason', 'INC-6 EUR fix', '--yes'];

/** 25 late paid orders for T-2, appended to its file. */
function lateOrders(dir: string): string {
  const rel = path.join('data', 'orders', `orders-${LATE_DAY}.csv`);
  const dayNum = Date.parse(`${LATE_DAY}T00:00:00Z`) / 86_400_000;
  const late = Array.from({ length: 25 }, (_, n) => `${dayNum * 100_000 + 90_001 + n},${700 + n},${2_000 + n * 41},${['USD', 'EUR', 'GBP'][n % 3]},paid,${LATE_DAY}`);
  writeFileSync(path.join(dir, rel), `${readFileSync(path.join(dir, rel), 'utf8')}${late.join('\n')}\n`);
  return rel;
}

interface RunRow {
  run_id: string;
  kind: string;
  status: string;
  pool: string;
  tasks: { computed: number; total: number };
}

/** A closed daily window that opens in two hours, local time, as `--window` reads it. */
function windowClosedNow(): string {
  const at = (h: number) => {
    const d = new Date(Date.now() + h * 3_600_000);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };
  return `${at(2)}-${at(3)}`;
}

describe.each(testEngines(inject('pgUrl')))('scenario 6 drill: production first while a big backfill runs ($kind)', SLOW, (engine) => {
  let dir: string;
  let scratch: string;
  let server: ServeProcess | undefined;
  const children: CliChild[] = [];
  const runOf = (id: string) => cliJson<RunRow[]>(dir, ['runs', '--limit', '50']).find((r) => r.run_id === id);
  /** A backfill in the background, once its run computes (its id from the progress lines). */
  const startBackfill = async (extra: string[]): Promise<{ child: CliChild; runId: string }> => {
    const child = cliChild(dir, [...BACKFILL, ...extra]);
    children.push(child);
    let runId = '';
    await until(() => {
      runId = /run (r\d{8}_\d{6}_[0-9a-f]+): backfill/.exec(child.stderr())?.[1] ?? '';
      if (child.child.exitCode !== null) throw new Error(`the backfill ended early: ${child.stderr()}`);
      return runId !== '' && /\d+\/\d+ \S+ \S+ computed/.test(child.stderr());
    });
    return { child, runId };
  };

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
  }, 240_000);
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.kill('SIGKILL');
    await server?.stop();
    if (dir) cleanup(dir, path.dirname(dir));
    if (scratch) cleanup(scratch, path.dirname(scratch));
  });

  test('production is admitted beside a throttled backfill, which pauses, resumes and ends correct', async () => {
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, FIX)]);
    const before = partitionsByKey(dir, SHOP_DATASETS);

    // The runbook's limits: the blast radius first; a backfill of everything is refused (exit 3).
    const plan = cliJson<{ datasets: { partitions: string[] }[] }>(dir, ['plan', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--downstream']);
    expect(plan.datasets.flatMap((d) => d.partitions)).toHaveLength(BACKFILL_TASKS);
    const everything = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-20', '--to', '2026-04-30', '--reason', 'everything', '--yes']);
    expect(everything.code).toBe(3);
    expect(everything.stderr).toMatch(/^hint: .*--allow-full-refresh/m);

    // The backfill starts, throttled to one partition every 2 s, in the backfill pool.
    let bf = await startBackfill(['--rate', '30/min']);
    const runId = bf.runId;
    const late = lateOrders(dir);

    if (engine.kind === 'duckdb') {
      // One process holds the DuckDB file for the whole run: production's ingest is refused, and the
      // hint must be the way that keeps the backfill's work, not "start serve" (refused as well).
      const refused = cli(dir, ['ingest', 'orders', late]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`^error: the project's DuckDB file is held by another Tidemark process: pid \\d+ running 'tidemark backfill daily_revenue .*' \\(run ${runId}\\)`, 'm'));
      expect(refused.stderr).toMatch(new RegExp(`^hint: .*\`tidemark cancel ${runId}\` stops that run between tasks, keeping what it computed: start \`tidemark serve\`, then re-issue the backfill \\(it resumes the run\\)`, 'm'));
      const refusedServe = cliChild(dir, ['serve', '--port', '0']);
      children.push(refusedServe);
      await until(() => refusedServe.child.exitCode !== null || /http:\/\//.test(refusedServe.stdout()));
      expect(refusedServe.child.exitCode, refusedServe.stdout()).toBe(1);
      const serveRefused = refusedServe.stderr();
      expect(serveRefused).toContain(`\`tidemark cancel ${runId}\` stops that run between tasks`);
      expect(serveRefused).not.toMatch(/run `tidemark serve`/);

      // The engineer follows it: cancel (nothing published), serve, re-issue the backfill through it.
      expect(cli(dir, ['cancel', runId]).code).toBe(0);
      const stopped = await bf.child.done;
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toContain(`error: run ${runId} was cancelled between tasks; nothing was published`);
      expect(partitionsByKey(dir, SHOP_DATASETS)).toEqual(before);
      server = await startServe(dir);
      bf = await startBackfill(['--rate', '30/min']);
      expect(bf.runId).toBe(runId);
    }

    // Production, while the backfill computes: the late file loads and `run` builds what it changed,
    // leaving to the backfill the partitions it holds (a notice naming it), not refused.
    const ingest = cliJson<{ published: { dataset: string; partition: string }[] }>(dir, ['ingest', 'orders', late]);
    expect(ingest.published.map((p) => `${p.dataset}/${p.partition}`)).toEqual([`orders/${LATE_DAY}`]);
    const prod = cliJson<{ run_id: string; published: { dataset: string; partition: string }[]; notices: { code: string; dataset: string; message: string }[] }>(dir, ['run']);
    expect(prod.published.map((p) => `${p.dataset}/${p.partition}`).sort()).toEqual([`daily_revenue/${LATE_DAY}`, 'revenue_7d/2026-04-28', 'revenue_7d/2026-04-29', 'revenue_7d/2026-04-30']);
    const left = prod.notices.filter((n) => n.code === 'SKIPPED_IN_FLIGHT');
    // The fix days (stale since the fix was ingested) and April (it reads the late day too); the
    // rolling days reading the fix days follow the backfill's own rebuild.
    expect(left.map((n) => n.dataset).sort()).toEqual(['daily_revenue', 'monthly_revenue']);
    for (const n of left) expect(n.message).toContain(`backfill run ${runId}`);
    const during = runOf(runId)!;
    expect(during).toMatchObject({ status: 'computing', pool: 'backfill' });
    expect(during.tasks.computed).toBeLessThan(BACKFILL_TASKS);
    expect(runOf(prod.run_id)).toMatchObject({ status: 'complete', pool: 'production' });

    // Paused: cancelled between tasks, its work kept; nothing of it published.
    expect(cli(dir, ['cancel', runId]).code).toBe(0);
    const paused = await bf.child.done;
    expect(paused.code).toBe(1);
    expect(paused.stderr).toContain(`error: run ${runId} was cancelled between tasks; nothing was published`);
    const kept = runOf(runId)!;
    expect(kept.status).toBe('cancelled');
    expect(kept.tasks.computed).toBeGreaterThan(0);

    // Deferred off-peak: re-issued with a window that is closed now, it resumes the run and waits
    // without computing anything; cancelled again, it is still the same run.
    const offPeak = cliChild(dir, [...BACKFILL, '--window', windowClosedNow()]);
    children.push(offPeak);
    await until(() => /outside window/.test(offPeak.stderr()) || offPeak.child.exitCode !== null);
    expect(offPeak.child.exitCode, offPeak.stderr()).toBeNull();
    expect(runOf(runId)!.tasks.computed).toBe(kept.tasks.computed);
    expect(cli(dir, ['cancel', runId]).code).toBe(0);
    expect((await offPeak.done).code).toBe(1);

    // Resumed at full speed: the same run, reusing what it computed, publishes once.
    const done = cliJson<{ run_id: string; status: string; reused: number }>(dir, BACKFILL);
    expect(done).toMatchObject({ run_id: runId, status: 'published' });
    expect(done.reused).toBeGreaterThanOrEqual(kept.tasks.computed);
    cliJson(dir, ['run']); // whatever read the backfill's partitions while it ran
    expect(cliJson(dir, ['run'])).toMatchObject({ run_id: null, published: [] });

    // The end state equals a project built from the same files in one go.
    await server?.stop();
    scratch = await scaffoldShop('2026-03-20', '2026-04-30', { engine });
    writeOrdersFix(scratch, FIX);
    lateOrders(scratch);
    cliJson(scratch, ['ingest', 'orders', ...dataFiles(scratch, 'orders')]);
    cliJson(scratch, ['ingest', 'fx_rates', ...dataFiles(scratch, 'fx_rates')]);
    cliJson(scratch, ['run']);
    const fresh = partitionsByKey(scratch, SHOP_DATASETS);
    const after = partitionsByKey(dir, SHOP_DATASETS);
    expect([...after].filter(([k, p]) => fresh.get(k)?.checksum !== p.checksum).map(([k]) => k)).toEqual([]);
    expect(after.size).toBe(fresh.size);
    expect([...after.values()].filter((p) => p.state !== 'published')).toEqual([]);
  });
});

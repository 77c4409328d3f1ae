/**
 * Drill of scenario 10 (consumers read a half-finished backfill): ten days of revenue are restated
 * with their rolling and monthly dependents while a dashboard and a reporting job keep reading. Replayed
 * with a real HTTP dashboard cache and a reporting gate (webhooks), the backfill throttled so that it
 * is visibly in flight, and a consumer polling the warehouse through `tidemark query` (on DuckDB through
 * `tidemark serve`, as the README says, since a one-shot backfill holds the file). Checked: the gate can
 * hold the backfill back (refused before anything is written) and is told before compute when it lets
 * it go, with the partitions to change; while it computes, every poll sees the complete old state (daily
 * and monthly totals agree), `ready` says the partitions are being rebuilt by that run and `status` lists
 * it; stopped (cancel), consumers hear it is over, and re-issued, that it starts again — before the fix
 * a resumed run said nothing until its publish, so a consumer told "cancelled" read on while the
 * partitions were being rebuilt; after its one publish, every poll sees the complete new state (the switch happens once, never
 * back), the dashboard is told once, with the run's partitions and their new versions, and serves the
 * new numbers, and `ready` says ready with the new version.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startCacheServer, type CacheServer } from '../helpers/cache-server.js';
import { startServe, type ServeProcess } from '../e2e/serve-process.js';
import { builtShop, cleanup, cliAsync, cliChild, days, requireBuild, testEngines, until, writeOrdersFix, type CliChild } from '../helpers/project.js';

const SLOW = { timeout: 300_000 };
const FIX = days('2026-04-11', '2026-04-20');
const SECRET = 'drill10-secret-7c1e';
const BACKFILL = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--downstream', '--reason', 'INC-10 EUR restatement', '--yes'];
/** One read of what a monthly report shows: April's daily total and April's monthly row, in one statement. */
const APRIL = `SELECT CAST((SELECT sum(revenue_usd_cents) FROM daily_revenue WHERE day >= DATE '2026-04-01') AS VARCHAR) AS daily, CAST((SELECT sum(revenue_usd_cents) FROM monthly_revenue WHERE month = DATE '2026-04-01') AS VARCHAR) AS monthly`;

describe.each(testEngines(inject('pgUrl')))('scenario 10 drill: consumers reading while a backfill runs ($kind)', SLOW, (engine) => {
  let dir: string;
  let cache: CacheServer;
  let gate: CacheServer;
  let server: ServeProcess | undefined;
  const children: CliChild[] = [];
  const env = { CACHE_SECRET: SECRET };
  const json = async <T>(args: string[]): Promise<{ code: number | null; value: T; stderr: string }> => {
    const r = await cliAsync(dir, [...args, '--json'], { env });
    return { code: r.code, value: (r.stdout.trim() ? JSON.parse(r.stdout) : null) as T, stderr: r.stderr };
  };
  const query = async <T>(sql: string): Promise<T[]> => {
    const r = await json<T[]>(['query', sql]);
    if (r.code !== 0) throw new Error(`query failed (${r.code}): ${r.stderr}`);
    return r.value;
  };
  const dayValue = async (day: string) => Number((await query<{ v: string }>(`SELECT CAST(sum(revenue_usd_cents) AS VARCHAR) AS v FROM daily_revenue WHERE day = DATE '${day}'`))[0]?.v ?? 0);

  beforeAll(async () => {
    requireBuild();
    cache = await startCacheServer({ secret: SECRET, dataset: 'daily_revenue', read: (day) => dayValue(day) });
    gate = await startCacheServer({ read: async () => null });
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [revenue_cache, reporting_gate]\n');
    writeFileSync(
      file,
      `${yaml}\nconsumers:\n` +
        `  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", secret: "\${CACHE_SECRET}", timeout_ms: 5000, backoff_ms: 50 }\n` +
        `  reporting_gate: { kind: webhook, url: "${gate.webhookUrl}", pause: true, timeout_ms: 5000, backoff_ms: 50 }\n`,
    );
    const fixed = await cliAsync(dir, ['ingest', 'orders', ...writeOrdersFix(dir, FIX)], { env });
    expect(fixed.code, fixed.stderr).toBe(0);
    // A DuckDB file has one writer: consumers read through the server while the backfill runs in it.
    if (engine.kind === 'duckdb') server = await startServe(dir, { env });
  }, 240_000);
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.kill('SIGKILL');
    await server?.stop();
    await cache?.close();
    await gate?.close();
    if (dir) cleanup(dir, path.dirname(dir));
  });

  test('consumers see the old or the new complete state, are gated and told, and ready follows the run', async () => {
    const old = (await query<{ daily: string; monthly: string }>(APRIL))[0];
    expect(old.daily).toBe(old.monthly);
    const shown = await cache.value(FIX[4]); // the dashboard caches the old number

    // The reporting team is mid-export: its gate refuses to pause, and the backfill does not start.
    gate.refusePause(true);
    const held = await cliAsync(dir, BACKFILL, { env });
    expect(held.code).toBe(3);
    expect(held.stderr).toMatch(/^error: refused: consumer 'reporting_gate' did not acknowledge run\.starting/m);
    expect(held.stderr).toMatch(/^hint: /m);
    expect((await query<{ daily: string }>(APRIL))[0]).toEqual(old);
    gate.refusePause(false);

    // Export done: the backfill goes, throttled, so that consumers read while it is in flight.
    let bf = cliChild(dir, [...BACKFILL, '--rate', '60/min', '--json'], { env });
    children.push(bf);
    let runId = '';
    await until(async () => {
      if (bf.child.exitCode !== null) throw new Error(`the backfill ended early: ${bf.stderr()}`);
      const runs = (await json<{ run_id: string; kind: string; status: string; tasks: { computed: number } }[]>(['runs'])).value ?? [];
      const mine = runs.find((r) => r.kind === 'backfill' && r.status === 'computing' && r.tasks.computed >= 2);
      runId = mine?.run_id ?? '';
      return runId !== '';
    });
    // Told before compute, with what will change: the gate paused (run.starting), then run.started.
    const starting = gate.received.filter((w) => w.body.run_id === runId || w.type === 'run.starting');
    expect(starting.map((w) => w.type).slice(-2)).toEqual(['run.starting', 'run.started']);
    expect(starting.at(-1)!.body.datasets).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
    expect(starting.at(-1)!.body.partitions).toEqual(expect.arrayContaining(FIX.map((d) => ({ dataset: 'daily_revenue', partition: d }))));

    // While it computes: the old state, whole; the partitions it rebuilds are not ready, and say by whom.
    const during = await json<{ ready: boolean; held_by: string[]; reason: string }>(['ready', 'daily_revenue', '--partition', FIX[4]]);
    expect(during.code).toBe(3);
    expect(during.value).toMatchObject({ ready: false, held_by: [runId] });
    expect(during.value.reason).toBe(`daily_revenue ${FIX[4]} is being rebuilt by run ${runId}`);
    const status = await json<{ active_runs: { run_id: string; kind: string }[] }>(['status']);
    expect(status.value.active_runs).toContainEqual(expect.objectContaining({ run_id: runId, kind: 'backfill' }));
    expect(await cache.value(FIX[4])).toBe(shown);

    // The reporting team needs the old numbers a while longer: the backfill is stopped between tasks.
    // Nothing of it was published, and the gate hears that the run is over (its signal to resume).
    expect((await cliAsync(dir, ['cancel', runId], { env })).code).toBe(0);
    const stopped = await bf.done;
    expect(stopped.code).toBe(1);
    expect((await query<{ daily: string }>(APRIL))[0]).toEqual(old);
    await until(() => gate.received.some((w) => w.type === 'run.cancelled' && w.body.run_id === runId));
    expect((await json<{ ready: boolean }>(['ready', 'daily_revenue', '--partition', FIX[4]])).value).toMatchObject({ ready: false }); // still stale: the fix awaits
    const paused = gate.received.length;

    // Re-issued later: the same run resumes (the gate is asked again), and consumers keep polling.
    bf = cliChild(dir, [...BACKFILL, '--rate', '60/min', '--json'], { env });
    children.push(bf);
    await until(() => gate.received.slice(paused).some((w) => w.type === 'run.started') || bf.child.exitCode !== null);
    // Told it starts again, not left to believe it is over (before the fix, a resumed run said nothing
    // until its publish).
    expect(gate.received.slice(paused).map((w) => w.type)).toEqual(['run.starting', 'run.started']);
    expect(gate.received.at(-1)!.body).toMatchObject({ run_id: runId, resumed: true });

    // A consumer polling all along: only whole states, old until the publish, new after it.
    const seen: string[] = [];
    while (bf.child.exitCode === null) {
      const r = (await query<{ daily: string; monthly: string }>(APRIL))[0];
      seen.push(r.daily === r.monthly ? r.daily : `mixed daily ${r.daily} / monthly ${r.monthly}`);
    }
    const done = await bf.done;
    expect(done.code, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as { run_id: string; published: { dataset: string; partition: string; version_after: number }[] };
    expect(result.run_id).toBe(runId);
    const now = (await query<{ daily: string; monthly: string }>(APRIL))[0];
    expect(now.daily).toBe(now.monthly);
    expect(now.daily).not.toBe(old.daily);
    seen.push(now.daily);
    expect(seen.filter((s) => s !== old.daily && s !== now.daily)).toEqual([]);
    const switched = seen.findIndex((s) => s === now.daily);
    expect(seen.slice(switched).every((s) => s === now.daily)).toBe(true); // once, never back
    expect(seen[0]).toBe(old.daily);

    // Told once, after the publish, with the run's partitions and their new versions.
    const published = cache.received.filter((w) => w.type === 'run.published' && w.body.run_id === runId);
    expect(published).toHaveLength(1);
    expect(published[0].signatureValid).toBe(true);
    const told = (published[0].body.partitions as { dataset: string; partition: string; version: number }[]).map((p) => `${p.dataset}/${p.partition}/v${p.version}`).sort();
    expect(told).toEqual(result.published.map((p) => `${p.dataset}/${p.partition}/v${p.version_after}`).sort());
    expect(gate.received.filter((w) => w.type === 'run.published' && w.body.run_id === runId)).toHaveLength(1); // resume
    expect(cache.received.filter((w) => w.body.run_id === runId).map((w) => w.type)).toEqual(['run.started', 'run.cancelled', 'run.started', 'run.published']);
    // The dashboard's next read of a day is a miss, answered from the warehouse: the new number.
    expect(await cache.value(FIX[4])).toBe(await dayValue(FIX[4]));
    expect(await cache.value(FIX[4])).not.toBe(shown);

    const after = await json<{ ready: boolean; version: number }>(['ready', 'daily_revenue', '--partition', FIX[4]]);
    expect(after.code).toBe(0);
    expect(after.value).toMatchObject({ ready: true, version: 2 });
    const runs = (await json<{ run_id: string; status: string }[]>(['runs'])).value;
    expect(runs.find((r) => r.run_id === runId)?.status).toBe('complete');
  });
});

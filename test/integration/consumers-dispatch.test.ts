// Issue 9: the dispatcher through the library, with an injected clock so retries and backoff are
// exercised without waiting: command, sql and file consumers; per-consumer order; dead letters and
// `redeliver --dead`; run completion; verification of a SQL consumer; readiness (`ready`).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersStatus, dispatch, readiness, redeliver, runsAwaitingConsumers, verifyRun } from '../../src/api/consumers.js';
import { backfill } from '../../src/api/operations.js';
import { loadProject } from '../../src/config/load.js';
import type { InternalDispatchOptions } from '../../src/consumers/dispatcher.js';
import type { InternalRunOptions } from '../../src/execute/run-context.js';
import { builtShop, cleanup, cli, cliJson, days, holdWorkspace, requireBuild, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const FIX_DAYS = days('2026-03-01', '2026-03-05');
const REQUEST = { dataset: 'daily_revenue', from: FIX_DAYS[0], to: FIX_DAYS[FIX_DAYS.length - 1] };
const DAY_TOTAL = 'SELECT sum(revenue_usd_cents) FROM daily_revenue WHERE day = CAST($1 AS DATE)';

let dir: string;

const CONSUMERS = `
consumers:
  notifier:
    kind: command
    command: test -f ok.flag && mkdir -p events && cat > "events/$TIDEMARK_EVENT_ID.json" && echo "$TIDEMARK_EVENT $TIDEMARK_RUN_ID $TIDEMARK_DATASETS $TIDEMARK_PARTITIONS" >> events.log
    max_attempts: 3
    backoff_ms: 60000
  summary:
    kind: sql
    sql: CREATE OR REPLACE TABLE revenue_summary AS SELECT day, sum(revenue_usd_cents) AS total FROM daily_revenue GROUP BY day
    verify: { sql: "SELECT total FROM revenue_summary WHERE day = CAST($1 AS DATE)", warehouse: "${DAY_TOTAL}" }
  marker:
    kind: file
    path: ready/daily_revenue.json
`;

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, FIX_DAYS)]);
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [notifier, summary, marker]\n');
  writeFileSync(file, yaml + CONSUMERS);
}, 300_000);
afterAll(() => cleanup(dir));

/** A fake clock (the dispatcher's test hooks): sleeping advances it instantly, and every sleep is recorded. */
function fakeClock(): Required<Pick<InternalDispatchOptions, 'now' | 'sleep'>> & { sleeps: number[] } {
  let t = Date.now();
  const sleeps: number[] = [];
  return { now: () => t, sleep: async (ms: number) => void (sleeps.push(ms), (t += ms)), sleeps };
}

describe('dispatching the outbox', () => {
  let runId: string;

  it('delivers to each consumer independently, in order, with backoff, and dead-letters after max_attempts', async () => {
    await withWorkspace(dir, async (ws) => {
      const result = await backfill(ws, REQUEST, { reason: 'EUR amount fix' });
      runId = result.run_id!;
      // run.started was tried once before compute (the command fails: no ok.flag), and waits for its backoff.
      const early = await ws.engine.query<{ consumer: string; status: string; attempts: number }>(
        `SELECT d.consumer, d.status, d.attempts FROM tidemark.deliveries d JOIN tidemark.outbox o USING (event_id) WHERE o.run_id = $1 AND o.event_type = 'run.started'`,
        [runId],
      );
      expect(early.map((d) => ({ ...d, attempts: Number(d.attempts) }))).toEqual([{ consumer: 'notifier', status: 'pending', attempts: 1 }]);
      const clock = fakeClock();
      const report = await dispatch(ws, { ...clock, budgetMs: 3_600_000 });

      // sql and file consumers only take run.published, and were not held up by the failing command.
      const ok = report.attempts.filter((a) => a.status === 'delivered').map((a) => `${a.consumer} ${a.event_type}`);
      expect(ok.sort()).toEqual(['marker run.published', 'summary run.published']);
      // The command fails (no ok.flag): run.started's attempts 2 and 3, dead, then 3 of run.published, dead.
      const notifier = report.attempts.filter((a) => a.consumer === 'notifier');
      expect(notifier.map((a) => `${a.event_type}#${a.attempt}:${a.status}`)).toEqual([
        'run.started#2:pending',
        'run.started#3:dead',
        'run.published#1:pending',
        'run.published#2:pending',
        'run.published#3:dead',
      ]);
      // Exponential backoff, on the injected clock (the first wait is what is left of the early attempt's).
      expect(clock.sleeps.slice(1)).toEqual([120_000, 60_000, 120_000]);
      expect(clock.sleeps[0]).toBeGreaterThan(0);
      expect(clock.sleeps[0]).toBeLessThanOrEqual(60_000);
      expect(report.dead).toBe(2);

      // A required consumer is dead-lettered: the run is published, not complete.
      const waiting = await runsAwaitingConsumers(ws);
      expect(waiting.map((r) => r.run_id)).toEqual([runId]);
      expect(waiting[0].waiting_for).toEqual([{ consumer: 'notifier', status: 'dead', attempts: 3, last_error: expect.stringMatching(/^exit 1/) }]);
      const status = await consumersStatus(ws);
      expect(status.consumers.find((c) => c.consumer === 'notifier')).toMatchObject({ dead: 2, pending: 0, delivered: 0 });
    });
  });

  it('writes the ready marker atomically with the published versions, and the SQL refresh verifies', async () => {
    const marker = JSON.parse(readFileSync(path.join(dir, 'ready', 'daily_revenue.json'), 'utf8'));
    expect(readFileSync(path.join(dir, 'ready', 'daily_revenue.json'), 'utf8')).toMatch(/\n$/);
    await withWorkspace(dir, async (ws) => {
      const rows = await ws.engine.query<{ partition: string; version: number }>(`SELECT partition, version FROM tidemark.partitions WHERE dataset = 'daily_revenue' ORDER BY partition`);
      expect(marker.datasets.daily_revenue.partitions).toEqual(Object.fromEntries(rows.map((r) => [r.partition, { version: Number(r.version), publish_seq: expect.any(Number) }])));
      expect(marker.datasets.daily_revenue.partitions[FIX_DAYS[0]].version).toBe(2);
      expect(marker.event.run_id).toBe(runId);

      const good = await verifyRun(ws, runId, { consumer: 'summary' });
      expect(good.checked).toBeGreaterThan(0);
      expect(good.mismatches).toEqual([]);
      await ws.engine.exec(`UPDATE revenue_summary SET total = total + 1 WHERE day = DATE '${FIX_DAYS[1]}'`);
      const bad = await verifyRun(ws, runId, { consumer: 'summary' });
      expect(bad.mismatches.map((m) => m.partition)).toEqual([FIX_DAYS[1]]);
    });
  });

  it('redeliver --dead re-queues dead letters and delivers them in order; the run completes', async () => {
    writeFileSync(path.join(dir, 'ok.flag'), '');
    await withWorkspace(dir, async (ws) => {
      const report = await redeliver(ws, { dead: true }, { ...fakeClock(), budgetMs: 60_000 });
      expect(report.requeued).toBe(2);
      expect(report.delivered).toBe(2);
      expect(report.completed_runs).toEqual([runId]);
      expect(await runsAwaitingConsumers(ws)).toEqual([]);
      const status = await ws.engine.query<{ status: string }>('SELECT status FROM tidemark.runs WHERE run_id = $1', [runId]);
      expect(status[0].status).toBe('complete');
    });
    const log = readFileSync(path.join(dir, 'events.log'), 'utf8').trim().split('\n');
    expect(log).toEqual([`run.started ${runId} daily_revenue ${FIX_DAYS.map((d) => `daily_revenue:${d}`).join(',')}`, expect.stringMatching(new RegExp(`^run\\.published ${runId} daily_revenue daily_revenue:2026-03-0`))]);
    // The event JSON arrived on stdin; the newest file is the run.published one.
    const newest = Math.max(...readdirSync(path.join(dir, 'events')).map((f) => Number(f.replace('.json', ''))));
    const event = JSON.parse(readFileSync(path.join(dir, 'events', `${newest}.json`), 'utf8'));
    expect(event).toMatchObject({ type: 'run.published', run_id: runId, project: 'shop', datasets: ['daily_revenue'], publish_seq: expect.any(Number) });
  });
});

describe('ready', () => {
  it('is ready when published and no live run holds the partition', async () => {
    await withWorkspace(dir, async (ws) => {
      expect(await readiness(ws, 'daily_revenue', FIX_DAYS[0])).toMatchObject({ ready: true, version: 2, held_by: [] });
      expect(await readiness(ws, 'daily_revenue', '2025-01-01')).toMatchObject({ ready: false, reason: 'daily_revenue 2025-01-01 is not published' });
      // While a run computes the partition, it is not ready.
      const during: Promise<unknown>[] = [];
      const off = ws.events.on((e) => {
        if (e.type === 'task.finished' && !during.length) during.push(readiness(ws, 'daily_revenue', FIX_DAYS[0]));
      });
      const skipPauseHandshake: InternalRunOptions = { reason: 'recompute', beforeStart: async () => undefined };
      const again = await backfill(ws, REQUEST, skipPauseHandshake);
      off();
      expect(await during[0]).toMatchObject({ ready: false, held_by: [again.run_id] });
      expect(await readiness(ws, 'daily_revenue', FIX_DAYS[0])).toMatchObject({ ready: true });
    });
  });

  it('CLI: exit 0 when ready, 3 when not published or when another process holds the project', async () => {
    const ok = cli(dir, ['ready', 'daily_revenue', '--partition', FIX_DAYS[0], '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ dataset: 'daily_revenue', partition: FIX_DAYS[0], ready: true });
    expect(cli(dir, ['ready', 'daily_revenue']).code).toBe(0);
    const missing = cli(dir, ['ready', 'daily_revenue', '--partition', '2025-01-01', '--wait', '--timeout', '0']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('error: not ready: daily_revenue 2025-01-01 is not published');
    // Said once: the error line on stderr, nothing repeated on stdout.
    expect(missing.stdout).toBe('');
    // A malformed or impossible key is bad input, not "not published".
    for (const bad of ['2026-99-01', 'yesterday', '2026-02-30']) {
      const r = cli(dir, ['ready', 'daily_revenue', '--partition', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/^error: /m);
    }
    const holder = await holdWorkspace(dir, 'tidemark backfill daily_revenue', 'r_test_holder');
    try {
      const held = cli(dir, ['ready', 'daily_revenue']);
      expect(held.code).toBe(3);
      expect(held.stderr).toContain('held by another Tidemark process');
    } finally {
      await holder.stop();
    }
  });
});

describe('config', () => {
  it('rejects a malformed verify block with its path', () => {
    const bad = path.join(dir, '..', 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(path.join(bad, 'tidemark.yaml'), readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8').replace('verify: { sql:', 'verify: { query:'));
    mkdirSync(path.join(bad, 'models'), { recursive: true });
    for (const m of ['daily_revenue', 'revenue_7d', 'monthly_revenue']) writeFileSync(path.join(bad, 'models', `${m}.sql`), readFileSync(path.join(dir, 'models', `${m}.sql`)));
    expect(() => loadProject(bad)).toThrow(/consumers\.summary\.verify/);
  });
});

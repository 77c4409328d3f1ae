// Failure modes 8 and 10, timing of notifications: `run.started` reaches a (non-pausing) webhook
// right after the run was created and before any task computes, through the library and the CLI;
// a consumer that does not answer holds the run no longer than its timeout; a run with no consumer
// to tell does no dispatcher work. A command says which consumers it could not notify (stderr and
// `deliveries` in --json) and `consumers status` exits 4 while a required one is failing. And
// `tidemark serve` retries a delivery that failed while it runs, with no command in between.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import { stateTable } from '../../src/state/tables.js';
import type { Workspace } from '../../src/workspace.js';
import { startServe, call } from '../e2e/serve-process.js';
import { startCacheServer, type CacheServer } from '../helpers/cache-server.js';
import { builtShop, cleanup, cliAsync, cliJson, copyProject, days, requireBuild, testEngines, until, withWorkspace, writeOrdersFix, type TestEngine } from '../helpers/project.js';

const FIX_DAYS = days('2026-03-01', '2026-03-05');
const REQUEST = { dataset: 'daily_revenue', from: FIX_DAYS[0], to: FIX_DAYS[FIX_DAYS.length - 1] };
const BACKFILL = ['backfill', 'daily_revenue', '--from', REQUEST.from, '--to', REQUEST.to, '--reason', 'EUR amount fix', '--yes', '--json'];

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function cacheServer(options: Parameters<typeof startCacheServer>[0] = { read: async () => null }): Promise<CacheServer> {
  const server = await startCacheServer(options);
  closers.push(() => server.close());
  return server;
}

/** A webhook that accepts connections and never answers. */
async function silentWebhook(): Promise<string> {
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => void held.push(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** A URL nothing listens on (connection refused). */
async function deadWebhook(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

/** A copy of `base` whose daily_revenue notifies `subscribed`, with `consumers` (YAML lines under `consumers:`). */
function projectWith(base: string, made: string[], consumers: string, subscribed: string[]): string {
  const dir = copyProject(base);
  made.push(dir);
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', `    sql: models/daily_revenue.sql\n    consumers: [${subscribed.join(', ')}]\n`);
  writeFileSync(file, consumers ? `${yaml}\nconsumers:\n${consumers}` : yaml);
  return dir;
}


interface DeliveryRow {
  event_type: string;
  consumer: string;
  status: string;
  attempts: number;
  last_error: string | null;
  delivered_at: string | null;
}

async function deliveriesOf(ws: Workspace, runId: string): Promise<DeliveryRow[]> {
  const rows = await ws.engine.query<DeliveryRow>(
    `SELECT o.event_type, d.consumer, d.status, d.attempts, d.last_error, d.delivered_at FROM ${stateTable(ws.engine, 'deliveries')} d
     JOIN ${stateTable(ws.engine, 'outbox')} o ON o.event_id = d.event_id WHERE o.run_id = $1 ORDER BY d.event_id, d.consumer`,
    [runId],
  );
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts) }));
}

describe.each(testEngines(inject('pgUrl')))('consumer notification timing ($kind)', (engine: TestEngine) => {
  let base: string; // built shop, fix ingested, daily_revenue stale
  const made: string[] = [];

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
    cliJson(base, ['ingest', 'orders', ...writeOrdersFix(base, FIX_DAYS)]);
  }, 300_000);
  afterAll(() => cleanup(base, ...made));

  it('library: a webhook hears run.started after the run was created and before any task computed; a silent one costs one timeout', async () => {
    let dir = '';
    let ws!: Workspace;
    // What the state says at the moment the webhook is called (the run is held until it answers).
    const seen: { event: string; run: string | undefined; tasks: string[]; finishedBefore: number }[] = [];
    let tasksFinished = 0;
    const cache = await cacheServer({
      read: async () => null,
      onWebhook: async (body) => {
        const run = await ws.engine.query<{ status: string }>(`SELECT status FROM ${stateTable(ws.engine, 'runs')} WHERE run_id = $1`, [body.run_id]);
        const tasks = await ws.engine.query<{ status: string }>(`SELECT status FROM ${stateTable(ws.engine, 'tasks')} WHERE run_id = $1`, [body.run_id]);
        seen.push({ event: String(body.type), run: run[0]?.status, tasks: [...new Set(tasks.map((t) => t.status))], finishedBefore: tasksFinished });
      },
    });
    const silent = await silentWebhook();
    dir = projectWith(
      base,
      made,
      `  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", timeout_ms: 5000, backoff_ms: 50 }\n` +
        `  stuck_hook: { kind: webhook, url: "${silent}", timeout_ms: 400, backoff_ms: 60000 }\n`,
      ['revenue_cache', 'stuck_hook'],
    );
    await withWorkspace(dir, async (opened) => {
      ws = opened;
      const off = ws.events.on((e) => void (e.type === 'task.finished' && tasksFinished++));
      const result = await backfill(ws, REQUEST, { reason: 'EUR amount fix' });
      off();
      expect(result.status).toBe('published');
      expect(tasksFinished).toBe(FIX_DAYS.length);

      // The library does not deliver run.published by itself (the CLI does, after the command):
      // only run.started reached the webhook, while the run was computing and no task had run.
      expect(seen).toEqual([{ event: 'run.started', run: 'computing', tasks: ['pending'], finishedBefore: 0 }]);
      expect(cache.received[0].body).toMatchObject({ type: 'run.started', run_id: result.run_id, datasets: ['daily_revenue'] });
      expect(cache.received[0].body.partitions).toHaveLength(FIX_DAYS.length);

      // The silent webhook got one attempt, cut at its timeout: pending for a retry, not blocking the run.
      const deliveries = await deliveriesOf(ws, result.run_id!);
      expect(deliveries.filter((d) => d.event_type === 'run.started')).toEqual([
        expect.objectContaining({ consumer: 'revenue_cache', status: 'delivered', attempts: 1 }),
        expect.objectContaining({ consumer: 'stuck_hook', status: 'pending', attempts: 1, last_error: 'no answer within 400 ms' }),
      ]);
    });
  });

  it('library: with no consumer to tell, a run does no dispatcher work (the outbox is not even read)', async () => {
    const dir = projectWith(base, made, '', []);
    await withWorkspace(dir, async (ws) => {
      const cursor = () => ws.engine.query(`SELECT value FROM ${stateTable(ws.engine, 'meta')} WHERE key = 'consumers_outbox_cursor'`);
      const before = await cursor();
      const result = await backfill(ws, REQUEST, { reason: 'EUR amount fix' });
      expect(result.status).toBe('published');
      expect(await cursor()).toEqual(before);
      expect(await ws.engine.query(`SELECT * FROM ${stateTable(ws.engine, 'deliveries')}`)).toEqual([]);
    });
  });

  it('CLI: run.started is acknowledged before the first task computed, run.published after the publish', async () => {
    const cache = await cacheServer();
    const dir = projectWith(base, made, `  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", timeout_ms: 5000, backoff_ms: 50 }\n`, ['revenue_cache']);
    const r = await cliAsync(dir, BACKFILL);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(cache.received.map((w) => `${w.type} ${w.status}`)).toEqual(['run.started 200', 'run.published 200']);
    expect(run.deliveries).toEqual({ delivered: 2, pending: 0, dead: 0, failed: [] });
    expect(r.stderr).not.toMatch(/warning/);

    await withWorkspace(dir, async (ws) => {
      const started = (await deliveriesOf(ws, run.run_id)).find((d) => d.event_type === 'run.started')!;
      const tasks = await ws.engine.query<{ started_at: string }>(`SELECT started_at FROM ${stateTable(ws.engine, 'tasks')} WHERE run_id = $1 ORDER BY started_at`, [run.run_id]);
      const published = await ws.engine.query<{ published_at: string }>(`SELECT published_at FROM ${stateTable(ws.engine, 'runs')} WHERE run_id = $1`, [run.run_id]);
      // Recorded by the same process, in this order: acknowledged, then computed, then published.
      expect(started.delivered_at! <= tasks[0].started_at).toBe(true);
      expect(tasks[0].started_at <= published[0].published_at).toBe(true);
    });
  });

  it('CLI: a required consumer that could not be notified is named on stderr and in --json; consumers status exits 4 until it is', async () => {
    const cache = await cacheServer();
    const gone = await deadWebhook();
    const dir = projectWith(
      base,
      made,
      `  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", timeout_ms: 5000, max_attempts: 2, backoff_ms: 50 }\n` +
        `  audit_log_hook: { kind: webhook, url: "${gone}", timeout_ms: 2000, max_attempts: 1, required: false }\n`,
      ['revenue_cache', 'audit_log_hook'],
    );
    cache.failNext(100, 'run.published');
    const r = await cliAsync(dir, BACKFILL);
    expect(r.code, r.stderr).toBe(0); // the publish committed: a consumer does not change that
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('published');
    const failed = run.deliveries.failed as { consumer: string; required: boolean; event_type: string; status: string; attempts: number; error: string }[];
    expect(failed.map((f) => `${f.consumer} ${f.required} ${f.event_type} ${f.status} ${f.attempts}`).sort()).toEqual([
      'audit_log_hook false run.published dead 1',
      'audit_log_hook false run.started dead 1',
      'revenue_cache true run.published dead 2',
    ]);
    expect(failed.find((f) => f.consumer === 'revenue_cache')!.error).toContain('HTTP 500');
    expect(run.deliveries).toMatchObject({ delivered: 1, pending: 0, dead: 3 });
    expect(r.stderr).toContain(`warning: required consumer 'revenue_cache' was not notified of run.published of run ${run.run_id}: HTTP 500`);
    expect(r.stderr).toContain(`warning: optional consumer 'audit_log_hook' was not notified of run.started of run ${run.run_id}`);
    expect(r.stderr).toMatch(/^hint: the run stays 'published', not 'complete', until its required consumers acknowledge; .*redeliver/m);

    const status = await cliAsync(dir, ['consumers', 'status', '--json']);
    expect(status.code).toBe(4);
    const s = JSON.parse(status.stdout);
    expect(s.failing).toEqual([expect.objectContaining({ consumer: 'revenue_cache', required: true, event_type: 'run.published', status: 'dead', run_id: run.run_id })]);
    expect(status.stderr).toMatch(/^error: 1 delivery\(ies\) to required consumers failed: required consumer 'revenue_cache' was not notified of run\.published/m);
    expect(status.stderr).toMatch(/^hint: .*redeliver --dead/m);
    const text = await cliAsync(dir, ['consumers', 'status']);
    expect(text.code).toBe(4);
    expect(text.stdout).toContain('Required consumers that could not be notified:');

    // Fixed and redelivered: only the optional consumer still fails, which does not fail status.
    cache.failNext(0);
    const again = await cliAsync(dir, ['consumers', 'redeliver', '--dead', '--consumer', 'revenue_cache', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const healed = await cliAsync(dir, ['consumers', 'status', '--json']);
    expect(healed.code, healed.stderr).toBe(0);
    expect(JSON.parse(healed.stdout).failing).toEqual([]);
  });
});

describe('tidemark serve retries deliveries on its own (duckdb)', () => {
  let base: string;
  const made: string[] = [];

  beforeAll(async () => {
    requireBuild();
    base = await builtShop();
    cliJson(base, ['ingest', 'orders', ...writeOrdersFix(base, FIX_DAYS)]);
  }, 300_000);
  afterAll(() => cleanup(base, ...made));

  it('a run.published that failed while the server runs is delivered after its backoff, with no command in between', async () => {
    const cache = await cacheServer();
    // The backoff outlasts the command's own dispatch (a 300 ms budget in the server), so only the
    // server's timer can deliver the retry.
    const dir = projectWith(base, made, `  revenue_cache: { kind: webhook, url: "${cache.webhookUrl}", timeout_ms: 5000, max_attempts: 5, backoff_ms: 1500 }\n`, ['revenue_cache']);
    const saved = process.env.TIDEMARK_DISPATCH_BUDGET_MS;
    process.env.TIDEMARK_DISPATCH_BUDGET_MS = '300';
    const server = await startServe(dir).finally(() => {
      if (saved === undefined) delete process.env.TIDEMARK_DISPATCH_BUDGET_MS;
      else process.env.TIDEMARK_DISPATCH_BUDGET_MS = saved;
    });
    let exit: number | null = null;
    closers.push(async () => {
      await server.stop();
      exit = server.child.exitCode;
    });

    cache.failNext(1, 'run.published');
    const r = await cliAsync(dir, BACKFILL); // handed to the server
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.deliveries.failed).toEqual([expect.objectContaining({ consumer: 'revenue_cache', event_type: 'run.published', status: 'pending', attempts: 1, error: expect.stringContaining('HTTP 500') })]);
    expect(r.stderr).toContain(`warning: required consumer 'revenue_cache' was not notified of run.published of run ${run.run_id}: HTTP 500`);
    expect(cache.received.map((w) => `${w.type} ${w.status}`)).toEqual(['run.started 200', 'run.published 500']);

    await until(() => cache.received.length === 3);
    expect(cache.received[2]).toMatchObject({ type: 'run.published', status: 200, body: { run_id: run.run_id } });
    await until(() => server.log().includes(`runs complete (consumers acknowledged): ${run.run_id}`));
    expect(server.log()).toContain(`consumer revenue_cache: run.published of run ${run.run_id} delivered (attempt 2)`);
    const status = await call(server, 'GET', '/api/consumers');
    expect(status.body.failing).toEqual([]);
    expect(status.body.consumers[0]).toMatchObject({ consumer: 'revenue_cache', delivered: 2, pending: 0, dead: 0 });
    expect((await call(server, 'GET', `/api/runs/${run.run_id}`)).body.status).toBe('complete');

    // Shutdown stops the timer cleanly: the process exits 0.
    await closers.pop()!();
    expect(exit).toBe(0);
  });
});

// Distributed workers (issue 8) against the real PostgreSQL of the test setup: `backfill --detach`
// queues a run, `tidemark worker` processes (real subprocesses of bin/tidemark.js) claim its tasks with
// FOR UPDATE SKIP LOCKED, hold leases, retry a killed worker's task, and publish exactly once.
//
// Each test gets its own schemas through TIDEMARK_PG_SCHEMA_PREFIX (src/engines/postgres/engine.ts).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import { PostgresEngine } from '../../src/engines/postgres/engine.js';
import { scaffoldShopExample, SHOP_FIRST_DAY } from '../../src/example/shop.js';
import { ingest } from '../../src/execute/ingest.js';
import { openWorkspace } from '../../src/workspace.js';
import { freshPgSchemaName } from '../helpers/pg-schema.js';

const pgUrl = inject('pgUrl');
const skip = !pgUrl;
const title = (name: string) => (skip ? `${name} (skipped: no pgUrl, TIDEMARK_TEST_ENGINES excludes postgres)` : name);
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tidemark.js');

const DAYS = 24;
const LAST_DAY = addDays(SHOP_FIRST_DAY, DAYS - 1);
const MODELS = ['daily_revenue', 'revenue_7d', 'monthly_revenue'];

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Project {
  dir: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
}

/** The shop on PostgreSQL in fresh schemas, with `DAYS` days of both sources ingested (nothing built yet). */
async function shopOnPostgres(name: string, backfillSlots = 4): Promise<Project> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tidemark-workers-'));
  const prefix = `${freshPgSchemaName(name)}_`;
  cleanups.push(async () => {
    const engine = await PostgresEngine.open(pgUrl, 'tidemark_data', { schemaPrefix: prefix });
    for (const s of [engine.dataSchema, engine.stateSchema, engine.historySchema, engine.stagingSchema]) await engine.exec(`DROP SCHEMA IF EXISTS ${engine.dialect.quote(s)} CASCADE`);
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });
  await scaffoldShopExample(dir);
  const config = path.join(dir, 'tidemark.yaml');
  const text = await readFile(config, 'utf8');
  await writeFile(
    config,
    text
      .replace('engine: { kind: duckdb }', `engine: { kind: postgres, url: ${JSON.stringify(pgUrl)} }`)
      // Slots are counted across all workers: room for both test workers at once.
      .replace('backfill: { slots: 1, priority: 1, threads: 1 }', `backfill: { slots: ${backfillSlots}, priority: 1 }`),
  );
  const project = { dir, prefix, env: { ...process.env, TIDEMARK_PG_SCHEMA_PREFIX: prefix, TIDEMARK_ACTOR: 'tester' } };
  await inProject(project, async (ws) => {
    const days = Array.from({ length: DAYS }, (_, i) => addDays(SHOP_FIRST_DAY, i));
    await ingest(ws, 'orders', days.map((d) => path.join(dir, 'data', 'orders', `orders-${d}.csv`)));
    await ingest(ws, 'fx_rates', days.map((d) => path.join(dir, 'data', 'fx_rates', `fx-${d}.csv`)));
  });
  return project;
}

/** Opens the project in this process (the engine reads the schema prefix from the environment). */
async function inProject<T>(p: Project, fn: (ws: Awaited<ReturnType<typeof openWorkspace>>) => Promise<T>): Promise<T> {
  const before = process.env.TIDEMARK_PG_SCHEMA_PREFIX;
  process.env.TIDEMARK_PG_SCHEMA_PREFIX = p.prefix;
  try {
    const ws = await openWorkspace(p.dir, { actor: 'tester', command: 'workers.test' });
    try {
      return await fn(ws);
    } finally {
      await ws.close();
    }
  } finally {
    if (before === undefined) delete process.env.TIDEMARK_PG_SCHEMA_PREFIX;
    else process.env.TIDEMARK_PG_SCHEMA_PREFIX = before;
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cli(p: Project, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--project', p.dir, ...args], { env: { ...p.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const BACKFILL = ['backfill', 'daily_revenue', '--from', SHOP_FIRST_DAY, '--to', LAST_DAY, '--downstream', '--reason', 'rebuild with workers', '--yes', '--json', '--allow-full-refresh'];

async function detach(p: Project, args = BACKFILL): Promise<string> {
  const out = await cli(p, [...args, '--detach']);
  expect(out.stderr).not.toMatch(/^error:/m);
  expect(out.code).toBe(0);
  const queued = JSON.parse(out.stdout) as { run_id: string; status: string; tasks: number };
  expect(queued.status).toBe('queued');
  return queued.run_id;
}

/** Every model's live rows are exactly its recorded partitions' rows, with no duplicate key. */
async function assertNoDuplicates(p: Project): Promise<void> {
  await inProject(p, async ({ engine }) => {
    const keys: Record<string, string> = { daily_revenue: 'day, currency', revenue_7d: 'day, currency', monthly_revenue: 'month, currency' };
    for (const m of MODELS) {
      const table = engine.dialect.table(engine.dataSchema, m);
      expect(await engine.query(`SELECT ${keys[m]}, count(*) AS n FROM ${table} GROUP BY ${keys[m]} HAVING count(*) > 1`)).toEqual([]);
      const [live] = await engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`);
      const [recorded] = await engine.query<{ n: number }>(`SELECT sum(rows) AS n FROM ${engine.dialect.table(engine.stateSchema, 'partitions')} WHERE dataset = $1`, [m]);
      expect(Number(live.n)).toBeGreaterThan(0);
      expect(Number(live.n)).toBe(Number(recorded.n));
    }
  });
}

/**
 * Each model rebuilt again in one process (the ordinary executor, no --downstream so nothing is
 * skipped) finds every partition unchanged: the workers' published content equals, checksum for
 * checksum, what a single-process run computes.
 */
async function assertEqualsSingleProcessRun(p: Project): Promise<void> {
  await inProject(p, async (ws) => {
    for (const [dataset, to] of [['daily_revenue', LAST_DAY], ['revenue_7d', LAST_DAY], ['monthly_revenue', SHOP_FIRST_DAY]]) {
      const result = await backfill(ws, { dataset, from: SHOP_FIRST_DAY, to, allowFullRefresh: true, includeRecent: true }, { reason: 'compare with one process' });
      expect(result.status).toBe('published');
      expect(result.plan.tasks.length).toBe(dataset === 'monthly_revenue' ? 1 : DAYS);
      expect(result.published).toEqual([]);
      expect(result.unchanged).toBe(result.plan.tasks.length);
    }
  });
}

async function stateRows<T>(p: Project, sql: (t: (name: string) => string) => string, params: unknown[] = []): Promise<T[]> {
  return inProject(p, ({ engine }) => engine.query<T>(sql((name) => engine.dialect.table(engine.stateSchema, name)), params));
}

describe('tidemark worker', () => {
  it.skipIf(skip)(title('two worker processes complete a detached backfill together; the result equals a single-process run'), async () => {
    const p = await shopOnPostgres('workers_two');
    const runId = await detach(p);
    const [queued] = await stateRows<{ status: string; pid: number | null; n: number }>(p, (t) => `SELECT r.status, r.pid, (SELECT count(*) FROM ${t('tasks')} WHERE run_id = r.run_id) AS n FROM ${t('runs')} r WHERE run_id = $1`, [runId]);
    expect(queued).toMatchObject({ status: 'queued', pid: null });
    const tasks = Number(queued.n);
    expect(tasks).toBe(DAYS * 2 + 1); // daily_revenue and revenue_7d per day, monthly_revenue for January

    const [a, b] = await Promise.all([cli(p, ['worker', '--drain']), cli(p, ['worker', '--drain', '--json'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const waited = await cli(p, ['wait', runId, '--timeout', '30', '--json']);
    expect(waited.code, waited.stderr).toBe(0);
    // 'complete': published, and the consumers (none here) have nothing left to acknowledge.
    expect(JSON.parse(waited.stdout)).toMatchObject({ run_id: runId, status: 'complete' });

    // Both workers computed tasks; every task was computed once.
    const byWorker = await stateRows<{ worker: string; n: number }>(p, (t) => `SELECT worker, count(*) AS n FROM ${t('tasks')} WHERE run_id = $1 GROUP BY worker ORDER BY worker`, [runId]);
    expect(byWorker.length).toBe(2);
    expect(byWorker.reduce((s, r) => s + Number(r.n), 0)).toBe(tasks);
    const attempts = await stateRows<{ a: number }>(p, (t) => `SELECT max(attempts) AS a FROM ${t('tasks')} WHERE run_id = $1`, [runId]);
    expect(Number(attempts[0].a)).toBe(1);
    // Published once, audited under the actor who queued it, one record per dataset.
    const audit = await stateRows<{ action: string; actor: string; dataset: string }>(p, (t) => `SELECT action, actor, dataset FROM ${t('audit')} WHERE run_id = $1 ORDER BY seq`, [runId]);
    expect(audit.sort((x, y) => x.dataset.localeCompare(y.dataset))).toEqual([...MODELS].sort().map((dataset) => ({ action: 'backfill', actor: 'tester', dataset })));
    const events = await stateRows<{ event_type: string }>(p, (t) => `SELECT event_type FROM ${t('outbox')} WHERE run_id = $1 ORDER BY event_id`, [runId]);
    expect(events.map((e) => e.event_type)).toEqual(['run.started', 'run.published']);
    const runs = await cli(p, ['runs', '--json']);
    expect(JSON.parse(runs.stdout).find((r: { run_id: string }) => r.run_id === runId)).toMatchObject({ status: 'complete', tasks: { total: tasks, computed: tasks } });

    await assertNoDuplicates(p);
    await assertEqualsSingleProcessRun(p);
  });

  it.skipIf(skip)(title('a worker killed with SIGKILL mid-task: its lease expires, another worker retries the task, no duplicate rows, the retry is audited'), async () => {
    const p = await shopOnPostgres('workers_kill');
    const runId = await detach(p);
    const lease = { TIDEMARK_LEASE_MS: '2000' };
    // The first worker dies right after claiming its second task: it holds the task and never computes it.
    const [killed, survivor] = await Promise.all([cli(p, ['worker', '--drain'], { ...lease, TIDEMARK_CRASH_AT: 'worker.claimed:2' }), cli(p, ['worker', '--drain'], lease)]);
    expect(killed.signal).toBe('SIGKILL');
    expect(survivor.code, survivor.stderr).toBe(0);
    expect(survivor.stderr).toMatch(/expired: retrying/);

    const [run] = await stateRows<{ status: string; publish_seq: number | null }>(p, (t) => `SELECT status, publish_seq FROM ${t('runs')} WHERE run_id = $1`, [runId]);
    expect(run.status).toBe('complete');
    expect(run.publish_seq).not.toBeNull();
    const retried = await stateRows<{ dataset: string; partition: string; attempts: number; status: string }>(
      p,
      (t) => `SELECT dataset, partition, attempts, status FROM ${t('tasks')} WHERE run_id = $1 AND attempts > 1`,
      [runId],
    );
    expect(retried.length).toBe(1);
    expect(Number(retried[0].attempts)).toBe(2);
    expect(['published', 'unchanged']).toContain(retried[0].status);
    const audit = await stateRows<{ action: string; dataset: string; partitions: string; details: string }>(
      p,
      (t) => `SELECT action, dataset, partitions, details FROM ${t('audit')} WHERE run_id = $1 AND action = 'task.retry'`,
      [runId],
    );
    expect(audit.length).toBe(1);
    expect(audit[0].dataset).toBe(retried[0].dataset);
    expect(JSON.parse(audit[0].partitions)).toEqual([retried[0].partition]);
    expect(JSON.parse(audit[0].details)).toMatchObject({ attempt: 1 });
    const verify = await cli(p, ['audit', 'verify', '--json']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);

    await assertNoDuplicates(p);
    await assertEqualsSingleProcessRun(p);
  });

  it.skipIf(skip)(title('a queued run is computed after its pool slots are raised (as the README advises), refused after its model SQL changed'), async () => {
    const p = await shopOnPostgres('workers_edit', 1);
    const config = path.join(p.dir, 'tidemark.yaml');
    const runId = await detach(p);
    // Adding workers: the backfill pool gets more slots (and a comment saying why) while the run waits.
    const text = await readFile(config, 'utf8');
    const raised = text.replace('backfill: { slots: 1, priority: 1 }', 'backfill: { slots: 3, priority: 1 } # three workers now');
    expect(raised).not.toBe(text);
    await writeFile(config, raised);
    const worker = await cli(p, ['worker', '--drain']);
    expect(worker.code, worker.stderr).toBe(0);
    const [done] = await stateRows<{ status: string }>(p, (t) => `SELECT status FROM ${t('runs')} WHERE run_id = $1`, [runId]);
    expect(done.status).toBe('complete');
    await assertNoDuplicates(p);

    // Another model SQL than the one planned with: the worker refuses the run and leaves it queued.
    const second = await detach(p);
    const sqlFile = path.join(p.dir, 'models', 'daily_revenue.sql');
    await writeFile(sqlFile, (await readFile(sqlFile, 'utf8')).replace("WHERE o.status = 'paid'", "WHERE o.status IN ('paid', 'refunded')"));
    const refused = await cli(p, ['worker', '--drain']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`run ${second} was queued with a different version of the project`);
    expect(refused.stderr).toContain(`tidemark cancel ${second}`);
    const [still] = await stateRows<{ status: string; n: number }>(p, (t) => `SELECT r.status, (SELECT count(*) FROM ${t('tasks')} WHERE run_id = r.run_id AND status <> 'pending') AS n FROM ${t('runs')} r WHERE run_id = $1`, [second]);
    expect(still.status).toBe('queued');
    expect(Number(still.n)).toBe(0);
  });

  it.skipIf(skip)(title('overlapping backfills from two processes: one proceeds, the other is refused (exit 3), never interleaved'), async () => {
    const p = await shopOnPostgres('workers_overlap');
    await inProject(p, async (ws) => {
      const { run } = await import('../../src/api/operations.js');
      await run(ws);
    });
    const range = (from: string, to: string) => ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', 'overlap', '--yes', '--json', '--include-recent'];
    const first = range(addDays(SHOP_FIRST_DAY, 2), addDays(SHOP_FIRST_DAY, 12));
    const second = range(addDays(SHOP_FIRST_DAY, 8), addDays(SHOP_FIRST_DAY, 20));

    // Two detached runs at the same moment: admission lets exactly one in; the other is refused.
    const detached = await Promise.all([cli(p, [...first, '--detach']), cli(p, [...second, '--detach'])]);
    expect(detached.map((d) => d.code).sort()).toEqual([0, 3]);
    const refused = detached.find((d) => d.code === 3)!;
    expect(refused.stderr).toMatch(/^error: refused: daily_revenue: .* held by backfill run r\w+/m);
    const queuedId = (JSON.parse(detached.find((d) => d.code === 0)!.stdout) as { run_id: string }).run_id;
    // The queued run holds its partitions for as long as it waits: a one-process backfill is refused too.
    const inProcess = await cli(p, second);
    expect(inProcess.code).toBe(3);
    // A queued run has no process: the refusal says who computes it and how to follow it, not "pid null".
    expect(inProcess.stderr).toContain(`held by backfill run ${queuedId} (queued for workers) in flight`);
    expect(inProcess.stderr).toContain(`hint: wait for it (tidemark wait ${queuedId}), or retry with --wait`);
    expect(inProcess.stderr).not.toContain('pid null');
    // Cancelled while still queued, it holds nothing any more.
    const cancel = await cli(p, ['cancel', queuedId, '--json']);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ run_id: queuedId, status: 'cancelled' });

    // Two one-process backfills at once: one publishes, the other is refused or runs strictly after it.
    const both = await Promise.all([cli(p, first), cli(p, second)]);
    for (const b of both) expect([0, 3]).toContain(b.code);
    expect(both.some((b) => b.code === 0)).toBe(true);
    // Each published run's working interval: from its first computed task to its publish. A run's
    // created_at is not its start: the `first` range may resume the detached run cancelled above
    // (same run key), which keeps that run's original created_at.
    const published = await stateRows<{ run_id: string; started_at: string; published_at: string }>(
      p,
      (t) => `SELECT r.run_id, (SELECT min(started_at) FROM ${t('tasks')} WHERE run_id = r.run_id) AS started_at, r.published_at
              FROM ${t('runs')} r WHERE r.reason = 'overlap' AND r.status IN ('published', 'complete') ORDER BY r.published_at`,
    );
    expect(published.length).toBe(both.filter((b) => b.code === 0).length);
    // Never interleaved: the later run started computing only after the earlier one had published.
    if (published.length === 2) expect(published[1].started_at >= published[0].published_at, JSON.stringify({ published, both }, null, 1)).toBe(true);
    await assertNoDuplicates(p);
  });

  it.skipIf(skip)(title('SIGTERM stops a waiting worker cleanly: exit 0 and its report, not killed by the signal'), async () => {
    const p = await shopOnPostgres('workers_sigterm');
    const child = spawn(process.execPath, [BIN, '--project', p.dir, 'worker', '--json'], { env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    while (!/worker \S+ started/.test(stderr)) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/worker \S+ stopped: 0 computed/);
    expect(JSON.parse(stdout)).toMatchObject({ computed: 0 });
  });

  it(title('refuses on DuckDB with a clear error'), async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tidemark-workers-duck-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await scaffoldShopExample(dir);
    const out = await cli({ dir, prefix: '', env: process.env }, ['worker']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('workers need a multi-writer engine such as PostgreSQL; with DuckDB use `tidemark serve`');
  });
});

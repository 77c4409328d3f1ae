#!/usr/bin/env node
/**
 * Benchmark of distributed workers (issue 8): tasks per second of the same detached backfill
 * (DAYS partitions of a simple daily model) computed by 1, 2 and 4 `tidemark worker` processes over
 * one PostgreSQL. A benchmark, not a test.
 *
 *   node bench/workers.js                       # starts a throwaway PostgreSQL (as the tests do)
 *   TIDEMARK_BENCH_PG_URL=postgres://… node bench/workers.js
 *
 * Each measurement: start W workers and wait until each is ready (process start-up is not measured),
 * queue the backfill with `backfill --detach`, wait for its publish, stop the workers. The figure is
 * tasks / (published_at − created_at) of the run, i.e. claim, compute, validate and publish; the
 * model SQL changes before each measurement so every partition really changes. Median of RUNS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
import { dailyAggregateSql, dailyModelYaml, dayAfter, eventsSourceYaml, writeEvents } from './fixtures.js';
import { median } from './measure.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'tidemark.js');
const DAYS = Number(process.env.BENCH_WORKER_DAYS ?? 120);
const ROWS_PER_DAY = 5000;
const FIRST_DAY = '2024-01-01';
const WORKERS = [1, 2, 4];
const RUNS = Number(process.env.BENCH_WORKER_RUNS ?? 2);
const PREFIX = 'bench_workers_';

const dayAt = (n) => dayAfter(FIRST_DAY, n);

const config = (url) => `name: bench_workers
engine: { kind: postgres, url: ${JSON.stringify(url)} }
guards: { max_backfill_partitions: 1000 }
pools:
  backfill: { slots: 8, priority: 1 }
datasets:
${eventsSourceYaml()}${dailyModelYaml('daily_events')}`;

const modelSql = (variant) => dailyAggregateSql(variant);

/** test/helpers/postgres.ts, transpiled on the fly (no build step for test helpers). */
async function startThrowawayPostgres() {
  const source = readFileSync(path.join(HERE, '..', 'test', 'helpers', 'postgres.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-pg-helper-'));
  const file = path.join(dir, 'postgres.mjs');
  writeFileSync(file, js);
  try {
    const { startPostgres } = await import(pathToFileURL(file).href);
    return await startPostgres();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function createProject(dir, url) {
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), config(url));
  writeFileSync(path.join(dir, 'models', 'daily_events.sql'), modelSql(0));
  // CSV: the PostgreSQL engine reads Parquet columns as text (its schema check then refuses them).
  const file = path.join(dir, 'data', 'events.csv');
  await writeEvents(file, { firstDay: FIRST_DAY, rowsPerDay: ROWS_PER_DAY, count: DAYS, format: 'csv' });
  const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench workers setup' });
  try {
    await ingest(ws, 'events', [file]);
  } finally {
    await ws.close();
  }
}

function startWorker(dir, env) {
  const child = spawn(process.execPath, [BIN, '--project', dir, 'worker'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const ready = new Promise((resolve, reject) => {
    child.stderr.on('data', (b) => {
      log += b;
      if (log.includes(' started: ')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker exited early (${code}): ${log}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, ready, exited, log: () => log };
}

async function measureOnce(dir, env, workers, variant) {
  writeFileSync(path.join(dir, 'models', 'daily_events.sql'), modelSql(variant));
  const procs = Array.from({ length: workers }, () => startWorker(dir, env));
  await Promise.all(procs.map((p) => p.ready));
  const args = ['--project', dir, 'backfill', 'daily_events', '--from', dayAt(0), '--to', dayAt(DAYS - 1), '--reason', 'bench', '--yes', '--json', '--detach', '--allow-full-refresh', '--include-recent'];
  const queued = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  if (queued.status !== 0) throw new Error(`backfill --detach failed: ${queued.stderr}`);
  const runId = JSON.parse(queued.stdout).run_id;
  const waited = spawnSync(process.execPath, [BIN, '--project', dir, 'wait', runId, '--timeout', '600', '--json'], { env, encoding: 'utf8' });
  if (waited.status !== 0) throw new Error(`wait failed: ${waited.stderr}`);
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));

  const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench workers read' });
  try {
    const t = (name) => ws.engine.dialect.table(ws.engine.stateSchema, name);
    const [run] = await ws.engine.query(`SELECT created_at, published_at FROM ${t('runs')} WHERE run_id = $1`, [runId]);
    const byWorker = await ws.engine.query(`SELECT worker, count(*) AS n FROM ${t('tasks')} WHERE run_id = $1 GROUP BY worker`, [runId]);
    const seconds = (Date.parse(run.published_at) - Date.parse(run.created_at)) / 1000;
    return { seconds, tasks_per_second: DAYS / seconds, per_worker: byWorker.map((r) => Number(r.n)).sort((a, b) => b - a) };
  } finally {
    await ws.close();
  }
}

async function main() {
  let server = null;
  let url = process.env.TIDEMARK_BENCH_PG_URL;
  if (!url) {
    process.stderr.write('starting a throwaway PostgreSQL…\n');
    server = await startThrowawayPostgres();
    url = server.url;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-workers-'));
  const env = { ...process.env, TIDEMARK_PG_SCHEMA_PREFIX: PREFIX, TIDEMARK_ACTOR: 'bench' };
  const before = process.env.TIDEMARK_PG_SCHEMA_PREFIX;
  process.env.TIDEMARK_PG_SCHEMA_PREFIX = PREFIX;
  try {
    await dropSchemas(url).catch(() => undefined);
    process.stderr.write(`generating and ingesting ${DAYS} days × ${ROWS_PER_DAY} rows…\n`);
    await createProject(dir, url);
    let variant = 0;
    process.stderr.write('warm-up (1 worker)…\n');
    await measureOnce(dir, env, 1, ++variant);
    const rows = [];
    for (const workers of WORKERS) {
      const samples = [];
      for (let i = 0; i < RUNS; i++) {
        const s = await measureOnce(dir, env, workers, ++variant);
        process.stderr.write(`  ${workers} worker(s), run ${i + 1}: ${s.seconds.toFixed(2)} s, ${s.tasks_per_second.toFixed(1)} tasks/s, tasks per worker ${s.per_worker.join('/')}\n`);
        samples.push(s);
      }
      rows.push({ workers, tasks: DAYS, tasks_per_second: Math.round(median(samples.map((s) => s.tasks_per_second)) * 10) / 10, seconds: Math.round(median(samples.map((s) => s.seconds)) * 100) / 100 });
    }
    const base = rows[0].tasks_per_second;
    console.log(`\nDistributed workers on PostgreSQL: ${DAYS}-partition backfill (${ROWS_PER_DAY} rows/partition), ${os.availableParallelism()} cores`);
    console.log('workers  tasks/s  seconds  speed-up');
    for (const r of rows) console.log(`${String(r.workers).padStart(7)}  ${r.tasks_per_second.toFixed(1).padStart(7)}  ${r.seconds.toFixed(2).padStart(7)}  ${(r.tasks_per_second / base).toFixed(2).padStart(7)}×`);
    return rows;
  } finally {
    await dropSchemas(url).catch(() => undefined);
    if (before === undefined) delete process.env.TIDEMARK_PG_SCHEMA_PREFIX;
    else process.env.TIDEMARK_PG_SCHEMA_PREFIX = before;
    rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  }
}

async function dropSchemas(url) {
  const { PostgresEngine } = await import('../dist/engines/postgres/engine.js');
  const engine = await PostgresEngine.open(url, 'tidemark_data', { schemaPrefix: PREFIX });
  try {
    for (const s of [engine.dataSchema, engine.stateSchema, engine.historySchema, engine.stagingSchema]) await engine.exec(`DROP SCHEMA IF EXISTS ${engine.dialect.quote(s)} CASCADE`);
  } finally {
    await engine.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

export { main as benchWorkers, startThrowawayPostgres };

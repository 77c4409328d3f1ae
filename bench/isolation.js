#!/usr/bin/env node
/**
 * Isolation figure (issue 7, failure mode 6 "a big backfill starves production"): a production `run`
 * of 30 partitions, timed alone, then again while a large backfill (hundreds of partitions, pool
 * `backfill` with `threads: 1`) runs in the same process — one scheduler, as in `tidemark serve`.
 * Prints the ratio (goal ≤ 1.25) and checks that the backfill still finished.
 *
 * `node bench/isolation.js` runs it on its own (after `npm run build`); bench/run.js can append
 * `scenarioIsolation` to its SCENARIOS (it takes no argument: it builds its own project).
 *
 * The ratio compares production runs while the backfill runs with production runs while the same
 * backfill is paused between tasks (outside its window), alternating, so that other load on the
 * machine affects both sides alike; runs with no backfill at all are printed too.
 *
 * Production work is real `run` work: before each sample (outside the timing) the 30 daily files of
 * the `live` source are rewritten with new amounts and ingested, so `run live_daily` rebuilds 30 stale
 * partitions. The backfill rebuilds `history_daily` after a change of its SQL.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { backfill, run } from '../dist/api/operations.js';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
import { dailyAggregateSql, dailyModelYaml, dayAfter, eventsSourceYaml, withDuckDb, writeEvents } from './fixtures.js';
import { median, round } from './measure.js';

const HISTORY_DAYS = 1000; // the backfill's partitions: enough to outlast every sample on a fast host (600 finished before the last one)
const HISTORY_ROWS_PER_DAY = 4000;
const LIVE_DAYS = 30; // the production run's partitions
const LIVE_ROWS_PER_DAY = 20000;
const SAMPLES = 5; // pairs: backfill paused / backfill running
const FIRST_DAY = '2024-01-01';

const CONFIG = `# Isolation benchmark: a production source/model and a large history model to backfill.
name: isolation
engine: { kind: duckdb }
guards: { max_backfill_partitions: 1200 }
pools:
  production: { slots: 2, priority: 10 }
  backfill: { slots: 1, priority: 1, threads: 1 }
datasets:
${eventsSourceYaml()}${dailyModelYaml('history_daily')}${eventsSourceYaml('live')}${dailyModelYaml('live_daily')}`;

const modelSql = (source, variant) => dailyAggregateSql(variant, { source, extraColumns: ['CAST(quantile_cont(amount_cents, 0.9) AS DOUBLE) AS p90_cents'] });

const dayAt = (n, first = FIRST_DAY) => dayAfter(first, n);

const LIVE_FIRST = dayAt(HISTORY_DAYS);

/** The live source's 30 daily files; `variant` changes the amounts so every partition changes. */
async function writeLiveFiles(dir, variant) {
  const files = [];
  await withDuckDb(':memory:', async (conn) => {
    for (let d = 0; d < LIVE_DAYS; d++) {
      const file = path.join(dir, 'data', 'live', `live-${dayAt(d, LIVE_FIRST)}.parquet`);
      const base = d * LIVE_ROWS_PER_DAY;
      await conn.run(`COPY (
        SELECT ${base} + i AS event_id, (i * 7919) % 50000 AS user_id, 100 + ((i + ${variant}) * 104729) % 9900 AS amount_cents,
               DATE '${dayAt(d, LIVE_FIRST)}' AS event_date FROM range(${LIVE_ROWS_PER_DAY}) t(i)
      ) TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
      files.push(file);
    }
  });
  return files;
}

async function createProject(dir) {
  for (const sub of ['models', 'data/live']) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), CONFIG);
  writeFileSync(path.join(dir, 'models', 'history_daily.sql'), modelSql('events', 0));
  writeFileSync(path.join(dir, 'models', 'live_daily.sql'), modelSql('live', 0));
  const events = path.join(dir, 'data', 'events.parquet');
  await writeEvents(events, { firstDay: FIRST_DAY, rowsPerDay: HISTORY_ROWS_PER_DAY, count: HISTORY_DAYS });
  const live = await writeLiveFiles(dir, 0);
  const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench isolation setup' });
  try {
    await ingest(ws, 'events', [events], { reason: 'bench data' });
    await ingest(ws, 'live', live, { reason: 'bench data' });
    await run(ws, {}, { reason: 'bench initial build' });
  } finally {
    await ws.close();
  }
}

let liveVariant = 0;

/**
 * One production sample: new live data (untimed), then the timed `run live_daily`. `beforeTiming`
 * (awaited between the two) lets the caller start or pause the backfill for exactly the timed part.
 */
async function productionRun(ws, dir, beforeTiming = async () => {}) {
  const files = await writeLiveFiles(dir, ++liveVariant);
  await ingest(ws, 'live', files, { reason: 'new live data' });
  await beforeTiming();
  const t0 = performance.now();
  const result = await run(ws, { datasets: ['live_daily'] }, { reason: 'bench production run' });
  const ms = performance.now() - t0;
  const rebuilt = result.published.length + result.unchanged;
  if (result.status !== 'published' || rebuilt !== LIVE_DAYS) throw new Error(`production run rebuilt ${rebuilt} partitions (${result.status}), expected ${LIVE_DAYS}`);
  return ms;
}

/**
 * The backfill's run window is switched by the benchmark (a clock it controls): closed, the backfill
 * pauses between tasks; open, it runs. Samples alternate "backfill paused" and "backfill running", so
 * a machine whose load drifts (other processes) biases neither side.
 */
function switchableClock() {
  const OPEN = new Date(2026, 0, 1, 6, 0).getTime(); // inside the window 00:00-12:00
  const CLOSED = new Date(2026, 0, 1, 18, 0).getTime();
  const clock = {
    open: true,
    now: () => (clock.open ? OPEN : CLOSED),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  };
  return clock;
}

async function until(predicate) {
  while (!predicate()) await new Promise((r) => setTimeout(r, 5));
}

export async function scenarioIsolation() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-isolation-'));
  try {
    process.stderr.write(`isolation: building ${HISTORY_DAYS} history and ${LIVE_DAYS} live partitions…\n`);
    await createProject(dir);
    const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench isolation' });
    try {
      // Warm-up and a first figure with no backfill at all.
      const pure = [];
      for (let i = 0; i < 3; i++) {
        const ms = await productionRun(ws, dir);
        if (i > 0) pure.push(ms);
        process.stderr.write(`  production run, no backfill: ${i ? `run ${i}` : 'warm-up'} ${ms.toFixed(0)} ms\n`);
      }

      writeFileSync(path.join(dir, 'models', 'history_daily.sql'), modelSql('events', 1));
      const clock = switchableClock();
      let backfillRun = null;
      let inFlight = 0;
      let started = 0;
      const off = ws.events.on((e) => {
        if (e.type === 'run.started' && e.kind === 'backfill') backfillRun = e.run_id;
        if (e.run_id !== backfillRun) return;
        if (e.type === 'task.started') (inFlight++, started++);
        if (e.type === 'task.finished' && e.status === 'computed') inFlight--;
      });
      let backfillDone = false;
      const t0 = performance.now();
      const big = backfill(
        ws,
        { dataset: 'history_daily', from: dayAt(0), to: dayAt(HISTORY_DAYS - 1), allowFullRefresh: true },
        { reason: 'bench backfill', yes: true, window: '00:00-12:00', clock },
      ).finally(() => (backfillDone = true));
      await until(() => started >= 5 || backfillDone);

      const paused = [];
      const running = [];
      let overlapped = 0;
      for (let i = 0; i < SAMPLES * 2; i++) {
        const withBackfill = i % 2 === 0;
        // The backfill's window is open only around the timed part of a "running" sample, so that it
        // is still running for every sample (batched compute is fast: left open through the untimed
        // ingest too, it would finish within the first samples).
        clock.open = false;
        const ms = await productionRun(ws, dir, async () => {
          if (withBackfill) {
            clock.open = true;
            const before = started;
            await until(() => started > before || backfillDone); // it is really running again
          } else await until(() => inFlight === 0 || backfillDone); // nothing of it in flight
        });
        clock.open = false;
        const during = withBackfill && !backfillDone;
        if (withBackfill && during) overlapped++;
        (withBackfill ? running : paused).push(ms);
        process.stderr.write(`  production run, backfill ${withBackfill ? 'running' : 'paused'}: ${ms.toFixed(0)} ms${withBackfill && !during ? ' (backfill already done)' : ''}\n`);
      }
      clock.open = true;
      const result = await big;
      const backfillMs = performance.now() - t0;
      off();
      const finished = result.status === 'published' && result.published.length + result.unchanged === HISTORY_DAYS;
      const alone = median(paused);
      const during = median(running);
      const ratio = during / alone;
      process.stderr.write(`  backfill of ${HISTORY_DAYS} partitions ${finished ? 'finished' : 'DID NOT FINISH'} in ${(backfillMs / 1000).toFixed(1)} s (including its pauses)\n`);
      return [
        {
          id: 'isolation',
          name: `production run (${LIVE_DAYS} partitions) while a ${HISTORY_DAYS}-partition backfill runs (pool backfill, threads: 1) vs while it is paused`,
          measured_ms: round(during),
          baseline_ms: round(alone),
          ratio,
          goal: '≤ 1.25, and the backfill finishes',
          met: ratio <= 1.25 && finished && overlapped === SAMPLES,
          samples: {
            no_backfill: pure.map(round),
            backfill_paused: paused.map(round),
            backfill_running: running.map(round),
            samples_overlapping_backfill: overlapped,
            backfill_ms: round(backfillMs),
            backfill_finished: finished,
          },
        },
      ];
    } finally {
      await ws.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [row] = await scenarioIsolation();
  console.log(`${row.name}\n  alone ${row.baseline_ms} ms, during backfill ${row.measured_ms} ms: ratio ${row.ratio.toFixed(2)} (goal ${row.goal}) ${row.met ? 'MET' : 'NOT MET'}`);
  console.log(`  samples: ${JSON.stringify(row.samples)}`);
  if (!row.met) process.exitCode = 1;
}

#!/usr/bin/env node
/**
 * Issue 3 figures, on one project of PARTITIONS-sized partitions (a source of ROWS_PER_DAY rows a day
 * and a model that passes every row through with a computed column, so a model partition is
 * ROWS_PER_DAY rows):
 *
 *  restore  — `restore --run` of a 7-partition backfill vs that backfill (the rebuild), goal ≤ 0.5.
 *             Each sample changes the model SQL (new content), backfills the 7 newest partitions
 *             (timed: the rebuild), then restores that run (timed: the restore brings the replaced
 *             versions back from history and publishes them as new versions).
 *  history  — the per-publish overhead of retaining history, goal ≤ 1.2: the publish phase (events
 *             run.publishing → run.published) of the backfills above, which replace 7 existing
 *             partitions (live rows moved to history, then deleted, then the staged rows inserted), vs
 *             the publish phase of the same backfills in a second, identical project with
 *             `retention: { versions: 0, days: 0 }`, where publish keeps no history (publish.ts
 *             keepsHistory): it still deletes the old rows and inserts the new ones — a publish without
 *             history has to remove what it replaces too —, so the difference is exactly the history
 *             move. (Before, the baseline was a publish of 7 new partitions, which skips the delete and
 *             the replaced-version bookkeeping: an upper bound, not the same publish.) A second row,
 *             for reference, compares the whole backfills (what a user waits for).
 *
 * Every operation opens and closes its workspace like a CLI call. `node bench/restore-history.js`
 * runs it alone (after `npm run build`); bench/run.js lists `scenarioRestoreAndHistory`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { backfill } from '../dist/api/operations.js';
import { restore } from '../dist/api/versions.js';
import { openWorkspace } from '../dist/workspace.js';
import { dayAfter, eventsSourceYaml, writeEvents } from './fixtures.js';
import { median, round } from './measure.js';
import { ingestAndBuild } from './project.js';

const ROWS_PER_DAY = 100_000;
const INITIAL_DAYS = 14;
const PARTITIONS = 7; // restored / rebuilt / newly published per sample
const WARMUP = 1;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FIRST_DAY = '2025-01-01';
const MODEL = 'events_enriched';

const config = (retention) => `# Issue 3 benchmark: partitions of ${ROWS_PER_DAY} rows, a pass-through model with a computed column.
name: restore_bench
engine: { kind: duckdb }
${retention}
datasets:
${eventsSourceYaml()}  ${MODEL}:
    kind: model
    sql: models/${MODEL}.sql
    partition: { column: event_date, grain: day }
    key: [event_id]
`;

/** `variant` changes the computed column, so a backfill after a SQL change has new content to publish. */
function modelSql(variant) {
  return `SELECT event_id, user_id, amount_cents,
  CAST(amount_cents * ${100 + variant} / 100 AS BIGINT) AS amount_with_fee_cents,
  event_date
FROM {{ ref('events') }}
WHERE event_date >= {{ start }} AND event_date < {{ end }}
`;
}

const dayAt = (n) => dayAfter(FIRST_DAY, n);

/** Writes days first..first+count-1 of the source as one Parquet file. */
const writeDays = (file, from, count) => writeEvents(file, { firstDay: FIRST_DAY, rowsPerDay: ROWS_PER_DAY, from, count });

/** Opens the workspace like a CLI call, runs `fn(ws)`, and times it and its publish phase. */
async function timed(dir, label, fn) {
  const ws = await openWorkspace(dir, { actor: 'bench', command: `bench ${label}` });
  const t0 = performance.now();
  const marks = {};
  const off = ws.events.on((e) => {
    if (e.type === 'run.publishing') marks.publishing = performance.now();
    if (e.type === 'run.published') marks.published = performance.now();
  });
  let result;
  try {
    result = await fn(ws);
  } finally {
    off();
    await ws.close();
  }
  const total = performance.now() - t0;
  if (marks.publishing === undefined || marks.published === undefined) throw new Error(`${label}: no publish observed (${result?.status})`);
  return { result, total, publish: marks.published - marks.publishing };
}

function expectPublished(result, count, what) {
  const n = result.published.filter((p) => p.dataset === MODEL).length;
  if (result.status !== 'published' || n !== count) throw new Error(`${what}: expected ${count} ${MODEL} partitions published, got ${n} (${result.status})`);
}

const log = (label, i, ms) => process.stderr.write(`  ${label}: ${i < WARMUP ? 'warm-up' : `run ${i - WARMUP + 1}`} ${ms.toFixed(0)} ms\n`);

/** A project of INITIAL_DAYS source days and their model partitions, built. */
async function buildProject(dir, retention = '') {
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), config(retention));
  writeFileSync(path.join(dir, 'models', `${MODEL}.sql`), modelSql(0));
  const initial = path.join(dir, 'data', 'events-initial.parquet');
  await writeDays(initial, 0, INITIAL_DAYS);
  await ingestAndBuild(dir, initial);
}

export async function scenarioRestoreAndHistory() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-restore-'));
  const dir = path.join(root, 'with-history');
  const bare = path.join(root, 'no-history');
  try {
    process.stderr.write(`restore/history: building ${INITIAL_DAYS} partitions × ${ROWS_PER_DAY.toLocaleString('en-US')} rows, twice…\n`);
    await buildProject(dir);
    await buildProject(bare, 'retention: { versions: 0, days: 0 }');

    // Rebuild (a backfill with new content) then restore of that backfill's run, alternating.
    const from = dayAt(INITIAL_DAYS - PARTITIONS);
    const to = dayAt(INITIAL_DAYS - 1);
    const rebuilds = [];
    const restores = [];
    const replacePublishes = [];
    const restorePublishes = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      writeFileSync(path.join(dir, 'models', `${MODEL}.sql`), modelSql(i + 1));
      const bf = await timed(dir, 'backfill', (w) => backfill(w, { dataset: MODEL, from, to }, { reason: 'bench rebuild', yes: true }));
      expectPublished(bf.result, PARTITIONS, 'backfill');
      log(`rebuild (backfill) of ${PARTITIONS}`, i, bf.total);
      const rs = await timed(dir, 'restore', (w) => restore(w, { dataset: MODEL, run: bf.result.run_id }, { reason: 'bench restore', yes: true }));
      expectPublished(rs.result, PARTITIONS, 'restore');
      log(`restore --run of ${PARTITIONS}`, i, rs.total);
      if (i >= WARMUP) {
        rebuilds.push(bf.total);
        restores.push(rs.total);
        replacePublishes.push(bf.publish);
        restorePublishes.push(rs.publish);
      }
    }

    // The same backfills (same SQL variants, same partitions) in the project that keeps no history.
    const bareReplacePublishes = [];
    const bareRebuilds = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      writeFileSync(path.join(bare, 'models', `${MODEL}.sql`), modelSql(i + 1));
      const bf = await timed(bare, 'backfill', (w) => backfill(w, { dataset: MODEL, from, to }, { reason: 'bench rebuild without history', yes: true }));
      expectPublished(bf.result, PARTITIONS, 'backfill without history');
      process.stderr.write(`  publish phase of the ${PARTITIONS}-partition backfill without history: ${i < WARMUP ? 'warm-up' : `run ${i - WARMUP + 1}`} ${bf.publish.toFixed(0)} ms\n`);
      if (i >= WARMUP) {
        bareReplacePublishes.push(bf.publish);
        bareRebuilds.push(bf.total);
      }
    }
    for (let i = 0; i < replacePublishes.length; i++) process.stderr.write(`  publish phase of the ${PARTITIONS}-partition backfill (replace + history), run ${i + 1}: ${replacePublishes[i].toFixed(0)} ms\n`);

    const restoreMs = median(restores);
    const rebuildMs = median(rebuilds);
    const replaceMs = median(replacePublishes);
    const bareMs = median(bareReplacePublishes);
    const size = `${PARTITIONS} partitions × ${ROWS_PER_DAY.toLocaleString('en-US')} rows`;
    return [
      {
        id: 'restore',
        name: `restore --run of ${size} vs rebuilding them (backfill with new content)`,
        measured_ms: round(restoreMs),
        baseline_ms: round(rebuildMs),
        ratio: restoreMs / rebuildMs,
        goal: '≤ 0.5',
        met: restoreMs / rebuildMs <= 0.5,
        // The publish phase of each side too: what is left is planning, staging and validation.
        samples: { restore: restores.map(round), rebuild: rebuilds.map(round), restore_publish: restorePublishes.map(round), rebuild_publish: replacePublishes.map(round) },
      },
      {
        id: 'history',
        name: `publish phase replacing ${size}: history kept vs the same publish without history (retention 0)`,
        measured_ms: round(replaceMs),
        baseline_ms: round(bareMs),
        ratio: replaceMs / bareMs,
        goal: '≤ 1.2',
        met: replaceMs / bareMs <= 1.2,
        samples: { replace_with_history: replacePublishes.map(round), replace_without_history: bareReplacePublishes.map(round) },
      },
      {
        // What a user waits for: the whole backfill (open, plan, compute, validate, publish, close).
        id: 'history',
        name: `whole ${PARTITIONS}-partition backfill (${size}): history kept vs without history`,
        measured_ms: round(rebuildMs),
        baseline_ms: round(median(bareRebuilds)),
        ratio: rebuildMs / median(bareRebuilds),
        goal: 'none',
        met: true,
        samples: { with_history: rebuilds.map(round), without_history: bareRebuilds.map(round) },
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const r of await scenarioRestoreAndHistory()) {
    console.log(`${r.name}\n  ${r.measured_ms} ms vs ${r.baseline_ms} ms: ratio ${r.ratio.toFixed(2)} (goal ${r.goal}) ${r.met ? 'met' : 'NOT met'}`);
  }
}

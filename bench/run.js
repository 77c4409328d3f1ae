#!/usr/bin/env node
/**
 * `npm run bench`: a benchmark, not a test. One run prints, side by side, each figure with its ratio
 * and goal (issue 2), and writes them to bench/results.json:
 *   (a) a 365-partition backfill of a simple daily model through Tidemark vs a hand-written script
 *       sending the same per-partition SQL to DuckDB with the same atomic publish (goal ≤ 1.3×);
 *   (b) a 7-partition backfill vs a full refresh of all 1,095 daily partitions (goal ≤ 0.02×);
 *   (c) `run` with nothing to do, as a CLI subprocess and in-process (goal ≤ 300 ms).
 * and the later issues' figures, each built on its own project:
 *   isolation (issue 7), schema (issue 6: 5M rows through adapters), restore and history (issue 3),
 *   late (issue 5: one late partition over 5 datasets × 1,095, and a no-op run over them), audit
 *   (issue 4: verifying a 100,000-record chain).
 * Each figure is the median of 3 runs after one warm-up.
 *
 *   node bench/run.js                      # everything
 *   node bench/run.js --only restore,late  # a selection, by the ids in the first column
 *   node bench/run.js --engine postgres    # a, b, c and the workers figures on PostgreSQL (issue 8)
 * With --only, bench/results.json keeps the previous rows of the scenarios not run.
 * On PostgreSQL (bench/postgres.js): a throwaway server, or TIDEMARK_BENCH_PG_URL; fewer rows a day
 * (said in the header); results in bench/results-postgres.json.
 *
 * Adding a scenario: one function returning result rows, listed in SCENARIOS with its ids.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { backfill } from '../dist/api/operations.js';
import { openWorkspace } from '../dist/workspace.js';
import { scenarioAuditVerifyInOwnProcess } from './audit-verify.js';
import { handBackfill } from './hand-written.js';
import { scenarioIsolation } from './isolation.js';
import { scenarioLateData } from './late-data.js';
import { measure, round } from './measure.js';
import { noopRunRows } from './noop-run.js';
import { createPgBenchProject, dropPgBenchSchemas, handBackfillPg, PG_ROWS_PER_DAY, PG_SCHEMA_PREFIX } from './postgres.js';
import { createBenchProject, databaseFile, DAYS, dayAt, MODEL, modelSql, ROWS_PER_DAY, setModelVariant, SOURCE_COLUMNS } from './project.js';
import { scenarioRestoreAndHistory } from './restore-history.js';
import { scenarioSchemaIngest } from './schema-ingest.js';
import { benchWorkers, startThrowawayPostgres } from './workers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where the core scenarios (a, b, c) run: `{ kind: 'duckdb' }` or `{ kind: 'postgres', url }`
 * (`--engine postgres`); set once by main().
 */
let target = { kind: 'duckdb' };
const onPostgres = () => target.kind === 'postgres';
const rowsPerDay = () => (onPostgres() ? PG_ROWS_PER_DAY : ROWS_PER_DAY);

/** Each measured backfill uses a new model variant, so every partition really changes. */
let variant = 0;
const nextVariant = (dir) => () => setModelVariant(dir, ++variant);

/** A Tidemark backfill through the library API, opening and closing the workspace like a CLI call. */
async function tidemarkBackfill(dir, from, to, allowFullRefresh = false) {
  const ws = await openWorkspace(dir, { actor: 'bench', command: `bench backfill ${from}..${to}` });
  try {
    const result = await backfill(ws, { dataset: MODEL, from, to, allowFullRefresh }, { reason: 'bench', yes: true });
    if (result.status !== 'published') throw new Error(`backfill ${from}..${to} did not publish (${result.status})`);
    return result;
  } finally {
    await ws.close();
  }
}

/** The same per-partition SQL and atomic publish as Tidemark, sent straight to the engine the project runs on. */
function handWritten(dir, days) {
  const template = modelSql(variant);
  return onPostgres()
    ? handBackfillPg({ url: target.url, table: `hand_${MODEL}`, column: 'day', template, days })
    : handBackfill({ file: databaseFile(dir), table: `hand_${MODEL}`, column: 'day', template, days, sourceColumns: SOURCE_COLUMNS });
}
const engineName = () => (onPostgres() ? 'PostgreSQL' : 'DuckDB');
const daysFrom = (first, count) => Array.from({ length: count }, (_, i) => dayAt(first + i));

/** (a) 365 partitions through Tidemark vs the hand-written script. */
async function scenarioVsHandWritten(dir) {
  const days = daysFrom(DAYS - 365, 365);
  const tm = await measure('tidemark backfill 365', () => tidemarkBackfill(dir, days[0], days[days.length - 1]), { prepare: nextVariant(dir) });
  const hand = await measure('hand-written 365', () => handWritten(dir, days), { prepare: () => void ++variant });
  return [
    {
      id: 'a',
      name: `365-partition backfill: Tidemark vs hand-written ${engineName()} script`,
      measured_ms: tm.median_ms,
      baseline_ms: hand.median_ms,
      ratio: tm.median_ms / hand.median_ms,
      goal: '≤ 1.3',
      met: tm.median_ms / hand.median_ms <= 1.3,
      samples: { tidemark: tm.samples_ms, hand_written: hand.samples_ms },
    },
  ];
}

/**
 * (b) 7 partitions vs all 1,095, and two reference rows without a goal: the hand-written script
 * doing the same two jobs, and Tidemark's 7 partitions against the script's. They show how much of
 * the 7-partition time is the engine's own fixed cost (opening the file, the checkpoint at close)
 * and how much is Tidemark's (planning, state, validation, audit).
 */
async function scenarioScopedVsFull(dir) {
  const seven = await measure('tidemark backfill 7', () => tidemarkBackfill(dir, dayAt(DAYS - 7), dayAt(DAYS - 1)), { prepare: nextVariant(dir) });
  const full = await measure('tidemark full refresh 1095', () => tidemarkBackfill(dir, dayAt(0), dayAt(DAYS - 1), true), { prepare: nextVariant(dir) });
  const handSeven = await measure('hand-written 7', () => handWritten(dir, daysFrom(DAYS - 7, 7)), { prepare: () => void ++variant });
  const handFull = await measure(`hand-written ${DAYS}`, () => handWritten(dir, daysFrom(0, DAYS)), { prepare: () => void ++variant });
  const ratio = seven.median_ms / full.median_ms;
  return [
    {
      id: 'b',
      name: `7-partition backfill vs full refresh of ${DAYS} partitions`,
      measured_ms: seven.median_ms,
      baseline_ms: full.median_ms,
      ratio,
      goal: '≤ 0.02',
      met: ratio <= 0.02,
      samples: { seven: seven.samples_ms, full_refresh: full.samples_ms },
    },
    {
      id: 'b',
      name: `reference: the hand-written ${engineName()} script, 7 partitions vs all ${DAYS}`,
      measured_ms: handSeven.median_ms,
      baseline_ms: handFull.median_ms,
      ratio: handSeven.median_ms / handFull.median_ms,
      goal: 'none',
      met: true,
      samples: { seven: handSeven.samples_ms, full_refresh: handFull.samples_ms },
    },
    {
      id: 'b',
      name: `reference: 7 partitions, Tidemark vs the hand-written ${engineName()} script`,
      measured_ms: seven.median_ms,
      baseline_ms: handSeven.median_ms,
      ratio: seven.median_ms / handSeven.median_ms,
      goal: 'none',
      met: true,
    },
  ];
}

/** (c) `run` with nothing to do: the CLI as a user runs it, and the library call in-process. */
function scenarioNoopRun(dir) {
  return noopRunRows(dir, { id: 'c', what: `${DAYS} partitions × 2 datasets` });
}

/**
 * Issue 8: tasks per second of one detached backfill computed by 1, 2 and 4 `tidemark worker`
 * processes (bench/workers.js, its own project and schema set on the same server). Reported as rows
 * without a goal: the figure is the speed-up, not a threshold.
 */
async function scenarioWorkers() {
  const before = process.env.TIDEMARK_BENCH_PG_URL;
  process.env.TIDEMARK_BENCH_PG_URL = target.url;
  try {
    const rows = await benchWorkers();
    const base = rows[0].tasks_per_second;
    return rows.map((r) => ({
      id: 'workers',
      name: `${r.tasks}-partition detached backfill, ${r.workers} worker(s): ${r.tasks_per_second} tasks/s, speed-up ×${(r.tasks_per_second / base).toFixed(2)}`,
      measured_ms: round(r.seconds * 1000),
      baseline_ms: null,
      ratio: null,
      goal: 'none',
      met: true,
      samples: { tasks_per_second: r.tasks_per_second, workers: r.workers },
    }));
  } finally {
    if (before === undefined) delete process.env.TIDEMARK_BENCH_PG_URL;
    else process.env.TIDEMARK_BENCH_PG_URL = before;
  }
}

/**
 * Every scenario, in order: `ids` are the ids of the rows it returns (what --only selects), `project`
 * says it runs on the shared bench project (built only when one of those is selected); the others
 * build their own.
 */
const SCENARIOS = [
  { ids: ['a'], project: true, run: scenarioVsHandWritten },
  { ids: ['b'], project: true, run: scenarioScopedVsFull },
  { ids: ['c'], project: true, run: scenarioNoopRun },
  { ids: ['isolation'], run: scenarioIsolation }, // issue 7
  { ids: ['schema'], run: () => scenarioSchemaIngest() }, // issue 6
  { ids: ['restore', 'history'], run: scenarioRestoreAndHistory }, // issue 3
  { ids: ['late'], run: scenarioLateData }, // issue 5
  { ids: ['audit'], run: () => scenarioAuditVerifyInOwnProcess() }, // issue 4
];

/** `--engine postgres`: the core scenarios on the PostgreSQL bench project, then the workers figures. */
const PG_SCENARIOS = [...SCENARIOS.filter((s) => s.project), { ids: ['workers'], run: scenarioWorkers }];

/** `--engine duckdb|postgres` (or `--engine=…`); default duckdb. */
function selectEngine(argv) {
  const i = argv.findIndex((a) => a === '--engine' || a.startsWith('--engine='));
  if (i < 0) return 'duckdb';
  const value = argv[i].includes('=') ? argv[i].slice('--engine='.length) : argv[i + 1];
  if (value !== 'duckdb' && value !== 'postgres') {
    process.stderr.write(`--engine takes duckdb or postgres (got ${value ?? 'nothing'})\n`);
    process.exit(2);
  }
  return value;
}

/** `--only a,late` (or `--only=a,late`): the scenarios with any of those ids; default all. */
function selectScenarios(argv, scenarios) {
  const i = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (i < 0) return { selected: scenarios, only: null };
  const value = argv[i].includes('=') ? argv[i].slice('--only='.length) : argv[i + 1];
  const only = (value ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const known = scenarios.flatMap((s) => s.ids);
  const unknown = only.filter((id) => !known.includes(id));
  if (!only.length || unknown.length) {
    process.stderr.write(`--only takes a comma-separated list of: ${known.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}\n`);
    process.exit(2);
  }
  return { selected: scenarios.filter((s) => s.ids.some((id) => only.includes(id))), only };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    // Other work on the machine inflates every figure; recorded so a reader can judge them.
    load_average_1m: Math.round(os.loadavg()[0] * 100) / 100,
  };
}

function report(results, m, seconds) {
  const lines = [];
  lines.push(`Tidemark benchmark${onPostgres() ? ' on PostgreSQL' : ''} — ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, ${m.os}, Node ${m.node}`);
  if (m.load_average_1m > m.cores) lines.push(`Note: the machine was busy (load average ${m.load_average_1m} on ${m.cores} cores); figures are inflated and noisy.`);
  if (onPostgres()) {
    lines.push(`Load average (1 min) at the end: ${m.load_average_1m} on ${m.cores} cores.`);
    lines.push(`Data (a, b, c): ${DAYS} daily partitions × ${PG_ROWS_PER_DAY.toLocaleString('en-US')} rows — scaled down from DuckDB's ${ROWS_PER_DAY.toLocaleString('en-US')} (each partition query scans the unindexed source); the figures are not comparable with bench/results.json. Median of 3 after 1 warm-up; workers: median of its own runs.`);
  } else {
    lines.push(`Data (a, b, c): ${DAYS} daily partitions × ${ROWS_PER_DAY.toLocaleString('en-US')} rows; the other scenarios build their own projects. Median of 3 after 1 warm-up.`);
  }
  lines.push('');
  const rows = results.map((r) => ({
    '': r.id,
    scenario: r.name,
    measured: `${fmtMs(r.measured_ms)}`,
    baseline: r.baseline_ms === null ? '' : fmtMs(r.baseline_ms),
    ratio: r.ratio === null ? '' : r.ratio.toFixed(r.ratio < 0.1 ? 4 : 2),
    goal: r.goal,
    met: r.goal === 'none' ? '—' : r.met ? 'yes' : 'NO',
  }));
  const cols = Object.keys(rows[0]);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells) => cells.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  lines.push(line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c]))));
  lines.push('', `Total bench time ${seconds.toFixed(0)} s (including building the projects).`);
  return lines.join('\n');
}

function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

async function main() {
  const argv = process.argv.slice(2);
  const engine = selectEngine(argv);
  const { selected, only } = selectScenarios(argv, engine === 'postgres' ? PG_SCENARIOS : SCENARIOS);
  const t0 = performance.now();
  const root = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-'));
  const dir = path.join(root, 'bench');
  let server = null;
  try {
    if (engine === 'postgres') {
      let url = process.env.TIDEMARK_BENCH_PG_URL;
      if (!url) {
        process.stderr.write('starting a throwaway PostgreSQL…\n');
        server = await startThrowawayPostgres();
        url = server.url;
      }
      target = { kind: 'postgres', url };
      // A schema set of its own; inherited by the CLI subprocesses of scenario (c).
      process.env.TIDEMARK_PG_SCHEMA_PREFIX = PG_SCHEMA_PREFIX;
      await dropPgBenchSchemas(url);
    }
    let setupMs = null;
    if (selected.some((s) => s.project)) {
      process.stderr.write(`building the bench project on ${engine} in ${dir} (${DAYS} days × ${rowsPerDay()} rows)…\n`);
      const setup0 = performance.now();
      await (onPostgres() ? createPgBenchProject(dir, target.url) : createBenchProject(dir));
      setupMs = performance.now() - setup0;
      process.stderr.write(`  set-up ${(setupMs / 1000).toFixed(1)} s\n`);
    }
    const results = [];
    for (const scenario of selected) {
      const s0 = performance.now();
      const rows = await scenario.run(dir);
      const seconds = Math.round((performance.now() - s0) / 1000);
      process.stderr.write(`  [${scenario.ids.join(', ')}] done in ${seconds} s\n`);
      results.push(...rows.map((r) => ({ ...r, scenario_s: seconds })));
    }
    const m = machine();
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`\n${report(results, m, seconds)}\n`);
    const rows = results.map((r) => ({ ...r, ratio: r.ratio === null ? null : Math.round(r.ratio * 10000) / 10000 }));
    const json = {
      date: new Date().toISOString(),
      machine: m,
      engine,
      data: { days: DAYS, rows_per_day: rowsPerDay() },
      method: 'median of 3 after 1 warm-up',
      setup_ms: setupMs === null ? null : round(setupMs),
      total_s: Math.round(seconds),
      only,
      results: only ? mergeWithPrevious(rows, only) : rows,
    };
    writeFileSync(resultsFile(), `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`Results written to bench/${path.basename(resultsFile())}${only ? ' (rows of the scenarios not run kept from the previous file, each with its own date)' : ''}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
    if (onPostgres()) await dropPgBenchSchemas(target.url).catch(() => undefined);
    if (server) await server.stop();
  }
}

const resultsFile = () => path.join(HERE, onPostgres() ? 'results-postgres.json' : 'results.json');

/** With --only: the new rows, plus the previous file's rows of the scenarios that were not run. */
function mergeWithPrevious(rows, only) {
  const now = new Date().toISOString();
  const fresh = rows.map((r) => ({ ...r, date: now }));
  if (!existsSync(resultsFile())) return fresh;
  const previous = JSON.parse(readFileSync(resultsFile(), 'utf8'));
  const kept = (previous.results ?? []).filter((r) => !only.includes(r.id)).map((r) => ({ date: previous.date, ...r }));
  const order = (onPostgres() ? PG_SCENARIOS : SCENARIOS).flatMap((s) => s.ids);
  return [...kept, ...fresh].sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
}

await main();

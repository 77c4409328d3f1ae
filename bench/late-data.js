#!/usr/bin/env node
/**
 * Issue 5 figures, on a project of 5 datasets × DAYS daily partitions: one source (`events`) and a
 * chain of 4 models, one of them with a lookback window:
 *   events → daily_totals → rolling_7d (lookback: 6) → rolling_7d_avg → daily_report
 *
 *  late  — `run` after one late file for an old day d (ingested before the timing) vs rebuilding only
 *          the affected partitions by hand: the same per-partition SQL sent straight to DuckDB,
 *          dataset by dataset in dependency order, each dataset replaced in one transaction (hand
 *          copies of the model tables, so both sides start from the same data). Affected: daily d,
 *          and d..d+6 of each of the 3 downstream models (22 partitions). Goal ≤ 1.5.
 *  no-op — `run` with nothing to do over the same project, CLI subprocess and in-process (≤ 300 ms).
 *
 * Each sample's late file is for a different day, so every sample has real work. `node
 * bench/late-data.js` runs it alone (after `npm run build`); bench/run.js lists `scenarioLateData`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../dist/api/operations.js';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
import { dailyModelYaml, dayAfter, eventsSourceYaml, withDuckDb, writeEvents } from './fixtures.js';
import { handRebuildChain, renderPartition } from './hand-written.js';
import { measure } from './measure.js';
import { noopRunRows } from './noop-run.js';
import { ingestAndBuild } from './project.js';

const DAYS = 1095;
const ROWS_PER_DAY = 200;
const LATE_ROWS = 20;
const LOOKBACK = 6;
const FIRST_DAY = '2023-01-01';
const SOURCE_COLUMNS = ['event_id', 'user_id', 'amount_cents', 'event_date'];

/** The chain, in dependency order: each model's SQL computes ONE day. */
const MODELS = [
  {
    name: 'daily_totals',
    sql: `SELECT event_date AS day, CAST(count(*) AS BIGINT) AS events, CAST(count(DISTINCT user_id) AS BIGINT) AS users, CAST(sum(amount_cents) AS BIGINT) AS amount_cents
FROM {{ ref('events') }}
WHERE event_date >= {{ start }} AND event_date < {{ end }}
GROUP BY event_date
`,
  },
  {
    name: 'rolling_7d',
    lookback: LOOKBACK,
    sql: `SELECT CAST({{ start }} AS DATE) AS day, CAST(sum(events) AS BIGINT) AS events_7d, CAST(sum(amount_cents) AS BIGINT) AS amount_cents_7d
FROM {{ ref('daily_totals') }}
WHERE day >= {{ start }} - INTERVAL '${LOOKBACK} days' AND day < {{ end }}
`,
  },
  {
    name: 'rolling_7d_avg',
    sql: `SELECT day, events_7d, amount_cents_7d, amount_cents_7d / 7.0 AS avg_amount_cents
FROM {{ ref('rolling_7d') }}
WHERE day >= {{ start }} AND day < {{ end }}
`,
  },
  {
    name: 'daily_report',
    sql: `SELECT day, CAST(round(avg_amount_cents) AS BIGINT) AS avg_cents, amount_cents_7d / greatest(events_7d, 1) AS cents_per_event
FROM {{ ref('rolling_7d_avg') }}
WHERE day >= {{ start }} AND day < {{ end }}
`,
  },
];

const CONFIG = `# Issue 5 benchmark: one source and a chain of 4 daily models, one with a lookback window.
name: late_bench
engine: { kind: duckdb }
datasets:
${eventsSourceYaml()}${MODELS.map((m, i) => dailyModelYaml(m.name, m.lookback ? `    depends_on: { ${MODELS[i - 1].name}: { lookback: ${m.lookback} } }\n` : '')).join('')}`;

const dayAt = (n) => dayAfter(FIRST_DAY, n);
const databaseFile = (dir) => path.join(dir, '.tidemark', 'warehouse.duckdb');
const quote = (name) => `"${name.replace(/"/g, '""')}"`;

/** Runs the statements `sql` (one or a list) on `file`. */
async function duckdb(file, sql) {
  await withDuckDb(file, async (conn) => {
    for (const statement of [sql].flat()) await conn.run(statement);
  });
}

async function withWorkspace(dir, command, fn) {
  const ws = await openWorkspace(dir, { actor: 'bench', command });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

export async function createProject(dir) {
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), CONFIG);
  for (const m of MODELS) writeFileSync(path.join(dir, 'models', `${m.name}.sql`), m.sql);
  const file = path.join(dir, 'data', 'events.parquet');
  await writeEvents(file, { firstDay: FIRST_DAY, rowsPerDay: ROWS_PER_DAY, count: DAYS });
  await ingestAndBuild(dir, file);
  // The hand-written side keeps its own copies of the model tables, starting from the same data.
  await duckdb(databaseFile(dir), MODELS.map((m) => `CREATE TABLE ${quote(`hand_${m.name}`)} AS SELECT * FROM "main".${quote(m.name)}`));
}

/** The day of sample i's late file: spread over the middle of the range, one per sample. */
const lateDay = (i) => dayAt(300 + 97 * i);

/** A late file for `day`: LATE_ROWS new events (new keys), written as Parquet and ingested (not timed). */
async function ingestLateFile(dir, i) {
  const file = path.join(dir, 'data', `late-${i}.parquet`);
  await duckdb(
    ':memory:',
    `COPY (SELECT ${10_000_000_000 + i * 1000} + k AS event_id, CAST(k AS BIGINT) AS user_id, CAST(500 + k AS BIGINT) AS amount_cents, DATE '${lateDay(i)}' AS event_date
     FROM range(${LATE_ROWS}) t(k)) TO '${file}' (FORMAT parquet)`,
  );
  await withWorkspace(dir, 'bench late ingest', async (ws) => {
    const result = await ingest(ws, 'events', [file], { reason: 'late file' });
    if (result.published.length !== 1) throw new Error(`the late file should change one events partition, changed ${result.published.length}`);
  });
}

/** Partitions a late day `d` affects, per model: d for the first, d..d+LOOKBACK for the rest of the chain. */
function affected(day) {
  const d = Date.parse(`${day}T00:00:00Z`);
  const window = Array.from({ length: LOOKBACK + 1 }, (_, k) => new Date(d + k * 86_400_000).toISOString().slice(0, 10));
  return MODELS.map((m, i) => ({ model: m, days: i === 0 ? [day] : window }));
}

export async function scenarioLateData() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-late-'));
  try {
    process.stderr.write(`late data: building 5 datasets × ${DAYS} partitions (${ROWS_PER_DAY} source rows a day)…\n`);
    await createProject(dir);
    const expected = affected(lateDay(0)).reduce((n, a) => n + a.days.length, 0);

    const tm = await measure(
      'run after one late file',
      (i) =>
        withWorkspace(dir, 'bench run', async (ws) => {
          const result = await run(ws, {}, { reason: 'bench late run' });
          if (result.status !== 'published' || result.published.length + result.unchanged !== expected) {
            throw new Error(`expected ${expected} partitions rebuilt, got ${result.published.length} published and ${result.unchanged} unchanged (${result.status})`);
          }
          const first = result.published.find((p) => p.dataset === MODELS[0].name);
          if (first?.partition !== lateDay(i)) throw new Error(`expected ${MODELS[0].name} ${lateDay(i)} rebuilt`);
        }),
      { prepare: (i) => ingestLateFile(dir, i) },
    );
    const relation = (name) => (name === 'events' ? `(SELECT ${SOURCE_COLUMNS.map(quote).join(', ')} FROM "main"."events")` : `"main".${quote(`hand_${name}`)}`);
    const hand = await measure('hand-written rebuild of the affected partitions', (i) =>
      handRebuildChain({
        file: databaseFile(dir),
        steps: affected(lateDay(i)).map(({ model, days }) => ({ table: `hand_${model.name}`, column: 'day', days, render: (day) => renderPartition(model.sql, day, relation) })),
      }),
    );
    const ratio = tm.median_ms / hand.median_ms;
    const what = `5 datasets × ${DAYS} partitions`;
    return [
      {
        id: 'late',
        name: `run after one late partition over ${what} (${expected} rebuilt) vs the same partitions by hand`,
        measured_ms: tm.median_ms,
        baseline_ms: hand.median_ms,
        ratio,
        goal: '≤ 1.5',
        met: ratio <= 1.5,
        samples: { tidemark: tm.samples_ms, hand_written: hand.samples_ms },
      },
      ...(await noopRunRows(dir, { id: 'late', what })),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const r of await scenarioLateData()) {
    console.log(`${r.name}\n  ${r.measured_ms} ms${r.baseline_ms === null ? '' : ` vs ${r.baseline_ms} ms: ratio ${r.ratio.toFixed(2)}`} (goal ${r.goal}) ${r.met ? 'met' : 'NOT met'}`);
  }
}

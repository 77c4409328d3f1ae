#!/usr/bin/env node
/**
 * Issue 6 benchmark: ingesting 5M rows of v1 Parquet through schema adapters (rename, dollars DOUBLE →
 * cents BIGINT, a default constant, a dropped column) vs DuckDB reading the same file into the same
 * table with a hand-written INSERT … SELECT of the same expressions (goal: ratio ≤ 1.3). Each measured
 * Tidemark ingest is a first load of the source into a fresh project whose state store exists (opened
 * and closed once, untimed, as by any earlier command): creating the store is paid once per project,
 * not per ingest, and is reported on its own row. Its phases are timed from the event stream:
 * open (the workspace: config, database), plan (file hash, shape
 * match, the DISTINCT read of partition keys, the run's creation), stage (the file's rows written
 * once, into the load table; checksums and key validation over it), publish (the one transaction:
 * the load table renamed into place, the state), close. The two sides are timed in turns, 5 samples
 * each after a warm-up (measureInTurns): this machine's speed drifts over the minute the scenario takes.
 *
 * Run `npm run build && node bench/schema-ingest.js [rows] [days]`; `scenarioSchemaIngest` is exported
 * so bench/run.js can add it to its scenarios.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
import { withDuckDb } from './fixtures.js';
import { measure, measureInTurns, round } from './measure.js';

const YAML = `name: schema_bench
datasets:
  orders:
    kind: source
    partition: { column: order_date, grain: day }
    key: [order_id]
    schema:
      current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, order_date: DATE }
      history:
        - version: 1
          columns: { order_id: BIGINT, customer: BIGINT, amount: DOUBLE, legacy_flag: VARCHAR, order_date: DATE }
          adapt: { customer_id: customer, amount_cents: "CAST(round(amount * 100) AS BIGINT)", currency: "'USD'" }
`;

/** The same expressions, written by hand, into a table of the same shape (with the file column Tidemark keeps). */
const HAND_TABLE = `CREATE TABLE orders (order_id BIGINT, customer_id BIGINT, amount_cents BIGINT, currency VARCHAR, order_date DATE, _tm_file VARCHAR)`;
const handInsert = (file) => `INSERT INTO orders SELECT order_id, customer AS customer_id, CAST(round(amount * 100) AS BIGINT) AS amount_cents, 'USD' AS currency, order_date, 'data/orders-v1.parquet'
  FROM read_parquet('${file.replace(/'/g, "''")}')`;

/** v1 Parquet: `rows` orders over `days` days, written by DuckDB. */
async function writeV1Parquet(file, rows, days) {
  await withDuckDb(':memory:', (conn) =>
    conn.run(`COPY (SELECT i AS order_id, i % 50000 AS customer, round((i % 100000) / 100.0 + 0.99, 2) AS amount, CASE WHEN i % 7 = 0 THEN 'x' END AS legacy_flag,
      DATE '2025-01-01' + CAST(i % ${days} AS INTEGER) AS order_date FROM range(${rows}) t(i)) TO '${file}' (FORMAT parquet)`),
  );
}

function freshProject(root, n) {
  const dir = path.join(root, `tm-${n}`);
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  writeFileSync(path.join(dir, 'tidemark.yaml'), YAML);
  return dir;
}

/** Opens and closes `dir`'s workspace: a fresh project's first open creates its state store. */
async function openAndClose(dir) {
  const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench open' });
  await ws.close();
}

export async function scenarioSchemaIngest({ rows = 5_000_000, days = 100 } = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'tidemark-schema-bench-'));
  try {
    const parquet = path.join(root, 'orders-v1.parquet');
    process.stderr.write(`writing ${rows.toLocaleString('en-US')} rows of v1 Parquet over ${days} days…\n`);
    await writeV1Parquet(parquet, rows, days);
    let n = 0;
    let dir;
    const phases = [];
    const { a: tm, b: hand } = await measureInTurns(
      {
        label: 'tidemark ingest (v1 → current)',
        fn: async () => {
          const opening = performance.now();
          const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench ingest' });
          const marks = { opening, start: performance.now() };
          const off = ws.events.on((e) => {
            if (e.type === 'run.started') marks.planned = performance.now();
            if (e.type === 'run.publishing') marks.staged = performance.now();
            if (e.type === 'run.published') marks.published = performance.now();
          });
          try {
            const result = await ingest(ws, 'orders', [path.join(dir, 'data', 'orders-v1.parquet')], { reason: 'bench' });
            if (result.status !== 'published' || result.files[0].schema_version !== 1) throw new Error(`unexpected ingest result ${JSON.stringify(result.files)}`);
          } finally {
            off();
            await ws.close();
          }
          phases.push({ open: marks.start - marks.opening, plan: marks.planned - marks.start, stage: marks.staged - marks.planned, publish: marks.published - marks.staged, close: performance.now() - marks.published });
        },
      },
      {
        label: 'hand-written INSERT … SELECT',
        fn: () =>
          withDuckDb(path.join(root, `hand-${++n}.duckdb`), async (conn) => {
            await conn.run(HAND_TABLE);
            await conn.run('BEGIN TRANSACTION');
            await conn.run(handInsert(parquet));
            await conn.run('COMMIT');
          }),
      },
      {
        prepare: async () => {
          dir = freshProject(root, ++n);
          copyFileSync(parquet, path.join(dir, 'data', 'orders-v1.parquet'));
          await openAndClose(dir);
        },
      },
    );
    const store = await measure('a new project\'s first open and close (creates the state store)', () => openAndClose(dir), { runs: 5, prepare: () => (dir = freshProject(root, ++n)) });
    const measured = phases.slice(1);
    const avg = (k) => round(measured.reduce((s, p) => s + p[k], 0) / measured.length);
    const ratio = tm.median_ms / hand.median_ms;
    return [
      {
        id: 'schema',
        name: `ingest ${rows.toLocaleString('en-US')} rows of v1 Parquet through adapters vs hand-written INSERT … SELECT`,
        measured_ms: tm.median_ms,
        baseline_ms: hand.median_ms,
        ratio,
        goal: '≤ 1.3',
        met: ratio <= 1.3,
        samples: { tidemark: tm.samples_ms, hand_written: hand.samples_ms },
        phases_ms: { open: avg('open'), plan: avg('plan'), stage: avg('stage'), publish: avg('publish'), close: avg('close') },
      },
      {
        id: 'schema',
        name: "reference: a new project's first open and close, which creates its state store (once per project; not in the ingest above)",
        measured_ms: store.median_ms,
        baseline_ms: null,
        ratio: null,
        goal: 'none',
        met: true,
        samples: { tidemark: store.samples_ms },
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = Number(process.argv[2] ?? 5_000_000);
  const days = Number(process.argv[3] ?? 100);
  const [r, store] = await scenarioSchemaIngest({ rows, days });
  process.stdout.write(
    `\n${r.name}\n  Tidemark ${r.measured_ms} ms (phases: open ${r.phases_ms.open} ms, plan ${r.phases_ms.plan} ms, stage ${r.phases_ms.stage} ms, publish ${r.phases_ms.publish} ms, close ${r.phases_ms.close} ms)\n` +
      `  hand-written ${r.baseline_ms} ms\n  ${store.name}: ${store.measured_ms} ms\n  ratio ${r.ratio.toFixed(2)} (goal ${r.goal}: ${r.met ? 'met' : 'NOT met'}); load average ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cores\n`,
  );
}

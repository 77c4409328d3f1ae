#!/usr/bin/env node
/**
 * `npm run demo`: the main job end to end on embedded DuckDB, through the real CLI.
 *
 * Failure mode 1 of DESIGN.md ("a fix for the last 7 days turns into a full refresh"): scaffold the
 * shop example into a fresh temp folder, load it, build it, then the upstream team re-delivers the
 * last 7 days of orders with corrected EUR amounts. Only those 7 files reload, a plan shows the
 * blast radius, a scoped backfill rebuilds exactly those partitions and their dependents, and the
 * demo proves it: a before/after table of every partition that changed, and the count of the ones
 * that did not (same version and checksum).
 *
 * Every step spawns `node bin/tidemark.js … --project DIR` and prints the command first, so what you
 * see is what you would type. The demo exits non-zero if any command fails or the scope is wrong.
 *
 * After the main story come the other failure modes, each a chapter: a late file and the precise
 * rebuild it causes (issue 5), a backfill with a wrong filter undone by one restore (issue 3), a
 * 2025 file in the old schema (issue 6), downstream consumers (issue 9), a throttled backfill beside
 * production (issue 7), and last the audit trail: verify the chain, show a repaired partition's
 * lineage (issue 4).
 *
 * Extending it: each step is one function taking the shared `demo` state, listed in STEPS below.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'bin', 'tidemark.js');

/**
 * The shop example's datasets, with the column each partition is keyed by and one metric worth
 * comparing before/after (the fix lowers EUR amounts by 10%, so these are the numbers that move).
 */
const DATASETS = [
  { dataset: 'orders', partitionColumn: 'order_date', metric: 'amount_cents' },
  { dataset: 'fx_rates', partitionColumn: 'rate_date', metric: 'usd_per_unit' },
  { dataset: 'daily_revenue', partitionColumn: 'day', metric: 'revenue_usd_cents' },
  { dataset: 'revenue_7d', partitionColumn: 'day', metric: 'revenue_usd_cents_7d' },
  { dataset: 'monthly_revenue', partitionColumn: 'month', metric: 'revenue_usd_cents' },
];

const FIX_REASON = 'upstream fix for EUR amounts';

// ---------------------------------------------------------------------------------------------
// Steps. Each one is a chapter of the story; `demo` carries what later steps need.
// ---------------------------------------------------------------------------------------------

/** 1. A fresh project from the shop example: tidemark.yaml, SQL models, 120 days of CSV. */
function scaffoldProject(demo) {
  chapter('1. Scaffold the shop example into a fresh folder');
  tidemark(['init', demo.dir, '--example', 'shop'], { project: false, display: 'init $DEMO --example shop' });
}

/** 2. Load both sources: one partition per day, one file per day. */
function ingestSources() {
  chapter('2. Ingest the sources (one CSV file per day)');
  tidemark(['ingest', 'orders', glob('data/orders/*.csv')]);
  tidemark(['ingest', 'fx_rates', glob('data/fx_rates/*.csv')]);
}

/** 3. Build every model partition, in dependency order. */
function buildModels() {
  chapter('3. Build every model partition');
  tidemark(['run']);
}

/** 4. What the warehouse holds now. */
function showStatus() {
  chapter('4. Status');
  tidemark(['status']);
}

/** 5. Record partition versions and metrics before the incident, to compare afterwards. */
function snapshotBefore(demo) {
  chapter('5. Snapshot every partition before the fix (versions, checksums, metrics)');
  demo.before = snapshot();
}

/** 6. The upstream team re-delivers the last 7 days; re-ingest reloads only the changed files. */
function applyUpstreamFix(demo) {
  chapter('6. Incident: upstream corrects EUR amounts for the last 7 days');
  const fixes = readdirSync(path.join(demo.dir, 'data', 'fixes')).filter((f) => f.endsWith('.csv')).sort();
  command(`cp data/fixes/*.csv data/orders/     # ${fixes.length} corrected files`);
  for (const f of fixes) copyFileSync(path.join(demo.dir, 'data', 'fixes', f), path.join(demo.dir, 'data', 'orders', f));
  const result = tidemark(['ingest', 'orders', glob('data/orders/*.csv'), '--json'], { json: true });
  const reloaded = result.files.filter((f) => f.status !== 'unchanged');
  say(`→ ${reloaded.length} file(s) reloaded, ${result.files.length - reloaded.length} already loaded and unchanged; ${result.published.length} orders partition(s) got a new version (run ${result.run_id})`);
  expect(reloaded.length === fixes.length, `expected exactly ${fixes.length} files to reload, got ${reloaded.length}`);
  demo.fixedDays = result.published.map((p) => p.partition).sort();
}

/** 7. The blast radius, before anything is written. */
function planBackfill(demo) {
  chapter('7. Plan: what would a backfill of those 7 days rebuild?');
  tidemark(['plan', 'daily_revenue', '--last', '7d', '--downstream']);
  demo.plan = tidemark(['plan', 'daily_revenue', '--last', '7d', '--downstream', '--json'], { json: true });
  say(`→ the same plan as data: ${demo.plan.datasets.map((d) => `${d.dataset} ${d.partitions.length}`).join(', ')} (kept to check the result against)`);
}

/** 8. The scoped, audited, atomic backfill. */
function backfillFix(demo) {
  chapter('8. Backfill exactly those partitions and their dependents');
  const result = tidemark(['backfill', 'daily_revenue', '--last', '7d', '--downstream', '--reason', FIX_REASON, '--yes', '--json'], { json: true });
  say(`→ run ${result.run_id} ${result.status}: ${result.published.length} partition(s) got a new version, ${result.unchanged} unchanged`);
  demo.backfill = result;
}

/** 9. Record partition versions and metrics after the fix. */
function snapshotAfter(demo) {
  chapter('9. Snapshot every partition after the fix');
  demo.after = snapshot();
}

/** 10. The proof: what changed (and by how much), and how much did not. */
function reportBeforeAfter(demo) {
  chapter('10. Before / after');
  const { changed, untouched, total } = compareSnapshots(demo.before, demo.after);
  const rows = changed.map((c) => ({
    dataset: c.dataset,
    partition: c.partition,
    version: `${c.before?.version ?? '-'} → ${c.after.version}`,
    rows: c.before?.rows === c.after.rows ? String(c.after.rows) : `${c.before?.rows ?? '-'} → ${c.after.rows}`,
    metric: c.metric,
    before: formatNumber(c.metricBefore),
    after: formatNumber(c.metricAfter),
    change: percentChange(c.metricBefore, c.metricAfter),
  }));
  say(table(rows));
  say('');
  const perDataset = DATASETS.map(({ dataset }) => `${dataset} ${changed.filter((c) => c.dataset === dataset).length}`).join(', ');
  say(`Changed: ${changed.length} partition(s) (${perDataset}).`);
  say(`Untouched: ${untouched} of ${total} partitions kept the same version and checksum.`);

  // The guarantee, checked rather than asserted in prose: the model partitions that changed are
  // exactly the ones the backfill published, and the source partitions exactly the fixed days.
  const published = new Set(demo.backfill.published.map((p) => `${p.dataset}/${p.partition}`));
  const changedModels = changed.filter((c) => c.dataset !== 'orders').map((c) => `${c.dataset}/${c.partition}`);
  const changedOrders = changed.filter((c) => c.dataset === 'orders').map((c) => c.partition);
  const planned = new Set(demo.plan.datasets.flatMap((d) => d.partitions.map((p) => `${d.dataset}/${p}`)));
  expect(changedModels.length === published.size && changedModels.every((k) => published.has(k)), 'model partitions outside the backfill changed');
  expect([...published].every((k) => planned.has(k)), 'the backfill published partitions that were not in the plan');
  expect(JSON.stringify(changedOrders) === JSON.stringify(demo.fixedDays), 'orders partitions other than the fixed days changed');
  say(`Scope check passed: nothing outside the plan (${planned.size} partitions) and the ${demo.fixedDays.length} re-delivered days changed.`);
}


/** The model datasets, the ones a `run`, backfill or restore rebuilds. */
const MODELS = DATASETS.filter((d) => !['orders', 'fx_rates'].includes(d.dataset)).map((d) => d.dataset);

/** The day of the late file (chapter 11) and the first day of the legacy file (chapter 13). */
const LATE_DAY = '2026-02-10';
const LEGACY_DAY = '2025-12-31';

/**
 * 11. Late data (issue 5). 40 paid orders for a day published weeks ago arrive in their own file.
 * Ingest bumps only that orders partition; `partitions` says which model partition is stale and
 * why; `run` rebuilds exactly the windows that read it: daily d, rolling d..d+6, month(d).
 */
function lateData(demo) {
  chapter(`11. Late data: 40 more paid orders for ${LATE_DAY} arrive weeks later`);
  const ordersDir = path.join(demo.dir, 'data', 'orders');
  const dayFile = readFileSync(path.join(ordersDir, `orders-${LATE_DAY}.csv`), 'utf8').trimEnd().split('\n');
  const firstId = Math.max(...dayFile.slice(1).map((l) => Number(l.split(',')[0]))) + 1000;
  const late = Array.from({ length: 40 }, (_, i) => `${firstId + i},${90000 + i},${1500 + 37 * i},${i % 4 === 0 ? 'EUR' : 'USD'},paid,${LATE_DAY}`);
  writeFileSync(path.join(ordersDir, `late-${LATE_DAY}.csv`), `${dayFile[0]}\n${late.join('\n')}\n`);
  command(`# upstream delivers data/orders/late-${LATE_DAY}.csv: ${late.length} orders dated ${LATE_DAY}`);
  const ingested = tidemark(['ingest', 'orders', `data/orders/late-${LATE_DAY}.csv`, '--json'], { json: true });
  const bumped = ingested.published.map((p) => `${p.dataset} ${p.partition} v${p.version_before} → v${p.version_after} (${p.rows_before} → ${p.rows_after} rows)`);
  say(`→ ${bumped.join(', ')}; every other orders partition kept its version`);
  expect(ingested.published.length === 1 && ingested.published[0].partition === LATE_DAY, `the late file should change only orders ${LATE_DAY}`);

  const stale = tidemark(['partitions', 'daily_revenue', '--json'], { json: true }).filter((p) => p.state === 'stale');
  for (const p of stale) say(`→ daily_revenue ${p.partition} is stale: ${p.stale_reasons.join('; ')}`);
  expect(stale.length === 1 && stale[0].partition === LATE_DAY, `exactly daily_revenue ${LATE_DAY} should be stale`);
  // The watermark of each model moves back to the day before the late day (its month for the rollup).
  const before = watermarks();
  say(`→ status: ${MODELS.map((d) => `${d} complete through ${before[d].complete_through}`).join(', ')}`);
  expect(before.daily_revenue.complete_through === dayAfter(LATE_DAY, -1), `daily_revenue should be complete through the day before ${LATE_DAY}`);

  const run = tidemark(['run', '--json'], { json: true });
  const rebuilt = publishedByDataset(run);
  say(`→ run ${run.run_id} rebuilt exactly:`);
  for (const dataset of MODELS) say(`    ${dataset.padEnd(16)} ${describeKeys(rebuilt[dataset] ?? [])}`);
  const expected = { daily_revenue: [LATE_DAY], revenue_7d: dayRange(LATE_DAY, 7), monthly_revenue: [`${LATE_DAY.slice(0, 7)}-01`] };
  expect(sameScope(rebuilt, expected), `the late file should rebuild daily d, rolling d..d+6 and month(d), got ${JSON.stringify(rebuilt)}`);
  say('Scope check passed: 1 daily, 7 rolling and 1 monthly partition, nothing else.');
  const after = watermarks();
  expect(MODELS.every((d) => after[d].incomplete_at === null), 'every model should be complete through its last partition after the run');
  say(`→ status: every model complete through its last partition again (${MODELS.map((d) => after[d].complete_through).join(', ')})`);
}

/** `status --json`'s completeness of each dataset, by name. */
function watermarks() {
  return Object.fromEntries(tidemark(['status', '--json'], { json: true }).datasets.map((d) => [d.dataset, d]));
}

/**
 * 12. The wrong-filter incident (issue 3, failure mode 3). A well-meant edit of the model SQL counts
 * pending and refunded orders as revenue; a backfill of the last 10 days publishes wrong numbers to
 * every layer. `diff` shows the damage, one `restore --run` undoes it (a new version whose content
 * equals the old), and the checksums prove every model partition is back to its pre-incident content.
 */
function wrongFilterIncident(demo) {
  chapter('12. Incident: a backfill with a wrong filter, and its restore in one command');
  const pre = modelPartitions();
  const sqlFile = path.join(demo.dir, 'models', 'daily_revenue.sql');
  const correctSql = readFileSync(sqlFile, 'utf8');
  const wrongSql = correctSql.replace("WHERE o.status = 'paid'", "WHERE o.status <> 'cancelled'");
  expect(wrongSql !== correctSql, "models/daily_revenue.sql no longer has the filter WHERE o.status = 'paid'");
  writeFileSync(sqlFile, wrongSql);
  command(`# someone edits models/daily_revenue.sql: WHERE o.status = 'paid'  →  WHERE o.status <> 'cancelled'`);
  const bad = tidemark(['backfill', 'daily_revenue', '--last', '10d', '--downstream', '--reason', 'reprocess last 10 days after a filter cleanup', '--yes', '--json'], { json: true });
  say(`→ run ${bad.run_id} ${bad.status}: ${describeCounts(publishedByDataset(bad))} now hold wrong numbers`);
  demo.incidentRun = bad.run_id;

  command('# the revenue dashboard looks too good; what did that run change?');
  tidemark(['diff', bad.run_id, '--dataset', 'daily_revenue']);
  const diff = tidemark(['diff', bad.run_id, '--json'], { json: true });
  const changedDaily = diff.partitions.filter((p) => p.dataset === 'daily_revenue');
  expect(changedDaily.length === 10, `diff should list the 10 daily_revenue partitions of the backfill, got ${changedDaily.length}`);

  const restored = tidemark(['restore', 'daily_revenue', '--run', bad.run_id, '--downstream', '--reason', 'undo the wrong-filter backfill', '--yes', '--json'], { json: true });
  say(`→ restore ${restored.run_id} ${restored.status}: ${describeCounts(publishedByDataset(restored))} republished (daily_revenue from history, dependents recomputed)`);
  demo.restoreRun = restored.run_id;

  const post = modelPartitions();
  let bumped = 0;
  const differ = [];
  for (const [key, before] of pre) {
    const after = post.get(key);
    if (!after || after.checksum !== before.checksum) differ.push(key);
    else if (after.version !== before.version) bumped++;
  }
  expect(differ.length === 0, `checksums differ from before the incident: ${differ.slice(0, 5).join(', ')}`);
  say(`Checksums: all ${pre.size} model partitions equal their pre-incident checksums (${bumped} of them through a new version: the incident and its restore stay in history).`);

  writeFileSync(sqlFile, correctSql);
  command(`# put the correct filter back in models/daily_revenue.sql`);
  const after = tidemark(['run', '--json'], { json: true });
  expect(after.status === 'noop', `after the restore and the SQL fix, run should have nothing to do (got ${after.status})`);
  say('→ run has nothing to do: the restored data is what the correct SQL produces');
}

/**
 * 13. Schema evolution (issue 6, failure mode 4). A file exported in December 2025 has the old
 * shape (customer, amount in dollars as DOUBLE, a deprecated channel column, no currency/status).
 * tidemark.yaml gains a history version with adapters; `schema check` proves the mapping without
 * writing; ingest adapts in the engine; `run` builds the new day (and the rolling days that now
 * see it). The current schema and the partitions of today's files are untouched.
 */
function legacySchema(demo) {
  chapter(`13. Schema evolution: a ${LEGACY_DAY.slice(0, 4)} file in the old orders schema`);
  const config = path.join(demo.dir, 'tidemark.yaml');
  const current = '      current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, status: VARCHAR, order_date: DATE }\n';
  const history = `      history:
        - version: 1   # the 2025 export: dollars as DOUBLE, customer instead of customer_id, a deprecated channel column
          columns: { order_id: BIGINT, customer: BIGINT, amount: DOUBLE, order_date: DATE, channel: VARCHAR }
          adapt: { customer_id: customer, amount_cents: "CAST(round(amount * 100) AS BIGINT)", currency: "'USD'", status: "'paid'" }
`;
  const yaml = readFileSync(config, 'utf8');
  expect(yaml.includes(current), 'the orders schema in tidemark.yaml is not the one this chapter extends');
  writeFileSync(config, yaml.replace(current, current + history));
  say('→ tidemark.yaml, datasets.orders.schema gains:');
  say(dim(history.trimEnd()));

  const { generateFxCsv } = demo.shop;
  const amounts = Array.from({ length: 300 }, (_, i) => (((1999 + i * 37) % 9000) + 100) / 100);
  const rows = amounts.map((amount, i) => `${20251231000001 + i},${(i * 7919) % 30000},${amount.toFixed(2)},${LEGACY_DAY},${['web', 'phone', 'store'][i % 3]}`);
  writeFileSync(path.join(demo.dir, 'data', 'orders', `legacy-${LEGACY_DAY}.csv`), `order_id,customer,amount,order_date,channel\n${rows.join('\n')}\n`);
  writeFileSync(path.join(demo.dir, 'data', 'fx_rates', `fx-${LEGACY_DAY}.csv`), generateFxCsv(LEGACY_DAY));
  command(`# data/orders/legacy-${LEGACY_DAY}.csv: ${rows.length} orders in the 2025 shape (order_id,customer,amount,order_date,channel); its FX rates arrive too`);

  tidemark(['schema', 'check', 'orders', `data/orders/legacy-${LEGACY_DAY}.csv`]);
  tidemark(['ingest', 'fx_rates', `data/fx_rates/fx-${LEGACY_DAY}.csv`]);
  const ingested = tidemark(['ingest', 'orders', `data/orders/legacy-${LEGACY_DAY}.csv`, '--json'], { json: true });
  say(`→ the file matched schema version ${ingested.files[0].schema_version} and was adapted in the engine: ${ingested.published.map((p) => `orders ${p.partition}, ${p.rows_after} rows`).join(', ')}`);
  expect(ingested.files[0].schema_version === 1, 'the legacy file should match schema version 1');

  tidemark(['query', `SELECT order_id, customer_id, amount_cents, currency, status, order_date FROM orders WHERE order_date = DATE '${LEGACY_DAY}' ORDER BY order_id LIMIT 3`]);
  const [landed] = tidemark(['query', `SELECT count(*) AS n, sum(amount_cents) AS cents FROM orders WHERE order_date = DATE '${LEGACY_DAY}'`, '--json'], { json: true });
  const expectedCents = amounts.reduce((s, a) => s + Math.round(a * 100), 0);
  expect(Number(landed.n) === rows.length && Number(landed.cents) === expectedCents, `adapted rows: expected ${rows.length} rows and ${expectedCents} cents, got ${landed.n} and ${landed.cents}`);
  say(`→ ${landed.n} rows, ${formatNumber(Number(landed.cents))} cents: every dollar amount became the same number of cents`);

  const run = tidemark(['run', '--json'], { json: true });
  const rebuilt = publishedByDataset(run);
  say(`→ run ${run.run_id} built the new day:`);
  for (const dataset of MODELS) say(`    ${dataset.padEnd(16)} ${describeKeys(rebuilt[dataset] ?? [])}`);
  const expected = { daily_revenue: [LEGACY_DAY], revenue_7d: dayRange(LEGACY_DAY, 7), monthly_revenue: [`${LEGACY_DAY.slice(0, 7)}-01`] };
  expect(sameScope(rebuilt, expected), `the new day should build daily d, rolling d..d+6 and month(d), got ${JSON.stringify(rebuilt)}`);
  say('  (the first 6 days of January now see 31 December in their 7-day window, so they were rebuilt too)');
}

/**
 * 16. The audit trail (issue 4), at the end of everything: every mutation of this demo wrote a
 * hash-chained record in the same transaction as its data; `audit verify` recomputes the chain, and
 * the lineage of a repaired partition tells its whole story (who, when, why, which run, built from
 * which upstream versions): the first build, the upstream fix, the wrong backfill and its restore.
 */
function auditTrail(demo) {
  chapter('16. The audit trail: verify the chain, then the lineage of a repaired partition');
  tidemark(['audit', 'verify']);
  const verdict = tidemark(['audit', 'verify', '--json'], { json: true });
  expect(verdict.ok === true && verdict.count > 0, 'the audit chain does not verify');
  // A day the upstream fix repaired (chapter 8) that the wrong backfill then hit (chapter 12).
  const day = demo.fixedDays.at(-3);
  tidemark(['audit', 'lineage', 'daily_revenue', '--partition', day]);
  const lineage = tidemark(['audit', 'lineage', 'daily_revenue', '--partition', day, '--json'], { json: true });
  const runs = new Set(lineage.map((v) => v.run_id));
  for (const [what, id] of [['upstream fix backfill', demo.backfill.run_id], ['wrong-filter backfill', demo.incidentRun], ['restore', demo.restoreRun]]) {
    expect(runs.has(id), `the lineage of daily_revenue ${day} does not show the ${what} (${id})`);
  }
  say(`→ ${verdict.count} audit record(s), chain intact; daily_revenue ${day} has ${lineage.length} versions: the fix, the incident and the restore are all on record`);
}

/** The story, in order. */
const STEPS = [
  scaffoldProject,
  ingestSources,
  buildModels,
  showStatus,
  snapshotBefore,
  applyUpstreamFix,
  planBackfill,
  backfillFix,
  snapshotAfter,
  reportBeforeAfter,
  lateData,
  wrongFilterIncident,
  legacySchema,
  dashboardCache,
  throttledBackfillBesideProduction,
  auditTrail,
];

// ---------------------------------------------------------------------------------------------
// Helpers of the later chapters: scopes of runs, compared as sets per dataset.
// ---------------------------------------------------------------------------------------------

/** `partitions --json` of every model dataset: dataset/partition → row. */
function modelPartitions() {
  const out = new Map();
  for (const dataset of MODELS) for (const p of tidemark(['partitions', dataset, '--json'], { json: true })) out.set(`${dataset}/${p.partition}`, p);
  return out;
}

/** A run result's published partitions, grouped: dataset → sorted partition keys. */
function publishedByDataset(result) {
  const out = {};
  for (const p of result.published) (out[p.dataset] ??= []).push(p.partition);
  for (const keys of Object.values(out)) keys.sort();
  return out;
}

function sameScope(actual, expected) {
  const datasets = new Set([...Object.keys(actual), ...Object.keys(expected)]);
  return [...datasets].every((d) => JSON.stringify(actual[d] ?? []) === JSON.stringify([...(expected[d] ?? [])].sort()));
}

function describeKeys(keys) {
  if (!keys.length) return '(none)';
  return keys.length === 1 ? keys[0] : `${keys.length} partitions: ${keys[0]}..${keys[keys.length - 1]}`;
}

function describeCounts(byDataset) {
  return Object.entries(byDataset).map(([d, keys]) => `${d} ${keys.length}`).join(', ');
}

/** `n` consecutive ISO days starting at `first`. */
function dayRange(first, n) {
  return Array.from({ length: n }, (_, i) => dayAfter(first, i));
}

/** The ISO day `n` days after `day` (before it when negative). */
function dayAfter(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Snapshots: `partitions --json` for every dataset plus one `query --json` for the metrics.
// ---------------------------------------------------------------------------------------------

function snapshot() {
  const partitions = new Map();
  for (const { dataset } of DATASETS) {
    for (const p of tidemark(['partitions', dataset, '--json'], { json: true })) partitions.set(`${dataset}/${p.partition}`, p);
  }
  const sql = DATASETS.map(
    ({ dataset, partitionColumn, metric }) =>
      `SELECT '${dataset}' AS dataset, CAST(${partitionColumn} AS VARCHAR) AS partition, sum(${metric}) AS metric FROM ${dataset} GROUP BY ALL`,
  ).join(' UNION ALL ');
  const metrics = new Map();
  for (const r of tidemark(['query', sql, '--json'], { json: true, display: `query "<sum of one metric per partition, every dataset>" --json` })) {
    metrics.set(`${r.dataset}/${r.partition}`, Number(r.metric));
  }
  say(`→ ${partitions.size} partitions recorded`);
  return { partitions, metrics };
}

function compareSnapshots(before, after) {
  const changed = [];
  let untouched = 0;
  for (const [key, a] of after.partitions) {
    const b = before.partitions.get(key);
    if (b && b.version === a.version && b.checksum === a.checksum) {
      untouched++;
      continue;
    }
    const metric = DATASETS.find((d) => d.dataset === a.dataset).metric;
    changed.push({ dataset: a.dataset, partition: a.partition, before: b, after: a, metric, metricBefore: before.metrics.get(key), metricAfter: after.metrics.get(key) });
  }
  const order = (c) => DATASETS.findIndex((d) => d.dataset === c.dataset);
  changed.sort((x, y) => order(x) - order(y) || x.partition.localeCompare(y.partition));
  return { changed, untouched, total: after.partitions.size };
}

// ---------------------------------------------------------------------------------------------
// Running the CLI.
// ---------------------------------------------------------------------------------------------

let projectDir = '';

/** A file glob, shown as typed and expanded here (the CLI receives the file list, as from a shell). */
function glob(pattern) {
  return { glob: pattern };
}

function expand(arg) {
  if (typeof arg === 'string') return [arg];
  const dir = path.dirname(arg.glob);
  const suffix = path.basename(arg.glob).replace('*', '');
  return readdirSync(path.join(projectDir, dir))
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(dir, f));
}

function shellQuote(arg) {
  if (typeof arg !== 'string') return arg.glob;
  return /^[\w./=:@-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\$`])/g, '\\$1')}"`;
}

/**
 * Runs `tidemark ARGS --project $DEMO` from the project folder and prints the command first.
 * With `json`, stdout is captured and parsed; otherwise it goes straight to the terminal.
 */
function tidemark(args, { json = false, project = true, display } = {}) {
  const shown = display ?? args.map(shellQuote).join(' ');
  command(`tidemark ${shown}${project ? ' --project $DEMO' : ''}`);
  const argv = [BIN, ...args.flatMap(expand), ...(project ? ['--project', projectDir] : [])];
  const started = Date.now();
  const child = spawnSync(process.execPath, argv, {
    cwd: project ? projectDir : REPO,
    stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, TIDEMARK_ACTOR: process.env.TIDEMARK_ACTOR ?? 'demo' },
  });
  if (child.error) fail(`could not start the CLI: ${child.error.message}`);
  if (child.status !== 0) fail(`\`tidemark ${shown}\` exited with code ${child.status ?? child.signal}`);
  if (!json) say(dim(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`));
  return json ? JSON.parse(child.stdout) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------------

const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);

function say(text) {
  process.stdout.write(`${text}\n`);
}

function chapter(title) {
  say(`\n${bold(`== ${title}`)}`);
}

function command(text) {
  say(bold(`$ ${text}`));
}

function fail(message) {
  throw new Error(message);
}

function expect(ok, message) {
  if (!ok) fail(`scope check failed: ${message}`);
}

function formatNumber(n) {
  if (n === undefined || Number.isNaN(n)) return '-';
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 4 });
}

function percentChange(a, b) {
  if (a === undefined || b === undefined || a === 0) return '';
  const pct = ((b - a) / a) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%`;
}

function table(rows) {
  if (!rows.length) return '(none)';
  const cols = Object.keys(rows[0]);
  const right = new Set(['before', 'after', 'change', 'rows']);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const cell = (c, v, i) => (right.has(c) ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i]));
  return [cols.map((c, i) => cell(c, c, i)).join('  '), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => cols.map((c, i) => cell(c, r[c], i)).join('  '))].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const root = mkdtempSync(path.join(os.tmpdir(), 'tidemark-demo-'));
  projectDir = path.join(root, 'shop');
  const demo = { dir: projectDir, shop: await import('../dist/example/shop.js') };
  say(bold('Tidemark demo: a fix for the last 7 days stays a fix for the last 7 days.'));
  say(`Project folder: ${projectDir}`);
  command(`export DEMO=${projectDir}`);
  try {
    for (const step of STEPS) await step(demo);
  } catch (error) {
    process.stderr.write(`\ndemo failed: ${error.message}\nThe project is left in ${projectDir} for inspection.\n`);
    process.exitCode = 1;
    return;
  }
  say(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s. The project is in ${projectDir}; try \`tidemark status --project ${projectDir}\`.`);
  if (process.env.TIDEMARK_DEMO_CLEANUP === '1') rmSync(root, { recursive: true, force: true });
}

await main();

// ---------------------------------------------------------------------------------------------
// Issue 9: downstream consumers. Appended chapter (runs after the main story).
// ---------------------------------------------------------------------------------------------

/**
 * 14. Dashboards see the correction. A SQL consumer keeps a dashboard cache table in sync: it is
 * refreshed from the outbox after every publish of daily_revenue, and `consumers verify` checks it
 * against the warehouse per published partition.
 */
async function dashboardCache(demo) {
  chapter('14. Downstream: a dashboard cache refreshed after each publish, then verified');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const config = path.join(demo.dir, 'tidemark.yaml');
  const yaml = readFileSync(config, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [dashboard_cache]\n');
  const dayTotal = 'SELECT sum(revenue_usd_cents) FROM daily_revenue WHERE day = CAST($1 AS DATE)';
  writeFileSync(
    config,
    `${yaml}
# Downstream consumers (issue 9): notified from the outbox after each publish, with retries.
consumers:
  dashboard_cache:
    kind: sql
    sql: CREATE OR REPLACE TABLE dashboard_daily AS SELECT day, sum(revenue_usd_cents) AS revenue FROM daily_revenue GROUP BY day
    verify: { sql: "SELECT revenue FROM dashboard_daily WHERE day = CAST($1 AS DATE)", warehouse: "${dayTotal}" }
`,
  );
  say('→ tidemark.yaml: daily_revenue now notifies the consumer dashboard_cache (a SQL refresh with a verify block)');
  tidemark(['consumers', 'list']);

  // A late correction: one paid order of the last day is cancelled upstream.
  const files = readdirSync(path.join(demo.dir, 'data', 'orders')).filter((f) => f.endsWith('.csv')).sort();
  const last = files[files.length - 1];
  const file = path.join(demo.dir, 'data', 'orders', last);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const cancelled = lines.findLastIndex((l) => l.includes(',paid,'));
  lines[cancelled] = lines[cancelled].replace(',paid,', ',cancelled,');
  writeFileSync(file, `${lines.join('\n')}\n`);
  command(`# upstream cancels order ${lines[cancelled].split(',')[0]} in data/orders/${last}`);
  tidemark(['ingest', 'orders', `data/orders/${last}`]);
  const run = tidemark(['run', '--json'], { json: true });
  say(`→ run ${run.run_id}: ${run.published.length} partition(s) rebuilt; the dashboard cache was refreshed before the command exited`);
  tidemark(['consumers', 'status']);
  const verify = tidemark(['consumers', 'verify', run.run_id, '--json'], { json: true });
  expect(verify.mismatches.length === 0 && verify.checked > 0, 'the dashboard cache disagrees with the warehouse');
  say(`→ consumers verify: ${verify.checked} partition(s) of the dashboard cache agree with the warehouse`);
  tidemark(['ready', 'daily_revenue']);
}

// ---------------------------------------------------------------------------------------------
// Issue 7: resource governance. Appended chapter (runs after the chapters above).
// ---------------------------------------------------------------------------------------------

/**
 * 15. A big backfill does not starve production. `tidemark serve` holds the DuckDB file; a throttled
 * backfill (--rate) runs in the backfill pool while, from another "terminal", new data arrives and
 * the production `run` goes first: it finishes while the backfill is still working.
 */
async function throttledBackfillBesideProduction(demo) {
  chapter('15. Side by side: a throttled backfill and a production run, through `tidemark serve`');
  const { spawn } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { generateOrdersCsv, generateFxCsv } = await import('../dist/example/shop.js');
  const env = { ...process.env, TIDEMARK_ACTOR: process.env.TIDEMARK_ACTOR ?? 'demo' };
  const background = (args) => {
    command(`tidemark ${args.map(shellQuote).join(' ')} --project $DEMO &`);
    const child = spawn(process.execPath, [BIN, ...args, '--project', projectDir], { cwd: projectDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    const done = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
    return { child, done, stdout: () => stdout };
  };

  const server = background(['serve', '--port', '0', '--json']);
  while (!server.stdout().includes('}')) {
    if (server.child.exitCode !== null) fail('tidemark serve did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  say(`→ serve listening at ${JSON.parse(server.stdout()).url}; other commands are handed to it (token in .tidemark/serve.json, mode 0600)`);
  try {
    const backfill = background(['backfill', 'daily_revenue', '--from', '2026-02-01', '--to', '2026-03-31', '--reason', 'reprocess Feb-Mar (throttled)', '--yes', '--rate', '300/min', '--json']);
    let backfillRun;
    while (!backfillRun) {
      await new Promise((r) => setTimeout(r, 200));
      backfillRun = tidemarkQuiet(['runs', '--json']).find((r) => r.kind === 'backfill' && r.status === 'computing');
      if (backfill.child.exitCode !== null) fail('the backfill ended before production arrived');
    }
    say(`→ backfill ${backfillRun.run_id} is running in pool ${backfillRun.pool}, throttled to 300 partitions/min`);

    command('# meanwhile, in another terminal: the data of a new day arrives');
    writeFileSync(path.join(demo.dir, 'data', 'orders', 'orders-2026-05-01.csv'), generateOrdersCsv('2026-05-01'));
    writeFileSync(path.join(demo.dir, 'data', 'fx_rates', 'fx-2026-05-01.csv'), generateFxCsv('2026-05-01'));
    tidemark(['ingest', 'fx_rates', 'data/fx_rates/fx-2026-05-01.csv']);
    tidemark(['ingest', 'orders', 'data/orders/orders-2026-05-01.csv']);
    const run = tidemark(['run', '--json'], { json: true });
    const during = tidemarkQuiet(['runs', '--json']).find((r) => r.run_id === backfillRun.run_id);
    say(`→ production run ${run.run_id}: ${run.published.length} partition(s) published while the backfill was at ${during.tasks.computed}/${during.tasks.total} (${during.status})`);
    tidemark(['runs', '--limit', '4']);
    const result = await backfill.done;
    expect(result.code === 0, 'the throttled backfill failed');
    const bf = JSON.parse(result.stdout);
    say(`→ backfill ${bf.run_id} finished after production: ${bf.published.length} changed, ${bf.unchanged} unchanged`);
  } finally {
    server.child.kill('SIGTERM');
    await server.done;
    say('→ serve stopped');
  }

  /** A CLI call whose output is data for the demo, not something to show. */
  function tidemarkQuiet(args) {
    const child = spawnSync(process.execPath, [BIN, ...args, '--project', projectDir], { cwd: projectDir, env, encoding: 'utf8' });
    if (child.status !== 0) fail(`tidemark ${args.join(' ')} failed: ${child.stderr}`);
    return JSON.parse(child.stdout);
  }
}

/**
 * A consumer of the package, as a user would write it: plain Node ESM importing 'tidemark' (the
 * built dist/, through package.json "exports"). The test copies it into a folder inside the repo so
 * that the package's self-reference resolves, runs it with `node consumer.mjs PROJECT_DIR`, and
 * asserts on the one JSON object it prints.
 */
import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  TidemarkError,
  assertNoBlockingGuards,
  auditLog,
  backfill,
  ingest,
  listRuns,
  openWorkspace,
  planBackfill,
  rangeReadiness,
  readiness,
  run,
  scaffoldShopExample,
  verifyAudit,
  verifyData,
} from 'tidemark';

const dir = process.argv[2];
const csv = (folder) => readdirSync(path.join(dir, folder)).map((f) => path.join(dir, folder, f));

/** What a refused call threw, as a caller would inspect it. */
async function refusal(call) {
  try {
    await call();
    return null;
  } catch (error) {
    if (!(error instanceof TidemarkError)) throw error;
    return { code: error.code, exitCode: error.exitCode, hint: error.hint ?? null, message: error.message };
  }
}

await scaffoldShopExample(dir);
const ws = await openWorkspace(dir, { actor: 'library-consumer', command: 'consumer.mjs' });
const events = [];
const off = ws.events.on((e) => events.push(e.type));
try {
  const orders = await ingest(ws, 'orders', csv('data/orders'));
  const fx = await ingest(ws, 'fx_rates', csv('data/fx_rates'));
  const built = await run(ws);

  // The corrected files replace the last 7 days of orders, as in the README's runbook.
  cpSync(path.join(dir, 'data', 'fixes'), path.join(dir, 'data', 'orders'), { recursive: true });
  const fixed = await ingest(ws, 'orders', csv('data/orders'), { reason: 'corrected orders from the shop' });
  const staleBefore = await readiness(ws, 'daily_revenue', '2026-04-30');
  const rangeBefore = await rangeReadiness(ws, 'daily_revenue', '2026-04-24', '2026-04-30');

  const request = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true };
  const plan = await planBackfill(ws, request);
  const auditBefore = (await auditLog(ws)).length;
  const noReason = await refusal(() => backfill(ws, request, { reason: ' ' }));
  const wholeRange = { dataset: 'daily_revenue', from: '2026-01-01', to: '2026-04-30' };
  const fullRefresh = await refusal(async () => assertNoBlockingGuards(await planBackfill(ws, wholeRange)));
  const fullRefreshRun = await refusal(() => backfill(ws, wholeRange, { reason: 'everything' }));
  const auditAfterRefusals = (await auditLog(ws)).length;

  const result = await backfill(ws, request, { reason: 'library test: corrected EUR orders' }, plan);
  const ready = await readiness(ws, 'daily_revenue', '2026-04-30');
  const rangeAfter = await rangeReadiness(ws, 'daily_revenue', '2026-04-24', '2026-04-30');
  const chain = await verifyAudit(ws);
  const data = await verifyData(ws);
  const runs = await listRuns(ws, { limit: 10 });
  const lastAudit = (await auditLog(ws, { runId: result.run_id })).at(-1);

  process.stdout.write(
    JSON.stringify({
      ingested: { orders: orders.files.length, fx: fx.files.length, fixed: fixed.files.filter((f) => f.status === 'changed').length },
      built: { status: built.status, published: built.published.length },
      staleBefore: { ready: staleBefore.ready, reason: staleBefore.reason },
      plan: plan.datasets,
      refusals: { noReason, fullRefresh, fullRefreshRun, auditBefore, auditAfterRefusals },
      backfill: { status: result.status, run_id: result.run_id, published: result.published.map((p) => `${p.dataset} ${p.partition}`) },
      lastAudit: lastAudit && { actor: lastAudit.actor, reason: lastAudit.reason, command: lastAudit.command },
      ready,
      range: { before: { ready: rangeBefore.ready, not_ready: rangeBefore.partitions.filter((p) => !p.ready).length }, after: { ready: rangeAfter.ready, partitions: rangeAfter.partitions.length } },
      chain: { ok: chain.ok, count: chain.count },
      data: { ok: data.ok, datasets: data.datasets.map((d) => d.dataset).sort(), partitions: data.datasets.reduce((n, d) => n + d.partitions, 0) },
      runs: runs.map((r) => ({ run_id: r.run_id, kind: r.kind, status: r.status })),
      events: [...new Set(events)].sort(),
    }),
  );
} finally {
  off();
  await ws.close();
}

// `--publish partition` (DESIGN.md "Publish": an explicit opt-in for very large runs), through the
// real CLI on a real DuckDB file and on PostgreSQL: each computed batch is published in its own
// transaction as soon as it is computed, so readers see finished batches early and a failure late in
// the run keeps them; the run keeps one id, re-issuing it resumes without recomputing or republishing
// anything, and the end state equals the default one-transaction publish.
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyAudit } from '../../src/api/audit.js';
import { completeRunIfAcknowledged } from '../../src/consumers/completion.js';
import { eventFromRow } from '../../src/consumers/events.js';
import { generateOrdersCsv } from '../../src/example/shop.js';
import type { PublishedPartition } from '../../src/execute/publish.js';
import { historyTable, stateTable } from '../../src/state/tables.js';
import type { Workspace } from '../../src/workspace.js';
import {
  builtShop,
  dataFiles,
  scaffoldShop,
  cli,
  cliJson,
  days,
  duplicateKeys,
  partitionsByKey,
  readModel,
  requireBuild,
  snapshotLive,
  snapshotState,
  SHOP_DATASETS,
  testEngines,
  withWorkspace,
  writeModel,
  writeOrdersFix,
  type PartitionJson,
  projectCopies,
  type TestEngine,
} from '../helpers/project.js';

const FROM = '2026-03-01';
const TO = '2026-03-10';
const FIX_DAYS = days(FROM, TO);
const BACKFILL = ['backfill', 'daily_revenue', '--from', FROM, '--to', TO, '--downstream', '--reason', 'EUR amount fix', '--yes'];
// One lane: daily_revenue's ten partitions are computed (and published) as two batches of five, in order.
const PER_BATCH = [...BACKFILL, '--publish', 'partition', '--max-parallel', '1'];
const FIRST_BATCH = days('2026-03-01', '2026-03-05');
const LATER_BATCH = days('2026-03-06', '2026-03-10');
const BAD_DAY = '2026-03-09';

interface BackfillJson {
  run_id: string;
  status: string;
  published: PublishedPartition[];
  unchanged: number;
}

/** As in backfill-validation: an expression that fails at run time, on both engines. */
function failWith(engine: TestEngine, message: string, column: string): string {
  return engine.kind === 'duckdb' ? `error('${message}')` : `CAST('${message} ' || ${column} AS INTEGER)`;
}

function sql<T = Record<string, unknown>>(dir: string, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  return withWorkspace(dir, fn);
}

async function runOf(dir: string, runId: string): Promise<{ status: string }> {
  return sql(dir, async (ws) => (await ws.engine.query<{ status: string }>(`SELECT status FROM ${stateTable(ws.engine, 'runs')} WHERE run_id = $1`, [runId]))[0]);
}

async function backfillRuns(dir: string): Promise<{ run_id: string; status: string }[]> {
  return sql(dir, (ws) => ws.engine.query(`SELECT run_id, status FROM ${stateTable(ws.engine, 'runs')} WHERE kind = 'backfill' ORDER BY created_at`));
}

async function publishedEvents(dir: string, runId: string): Promise<{ partial: boolean; partitions: { dataset: string; partition: string }[] }[]> {
  return sql(dir, async (ws) => {
    const rows = await ws.engine.query(`SELECT * FROM ${stateTable(ws.engine, 'outbox')} WHERE run_id = $1 AND event_type = 'run.published' ORDER BY event_id`, [runId]);
    return rows.map(eventFromRow).map((e) => ({ partial: e.payload.partial === true, partitions: e.payload.partitions as { dataset: string; partition: string }[] }));
  });
}

async function auditOf(dir: string, runId: string): Promise<{ dataset: string; partitions: string[] }[]> {
  return sql(dir, async (ws) => {
    const rows = await ws.engine.query<{ dataset: string; partitions: string }>(`SELECT dataset, partitions FROM ${stateTable(ws.engine, 'audit')} WHERE run_id = $1 ORDER BY seq`, [runId]);
    return rows.map((r) => ({ dataset: r.dataset, partitions: JSON.parse(r.partitions) as string[] }));
  });
}

/** A dataset's history rows, each with the version it belongs to (the tag is the replacing publish, which differs per mode). */
async function historyRows(dir: string, dataset: string): Promise<Record<string, unknown>[]> {
  return sql(dir, async (ws) => {
    const d = ws.engine.dialect;
    const spec = ws.project.datasets.get(dataset)!;
    const cols = ((await ws.engine.columns(ws.engine.historySchema, dataset)) ?? []).filter((c) => c.name !== '_tm_replaced_seq').map((c) => `h.${d.quote(c.name)}`);
    return ws.engine.query(
      `SELECT ${cols.join(', ')}, v.partition AS _partition, v.version AS _version FROM ${historyTable(ws.engine, dataset)} h
       JOIN ${stateTable(ws.engine, 'versions')} v ON v.dataset = $1 AND v.replaced_seq = h."_tm_replaced_seq" AND v.partition = ${d.partitionKey(`h.${d.quote(spec.partitionColumn)}`, spec.grain)}
       ORDER BY ${cols.map((_, i) => i + 1).join(', ')}, ${cols.length + 1}, ${cols.length + 2}`,
      [dataset],
    );
  });
}

/** Rows of one dataset's live table for some partitions of a day column, fully ordered. */
function rowsOn(live: Record<string, Record<string, unknown>[]>, dataset: string, keys: string[]): Record<string, unknown>[] {
  const wanted = new Set(keys);
  return (live[dataset] ?? []).filter((r) => wanted.has(String(r.day instanceof Date ? r.day.toISOString() : r.day).slice(0, 10)));
}

function key(p: { dataset: string; partition: string }): string {
  return `${p.dataset}/${p.partition}`;
}

describe.each(testEngines(inject('pgUrl')))('on $kind', (engine) => {
  let base: string; // built shop with the EUR fix ingested for FROM..TO: the models are stale
  let reference: string; // base after the default (one-transaction) backfill
  let referenceResult: BackfillJson;
  let referenceLive: Awaited<ReturnType<typeof snapshotLive>>;
  let builtLive: Awaited<ReturnType<typeof snapshotLive>>; // base before the fix: a first build by `tidemark run`
  const { fresh, track, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
    builtLive = await snapshotLive(base);
    cliJson(base, ['ingest', 'orders', ...writeOrdersFix(base, FIX_DAYS)]);
    reference = fresh();
    referenceResult = cliJson<BackfillJson>(reference, BACKFILL);
    referenceLive = await snapshotLive(reference);
  }, 300_000);
  afterAll(removeAll);

  it('publishes the same content as the default, one transaction per batch, under one run id', async () => {
    const dir = fresh();
    const result = cliJson<BackfillJson>(dir, [...BACKFILL, '--publish', 'partition']);
    expect(result.status).toBe('published');
    // Same JSON shape, same partitions, same versions and checksums as the default publish.
    expect(Object.keys(result).sort()).toEqual(Object.keys(referenceResult).sort());
    expect(result.published).toEqual(referenceResult.published);
    expect(result.unchanged).toBe(referenceResult.unchanged);
    expect(await snapshotLive(dir)).toEqual(referenceLive);
    for (const ds of ['daily_revenue', 'revenue_7d', 'monthly_revenue']) expect(await historyRows(dir, ds)).toEqual(await historyRows(reference, ds));
    const strip = (m: Map<string, PartitionJson>) => [...m.values()].map(({ run_id: _r, published_at: _p, ...rest }) => rest);
    expect(strip(partitionsByKey(dir, SHOP_DATASETS))).toEqual(strip(partitionsByKey(reference, SHOP_DATASETS)));

    // Several publishes: every batch's event is partial, the last one is not; each partition once.
    const events = await publishedEvents(dir, result.run_id);
    expect(events.length).toBeGreaterThan(2);
    expect(events.map((e) => e.partial)).toEqual([...events.slice(1).map(() => true), false]);
    const announced = events.flatMap((e) => e.partitions.map(key));
    expect(announced.sort()).toEqual(result.published.map(key).sort());
    // One audit record per dataset per publish, together naming every published partition once.
    const audit = await auditOf(dir, result.run_id);
    expect(audit.length).toBeGreaterThan(3);
    expect(audit.flatMap((a) => a.partitions.map((p) => `${a.dataset}/${p}`)).sort()).toEqual(result.published.map(key).sort());
    expect(await sql(dir, (ws) => verifyAudit(ws))).toMatchObject({ ok: true });
    expect(await backfillRuns(dir)).toEqual([{ run_id: result.run_id, status: 'complete' }]);

    // The default path still publishes once: one event, not partial, one audit record per dataset.
    const single = await publishedEvents(reference, referenceResult.run_id);
    expect(single).toHaveLength(1);
    expect(single[0].partial).toBe(false);
    expect((await auditOf(reference, referenceResult.run_id)).map((a) => a.dataset).sort()).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
  });

  it('a first build by `run --publish partition` equals the default one (dependents read batches published before their tables existed)', async () => {
    const dir = await scaffoldShop(undefined, undefined, { engine });
    track(dir);
    cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
    cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
    const result = cliJson<BackfillJson>(dir, ['run', '--publish', 'partition']);
    expect(result.status).toBe('published');
    expect((await publishedEvents(dir, result.run_id)).filter((e) => e.partial).length).toBeGreaterThan(2);
    expect(await snapshotLive(dir)).toEqual(builtLive);
  });

  it('a later batch failing keeps the earlier batches published (live, new versions); re-issuing resumes and publishes each partition exactly once', async () => {
    const dir = fresh();
    const original = readModel(dir, 'daily_revenue');
    const guarded = original.replace('CAST(COUNT(*) AS BIGINT) AS orders', `CAST(SUM(CASE WHEN o.customer_id < 0 THEN ${failWith(engine, 'negative customer_id', 'o.customer_id')} ELSE 1 END) AS BIGINT) AS orders`);
    expect(guarded).not.toBe(original);
    writeModel(dir, 'daily_revenue', guarded);
    const good = generateOrdersCsv(BAD_DAY, { fix: true });
    // A paid order (the model counts those) with a negative customer id.
    const bad = good.replace(/\n(\d+),(\d+),(\d+,[A-Z]+,paid,)/, '\n$1,-$2,$3');
    expect(bad).not.toBe(good);
    const file = path.join('data', 'orders', `orders-${BAD_DAY}.csv`);
    writeFileSync(path.join(dir, file), bad);
    cliJson(dir, ['ingest', 'orders', file]);
    const before = partitionsByKey(dir, SHOP_DATASETS);
    const liveBefore = await snapshotLive(dir);

    const failed = cli(dir, [...PER_BATCH, '--json']);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain(`daily_revenue ${BAD_DAY}`);
    const [run] = await backfillRuns(dir);
    expect(run.status).toBe('failed');
    // The first batch is live with new versions, by this run; the failed batch and the dependents are as before.
    const mid = partitionsByKey(dir, SHOP_DATASETS);
    for (const day of FIRST_BATCH) {
      const p = mid.get(`daily_revenue/${day}`)!;
      expect({ day, version: p.version, run_id: p.run_id }).toEqual({ day, version: before.get(`daily_revenue/${day}`)!.version! + 1, run_id: run.run_id });
    }
    for (const [k, p] of mid) if (!FIRST_BATCH.some((d) => k === `daily_revenue/${d}`)) expect({ k, version: p.version }).toEqual({ k, version: before.get(k)!.version });
    const liveMid = await snapshotLive(dir);
    // (The comparisons below are not vacuous: the first batch's rows exist and the fix changes them.)
    expect(rowsOn(liveMid, 'daily_revenue', FIRST_BATCH).length).toBeGreaterThanOrEqual(FIRST_BATCH.length);
    expect(rowsOn(referenceLive, 'daily_revenue', FIRST_BATCH)).not.toEqual(rowsOn(liveBefore, 'daily_revenue', FIRST_BATCH));
    expect(rowsOn(referenceLive, 'daily_revenue', LATER_BATCH)).not.toEqual(rowsOn(liveBefore, 'daily_revenue', LATER_BATCH));
    expect(rowsOn(liveMid, 'daily_revenue', FIRST_BATCH)).toEqual(rowsOn(referenceLive, 'daily_revenue', FIRST_BATCH));
    expect(rowsOn(liveMid, 'daily_revenue', LATER_BATCH)).toEqual(rowsOn(liveBefore, 'daily_revenue', LATER_BATCH));
    expect(liveMid.revenue_7d).toEqual(liveBefore.revenue_7d);
    expect(await publishedEvents(dir, run.run_id)).toEqual([{ partial: true, partitions: FIRST_BATCH.map((d) => ({ dataset: 'daily_revenue', partition: d, version: before.get(`daily_revenue/${d}`)!.version! + 1 })) }]);

    // The bad row is corrected; the same command resumes the same run.
    writeFileSync(path.join(dir, file), good);
    cliJson(dir, ['ingest', 'orders', file]);
    const resumed = cliJson<BackfillJson>(dir, PER_BATCH);
    expect(resumed.run_id).toBe(run.run_id);
    expect(resumed.status).toBe('published');
    // Every partition the run published, across both attempts, once, each one version up.
    expect(resumed.published).toEqual(referenceResult.published);
    const after = partitionsByKey(dir, SHOP_DATASETS);
    for (const p of resumed.published) {
      const now = after.get(key(p))!;
      expect({ k: key(p), version: now.version, run_id: now.run_id }).toEqual({ k: key(p), version: before.get(key(p))!.version! + 1, run_id: run.run_id });
    }
    expect(await snapshotLive(dir)).toEqual(referenceLive);
    expect(await duplicateKeys(dir)).toEqual(Object.fromEntries(SHOP_DATASETS.map((d) => [d, 0])));
    const events = await publishedEvents(dir, run.run_id);
    expect(events.flatMap((e) => e.partitions.map(key)).sort()).toEqual(resumed.published.map(key).sort());
    const audit = await auditOf(dir, run.run_id);
    expect(audit.flatMap((a) => a.partitions.map((p) => `${a.dataset}/${p}`)).sort()).toEqual(resumed.published.map(key).sort());
    expect(await sql(dir, (ws) => verifyAudit(ws))).toMatchObject({ ok: true });
    expect(await backfillRuns(dir)).toEqual([{ run_id: run.run_id, status: 'complete' }]);
  });

  it('killed after its first batch committed, readers already see that batch; re-issuing finishes without republishing it', async () => {
    const dir = fresh();
    const before = partitionsByKey(dir, SHOP_DATASETS);
    const liveBefore = await snapshotLive(dir);
    const killed = cli(dir, [...PER_BATCH, '--json'], { env: { TIDEMARK_CRASH_AT: 'publish.batch_committed:1' } });
    expect(killed.signal).toBe('SIGKILL');
    const [run] = await backfillRuns(dir);
    expect(run.status).toBe('computing'); // intermediate publishes leave it computing
    const live = await snapshotLive(dir);
    expect(rowsOn(live, 'daily_revenue', FIRST_BATCH)).toEqual(rowsOn(referenceLive, 'daily_revenue', FIRST_BATCH));
    expect(rowsOn(live, 'daily_revenue', LATER_BATCH)).toEqual(rowsOn(liveBefore, 'daily_revenue', LATER_BATCH));
    const mid = partitionsByKey(dir, ['daily_revenue']);
    for (const day of FIRST_BATCH) expect(mid.get(`daily_revenue/${day}`)!.version).toBe(before.get(`daily_revenue/${day}`)!.version! + 1);

    const resumed = cliJson<BackfillJson>(dir, PER_BATCH);
    expect(resumed.run_id).toBe(run.run_id);
    expect(resumed.published).toEqual(referenceResult.published);
    const after = partitionsByKey(dir, SHOP_DATASETS);
    for (const p of resumed.published) expect({ k: key(p), version: after.get(key(p))!.version }).toEqual({ k: key(p), version: before.get(key(p))!.version! + 1 });
    expect(await snapshotLive(dir)).toEqual(referenceLive);
    expect(await sql(dir, (ws) => verifyAudit(ws))).toMatchObject({ ok: true });
    expect((await runOf(dir, run.run_id)).status).toBe('complete');
  });

  it('refuses --publish with an unknown mode, and where a run must publish in one transaction, changing nothing', async () => {
    const dir = fresh();
    const before = await snapshotState(dir);
    const bogus = cli(dir, [...BACKFILL, '--publish', 'bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("error: --publish must be run or partition, got 'bogus'");
    expect(cli(dir, ['run', '--publish', 'bogus']).code).toBe(2);
    const detached = cli(dir, [...BACKFILL, '--publish', 'partition', '--detach']);
    expect(detached.code).toBe(2);
    expect(detached.stderr).toContain('--publish partition cannot be combined with --detach');
    // Ingest keeps one transaction: the flag is not offered.
    expect(cli(dir, ['ingest', 'orders', path.join('data', 'orders', `orders-${FROM}.csv`), '--publish', 'partition']).code).toBe(2);
    expect(await snapshotState(dir)).toEqual(before);
    expect(await backfillRuns(dir)).toEqual([]);
  });

  it('the plan says the run publishes per batch', () => {
    const dir = fresh();
    const dry = cli(dir, [...BACKFILL, '--publish', 'partition', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Publish: per batch (--publish partition)');
    expect(dry.stdout).toContain('readers may see a mix of old and new partitions');
    expect(cli(dir, [...BACKFILL, '--dry-run']).stdout).not.toContain('per batch');
    // The plan printed before the confirmation (refused here: no terminal) says it too.
    const asked = cli(dir, BACKFILL.filter((a) => a !== '--yes').concat(['--publish', 'partition']));
    expect(asked.code).not.toBe(0);
    expect(asked.stdout).toContain('Publish: per batch (--publish partition)');
  });

  it('consumers hear each batch (partial) and the run completes only once every event of it is acknowledged', async () => {
    const dir = fresh();
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [notifier]\n');
    // Fails until ok.flag exists; a long backoff keeps the command's own dispatch from retrying.
    writeFileSync(file, `${yaml}\nconsumers:\n  notifier:\n    kind: command\n    command: test -f ok.flag && echo "$TIDEMARK_PARTITIONS" >> events.log\n    max_attempts: 5\n    backoff_ms: 600000\n`);
    const result = cliJson<BackfillJson>(dir, PER_BATCH);
    expect((await runOf(dir, result.run_id)).status).toBe('published');
    await sql(dir, async (ws) => {
      const outbox = stateTable(ws.engine, 'outbox');
      const deliveries = stateTable(ws.engine, 'deliveries');
      const events = (await ws.engine.query(`SELECT * FROM ${outbox} WHERE run_id = $1 AND event_type = 'run.published' ORDER BY event_id`, [result.run_id])).map(eventFromRow);
      // The notifier follows daily_revenue: it hears that dataset's two batches.
      const partial = events.filter((e) => e.payload.partial === true && (e.payload.datasets as string[]).includes('daily_revenue'));
      expect(partial.length).toBe(2);
      const final = events[events.length - 1];
      expect(final.payload.partial).toBeUndefined();
      // Acknowledge all but the first batch's event: the run must not complete, from any event.
      await ws.engine.exec(`UPDATE ${deliveries} SET status = 'delivered' WHERE consumer = 'notifier' AND event_id <> $1`, [partial[0].event_id]);
      for (const e of events) expect(await completeRunIfAcknowledged(ws, e)).toBe(false);
      await ws.engine.exec(`UPDATE ${deliveries} SET status = 'delivered' WHERE consumer = 'notifier'`);
      expect(await completeRunIfAcknowledged(ws, partial[0])).toBe(true);
    });
    expect((await runOf(dir, result.run_id)).status).toBe('complete');
  });
});

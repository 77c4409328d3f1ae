// Issue 9, failure mode 8: after a backfill, dashboards must show the corrected numbers. A real HTTP
// cache (test/helpers/cache-server.ts) caches a value per day and is invalidated by a signed webhook
// that the CLI delivers from the outbox after the publish. Also: retries when the webhook fails,
// `consumers verify` catching a cache that ignores invalidation, the outbox surviving a crash between
// commit and delivery, and the pause handshake refusing a run before anything is written.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCacheServer, type CacheServer } from '../helpers/cache-server.js';
import { builtShop, cleanup, cliAsync, cliJson, copyProject, days, requireBuild, snapshotState, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const SECRET = 'cache-secret-5f3a9c1e7b';
const ENV = { CACHE_SECRET: SECRET };
const FIX_DAYS = days('2026-03-01', '2026-03-07');
const BACKFILL = ['backfill', 'daily_revenue', '--from', FIX_DAYS[0], '--to', FIX_DAYS[FIX_DAYS.length - 1], '--downstream', '--reason', 'EUR amount fix', '--yes'];
const DAY_TOTAL = 'SELECT sum(revenue_usd_cents) AS v FROM daily_revenue WHERE day = CAST($1 AS DATE)';

let base: string; // built shop, fix ingested, daily_revenue stale
const made: string[] = [];
const servers: CacheServer[] = [];

/** The CLI as an asynchronous subprocess: the cache server lives in this process and must keep answering. */
const cli = cliAsync;

beforeAll(async () => {
  requireBuild();
  // In-process reads of the project (the cache's warehouse callback) interpolate the secret too.
  process.env.CACHE_SECRET = SECRET;
  base = await builtShop();
  cliJson(base, ['ingest', 'orders', ...writeOrdersFix(base, FIX_DAYS)]);
}, 300_000);
afterAll(() => cleanup(base, ...made));
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** The warehouse value of a day, read in this process (only while no CLI holds the DuckDB file). */
function warehouseDay(dir: string) {
  return (day: string) => withWorkspace(dir, async (ws) => Number((await ws.engine.query<{ v: unknown }>(DAY_TOTAL, [day]))[0]?.v ?? 0));
}

/** A copy of the base project whose daily_revenue notifies the given consumers. */
function projectWith(consumersYaml: string, subscribed: string[]): string {
  const dir = copyProject(base);
  made.push(dir);
  const file = path.join(dir, 'tidemark.yaml');
  let yaml = readFileSync(file, 'utf8');
  yaml = yaml.replace('    sql: models/daily_revenue.sql\n', `    sql: models/daily_revenue.sql\n    consumers: [${subscribed.join(', ')}]\n`);
  writeFileSync(file, `${yaml}\nconsumers:\n${consumersYaml}`);
  return dir;
}

async function cacheProject(options: { extra?: string; subscribed?: string[] } = {}): Promise<{ dir: string; cache: CacheServer }> {
  let dir = '';
  const cache = await startCacheServer({ secret: SECRET, dataset: 'daily_revenue', read: (day) => warehouseDay(dir)(day) });
  servers.push(cache);
  dir = projectWith(
    `  revenue_cache:
    kind: webhook
    url: ${cache.webhookUrl}
    secret: \${CACHE_SECRET}
    timeout_ms: 2000
    backoff_ms: 50
    verify: { http: "${cache.dashboardUrl}", field: value, warehouse: "${DAY_TOTAL}" }
${options.extra ?? ''}`,
    options.subscribed ?? ['revenue_cache'],
  );
  return { dir, cache };
}

async function dashboard(cache: CacheServer): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const d of FIX_DAYS) out[d] = await cache.value(d);
  return out;
}

async function warehouse(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of FIX_DAYS) out[d] = await warehouseDay(dir)(d);
  return out;
}

async function runStatus(dir: string, runId: string): Promise<string> {
  return withWorkspace(dir, async (ws) => String((await ws.engine.query<{ status: string }>('SELECT status FROM tidemark.runs WHERE run_id = $1', [runId]))[0]?.status));
}

async function deliveriesOf(dir: string, runId: string) {
  return withWorkspace(dir, (ws) =>
    ws.engine.query<{ event_type: string; consumer: string; status: string; attempts: number; last_error: string | null }>(
      `SELECT o.event_type, d.consumer, d.status, d.attempts, d.last_error FROM tidemark.deliveries d JOIN tidemark.outbox o USING (event_id) WHERE o.run_id = $1 ORDER BY d.event_id`,
      [runId],
    ),
  );
}

describe('a dashboard cache invalidated by a signed webhook', () => {
  it('serves the corrected values after a backfill; the run completes; verify agrees; the secret never leaks', async () => {
    const { dir, cache } = await cacheProject();
    const before = await dashboard(cache); // warm: the old numbers
    expect(cache.cachedDays()).toEqual(FIX_DAYS);

    const r = await cli(dir, [...BACKFILL, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    const published = cache.received.filter((w) => w.type === 'run.published');
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ status: 200, signatureValid: true });
    expect(published[0].body).toMatchObject({ run_id: run.run_id, datasets: expect.arrayContaining(['daily_revenue']) });
    expect(cache.received.every((w) => w.signatureValid)).toBe(true);

    const fixed = await warehouse(dir);
    expect(fixed).not.toEqual(before); // the fix changed the numbers…
    expect(await dashboard(cache)).toEqual(fixed); // …and the dashboard shows them
    expect(await runStatus(dir, run.run_id)).toBe('complete');

    const verify = await cli(dir, ['consumers', 'verify', run.run_id, '--json'], { env: ENV });
    expect(verify.code, verify.stderr).toBe(0);
    const report = JSON.parse(verify.stdout);
    expect(report.checked).toBeGreaterThan(0);
    expect(report.mismatches).toEqual([]);

    const list = await cli(dir, ['consumers', 'list', '--json'], { env: ENV });
    const status = await cli(dir, ['consumers', 'status', '--json'], { env: ENV });
    expect(JSON.parse(list.stdout)[0]).toMatchObject({ consumer: 'revenue_cache', kind: 'webhook', datasets: ['daily_revenue'], signed: true, verify: true });
    expect(JSON.parse(status.stdout).consumers[0]).toMatchObject({ consumer: 'revenue_cache', pending: 0, dead: 0 });
    const state = await withWorkspace(dir, async (ws) => JSON.stringify([await ws.engine.query('SELECT * FROM tidemark.audit'), await ws.engine.query('SELECT * FROM tidemark.deliveries'), await ws.engine.query('SELECT * FROM tidemark.outbox'), await ws.engine.query('SELECT * FROM tidemark.runs')]));
    for (const text of [r.stdout, r.stderr, verify.stdout, verify.stderr, list.stdout, status.stdout, state]) expect(text).not.toContain(SECRET);
  });

  it('converges through retries when the webhook fails twice', async () => {
    const { dir, cache } = await cacheProject();
    await dashboard(cache);
    cache.failNext(2, 'run.published');
    const r = await cli(dir, [...BACKFILL, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(cache.received.filter((w) => w.type === 'run.published').map((w) => w.status)).toEqual([500, 500, 200]);
    const delivery = (await deliveriesOf(dir, run.run_id)).find((d) => d.event_type === 'run.published');
    expect(delivery).toMatchObject({ consumer: 'revenue_cache', status: 'delivered', attempts: 3 });
    expect(delivery?.last_error).toContain('HTTP 500');
    expect(await dashboard(cache)).toEqual(await warehouse(dir));
    expect(await runStatus(dir, run.run_id)).toBe('complete');
  });

  it('consumers verify exits 4 when the cache ignores its invalidation', async () => {
    const { dir, cache } = await cacheProject();
    const stale = await dashboard(cache);
    cache.ignoreInvalidations(true);
    const r = await cli(dir, [...BACKFILL, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(await dashboard(cache)).toEqual(stale); // acknowledged, but still the old numbers

    const verify = await cli(dir, ['consumers', 'verify', run.run_id, '--json'], { env: ENV });
    expect(verify.code).toBe(4);
    const report = JSON.parse(verify.stdout);
    const fixed = await warehouse(dir);
    const changedDays = FIX_DAYS.filter((d) => fixed[d] !== stale[d]);
    expect(changedDays.length).toBeGreaterThan(0);
    expect(report.mismatches.map((m: { partition: string }) => m.partition).sort()).toEqual(changedDays);
    expect(verify.stderr).toMatch(/^error: \d+ partition\(s\) disagree with the warehouse: revenue_cache daily_revenue 2026-03-0\d/m);
  });

  it('delivers events committed before a crash on the next command', async () => {
    const { dir, cache } = await cacheProject();
    await dashboard(cache);
    const killed = await cli(dir, [...BACKFILL, '--json'], { env: { ...ENV, TIDEMARK_CRASH_AT: 'publish.committed:1' } });
    expect(killed.signal).toBe('SIGKILL');
    // Killed between commit and delivery: the webhook heard only run.started, sent before compute.
    expect(cache.received.map((w) => w.type)).toEqual(['run.started']);
    const runId = await withWorkspace(dir, async (ws) => String((await ws.engine.query<{ run_id: string }>(`SELECT run_id FROM tidemark.runs WHERE kind = 'backfill'`))[0].run_id));
    expect(await runStatus(dir, runId)).toBe('published'); // committed, not complete
    const fixed = await warehouse(dir);

    const redeliver = await cli(dir, ['consumers', 'redeliver', '--json'], { env: ENV });
    expect(redeliver.code, redeliver.stderr).toBe(0);
    expect(cache.received.map((w) => w.type)).toEqual(['run.started', 'run.published']);
    expect(cache.received[1].body.run_id).toBe(runId);
    expect(await dashboard(cache)).toEqual(fixed);
    expect(await runStatus(dir, runId)).toBe('complete');
  });
});

describe('pause handshake', () => {
  async function gated(refuse: boolean) {
    const gate = await startCacheServer({ read: async () => null });
    servers.push(gate);
    gate.refusePause(refuse);
    const { dir, cache } = await cacheProject({
      extra: `  reporting_gate: { kind: webhook, url: "${gate.webhookUrl}", pause: true, timeout_ms: 2000, backoff_ms: 50 }\n`,
      subscribed: ['revenue_cache', 'reporting_gate'],
    });
    return { dir, cache, gate };
  }

  it('a consumer that does not acknowledge run.starting stops the run before anything is written (exit 3)', async () => {
    const { dir, cache, gate } = await gated(true);
    const before = await snapshotState(dir);
    const r = await cli(dir, [...BACKFILL, '--json'], { env: ENV });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: refused: consumer 'reporting_gate' did not acknowledge run\.starting \(HTTP 503/m);
    expect(r.stderr).toMatch(/^hint: /m);
    expect(await snapshotState(dir)).toEqual(before);
    expect(await withWorkspace(dir, (ws) => ws.engine.query(`SELECT run_id FROM tidemark.runs WHERE kind = 'backfill'`))).toEqual([]);
    expect(gate.received.map((w) => w.type)).toEqual(['run.starting']);
    expect(cache.received).toEqual([]);
  });

  it('a consumer that acknowledges is paused before compute and told when the run published', async () => {
    const { dir, gate } = await gated(false);
    const r = await cli(dir, [...BACKFILL, '--json'], { env: ENV });
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(gate.received.map((w) => w.type)).toEqual(['run.starting', 'run.started', 'run.published']);
    expect(gate.received[0].body.partitions).toContainEqual({ dataset: 'daily_revenue', partition: FIX_DAYS[0] });
    expect(gate.received[2].body.run_id).toBe(run.run_id);
  });
});

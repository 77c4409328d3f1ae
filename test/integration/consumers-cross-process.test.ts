// Consumer delivery across processes (PostgreSQL: several processes write one state store at once).
// Outbox events are written while no consumer is configured; then consumers are added and several
// `tidemark consumers redeliver` processes fan out and dispatch the same events side by side. Each
// webhook must receive each event exactly once, in event order: fan-out serialises on its cursor
// row, and one process at a time delivers a consumer's events (a session advisory lock, which a
// killed process gives up with its connection). On both engines, a fan-out that replays the outbox
// inserts and counts nothing twice (the unique index of migration 5 and ON CONFLICT DO NOTHING).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { enqueueNewEvents } from '../../src/consumers/enqueue.js';
import { outboxAfter, recipientsOf } from '../../src/consumers/events.js';
import { stateTable } from '../../src/state/tables.js';
import type { Workspace } from '../../src/workspace.js';
import { startCacheServer, type CacheServer } from '../helpers/cache-server.js';
import { BIN, applyOrdersFix, builtShop, cliAsync, cliJson, copyProject, projectCopies, days, requireBuild, testEngines, withWorkspace, type CliResult, type TestEngine } from '../helpers/project.js';

/** Three fixes of daily_revenue (ingest, backfill), made before any consumer exists. */
const BACKFILLS = [
  ['2026-03-01', '2026-03-02'],
  ['2026-03-03', '2026-03-04'],
  ['2026-03-05', '2026-03-06'],
];
const HOOKS = ['hook_a', 'hook_b'];

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A webhook receiver that takes its time to answer, so that passes of several processes overlap. */
async function slowHook(options: { onWebhook?: (body: Record<string, any>) => Promise<void> } = {}): Promise<CacheServer> {
  const server = await startCacheServer({
    read: async () => null,
    onWebhook: options.onWebhook ?? (() => new Promise((resolve) => setTimeout(resolve, 150))),
  });
  closers.push(() => server.close());
  return server;
}

/**
 * A copy of `base` whose daily_revenue notifies one webhook consumer per server, with every event of
 * the outbox not fanned out yet: as after processes that committed their publishes and died before
 * dispatching. (The base's commands fanned them out to nobody: it had no consumer.)
 */
async function withHooks(base: string, copies: { track(dir: string): void }, servers: CacheServer[]): Promise<string> {
  const dir = copyProject(base);
  copies.track(dir);
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', `    sql: models/daily_revenue.sql\n    consumers: [${HOOKS.slice(0, servers.length).join(', ')}]\n`);
  const consumers = servers.map((s, i) => `  ${HOOKS[i]}: { kind: webhook, url: "${s.webhookUrl}", timeout_ms: 20000, backoff_ms: 50 }\n`).join('');
  writeFileSync(file, `${yaml}\nconsumers:\n${consumers}`);
  await withWorkspace(dir, (ws) => ws.engine.exec(`UPDATE ${stateTable(ws.engine, 'meta')} SET value = '0' WHERE key = 'consumers_outbox_cursor'`));
  return dir;
}

interface Delivery {
  event_id: number;
  consumer: string;
  status: string;
  attempts: number;
}

async function deliveries(ws: Workspace): Promise<Delivery[]> {
  const rows = await ws.engine.query<Delivery>(`SELECT event_id, consumer, status, attempts FROM ${stateTable(ws.engine, 'deliveries')} ORDER BY event_id, consumer`);
  return rows.map((r) => ({ ...r, event_id: Number(r.event_id), attempts: Number(r.attempts) }));
}

/** The outbox events `consumer` is to hear of, oldest first (who hears what is events.ts's business, tested elsewhere). */
async function eventsFor(dir: string, consumer: string): Promise<number[]> {
  return withWorkspace(dir, async (ws) => {
    const out: number[] = [];
    for (const event of await outboxAfter(ws.engine, ws.engine, 0)) if ((await recipientsOf(ws, event)).includes(consumer)) out.push(event.event_id);
    return out;
  });
}

describe.each(testEngines(inject('pgUrl')))('consumer delivery across processes ($kind)', { timeout: 300_000 }, (engine: TestEngine) => {
  let base = '';
  const copies = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
    for (const [from, to] of BACKFILLS) {
      applyOrdersFix(base, days(from, to));
      cliJson(base, ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', 'EUR amount fix', '--yes']);
    }
  }, 300_000);
  afterAll(() => copies.removeAll());

  it('a fan-out that replays the outbox inserts and counts no delivery twice', async () => {
    const dir = await withHooks(base, copies, [await slowHook(), await slowHook()]);
    const expected = await eventsFor(dir, 'hook_a');
    await withWorkspace(dir, async (ws) => {
      const first = await enqueueNewEvents(ws, new Date().toISOString());
      expect(first.deliveries).toBe(expected.length * HOOKS.length);
      const queued = await deliveries(ws);
      // As if another process had read the cursor before this one moved it: the same events again.
      await ws.engine.exec(`UPDATE ${stateTable(ws.engine, 'meta')} SET value = '0' WHERE key = 'consumers_outbox_cursor'`);
      const replay = await enqueueNewEvents(ws, new Date().toISOString());
      expect(replay.events).toBeGreaterThanOrEqual(expected.length);
      expect(replay.deliveries).toBe(0);
      expect(await deliveries(ws)).toEqual(queued);
    });
  });

  it.skipIf(engine.kind !== 'postgres')('three processes fanning out and dispatching at once: each event reaches each webhook once, in order', async () => {
    const servers = [await slowHook(), await slowHook()];
    const dir = await withHooks(base, copies, servers);
    const expected = await eventsFor(dir, 'hook_a');
    // run.started and run.published of the first `run` and of each backfill.
    expect(expected).toHaveLength(2 + 2 * BACKFILLS.length);

    const results: CliResult[] = await Promise.all([1, 2, 3].map(() => cliAsync(dir, ['consumers', 'redeliver', '--json'])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);

    for (const server of servers) {
      expect(server.received.map((w) => w.status)).toEqual(expected.map(() => 200));
      // Exactly once and in order: the ids received are the expected ids, in the same order.
      expect(server.received.map((w) => w.event_id)).toEqual(expected);
    }
    // Between them the processes delivered each (event, consumer) once.
    const delivered = results.map((r) => JSON.parse(r.stdout).delivered as number);
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(expected.length * HOOKS.length);
    await withWorkspace(dir, async (ws) => {
      expect(await deliveries(ws)).toEqual(expected.flatMap((event_id) => HOOKS.map((consumer) => ({ event_id, consumer, status: 'delivered', attempts: 1 }))));
      const runs = await ws.engine.query<{ status: string }>(
        `SELECT DISTINCT r.status FROM ${stateTable(ws.engine, 'runs')} r JOIN ${stateTable(ws.engine, 'outbox')} o ON o.run_id = r.run_id WHERE o.event_id IN (${expected.join(', ')}) AND o.event_type = 'run.published'`,
      );
      expect(runs).toEqual([{ status: 'complete' }]);
    });
  });

  it.skipIf(engine.kind !== 'postgres')('a process killed while delivering gives its consumers up: the next process delivers the rest', async () => {
    let arrived!: () => void;
    const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
    let releaseHeld!: () => void;
    const held = new Promise<void>((resolve) => (releaseHeld = resolve));
    closers.push(async () => releaseHeld());
    let calls = 0;
    // The first webhook request is held unanswered: its sender is killed while it waits.
    const hook = await slowHook({ onWebhook: async () => (++calls === 1 ? (arrived(), held) : undefined) });
    const dir = await withHooks(base, copies, [hook]);
    const expected = await eventsFor(dir, 'hook_a');

    const prefix = (JSON.parse(readFileSync(path.join(dir, '.tidemark', 'test-pg.json'), 'utf8')) as { prefix: string }).prefix;
    const env: NodeJS.ProcessEnv = { ...process.env, TIDEMARK_ACTOR: 'test', NO_COLOR: '1', TIDEMARK_PG_SCHEMA_PREFIX: prefix };
    delete env.TIDEMARK_CRASH_AT;
    const victim = spawn(process.execPath, [BIN, 'consumers', 'redeliver', '--project', dir], { cwd: dir, env, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => victim.on('exit', (_code, signal) => resolve(signal)));
    await firstArrived;
    victim.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    releaseHeld();

    const r = await cliAsync(dir, ['consumers', 'redeliver', '--json']);
    expect(r.code, r.stderr).toBe(0);
    // At least once: the event whose acknowledgement was never recorded is sent again; then the rest, in order.
    expect(hook.received.map((w) => w.event_id)).toEqual([expected[0], ...expected]);
    await withWorkspace(dir, async (ws) => {
      expect((await deliveries(ws)).map((d) => [d.event_id, d.status])).toEqual(expected.map((id) => [id, 'delivered']));
    });
  });
});

// The admission race of `run` on PostgreSQL (issue 8, multi-writer): `run` plans around partitions
// held by runs in flight (SKIPPED_IN_FLIGHT), but another process may create a run holding some of
// them after the plan and before the admission (src/workers/admission.ts). A `run` then plans again
// and leaves them to their holder, with the notice, instead of being refused; a backfill is still
// refused; and the re-planning is bounded.
//
// The race is made deterministic with the run's `beforeStart` test hook (InternalRunOptions), which
// the executor calls after planning and before admitting the run: the hook queues a competing detached
// backfill from another process (the real CLI), exactly in the window between plan and admission.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backfill, run } from '../../src/api/operations.js';
import { TidemarkError } from '../../src/errors.js';
import type { InternalRunOptions } from '../../src/execute/run-context.js';
import type { Plan } from '../../src/plan/types.js';
import type { Workspace } from '../../src/workspace.js';
import { applyOrdersFix, builtShop, cliAsync, cliJson, days, projectCopies, requireBuild, SHOP_MODELS, withWorkspace } from '../helpers/project.js';

const pgUrl = inject('pgUrl');
const skip = !pgUrl;
const title = (name: string) => (skip ? `${name} (skipped: no pgUrl, TIDEMARK_TEST_ENGINES excludes postgres)` : name);

/** Late data for the last week of the reduced shop: these days of daily_revenue (and what reads them) go stale. */
const FIX = days('2026-03-10', '2026-03-16');
const REASON = 'production run racing a backfill';

let base = '';
const copies = projectCopies(() => base);

beforeAll(async () => {
  if (skip) return;
  requireBuild();
  base = await builtShop(undefined, undefined, { engine: { kind: 'postgres', url: pgUrl } });
  applyOrdersFix(base, FIX);
}, 300_000);
afterAll(() => {
  if (base) copies.removeAll();
});

/** Queues a backfill from another process (`--detach`, no worker running: it stays queued and holds its partitions). */
function detachBackfill(dir: string, from: string, to: string, downstream: boolean): string {
  const args = ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', 'competing backfill', '--yes', '--include-recent', '--detach'];
  const queued = cliJson<{ run_id: string; status: string }>(dir, downstream ? [...args, '--downstream'] : args);
  expect(queued.status).toBe('queued');
  return queued.run_id;
}

/** The (dataset, partition) pairs a run's tasks hold, from the state store. */
async function heldBy(ws: Workspace, runId: string): Promise<Set<string>> {
  const rows = await ws.engine.query<{ dataset: string; partition: string }>(`SELECT dataset, partition FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'tasks')} WHERE run_id = $1`, [runId]);
  return new Set(rows.map((r) => `${r.dataset} ${r.partition}`));
}

async function runsWithReason(ws: Workspace, reason: string): Promise<{ run_id: string; kind: string; status: string }[]> {
  return ws.engine.query(`SELECT run_id, kind, status FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'runs')} WHERE reason = $1`, [reason]);
}

const taskKeys = (plan: Plan) => plan.tasks.map((t) => `${t.dataset} ${t.partition}`);

describe('run admission on PostgreSQL', () => {
  it.skipIf(skip)(title('a backfill queued between the plan of `run` and its admission: `run` plans again, leaves the held partitions to it with the notice, and builds the rest'), async () => {
    const dir = copies.fresh();
    let competing = '';
    let calls = 0;
    const options: InternalRunOptions = {
      reason: REASON,
      beforeStart: async () => {
        calls++;
        if (calls === 1) competing = detachBackfill(dir, '2026-03-12', '2026-03-13', true);
      },
    };
    const result = await withWorkspace(dir, (ws) => run(ws, {}, options));
    expect(competing).not.toBe('');
    // The first plan was refused at admission (nothing written), the second one admitted.
    expect(calls).toBe(2);
    expect(result.status).toBe('published');

    await withWorkspace(dir, async (ws) => {
      const held = await heldBy(ws, competing);
      // The backfill holds its two days, the rolling days that read them and March.
      expect(held).toEqual(new Set(['daily_revenue 2026-03-12', 'daily_revenue 2026-03-13', ...days('2026-03-12', '2026-03-16').map((d) => `revenue_7d ${d}`), 'monthly_revenue 2026-03-01']));
      // `run` left exactly those to it and built the rest of what was stale.
      expect(taskKeys(result.plan).filter((k) => held.has(k))).toEqual([]);
      expect(taskKeys(result.plan).sort()).toEqual(
        [...['2026-03-10', '2026-03-11', '2026-03-14', '2026-03-15', '2026-03-16'].map((d) => `daily_revenue ${d}`), 'revenue_7d 2026-03-10', 'revenue_7d 2026-03-11'].sort(),
      );
      const notices = result.plan.guards.filter((g) => g.code === 'SKIPPED_IN_FLIGHT');
      expect(notices.map((g) => g.dataset).sort()).toEqual([...SHOP_MODELS].sort());
      for (const g of notices) {
        expect(g.blocking).toBe(false);
        expect(g.message).toContain(`backfill run ${competing}`);
        expect(g.partitions.map((p) => `${g.dataset} ${p}`).every((k) => held.has(k))).toBe(true);
      }
      // One run of `run`, published; the refused attempt left no run behind; the backfill still waits.
      const mine = await runsWithReason(ws, REASON);
      expect(mine).toEqual([{ run_id: result.run_id, kind: 'run', status: expect.stringMatching(/^(published|complete)$/) }]);
      expect((await runsWithReason(ws, 'competing backfill')).map((r) => r.status)).toEqual(['queued']);
      // Nothing of what the backfill holds was published by `run`.
      const published = await ws.engine.query<{ dataset: string; partition: string }>(
        `SELECT dataset, partition FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'versions')} WHERE run_id = $1`,
        [result.run_id],
      );
      expect(published.length).toBeGreaterThan(0);
      expect(published.filter((p) => held.has(`${p.dataset} ${p.partition}`))).toEqual([]);
    });

    // Once workers publish the backfill, the next runs converge: everything fresh, nothing left to do.
    cliJson(dir, ['worker', '--drain']);
    await withWorkspace(dir, async (ws) => {
      expect((await runsWithReason(ws, 'competing backfill')).map((r) => r.status)).toEqual(['complete']);
      await run(ws, {}, { reason: 'after the backfill' });
      const settled = await run(ws, {}, { reason: 'after the backfill' });
      expect(settled.status).toBe('noop');
      expect(settled.plan.guards).toEqual([]);
    });
  });

  it.skipIf(skip)(title('a backfill in the same race is still refused (exit 3 semantics): only `run` plans again'), async () => {
    const dir = copies.fresh();
    let calls = 0;
    const options: InternalRunOptions = {
      reason: 'backfill racing a backfill',
      beforeStart: async () => {
        calls++;
        detachBackfill(dir, '2026-03-12', '2026-03-13', false);
      },
    };
    const refused = await withWorkspace(dir, (ws) =>
      backfill(ws, { dataset: 'daily_revenue', from: '2026-03-10', to: '2026-03-12', includeRecent: true }, options).catch((e: unknown) => e),
    );
    expect(calls).toBe(1);
    expect(refused).toBeInstanceOf(TidemarkError);
    expect((refused as TidemarkError).code).toBe('GUARD');
    expect((refused as TidemarkError).exitCode).toBe(3);
    expect((refused as TidemarkError).message).toMatch(/^refused: daily_revenue: 2026-03-12 held by backfill run r\w+/);
    await withWorkspace(dir, async (ws) => expect(await runsWithReason(ws, 'backfill racing a backfill')).toEqual([]));
  });

  it.skipIf(skip)(title('re-planning is bounded: when a new run takes partitions before every admission, `run` is refused after the last attempt'), async () => {
    const dir = copies.fresh();
    // Each attempt plans around the runs queued so far; a new one then takes one of its stale days.
    const taken = ['2026-03-10', '2026-03-11', '2026-03-14', '2026-03-15'];
    let calls = 0;
    const options: InternalRunOptions = {
      reason: REASON,
      beforeStart: async (_ws, plan) => {
        const day = taken[calls++];
        expect(taskKeys(plan)).toContain(`daily_revenue ${day}`);
        detachBackfill(dir, day, day, false);
      },
    };
    const refused = await withWorkspace(dir, (ws) => run(ws, {}, options).catch((e: unknown) => e));
    expect(calls).toBe(3);
    expect(refused).toBeInstanceOf(TidemarkError);
    expect((refused as TidemarkError).code).toBe('GUARD');
    expect((refused as TidemarkError).message).toMatch(/^refused: daily_revenue: 2026-03-14 held by backfill run r\w+/);
    await withWorkspace(dir, async (ws) => expect(await runsWithReason(ws, REASON)).toEqual([]));
  });

  it.skipIf(skip)(title('consumers paused for an attempt refused at admission are told run.cancelled; the next attempt pauses them again'), async () => {
    const dir = copies.fresh();
    // A real webhook consumer with pause: true. Its first run.starting is where the race happens: it
    // queues a backfill from another process before it acknowledges, so that attempt's admission finds it.
    // (The queued backfill pauses the consumer too: its run.starting, of kind backfill, is acknowledged at once.)
    const received: { type: string; kind?: string }[] = [];
    let raced = false;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        const event = JSON.parse(body) as { type: string; kind?: string };
        received.push(event);
        if (event.type === 'run.starting' && event.kind === 'run' && !raced) {
          raced = true;
          const queued = await cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-03-12', '--to', '2026-03-13', '--reason', 'competing backfill', '--yes', '--include-recent', '--detach', '--downstream', '--json']);
          expect(queued.code, queued.stderr).toBe(0);
        }
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const yamlFile = path.join(dir, 'tidemark.yaml');
      const yaml = readFileSync(yamlFile, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [gate]\n');
      writeFileSync(yamlFile, `${yaml}\nconsumers:\n  gate: { kind: webhook, url: "http://127.0.0.1:${port}/hook", pause: true, timeout_ms: 60000 }\n`);
      const result = await withWorkspace(dir, (ws) => run(ws, {}, { reason: REASON }));
      expect(result.status).toBe('published');
      // Paused, released when the admission refused, paused again for the attempt that ran.
      expect(received.filter((e) => e.kind === 'run').map((e) => e.type)).toEqual(['run.starting', 'run.cancelled', 'run.starting', 'run.started']);
    } finally {
      server.close();
    }
  });
});

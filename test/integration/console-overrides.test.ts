// The console's override flags through its API (token required), against a real `tidemark serve`:
// with `protect: { recent: 2 }` on daily_revenue, a backfill of the last 7 days is refused until the
// request says include_recent — the plan names the override it needs, with the guard's message — and
// the same holds for restoring that backfill. A full refresh names allow_full_refresh. A shrink is
// only found once computed: the failed run's plan then names allow_shrink, and re-issuing with it
// resumes the run and publishes. Each action runs as the CLI command with the flag. Downstream is
// not an override (the forms have their own checkbox). When the plan changed since it was shown, the
// 409 carries the fresh plan in the plan route's shape — for a restore, what it restores and the
// overrides it needs — so the console shows it without losing a needed override.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, listenEvents, startServe, type ServeProcess, type SseMessage } from '../e2e/serve-process.js';
import { applyOrdersFix, builtShop, cleanup, days, readModel, REDUCED_FROM, REDUCED_TO, requireBuild, writeModel } from '../helpers/project.js';

const FIX = days('2026-03-10', REDUCED_TO);
const RECENT = FIX.slice(-2);
const BACKFILL = { dataset: 'daily_revenue', from: FIX[0], to: FIX[FIX.length - 1], downstream: true };

let dir: string;
let server: ServeProcess;
let backfillRun: string;
/** The run that shrank revenue_7d 2026-03-01..02 to USD only (the shrink test). */
let shrinkRun: string;

/** Adds `protect: { recent: 2 }` to daily_revenue in the project's tidemark.yaml. */
function protectRecent(projectDir: string): void {
  const file = path.join(projectDir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8');
  const checks = '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n';
  if (!yaml.includes(checks)) throw new Error('the shop tidemark.yaml changed: daily_revenue checks not found');
  writeFileSync(file, yaml.replace(checks, `${checks}    protect: { recent: 2 }\n`));
}

/** Starts an action and waits until its run ended; returns the run id and how it ended. */
async function runAction(route: string, body: Record<string, unknown>): Promise<{ runId: string; end: SseMessage }> {
  const events = await listenEvents(server);
  try {
    await events.until((m) => m.event === 'snapshot');
    const started = await call(server, 'POST', route, body, server.token);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const runId = started.body.run_id as string;
    const end = await events.until((m) => m.event === 'run' && m.data.run_id === runId && (m.data.type === 'run.published' || m.data.type === 'run.failed'));
    return { runId, end };
  } finally {
    events.close();
  }
}

const overrideFlags = (body: { overrides: { flag: string }[] }) => body.overrides.map((o) => o.flag);

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  protectRecent(dir);
  applyOrdersFix(dir, FIX);
  server = await startServe(dir);
}, 300_000);
afterAll(async () => {
  await server?.stop();
  if (dir) cleanup(dir);
});

describe('console override flags', () => {
  it('a backfill over recent partitions names include_recent with the guard message, is refused without it, and runs with it', async () => {
    const planned = await call(server, 'POST', '/api/plan/backfill', BACKFILL, server.token);
    expect(planned.status).toBe(200);
    expect(planned.body.blocked).toBe(true);
    const recent = planned.body.overrides.find((o: { flag: string }) => o.flag === 'include_recent');
    expect(recent).toMatchObject({ option: '--include-recent', required: true, message: expect.stringContaining(`${RECENT.join(', ')} among the newest 2 partitions`) });

    const refused = await call(server, 'POST', '/api/actions/backfill', { ...BACKFILL, reason: 'upstream fix', plan_id: planned.body.plan_id }, server.token);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'GUARD', hint: `narrow the range to leave out ${RECENT.join(', ')} (--to ${FIX[FIX.length - 3]} at the latest), or pass --include-recent to backfill them too` });

    // The override needs the token like every action.
    expect((await call(server, 'POST', '/api/plan/backfill', { ...BACKFILL, include_recent: true })).status).toBe(401);
    const allowed = await call(server, 'POST', '/api/plan/backfill', { ...BACKFILL, include_recent: true }, server.token);
    expect(allowed.body).toMatchObject({ blocked: false, guards: [] });
    expect(overrideFlags(allowed.body)).toEqual([]);

    const { runId, end } = await runAction('/api/actions/backfill', { ...BACKFILL, include_recent: true, reason: 'upstream fix, last days included', plan_id: allowed.body.plan_id });
    expect(end.data.type, server.log()).toBe('run.published');
    backfillRun = runId;
    const run = (await call(server, 'GET', `/api/runs/${runId}`)).body;
    expect(run.command).toMatch(/tidemark backfill daily_revenue .*--downstream --include-recent/);
    const grid = (await call(server, 'GET', '/api/datasets/daily_revenue/partitions')).body;
    expect(grid.partitions.find((p: { partition: string }) => p.partition === RECENT[1])).toMatchObject({ run_id: runId, version: 2 });
  });

  it('restore accepts include_recent too (it was refused as an unrecognized key), names it when needed, and runs with it', async () => {
    expect(backfillRun).toBeDefined();
    const request = { dataset: 'daily_revenue', run: backfillRun, downstream: true };
    const planned = await call(server, 'POST', '/api/plan/restore', request, server.token);
    expect(planned.status).toBe(200);
    expect(planned.body.blocked).toBe(true);
    expect(overrideFlags(planned.body)).toContain('include_recent');

    const allowed = await call(server, 'POST', '/api/plan/restore', { ...request, include_recent: true }, server.token);
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect(allowed.body.blocked).toBe(false);
    // Restore has no --allow-full-refresh: the API says so as the CLI would not accept it either.
    const unknown = await call(server, 'POST', '/api/plan/restore', { ...request, allow_full_refresh: true }, server.token);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/allow_full_refresh/);

    const { runId, end } = await runAction('/api/actions/restore', { ...request, include_recent: true, reason: 'undo: wrong fix file', plan_id: allowed.body.plan_id });
    expect(end.data.type, server.log()).toBe('run.published');
    const run = (await call(server, 'GET', `/api/runs/${runId}`)).body;
    expect(run.command).toMatch(/tidemark restore daily_revenue --run \S+ .*--downstream --include-recent/);
    const lineage = (await call(server, 'GET', `/api/lineage/daily_revenue/${RECENT[1]}`)).body as { version: number; kind: string }[];
    expect(lineage.map((v) => [v.version, v.kind])).toEqual([
      [1, expect.any(String)],
      [2, expect.any(String)],
      [3, 'restore'],
    ]);
  });

  it('a full refresh names allow_full_refresh; with it the plan is no longer refused', async () => {
    const all = { dataset: 'revenue_7d', from: REDUCED_FROM, to: REDUCED_TO };
    const planned = (await call(server, 'POST', '/api/plan/backfill', all, server.token)).body;
    expect(planned.blocked).toBe(true);
    expect(planned.overrides).toEqual([expect.objectContaining({ flag: 'allow_full_refresh', option: '--allow-full-refresh', required: true, message: expect.stringMatching(/full refresh/) })]);
    const allowed = (await call(server, 'POST', '/api/plan/backfill', { ...all, allow_full_refresh: true }, server.token)).body;
    expect(allowed.blocked).toBe(false);
    expect(allowed.overrides).toEqual([]);
  });

  it('a backfill leaving dependents stale is a notice, not an override: downstream has its own checkbox', async () => {
    const request = { dataset: 'daily_revenue', from: FIX[0], to: FIX[1] };
    const planned = (await call(server, 'POST', '/api/plan/backfill', request, server.token)).body;
    expect(planned.guards.map((g: { code: string }) => g.code)).toContain('DEPENDENTS_LEFT_STALE');
    expect(planned.blocked).toBe(false);
    expect(overrideFlags(planned)).toEqual([]);
  });

  it('a shrink found at compute time: the failed run makes the plan name allow_shrink, and re-issuing with it publishes', async () => {
    const original = readModel(dir, 'revenue_7d');
    writeModel(dir, 'revenue_7d', original.replace('GROUP BY currency', "  AND currency = 'USD'\nGROUP BY currency")); // 3 rows → 1
    // The server reads the project when it starts: restart it on the changed model.
    await server.stop();
    server = await startServe(dir);
    try {
      const request = { dataset: 'revenue_7d', from: '2026-03-01', to: '2026-03-02' };
      const first = await call(server, 'POST', '/api/plan/backfill', request, server.token);
      expect(first.body.blocked).toBe(false);
      expect(overrideFlags(first.body)).toEqual([]); // nothing is known before computing

      const failed = await runAction('/api/actions/backfill', { ...request, reason: 'only USD from now on', plan_id: first.body.plan_id });
      expect(failed.end.data.type).toBe('run.failed');
      expect(failed.end.data.error).toMatch(/--allow-shrink/);

      const again = (await call(server, 'POST', '/api/plan/backfill', request, server.token)).body;
      expect(again.overrides).toEqual([
        expect.objectContaining({ flag: 'allow_shrink', option: '--allow-shrink', required: true, message: expect.stringContaining(`run ${failed.runId}`) }),
      ]);
      const resumed = await runAction('/api/actions/backfill', { ...request, allow_shrink: true, reason: 'only USD from now on', plan_id: again.plan_id });
      expect(resumed.end.data.type, server.log()).toBe('run.published');
      expect(resumed.runId).toBe(failed.runId); // the same plan resumes its run (computed rows reused)
      shrinkRun = resumed.runId;
      // The command line it ran as (logged when the command ends, just after the run published).
      while (!/--allow-shrink → exit/.test(server.log())) await new Promise((r) => setTimeout(r, 50));
      expect(server.log()).toMatch(/tidemark backfill revenue_7d .*--allow-shrink → exit 0/);
      const grid = (await call(server, 'GET', '/api/datasets/revenue_7d/partitions')).body;
      expect(grid.partitions.find((p: { partition: string }) => p.partition === '2026-03-01')).toMatchObject({ rows: 1, run_id: resumed.runId });
    } finally {
      writeModel(dir, 'revenue_7d', original);
      // And on the model put back: a server whose copy differs from the files refuses writes.
      await server.stop();
      server = await startServe(dir);
    }
  });

  it('a restore that shrinks names allow_shrink; a 409 for its changed plan carries the restore shape with that override', async () => {
    expect(shrinkRun).toBeDefined();
    // Undo the USD-only backfill (3 rows per partition again), then restore what that undo replaced:
    // the 1-row versions, a shrink only found when the restore computes.
    const undo = { dataset: 'revenue_7d', run: shrinkRun };
    const undoPlan = (await call(server, 'POST', '/api/plan/restore', undo, server.token)).body;
    const undone = await runAction('/api/actions/restore', { ...undo, reason: 'back to every currency', plan_id: undoPlan.plan_id });
    expect(undone.end.data.type, server.log()).toBe('run.published');

    const request = { dataset: 'revenue_7d', run: undone.runId };
    const first = (await call(server, 'POST', '/api/plan/restore', request, server.token)).body;
    expect(overrideFlags(first)).toEqual([]);
    const failed = await runAction('/api/actions/restore', { ...request, reason: 'USD only after all', plan_id: first.plan_id });
    expect(failed.end.data.type).toBe('run.failed');

    const again = await call(server, 'POST', '/api/plan/restore', request, server.token);
    expect(again.status).toBe(200);
    expect(again.body.overrides).toEqual([
      expect.objectContaining({ flag: 'allow_shrink', option: '--allow-shrink', required: true, message: expect.stringContaining(`run ${failed.runId}`) }),
    ]);
    expect(again.body.restored.length).toBeGreaterThan(0);

    // Started with a plan id the user never saw: refused, with the fresh plan exactly as the plan
    // route answers it — what it restores, and the override it still needs.
    const changed = await call(server, 'POST', '/api/actions/restore', { ...request, reason: 'USD only after all', plan_id: 'a-plan-shown-earlier' }, server.token);
    expect(changed.status).toBe(409);
    expect(changed.body).toMatchObject({ code: 'CONFIRM', error: expect.stringMatching(/plan changed/) });
    expect(changed.body.plan).toEqual(again.body);

    const resumed = await runAction('/api/actions/restore', { ...request, allow_shrink: true, reason: 'USD only after all', plan_id: again.body.plan_id });
    expect(resumed.end.data.type, server.log()).toBe('run.published');
    expect(resumed.runId).toBe(failed.runId);
  });
});

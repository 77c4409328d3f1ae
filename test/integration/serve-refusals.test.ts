/**
 * What a user meets around a running `tidemark serve` on DuckDB, with a real server process:
 *  - a second `serve` for the same project is refused, naming the running one (it used to meet the
 *    DuckDB lock and be told to "run `tidemark serve`"), and leaves the first one's serve.json alone;
 *  - the server runs the configuration it loaded at start: after an edit of a model file, a command
 *    that writes is refused (exit 2, nothing written) and a read runs with a warning; once the file is
 *    back as the server loaded it, commands run as before; the console's plan preview says the plan
 *    cannot be started while the files differ;
 *  - API errors: an unknown run is a 404 (it was a 400), and an unknown route answers JSON;
 *  - `ready` handed to it answers from the server's workspace, not from a second open of the file;
 *  - a refused command handed to it with --json prints its JSON error object on the client's stdout.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startServe, type ServeProcess } from '../e2e/serve-process.js';
import { builtShop, cleanup, cli, readModel, requireBuild, snapshotState, writeModel, writeOrdersFix } from '../helpers/project.js';

describe('tidemark serve: a second server, an edited project, API errors (DuckDB)', () => {
  let dir: string;
  let server: ServeProcess;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
    server = await startServe(dir);
  });

  afterAll(async () => {
    await server?.stop();
    cleanup(dir);
  });

  it('refuses a second serve for the project, naming the running one, and keeps its serve.json', () => {
    const before = readFileSync(path.join(dir, '.tidemark', 'serve.json'), 'utf8');
    const second = cli(dir, ['serve', '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^error: tidemark serve is already running for this project at http:\/\/127\.0\.0\.1:\d+ \(pid \d+/m);
    expect(second.stderr).toMatch(/^hint: .*stop it first/m);
    expect(second.stderr).not.toMatch(/run `tidemark serve`/);
    expect(readFileSync(path.join(dir, '.tidemark', 'serve.json'), 'utf8')).toBe(before);
  });

  it('answers `ready` from its own workspace (the project is open in its process once, not twice)', () => {
    const ready = cli(dir, ['ready', 'daily_revenue', '--json']);
    expect(ready.code, ready.stderr).toBe(0);
    expect(JSON.parse(ready.stdout)).toMatchObject({ dataset: 'daily_revenue', ready: true, reason: null });
  });

  it('prints the JSON error object of a command handed to it on stdout, as a local command does (--json)', () => {
    const r = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-16', '--reason', 'everything', '--yes', '--json']);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as { error: { code: string; exit_code: number; message: string; guards: { code: string; blocking: boolean }[] } };
    expect(out.error).toMatchObject({ code: 'GUARD', exit_code: 3, guards: [{ code: 'FULL_REFRESH', blocking: true }] });
    expect(r.stderr).toContain(`error: ${out.error.message}\n`);
  });

  it('reports a usage error of a command handed to it as a local one does: error, hints, the JSON object (--json)', () => {
    const r = cli(dir, ['ingest', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: 'USAGE',
        message: "missing required argument 'source'",
        hint: 'sources in this project: orders, fx_rates\nusage: tidemark ingest [options] <source> <files...> (tidemark ingest --help for every option)',
        exit_code: 2,
      },
    });
    expect(r.stderr).toContain("error: missing required argument 'source'\nhint: sources in this project: orders, fx_rates\n");
  });

  it('counts an ingest handed to it as done in its live picture (an ingest reports no task one by one)', async () => {
    const files = writeOrdersFix(dir, ['2026-03-05', '2026-03-06']);
    const ingest = cli(dir, ['ingest', 'orders', ...files, '--json']);
    expect(ingest.code, ingest.stderr).toBe(0);
    const runId = JSON.parse(ingest.stdout).run_id as string;
    const live = (await call(server, 'GET', '/api/live')).body as { runs: { run_id: string; kind: string; state: string; tasks: number; done: number }[] };
    expect(live.runs.find((r) => r.run_id === runId)).toMatchObject({ kind: 'ingest', state: 'published', tasks: 2, done: 2 });
  });

  it('refuses a write handed to it after a model file changed, warns on a read, and runs again after a restart', async () => {
    await server.stop(); // the DuckDB file is free only while no server holds it
    const state = await snapshotState(dir);
    server = await startServe(dir);
    const original = readModel(dir, 'daily_revenue');
    // The fix a user makes at 2 a.m.; the server still holds the SQL it loaded at start.
    writeModel(dir, 'daily_revenue', original.replace('AS revenue_usd_cents', 'AS revenue_usd_cents -- rounding fixed'));
    try {
      const backfill = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'after an edit', '--yes']);
      expect(backfill.code, backfill.stderr).toBe(2);
      expect(backfill.stderr).toMatch(/^error: tidemark\.yaml or a model file changed since tidemark serve \(pid \d+\) loaded it; .*`backfill` was not run$/m);
      expect(backfill.stderr).toMatch(/^hint: restart tidemark serve/m);

      const status = cli(dir, ['status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/daily_revenue/);
      expect(status.stderr).toMatch(/^warning: tidemark\.yaml or a model file changed/m);

      // The console's preview says so before anyone confirms, and cannot be started.
      const preview = await call(server, 'POST', '/api/plan/backfill', { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02' }, server.token);
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({ blocked: true, config_changed: { message: expect.stringMatching(/changed since tidemark serve \(pid \d+\) loaded it; .*cannot be started$/), hint: expect.stringMatching(/^restart tidemark serve/) } });

      await server.stop();
      expect(await snapshotState(dir)).toEqual(state); // the refused backfill wrote nothing
      server = await startServe(dir); // loads the edited model
      const again = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'after a restart', '--yes']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/changed since tidemark serve/);
      const current = await call(server, 'POST', '/api/plan/backfill', { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02' }, server.token);
      expect(current.body).not.toHaveProperty('config_changed');
    } finally {
      writeModel(dir, 'daily_revenue', original);
    }
  });

  it('answers 404 with JSON for an unknown run and an unknown route', async () => {
    const cancel = await call(server, 'POST', '/api/runs/r_nope/cancel', undefined, server.token);
    expect(cancel).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    // The run's page and its diff say the same (the diff was a 400, the run's page had no code or hint).
    for (const route of ['/api/runs/r_nope', '/api/runs/r_nope/diff']) {
      expect(await call(server, 'GET', route), route).toMatchObject({ status: 404, body: { error: "no run 'r_nope'", code: 'NOT_FOUND', hint: expect.stringMatching(/tidemark runs/) } });
    }
    const route = await call(server, 'GET', '/api/nope');
    expect(route).toMatchObject({ status: 404, body: { code: 'NOT_FOUND', error: 'no route GET /api/nope' } });
  });

  it('answers a bad ?limit= of the run list with 400 and the message of `tidemark runs --limit`, not an SQL error', async () => {
    for (const limit of ['abc', '0', '-1', '1.5']) {
      const reply = await call(server, 'GET', `/api/runs?limit=${limit}`);
      expect(reply, limit).toMatchObject({ status: 400, body: { code: 'USAGE', error: `limit must be a positive integer, got '${limit}'` } });
    }
    expect((await call(server, 'GET', '/api/runs?limit=1')).body).toHaveLength(1);
  });

  it('says what a missing or wrong token is in the shape of every API error', async () => {
    const reply = await call(server, 'POST', '/api/auth/check', {}, 'nope');
    expect(reply).toMatchObject({ status: 401, body: { code: 'TOKEN', error: expect.stringMatching(/bearer token/), hint: expect.stringMatching(/serve\.json/) } });
  });
});

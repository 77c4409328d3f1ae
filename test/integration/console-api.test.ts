// The web console's API (issue 10) against a real `tidemark serve` child process on the shop example:
// the console's files are served from the package, reads need no token, every mutating route needs
// it (401 and nothing changes), bad input is a 400 with the CLI's message (nothing changes), and the
// actions — backfill, restore, lock, unlock — run through the CLI's write path with live progress on
// the server-sent event stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, days, requireBuild } from '../helpers/project.js';
import { call, listenEvents, startServe, type ServeProcess, type SseMessage } from '../e2e/serve-process.js';

const FIX = days('2026-03-10', '2026-03-16');
const BACKFILL = { dataset: 'daily_revenue', from: FIX[0], to: FIX[FIX.length - 1], downstream: true };

let dir: string;
let server: ServeProcess;
/** The backfill run the action test starts; the restore test undoes it. */
let backfillRun: string;

/** Everything a user could see change: partitions (with locks) of every dataset, the audit log, the runs. */
async function observable(): Promise<unknown> {
  const project = (await call(server, 'GET', '/api/project')).body as { datasets: { dataset: string }[] };
  const partitions: Record<string, unknown> = {};
  for (const d of project.datasets) partitions[d.dataset] = (await call(server, 'GET', `/api/datasets/${d.dataset}/partitions`)).body;
  const audit = (await call(server, 'GET', '/api/audit')).body;
  const runs = ((await call(server, 'GET', '/api/runs')).body as { run_id: string; status: string }[]).map((r) => [r.run_id, r.status]);
  return { partitions, audit, runs };
}

const isRunEvent = (runId: string, type: string) => (m: SseMessage) => m.event === 'run' && m.data.run_id === runId && m.data.type === type;

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  applyOrdersFix(dir, FIX); // daily_revenue (and its dependents) are now stale for FIX
  server = await startServe(dir);
}, 300_000);
afterAll(async () => {
  await server?.stop();
  cleanup(dir);
});

describe('console API', () => {
  it('serves the console and its browser modules from the package (no CDN), and nothing outside them', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    const html = await index.text();
    expect(html).toContain('"preact": "/vendor/preact.mjs"');
    expect(html).not.toMatch(/https?:\/\//); // every asset comes from this server
    for (const file of ['preact.mjs', 'preact-hooks.mjs', 'htm.mjs']) {
      const res = await fetch(`${server.url}/vendor/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/javascript/);
    }
    expect(await (await fetch(`${server.url}/vendor/preact-hooks.mjs`)).text()).toMatch(/from\s*"preact"/); // resolved by the import map
    expect((await fetch(`${server.url}/console/app.js`)).status).toBe(200);
    expect((await fetch(`${server.url}/console/pages/run.js`)).status).toBe(200);
    expect((await fetch(`${server.url}/console/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${server.url}/console/../package.json`)).status).toBe(404);
    expect((await fetch(`${server.url}/vendor/zod.mjs`)).status).toBe(404);
  });

  it('reads datasets, partitions with who and why, audit verdict, lineage and consumers without a token', async () => {
    const project = (await call(server, 'GET', '/api/project')).body;
    expect(project.datasets.map((d: { dataset: string }) => d.dataset).sort()).toEqual(['daily_revenue', 'fx_rates', 'monthly_revenue', 'orders', 'revenue_7d']);
    expect(project.datasets.find((d: { dataset: string }) => d.dataset === 'revenue_7d').upstream).toEqual([{ dataset: 'daily_revenue', lookback: 6 }]);

    const grid = (await call(server, 'GET', '/api/datasets/daily_revenue/partitions')).body;
    expect(grid.grain).toBe('day');
    const stale = grid.partitions.filter((p: { state: string }) => p.state === 'stale').map((p: { partition: string }) => p.partition);
    expect(stale).toEqual(FIX);
    const one = grid.partitions.find((p: { partition: string }) => p.partition === FIX[0]);
    expect(one).toMatchObject({ version: 1, actor: 'test', reason: expect.stringMatching(/scheduled run/), version_kind: 'new' });
    expect(one.checksum).toEqual(expect.any(String));

    expect((await call(server, 'GET', '/api/audit/verify')).body).toMatchObject({ ok: true });
    const audit = (await call(server, 'GET', '/api/audit')).body;
    expect(audit.records[0].seq).toBe(audit.total); // newest first
    expect((await call(server, 'GET', `/api/lineage/daily_revenue/${FIX[0]}`)).body).toHaveLength(1);
    expect((await call(server, 'GET', '/api/consumers')).body).toMatchObject({ consumers: [], orphaned: [] });

    const unknown = await call(server, 'GET', '/api/datasets/nope/partitions');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/unknown dataset 'nope'/);
    expect((await call(server, 'GET', '/api/lineage/daily_revenue/2026-13-01')).status).toBe(400);

    const events = await listenEvents(server);
    expect(events.contentType).toMatch(/^text\/event-stream/);
    const snapshot = await events.until((m) => m.event === 'snapshot');
    expect(snapshot.data).toEqual({ runs: [], commands: [] });
    events.close();
  });

  it('refuses every mutating route without the token or with a wrong one (401), and nothing changes', async () => {
    const before = await observable();
    const lock = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02', reason: 'freeze' };
    const routes: [string, unknown][] = [
      ['/api/commands', { argv: ['run', '--json'] }],
      ['/api/runs/whatever/cancel', {}],
      ['/api/auth/check', {}],
      ['/api/plan/backfill', BACKFILL],
      ['/api/plan/restore', { dataset: 'daily_revenue', run: 'r1' }],
      ['/api/actions/backfill', { ...BACKFILL, reason: 'no token' }],
      ['/api/actions/restore', { dataset: 'daily_revenue', run: 'r1', reason: 'no token' }],
      ['/api/actions/lock', lock],
      ['/api/actions/unlock', lock],
    ];
    for (const [route, body] of routes) {
      // No token, a made-up one, and the real one with its last character changed.
      const nearMiss = `${server.token.slice(0, -1)}${server.token.endsWith('0') ? '1' : '0'}`;
      for (const token of [undefined, '0'.repeat(64), nearMiss]) {
        const reply = await call(server, 'POST', route, body, token);
        expect(reply.status, `${route} with token ${String(token)}`).toBe(401);
        expect(reply.body.error).toMatch(/bearer token/);
      }
    }
    expect(await observable()).toEqual(before);
  });

  it('answers bad input with 400 and a clear message, and nothing changes', async () => {
    const before = await observable();
    const range = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02' };
    const cases: [string, unknown, RegExp][] = [
      ['/api/actions/backfill', { ...range, dataset: 'nope', reason: 'r' }, /unknown dataset 'nope'/],
      ['/api/actions/backfill', { ...range, from: '2026-02-30', reason: 'r' }, /impossible date '2026-02-30'/],
      ['/api/actions/backfill', { ...range, from: 'yesterday', reason: 'r' }, /yesterday/],
      ['/api/actions/backfill', { ...range, from: '2026-03-05', reason: 'r' }, /after/],
      ['/api/actions/backfill', range, /needs --reason/],
      ['/api/actions/backfill', { ...range, reason: '   ' }, /needs --reason/],
      ['/api/actions/backfill', { ...range, dataset: 'orders', reason: 'r' }, /is a source/],
      ['/api/actions/backfill', { ...range, reason: 'r', yes: true }, /Unrecognized key: "yes"/],
      ['/api/actions/backfill', { ...range, from: 20260301, reason: 'r' }, /from: .*expected string/],
      ['/api/actions/backfill', 'not json', /must be a JSON object/],
      ['/api/plan/backfill', { ...range, to: '2026-03-32' }, /impossible date/],
      ['/api/plan/restore', { dataset: 'daily_revenue' }, /run: .*expected string/],
      ['/api/actions/restore', { dataset: 'daily_revenue', run: 'r_missing', reason: 'r' }, /no run 'r_missing'/],
      ['/api/actions/restore', { dataset: 'daily_revenue', run: 'r_missing' }, /needs --reason/],
      ['/api/actions/lock', range, /needs --reason/],
      ['/api/actions/lock', { ...range, dataset: 'nope', reason: 'r' }, /unknown dataset 'nope'/],
      ['/api/actions/lock', { ...range, to: '2026-02-29', reason: 'r' }, /impossible date '2026-02-29'/],
      ['/api/actions/unlock', { ...range, reason: 'r' }, /no lock of daily_revenue lies within/],
      ['/api/commands', { argv: 'backfill daily_revenue' }, /expected \{"argv"/],
    ];
    for (const [route, body, message] of cases) {
      const reply = await call(server, 'POST', route, body, server.token);
      expect(reply.status, `${route} ${JSON.stringify(body)}: ${JSON.stringify(reply.body)}`).toBe(400);
      expect(reply.body.error, route).toMatch(message);
    }
    expect(await observable()).toEqual(before);
  });

  it('plans a backfill, refuses a plan that changed, runs the confirmed one with live (throttled) progress, and diffs it', async () => {
    const planned = await call(server, 'POST', '/api/plan/backfill', BACKFILL, server.token);
    expect(planned.status).toBe(200);
    expect(planned.body.datasets.map((d: { dataset: string; partitions: string[] }) => [d.dataset, d.partitions.length])).toEqual([
      ['daily_revenue', 7],
      ['monthly_revenue', 1],
      ['revenue_7d', 7],
    ]);
    expect(planned.body).toMatchObject({ blocked: false, guards: [], plan_id: expect.stringMatching(/^[0-9a-f]{16}$/) });

    const before = await observable();
    const outdated = await call(server, 'POST', '/api/actions/backfill', { ...BACKFILL, reason: 'upstream fix', plan_id: '0000000000000000' }, server.token);
    expect(outdated.status).toBe(409);
    expect(outdated.body.error).toMatch(/plan changed/);
    expect(await observable()).toEqual(before);

    const events = await listenEvents(server);
    await events.until((m) => m.event === 'snapshot');
    const started = await call(server, 'POST', '/api/actions/backfill', { ...BACKFILL, reason: 'upstream fix for EUR amounts', plan_id: planned.body.plan_id, rate: '120/min' }, server.token);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const runId = started.body.run_id as string;
    backfillRun = runId;
    expect(started.body.tasks).toBe(15);

    const done = await events.until((m) => m.event === 'run' && m.data.run_id === runId && (m.data.type === 'run.published' || m.data.type === 'run.failed'));
    expect(done.data.type, server.log()).toBe('run.published');
    const mine = events.messages.filter((m) => m.event === 'run' && m.data.run_id === runId).map((m) => m.data.type);
    expect(mine[0]).toBe('run.started');
    expect(mine.filter((t) => t === 'task.finished')).toHaveLength(15);
    expect(mine).toContain('run.publishing');
    const paused = events.messages.find(isRunEvent(runId, 'run.paused'));
    expect(paused?.data.reason).toMatch(/throttled to 120\/min/);
    const exit = await events.until((m) => m.event === 'command' && m.data.command_id === started.body.command_id && m.data.exit_code !== null);
    expect(exit.data).toMatchObject({ exit_code: 0, actor: 'console-test', command: expect.stringContaining('tidemark backfill daily_revenue') });
    events.close();

    // The live picture a console connecting now starts from.
    const live = (await call(server, 'GET', '/api/live')).body;
    expect(live.runs.find((r: { run_id: string }) => r.run_id === runId)).toMatchObject({ state: 'published', tasks: 15, done: 15, pause_reason: expect.stringMatching(/throttled/) });

    const grid = (await call(server, 'GET', '/api/datasets/daily_revenue/partitions')).body;
    for (const p of grid.partitions.filter((x: { partition: string }) => FIX.includes(x.partition))) {
      expect(p).toMatchObject({ state: 'published', version: 2, run_id: runId, actor: 'console-test', reason: 'upstream fix for EUR amounts' });
    }
    const diff = (await call(server, 'GET', `/api/runs/${runId}/diff?dataset=daily_revenue`)).body;
    expect(diff.partitions.map((p: { partition: string }) => p.partition)).toEqual(FIX);
    const sums = diff.partitions[0].sums as Record<string, { before: number; after: number }>;
    expect(Object.keys(sums).length).toBeGreaterThan(0);
    expect(Object.values(sums).some((s) => Number(s.before) !== Number(s.after))).toBe(true);
    const run = (await call(server, 'GET', `/api/runs/${runId}`)).body;
    expect(run).toMatchObject({ kind: 'backfill', actor: 'console-test', reason: 'upstream fix for EUR amounts' });
    expect((await call(server, 'GET', '/api/audit/verify')).body).toMatchObject({ ok: true });
  });

  it('locks a range (a backfill over it is refused with 409) and unlocks it, each audited', async () => {
    const range = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-03' };
    const locked = await call(server, 'POST', '/api/actions/lock', { ...range, reason: 'month-end close' }, server.token);
    expect(locked.status, JSON.stringify(locked.body)).toBe(200);
    expect(locked.body.result).toMatchObject({ dataset: 'daily_revenue', from_key: '2026-03-01', to_key: '2026-03-03', created: true });
    let grid = (await call(server, 'GET', '/api/datasets/daily_revenue/partitions')).body;
    expect(grid.partitions.find((p: { partition: string }) => p.partition === '2026-03-02').state).toBe('locked');
    expect(grid.locks).toHaveLength(1);

    expect((await call(server, 'POST', '/api/plan/backfill', range, server.token)).body.blocked).toBe(true);
    const before = await observable();
    const refused = await call(server, 'POST', '/api/actions/backfill', { ...range, reason: 'try anyway' }, server.token);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'GUARD', error: expect.stringMatching(/locked/) });
    expect(await observable()).toEqual(before);

    const unlocked = await call(server, 'POST', '/api/actions/unlock', { ...range, reason: 'close done' }, server.token);
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(200);
    grid = (await call(server, 'GET', '/api/datasets/daily_revenue/partitions')).body;
    expect(grid.partitions.find((p: { partition: string }) => p.partition === '2026-03-02').state).toBe('published');
    expect(grid.locks).toEqual([]);
    const actions = ((await call(server, 'GET', '/api/audit?dataset=daily_revenue')).body.records as { action: string; actor: string }[]).slice(0, 2);
    expect(actions).toEqual([expect.objectContaining({ action: 'unlock', actor: 'console-test' }), expect.objectContaining({ action: 'lock', actor: 'console-test' })]);
  });

  it('takes a reason as typed, even one that reads like a flag of the command it runs', async () => {
    // The action runs as a command line; a reason `--json` was read as the flag (`--reason` then had no value).
    const range = { dataset: 'daily_revenue', from: '2026-03-04', to: '2026-03-04' };
    const locked = await call(server, 'POST', '/api/actions/lock', { ...range, reason: '--json' }, server.token);
    expect(locked.status, JSON.stringify(locked.body)).toBe(200);
    expect(locked.body.result).toMatchObject({ reason: '--json', created: true });
    const unlocked = await call(server, 'POST', '/api/actions/unlock', { ...range, reason: '--json' }, server.token);
    expect(unlocked.status, JSON.stringify(unlocked.body)).toBe(200);
    const [unlock, lock] = (await call(server, 'GET', '/api/audit?dataset=daily_revenue')).body.records as { action: string; reason: string }[];
    expect([unlock, lock]).toEqual([expect.objectContaining({ action: 'unlock', reason: '--json' }), expect.objectContaining({ action: 'lock', reason: '--json' })]);
    // A rate that reads like a flag is refused as a rate, and nothing runs.
    const before = await observable();
    const rate = await call(server, 'POST', '/api/actions/backfill', { ...BACKFILL, reason: 'r', rate: '--json' }, server.token);
    expect(rate).toMatchObject({ status: 400, body: { error: "--rate looks like 30/min or 120/h, got '--json'" } });
    expect(await observable()).toEqual(before);
  });

  it('restores what the backfill replaced, after showing the restore plan', async () => {
    expect(backfillRun).toBeDefined();
    const planned = await call(server, 'POST', '/api/plan/restore', { dataset: 'daily_revenue', run: backfillRun, downstream: true }, server.token);
    expect(planned.status).toBe(200);
    expect(planned.body.restored.map((s: { partition: string; version: number }) => [s.partition, s.version])).toEqual(FIX.map((d) => [d, 1]));

    const events = await listenEvents(server);
    await events.until((m) => m.event === 'snapshot');
    const started = await call(server, 'POST', '/api/actions/restore', { dataset: 'daily_revenue', run: backfillRun, downstream: true, reason: 'undo: wrong fix file', plan_id: planned.body.plan_id }, server.token);
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await events.until((m) => m.event === 'run' && m.data.run_id === started.body.run_id && (m.data.type === 'run.published' || m.data.type === 'run.failed'));
    expect(done.data.type, server.log()).toBe('run.published');
    events.close();

    const lineage = (await call(server, 'GET', `/api/lineage/daily_revenue/${FIX[2]}`)).body as { version: number; checksum: string; kind: string; reason: string }[];
    expect(lineage.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(lineage[2]).toMatchObject({ kind: 'restore', reason: 'undo: wrong fix file', checksum: lineage[0].checksum });
  });
});

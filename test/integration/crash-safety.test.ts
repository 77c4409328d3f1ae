// Crash safety (issue 2): the CLI is SIGKILLed at many points of a multi-partition backfill (and of
// an ingest). After each kill the live tables equal the complete old state or the complete new
// state, never a mix; re-running the same command converges to the new state with no duplicate
// keys, reusing what was already computed. Kill points come from TIDEMARK_CRASH_AT=name:n
// (src/execute/crash.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import { openWorkspace } from '../../src/workspace.js';
import {
  applyOrdersFix,
  builtShop,
  cleanup,
  cli,
  cliJson,
  copyProject,
  days,
  duplicateKeys,
  requireBuild,
  snapshotLive,
  snapshotState,
  writeOrdersFix,
  type StateDump,
} from '../helpers/project.js';

const FIX_DAYS = days('2026-03-01', '2026-03-10');
const BACKFILL = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-10', '--downstream', '--reason', 'EUR amount fix', '--yes', '--json'];
// 10 daily + 16 rolling (03-01..03-16) + 1 month = 27 tasks; three datasets change at publish.
const TASKS = 27;

const BACKFILL_POINTS = [
  ...[1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 14, 16, 18, 20, 22, 24, 26, 27].map((n) => `task.computed:${n}`),
  'compute.done:1',
  'publish.replaced:1',
  'publish.replaced:2',
  'publish.replaced:3',
  'publish.before_commit:1',
];

let old: string; // fix ingested, models stale: the state every kill point starts from
let oldLive: StateDump['live'];
let newLive: StateDump['live'];
const made: string[] = [];

beforeAll(async () => {
  requireBuild();
  old = await builtShop();
  applyOrdersFix(old, FIX_DAYS);
  oldLive = await snapshotLive(old);
  const reference = copyProject(old);
  made.push(reference);
  const r = cli(reference, BACKFILL);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).published).toHaveLength(TASKS);
  newLive = await snapshotLive(reference);
  expect(newLive).not.toEqual(oldLive);
}, 300_000);
afterAll(() => cleanup(old, ...made));

function which(live: StateDump['live']): 'old' | 'new' | 'mixed' {
  if (JSON.stringify(live) === JSON.stringify(oldLive)) return 'old';
  if (JSON.stringify(live) === JSON.stringify(newLive)) return 'new';
  return 'mixed';
}

describe('SIGKILL during a 27-partition backfill', () => {
  it('covers at least 20 kill points across compute and publish', () => {
    expect(BACKFILL_POINTS.length).toBeGreaterThanOrEqual(20);
  });

  it.each(BACKFILL_POINTS)('killed at %s: old or new state, then the re-run converges and reuses staging', async (point) => {
    const dir = copyProject(old);
    made.push(dir);
    const killed = cli(dir, BACKFILL, { env: { TIDEMARK_CRASH_AT: point } });
    expect({ signal: killed.signal, stderr: killed.stderr.split('\n').filter((l) => l.startsWith('error:')) }).toEqual({ signal: 'SIGKILL', stderr: [] });
    const afterKill = which(await snapshotLive(dir));
    expect(afterKill).not.toBe('mixed');
    // Nothing is committed before the publish commit, so every one of these points leaves the old state.
    expect(afterKill).toBe('old');

    const rerun = cli(dir, BACKFILL);
    expect(rerun.code, rerun.stderr).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(which(await snapshotLive(dir))).toBe('new');
    expect(await duplicateKeys(dir)).toEqual({ orders: 0, fx_rates: 0, daily_revenue: 0, revenue_7d: 0, monthly_revenue: 0 });
    expect(result.published).toHaveLength(TASKS);
    // Every partition computed before the kill is reused, not recomputed.
    const computedBeforeKill = point.startsWith('task.computed:') ? Number(point.split(':')[1]) : TASKS;
    expect(result.reused).toBeGreaterThanOrEqual(computedBeforeKill);
    cleanup(dir);
  }, 300_000);
});

describe('a run whose process was killed', () => {
  it('is listed as interrupted, not in flight; cancel ends it at once and nothing was published', async () => {
    const dir = copyProject(old);
    made.push(dir);
    const killed = cli(dir, BACKFILL, { env: { TIDEMARK_CRASH_AT: 'task.computed:5' } });
    expect(killed.signal).toBe('SIGKILL');
    const status = cliJson(dir, ['status']);
    expect(status.active_runs).toEqual([]);
    expect(status.interrupted_runs).toEqual([expect.objectContaining({ kind: 'backfill', status: 'computing' })]);
    const text = cli(dir, ['status']).stdout;
    expect(text).toContain('Interrupted runs');
    expect(text).not.toContain('Runs in flight');

    const runId = status.interrupted_runs[0].run_id;
    // `tidemark runs` (which the lost-connection hint points to) says so too: it showed a bare `computing`.
    expect(cliJson(dir, ['runs']).find((r: { run_id: string }) => r.run_id === runId)).toMatchObject({ status: 'computing', interrupted: true });
    const listed = cli(dir, ['runs']).stdout;
    expect(listed).toMatch(new RegExp(`^${runId} +backfill +computing \\(interrupted\\) `, 'm'));
    expect(listed).toMatch(/re-issue its command to resume it, or `tidemark cancel RUN`/);
    const cancel = cli(dir, ['cancel', runId]);
    expect(cancel.code, cancel.stderr).toBe(0);
    const runs = cliJson(dir, ['runs']);
    expect(runs.find((r: { run_id: string }) => r.run_id === runId)).toMatchObject({ status: 'cancelled', interrupted: false });
    expect(cliJson(dir, ['status']).interrupted_runs).toEqual([]);
    expect(which(await snapshotLive(dir))).toBe('old');
    cleanup(dir);
  }, 300_000);
});

describe('a run killed after its publish committed, in a project with no consumers', () => {
  const runStatus = (dir: string, runId: string) => cliJson(dir, ['query', `SELECT status FROM tidemark.runs WHERE run_id = '${runId}'`])[0].status;

  it('reads complete at once (reads write nothing); the re-issued command names the run that published', async () => {
    const dir = copyProject(old);
    made.push(dir);
    const killed = cli(dir, ['run'], { env: { TIDEMARK_CRASH_AT: 'publish.committed' } });
    expect(killed.signal).toBe('SIGKILL');
    const [run] = cliJson(dir, ['runs']);
    expect(run).toMatchObject({ kind: 'run', status: 'complete' });
    expect(cliJson(dir, ['status']).awaiting_consumers).toEqual([]);
    expect(cli(dir, ['status']).stdout).not.toContain('Published, not complete');
    expect(runStatus(dir, run.run_id)).toBe('published');

    const again = cli(dir, ['run']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Nothing to do');
    expect(again.stdout).toContain(`Already published by run ${run.run_id} (run,`);
    expect(runStatus(dir, run.run_id)).toBe('complete');
    expect(which(await snapshotLive(dir))).toBe('new');
    cleanup(dir);
  }, 300_000);

  it('a re-issued backfill publishes nothing, names the earlier run in --json, and `runs` counts its skipped tasks as done', () => {
    const dir = copyProject(old);
    made.push(dir);
    expect(cli(dir, BACKFILL, { env: { TIDEMARK_CRASH_AT: 'publish.committed' } }).signal).toBe('SIGKILL');
    const [earlier] = cliJson(dir, ['runs']);
    const again = cliJson(dir, BACKFILL);
    expect(again.published).toEqual([]);
    expect(again.already_published_by).toEqual([expect.objectContaining({ run_id: earlier.run_id, kind: 'backfill' })]);

    const [reissued] = cliJson(dir, ['runs']);
    expect(reissued.run_id).toBe(again.run_id);
    expect(reissued.tasks).toMatchObject({ total: TASKS, done: TASKS, skipped: again.skipped });
    expect(again.skipped).toBeGreaterThan(0);
    const line = cli(dir, ['runs']).stdout.split('\n').find((l) => l.startsWith(again.run_id));
    expect(line).toContain(`${TASKS}/${TASKS} (${again.skipped} skipped)`);
    cleanup(dir);
  }, 300_000);
});

describe('a library caller that has not dispatched yet interrupted nothing', () => {
  it("its publishes are fanned out by its next write, and no run is named as 'already published by' one whose process ended", async () => {
    const dir = copyProject(old);
    made.push(dir);
    applyOrdersFix(dir, FIX_DAYS);
    const ws = await openWorkspace(dir, { actor: 'lib', command: 'library' });
    try {
      const request = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-10', downstream: true };
      const first = await backfill(ws, request, { reason: 'library fix' });
      expect(first.status).toBe('published');
      // No dispatch(ws) between the two: the first run's publish event is still beyond the fan-out cursor.
      const again = await backfill(ws, request, { reason: 'library fix' });
      expect(again.published).toEqual([]);
      expect(again).not.toHaveProperty('already_published_by');
      const [{ status }] = await ws.engine.query<{ status: string }>(`SELECT status FROM tidemark.runs WHERE run_id = $1`, [first.run_id]);
      expect(status).toBe('complete'); // settled by the second write's fan-out: it waits for no consumer
    } finally {
      await ws.close();
    }
    cleanup(dir);
  }, 300_000);
});

describe('SIGKILL during an ingest', () => {
  const INGEST_POINTS = ['ingest.file_loaded:1', 'ingest.file_loaded:4', 'ingest.staged:1', 'publish.replaced:1', 'publish.before_commit:1'];

  it.each(INGEST_POINTS)('killed at %s: the source is old or new, and the re-run loads the files once', async (point) => {
    const dir = copyProject(old);
    made.push(dir);
    const files = writeOrdersFix(dir, days('2026-02-20', '2026-02-24'));
    const before = await snapshotState(dir);
    const killed = cli(dir, ['ingest', 'orders', ...files, '--json'], { env: { TIDEMARK_CRASH_AT: point } });
    expect(killed.signal).toBe('SIGKILL');
    expect(await snapshotState(dir)).toEqual(before);
    const rerun = cli(dir, ['ingest', 'orders', ...files, '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout).published).toHaveLength(5);
    const again = cli(dir, ['ingest', 'orders', ...files, '--json']);
    expect(JSON.parse(again.stdout).files.every((f: { status: string }) => f.status === 'unchanged')).toBe(true);
    expect((await duplicateKeys(dir)).orders).toBe(0);
    cleanup(dir);
  }, 300_000);
});

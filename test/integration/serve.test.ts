// `tidemark serve` (issue 7): while it holds a DuckDB project, CLI processes in other terminals hand
// their commands to it and work side by side; cancel stops a backfill between tasks and re-issuing
// resumes it; mutating routes need the token. Real processes, a real DuckDB file, real HTTP.
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serveSuite } from '../e2e/serve-process.js';
import {
  cli,
  cliAsync,
  cliJson,
  days,
  partitionsByKey,
  snapshotLive,
  writeOrdersFix,
  SHOP_MODELS,
  until,
} from '../helpers/project.js';

const { fresh, startServe, stopAll } = serveSuite();

describe('tidemark serve', () => {
  it('writes its token readable only by the user, and refuses mutating routes without it', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    expect(statSync(path.join(dir, '.tidemark', 'serve.json')).mode & 0o777).toBe(0o600);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${server.url}/api/health`);
    expect(health.status).toBe(200); // reads need no token
    const runs = await fetch(`${server.url}/api/runs`);
    expect((await runs.json()).length).toBeGreaterThan(0);

    const body = JSON.stringify({ argv: ['run', '--json'] });
    const noToken = await fetch(`${server.url}/api/commands`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(noToken.status).toBe(401);
    const wrong = await fetch(`${server.url}/api/commands`, { method: 'POST', body, headers: { authorization: `Bearer ${'0'.repeat(64)}` } });
    expect(wrong.status).toBe(401);
    const cancel = await fetch(`${server.url}/api/runs/whatever/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(401);

    const ok = await fetch(`${server.url}/api/commands`, { method: 'POST', body, headers: { authorization: `Bearer ${server.token}` } });
    expect(ok.status).toBe(200);
    const lines = (await ok.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toEqual({ t: 'exit', code: 0 });
  });

  it('runs `run` and `backfill` from two CLI processes side by side, with correct results', async () => {
    const dir = fresh();
    const reference = fresh();
    const fixDays = days('2026-03-12', '2026-03-16');
    // Reference: the same work done one command at a time, without a server.
    cliJson(reference, ['ingest', 'orders', ...writeOrdersFix(reference, fixDays)]);
    cliJson(reference, ['backfill', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-05', '--reason', 'reprocess', '--yes']);
    cliJson(reference, ['run']);

    const server = await startServe(dir);
    // Through the server: the DuckDB file is held, yet every command works.
    const ingest = cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, fixDays)]);
    expect(ingest.status).toBe('published');
    const bf = cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-05', '--reason', 'reprocess', '--yes', '--rate', '300/min', '--json']);
    await until(async () => {
      const r = (await (await fetch(`${server.url}/api/runs`)).json()) as { kind: string; status: string }[];
      return r.some((x) => x.kind === 'backfill' && x.status === 'computing');
    });
    const prod = await cliAsync(dir, ['run', '--json']);
    const back = await bf;
    expect(prod.stderr).not.toMatch(/error/);
    expect(prod.code).toBe(0);
    expect(back.code).toBe(0);
    const prodJson = JSON.parse(prod.stdout);
    const backJson = JSON.parse(back.stdout);
    expect(prodJson.status).toBe('published');
    expect(prodJson.published.length).toBeGreaterThan(0);
    expect(backJson.status).toBe('published');
    expect(backJson.published.length + backJson.unchanged).toBe(19);
    const runs = cliJson(dir, ['runs']);
    const bfRun = runs.find((r: { run_id: string }) => r.run_id === backJson.run_id);
    const prodRun = runs.find((r: { run_id: string }) => r.run_id === prodJson.run_id);
    expect(bfRun.pool).toBe('backfill');
    expect(prodRun.pool).toBe('production');
    expect(prodRun.created_at < bfRun.updated_at).toBe(true); // the run started before the backfill was done
    expect([...partitionsByKey(dir, SHOP_MODELS).values()].filter((p) => p.state !== 'published' && p.state !== 'frozen' && p.state !== 'locked')).toEqual([]);

    await stopAll();
    expect(await snapshotLive(dir)).toEqual(await snapshotLive(reference));
  });

  it('cancels a backfill between tasks, publishes nothing, and resumes it when re-issued', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    const fixDays = days('2026-03-01', '2026-03-07');
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, fixDays)]);
    const before = partitionsByKey(dir, ['daily_revenue']);
    const args = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'EUR fix', '--yes', '--json'];
    const slow = cliAsync(dir, [...args, '--rate', '30/min']); // 2 s between tasks: room to cancel even on a loaded machine
    let runId = '';
    await until(async () => {
      const r = (await (await fetch(`${server.url}/api/runs`)).json()) as { run_id: string; kind: string; status: string; tasks: { computed: number } }[];
      const bfRun = r.find((x) => x.kind === 'backfill' && x.status === 'computing');
      runId = bfRun?.run_id ?? '';
      return (bfRun?.tasks.computed ?? 0) >= 2;
    });
    const cancel = cli(dir, ['cancel', runId, '--json']);
    expect(cancel.code).toBe(0);
    expect(JSON.parse(cancel.stdout)).toEqual({ run_id: runId, status: 'cancelling' });
    const stopped = await slow;
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/cancelled between tasks; nothing was published/);

    const runs = cliJson(dir, ['runs']);
    const cancelled = runs.find((r: { run_id: string }) => r.run_id === runId);
    expect(cancelled.status).toBe('cancelled');
    const computedBefore = cancelled.tasks.computed as number;
    expect(computedBefore).toBeGreaterThanOrEqual(2);
    expect(computedBefore).toBeLessThan(7);
    expect(partitionsByKey(dir, ['daily_revenue'])).toEqual(before); // nothing published

    const resumed = cliJson(dir, args);
    expect(resumed.run_id).toBe(runId);
    expect(resumed.status).toBe('published');
    expect(resumed.reused).toBe(computedBefore);
    expect(resumed.published.map((p: { partition: string }) => p.partition).sort()).toEqual(fixDays);
  });

  it('refuses a backfill over partitions a run in flight holds (exit 3), or waits for it with --wait', async () => {
    const dir = fresh();
    await startServe(dir);
    const first = cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'first', '--yes', '--rate', '60/min', '--json']);
    await until(() => cli(dir, ['runs', '--json']).stdout.includes('"computing"'));
    const second = ['backfill', 'daily_revenue', '--from', '2026-03-05', '--to', '2026-03-10', '--reason', 'second', '--yes', '--json'];
    const refused = cli(dir, second);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/held by backfill run r\S+ .*in flight/);
    const waited = await cliAsync(dir, [...second, '--wait', '120']);
    const firstDone = await first;
    expect(firstDone.code).toBe(0);
    expect(waited.code).toBe(0);
    const runs = cliJson(dir, ['runs']);
    const a = runs.find((r: { run_id: string }) => r.run_id === JSON.parse(firstDone.stdout).run_id);
    const b = runs.find((r: { run_id: string }) => r.run_id === JSON.parse(waited.stdout).run_id);
    expect(a.published_at).not.toBeNull();
    expect(b.created_at >= a.published_at).toBe(true); // it waited for the first run to publish
    expect(b.status).toMatch(/published|complete/);
  });

  it('production first: a run builds everything a backfill in flight does not hold, and leaves the held partitions to it (exit 0, a notice)', async () => {
    const dir = fresh();
    await startServe(dir);
    const backfill = cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'long backfill', '--yes', '--rate', '60/min', '--json']);
    await until(() => cli(dir, ['runs', '--json']).stdout.includes('"computing"'));
    // Late files: one for a day the backfill holds, one for a day nothing holds.
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, ['2026-03-03', '2026-03-12'])]);
    const before = partitionsByKey(dir, ['daily_revenue']);
    const r = cli(dir, ['run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { status: string; published: { dataset: string; partition: string }[]; unchanged: number; notices: { code: string; dataset: string; partitions: string[] }[] };
    const rebuilt = [...result.published.map((p) => `${p.dataset} ${p.partition}`)];
    expect(rebuilt).toContain('daily_revenue 2026-03-12');
    expect(rebuilt).not.toContain('daily_revenue 2026-03-03');
    expect(result.notices).toEqual([expect.objectContaining({ code: 'SKIPPED_IN_FLIGHT', dataset: 'daily_revenue', partitions: ['2026-03-03'] })]);
    // Untouched by this run: the held partition is still the backfill's to publish.
    expect(partitionsByKey(dir, ['daily_revenue']).get('daily_revenue/2026-03-03')).toEqual(before.get('daily_revenue/2026-03-03'));
    const done = await backfill;
    expect(done.code, done.stderr).toBe(0);
    // The backfill published it; the next run rebuilds whatever read it.
    expect(cliJson<{ status: string }>(dir, ['run']).status).toMatch(/published|noop/);
    expect(cliJson<{ datasets: { stale: number; missing: number }[] }>(dir, ['status']).datasets.every((d) => d.stale === 0 && d.missing === 0)).toBe(true);
  });

  it('names the server in the lock message when the project is held and the server file is gone', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    // Without serve.json a command cannot find the server: it runs locally and meets the lock.
    const { rmSync } = await import('node:fs');
    rmSync(path.join(dir, '.tidemark', 'serve.json'));
    const r = cli(dir, ['status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/held by another Tidemark process: pid \d+ running 'tidemark serve/);
    expect(server.child.exitCode).toBeNull();
  });
});

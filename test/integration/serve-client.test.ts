// A command handed to `tidemark serve` keeps its terminal link as a local command would: a quiet
// command (throttled, or paused outside its window) is not cut off by an idle timeout, Ctrl-C cancels
// its run between tasks with the same exit code and message as a local cancel (re-issuing resumes),
// a second Ctrl-C detaches, and a lost connection says what became of the run.
// Real `serve` child processes, real HTTP, a real DuckDB file.
import { describe, expect, it } from 'vitest';
import { serveSuite, type ServeProcess } from '../e2e/serve-process.js';
import { cli, cliChild, cliJson, days, partitionsByKey, until, writeOrdersFix } from '../helpers/project.js';

/** Keep-alives every 200 ms; the clients below give up after 2 s of silence (instead of 30 s and 3 min). */
const { fresh, startServe } = serveSuite({ env: { TIDEMARK_SERVE_KEEPALIVE_MS: '200' } });

/** The CLI as a child process whose command is handed to the server (a short idle limit: tests wait for it). */
const client = (dir: string, args: string[]) => cliChild(dir, args, { env: { TIDEMARK_SERVE_IDLE_MS: '2000' } });

/** A throttled backfill handed to a fresh server, once its first task was computed: what the server-loss tests cut short. */
async function backfillUnderWay(reason: string) {
  const dir = fresh();
  const server = await startServe(dir);
  const args = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', reason, '--yes'];
  const slow = client(dir, [...args, '--rate', '30/min']);
  await until(() => / computed\n/.test(slow.stderr()));
  return { dir, server, args, slow };
}

interface RunSummary {
  run_id: string;
  kind: string;
  status: string;
  tasks: { computed: number };
}

async function serverRuns(server: ServeProcess): Promise<RunSummary[]> {
  return (await (await fetch(`${server.url}/api/runs`)).json()) as RunSummary[];
}

describe('a command handed to tidemark serve', () => {
  it('stays connected through silences longer than the idle limit: the server sends keep-alives', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    // 15/min: 4 s without a word between tasks, twice the client's idle limit.
    const args = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-03', '--reason', 'slow', '--yes', '--rate', '15/min', '--json'];
    const r = await client(dir, args).done;
    expect(r.stderr).not.toMatch(/lost the connection/);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe('published');

    // On the wire: the command's id first (what Ctrl-C names), keep-alives while it is silent, its exit code last.
    const response = await fetch(`${server.url}/api/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ argv: ['backfill', 'daily_revenue', '--from', '2026-03-04', '--to', '2026-03-05', '--reason', 'slow', '--yes', '--rate', '15/min', '--json'] }),
    });
    const lines = (await response.text()).trim().split('\n').map((l) => JSON.parse(l) as { t: string; command_id?: number; code?: number });
    expect(lines[0]).toEqual({ t: 'command', command_id: expect.any(Number) });
    expect(lines.filter((l) => l.t === 'alive').length).toBeGreaterThan(0);
    expect(lines.at(-1)).toEqual({ t: 'exit', code: 0 });
  });

  it('Ctrl-C cancels the run between tasks like a local cancel (exit 1, same message), and re-issuing resumes it', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    const fixDays = days('2026-03-01', '2026-03-07');
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, fixDays)]);
    const before = partitionsByKey(dir, ['daily_revenue']);
    const args = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'EUR fix', '--yes'];
    const slow = client(dir, [...args, '--rate', '30/min']); // 2 s between tasks: room for Ctrl-C
    await until(() => / computed\n/.test(slow.stderr())); // a task was computed, as the client shows it
    slow.child.kill('SIGINT');
    const stopped = await slow.done;
    expect(stopped.code, stopped.stderr).toBe(1);
    const runId = /run (r\S+): backfill/.exec(stopped.stderr)![1];
    expect(stopped.stderr).toContain(`tidemark: cancelling run ${runId}: it stops between tasks`);
    // What a local `tidemark cancel` makes the command print (test/integration/serve.test.ts, cancel.ts cancelledError).
    expect(stopped.stderr).toContain(`error: run ${runId} was cancelled between tasks; nothing was published\nhint: re-issue the same command to resume: tasks already computed are reused\n`);

    const cancelled = (await serverRuns(server)).find((r) => r.run_id === runId)!;
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.tasks.computed).toBeGreaterThanOrEqual(1);
    expect(cancelled.tasks.computed).toBeLessThan(7);
    expect(partitionsByKey(dir, ['daily_revenue'])).toEqual(before); // nothing published

    const resumed = cliJson(dir, args);
    expect(resumed.run_id).toBe(runId);
    expect(resumed.status).toBe('published');
    expect(resumed.reused).toBe(cancelled.tasks.computed);
    expect(resumed.published.map((p: { partition: string }) => p.partition).sort()).toEqual(fixDays);
  });

  it('a second Ctrl-C detaches (exit 130) and says how to follow it; a run not started yet is cancelled when it starts', async () => {
    const dir = fresh();
    const server = await startServe(dir);
    const first = client(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'first', '--yes', '--rate', '60/min', '--json']);
    await until(async () => (await serverRuns(server)).some((r) => r.kind === 'backfill' && r.status === 'computing'));
    // Overlaps the first: it waits (no run of its own yet) for the partitions the first one holds.
    const second = client(dir, ['backfill', 'daily_revenue', '--from', '2026-03-05', '--to', '2026-03-10', '--reason', 'second', '--yes', '--rate', '60/min', '--wait', '120']);
    await until(() => /waiting: /.test(second.stderr()));
    second.child.kill('SIGINT');
    await until(() => /its run is cancelled as soon as it starts/.test(second.stderr()));
    second.child.kill('SIGINT');
    const detached = await second.done;
    expect(detached.code, detached.stderr).toBe(130);
    expect(detached.stderr).toMatch(/tidemark: detached; the command goes on in tidemark serve \(pid \d+\); its run is cancelled as soon as it starts\nhint: follow it with `tidemark runs`/);

    // The first run is not disturbed; the second one starts once it has published, and stops at once.
    const firstDone = await first.done;
    expect(firstDone.code, firstDone.stderr).toBe(0);
    const firstRun = JSON.parse(firstDone.stdout).run_id as string;
    let secondRun: RunSummary | undefined;
    await until(async () => {
      secondRun = (await serverRuns(server)).find((r) => r.kind === 'backfill' && r.run_id !== firstRun);
      return secondRun?.status === 'cancelled';
    });
    expect(secondRun!.tasks.computed).toBeLessThan(6);
  });

  it('a server stopped (SIGTERM) mid-command logs the command as cut short by the shutdown, and the run resumes', async () => {
    const { dir, server, args, slow } = await backfillUnderWay('stopped');
    await server.stop();
    const lost = await slow.done;
    expect(lost.code).toBe(1);
    const runId = /run (r\S+): backfill/.exec(lost.stderr)![1];
    // Not a bare "exit 2", as if the command had been wrong: the shutdown cut it short.
    expect(server.log()).toMatch(/tidemark backfill daily_revenue .* → exit \d while the server was stopping \(a run it started resumes when the command is re-issued\)/);
    expect(server.log()).not.toMatch(/→ exit \d \(/);
    const resumed = cliJson(dir, args);
    expect(resumed.run_id).toBe(runId);
    expect(resumed.status).toBe('published');
  });

  it('a lost connection says what became of the run and how to resume it', async () => {
    const { dir, server, args, slow } = await backfillUnderWay('lost');
    server.child.kill('SIGKILL'); // the server dies mid-run
    const lost = await slow.done;
    expect(lost.code).toBe(1);
    const runId = /run (r\S+): backfill/.exec(lost.stderr)![1];
    expect(lost.stderr).toMatch(/error: lost the connection to tidemark serve \(pid \d+\): the server closed the connection mid-command\n/);
    expect(lost.stderr).toContain(`hint: tidemark serve is not answering; run ${runId} was interrupted and stays resumable: re-issue the same command to resume it`);
    await until(() => server.child.exitCode !== null || server.child.signalCode !== null);

    const resumed = cliJson(dir, args); // no server now: runs here, resuming the interrupted run
    expect(resumed.run_id).toBe(runId);
    expect(resumed.status).toBe('published');
    expect(resumed.reused).toBeGreaterThanOrEqual(1);
  });

  it('a lost connection to a server that goes on says the run is still computing there, with the cancel command', async () => {
    const dir = fresh();
    // This server sends no keep-alive within the client's 2 s idle limit: the client gives up.
    const server = await startServe(dir, { env: { TIDEMARK_SERVE_KEEPALIVE_MS: '600000' } });
    const r = await client(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'quiet', '--yes', '--rate', '15/min']).done;
    expect(r.code).toBe(1);
    const runId = /run (r\S+): backfill/.exec(r.stderr)![1];
    expect(r.stderr).toMatch(/error: lost the connection to tidemark serve \(pid \d+\): nothing heard for 2s, not even a keep-alive\n/);
    expect(r.stderr).toContain(`hint: run ${runId} is still computing in tidemark serve: follow it with \`tidemark runs\`; stop it with \`tidemark cancel ${runId}\``);
    const cancel = cli(dir, ['cancel', runId, '--json']);
    expect(JSON.parse(cancel.stdout)).toEqual({ run_id: runId, status: 'cancelling' });
    await until(async () => (await serverRuns(server)).find((x) => x.run_id === runId)?.status === 'cancelled');
  });
});

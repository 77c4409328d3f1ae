// Ctrl-C on a one-shot command while its run computes (DuckDB, real processes): the first signal
// cancels the run between tasks — nothing published, computed partitions kept, exit 1 with the
// cancel's error — and re-issuing resumes; a second signal stops at once, leaving the run interrupted
// and resumable. Ctrl-C on a write command waiting for the file (--wait) stops it at once and takes
// its waiting record with it. Waits are on the command's own progress lines, never on time.
// (During the publish: interrupt-publish.test.ts.)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cli, cliChild, cliJson, days, holdWorkspace, projectCopies, requireBuild, snapshotLive, until } from '../helpers/project.js';

const FIX = days('2026-03-01', '2026-03-07');
let base: string;
const copies = projectCopies(() => base);

beforeAll(async () => {
  requireBuild();
  base = await builtShop();
  applyOrdersFix(base, FIX);
}, 300_000);
afterAll(() => {
  copies.removeAll();
  cleanup(base);
});

const computedLines = (text: string) => text.split('\n').filter((l) => / computed$/.test(l)).length;
const backfillArgs = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--reason', 'INC: EUR fix', '--yes'];

/** A throttled backfill in its own project, once `computed` of its tasks were computed, with the live data before it. */
async function backfillUnderWay(computed: number) {
  const dir = copies.fresh();
  const before = await snapshotLive(dir);
  const run = cliChild(dir, [...backfillArgs, '--rate', '60/min']);
  await until(() => computedLines(run.stderr()) >= computed);
  return { dir, before, run };
}

describe('Ctrl-C on a one-shot backfill', () => {
  it('first signal: the run stops between tasks, publishes nothing, exit 1; re-issuing resumes and reuses what was computed', async () => {
    const { dir, before, run } = await backfillUnderWay(2);
    run.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/tidemark: cancelling run r\S+: it stops between tasks/);
    expect(ended.stderr).toMatch(/^error: run r\S+ was cancelled between tasks; nothing was published$/m);
    expect(await snapshotLive(dir)).toEqual(before);

    const resumed = cliJson<{ status: string; reused: number; published: unknown[] }>(dir, backfillArgs);
    expect(resumed.status).toBe('published');
    expect(resumed.reused).toBeGreaterThanOrEqual(2);
    expect(resumed.published.length).toBe(FIX.length);
  });

  it('second signal: stops at once, the run interrupted and resumable', async () => {
    const { dir, before, run } = await backfillUnderWay(1);
    run.kill('SIGINT');
    await until(() => run.stderr().includes('Ctrl-C again to stop at once'));
    run.kill('SIGINT');
    const ended = await run.done;
    expect(ended.code).toBe(130);
    expect(ended.stderr).toMatch(/stopped at once; run r\S+ is interrupted and resumable/);
    expect(await snapshotLive(dir)).toEqual(before);
    expect(cliJson<{ status: string }>(dir, backfillArgs).status).toBe('published');
  });
});

describe('SIGTERM on a one-shot backfill (a supervisor stopping it)', () => {
  it('cancels between tasks like Ctrl-C, and says to send SIGTERM again, not to press Ctrl-C; a second SIGTERM stops at once (143)', async () => {
    const { dir, before, run } = await backfillUnderWay(1);
    run.kill('SIGTERM');
    await until(() => run.stderr().includes('to stop at once'));
    expect(run.stderr()).toContain('SIGTERM again to stop at once');
    expect(run.stderr()).not.toContain('Ctrl-C again');
    run.kill('SIGTERM');
    const ended = await run.done;
    expect(ended.code).toBe(143);
    expect(ended.stderr).toMatch(/stopped at once; run r\S+ is interrupted and resumable/);
    expect(await snapshotLive(dir)).toEqual(before);
  });
});

describe('Ctrl-C on a write command waiting for the file (--wait)', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: exit %i, nothing done, its waiting record gone, and readers are no longer told of a waiting writer', async (signal, code) => {
    const dir = copies.fresh();
    const waiting = path.join(dir, '.tidemark', 'writer-waiting.json');
    const reader = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    const writer = cliChild(dir, [...backfillArgs, '--wait', '300']);
    try {
      await until(() => /waiting up to 5 min/.test(writer.stderr()) || writer.child.exitCode !== null);
      expect(JSON.parse(readFileSync(waiting, 'utf8'))).toMatchObject({ pid: writer.child.pid });
      // Readers queue behind it while it waits.
      expect(cli(dir, ['status']).stderr).toMatch(new RegExp(`^error: a write command waits for the project's DuckDB file and goes first: pid ${writer.child.pid} `, 'm'));

      writer.kill(signal);
      const ended = await writer.done;
      expect({ code: ended.code, signal: ended.signal }).toEqual({ code, signal: null });
      expect(ended.stderr).toMatch(/^tidemark: stopped while waiting for the project's DuckDB file \(another process holds it\); nothing was done$/m);
      // Gone as the process ended, not swept later by a reader that finds its pid dead.
      expect(existsSync(waiting)).toBe(false);
      const status = cli(dir, ['status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stderr).not.toMatch(/write command waits/);
    } finally {
      writer.kill('SIGKILL'); // only a failed test leaves it running
      await reader.stop();
    }
    expect(cliJson<{ kind: string }[]>(dir, ['runs']).filter((r) => r.kind === 'backfill')).toEqual([]);
  });
});

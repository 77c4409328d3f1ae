// A concurrency drill on one DuckDB project: on-call engineers running read commands side by side,
// a writer among them, readers coming and going (or killed), and `tidemark serve`. Real CLI processes
// and real long-lived holders (holdWorkspace: a process that opened the project as a command does);
// every wait is on an event (a line printed, a file written, a process exited), never on a duration.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openWorkspace } from '../../src/workspace.js';
import { builtShop, cli, cliAsync, cliChild, cliJson, holdWorkspace, sharedProject, until } from '../helpers/project.js';

const copies = sharedProject(() => builtShop());

const state = (dir: string) => path.join(dir, '.tidemark');
const records = (dir: string) => readdirSync(state(dir)).filter((f) => /^holder-\d+\.json$/.test(f)).sort();
const errorLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('error:')) ?? '';

const READS = [
  ['status'],
  ['partitions', 'daily_revenue'],
  ['query', 'SELECT count(*) AS n FROM orders'],
  ['audit', 'verify'],
  ['history', 'daily_revenue', '--partition', '2026-03-01'],
];
const BACKFILL = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--yes', '--reason', 'drill'];

describe('readers side by side', () => {
  it('status, partitions, query, audit verify and history at once, beside a reader holding the file: all succeed, and leave no record behind', async () => {
    const dir = copies.fresh();
    const holder = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    try {
      const results = await Promise.all(READS.map((args) => cliAsync(dir, args)));
      for (const [i, r] of results.entries()) expect({ args: READS[i], code: r.code, stderr: r.stderr }).toEqual({ args: READS[i], code: 0, stderr: expect.not.stringMatching(/^error:/m) });
      expect(records(dir)).toEqual([`holder-${holder.pid}.json`]);
    } finally {
      await holder.stop();
    }
    expect(records(dir)).toEqual([]);
  });
});

describe('a writer among readers', () => {
  it('is refused naming the reader; with --wait it says whom it waits for, readers arriving meanwhile queue behind it, and it runs once the readers it met are gone', async () => {
    const dir = copies.fresh();
    const reader = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    let stopped = false;
    const children: { kill(signal: NodeJS.Signals): void }[] = [];
    try {
      const refused = cli(dir, BACKFILL);
      expect(refused.code).toBe(1);
      expect(errorLine(refused.stderr)).toMatch(new RegExp(`^error: the project's DuckDB file is held by another Tidemark process: pid ${reader.pid} running 'tidemark audit verify' since `));

      const writer = cliChild(dir, [...BACKFILL, '--wait', '300']);
      children.push(writer);
      await until(() => /waiting up to 5 min/.test(writer.stderr()));
      expect(writer.stderr()).toMatch(new RegExp(`^tidemark: the project's DuckDB file is held by pid ${reader.pid} running 'tidemark audit verify' since \\S+; waiting up to 5 min \\(readers that arrive meanwhile wait behind this command\\)$`, 'm'));
      expect(JSON.parse(readFileSync(path.join(state(dir), 'writer-waiting.json'), 'utf8'))).toMatchObject({ pid: writer.child.pid, command: expect.stringContaining('tidemark backfill daily_revenue') });

      // A stream of readers cannot keep it out: a new reader does not join the one holding the file.
      const late = cli(dir, ['status']);
      expect(late.code).toBe(1);
      expect(errorLine(late.stderr)).toMatch(new RegExp(`^error: a write command waits for the project's DuckDB file and goes first: pid ${writer.child.pid} running 'tidemark backfill daily_revenue`));
      expect(late.stderr).toMatch(/^hint: retry with --wait/m);
      await expect(holdWorkspace(dir, 'tidemark status', undefined, { readOnly: true })).rejects.toThrow(/a write command waits/);
      // With --wait, a reader queues behind the writer and then reads what it wrote.
      const queued = cliChild(dir, ['audit', 'log', '--json', '--wait', '300']);
      children.push(queued);
      await until(() => /goes first/.test(queued.stderr()));
      // --json: the waiting line is a JSON object on stderr.
      expect(JSON.parse(queued.stderr().split('\n')[0])).toEqual({
        status: 'waiting',
        reason: 'writer_waiting',
        holder: expect.stringMatching(new RegExp(`^a write command waits for the project's DuckDB file and goes first: pid ${writer.child.pid} running 'tidemark backfill .*; this command waits behind it \\(up to 5 min\\)$`)),
      });

      await reader.stop();
      stopped = true;
      const wrote = await writer.done;
      expect(wrote.code, wrote.stderr).toBe(0);
      const runId = /Run (r\S+) published/.exec(wrote.stdout)?.[1];
      expect(runId).toBeDefined();
      const read = await queued.done;
      expect(read.code, read.stderr).toBe(0);
      expect((JSON.parse(read.stdout) as { run_id: string }[]).map((a) => a.run_id)).toContain(runId);
      expect(existsSync(path.join(state(dir), 'writer-waiting.json'))).toBe(false);
    } finally {
      for (const c of children) c.kill('SIGKILL'); // only a failed test leaves one running
      if (!stopped) await reader.stop();
    }
    expect(records(dir)).toEqual([]);
  });
});

describe('a writer waiting between attempts (its run window opened while readers hold the file)', () => {
  // The backfill waits for its run window with the project closed (scheduler/window-attempts.ts); the
  // window opens while a reader holds the file, so its reopen is refused and it retries every few
  // seconds. Time is the clock file a child CLI reads (TIDEMARK_TEST_CLOCK_FILE): no real waiting.
  const at = (h: number, m = 0) => String(new Date(2026, 5, 1, h, m).getTime());
  const waiting = (dir: string) => path.join(state(dir), 'writer-waiting.json');

  async function writerQueuedBehind(dir: string) {
    const clock = path.join(state(dir), 'test-clock');
    const setClock = (ms: string) => {
      writeFileSync(`${clock}.tmp`, ms);
      renameSync(`${clock}.tmp`, clock); // never read half-written
    };
    setClock(at(12));
    const writer = cliChild(dir, [...BACKFILL, '--window', '22:00-06:00', '--json'], { env: { TIDEMARK_TEST_CLOCK_FILE: clock } });
    // Whole lines only: the last one may still be arriving.
    const lines = () => writer.stderr().split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { reason: string; holder?: string });
    await until(() => lines().some((l) => l.reason === 'outside_window') || writer.child.exitCode !== null);
    expect(writer.child.exitCode, writer.stderr()).toBeNull();
    // While it waits for its window, the project is free: a reader opens it and holds it.
    const reader = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    setClock(at(22, 5)); // the window opens: the backfill reopens the project, and the reader holds it
    await until(() => lines().some((l) => l.reason === 'project_held') || writer.child.exitCode !== null);
    expect(lines().find((l) => l.reason === 'project_held')?.holder, writer.stderr()).toMatch(new RegExp(`held by another Tidemark process: pid ${reader.pid} running 'tidemark audit verify'`));
    // In line from its first refusal (written before it says it waits).
    expect(existsSync(waiting(dir))).toBe(true);
    return { writer, reader, setClock };
  }

  it('takes its place before readers that arrive after it: they are refused naming it, or queue behind it with --wait, and it gets in once the reader it met is gone', async () => {
    const dir = copies.fresh();
    const { writer, reader, setClock } = await writerQueuedBehind(dir);
    const children: { kill(signal: NodeJS.Signals): void }[] = [writer];
    let stopped = false;
    try {
      expect(JSON.parse(readFileSync(waiting(dir), 'utf8'))).toMatchObject({ pid: writer.child.pid, command: expect.stringContaining('tidemark backfill daily_revenue') });
      // A stream of readers, each arriving while the one before still holds the file: none joins it.
      for (const args of READS.slice(0, 3)) {
        const late = cli(dir, args);
        expect({ args, code: late.code }).toEqual({ args, code: 1 });
        expect(errorLine(late.stderr)).toMatch(new RegExp(`^error: a write command waits for the project's DuckDB file and goes first: pid ${writer.child.pid} running 'tidemark backfill daily_revenue`));
      }
      await expect(holdWorkspace(dir, 'tidemark status', undefined, { readOnly: true })).rejects.toThrow(/a write command waits/);
      const queued = cliChild(dir, ['audit', 'log', '--json', '--wait', '300']);
      children.push(queued);
      await until(() => /goes first.*\n/.test(queued.stderr()) || queued.child.exitCode !== null);
      expect(JSON.parse(queued.stderr().split('\n')[0])).toMatchObject({ status: 'waiting', reason: 'writer_waiting' });

      await reader.stop();
      stopped = true;
      setClock(at(22, 6)); // its next try, a few seconds on
      const wrote = await writer.done;
      expect(wrote.code, wrote.stderr).toBe(0);
      const runId = (JSON.parse(wrote.stdout) as { run_id: string; status: string }).run_id;
      const read = await queued.done;
      expect(read.code, read.stderr).toBe(0);
      expect((JSON.parse(read.stdout) as { run_id: string }[]).map((a) => a.run_id)).toContain(runId);
      expect(existsSync(waiting(dir))).toBe(false);
    } finally {
      for (const c of children) c.kill('SIGKILL'); // only a failed test leaves one running
      if (!stopped) await reader.stop();
    }
    expect(records(dir)).toEqual([]);
  });

  it('stopped while it waits in line (SIGTERM): its place is left, and readers are no longer held back', async () => {
    const dir = copies.fresh();
    const { writer, reader } = await writerQueuedBehind(dir);
    try {
      writer.kill('SIGTERM');
      const ended = await writer.done;
      expect(ended.code).toBe(1);
      expect(ended.stderr).toMatch(/^error: stopped while waiting for the project's DuckDB file; nothing was started$/m);
      expect(existsSync(waiting(dir))).toBe(false);
      const status = cli(dir, ['status']);
      expect(status.code, status.stderr).toBe(0);
    } finally {
      writer.kill('SIGKILL');
      await reader.stop();
    }
    expect(records(dir)).toEqual([]);
  });
});

describe('readers while a writer runs', () => {
  it('are refused naming its pid, command and run; with --wait they wait and then succeed', async () => {
    const dir = copies.fresh();
    // A real backfill, slowed by --rate so that it holds the file for a while.
    const writer = cliChild(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-06', '--yes', '--reason', 'drill', '--rate', '60/min']);
    const record = () => {
      const file = path.join(state(dir), `holder-${writer.child.pid}.json`);
      return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { run_id?: string }) : null;
    };
    await until(() => Boolean(record()?.run_id) || writer.child.exitCode !== null);
    const runId = record()?.run_id;
    expect(runId, writer.stderr()).toMatch(/^r\d{8}_\d{6}_[0-9a-f]+$/);
    const refused = await Promise.all(READS.map((args) => cliAsync(dir, args)));
    const waiting = READS.slice(0, 2).map((args) => cliChild(dir, [...args, '--wait', '300']));
    for (const r of refused) {
      if (r.code === 0) continue; // the backfill may just have finished: nothing to check then
      expect(r.code).toBe(1);
      expect(errorLine(r.stderr)).toMatch(new RegExp(`^error: the project's DuckDB file is held by another Tidemark process: pid ${writer.child.pid} running 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-06 .*' \\(run ${runId}\\) since `));
    }
    expect(refused.some((r) => r.code === 1)).toBe(true);
    const done = await writer.done;
    expect(done.code, done.stderr).toBe(0);
    for (const w of waiting) {
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
    }
    expect(records(dir)).toEqual([]);
  });
});

describe('the holder records as readers come and go', () => {
  it('reader A, then reader B, A exits: a refused writer is told B with its command, never A', async () => {
    const dir = copies.fresh();
    const a = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    const b = await holdWorkspace(dir, 'tidemark history daily_revenue', undefined, { readOnly: true }).catch(async (error: unknown) => {
      await a.stop();
      throw error;
    });
    let aStopped = false;
    try {
      const both = errorLine(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x']).stderr);
      // DuckDB names one of them; the message names both, each with its command.
      expect(both).toContain(`pid ${a.pid} `);
      expect(both).toContain(`pid ${b.pid} `);
      expect(both).toMatch(/running 'tidemark (audit verify|history daily_revenue)' since \S+, and 1 other reader\(s\): pid \d+ 'tidemark (audit verify|history daily_revenue)'$/);
      await a.stop();
      aStopped = true;
      const refused = cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x']);
      expect(refused.code).toBe(1);
      expect(errorLine(refused.stderr)).toMatch(new RegExp(`^error: the project's DuckDB file is held by another Tidemark process: pid ${b.pid} running 'tidemark history daily_revenue' since \\S+$`));
    } finally {
      await b.stop();
      if (!aStopped) await a.stop();
    }
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x']).code).toBe(0);
  });

  it('a reader killed with SIGKILL leaves its record: never named, swept by the next open, and the next commands run', async () => {
    const dir = copies.fresh();
    const killed = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    const alive = await holdWorkspace(dir, 'tidemark status', undefined, { readOnly: true });
    process.kill(killed.pid, 'SIGKILL');
    await until(() => {
      try {
        process.kill(killed.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    try {
      expect(records(dir)).toContain(`holder-${killed.pid}.json`);
      const refused = cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x']);
      expect(refused.code).toBe(1);
      expect(errorLine(refused.stderr)).toMatch(new RegExp(`held by another Tidemark process: pid ${alive.pid} running 'tidemark status' since \\S+$`));
      expect(refused.stderr).not.toContain(String(killed.pid));
      expect(records(dir)).toEqual([`holder-${alive.pid}.json`]);
    } finally {
      await alive.stop();
    }
    expect(cli(dir, ['status']).code).toBe(0);
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x']).code).toBe(0);
    expect(records(dir)).toEqual([]);
  });
});

describe('a waiting writer that is no longer there', () => {
  it('killed, or its pid reused by another process: readers are not held back by its record', () => {
    const dir = copies.fresh();
    const file = path.join(state(dir), 'writer-waiting.json');
    const record = (pid: number, seenAgoMs: number) =>
      writeFileSync(file, JSON.stringify({ pid, command: 'tidemark backfill daily_revenue', started_at: new Date().toISOString(), seen_at: new Date(Date.now() - seenAgoMs).toISOString() }));
    // Renewed just now by a live process (this test's, standing in for a waiting writer): readers step aside.
    record(process.pid, 0);
    const refused = cli(dir, ['status']);
    expect(refused.code).toBe(1);
    expect(errorLine(refused.stderr)).toMatch(new RegExp(`^error: a write command waits for the project's DuckDB file and goes first: pid ${process.pid} running 'tidemark backfill daily_revenue'`));
    // Not renewed for a minute: its writer is gone and the pid is someone else's.
    record(process.pid, 60_000);
    expect(cli(dir, ['status']).code).toBe(0);
    // A pid no process has (killed with SIGKILL): swept away.
    record(2 ** 22 + 12345, 0);
    expect(cli(dir, ['status']).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});

describe('tidemark serve holding the project', () => {
  it('takes reads and writes from the CLI, keeps --read-only, and names itself to a library user and a second serve', async () => {
    const dir = copies.fresh();
    const serve = cliChild(dir, ['serve', '--port', '0']);
    try {
      await until(() => /tidemark serve: .* at http/.test(serve.stdout()) || serve.child.exitCode !== null);
      expect(serve.child.exitCode, serve.stderr()).toBeNull();
      expect(cli(dir, ['status', '--read-only']).code).toBe(0);
      const readOnlyWrite = cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'x', '--read-only']);
      expect(readOnlyWrite.code).toBe(1);
      expect(readOnlyWrite.stderr).toMatch(/^error: the project is to be read only \(--read-only\), and this command writes it; nothing was done/m);
      const backfill = cliJson<{ run_id: string }>(dir, BACKFILL);
      expect(cliJson<{ run_id: string }[]>(dir, ['runs']).map((r) => r.run_id)).toContain(backfill.run_id);
      // The run it hosted is over: the server is named, not the command it ran last.
      const refused = await openWorkspace(dir, { command: 'library' }).then(
        (ws) => ws.close().then(() => null),
        (error: unknown) => error as { code: string; message: string; hint: string },
      );
      expect(refused?.code).toBe('LOCKED');
      expect(refused?.message).toMatch(new RegExp(`held by another Tidemark process: pid ${serve.child.pid} running 'tidemark serve --port 0 --project \\S+' since \\S+$`));
      expect(refused?.hint).toMatch(new RegExp(`^tidemark serve \\(pid ${serve.child.pid}\\) holds it: CLI commands are handed to it on their own; from code, call its API at http://127\\.0\\.0\\.1:\\d+`));
      const second = cli(dir, ['serve', '--port', '0']);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`^error: tidemark serve is already running for this project at http://127\\.0\\.0\\.1:\\d+ \\(pid ${serve.child.pid}, `, 'm'));
    } finally {
      serve.kill('SIGTERM');
      await serve.done;
    }
    expect(records(dir)).toEqual([]);
  });
});

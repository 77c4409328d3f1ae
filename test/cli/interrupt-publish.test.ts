// Ctrl-C (SIGINT) or SIGTERM on a CLI backfill while it is in its publish transaction, on each
// engine. The process is held there by a pause point (TIDEMARK_PAUSE_AT=publish.before_commit:1,
// src/execute/crash.ts): the transaction has done all its work and not yet committed, and waits for
// the test to remove its pause file. What the design promises:
//  - one signal: the transaction commits, then the command stops (exit 130/143) saying the run
//    published; the live tables are the complete new state;
//  - a second signal: the command stops at once (exit 130/143) saying nothing of the run was
//    published; the live tables are the complete old state;
//  - either way partitions, versions and the audit trail agree with the live tables (`audit verify
//    --data`), and re-issuing the command ends in the new state, with no duplicate keys, no version
//    or audit record twice.
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  applyOrdersFix,
  builtShop,
  cleanup,
  cli,
  cliChild,
  cliJson,
  copyProject,
  days,
  duplicateKeys,
  requireBuild,
  snapshotLive,
  stateSchemaOf,
  testEngines,
  until,
  type StateDump,
} from '../helpers/project.js';

const FIX = days('2026-03-01', '2026-03-04');
const BACKFILL = ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[FIX.length - 1], '--downstream', '--reason', 'INC: EUR fix', '--yes'];
const EXIT_CODE = { SIGINT: 130, SIGTERM: 143 } as const;
const NO_DUPLICATES = { orders: 0, fx_rates: 0, daily_revenue: 0, revenue_7d: 0, monthly_revenue: 0 };

interface RunJson {
  run_id: string;
  status: string;
  published: unknown[];
  unchanged: number;
  reused: number;
}

describe.each(testEngines(inject('pgUrl')))('a signal during the publish transaction of a CLI backfill ($kind)', (engine) => {
  let old: string; // fix ingested, models stale
  let oldLive: StateDump['live'];
  let newLive: StateDump['live'];
  /** How many partitions the backfill publishes (it and its dependents), and how many datasets. */
  let published = 0;
  const made: string[] = [];

  beforeAll(async () => {
    requireBuild();
    old = await builtShop(undefined, undefined, { engine });
    applyOrdersFix(old, FIX);
    oldLive = await snapshotLive(old);
    const reference = copyProject(old);
    made.push(reference);
    published = cliJson<RunJson>(reference, BACKFILL).published.length;
    newLive = await snapshotLive(reference);
    expect(newLive).not.toEqual(oldLive);
  }, 300_000);
  afterAll(() => cleanup(old, ...made));

  const which = (live: StateDump['live']) => (JSON.stringify(live) === JSON.stringify(oldLive) ? 'old' : JSON.stringify(live) === JSON.stringify(newLive) ? 'new' : 'mixed');
  /** How many rows of a state table a run has (versions, audit records). */
  const rowsOf = (dir: string, table: string, runId?: string) =>
    Number(cliJson<{ n: number }[]>(dir, ['query', `SELECT count(*) AS n FROM ${stateSchemaOf(dir)}.${table}${runId ? ` WHERE run_id = '${runId}'` : ''}`])[0].n);
  const runStatus = (dir: string, runId: string) => cliJson<{ run_id: string; status: string }[]>(dir, ['runs']).find((r) => r.run_id === runId)?.status;
  /** Live tables, partition records and the audit trail agree (a live partition changed outside a publish, or a record without its data, fails it). */
  const consistent = (dir: string) => {
    const verify = cli(dir, ['audit', 'verify', '--data']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  };

  /** The backfill, held in its publish transaction until the returned `release` (or the process's end). */
  async function backfillInPublish() {
    const dir = copyProject(old);
    made.push(dir);
    const pause = path.join(dir, 'paused-in-publish');
    const run = cliChild(dir, BACKFILL, { env: { TIDEMARK_PAUSE_AT: 'publish.before_commit:1', TIDEMARK_PAUSE_FILE: pause } });
    await until(() => existsSync(pause) || run.child.exitCode !== null);
    expect(run.child.exitCode, run.stderr()).toBeNull();
    const runId = /^run (r\S+): backfill/m.exec(run.stderr())?.[1];
    expect(runId, run.stderr()).toBeDefined();
    return { dir, run, runId: runId!, release: () => rmSync(pause) };
  }

  it.each(['SIGINT', 'SIGTERM'] as const)('one %s: the publish commits, then the command stops saying so; re-issuing publishes nothing more', async (signal) => {
    const { dir, run, runId, release } = await backfillInPublish();
    run.kill(signal);
    await until(() => run.stderr().includes('stopping once it commits') || run.child.exitCode !== null);
    expect(run.stderr()).toContain(`tidemark: run ${runId} is publishing (one transaction); stopping once it commits. ${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again to stop at once (nothing of it is then published).\n`);
    release();
    const ended = await run.done;
    expect({ code: ended.code, signal: ended.signal }).toEqual({ code: EXIT_CODE[signal], signal: null });
    expect(ended.stderr).toMatch(new RegExp(`^tidemark: run ${runId} published; stopped as asked, before delivering to consumers .*; \`tidemark diff ${runId}\` shows what it changed$`, 'm'));
    expect(ended.stderr).not.toMatch(/^error:/m);

    expect(which(await snapshotLive(dir))).toBe('new');
    expect(['published', 'complete']).toContain(runStatus(dir, runId));
    expect(rowsOf(dir, 'versions', runId)).toBe(published);
    expect(rowsOf(dir, 'audit', runId)).toBe(3); // one record per dataset it changed
    consistent(dir);

    const versions = rowsOf(dir, 'versions');
    const audits = rowsOf(dir, 'audit');
    const again = cliJson<RunJson & { already_published_by: { run_id: string }[] }>(dir, BACKFILL);
    expect(again).toMatchObject({ status: 'published', published: [], unchanged: FIX.length, already_published_by: [{ run_id: runId }] });
    expect(which(await snapshotLive(dir))).toBe('new');
    expect(await duplicateKeys(dir)).toEqual(NO_DUPLICATES);
    expect(rowsOf(dir, 'versions')).toBe(versions); // identical content: no new version
    expect(rowsOf(dir, 'versions', runId)).toBe(published);
    expect(rowsOf(dir, 'audit', runId)).toBe(3);
    expect(rowsOf(dir, 'audit')).toBeGreaterThanOrEqual(audits);
    consistent(dir);
  }, 300_000);

  it.each(['SIGINT', 'SIGTERM'] as const)('a second %s: the command stops at once before the commit, saying nothing was published; re-issuing resumes and publishes it once', async (signal) => {
    const { dir, run, runId } = await backfillInPublish();
    run.kill(signal);
    await until(() => run.stderr().includes('stopping once it commits') || run.child.exitCode !== null);
    run.kill(signal);
    const ended = await run.done;
    expect({ code: ended.code, signal: ended.signal }).toEqual({ code: EXIT_CODE[signal], signal: null });
    expect(ended.stderr).toMatch(
      new RegExp(`^tidemark: stopped at once during the publish of run ${runId}, before its commit: nothing of it was published; the run is interrupted and resumable: re-issue the same command to publish it \\(it reuses the computed partitions\\)$`, 'm'),
    );

    expect(which(await snapshotLive(dir))).toBe('old');
    expect(runStatus(dir, runId)).toBe('publishing'); // interrupted: `status` lists it among interrupted runs
    expect(cliJson<{ interrupted_runs: { run_id: string }[] }>(dir, ['status']).interrupted_runs.map((r) => r.run_id)).toEqual([runId]);
    expect(rowsOf(dir, 'versions', runId)).toBe(0);
    expect(rowsOf(dir, 'audit', runId)).toBe(0);
    consistent(dir);

    const again = cliJson<RunJson>(dir, BACKFILL);
    expect(again).toMatchObject({ run_id: runId, status: 'published', reused: expect.any(Number) });
    expect(again.published).toHaveLength(published);
    expect(again.reused).toBeGreaterThan(0);
    expect(which(await snapshotLive(dir))).toBe('new');
    expect(await duplicateKeys(dir)).toEqual(NO_DUPLICATES);
    expect(rowsOf(dir, 'versions', runId)).toBe(published);
    expect(rowsOf(dir, 'audit', runId)).toBe(3);
    consistent(dir);
  }, 300_000);
});

// `--json` on an error, through the real CLI: besides the `error:`/`hint:` lines on stderr (kept as
// they were), one JSON object on stdout, `{ error: { code, message, hint?, exit_code, run_id?, guards? } }`, so a
// script parsing stdout gets the refusal and its blocking guards. A refusal by several guards names
// every one of them, with a `hint:` line each. A command that printed its JSON before failing keeps
// that one object on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtShop, cleanup, cli, cliJson, readModel, requireBuild, snapshotState, writeModel } from '../helpers/project.js';

let dir: string;

// The reduced shop: 2026-02-15 .. 2026-03-16. Frozen before 02-18, the newest 2 days recent, 03-01..03-02 locked.
const PROTECT = '    protect: { frozen_before: 2026-02-18, recent: 2 }\n';

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  const yaml = path.join(dir, 'tidemark.yaml');
  const checks = '    checks: [{ not_null: [day, currency] }, { row_count: { min: 1 } }]\n';
  const text = readFileSync(yaml, 'utf8');
  if (!text.includes(checks)) throw new Error('the shop tidemark.yaml no longer has the daily_revenue checks line');
  writeFileSync(yaml, text.replace(checks, `${checks}${PROTECT}`));
  cliJson(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'month-end close']);
}, 300_000);
afterAll(() => cleanup(dir));

const backfill = (from: string, to: string, ...more: string[]) => ['backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', 'test', '--yes', ...more];

interface ErrorJson {
  error: { code: string; message: string; hint?: string; exit_code: number; run_id?: string; guards?: { code: string; dataset: string; partitions: string[]; message: string; hint: string; blocking: boolean }[] };
}

describe('--json on an error', () => {
  it('a backfill refused by four guards prints them all: one error line, a hint line each, and the guards as JSON on stdout; nothing changes', async () => {
    const before = await snapshotState(dir);
    const r = cli(dir, [...backfill('2026-02-15', '2026-03-16'), '--json']);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout) as ErrorJson;
    expect(Object.keys(out)).toEqual(['error']);
    expect(out.error).toMatchObject({ code: 'GUARD', exit_code: 3 });
    expect(out.error.guards!.map((g) => g.code)).toEqual(['FULL_REFRESH', 'FROZEN', 'LOCKED', 'RECENT']);
    expect(out.error.guards!.every((g) => g.blocking && g.dataset === 'daily_revenue' && g.hint.length > 0)).toBe(true);
    expect(out.error.guards!.find((g) => g.code === 'LOCKED')!.partitions).toEqual(['2026-03-01', '2026-03-02']);
    // The same shape as `plan --json`'s guards for the same range.
    const plan = cliJson(dir, ['plan', 'daily_revenue', '--from', '2026-02-15', '--to', '2026-03-16']);
    expect(out.error.guards).toEqual(plan.guards.filter((g: { blocking: boolean }) => g.blocking));

    // stderr: one error line naming every guard, one hint line per guard, nothing else.
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^error: refused by 4 guards: .*full refresh; daily_revenue: 3 partition\(s\) are frozen.*; daily_revenue: 2026-03-01, 2026-03-02 locked by test .*; daily_revenue: 2026-03-15, 2026-03-16 among the newest 2 partitions/);
    expect(lines.slice(1).map((l) => l.match(/^hint: \[(\w+)\]/)?.[1])).toEqual(['FULL_REFRESH', 'FROZEN', 'LOCKED', 'RECENT']);
    expect(out.error.message).toBe(lines[0].slice('error: '.length));
    expect(out.error.hint!.split('\n')).toEqual(lines.slice(1).map((l) => l.slice('hint: '.length)));
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('one refusing guard reads as before: `refused: MESSAGE` and its own hint', () => {
    const r = cli(dir, backfill('2026-03-10', '2026-03-16'));
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(''); // without --json, stdout stays empty
    expect(r.stderr).toBe(
      'error: refused: daily_revenue: 2026-03-15, 2026-03-16 among the newest 2 partitions, protected from backfill\n' +
        'hint: narrow the range to leave out 2026-03-15, 2026-03-16 (--to 2026-03-14 at the latest), or pass --include-recent to backfill them too\n',
    );
  });

  it('the recent-partitions hint offers narrowing first, and only --include-recent when the range holds nothing else', () => {
    const onlyRecent = cli(dir, [...backfill('2026-03-15', '2026-03-16'), '--json']);
    expect(onlyRecent.code).toBe(3);
    expect((JSON.parse(onlyRecent.stdout) as ErrorJson).error.hint).toBe('narrow --from/--to to leave out 2026-03-15, 2026-03-16, or pass --include-recent to backfill them too');
    expect(cli(dir, [...backfill('2026-03-10', '2026-03-14'), '--dry-run']).code).toBe(0); // the --to it offered passes
  });

  it('an error that is not a refusal: code, message, hint and exit code; no guards', () => {
    const r = cli(dir, ['backfill', 'daily_revenu', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes', '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as ErrorJson;
    expect(out.error).toEqual({ code: 'UNKNOWN_DATASET', message: expect.stringContaining("unknown dataset 'daily_revenu'"), hint: expect.stringContaining('daily_revenue'), exit_code: 2 });
    expect(r.stderr).toBe(`error: ${out.error.message}\nhint: ${out.error.hint}\n`);
  });

  it('a run that failed names itself: run_id, the failed run that re-issuing the command resumes', async () => {
    const sql = readModel(dir, 'revenue_7d');
    const failing = sql.replace('GROUP BY', "AND CAST(CASE WHEN {{ start }} = DATE '2026-03-06' THEN 'x' ELSE '1' END AS INTEGER) = 1\nGROUP BY");
    expect(failing).not.toBe(sql);
    writeModel(dir, 'revenue_7d', failing);
    const before = await snapshotState(dir);
    const args = ['backfill', 'revenue_7d', '--from', '2026-03-05', '--to', '2026-03-07', '--reason', 'test', '--yes'];
    const r = cli(dir, [...args, '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as ErrorJson;
    expect(out.error).toMatchObject({ code: 'SQL', exit_code: 2, run_id: expect.stringMatching(/^r\d{8}_\d{6}_[0-9a-f]{6}$/) });
    const failed = cliJson<{ run_id: string; status: string }[]>(dir, ['runs']).find((run) => run.status === 'failed');
    expect(failed?.run_id).toBe(out.error.run_id);
    expect(await snapshotState(dir)).toEqual(before);

    writeModel(dir, 'revenue_7d', sql);
    expect(cliJson<{ run_id: string }>(dir, args).run_id).toBe(out.error.run_id);
  });

  it('an error without a hint has no hint field', () => {
    const r = cli(dir, ['query', 'SELECT * FROM no_such_table', '--json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as ErrorJson;
    expect(out.error).toMatchObject({ code: 'SQL', exit_code: 2 });
    expect('hint' in out.error).toBe(false);
  });

  it('credential-shaped values are redacted from the JSON', () => {
    const r = cli(dir, ['backfill', 'daily_revenue', '--from', 'password=hunter2', '--to', '2026-03-02', '--reason', 'x', '--yes', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('hunter2');
    expect((JSON.parse(r.stdout) as ErrorJson).error.message).toContain('password=***');
  });

  it('a command that printed its JSON before it failed keeps that one object: a refused --dry-run prints its plan, not a second object', () => {
    const r = cli(dir, [...backfill('2026-03-10', '2026-03-16'), '--dry-run', '--json']);
    expect(r.code).toBe(3);
    const plan = JSON.parse(r.stdout); // one object: JSON.parse refuses two
    expect(plan.guards.filter((g: { blocking: boolean }) => g.blocking).map((g: { code: string }) => g.code)).toEqual(['RECENT']);
    expect(r.stderr).toMatch(/^error: refused: /);
  });
});

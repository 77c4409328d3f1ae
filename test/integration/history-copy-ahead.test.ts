/**
 * Replaced rows copied to history before the publish transaction (src/execute/history-copy.ts), on a
 * real DuckDB file through the CLI. TIDEMARK_HISTORY_COPY_AHEAD_ROWS=0 takes that path on the small
 * shop data (by default only copies of 100k rows or more are made ahead).
 *
 * What must hold: a restore brings back exactly the replaced rows whichever way they reached
 * history; a run killed after its copy resumes and reuses it; a copy whose partition was republished
 * meanwhile is not used (and its rows go); a run that never publishes leaves copies that gc removes,
 * with nothing else in history touched.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { partitionStates, readFile, removeProject, scaleRevenue, SETUP_TIMEOUT, shopProject, SLOW, tm, tmJson, writeFile } from './versions-fixture.js';

const FROM = '2026-04-24';
const TO = '2026-04-30';

describe('history copied ahead of the publish', SLOW, () => {
  let dir: string;
  let goodSql: string;
  const saved = process.env.TIDEMARK_HISTORY_COPY_AHEAD_ROWS;

  /** Rows per history tag of daily_revenue. */
  const historyByTag = () =>
    new Map(tmJson<{ tag: number; n: number }[]>(dir, 'query', 'SELECT _tm_replaced_seq AS tag, count(*) AS n FROM tidemark_history.daily_revenue GROUP BY 1 ORDER BY 1').map((r) => [Number(r.tag), Number(r.n)]));
  const copies = () => tmJson<{ run_id: string; partition: string; version: number; tag: number }[]>(dir, 'query', `SELECT run_id, partition, version, tag FROM tidemark.history_copies WHERE dataset = 'daily_revenue' ORDER BY partition`);
  /** The tag each replaced version of daily_revenue points at, and its row count in history. */
  const replacedVersions = () =>
    tmJson<{ p: string; v: number; tag: number; n: number }[]>(
      dir,
      'query',
      `SELECT v.partition AS p, v.version AS v, v.replaced_seq AS tag, (SELECT count(*) FROM tidemark_history.daily_revenue h WHERE h._tm_replaced_seq = v.replaced_seq AND CAST(h.day AS VARCHAR) = v.partition) AS n
       FROM tidemark.versions v WHERE v.dataset = 'daily_revenue' AND v.replaced_at IS NOT NULL ORDER BY 1, 2`,
    );
  const backfill = (factor: number, env: Record<string, string> = {}, from = FROM, to = TO) => {
    writeFile(dir, 'models/daily_revenue.sql', scaleRevenue(goodSql, factor));
    const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      return tm(dir, 'backfill', 'daily_revenue', '--from', from, '--to', to, '--reason', `scale ×${factor}`, '--yes', '--json');
    } finally {
      for (const [k, v] of Object.entries(previous)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  };

  beforeAll(() => {
    process.env.TIDEMARK_HISTORY_COPY_AHEAD_ROWS = '0';
    dir = shopProject('copy-ahead', 10);
    goodSql = readFile(dir, 'models/daily_revenue.sql');
  }, SETUP_TIMEOUT);
  afterEach(() => writeFile(dir, 'models/daily_revenue.sql', goodSql));
  afterAll(() => {
    if (saved === undefined) delete process.env.TIDEMARK_HISTORY_COPY_AHEAD_ROWS;
    else process.env.TIDEMARK_HISTORY_COPY_AHEAD_ROWS = saved;
    removeProject(dir);
  });

  test('a backfill copies ahead under a negative tag, the versions point at it, and restore brings the rows back', () => {
    const before = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    const r = backfill(2);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout).run_id as string;
    // Every replaced version points at its rows: one negative tag for the 7 partitions, none left in history_copies.
    const replaced = replacedVersions();
    expect(replaced.map((v) => v.p)).toEqual(Object.keys(Object.fromEntries(before)).filter((p) => p >= FROM && p <= TO));
    expect(new Set(replaced.map((v) => v.tag)).size).toBe(1);
    expect(replaced[0].tag).toBeLessThan(0);
    for (const v of replaced) expect(v.n).toBe(before.get(v.p)!.rows);
    expect(copies()).toEqual([]);
    // The restore reads those rows: every partition is back to its checksum before the backfill.
    const restored = tm(dir, 'restore', 'daily_revenue', '--run', run, '--reason', 'undo', '--yes', '--json');
    expect(restored.code, restored.stderr).toBe(0);
    const after = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    for (const [p, s] of before) expect(after.get(p)!.checksum, p).toBe(s.checksum);
  });

  test('unchanged content is not copied: a backfill that computes the same rows leaves history alone', () => {
    const history = historyByTag();
    const r = backfill(1);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).published).toEqual([]);
    expect(historyByTag()).toEqual(history);
    expect(copies()).toEqual([]);
  });

  test('killed after its copy, the re-issued backfill reuses the copy (no second copy) and publishes', () => {
    const before = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    const killed = backfill(3, { TIDEMARK_CRASH_AT: 'history.copied:1' });
    expect(killed.code).not.toBe(0);
    // Live data and versions untouched; the copy is recorded and its rows are in history.
    expect(partitionStates(dir, ['daily_revenue']).get('daily_revenue')).toEqual(before);
    const made = copies();
    expect(made).toHaveLength(7);
    const tag = made[0].tag;
    expect(historyByTag().get(tag)).toBe([...before].filter(([p]) => p >= FROM && p <= TO).reduce((n, [, s]) => n + s.rows, 0));

    const resumed = backfill(3);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).run_id).toBe(made[0].run_id);
    expect(copies()).toEqual([]);
    // The replaced versions point at the first copy's tag; no other copy was made.
    const latest = replacedVersions().filter((v) => v.tag === tag);
    expect(latest).toHaveLength(7);
    for (const v of latest) expect(v.n).toBe(before.get(v.p)!.rows);
    expect(Math.min(...historyByTag().keys())).toBe(tag);
  });

  // The stale copy is found by the re-issued run's copy step (which copies the partition again), or —
  // when that step does not run (below its row threshold) — by the publish itself, which then copies
  // that partition in its transaction while using the other six copies.
  test.each([
    ['the copy step', '0', 4, 5],
    ['the publish', '1000000000000', 8, 9],
  ])('a copy whose partition was republished meanwhile is not used (found by %s), and its rows are removed', (_by, threshold, factor, otherFactor) => {
    const killed = backfill(factor, { TIDEMARK_CRASH_AT: 'history.copied:1' });
    expect(killed.code, killed.stderr + killed.stdout).not.toBe(0);
    const [stale] = copies().filter((c) => c.partition === TO);
    const rowsOf = (tag: number, day: string) => Number(tmJson<{ n: number }[]>(dir, 'query', `SELECT count(*) AS n FROM tidemark_history.daily_revenue WHERE _tm_replaced_seq = ${tag} AND day = DATE '${day}'`)[0].n);
    const staleRows = rowsOf(stale.tag, TO);
    expect(staleRows).toBeGreaterThan(0);
    // Another command republishes the last day (the killed run holds nothing while its process is dead).
    const other = backfill(otherFactor, {}, TO, TO);
    expect(other.code, other.stderr).toBe(0);
    const history = historyByTag();
    const replacedContent = [...partitionStates(dir, ['daily_revenue']).get('daily_revenue')!].filter(([p]) => p >= FROM && p <= TO);

    const resumed = backfill(factor, { TIDEMARK_HISTORY_COPY_AHEAD_ROWS: threshold });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(copies()).toEqual([]);
    // The stale copy's rows of TO are gone; its other six partitions were used. TO's replaced
    // version (the other command's) reached history another way, and every replaced version still points at
    // rows of its own.
    expect(rowsOf(stale.tag, TO)).toBe(0);
    expect(historyByTag().get(stale.tag)).toBe(history.get(stale.tag)! - staleRows);
    const replaced = replacedVersions();
    for (const v of replaced) expect(v.n, `${v.p} v${v.v}`).toBeGreaterThan(0);
    expect(replaced.filter((v) => v.tag === stale.tag).map((v) => v.p)).toEqual(['2026-04-24', '2026-04-25', '2026-04-26', '2026-04-27', '2026-04-28', '2026-04-29']);
    const latestOfTo = replaced.filter((v) => v.p === TO).at(-1)!;
    // Copied again ahead (a new negative tag), or by the publish (its sequence number).
    if (threshold === '0') expect(latestOfTo.tag).toBeLessThan(stale.tag);
    else expect(latestOfTo.tag).toBeGreaterThan(0);
    // And the restore of the resumed run brings back exactly what it replaced, TO included.
    const undo = tm(dir, 'restore', 'daily_revenue', '--run', JSON.parse(resumed.stdout).run_id, '--reason', 'undo', '--yes', '--json');
    expect(undo.code, undo.stderr).toBe(0);
    const after = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    for (const [p, state] of replacedContent) expect(after.get(p)!.checksum, p).toBe(state.checksum);
  });

  test('copies of a run given up are removed by gc --all-staging (reported first by --dry-run), and nothing else', () => {
    const killed = backfill(6, { TIDEMARK_CRASH_AT: 'history.copied:1' });
    expect(killed.code).not.toBe(0);
    const made = copies();
    expect(made).toHaveLength(7);
    const history = historyByTag();
    // While re-issuing the command would resume the run (even cancelled), gc keeps its copies, as it
    // keeps its staging; --all-staging gives that up.
    const cancel = tm(dir, 'cancel', made[0].run_id, '--json');
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(tmJson(dir, 'gc', '--reason', 'tidy').history_copies_dropped).toEqual([]);
    expect(copies()).toHaveLength(7);

    const dry = tmJson(dir, 'gc', '--dry-run', '--all-staging');
    expect(dry.history_copies_dropped).toEqual([{ run_id: made[0].run_id, run_status: 'cancelled', dataset: 'daily_revenue', partitions: 7, rows: history.get(made[0].tag) }]);
    expect(historyByTag()).toEqual(history);
    const report = tmJson(dir, 'gc', '--reason', 'tidy', '--all-staging');
    expect(report.history_copies_dropped).toEqual(dry.history_copies_dropped);
    expect(copies()).toEqual([]);
    const left = historyByTag();
    expect(left.has(made[0].tag)).toBe(false);
    history.delete(made[0].tag);
    expect(left).toEqual(history);
    // The trail says what gc removed.
    const audit = tmJson<{ action: string; details: { history_copies_dropped?: unknown[] } }[]>(dir, 'audit', 'log', '--since', '1h');
    expect(audit.some((a) => a.action === 'gc.staging' && a.details.history_copies_dropped?.length === 1)).toBe(true);
  });
});

/**
 * Replaced rows copied to history before the publish transaction (src/execute/history-copy.ts), on a
 * real DuckDB file through the CLI. TIDEMARK_HISTORY_COPY_AHEAD_ROWS=0 takes that path on the small
 * shop data (by default only copies of 100k rows or more are made ahead).
 *
 * What must hold: a restore brings back exactly the replaced rows whichever way they reached
 * history; the copies of an attempt that stopped are never used by the next one (the live rows may
 * have changed since: history must hold the rows actually replaced), and their rows go; a partition
 * the publish replaces without a copy (a repair of rows changed outside Tidemark) is copied in the
 * publish, beside the copies used; a run that never publishes leaves copies that gc removes, with
 * nothing else in history touched.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { withWorkspace } from '../helpers/project.js';
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
  const backfill = (factor: number | string, env: Record<string, string> = {}, from = FROM, to = TO) => {
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

  const rowsOf = (tag: number, day?: string) =>
    Number(tmJson<{ n: number }[]>(dir, 'query', `SELECT count(*) AS n FROM tidemark_history.daily_revenue WHERE _tm_replaced_seq = ${tag}${day ? ` AND day = DATE '${day}'` : ''}`)[0].n);

  // The earlier attempt's copy is dropped by the re-issued run's copy step, which copies again; or —
  // when that step copies nothing (below its row threshold) — the publish copies everything itself.
  test.each([
    ['copies again ahead', '0', 3, 4],
    ['copies in its publish', '1000000000000', 5, 6],
  ])('killed after its copy, then a partition republished by another command: the re-issued run %s, and the old copy goes', (_how, threshold, factor, otherFactor) => {
    const killed = backfill(factor, { TIDEMARK_CRASH_AT: 'history.copied:1' });
    expect(killed.code, killed.stderr).not.toBe(0);
    const made = copies();
    expect(made).toHaveLength(7);
    const old = made[0].tag;
    expect(rowsOf(old)).toBeGreaterThan(0);
    // Another command republishes the last day (the killed run holds nothing while its process is dead).
    const other = backfill(otherFactor, {}, TO, TO);
    expect(other.code, other.stderr).toBe(0);
    const replacedContent = [...partitionStates(dir, ['daily_revenue']).get('daily_revenue')!].filter(([p]) => p >= FROM && p <= TO);

    const resumed = backfill(factor, { TIDEMARK_HISTORY_COPY_AHEAD_ROWS: threshold });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).run_id).toBe(made[0].run_id);
    expect(copies()).toEqual([]);
    expect(rowsOf(old)).toBe(0);
    // The 7 versions it replaced point at rows of their own: a new negative tag, or the publish's number.
    const latest = replacedVersions().filter((v) => v.p >= FROM && v.p <= TO && v.v === replacedContent.find(([p]) => p === v.p)![1].version);
    expect(latest).toHaveLength(7);
    for (const v of latest) expect(v.n, `${v.p} v${v.v}`).toBe(replacedContent.find(([p]) => p === v.p)![1].rows);
    expect(new Set(latest.map((v) => v.tag)).size).toBe(1);
    if (threshold === '0') expect(latest[0].tag).toBeLessThan(old);
    else expect(latest[0].tag).toBeGreaterThan(0);
    // And the restore of the resumed run brings back exactly what it replaced, TO included.
    const undo = tm(dir, 'restore', 'daily_revenue', '--run', JSON.parse(resumed.stdout).run_id, '--reason', 'undo', '--yes', '--json');
    expect(undo.code, undo.stderr).toBe(0);
    const after = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    for (const [p, state] of replacedContent) expect(after.get(p)!.checksum, p).toBe(state.checksum);
  });

  test('a partition repaired at publish (rows changed outside Tidemark) is copied by the publish, the others come from the copy', async () => {
    expect(backfill(21).code).toBe(0);
    // Someone edits TO's live rows behind Tidemark's back.
    await withWorkspace(dir, (ws) => ws.engine.exec(`UPDATE main.daily_revenue SET orders = orders + 1000 WHERE day = DATE '${TO}'`));
    // The next backfill computes TO's recorded content again (so no copy ahead for it), the others anew.
    const r = backfill(`(CASE WHEN o.order_date = DATE '${TO}' THEN 21 ELSE 22 END)`);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).published.map((p: { partition: string }) => p.partition)).toHaveLength(7);
    const seq = tmJson<{ p: number }[]>(dir, 'query', `SELECT publish_seq AS p FROM tidemark.partitions WHERE dataset = 'daily_revenue' AND partition = '${TO}'`)[0].p;
    const replaced = tmJson<{ p: string; tag: number; n: number; edited: number }[]>(
      dir,
      'query',
      `SELECT v.partition AS p, v.replaced_seq AS tag,
         (SELECT count(*) FROM tidemark_history.daily_revenue h WHERE h._tm_replaced_seq = v.replaced_seq AND CAST(h.day AS VARCHAR) = v.partition) AS n,
         (SELECT count(*) FROM tidemark_history.daily_revenue h WHERE h._tm_replaced_seq = v.replaced_seq AND CAST(h.day AS VARCHAR) = v.partition AND h.orders >= 1000) AS edited
       FROM tidemark.versions v WHERE v.dataset = 'daily_revenue' AND v.replaced_seq IS NOT NULL AND v.replaced_at = (SELECT max(replaced_at) FROM tidemark.versions WHERE dataset = 'daily_revenue') ORDER BY 1`,
    );
    expect(replaced.map((v) => v.p)).toEqual(['2026-04-24', '2026-04-25', '2026-04-26', '2026-04-27', '2026-04-28', '2026-04-29', TO]);
    // Six from one copy ahead; TO copied in the publish, holding the edited rows (the evidence).
    expect(new Set(replaced.slice(0, 6).map((v) => Number(v.tag))).size).toBe(1);
    expect(Number(replaced[0].tag)).toBeLessThan(0);
    expect(Number(replaced[6].tag)).toBe(Number(seq));
    for (const v of replaced) expect(Number(v.n), v.p).toBeGreaterThan(0);
    expect(Number(replaced[6].edited)).toBe(Number(replaced[6].n));
    expect(copies()).toEqual([]);
  });

  test('copies of a run that stopped are removed by gc (reported first by --dry-run), and nothing else', () => {
    const killed = backfill(6, { TIDEMARK_CRASH_AT: 'history.copied:1' });
    expect(killed.code).not.toBe(0);
    const made = copies();
    expect(made).toHaveLength(7);
    const history = historyByTag();
    // Its next attempt would not use them (it copies again), so gc need not keep them for a resume.
    const dry = tmJson(dir, 'gc', '--dry-run');
    expect(dry.history_copies_dropped).toEqual([{ run_id: made[0].run_id, run_status: 'computing', dataset: 'daily_revenue', partitions: 7, rows: history.get(made[0].tag) }]);
    expect(historyByTag()).toEqual(history);
    expect(copies()).toHaveLength(7);
    const report = tmJson(dir, 'gc', '--reason', 'tidy');
    expect(report.history_copies_dropped).toEqual(dry.history_copies_dropped);
    expect(copies()).toEqual([]);
    const left = historyByTag();
    expect(left.has(made[0].tag)).toBe(false);
    history.delete(made[0].tag);
    expect(left).toEqual(history);
    // The trail says what gc removed; the run itself can still be re-issued, and publishes.
    const audit = tmJson<{ action: string; details: { history_copies_dropped?: unknown[] } }[]>(dir, 'audit', 'log', '--since', '1h');
    expect(audit.some((a) => a.action === 'gc.staging' && a.details.history_copies_dropped?.length === 1)).toBe(true);
    const resumed = backfill(6);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).run_id).toBe(made[0].run_id);
    for (const v of replacedVersions()) expect(v.n, `${v.p} v${v.v}`).toBeGreaterThan(0);
  });
});

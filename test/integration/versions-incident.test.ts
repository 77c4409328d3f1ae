/**
 * Failure mode 3, end to end on a real DuckDB file through the CLI: a backfill with wrong SQL over
 * the wrong range overwrites good partitions; `diff` shows exactly what it changed; `restore --run`
 * brings every one back to its pre-incident checksum as a new version; the partitions it did not
 * touch never change version; then the intended backfill succeeds. A restore is undone by
 * restoring the run it made.
 */
import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { builtShop, cleanup, cli, requireBuild, stateSchemaOf, testEngines } from '../helpers/project.js';
import { days, readFile, scaleRevenue, writeFile, type PartitionState, SETUP_TIMEOUT, SLOW } from './versions-fixture.js';

// Through test/helpers/project.ts (not versions-fixture's tm), so a PostgreSQL project's own schema
// prefix reaches every CLI; the actor stays the 'tester' the history assertions expect.
function tm(dir: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = cli(dir, args, { env: { TIDEMARK_ACTOR: 'tester' } });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function tmJson<T = any>(dir: string, ...args: string[]): T {
  const r = tm(dir, ...args, '--json');
  if (r.code !== 0) throw new Error(`tidemark ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** dataset → partition → version/checksum/rows, from `partitions --json`. */
function partitionStates(dir: string, datasets = ['daily_revenue', 'revenue_7d', 'monthly_revenue']): Map<string, Map<string, PartitionState>> {
  const out = new Map<string, Map<string, PartitionState>>();
  for (const ds of datasets) {
    const rows = tmJson<{ partition: string; version: number; checksum: string; rows: number }[]>(dir, 'partitions', ds);
    out.set(ds, new Map(rows.filter((r) => r.version !== null).map((r) => [r.partition, { version: r.version, checksum: r.checksum, rows: r.rows }])));
  }
  return out;
}

const INCIDENT = days('2026-04-21', '2026-04-30'); // the range the backfill wrongly covered
const INTENDED = days('2026-04-24', '2026-04-30'); // the range the upstream fix touched
const OTHERS = days('2026-03-02', '2026-04-20'); // 50 partitions nobody meant to touch

describe.each(testEngines(inject('pgUrl')))('the wrong-filter incident and its restore ($kind)', SLOW, (engine) => {
  let dir: string;
  let before: Map<string, Map<string, PartitionState>>;
  let incidentRun: string;
  let restoreRun: string;
  let goodSql: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-02', '2026-04-30', { engine }); // the last 60 days
    before = partitionStates(dir);
    goodSql = readFile(dir, 'models/daily_revenue.sql');
  }, SETUP_TIMEOUT);
  afterAll(() => dir && cleanup(dir, path.dirname(dir)));

  test('60 days are published, each at version 1', () => {
    const daily = before.get('daily_revenue')!;
    expect(daily.size).toBe(60);
    expect([...daily.values()].every((p) => p.version === 1)).toBe(true);
  });

  test('the incident: a backfill with wrong SQL over the wrong range rewrites 10 good days', () => {
    // Upstream fix for the last 7 days (the intended work)...
    const fixes = path.join(dir, 'data', 'fixes');
    for (const f of readdirSync(fixes)) cpSync(path.join(fixes, f), path.join(dir, 'data', 'orders', f));
    const orders = readdirSync(path.join(dir, 'data', 'orders')).sort().slice(-60).map((f) => `data/orders/${f}`);
    tmJson(dir, 'ingest', 'orders', ...orders);
    // ...done with a broken model and a too-wide range.
    writeFile(dir, 'models/daily_revenue.sql', scaleRevenue(goodSql, 2));
    const inc = tmJson(dir, 'backfill', 'daily_revenue', '--from', INCIDENT[0], '--to', INCIDENT[9], '--downstream', '--reason', 'apply the EUR fix', '--yes');
    writeFile(dir, 'models/daily_revenue.sql', goodSql);
    incidentRun = inc.run_id;
    const daily = inc.published.filter((p: { dataset: string }) => p.dataset === 'daily_revenue');
    expect(daily.map((p: { partition: string }) => p.partition)).toEqual(INCIDENT);
    expect(inc.published.some((p: { dataset: string }) => p.dataset === 'revenue_7d')).toBe(true); // dashboards' inputs are wrong too
  });

  test('diff shows exactly those 10 partitions, with checksums, key counts and metric sums', () => {
    const diff = tmJson(dir, 'diff', incidentRun, '--dataset', 'daily_revenue');
    expect(diff.run_id).toBe(incidentRun);
    expect(diff.kind).toBe('backfill');
    expect(diff.partitions.map((p: { partition: string }) => p.partition)).toEqual(INCIDENT);
    for (const p of diff.partitions) {
      const was = before.get('daily_revenue')!.get(p.partition)!;
      expect(p.version_before).toBe(1);
      expect(p.version_after).toBe(2);
      expect(p.checksum_before).toBe(was.checksum);
      expect(p.checksum_after).not.toBe(was.checksum);
      expect(p.rows_before).toBe(was.rows);
      expect(p.added).toBe(0);
      expect(p.removed).toBe(0);
      expect(p.changed).toBe(p.rows_after); // every currency row of the day has a different revenue
      expect(p.sums.orders.after).toBe(p.sums.orders.before);
      expect(p.sums.revenue_usd_cents.after).not.toBe(p.sums.revenue_usd_cents.before);
    }
    // Days the upstream fix did not touch are exactly doubled.
    for (const p of diff.partitions.filter((x: { partition: string }) => !INTENDED.includes(x.partition))) {
      expect(Number(p.sums.revenue_usd_cents.after)).toBe(2 * Number(p.sums.revenue_usd_cents.before));
    }
    // Without --dataset the diff also lists the dependents the run rewrote.
    const all = tmJson(dir, 'diff', incidentRun);
    expect(new Set(all.partitions.map((p: { dataset: string }) => p.dataset))).toEqual(new Set(['daily_revenue', 'revenue_7d', 'monthly_revenue']));
    const text = tm(dir, 'diff', incidentRun, '--dataset', 'daily_revenue');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('total revenue_usd_cents');
  });

  test('restore needs --yes without a terminal, and --dry-run writes nothing', () => {
    const versions = tmJson(dir, 'query', `SELECT count(*) AS n FROM ${stateSchemaOf(dir)}.versions`);
    const noYes = tm(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--reason', 'undo the incident');
    expect(noYes.code).toBe(3);
    const dry = tmJson(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--downstream', '--reason', 'undo the incident', '--dry-run');
    expect(dry.restored.map((s: { partition: string; version: number }) => [s.partition, s.version])).toEqual(INCIDENT.map((d) => [d, 1]));
    expect(dry.datasets.map((d: { dataset: string }) => d.dataset).sort()).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
    // The 7 days the upstream fix changed were built from the orders before it: the plan says the next
    // `run` rebuilds them (the next test sees them stale), and how to keep them; the other 3 are not named.
    expect(dry.guards.filter((g: { code: string }) => g.code === 'RESTORED_STALE')).toEqual([
      {
        code: 'RESTORED_STALE',
        dataset: 'daily_revenue',
        partitions: INTENDED,
        message: expect.stringContaining(`(${INTENDED[0]}: orders ${INTENDED[0]} changed v1 → v2), so they are stale once restored and the next \`tidemark run\` rebuilds them`),
        hint: expect.stringContaining(`tidemark lock daily_revenue --from ${INTENDED[0]} --to ${INTENDED[6]} --reason`),
        blocking: false,
      },
    ]);
    expect(tmJson(dir, 'query', `SELECT count(*) AS n FROM ${stateSchemaOf(dir)}.versions`)).toEqual(versions);
  });

  test('restore --run brings all 10 back to their pre-incident checksums as new versions; the other 50 never changed', () => {
    const res = tmJson(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--downstream', '--reason', 'undo the incident', '--yes');
    restoreRun = res.run_id;
    expect(res.status).toBe('published');
    const now = partitionStates(dir);
    const daily = now.get('daily_revenue')!;
    for (const d of INCIDENT) {
      expect(daily.get(d)!.checksum).toBe(before.get('daily_revenue')!.get(d)!.checksum);
      expect(daily.get(d)!.version).toBe(3); // a restore is a new version, not a rewind
    }
    for (const d of OTHERS) expect(daily.get(d)).toEqual(before.get('daily_revenue')!.get(d));
    // The dependents were recomputed from the restored days: back to their pre-incident content too.
    for (const ds of ['revenue_7d', 'monthly_revenue']) {
      for (const [k, p] of now.get(ds)!) expect(p.checksum, `${ds} ${k}`).toBe(before.get(ds)!.get(k)!.checksum);
    }
    const hist = tmJson(dir, 'history', 'daily_revenue', '--partition', '2026-04-25');
    expect(hist.map((h: { version: number; kind: string; retained: boolean; current: boolean }) => [h.version, h.kind, h.retained, h.current])).toEqual([
      [1, 'new', true, false],
      [2, 'restate', true, false],
      [3, 'restore', true, true],
    ]);
    expect(hist[2].run_id).toBe(restoreRun);
    expect(hist[2].actor).toBe('tester');
    expect(hist[2].reason).toBe('undo the incident');
    expect(hist[2].checksum).toBe(hist[0].checksum);
    const audit = tmJson(dir, 'query', `SELECT action, dataset FROM ${stateSchemaOf(dir)}.audit WHERE run_id = '${restoreRun}' ORDER BY seq`);
    expect(audit.map((a: { action: string }) => a.action)).toContain('restore');
  });

  test('restored content predates the upstream fix, so those days show as stale; restoring again is a no-op', () => {
    const parts = tmJson(dir, 'partitions', 'daily_revenue');
    const stale = parts.filter((p: { state: string }) => p.state === 'stale').map((p: { partition: string }) => p.partition);
    expect(stale).toEqual(INTENDED);
    const again = tmJson(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--reason', 'undo twice', '--yes');
    expect(again.status).toBe('noop');
    expect(again.already_current.length).toBe(10);
  });

  test('then the corrected backfill of the intended range succeeds', () => {
    const fix = tmJson(dir, 'backfill', 'daily_revenue', '--from', INTENDED[0], '--to', INTENDED[6], '--downstream', '--reason', 'apply the EUR fix, correctly', '--yes');
    expect(fix.status).toBe('published');
    expect(fix.published.filter((p: { dataset: string }) => p.dataset === 'daily_revenue').map((p: { partition: string }) => p.partition)).toEqual(INTENDED);
    const daily = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    for (const d of INTENDED) expect(daily.get(d)!.checksum).not.toBe(before.get('daily_revenue')!.get(d)!.checksum);
    for (const d of INCIDENT.filter((x) => !INTENDED.includes(x))) expect(daily.get(d)!.version).toBe(3);
    const diff = tmJson(dir, 'diff', fix.run_id, '--dataset', 'daily_revenue');
    for (const p of diff.partitions) expect(Number(p.sums.revenue_usd_cents.after)).toBeLessThan(Number(p.sums.revenue_usd_cents.before)); // EUR was 10% too high
    expect(tmJson(dir, 'partitions', 'daily_revenue').every((p: { state: string }) => p.state === 'published')).toBe(true);
  });

  test('a restore is undone by restoring the run it made', () => {
    const incidentContent = tmJson(dir, 'history', 'daily_revenue').filter((h: { run_id: string }) => h.run_id === incidentRun);
    const undo = tmJson(dir, 'restore', 'daily_revenue', '--run', restoreRun, '--reason', 'undo the restore', '--yes');
    expect(undo.published.map((p: { partition: string }) => p.partition)).toEqual(INCIDENT);
    // Without --downstream, the dependents that read the restored days are named as left stale.
    const leftStale = undo.notices.filter((n: { code: string }) => n.code === 'DEPENDENTS_LEFT_STALE');
    expect(leftStale.map((n: { dataset: string }) => n.dataset).sort()).toEqual(['monthly_revenue', 'revenue_7d']);
    expect(leftStale.find((n: { dataset: string }) => n.dataset === 'revenue_7d').message).toContain('this restore of daily_revenue');
    const daily = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    for (const h of incidentContent) expect(daily.get(h.partition)!.checksum).toBe(h.checksum);
  });

  test('bad restore requests are usage errors and change nothing', () => {
    const versions = tmJson(dir, 'query', `SELECT count(*) AS n FROM ${stateSchemaOf(dir)}.versions`);
    expect(tm(dir, 'restore', 'daily_revenue', '--run', 'r_nope', '--reason', 'x', '--yes').code).toBe(2);
    expect(tm(dir, 'restore', 'daily_revenue', '--reason', 'x', '--yes').code).toBe(2); // no --run/--version/--as-of
    expect(tm(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--version', '1', '--reason', 'x', '--yes').code).toBe(2);
    expect(tm(dir, 'restore', 'daily_revenue', '--version', '1', '--reason', 'x', '--yes').code).toBe(2); // --version needs a range
    expect(tm(dir, 'restore', 'daily_revenue', '--version', '9', '--from', '2026-04-25', '--to', '2026-04-25', '--reason', 'x', '--yes').code).toBe(2);
    expect(tm(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--yes').code).toBe(2); // no reason
    expect(tm(dir, 'restore', 'daily_revenue', '--as-of', 'yesterday-ish', '--reason', 'x', '--yes').code).toBe(2);
    // A range the run never touched is named as such, not answered with "up to date".
    const outside = tm(dir, 'restore', 'daily_revenue', '--run', incidentRun, '--from', '2026-03-10', '--to', '2026-03-12', '--reason', 'x', '--yes');
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain(`run ${incidentRun} changed no partition of daily_revenue between 2026-03-10 and 2026-03-12`);
    expect(outside.stderr).toMatch(/hint: it changed 10 partition\(s\) from 2026-04-21 to 2026-04-30/);
    // A range holding no partition at all (a mistyped year) is refused, not answered "nothing to restore".
    for (const by of [['--version', '1'], ['--as-of', '2026-05-01']]) {
      const none = tm(dir, 'restore', 'daily_revenue', ...by, '--from', '2027-04-21', '--to', '2027-04-30', '--reason', 'x', '--yes');
      expect(none.code, none.stdout).toBe(2);
      expect(none.stderr).toContain('error: daily_revenue has no partitions between 2027-04-21 and 2027-04-30');
      expect(none.stderr).toContain('hint: its partitions run from 2026-03-02 to 2026-04-30');
    }
    expect(tmJson(dir, 'query', `SELECT count(*) AS n FROM ${stateSchemaOf(dir)}.versions`)).toEqual(versions);
  });

  test('restore --as-of brings back what was live at that time; --version N one partition', () => {
    const hist = tmJson(dir, 'history', 'daily_revenue', '--partition', '2026-04-22');
    const first = hist[0];
    const asOf = tmJson(dir, 'restore', 'daily_revenue', '--as-of', first.published_at, '--from', '2026-04-21', '--to', '2026-04-23', '--reason', 'back to the first build', '--yes');
    expect(asOf.published.map((p: { partition: string }) => p.partition)).toEqual(['2026-04-21', '2026-04-22', '2026-04-23']);
    const daily = partitionStates(dir, ['daily_revenue']).get('daily_revenue')!;
    expect(daily.get('2026-04-22')!.checksum).toBe(first.checksum);
    const one = tmJson(dir, 'restore', 'daily_revenue', '--version', '2', '--from', '2026-04-22', '--to', '2026-04-22', '--reason', 'look at the bad one again', '--yes');
    expect(one.published).toHaveLength(1);
    expect(one.published[0].checksum_after).toBe(hist[1].checksum);
  });
});

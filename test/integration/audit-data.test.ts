/**
 * `tidemark audit verify --data` (incident 7's compliance check after a recovery): the hash chain
 * cannot see a direct `UPDATE daily_revenue …` from any SQL client, so the live tables are
 * recomputed — rows and checksum of every published partition, as publish computed them — and
 * compared with the recorded versions. Changes made behind Tidemark's back (an UPDATE, a DELETE, an
 * INSERT where nothing was published) exit 4 naming exactly the partitions, the check writes
 * nothing, and the way back the hint names (backfill, restore) makes it verify clean again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { builtShop, cli, cliJson, partitionsByKey, projectCopies, requireBuild, snapshotState, SHOP_DATASETS, testEngines, withWorkspace, writeOrdersFix } from '../helpers/project.js';

interface DataVerdictJson {
  ok: boolean;
  chain: { ok: boolean; count: number; head: string };
  data: {
    ok: boolean;
    datasets: { dataset: string; partitions: number; rows: number }[];
    mismatches: { dataset: string; partition: string; version: number; problem: 'rows' | 'checksum'; stored_rows: number; stored_checksum: string; live_rows: number; live_checksum: string }[];
    unpublished: { dataset: string; partition: string | null; rows: number; checksum: string }[];
    unaudited: { dataset: string; partition: string; version: number; rows: number; checksum: string; audited: { version: number; rows: number; checksum: string; seq: number } | null }[];
  };
}

/** Runs SQL on the live tables directly, outside Tidemark, as any SQL client could. */
async function behindTidemarksBack(dir: string, sql: (table: (dataset: string) => string) => string): Promise<void> {
  await withWorkspace(dir, (ws) => ws.engine.exec(sql((dataset) => ws.engine.dialect.table(ws.engine.dataSchema, dataset))));
}

/** Runs SQL on the state store directly (`tidemark.partitions`…), as someone covering their tracks could. */
async function onStateStore(dir: string, sql: (table: (name: string) => string) => string): Promise<void> {
  await withWorkspace(dir, (ws) => ws.engine.exec(sql((name) => ws.engine.dialect.table(ws.engine.stateSchema, name))));
}

/** `audit verify --data ARGS --json`: its exit code and parsed report. */
function verifyData(dir: string, ...args: string[]): { code: number | null; report: DataVerdictJson; stderr: string } {
  const r = cli(dir, ['audit', 'verify', '--data', ...args, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as DataVerdictJson, stderr: r.stderr };
}

const DAY = '2026-03-03';

describe.each(testEngines(inject('pgUrl')))('audit verify --data ($kind)', (engine) => {
  let base: string;
  const copies = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
  });
  afterAll(() => copies.removeAll());

  it('a project changed only through Tidemark verifies: exit 0, every published partition compared', () => {
    const published = [...partitionsByKey(base, SHOP_DATASETS).values()].filter((p) => p.version !== null);
    const { code, report, stderr } = verifyData(base);
    expect(code, stderr).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.chain).toMatchObject({ ok: true, count: 5 });
    expect(report.data.ok).toBe(true);
    expect(report.data.mismatches).toEqual([]);
    expect(report.data.unpublished).toEqual([]);
    expect(report.data.datasets.map((d) => d.dataset).sort()).toEqual([...SHOP_DATASETS].sort());
    expect(report.data.datasets.reduce((n, d) => n + d.partitions, 0)).toBe(published.length);
    expect(report.data.datasets.reduce((n, d) => n + d.rows, 0)).toBe(published.reduce((n, p) => n + p.rows!, 0));
    const text = cli(base, ['audit', 'verify', '--data']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${published.length} published partition(s) of ${SHOP_DATASETS.length} dataset(s)`);
  });

  it('a hand UPDATE of one partition: exit 4 naming exactly it, stored vs live checksum; the chain alone still passes; a backfill repairs it', async () => {
    const dir = copies.fresh();
    const recorded = partitionsByKey(dir, ['daily_revenue']).get(`daily_revenue/${DAY}`)!;
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('daily_revenue')} SET revenue_usd_cents = revenue_usd_cents + 100 WHERE day = DATE '${DAY}' AND currency = 'EUR'`);
    // The gap this closes: the audit chain and the partition records are untouched.
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);

    const before = await snapshotState(dir);
    const { code, report } = verifyData(dir);
    expect(code).toBe(4);
    expect(report.ok).toBe(false);
    expect(report.chain.ok).toBe(true);
    expect(report.data.unpublished).toEqual([]);
    expect(report.data.mismatches).toHaveLength(1);
    const [m] = report.data.mismatches;
    expect(m).toMatchObject({ dataset: 'daily_revenue', partition: DAY, version: 1, problem: 'checksum', stored_rows: recorded.rows, live_rows: recorded.rows, stored_checksum: recorded.checksum });
    expect(m.live_checksum).not.toBe(m.stored_checksum);

    const text = cli(dir, ['audit', 'verify', '--data']);
    expect(text.code).toBe(4);
    expect(text.stdout).toContain(m.stored_checksum);
    expect(text.stdout).toContain(m.live_checksum);
    expect(text.stderr).toMatch(new RegExp(`^error: the live data differs from the audit trail: daily_revenue ${DAY} \\(checksum`, 'm'));
    expect(text.stderr).toContain(`hint: the live rows were changed outside Tidemark; rebuild the partition as recorded: \`tidemark backfill daily_revenue --from ${DAY} --to ${DAY}`);
    // Read-only: not even an audit record.
    expect(await snapshotState(dir)).toEqual(before);

    // The backfill computes the recorded content, and replaces the drifted live rows with it anyway.
    const repair = cliJson<{ published: { partition: string; version_before: number; version_after: number; checksum_before: string; checksum_after: string }[] }>(dir, [
      'backfill', 'daily_revenue', '--from', DAY, '--to', DAY, '--reason', 'INC-7: rows changed outside Tidemark', '--yes',
    ]);
    expect(repair.published).toEqual([expect.objectContaining({ partition: DAY, version_before: 1, version_after: 2, checksum_before: recorded.checksum, checksum_after: recorded.checksum })]);
    expect(verifyData(dir).code).toBe(0);
    // A backfill of partitions whose live rows are as recorded still publishes nothing.
    const again = cliJson<{ published: unknown[]; unchanged: number }>(dir, ['backfill', 'daily_revenue', '--from', DAY, '--to', DAY, '--reason', 'no-op', '--yes']);
    expect(again).toMatchObject({ published: [], unchanged: 1 });
  });

  it('diff says when the rows a version is read from are not those it was published with (a hand UPDATE), before and after the repair', async () => {
    const dir = copies.fresh();
    const OTHER = '2026-03-04';
    const recorded = cliJson<{ partition: string; run_id: string; rows: number; checksum: string }[]>(dir, ['partitions', 'daily_revenue']).find((p) => p.partition === DAY)!;
    type DiffJson = { partitions: { partition: string; checksum_before: string | null; checksum_after: string; changed: number | null; note?: string }[] };
    const notes = (d: DiffJson) => d.partitions.filter((p) => p.note).map((p) => [p.partition, p.note]);
    expect(notes(cliJson<DiffJson>(dir, ['diff', recorded.run_id, '--dataset', 'daily_revenue']))).toEqual([]);
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('daily_revenue')} SET revenue_usd_cents = revenue_usd_cents + 100 WHERE day = DATE '${DAY}' AND currency = 'EUR'`);

    // Live: the run that published version 1 is diffed against rows that are no longer version 1.
    const built = cliJson<DiffJson>(dir, ['diff', recorded.run_id, '--dataset', 'daily_revenue']);
    expect(notes(built)).toEqual([[DAY, expect.stringMatching(new RegExp(`^the rows held for version 1 \\(${recorded.rows} rows, checksum \\d+\\) are not those it was published with \\(${recorded.rows} rows, ${recorded.checksum}\\): they were changed outside Tidemark`))]]);
    expect(built.partitions.find((p) => p.partition === OTHER)?.note).toBeUndefined();

    // The repair keeps the edited rows in history as evidence: its checksums say "same content", its
    // key-level counts say one row changed, and the note says why both are true.
    const repair = cliJson<{ run_id: string }>(dir, ['backfill', 'daily_revenue', '--from', DAY, '--to', DAY, '--reason', 'repair', '--yes']);
    const diff = cliJson<DiffJson>(dir, ['diff', repair.run_id]);
    expect(diff.partitions).toEqual([expect.objectContaining({ partition: DAY, checksum_before: recorded.checksum, checksum_after: recorded.checksum, changed: 1 })]);
    expect(notes(diff)).toEqual([[DAY, expect.stringContaining('the rows held for version 1 (')]]);
    const text = cli(dir, ['diff', repair.run_id]);
    expect(text.stdout).toContain(`note ${DAY}: the rows held for version 1 (`);
    // Version 2, as repaired, is what it was published with.
    expect(diff.partitions[0].note).not.toContain('version 2');
  });

  it('several partitions changed by hand: the hint names the repair of every one, not only the first, adjacent ones as one range', async () => {
    const dir = copies.fresh();
    const days = ['2026-03-03', '2026-03-04', '2026-03-06', '2026-03-08', '2026-03-09', '2026-03-11', '2026-03-13', '2026-03-15'];
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('daily_revenue')} SET revenue_usd_cents = revenue_usd_cents + 1 WHERE day IN (${days.map((d) => `DATE '${d}'`).join(', ')})`);
    const two = cli(dir, ['audit', 'verify', '--data', 'daily_revenue', '--from', days[0], '--to', days[1]]);
    expect(two.code).toBe(4);
    const hints = two.stderr.split('\n').filter((l) => l.startsWith('hint: '));
    // Two adjacent days: one backfill (one publish; with --downstream each dependent is rebuilt once).
    expect(hints).toEqual([`hint: the live rows were changed outside Tidemark; rebuild the 2 partitions as recorded: \`tidemark backfill daily_revenue --from ${days[0]} --to ${days[1]} --reason "…"\` (add --downstream for their dependents)`]);
    // Every range named: 03-03..04 first, then 03-06, 03-08..09, 03-11, 03-13; beyond five ranges, the rest are counted.
    const all = cli(dir, ['audit', 'verify', '--data', 'daily_revenue']);
    expect(all.code).toBe(4);
    expect(all.stderr).toContain(`hint: likewise daily_revenue ${days[2]}: \`tidemark backfill daily_revenue --from ${days[2]} --to ${days[2]} --reason "…"\``);
    expect(all.stderr).toContain(`hint: likewise daily_revenue ${days[3]}..${days[4]}: \`tidemark backfill daily_revenue --from ${days[3]} --to ${days[4]} --reason "…"\``);
    expect(all.stderr).toContain(`hint: likewise daily_revenue ${days[6]}:`);
    expect(all.stderr).not.toContain(`likewise daily_revenue ${days[7]}`);
    expect(all.stderr).toContain('hint: and 1 more partition(s), repaired the same way');
  });

  it('a partition whose live rows and record both differ is named once in the hint, not again as "likewise"', async () => {
    const dir = copies.fresh();
    const other = '2026-03-05';
    // DAY: live rows changed, and its record's version bumped (a mismatch and an unaudited record); another day: live rows only.
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('daily_revenue')} SET revenue_usd_cents = revenue_usd_cents + 1 WHERE day IN (DATE '${DAY}', DATE '${other}')`);
    await onStateStore(dir, (t) => `UPDATE ${t('partitions')} SET version = 7 WHERE dataset = 'daily_revenue' AND partition = '${DAY}'`);
    const { report } = verifyData(dir, 'daily_revenue');
    expect(report.data.mismatches.map((m) => m.partition)).toEqual([DAY, other]);
    expect(report.data.unaudited.map((u) => u.partition)).toEqual([DAY]);
    const text = cli(dir, ['audit', 'verify', '--data', 'daily_revenue']);
    expect(text.code).toBe(4);
    const hints = text.stderr.split('\n').filter((l) => l.startsWith('hint: '));
    expect(hints).toHaveLength(2);
    expect(hints[0]).toContain(`\`tidemark backfill daily_revenue --from ${DAY} --to ${DAY}`);
    expect(hints[1]).toBe(`hint: likewise daily_revenue ${other}: \`tidemark backfill daily_revenue --from ${other} --to ${other} --reason "…"\``);
  });

  it('a hand DELETE of rows: a rows mismatch; restoring the previous version verifies clean', async () => {
    const dir = copies.fresh();
    const FIX = '2026-03-05';
    // A second version of the orders partition, so there is one to restore.
    cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, [FIX])]);
    const recorded = partitionsByKey(dir, ['orders']).get(`orders/${FIX}`)!;
    expect(recorded.version).toBe(2);
    await behindTidemarksBack(dir, (t) => `DELETE FROM ${t('orders')} WHERE order_date = DATE '${FIX}' AND order_id % 10 = 0`);

    const { code, report } = verifyData(dir);
    expect(code).toBe(4);
    expect(report.data.mismatches.map((m) => [m.dataset, m.partition, m.problem])).toEqual([['orders', FIX, 'rows']]);
    const [m] = report.data.mismatches;
    expect(m.stored_rows).toBe(recorded.rows);
    expect(m.live_rows).toBeLessThan(recorded.rows!);
    expect(m.live_rows).toBeGreaterThan(0);
    // Selection: other datasets and other ranges are clean.
    expect(verifyData(dir, 'daily_revenue', 'fx_rates').code).toBe(0);
    expect(verifyData(dir, 'orders', '--from', '2026-03-06', '--to', '2026-03-16').code).toBe(0);
    const selected = verifyData(dir, 'orders', '--from', FIX, '--to', FIX);
    expect(selected.code).toBe(4);
    expect(selected.report.data.datasets).toEqual([{ dataset: 'orders', partitions: 1, rows: m.live_rows }]);

    const hint = cli(dir, ['audit', 'verify', '--data', 'orders']).stderr;
    expect(hint).toContain(`tidemark restore orders --version 1 --from ${FIX} --to ${FIX}`);
    const restored = cliJson<{ published: { partition: string; version_after: number }[] }>(dir, ['restore', 'orders', '--version', '1', '--from', FIX, '--to', FIX, '--reason', 'INC-7: rows deleted outside Tidemark', '--yes']);
    expect(restored.published).toEqual([expect.objectContaining({ partition: FIX, version_after: 3 })]);
    expect(verifyData(dir).code).toBe(0);
  });

  it("a source partition with one version: ingest --reload of its file puts it back; an untouched file's reload publishes nothing", async () => {
    const dir = copies.fresh();
    const DAY7 = '2026-03-07';
    const file = `data/orders/orders-${DAY7}.csv`;
    const recorded = partitionsByKey(dir, ['orders']).get(`orders/${DAY7}`)!;
    expect(recorded.version).toBe(1);
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('orders')} SET amount_cents = amount_cents + 1 WHERE order_date = DATE '${DAY7}' AND order_id % 7 = 0`);
    const hint = cli(dir, ['audit', 'verify', '--data', 'orders']).stderr;
    expect(hint).toContain(`tidemark ingest orders FILE… --reload`);

    // A file nobody touched: read again, same content, live rows as recorded → nothing published.
    const untouched = cliJson(dir, ['ingest', 'orders', 'data/orders/orders-2026-03-08.csv', '--reload', '--reason', 'check']);
    expect(untouched.files).toEqual([expect.objectContaining({ file: 'data/orders/orders-2026-03-08.csv', status: 'reloaded' })]);
    expect(untouched.published).toEqual([]);
    expect(verifyData(dir).code).toBe(4);

    const repaired = cliJson(dir, ['ingest', 'orders', file, '--reload', '--reason', 'INC-7: amounts edited outside Tidemark']);
    expect(repaired.published).toEqual([expect.objectContaining({ dataset: 'orders', partition: DAY7, version_after: 2, checksum_after: recorded.checksum })]);
    expect(verifyData(dir).code).toBe(0);
    // Without --reload the same file is a no-op, as before.
    expect(cliJson(dir, ['ingest', 'orders', file]).files).toEqual([expect.objectContaining({ status: 'unchanged' })]);
  });

  it('live rows and their record edited together agree with each other, but not with the sealed trail: exit 4; a backfill repairs both', async () => {
    const dir = copies.fresh();
    const recorded = partitionsByKey(dir, ['daily_revenue']).get(`daily_revenue/${DAY}`)!;
    await behindTidemarksBack(dir, (t) => `UPDATE ${t('daily_revenue')} SET revenue_usd_cents = revenue_usd_cents + 100 WHERE day = DATE '${DAY}' AND currency = 'EUR'`);
    // Cover the tracks: record the edited rows' checksum, as the live-data check would measure it.
    const drifted = verifyData(dir).report.data.mismatches;
    expect(drifted).toHaveLength(1);
    await onStateStore(dir, (t) => `UPDATE ${t('partitions')} SET checksum = '${drifted[0].live_checksum}' WHERE dataset = 'daily_revenue' AND partition = '${DAY}'`);
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);

    const before = await snapshotState(dir);
    const { code, report } = verifyData(dir);
    expect(code).toBe(4);
    expect(report.data.mismatches).toEqual([]);
    expect(report.data.unpublished).toEqual([]);
    expect(report.data.unaudited).toEqual([
      {
        dataset: 'daily_revenue',
        partition: DAY,
        version: 1,
        rows: recorded.rows,
        checksum: drifted[0].live_checksum,
        audited: { version: 1, rows: recorded.rows, checksum: recorded.checksum, seq: expect.any(Number) },
      },
    ]);
    const text = cli(dir, ['audit', 'verify', '--data']);
    expect(text.stderr).toMatch(new RegExp(`^error: the recorded partitions differ from the audit trail: daily_revenue ${DAY} \\(recorded v1`, 'm'));
    expect(text.stderr).toContain(`hint: tidemark.partitions was changed outside Tidemark`);
    expect(text.stdout).toContain('1 partition record(s) differ from what the audit trail sealed');
    expect(await snapshotState(dir)).toEqual(before);

    // The backfill computes the sealed content, which differs from the edited record: a new version.
    const repair = cliJson<{ published: { partition: string; version_after: number; checksum_after: string }[] }>(dir, [
      'backfill', 'daily_revenue', '--from', DAY, '--to', DAY, '--reason', 'INC-7: record edited outside Tidemark', '--yes',
    ]);
    expect(repair.published).toEqual([expect.objectContaining({ partition: DAY, version_after: 2, checksum_after: recorded.checksum })]);
    expect(verifyData(dir).code).toBe(0);
  });

  it('a record whose version was bumped by hand, and a record no publish sealed, are both caught', async () => {
    const dir = copies.fresh();
    await onStateStore(dir, (t) => `UPDATE ${t('partitions')} SET version = 7 WHERE dataset = 'orders' AND partition = '${DAY}'`);
    const { code, report } = verifyData(dir, 'orders');
    expect(code).toBe(4);
    expect(report.data.unaudited).toEqual([expect.objectContaining({ dataset: 'orders', partition: DAY, version: 7, audited: expect.objectContaining({ version: 1 }) })]);
    // A partition record no publish ever sealed.
    await onStateStore(dir, (t) => `INSERT INTO ${t('partitions')} (dataset, partition, version, rows, checksum, run_id, publish_seq, published_at, inputs) VALUES ('fx_rates', '2027-01-01', 1, 0, '0', 'r-none', 1, '2027-01-01T00:00:00Z', '{}')`);
    const both = verifyData(dir, 'orders', 'fx_rates');
    expect(both.report.data.unaudited.map((u) => [u.dataset, u.partition, u.audited === null])).toEqual([
      ['orders', DAY, false],
      ['fx_rates', '2027-01-01', true],
    ]);
    expect(cli(dir, ['audit', 'verify', '--data', 'fx_rates']).stderr).toContain('no audit record publishes it');
  });

  it('a hand INSERT where nothing was published is reported as rows in no published partition', async () => {
    const dir = copies.fresh();
    await behindTidemarksBack(dir, (t) => `INSERT INTO ${t('daily_revenue')} (day, currency, orders, revenue_cents, revenue_usd_cents) VALUES (DATE '2026-06-01', 'USD', 1, 100, 100)`);
    const { code, report } = verifyData(dir);
    expect(code).toBe(4);
    expect(report.data.mismatches).toEqual([]);
    expect(report.data.unpublished).toEqual([expect.objectContaining({ dataset: 'daily_revenue', partition: '2026-06-01', rows: 1 })]);
    const text = cli(dir, ['audit', 'verify', '--data']);
    expect(text.stderr).toMatch(/^error: the live data differs from the audit trail: daily_revenue 2026-06-01 \(1 row\(s\) in no published partition\)/m);
    expect(text.stdout).toContain('1 live row(s) fall in no published partition');
    // Outside the selected range it is not looked at.
    expect(verifyData(dir, '--to', '2026-05-31').code).toBe(0);
    await behindTidemarksBack(dir, (t) => `DELETE FROM ${t('daily_revenue')} WHERE day = DATE '2026-06-01'`);
    expect(verifyData(dir).code).toBe(0);
  });

  it('datasets and --from/--to without --data are a usage error; a bad range is refused', () => {
    expect(cli(base, ['audit', 'verify', 'orders']).code).toBe(2);
    expect(cli(base, ['audit', 'verify', '--from', DAY]).code).toBe(2);
    expect(cli(base, ['audit', 'verify', '--data', '--from', '2026-03-05', '--to', '2026-03-01']).code).toBe(2);
    expect(cli(base, ['audit', 'verify', '--data', 'nope']).code).toBe(2);
  });
});

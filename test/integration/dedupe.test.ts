/**
 * check and dedupe: duplicate keys that reached a live table outside Tidemark (legacy data, a key
 * declared stricter later) are found, and repaired through the write path — new versions, the old
 * ones restorable, audited — and a refused or dry-run dedupe changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtShop, cleanup, cli, cliJson, duplicateKeys, requireBuild, snapshotState, withWorkspace } from '../helpers/project.js';

describe('check and dedupe', () => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
    // Legacy duplicates: every tenth order of two days loaded twice, behind Tidemark's back.
    await withWorkspace(dir, (ws) =>
      ws.engine.exec(`INSERT INTO orders SELECT * FROM orders WHERE order_date IN (DATE '2026-03-03', DATE '2026-03-04') AND order_id % 10 = 0`),
    );
  });
  afterAll(() => cleanup(dir));

  it('check finds the duplicated keys and their partitions (exit 4)', () => {
    const r = cli(dir, ['check', 'orders', '--json']);
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout);
    expect(report.partitions).toEqual(['2026-03-03', '2026-03-04']);
    expect(report.duplicate_keys).toBeGreaterThan(300);
    expect(report.extra_rows).toBe(report.duplicate_keys);
    expect(r.stderr).toMatch(/^error: orders has \d+ duplicated key/m);
    // The text shows 5 examples and says how many more there are.
    const text = cli(dir, ['check', 'orders']);
    expect(text.code).toBe(4);
    expect(text.stdout).toContain(`… and ${report.duplicate_keys - 5} more duplicated key(s) (5 of ${report.duplicate_keys} shown, most repeated first)`);
  });

  it('a dry run estimates the rows the partitions will hold: their live rows less the extra ones (the duplicates are in no recorded count)', () => {
    const live = cliJson<{ n: number }[]>(dir, ['query', "SELECT count(*) AS n FROM orders WHERE order_date IN (DATE '2026-03-03', DATE '2026-03-04')"])[0].n;
    const dry = cliJson<{ estimated_rows: number; duplicates: { extra_rows: number } }>(dir, ['dedupe', 'orders', '--dry-run']);
    expect(dry.estimated_rows).toBe(live - dry.duplicates.extra_rows);
    expect(cli(dir, ['dedupe', 'orders', '--dry-run']).stdout).toContain(`~${(live - dry.duplicates.extra_rows).toLocaleString('en-US')} rows`);
  });

  it('dedupe needs --reason, and a dry run writes nothing', async () => {
    const before = await snapshotState(dir);
    expect(cli(dir, ['dedupe', 'orders']).code).toBe(2);
    // A dry run records nothing, so it needs no reason.
    const dry = cli(dir, ['dedupe', 'orders', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/2026-03-03\.\.2026-03-04/);
    expect(cli(dir, ['dedupe', 'orders', '--reason', 'legacy duplicates']).code).toBe(3); // no TTY, no --yes
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('dedupe replaces exactly the affected partitions, audited, and check is clean afterwards', async () => {
    const rowsBefore = cliJson<{ n: number }[]>(dir, ['query', 'SELECT count(*) AS n FROM orders'])[0].n;
    const extra = (JSON.parse(cli(dir, ['check', 'orders', '--json']).stdout) as { extra_rows: number }).extra_rows;
    const result = cliJson<{ published: { dataset: string; partition: string; version_before: number; version_after: number }[] }>(dir, [
      'dedupe', 'orders', '--reason', 'legacy duplicates', '--yes',
    ]);
    expect(result.published.map((p) => p.partition)).toEqual(['2026-03-03', '2026-03-04']);
    expect(result.published.every((p) => p.version_after === p.version_before + 1)).toBe(true);
    expect(cli(dir, ['check', 'orders']).code).toBe(0);
    expect((await duplicateKeys(dir)).orders ?? 0).toBe(0);
    expect(cliJson<{ n: number }[]>(dir, ['query', 'SELECT count(*) AS n FROM orders'])[0].n).toBe(rowsBefore - extra);
    const audit = cliJson<{ action: string; reason: string; partitions: string[] }[]>(dir, ['audit', 'log', '--dataset', 'orders', '--json']);
    const last = audit[audit.length - 1];
    expect(last).toMatchObject({ action: 'dedupe', reason: 'legacy duplicates', partitions: ['2026-03-03', '2026-03-04'] });
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);
  });
});

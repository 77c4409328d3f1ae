/**
 * Drill of scenario 2 (a retry must never duplicate rows): a late orders file repeating order ids
 * already loaded is refused (exit 4, nothing published), the live table keeps one row per key, and
 * the failed run stays listed by `status`. When the bad file is withdrawn nobody will re-issue that
 * run: `status` must name the way out (`tidemark cancel RUN`), which then clears it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { builtShop, cleanup, cli, cliJson, dataFiles, duplicateKeys, requireBuild, testEngines } from '../helpers/project.js';

const SLOW = { timeout: 120_000 };

describe.each(testEngines(inject('pgUrl')))('scenario 2 drill: a file repeating loaded keys ($kind)', SLOW, (engine) => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-04-20', '2026-04-30', { engine });
  }, 180_000);
  afterAll(() => dir && cleanup(dir, path.dirname(dir)));

  test('is refused, and status names how to clear the failed run', async () => {
    const last = path.join(dir, dataFiles(dir, 'orders').find((f) => f.endsWith('2026-04-30.csv'))!);
    const lines = readFileSync(last, 'utf8').split('\n');
    const resent = path.join(dir, 'orders-2026-04-30-resent.csv');
    writeFileSync(resent, [lines[0], lines[1], lines[2], ''].join('\n'));
    const before = cliJson<{ partition: string; version: number }[]>(dir, ['partitions', 'orders']);

    const refused = cli(dir, ['ingest', 'orders', resent]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/duplicate key order_id/);
    expect(cliJson(dir, ['partitions', 'orders'])).toEqual(before);
    expect((await duplicateKeys(dir)).orders ?? 0).toBe(0);

    const status = cli(dir, ['status']);
    expect(status.stdout).toContain('Failed runs (re-issue the command to resume, or `tidemark cancel RUN` if nobody will)');
    const failed = cliJson<{ failed_runs: { run_id: string }[] }>(dir, ['status']).failed_runs;
    expect(failed.length).toBe(1);
    expect(cli(dir, ['cancel', failed[0].run_id]).code).toBe(0);
    expect(cliJson<{ failed_runs: unknown[] }>(dir, ['status']).failed_runs).toEqual([]);
    // The genuine files are untouched: ingesting them again is a no-op.
    expect(cliJson<{ published: unknown[] }>(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]).published).toEqual([]);
  });
});

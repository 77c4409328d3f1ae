/**
 * Migration 3 (state/migrations/003_history_by_publish.ts) on a store written before it: history rows
 * tagged with `_tm_partition` and `_tm_version` become rows tagged with the publish that replaced
 * them. The old layout is recreated from a real project (the rows of each retained version, with its
 * partition and version, and no `versions.replaced_seq`), then the project is opened again: every
 * retained version must still be restorable with its recorded checksum, and diff must still read it.
 * The CLI tells the user, once, that it upgrades the store.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { builtShop, cli, cliJson, days, projectCopies, requireBuild, testEngines, withWorkspace } from '../helpers/project.js';
import { scaleRevenue } from './versions-fixture.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../../src/engines/engine.js';
import { SCHEMA_VERSION } from '../../src/state/migrate.js';

const FROM = '2026-03-01';
const TO = '2026-03-20';
const CHANGED = days('2026-03-14', '2026-03-20');

/** Rewrites history and versions as Tidemark stored them before migration 3, and marks the store at version 2. */
async function downgradeToVersion2(engine: Engine): Promise<void> {
  const d = engine.dialect;
  const state = (t: string) => d.table(engine.stateSchema, t);
  const history = d.table(engine.historySchema, 'daily_revenue');
  const old = d.table(engine.historySchema, 'daily_revenue_old');
  const columns = (await engine.columns(engine.historySchema, 'daily_revenue'))!.filter((c) => c.name !== '_tm_replaced_seq').map((c) => `h.${d.quote(c.name)}`);
  await engine.transaction(async (tx) => {
    await tx.exec(
      `CREATE TABLE ${old} AS SELECT ${columns.join(', ')}, v.partition AS "_tm_partition", v.version AS "_tm_version"
       FROM ${history} h JOIN ${state('versions')} v ON v.dataset = 'daily_revenue' AND v.replaced_seq = h."_tm_replaced_seq" AND v.partition = CAST(h.day AS VARCHAR)`,
    );
    await tx.exec(`DROP TABLE ${history}`);
    await tx.exec(`ALTER TABLE ${old} RENAME TO ${d.quote('daily_revenue')}`);
    await tx.exec(`ALTER TABLE ${state('versions')} DROP COLUMN replaced_seq`);
    // A store at version 2 has none of the later migrations either (4: ingested_files.mapping_hash).
    await tx.exec(`ALTER TABLE ${state('ingested_files')} DROP COLUMN mapping_hash`);
    await tx.exec(`DELETE FROM ${state('schema_migrations')} WHERE version >= 3`);
  });
}

describe.each(testEngines(inject('pgUrl')))('history written before migration 3 ($kind)', { timeout: 300_000 }, (engine) => {
  let base = '';
  const copies = projectCopies(() => base);
  /** Run ids of the two backfills, in order. */
  const backfills: string[] = [];

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(FROM, TO, { engine });
    // Two backfills with new content: the versions they replace (1 and 2) go to history.
    const model = path.join(base, 'models', 'daily_revenue.sql');
    const good = readFileSync(model, 'utf8');
    for (const factor of [2, 3]) {
      writeFileSync(model, scaleRevenue(good, factor));
      backfills.push(cliJson<{ run_id: string }>(base, ['backfill', 'daily_revenue', '--from', CHANGED[0], '--to', CHANGED[CHANGED.length - 1], '--reason', `scale ×${factor}`, '--yes']).run_id);
    }
    writeFileSync(model, good);
  }, 300_000);
  afterAll(() => copies.removeAll());

  test('after the migration every retained version restores with its recorded checksum, and diff reads it', async () => {
    const dir = copies.fresh();
    const recorded = (version: number) =>
      cliJson<{ partition: string; version: number; checksum: string }[]>(dir, ['history', 'daily_revenue'])
        .filter((v) => v.version === version && CHANGED.includes(v.partition))
        .map((v) => [v.partition, v.checksum]);
    const v1 = recorded(1);
    const v2 = recorded(2);
    expect(v1).toHaveLength(CHANGED.length);

    await withWorkspace(dir, (ws) => downgradeToVersion2(ws.engine));
    // The first command after the upgrade says so, once.
    const first = cli(dir, ['status', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`upgrading the state store from version 2 to ${SCHEMA_VERSION}`);
    expect(cli(dir, ['status', '--json']).stderr).not.toContain('upgrading');
    // Opening migrates: the history table is in the new layout, each version's rows tagged with its replacing publish.
    const layout = await withWorkspace(dir, async (ws) => {
      const cols = (await ws.engine.columns(ws.engine.historySchema, 'daily_revenue'))!.map((c) => c.name);
      const rows = await ws.engine.query<{ n: number; tagged: number }>(
        `SELECT count(*) AS n, count(h."_tm_replaced_seq") AS tagged FROM ${ws.engine.dialect.table(ws.engine.historySchema, 'daily_revenue')} h`,
      );
      return { cols, n: Number(rows[0].n), tagged: Number(rows[0].tagged) };
    });
    expect(layout.cols).toContain('_tm_replaced_seq');
    expect(layout.cols).not.toContain('_tm_partition');
    expect(layout.cols).not.toContain('_tm_version');
    expect(layout.n).toBeGreaterThan(0);
    expect(layout.tagged).toBe(layout.n);

    // diff of the second backfill reads version 2 (history) against version 3 (live).
    const diff = cliJson<{ partitions: { partition: string; rows_before: number; changed: number | null }[] }>(dir, ['diff', backfills[1], '--dataset', 'daily_revenue']);
    expect(diff.partitions.map((p) => p.partition).sort()).toEqual(CHANGED);
    for (const p of diff.partitions) expect(p.changed).toBeGreaterThan(0);

    // Restoring version 1 and then version 2 of each partition gives back their recorded checksums.
    let lastRestore = '';
    for (const [version, expected] of [[1, v1], [2, v2]] as const) {
      lastRestore = cliJson<{ run_id: string }>(dir, ['restore', 'daily_revenue', '--version', String(version), '--from', CHANGED[0], '--to', CHANGED[CHANGED.length - 1], '--reason', `back to v${version}`, '--yes']).run_id;
      const now = cliJson<{ partition: string; checksum: string }[]>(dir, ['partitions', 'daily_revenue']).filter((p) => CHANGED.includes(p.partition));
      expect(now.map((p) => [p.partition, p.checksum])).toEqual(expected);
    }
    // And the history written after the migration (the versions those restores replaced) restores too.
    cliJson(dir, ['restore', 'daily_revenue', '--run', lastRestore, '--reason', 'undo', '--yes']);
    const undone = cliJson<{ partition: string; checksum: string }[]>(dir, ['partitions', 'daily_revenue']).filter((p) => CHANGED.includes(p.partition));
    expect(undone.map((p) => [p.partition, p.checksum])).toEqual(v1);
    cliJson(dir, ['audit', 'verify']);
  });
});

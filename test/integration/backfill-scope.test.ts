// Scope and idempotency of backfills, through the real CLI on a real DuckDB file and on PostgreSQL
// (issues 2 and 8): partitions outside a plan never change; inside, a new version appears only where
// content changed; identical content creates no version and cascades nothing; ten identical
// backfills equal one.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stateTable } from '../../src/state/tables.js';
import {
  applyOrdersFix,
  builtShop,
  cliJson,
  projectCopies,
  days,
  partitionsByKey,
  requireBuild,
  snapshotLive,
  snapshotState,
  SHOP_DATASETS,
  testEngines,
  withWorkspace,
} from '../helpers/project.js';

const FROM = '2026-03-01';
const TO = '2026-03-07';
const BACKFILL = ['backfill', 'daily_revenue', '--from', FROM, '--to', TO, '--downstream', '--reason', 'EUR amount fix', '--yes'];

interface BackfillJson {
  run_id: string;
  status: string;
  published: { dataset: string; partition: string; version_before: number | null; version_after: number }[];
  unchanged: number;
  reused: number;
  skipped: number;
}

describe.each(testEngines(inject('pgUrl')))('on $kind', (engine) => {
  let base: string;
  const { fresh, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
  }, 300_000);
  afterAll(removeAll);

  describe('backfill scope', () => {
    it('changes exactly the planned partitions whose content changed, and nothing outside the plan', async () => {
      const dir = fresh();
      // The upstream fix touches only two of the seven days.
      applyOrdersFix(dir, ['2026-03-02', '2026-03-04']);
      const plan = cliJson(dir, ['plan', 'daily_revenue', '--from', FROM, '--to', TO, '--downstream']);
      const planned = new Set<string>(plan.datasets.flatMap((d: { dataset: string; partitions: string[] }) => d.partitions.map((p) => `${d.dataset}/${p}`)));
      expect(planned.size).toBe(7 + 13 + 1);

      const before = partitionsByKey(dir, SHOP_DATASETS);
      const result = cliJson<BackfillJson>(dir, BACKFILL);
      const after = partitionsByKey(dir, SHOP_DATASETS);
      expect(result.status).toBe('published');

      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      let outside = 0;
      for (const [key, b] of before) {
        const a = after.get(key)!;
        if (!planned.has(key)) {
          outside++;
          expect({ key, version: a.version, checksum: a.checksum, run_id: a.run_id }).toEqual({ key, version: b.version, checksum: b.checksum, run_id: b.run_id });
        } else if (a.checksum === b.checksum) {
          expect({ key, version: a.version }).toEqual({ key, version: b.version });
        } else {
          expect({ key, version: a.version }).toEqual({ key, version: b.version! + 1 });
          expect(a.run_id).toBe(result.run_id);
        }
      }
      expect(outside).toBeGreaterThan(100);

      // Exactly the days that changed, the rolling days that read them, and their month.
      const published = result.published.map((p) => `${p.dataset}/${p.partition}`).sort();
      expect(published).toEqual(
        [
          'daily_revenue/2026-03-02',
          'daily_revenue/2026-03-04',
          'monthly_revenue/2026-03-01',
          ...days('2026-03-02', '2026-03-10').map((d) => `revenue_7d/${d}`),
        ].sort(),
      );
      for (const p of result.published) expect(p.version_after).toBe(p.version_before! + 1);
      // The five unchanged days republish nothing; the rolling days that read none of the changes are skipped.
      expect(result.unchanged).toBe(5);
      expect(result.skipped).toBe(4); // revenue_7d 03-01, 03-11, 03-12, 03-13
      // And the plan's "partitions" now all agree with their inputs: nothing is left stale.
      expect([...after.values()].filter((p) => p.state !== 'published')).toEqual([]);
    }, 300_000);

    it('a backfill with identical content creates no version, and its dependents are skipped', async () => {
      const dir = fresh();
      const before = await snapshotState(dir);
      const result = cliJson<BackfillJson>(dir, BACKFILL);
      expect(result.published).toEqual([]);
      expect(result.unchanged).toBe(7);
      expect(result.skipped).toBe(13 + 1);
      const after = await snapshotState(dir);
      expect(after.live).toEqual(before.live);
      expect(after.state.partitions).toEqual(before.state.partitions);
      expect(after.state.versions).toEqual(before.state.versions);
    });
  });

  describe('idempotency', () => {
    it('the same backfill ten times gives identical live data and one new version per changed partition', async () => {
      const dir = fresh();
      applyOrdersFix(dir, days(FROM, TO));
      const versionsBefore = await withWorkspace(dir, (ws) => ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${stateTable(ws.engine, 'versions')}`));
      let first: BackfillJson | null = null;
      let firstLive: unknown = null;
      for (let i = 0; i < 10; i++) {
        const result = cliJson<BackfillJson>(dir, BACKFILL);
        const live = await snapshotLive(dir);
        if (i === 0) {
          first = result;
          firstLive = live;
          expect(result.published.length).toBe(7 + 13 + 1);
        } else {
          expect(result.published).toEqual([]);
          expect(live).toEqual(firstLive);
        }
      }
      const perPartition = await withWorkspace(dir, (ws) =>
        ws.engine.query<{ dataset: string; partition: string; n: number; max_v: number }>(
          `SELECT dataset, partition, count(*) AS n, max(version) AS max_v FROM ${stateTable(ws.engine, 'versions')} WHERE run_id = $1 GROUP BY dataset, partition ORDER BY dataset, partition`,
          [first!.run_id],
        ),
      );
      expect(perPartition.map((r) => `${r.dataset}/${r.partition}`)).toEqual(first!.published.map((p) => `${p.dataset}/${p.partition}`).sort());
      expect(perPartition.every((r) => Number(r.n) === 1 && Number(r.max_v) === 2)).toBe(true);
      const versionsAfter = await withWorkspace(dir, (ws) => ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${stateTable(ws.engine, 'versions')}`));
      expect(Number(versionsAfter[0].n) - Number(versionsBefore[0].n)).toBe(21);
    }, 600_000); // ten CLI backfills: generous for a loaded 2-core machine; no timing is asserted
  });
});

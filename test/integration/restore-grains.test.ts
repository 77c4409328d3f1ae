/**
 * History rows are found by (replacing publish, partition window): a restore joins them on the
 * window start (dialect.partitionStart) and gc deletes them by window. Checked here at the hour and
 * month grains, on TIMESTAMP and DATE partition columns, with partitions next to each other so that a
 * window off by one would pick up a neighbour's rows: each restored partition must come back with
 * exactly the rows and checksum of the version it restores, and its neighbours must not change.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gc } from '../../src/api/gc.js';
import { planRestore, restore } from '../../src/api/restore.js';
import { ingest } from '../../src/execute/ingest.js';
import { withWorkspace } from '../helpers/project.js';
import { csv, GRAIN_SOURCES_YAML, grainSourceProjects } from './grain-sources-fixture.js';

const projects = grainSourceProjects('tidemark-restore-grains-');
afterAll(() => projects.removeAll());

type State = Map<string, { version: number; rows: number; checksum: string }>;

async function partitions(dir: string, dataset: string): Promise<State> {
  return withWorkspace(dir, async (ws) => {
    const rows = await ws.engine.query<{ partition: string; version: number; rows: number; checksum: string }>(
      `SELECT partition, version, rows, checksum FROM tidemark.partitions WHERE dataset = $1 ORDER BY partition`,
      [dataset],
    );
    return new Map(rows.map((r) => [r.partition, { version: Number(r.version), rows: Number(r.rows), checksum: String(r.checksum) }]));
  });
}

const cases = [
  {
    dataset: 'clicks',
    header: 'click_id,page,at',
    // Three neighbouring hours, the middle one at both edges of its window.
    before: ['1,/a,2025-01-01 09:59:59', '2,/b,2025-01-01 10:00:00', '3,/c,2025-01-01 10:59:59', '4,/d,2025-01-01 11:00:00'],
    after: ['1,/a,2025-01-01 09:59:59', '2,/B,2025-01-01 10:00:00', '4,/d,2025-01-01 11:00:00', '5,/e,2025-01-01 11:30:00'],
    restored: '2025-01-01T10',
  },
  {
    dataset: 'bills',
    header: 'bill_id,cents,billed_on',
    before: ['1,10,2025-01-31', '2,20,2025-02-01', '3,30,2025-02-28', '4,40,2025-03-01'],
    after: ['1,10,2025-01-31', '2,21,2025-02-01', '4,40,2025-03-01', '5,50,2025-03-31'],
    restored: '2025-02-01',
  },
];

describe('restore and gc find history rows by window at the hour and month grains', () => {
  for (const c of cases) {
    it(`${c.dataset}: restoring version 1 of ${c.restored} brings back exactly its rows; neighbours keep theirs`, async () => {
      const dir = projects.project({ [`${c.dataset}.csv`]: csv(c.header, c.before) });
      const file = path.join(dir, 'data', `${c.dataset}.csv`);
      await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'first' }));
      const v1 = await partitions(dir, c.dataset);
      // The same file, changed: the middle partition and the next one get version 2.
      writeFileSync(file, csv(c.header, c.after));
      await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'changed' }));
      const v2 = await partitions(dir, c.dataset);
      expect(v2.get(c.restored)!.version).toBe(2);
      expect(v2.get(c.restored)!.checksum).not.toBe(v1.get(c.restored)!.checksum);

      await withWorkspace(dir, (ws) => restore(ws, { dataset: c.dataset, version: 1, from: c.restored, to: c.restored }, { reason: 'back' }));
      const now = await partitions(dir, c.dataset);
      expect(now.get(c.restored)).toEqual({ version: 3, rows: v1.get(c.restored)!.rows, checksum: v1.get(c.restored)!.checksum });
      for (const [partition, state] of v2) if (partition !== c.restored) expect(now.get(partition), partition).toEqual(state);

      // gc with a policy keeping nothing removes the replaced versions' rows, and only theirs.
      writeFileSync(path.join(dir, 'tidemark.yaml'), `${GRAIN_SOURCES_YAML}retention: { versions: 0, days: 0 }\n`);
      const report = await withWorkspace(dir, (ws) => gc(ws, { reason: 'clean' }));
      expect(report.versions_removed.filter((v) => v.dataset === c.dataset).length).toBeGreaterThan(0);
      const left = await withWorkspace(dir, (ws) => ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM tidemark_history.${c.dataset}`));
      expect(Number(left[0].n)).toBe(0);
      expect(await partitions(dir, c.dataset)).toEqual(now);
    });
  }

  it('a restore range named by a day inside a month partition restores the whole month, and its plan says so', async () => {
    const c = cases[1];
    const dir = projects.project({ [`${c.dataset}.csv`]: csv(c.header, c.before) });
    const file = path.join(dir, 'data', `${c.dataset}.csv`);
    await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'first' }));
    writeFileSync(file, csv(c.header, c.after));
    await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'changed' }));
    const planned = await withWorkspace(dir, (ws) => planRestore(ws, { dataset: c.dataset, version: 1, from: '2025-02-15', to: '2025-02-15' }));
    expect(planned.sources.map((s) => s.partition)).toEqual(['2025-02-01']);
    expect(planned.plan.guards.map((g) => ({ code: g.code, partitions: g.partitions, blocking: g.blocking }))).toEqual([
      { code: 'RANGE_WIDENED', partitions: ['2025-02-01'], blocking: false },
      { code: 'RANGE_WIDENED', partitions: ['2025-02-01'], blocking: false },
    ]);
  });

  it('a restore refused by a guard says how forward: the flag, or another version (not "fix the model"); nothing changes', async () => {
    const c = cases[1];
    const dir = projects.project({ [`${c.dataset}.csv`]: csv(c.header, ['2,20,2025-02-01']) });
    const file = path.join(dir, 'data', `${c.dataset}.csv`);
    await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'first' }));
    writeFileSync(file, csv(c.header, ['2,20,2025-02-01', '3,30,2025-02-10', '6,60,2025-02-20']));
    await withWorkspace(dir, (ws) => ingest(ws, c.dataset, [file], { reason: 'three rows' }));
    const before = await partitions(dir, c.dataset);
    const refused = await withWorkspace(dir, (ws) => restore(ws, { dataset: c.dataset, version: 1, from: '2025-02-01', to: '2025-02-01' }, { reason: 'back' })).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/shrinks the partition from 3 to 1 rows/) });
    expect((refused as { hint: string }).hint).toBe(
      `nothing was published; a version is restored exactly as it was published: if the problem is intended, pass the flag it names; otherwise restore another version (\`tidemark history ${c.dataset} --partition 2025-02-01\` lists them)`,
    );
    expect(await partitions(dir, c.dataset)).toEqual(before);
  });
});

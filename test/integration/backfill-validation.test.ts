// What a backfill refuses before publish (issue 2): rows outside the partition window, duplicate
// keys, a failing task; each leaves live data and state exactly as they were, and a failed backfill
// resumes when the same command is re-issued. On DuckDB and on PostgreSQL (issue 8).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateOrdersCsv } from '../../src/example/shop.js';
import { stateTable } from '../../src/state/tables.js';
import {
  builtShop,
  cli,
  cliJson,
  projectCopies,
  readModel,
  requireBuild,
  snapshotState,
  testEngines,
  withWorkspace,
  writeModel,
  type TestEngine,
} from '../helpers/project.js';

const BACKFILL = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-07', '--reason', 'test', '--yes'];

/**
 * An expression that fails at run time with `message` in the error: DuckDB's error(); PostgreSQL
 * has no such function, so a cast of the message to an integer, whose error quotes the text. The
 * cast reads a column so that PostgreSQL cannot fold it while planning (it must fail per row).
 */
function failWith(engine: TestEngine, message: string, column: string): string {
  return engine.kind === 'duckdb' ? `error('${message}')` : `CAST('${message} ' || ${column} AS INTEGER)`;
}

describe.each(testEngines(inject('pgUrl')))('on $kind', (engine) => {
  let base: string;
  let original: string;
  const { fresh, removeAll } = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await builtShop(undefined, undefined, { engine });
    original = readModel(base, 'daily_revenue');
  }, 300_000);
  afterAll(removeAll);

  function errorLines(stderr: string): string[] {
    return stderr.split('\n').filter((l) => l.startsWith('error:'));
  }

  describe('window check', () => {
    it('a model whose WHERE reaches outside its window fails before publish, naming the partition', async () => {
      const dir = fresh();
      const before = await snapshotState(dir);
      writeModel(dir, 'daily_revenue', original.replace('o.order_date >= {{ start }}', "o.order_date >= {{ start }} - INTERVAL '3 days'"));
      expect(readModel(dir, 'daily_revenue')).not.toBe(original);
      const r = cli(dir, [...BACKFILL, '--downstream']);
      expect(r.code).toBe(4);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/error: daily_revenue 2026-03-0[1-7]: \d+ row\(s\) fall outside the partition window: day ranges 2026-0[23]-\d\d \.\. 2026-0[23]-\d\d/);
      expect(r.stderr).toContain('hint: nothing was published');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await snapshotState(dir)).toEqual(before);
    });
  });

  describe('keys', () => {
    it('a model producing duplicate keys fails with the key values shown, and publishes nothing', async () => {
      const dir = fresh();
      const before = await snapshotState(dir);
      // Splitting each day's group by customer parity yields two rows per (day, currency).
      writeModel(dir, 'daily_revenue', original.replace('GROUP BY o.order_date, o.currency', 'GROUP BY o.order_date, o.currency, o.customer_id % 2'));
      const r = cli(dir, BACKFILL);
      expect(r.code).toBe(4);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/error: daily_revenue 2026-03-0[1-7]: duplicate key day, currency: \(day=2026-03-0[1-7], currency=(EUR|GBP|USD)\) ×2/);
      expect(await snapshotState(dir)).toEqual(before);
    });

    it('the keys a duplicate-key error of an ingest shows are the most repeated, then the smallest (the same message on every engine and every run), and its hint names files, not a model', async () => {
      const dir = fresh();
      // A second file for a day already loaded, holding that day's rows again (in reverse order): every key twice.
      const [header, ...rows] = readFileSync(path.join(dir, 'data', 'orders', 'orders-2026-03-08.csv'), 'utf8').trimEnd().split('\n');
      writeFileSync(path.join(dir, 'data', 'orders', 'again-2026-03-08.csv'), `${[header, ...rows.reverse()].join('\n')}\n`);
      const smallest = rows.map((r) => BigInt(r.split(',')[0])).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, 3);
      const before = await snapshotState(dir);
      const r = cli(dir, ['ingest', 'orders', 'data/orders/again-2026-03-08.csv']);
      expect(r.code).toBe(4);
      expect(errorLines(r.stderr)).toEqual([`error: orders 2026-03-08: duplicate key order_id: ${smallest.map((k) => `(order_id=${k}) ×2`).join('; ')} …`]);
      // An ingest has no model to fix: the hint says where the repeated rows come from.
      expect(r.stderr).toContain("hint: nothing was published; the rows checked are these files' together with those other files already loaded into the same partitions: correct the files and ingest them again\n");
      expect(r.stderr).not.toMatch(/model/);
      expect(await snapshotState(dir)).toEqual(before);
    });
  });

  describe('failure and resume', () => {
    it('a failing partition stops the run, publishes nothing and names the partition; re-issuing resumes', async () => {
      const dir = fresh();
      // The model fails on bad data: a negative customer id. The SQL text stays the same throughout,
      // so the partitions computed before the failure can be reused when the command is re-issued.
      const guarded = original.replace('CAST(COUNT(*) AS BIGINT) AS orders', `CAST(SUM(CASE WHEN o.customer_id < 0 THEN ${failWith(engine, 'negative customer_id', 'o.customer_id')} ELSE 1 END) AS BIGINT) AS orders`);
      expect(guarded).not.toBe(original);
      writeModel(dir, 'daily_revenue', guarded);
      const good = generateOrdersCsv('2026-03-05');
      const bad = good.replace(/\n(\d+),(\d+),/, '\n$1,-$2,');
      expect(bad).not.toBe(good);
      const file = path.join('data', 'orders', 'orders-2026-03-05.csv');
      writeFileSync(path.join(dir, file), bad);
      cliJson(dir, ['ingest', 'orders', file]);
      // Also a real change on other days, so the resumed run has something to publish.
      for (const d of ['2026-03-02', '2026-03-06']) writeFileSync(path.join(dir, 'data', 'orders', `orders-${d}.csv`), generateOrdersCsv(d, { fix: true }));
      cliJson(dir, ['ingest', 'orders', 'data/orders/orders-2026-03-02.csv', 'data/orders/orders-2026-03-06.csv']);

      const before = await snapshotState(dir);
      const failed = cli(dir, [...BACKFILL, '--downstream', '--max-parallel', '1']);
      expect(failed.code).not.toBe(0);
      expect(failed.code).toBe(2); // an SQL error in a model is exit 2
      expect(errorLines(failed.stderr)).toHaveLength(1);
      expect(failed.stderr).toContain('models/daily_revenue.sql (daily_revenue 2026-03-05)');
      expect(failed.stderr).toContain('negative customer_id');
      expect(failed.stderr).not.toMatch(/\n\s+at /);
      expect(await snapshotState(dir)).toEqual(before);
      // `cancel` dismisses the failed run from status; its staging stays, so re-issuing still resumes.
      const failedRuns = cliJson(dir, ['status']).failed_runs;
      expect(failedRuns).toHaveLength(1);
      expect(cli(dir, ['cancel', failedRuns[0].run_id]).code).toBe(0);
      expect(cliJson(dir, ['status']).failed_runs).toEqual([]);

      // The fix: the correct file for that day. Same command again → it resumes the failed run.
      writeFileSync(path.join(dir, file), good);
      cliJson(dir, ['ingest', 'orders', file]);
      // Re-issued with a new reason (the incident got its ticket): the run records the latest one.
      const reissued = BACKFILL.map((a) => (a === 'test' ? 'INC-9: second attempt' : a));
      const resumed = cliJson(dir, [...reissued, '--downstream', '--max-parallel', '1']);
      expect(resumed.status).toBe('published');
      expect(resumed.reused).toBeGreaterThanOrEqual(4); // 03-01..03-04 were computed before the failure
      const runs = await withWorkspace(dir, (ws) => ws.engine.query(`SELECT run_id, status, reason, pool FROM ${stateTable(ws.engine, 'runs')} WHERE kind = 'backfill' ORDER BY created_at`));
      // 'complete', not just 'published': no consumer has to acknowledge it (issue 9).
      expect(runs).toEqual([{ run_id: resumed.run_id, status: 'complete', reason: 'INC-9: second attempt', pool: 'backfill' }]);
      const changed = resumed.published.filter((p: { dataset: string }) => p.dataset === 'daily_revenue').map((p: { partition: string }) => p.partition);
      expect(changed).toEqual(['2026-03-02', '2026-03-06']);
    });
  });
});

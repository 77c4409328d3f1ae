// Ingest validation after the issue-6 speed-up: partition checksums are grouped by the native
// partition value (one text key per group, not per row) and must equal the stored definition (the
// checksum aggregate grouped by `_tm_partition`) at every grain; the duplicate-key check first asks
// only whether a key repeats (with DuckDB's dense-key aggregation) and names keys and partitions in a
// second query, so its message is unchanged and the session setting it raises is restored.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/execute/ingest.js';
import type { InternalRunOptions } from '../../src/execute/run-context.js';
import { withWorkspace } from '../helpers/project.js';
import { csv, GRAIN_SOURCES_YAML, grainSourceProjects } from './grain-sources-fixture.js';

const projects = grainSourceProjects('tidemark-keys-');
afterAll(() => projects.removeAll());
const project = (files: Record<string, string>) => projects.project(files);

const ORDERS = csv('order_id,amount,order_date', ['1,100,2025-01-01', '2,200,2025-01-01', '3,300,2025-01-02', '4,,2025-01-03']);
const ORDERS_MORE = csv('order_id,amount,order_date', ['5,500,2025-01-03', '6,600,2025-01-04']);
const CLICKS = csv('click_id,page,at', ['1,/a,2025-01-01 10:05:00', '2,/b,2025-01-01 10:59:59', '3,,2025-01-01 11:00:00', '4,/a,2025-01-02 00:30:00']);
const BILLS = csv('bill_id,cents,billed_on', ['1,10,2025-01-01', '2,20,2025-01-31', '3,30,2025-02-01', '4,40,2025-03-15']);

/** What publish recorded, and the checksum aggregate recomputed over live rows grouped by their partition key text. */
async function recordedAndRecomputed(dir: string, dataset: string, columns: string[], partitionColumn: string, grain: 'hour' | 'day' | 'month') {
  return withWorkspace(dir, async (ws) => {
    const d = ws.engine.dialect;
    const recorded = await ws.engine.query<{ partition: string; rows: number; checksum: string }>(
      `SELECT partition, rows, checksum FROM tidemark.partitions WHERE dataset = $1 ORDER BY partition`,
      [dataset],
    );
    const recomputed = await ws.engine.query<{ partition: string; rows: number; checksum: string }>(
      `SELECT ${d.partitionKey(d.quote(partitionColumn), grain)} AS partition, count(*) AS rows, ${d.checksum(columns)} AS checksum FROM ${d.quote(dataset)} GROUP BY 1 ORDER BY 1`,
    );
    return { recorded: recorded.map((r) => ({ ...r, rows: Number(r.rows) })), recomputed: recomputed.map((r) => ({ ...r, rows: Number(r.rows) })) };
  });
}

describe('ingest partition checksums', () => {
  it('equal the checksum aggregate grouped by the partition key text, at day, hour and month grain, in a first load and a later one', async () => {
    const dir = project({ 'orders.csv': ORDERS, 'orders-more.csv': ORDERS_MORE, 'clicks.csv': CLICKS, 'bills.csv': BILLS });
    const file = (f: string) => path.join(dir, 'data', f);
    await withWorkspace(dir, async (ws) => {
      expect((await ingest(ws, 'orders', [file('orders.csv')])).status).toBe('published');
      // A second load touching a partition with live rows stages a table, not a view of the files.
      expect((await ingest(ws, 'orders', [file('orders.csv'), file('orders-more.csv')])).status).toBe('published');
      expect((await ingest(ws, 'clicks', [file('clicks.csv')])).status).toBe('published');
      expect((await ingest(ws, 'bills', [file('bills.csv')])).status).toBe('published');
    });
    const orders = await recordedAndRecomputed(dir, 'orders', ['order_id', 'amount', 'order_date'], 'order_date', 'day');
    expect(orders.recorded.map((r) => [r.partition, r.rows])).toEqual([
      ['2025-01-01', 2],
      ['2025-01-02', 1],
      ['2025-01-03', 2],
      ['2025-01-04', 1],
    ]);
    expect(orders.recorded).toEqual(orders.recomputed);
    const clicks = await recordedAndRecomputed(dir, 'clicks', ['click_id', 'page', 'at'], 'at', 'hour');
    expect(clicks.recorded.map((r) => [r.partition, r.rows])).toEqual([
      ['2025-01-01T10', 2],
      ['2025-01-01T11', 1],
      ['2025-01-02T00', 1],
    ]);
    expect(clicks.recorded).toEqual(clicks.recomputed);
    const bills = await recordedAndRecomputed(dir, 'bills', ['bill_id', 'cents', 'billed_on'], 'billed_on', 'month');
    expect(bills.recorded.map((r) => [r.partition, r.rows])).toEqual([
      ['2025-01-01', 2],
      ['2025-02-01', 1],
      ['2025-03-01', 1],
    ]);
    expect(bills.recorded).toEqual(bills.recomputed);
  });
});

describe('ingest duplicate keys', () => {
  it('names the repeated keys and the first partition of each, publishes nothing, and restores the session setting', async () => {
    // Key 2 is in two partitions (first: 2025-01-01); key 3 twice in 2025-01-02.
    const dup = csv('order_id,amount,order_date', ['1,100,2025-01-01', '2,200,2025-01-01', '2,201,2025-01-03', '3,300,2025-01-02', '3,301,2025-01-02', '7,700,2025-01-03']);
    const dir = project({ 'dup.csv': dup });
    await withWorkspace(dir, async (ws) => {
      const threshold = async () => Number((await ws.engine.query<{ v: number }>(`SELECT CAST(current_setting('perfect_ht_threshold') AS INTEGER) AS v`))[0].v);
      const before = await threshold();
      const error = await ingest(ws, 'orders', [path.join(dir, 'data', 'dup.csv')]).then(
        () => null,
        (e: unknown) => e as { code: string; message: string; details?: { problems?: { partition: string; code: string; message: string }[] } },
      );
      expect(error?.code).toBe('VALIDATION');
      const problems = (error?.details?.problems ?? []).filter((p) => p.code === 'DUPLICATE_KEY').map((p) => [p.partition, p.message]);
      expect(problems).toEqual([
        ['2025-01-01', 'duplicate key order_id: (order_id=2) ×2'],
        ['2025-01-02', 'duplicate key order_id: (order_id=3) ×2'],
      ]);
      expect(await threshold()).toBe(before);
      expect(await ws.engine.query(`SELECT * FROM tidemark.partitions`)).toEqual([]);
      expect(await ws.engine.columns('main', 'orders')).toBeNull();
    });
  });

  it('finds a repeated key whatever the range of the keys: two NULL keys, keys too sparse for a bitmap, more keys than the range holds', async () => {
    /** Ingests one file of `rows` (order_id,amount,order_date) into a fresh project: published, or its duplicate-key messages. */
    const outcome = async (rows: string[]) => {
      const dir = project({ 'orders.csv': csv('order_id,amount,order_date', rows) });
      return withWorkspace(dir, (ws) =>
        ingest(ws, 'orders', [path.join(dir, 'data', 'orders.csv')]).then(
          (r) => r.status,
          (e: { code?: string; details?: { problems?: { partition: string; code: string; message: string }[] } }) => {
            expect(e.code).toBe('VALIDATION');
            return (e.details?.problems ?? []).filter((p) => p.code === 'DUPLICATE_KEY').map((p) => [p.partition, p.message]);
          },
        ),
      );
    };
    // NULL keys group together, as in the duplicate-key query: two repeat, one alone does not.
    expect(await outcome(['1,10,2025-01-01', ',20,2025-01-01', '2,30,2025-01-02', ',40,2025-01-02'])).toEqual([['2025-01-01', 'duplicate key order_id: (order_id=null) ×2']]);
    expect(await outcome(['1,10,2025-01-01', ',20,2025-01-01', '2,30,2025-01-02'])).toBe('published');
    // A range far wider than the keys (no bitmap): the keys are grouped instead.
    expect(await outcome(['1,10,2025-01-01', '1000000000000,20,2025-01-02', '1000000000000,30,2025-01-03'])).toEqual([['2025-01-02', 'duplicate key order_id: (order_id=1000000000000) ×2']]);
    expect(await outcome(['1,10,2025-01-01', '1000000000000,20,2025-01-02', '-1000000000000,30,2025-01-03'])).toBe('published');
    // Three keys in a range of two values.
    expect(await outcome(['5,10,2025-01-01', '6,20,2025-01-02', '6,30,2025-01-02'])).toEqual([['2025-01-02', 'duplicate key order_id: (order_id=6) ×2']]);
    // Keys at both ends of the range, one repeated at each end.
    expect(await outcome(['-3,10,2025-01-01', '4,20,2025-01-01', '-3,30,2025-01-02', '0,40,2025-01-02', '4,50,2025-01-03'])).toEqual([['2025-01-01', 'duplicate key order_id: (order_id=-3) ×2; (order_id=4) ×2']]);
  });

  it('passes unique keys, in a first load and a later one', async () => {
    const dir = project({ 'orders.csv': ORDERS, 'orders-more.csv': ORDERS_MORE });
    await withWorkspace(dir, async (ws) => {
      expect((await ingest(ws, 'orders', [path.join(dir, 'data', 'orders.csv')])).status).toBe('published');
      expect((await ingest(ws, 'orders', [path.join(dir, 'data', 'orders-more.csv')])).status).toBe('published');
      expect(Number((await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM orders`))[0].n)).toBe(6);
    });
  });
});

describe('a file rewritten while it is ingested', () => {
  // The rewrite happens after planning hashed and measured the file, before staging reads it (beforeStart).
  const REWRITTEN = csv('order_id,amount,order_date', ['1,100,2025-01-01', '2,200,2025-01-01', '3000000,300,2025-01-02']);

  async function ingestRewritten(dir: string) {
    const file = path.join(dir, 'data', 'orders.csv');
    return withWorkspace(dir, async (ws) => {
      const rewriteFirst: InternalRunOptions = { reason: 'test', beforeStart: async () => writeFileSync(file, REWRITTEN) };
      const error = await ingest(ws, 'orders', [file], rewriteFirst).then(
        () => null,
        (e: { code?: string; message?: string }) => e,
      );
      return { error, partitions: await ws.engine.query(`SELECT * FROM tidemark.partitions`), live: await ws.engine.columns('main', 'orders') };
    });
  }

  it('is refused as rewritten and publishes nothing, even when the read of the new bytes fails for another reason', async () => {
    const plain = await ingestRewritten(project({ 'orders.csv': ORDERS }));
    expect(plain.error?.code).toBe('BAD_INPUT');
    expect(plain.error?.message).toMatch(/orders\.csv changed while it was being ingested$/);
    expect(plain.partitions).toEqual([]);
    expect(plain.live).toBeNull();
    // A check that cannot run over the rewritten rows: the rewrite is what is reported.
    const checked = project({ 'orders.csv': ORDERS });
    writeFileSync(
      path.join(checked, 'tidemark.yaml'),
      GRAIN_SOURCES_YAML.replace('    key: [order_id]\n', `    key: [order_id]\n    checks: [{ sql: "SELECT error('no big ids') FROM {{ this }} WHERE order_id > 1000", name: small_ids }]\n`),
    );
    const broken = await ingestRewritten(checked);
    expect(broken.error?.code).toBe('BAD_INPUT');
    expect(broken.error?.message).toMatch(/orders\.csv changed while it was being ingested$/);
    expect(broken.partitions).toEqual([]);
  });
});

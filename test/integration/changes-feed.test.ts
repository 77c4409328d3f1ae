// The change feed (`tidemark changes DATASET --since SEQ --json`) and the external incremental consumer
// pattern of docs/change-feed.md: keep a cursor; for each change, replace the partition's rows in your
// copy (never append); then advance the cursor. After late data and a historical backfill upstream,
// the consumer's copy must equal the live table, with no duplicates and no gaps.
//
// Driven through the real CLI (bin/tidemark.js runs dist/: `npm test` builds first).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change, ChangeFeed } from '../../src/api/changes.js';
import { generateOrdersCsv } from '../../src/example/shop.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'tidemark.js');
const exec = promisify(execFile);

async function cli<T = any>(dir: string, ...args: string[]): Promise<T> {
  const { stdout } = await exec(process.execPath, [BIN, ...args, '--json'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}

/** Runs the CLI expecting it to fail; returns the exit code and stderr. */
async function cliFails(dir: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await exec(process.execPath, [BIN, ...args], { cwd: dir });
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`expected tidemark ${args.join(' ')} to fail`);
}

function addDays(day: string, n: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

function daysFrom(first: string, last: string): string[] {
  const out: string[] = [];
  for (let d = first; d <= last; d = addDays(d, 1)) out.push(d);
  return out;
}

type Row = Record<string, unknown>;

/**
 * An external incremental consumer of daily_revenue, written the way docs/change-feed.md says: its own
 * copy (partition → rows), a cursor, and partition replacement. It reads only the feed and `query`.
 */
class Consumer {
  cursor = 0;
  readonly copy = new Map<string, Row[]>();
  /** Every change it has processed, in order (to check the feed's own guarantees). */
  readonly seen: Change[] = [];

  constructor(
    private readonly dir: string,
    private readonly limit?: number,
  ) {}

  async sync(): Promise<void> {
    for (;;) {
      const args = ['changes', 'daily_revenue', '--since', String(this.cursor), ...(this.limit ? ['--limit', String(this.limit)] : [])];
      const feed = await cli<ChangeFeed>(this.dir, ...args);
      this.seen.push(...feed.changes);
      const partitions = [...new Set(feed.changes.map((c) => c.partition))];
      if (partitions.length) {
        // Current rows of the changed partitions, one query per batch; replace, never append. A
        // partition that has no rows any more is removed from the copy.
        const fetched = await cli<Row[]>(this.dir, 'query', `SELECT * FROM daily_revenue WHERE day IN (${partitions.map((p) => `DATE '${p}'`).join(', ')}) ORDER BY day, currency`);
        for (const p of partitions) {
          const rows = fetched.filter((r) => String(r[feed.partition_column]) === p);
          if (rows.length) this.copy.set(p, rows);
          else this.copy.delete(p);
        }
      }
      this.cursor = feed.head_seq; // only after the copy is updated
      if (!feed.truncated) return;
    }
  }

  rows(): Row[] {
    return [...this.copy.keys()].sort().flatMap((p) => this.copy.get(p)!);
  }
}

describe('change feed and an external incremental consumer', () => {
  let tmp: string;
  let dir: string;
  let paged: Consumer;
  const liveRows = () => cli<Row[]>(dir, 'query', 'SELECT * FROM daily_revenue ORDER BY day, currency');
  const orders = (days: string[]) => days.map((d) => `data/orders/orders-${d}.csv`);

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-changes-'));
    dir = path.join(tmp, 'shop');
    await exec(process.execPath, [BIN, 'init', dir]);
    await cli(dir, 'ingest', 'fx_rates', ...daysFrom('2026-01-01', '2026-01-30').map((d) => `data/fx_rates/fx-${d}.csv`));
    // Two publishes of daily_revenue, so paging has publish boundaries to stop at.
    await cli(dir, 'ingest', 'orders', ...orders(daysFrom('2026-01-01', '2026-01-20')));
    await cli(dir, 'run');
    await cli(dir, 'ingest', 'orders', ...orders(daysFrom('2026-01-21', '2026-01-30')));
    await cli(dir, 'run');
    paged = new Consumer(dir, 5);
  });

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('lists every publish after the cursor, ordered by publish_seq then partition, with the head to store', async () => {
    const feed = await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', '0');
    expect(feed.truncated).toBe(false);
    expect(feed.changes.map((c) => c.partition)).toEqual(daysFrom('2026-01-01', '2026-01-30'));
    const seqs = [...new Set(feed.changes.map((c) => c.publish_seq))];
    expect(seqs).toHaveLength(2);
    expect(feed.changes.every((c) => c.kind === 'new' && c.version === 1 && c.previous_version === null && c.current && c.dataset === 'daily_revenue')).toBe(true);
    expect(feed.changes[0].window).toEqual({ start: '2026-01-01', end: '2026-01-02' });
    expect(feed.head_seq).toBeGreaterThanOrEqual(seqs[1]);
    // Nothing after the head.
    expect((await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(feed.head_seq))).changes).toEqual([]);
    // After the first publish: only the second.
    const rest = await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(seqs[0]));
    expect(rest.changes.map((c) => c.partition)).toEqual(daysFrom('2026-01-21', '2026-01-30'));
    // --limit pages at whole publishes and says where to continue.
    const page = await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', '0', '--limit', '3');
    expect([page.changes.length, page.truncated, page.head_seq]).toEqual([20, true, seqs[0]]);
  });

  it('a paging consumer copies the table exactly', async () => {
    await paged.sync();
    expect(paged.rows()).toEqual(await liveRows());
  });

  it('late data: the feed shows one restatement, v1 → v2, and the consumer replaces it', async () => {
    const d = '2026-01-10';
    const dayNum = Date.parse(`${d}T00:00:00Z`) / 86_400_000;
    const late = ['order_id,customer_id,amount_cents,currency,status,order_date'];
    for (let n = 0; n < 50; n++) late.push(`${dayNum * 100_000 + 90_001 + n},${900 + n},${1_500 + n * 41},${['USD', 'EUR', 'GBP'][n % 3]},paid,${d}`);
    await writeFile(path.join(dir, `data/orders/late-${d}.csv`), `${late.join('\n')}\n`);
    await cli(dir, 'ingest', 'orders', `data/orders/late-${d}.csv`);

    // Ingested but not yet run: daily_revenue has not changed, so its feed has nothing new.
    expect((await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor))).changes).toEqual([]);
    await cli(dir, 'run');
    const feed = await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor));
    expect(feed.changes.map(({ partition, kind, version, previous_version }) => ({ partition, kind, version, previous_version }))).toEqual([
      { partition: d, kind: 'restate', version: 2, previous_version: 1 },
    ]);
    await paged.sync();
    expect(paged.rows()).toEqual(await liveRows());
  });

  it('a historical backfill after corrected files: restatements of exactly the fixed days', async () => {
    const fixed = daysFrom('2026-01-03', '2026-01-05');
    // The upstream re-delivers three old days with corrected EUR amounts (same file names).
    for (const d of fixed) await writeFile(path.join(dir, `data/orders/orders-${d}.csv`), generateOrdersCsv(d, { fix: true }));
    await cli(dir, 'ingest', 'orders', ...orders(fixed));
    const result = await cli<{ published: { dataset: string; partition: string }[] }>(
      dir, 'backfill', 'daily_revenue', '--from', fixed[0], '--to', fixed[2], '--downstream', '--reason', 'EUR amounts corrected upstream', '--yes',
    );
    expect(result.published.filter((p) => p.dataset === 'daily_revenue').map((p) => p.partition).sort()).toEqual(fixed);

    // A backfill of days whose content did not change publishes no version and adds nothing to the feed.
    const headBefore = (await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor))).changes;
    expect(headBefore.filter((c) => c.kind === 'restate').map((c) => c.partition)).toEqual(fixed);
    await cli(dir, 'backfill', 'daily_revenue', '--from', '2026-01-20', '--to', '2026-01-22', '--reason', 'no-op check', '--yes');
    expect((await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor))).changes).toEqual(headBefore);

    await paged.sync();
    expect(paged.rows()).toEqual(await liveRows());
  });

  it('a restore is a new publish: the feed shows it as kind restore, and the consumer follows it', async () => {
    const d = '2026-01-04';
    await cli(dir, 'restore', 'daily_revenue', '--version', '1', '--from', d, '--to', d, '--reason', 'compare with the uncorrected numbers', '--yes');
    const feed = await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor));
    expect(feed.changes.map(({ partition, kind, version, previous_version }) => ({ partition, kind, version, previous_version }))).toEqual([
      { partition: d, kind: 'restore', version: 3, previous_version: 2 },
    ]);
    await paged.sync();
    expect(paged.rows()).toEqual(await liveRows());
    // Whatever the next run decides about the restored partition, the consumer keeps up with it.
    await cli(dir, 'run');
    await paged.sync();
    expect(paged.rows()).toEqual(await liveRows());
  });

  it('consumers end identical to the live table: no duplicates, no gaps, whatever their cursor history', async () => {
    const live = await liveRows();
    const partitions = (await cli<{ partition: string }[]>(dir, 'partitions', 'daily_revenue')).map((p) => p.partition);

    // One that synced at every step (above), and one that starts now from 0 and sees superseded versions too.
    const late = new Consumer(dir);
    await late.sync();
    for (const c of [paged, late]) {
      expect(c.rows()).toEqual(live);
      expect([...c.copy.keys()].sort()).toEqual(partitions);
      const keys = c.rows().map((r) => `${String(r.day)}/${String(r.currency)}`);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(late.seen.filter((c) => c.partition === '2026-01-10').map((c) => [c.version, c.current])).toEqual([
      [1, false],
      [2, true],
    ]);
    // The paging consumer saw each publish of a partition exactly once, in publish order.
    const seqs = paged.seen.map((c) => c.publish_seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const versions = new Set(paged.seen.map((c) => `${c.partition}@${c.version}`));
    expect(versions.size).toBe(paged.seen.length);

    // Appending instead of replacing would have duplicated every restated partition.
    const appended = paged.seen.reduce((n, c) => n + c.rows, 0);
    expect(appended).toBeGreaterThan(live.length);
  });

  it('rejects bad cursors with a usage error', async () => {
    const ahead = await cliFails(dir, 'changes', 'daily_revenue', '--since', '999999');
    expect(ahead.code).toBe(2);
    expect(ahead.stderr).toMatch(/^error: --since 999999 is ahead of this project's publish sequence/m);
    expect(ahead.stderr).toMatch(/^hint: /m);
    const bad = await cliFails(dir, 'changes', 'daily_revenue', '--since', '-1');
    expect(bad.code).toBe(2);
    const unknown = await cliFails(dir, 'changes', 'nope', '--since', '0');
    expect(unknown.code).toBe(2);
  });

  it('a run with nothing changed reports nothing to do and leaves the feed as it is', async () => {
    const noop = await cli<{ status: string; published: unknown[] }>(dir, 'run');
    expect([noop.status, noop.published]).toEqual(['noop', []]);
    expect((await cli<ChangeFeed>(dir, 'changes', 'daily_revenue', '--since', String(paged.cursor))).changes).toEqual([]);
  });
});

// A `run` that found nothing to do remembers the state it planned from (src/plan/up-to-date.ts) so
// the next no-op run skips planning. The shortcut must never hide work: every way the state or the
// project can change — a late file, a restore, a new model, an old marker put back — makes the next
// run plan for real and do exactly the work it would have done without the marker.
// Driven through the real CLI on DuckDB (the marker is DuckDB-only).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, cli, cliJson, requireBuild, scaffoldShop } from '../helpers/project.js';

const DAYS = 20; // 2026-01-01 .. 2026-01-20
const days = Array.from({ length: DAYS }, (_, i) => `2026-01-${String(i + 1).padStart(2, '0')}`);
const orderFiles = days.map((d) => `data/orders/orders-${d}.csv`);
const fxFiles = days.map((d) => `data/fx_rates/fx-${d}.csv`);

interface RunJson {
  run_id: string | null;
  status: string;
  published: { dataset: string; partition: string; version_before: number | null; version_after: number }[];
}

const marker = (dir: string) => path.join(dir, '.tidemark', 'up-to-date.json');

/** 10 extra paid orders for `day`, with ids above the generated ones. */
function lateOrders(day: string, offset: number): string {
  const lines = ['order_id,customer_id,amount_cents,currency,status,order_date'];
  for (let n = 0; n < 10; n++) lines.push(`${9_000_000 + offset * 100 + n},${700 + n},${2_000 + n * 13},USD,paid,${day}`);
  return `${lines.join('\n')}\n`;
}

/** dataset → its published partitions, sorted. */
function published(result: RunJson): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of result.published) (out[p.dataset] ??= []).push(p.partition);
  for (const list of Object.values(out)) list.sort();
  return out;
}

describe('run remembers "nothing to do" without ever hiding work (DuckDB)', () => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop(days[0], days[DAYS - 1]);
    cliJson(dir, ['ingest', 'orders', ...orderFiles]);
    cliJson(dir, ['ingest', 'fx_rates', ...fxFiles]);
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('published');
  });

  afterAll(() => cleanup(dir, path.dirname(dir)));

  it('a run with nothing to do writes the marker, and the next one is a no-op too', () => {
    expect(existsSync(marker(dir))).toBe(false);
    const traced = { env: { TIDEMARK_TRACE_SQL: '1' } };
    const planned = cli(dir, ['run', '--json'], traced);
    expect(JSON.parse(planned.stdout).status).toBe('noop');
    expect(existsSync(marker(dir))).toBe(true);
    const shortcut = cli(dir, ['run', '--json'], traced);
    expect(JSON.parse(shortcut.stdout).status).toBe('noop');
    // A planned run looks for the failed runs it superseded; the shortcut has nothing to look for
    // (nothing changed since that run) and reads neither them nor the partitions.
    const readsFailedRuns = /FROM \S*runs\S* WHERE kind = \$1 AND status = 'failed'/;
    expect(planned.stderr).toMatch(readsFailedRuns);
    expect(shortcut.stderr).not.toMatch(readsFailedRuns);
    expect(shortcut.stderr).not.toMatch(/SELECT dataset, partition, version, rows, checksum, inputs FROM/);
  });

  it('a late file makes the next run rebuild exactly its dependents', () => {
    writeFileSync(path.join(dir, 'data', 'orders', 'late-2026-01-05.csv'), lateOrders('2026-01-05', 1));
    cliJson(dir, ['ingest', 'orders', 'data/orders/late-2026-01-05.csv']);
    const rebuilt = cliJson<RunJson>(dir, ['run']);
    expect(rebuilt.status).toBe('published');
    expect(published(rebuilt)).toEqual({
      daily_revenue: ['2026-01-05'],
      revenue_7d: ['2026-01-05', '2026-01-06', '2026-01-07', '2026-01-08', '2026-01-09', '2026-01-10', '2026-01-11'],
      monthly_revenue: ['2026-01-01'],
    });
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('noop');
  });

  it('an old marker put back in place does not hide a change made after it', () => {
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('noop');
    const old = readFileSync(marker(dir), 'utf8');
    writeFileSync(path.join(dir, 'data', 'orders', 'late-2026-01-15.csv'), lateOrders('2026-01-15', 2));
    cliJson(dir, ['ingest', 'orders', 'data/orders/late-2026-01-15.csv']);
    writeFileSync(marker(dir), old);
    const rebuilt = cliJson<RunJson>(dir, ['run']);
    expect(rebuilt.status).toBe('published');
    expect(published(rebuilt).daily_revenue).toEqual(['2026-01-15']);
  });

  it('a restore of an upstream model makes its dependents stale for the next run', () => {
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('noop');
    const restored = cliJson<RunJson>(dir, ['restore', 'daily_revenue', '--version', '1', '--from', '2026-01-15', '--to', '2026-01-15', '--reason', 'test', '--yes', '--include-recent']);
    expect(published(restored)).toEqual({ daily_revenue: ['2026-01-15'] });
    const rebuilt = cliJson<RunJson & { unchanged: number }>(dir, ['run']);
    expect(rebuilt.status).toBe('published');
    // daily_revenue 01-15 is stale again (its orders input changed since v1) and is rebuilt to today's
    // content; what reads it (rolling 01-15..01-20, the month) is recomputed and found unchanged.
    expect(published(rebuilt)).toEqual({ daily_revenue: ['2026-01-15'] });
    expect(rebuilt.unchanged).toBe(7);
  });

  it('a new model in the project file is built by the next run', () => {
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('noop');
    writeFileSync(
      path.join(dir, 'models', 'order_counts.sql'),
      `SELECT order_date AS day, CAST(count(*) AS BIGINT) AS orders\nFROM {{ ref('orders') }}\nWHERE order_date >= {{ start }} AND order_date < {{ end }}\nGROUP BY order_date\n`,
    );
    const config = path.join(dir, 'tidemark.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8').trimEnd()}\n  order_counts:\n    kind: model\n    sql: models/order_counts.sql\n    partition: { column: day, grain: day }\n    key: [day]\n`);
    const built = cliJson<RunJson>(dir, ['run']);
    expect(built.status).toBe('published');
    expect(published(built)).toEqual({ order_counts: days });
    expect(cliJson<RunJson>(dir, ['run']).status).toBe('noop');
  });
});

// A project held by another one-shot process (issue 2) and read-only `query`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkspace } from '../../src/workspace.js';
import { builtShop, cleanup, cli, cliJson, holdWorkspace, requireBuild, snapshotState } from '../helpers/project.js';

let dir: string;

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
}, 300_000);
afterAll(() => cleanup(dir));

describe('a project held by another process', () => {
  it('a second process gets exit 1 and a message naming the holder pid and command', async () => {
    const holder = await holdWorkspace(dir, 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07', 'r20260307_120000_abcdef');
    try {
      for (const args of [['status'], ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes']]) {
        const r = cli(dir, args);
        expect(r.code, r.stderr).toBe(1);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toContain(`pid ${holder.pid}`);
        expect(errors[0]).toContain("running 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07' (run r20260307_120000_abcdef)");
        expect(r.stderr).toMatch(/^hint: .*--wait/m);
        expect(r.stderr).not.toMatch(/Conflicting lock|IO Error/);
      }
      // With --wait N it says it waited, and what to do then.
      const waited = cli(dir, ['status', '--wait', '1']);
      expect(waited.code).toBe(1);
      expect(waited.stderr).toMatch(/^error: .*pid \d+ .*\(still, after waiting 1 s\)$/m);
      expect(waited.stderr).toMatch(/^hint: wait longer/m);
    } finally {
      await holder.stop();
    }
    // Once the holder is gone the project opens again.
    expect(cli(dir, ['status']).code).toBe(0);
  });
});

describe('a project opened twice in one process', () => {
  it('the second openWorkspace gets LOCKED naming the first, waits for it with waitMs, and opens once it is closed', async () => {
    // DuckDB's own lock is per process: without Tidemark's check the second open would succeed and two
    // instances would write one file.
    const first = await openWorkspace(dir, { actor: 'test', command: 'tidemark backfill daily_revenue' });
    try {
      const refused = await openWorkspace(dir, { actor: 'test', command: 'tidemark status' }).then(
        (ws) => ws.close().then(() => null),
        (error: unknown) => error,
      );
      expect(refused).toMatchObject({ code: 'LOCKED', message: expect.stringContaining(`already open in this process (pid ${process.pid}, by 'tidemark backfill daily_revenue')`) });
      expect((refused as { hint?: string }).hint).toMatch(/open a project once per process/);
      const waiting = openWorkspace(dir, { actor: 'test', command: 'tidemark status', waitMs: 10_000 });
      setTimeout(() => void first.close(), 300);
      const second = await waiting;
      expect(second.engine.kind).toBe('duckdb');
      await second.close();
    } finally {
      await first.close();
    }
    // Closed, the project opens again (the CLI in another process too).
    await (await openWorkspace(dir, { actor: 'test' })).close();
    expect(cli(dir, ['status']).code).toBe(0);
  });
});

describe('query', () => {
  it('--json returns an array of row objects, with big integers as strings', () => {
    const rows = cliJson(dir, ['query', "SELECT day, currency, orders FROM daily_revenue WHERE day = DATE '2026-03-07' ORDER BY currency"]);
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.map((r: { currency: string }) => r.currency)).toEqual(['EUR', 'GBP', 'USD']);
    expect(rows[0]).toEqual({ day: '2026-03-07', currency: 'EUR', orders: expect.any(Number) });
    expect(cliJson(dir, ['query', 'SELECT 9007199254740993::BIGINT AS big, 42 AS small'])).toEqual([{ big: '9007199254740993', small: 42 }]);
    expect(cliJson(dir, ['query', 'SELECT 1 AS a WHERE false'])).toEqual([]);
    // A decimal a double cannot hold exactly stays its exact text; a short one is a number.
    expect(cliJson(dir, ['query', "SELECT CAST('12345678901234567.89' AS DECIMAL(38,2)) AS amount, CAST(1.5 AS DECIMAL(10,2)) AS rate"])).toEqual([{ amount: '12345678901234567.89', rate: 1.5 }]);
  });

  it('refuses writes with exit 2 and changes nothing', async () => {
    const before = await snapshotState(dir);
    for (const sql of ['DELETE FROM orders', 'UPDATE orders SET amount_cents = 0', 'DROP TABLE daily_revenue', 'SELECT 1; DELETE FROM orders', 'INSERT INTO orders SELECT * FROM orders']) {
      const r = cli(dir, ['query', sql, '--json']);
      // stdout: no rows, only the --json error object (test/cli/json-errors.test.ts).
      expect({ sql, code: r.code, stdout: JSON.parse(r.stdout) }).toEqual({ sql, code: 2, stdout: { error: expect.objectContaining({ code: 'USAGE', exit_code: 2 }) } });
      expect(r.stderr).toMatch(/^error: query is read-only/);
    }
    expect(await snapshotState(dir)).toEqual(before);
    expect(Number(cliJson(dir, ['query', 'SELECT count(*) AS n FROM orders'])[0].n)).toBeGreaterThan(50_000);
  });

  it('a semicolon in a string literal, a quoted name or a comment is not a second statement; a trailing one is dropped', () => {
    expect(cliJson(dir, ['query', "SELECT 'a;b' AS s"])).toEqual([{ s: 'a;b' }]);
    expect(cliJson(dir, ['query', 'SELECT 1 AS "x;y"'])).toEqual([{ 'x;y': 1 }]);
    expect(cliJson(dir, ['query', 'SELECT 1 AS a -- one; two'])).toEqual([{ a: 1 }]);
    expect(cliJson(dir, ['query', 'SELECT 1 AS a /* ; */ ;  -- done'])).toEqual([{ a: 1 }]);
    const two = cli(dir, ['query', "SELECT ';' AS s; DELETE FROM orders"]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/^error: query is read-only/);
  });
});

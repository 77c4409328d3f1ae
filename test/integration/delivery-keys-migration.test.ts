/**
 * Migration 5 (state/migrations/005_delivery_keys.ts) on a store written before it, where racing
 * fan-outs had left duplicate deliveries: the store is taken back to version 4 (no unique index, no
 * cursor row) and given duplicates, then opened again. One row per (event, consumer) must remain,
 * the most advanced one (delivered, then dead, then pending; then the most attempts), and the index
 * must refuse a new duplicate while fan-out's ON CONFLICT insert reports it as not inserted.
 */
import { afterAll, describe, expect, inject, test } from 'vitest';
import { insertDelivery } from '../../src/consumers/deliveries.js';
import type { Engine } from '../../src/engines/engine.js';
import { SCHEMA_VERSION } from '../../src/state/migrate.js';
import { cleanup, cli, requireBuild, scaffoldShop, testEngines, withWorkspace } from '../helpers/project.js';

type Row = [event_id: number, consumer: string, status: string, attempts: number];

/** What racing fan-outs and dispatches could leave behind. */
const DUPLICATED: Row[] = [
  [1, 'a', 'pending', 0],
  [1, 'a', 'delivered', 1],
  [1, 'a', 'dead', 5],
  [1, 'b', 'pending', 0],
  [1, 'b', 'pending', 2],
  [2, 'a', 'pending', 1],
  [2, 'a', 'dead', 3],
  [2, 'b', 'delivered', 1],
  [3, 'a', 'pending', 0],
  [3, 'a', 'pending', 0],
];
const KEPT: Row[] = [
  [1, 'a', 'delivered', 1],
  [1, 'b', 'pending', 2],
  [2, 'a', 'dead', 3],
  [2, 'b', 'delivered', 1],
  [3, 'a', 'pending', 0],
];

/** The store as Tidemark left it before migration 5, with duplicate deliveries. */
async function downgradeToVersion4(engine: Engine): Promise<void> {
  const state = (t: string) => engine.dialect.table(engine.stateSchema, t);
  await engine.transaction(async (tx) => {
    await tx.exec(`DROP INDEX ${state('deliveries_event_consumer')}`);
    await tx.exec(`DELETE FROM ${state('meta')} WHERE key = 'consumers_outbox_cursor'`);
    await tx.exec(`DELETE FROM ${state('schema_migrations')} WHERE version >= 5`);
  });
  for (const [event, consumer, status, attempts] of DUPLICATED) {
    await engine.exec(`INSERT INTO ${state('deliveries')} VALUES ($1, $2, $3, $4, NULL, NULL, $5)`, [event, consumer, status, attempts, status === 'delivered' ? '2026-05-01T00:00:00.000Z' : null]);
  }
}

async function rows(engine: Engine): Promise<Row[]> {
  const found = await engine.query<{ event_id: number; consumer: string; status: string; attempts: number }>(
    `SELECT event_id, consumer, status, attempts FROM ${engine.dialect.table(engine.stateSchema, 'deliveries')} ORDER BY event_id, consumer`,
  );
  return found.map((r) => [Number(r.event_id), r.consumer, r.status, Number(r.attempts)]);
}

describe.each(testEngines(inject('pgUrl')))('deliveries written before migration 5 ($kind)', { timeout: 120_000 }, (engine) => {
  const made: string[] = [];
  afterAll(() => cleanup(...made));

  test('duplicates are removed keeping the most advanced row; the index then refuses new ones', async () => {
    requireBuild();
    const dir = await scaffoldShop(undefined, undefined, { engine });
    made.push(dir);
    // Opening creates the store at the current version; it is then taken back (opening again would migrate it).
    await withWorkspace(dir, async (ws) => {
      await downgradeToVersion4(ws.engine);
      expect(await rows(ws.engine)).toHaveLength(DUPLICATED.length);
    });

    const first = cli(dir, ['status', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`upgrading the state store from version 4 to ${SCHEMA_VERSION}`);

    await withWorkspace(dir, async (ws) => {
      const e = ws.engine;
      expect(await rows(e)).toEqual(KEPT);
      const cursor = await e.query<{ value: string }>(`SELECT value FROM ${e.dialect.table(e.stateSchema, 'meta')} WHERE key = 'consumers_outbox_cursor'`);
      expect(cursor).toEqual([{ value: '0' }]);

      const now = new Date().toISOString();
      expect(await insertDelivery(e, e, 1, 'a', now)).toBe(false);
      expect(await insertDelivery(e, e, 4, 'a', now)).toBe(true);
      expect(await insertDelivery(e, e, 4, 'a', now)).toBe(false);
      await expect(e.exec(`INSERT INTO ${e.dialect.table(e.stateSchema, 'deliveries')} VALUES (2, 'b', 'pending', 0, NULL, NULL, NULL)`)).rejects.toThrow(/duplicate key|unique/i);
      expect(await rows(e)).toEqual([...KEPT, [4, 'a', 'pending', 0]]);
    });
  });
});

/**
 * A new DuckDB state store is created by every migration in one transaction, sent as one script
 * (state/migrate.ts createStore); an existing store is migrated one migration per transaction. Both
 * must give the same store: the same schemas, tables, columns, constraints and indexes (everything
 * DuckDB's catalog reports but object ids and the database's name), and the same rows in every state
 * table (but `applied_at`). A store whose `schema_migrations` is empty takes the one-by-one path, so
 * the test builds one store each way in real files.
 */
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DuckDbEngine } from '../../src/engines/duckdb/engine.js';
import { MIGRATIONS, migrate } from '../../src/state/migrate.js';
import { cleanup, tempDir } from '../helpers/project.js';

const dir = tempDir('tidemark-new-store-');
afterAll(() => cleanup(dir));

/** Catalog functions and the keys that order their rows; `oid`, `*_oid` and `database_name` differ between two files. */
const CATALOG: [string, string][] = [
  ['duckdb_schemas()', 'schema_name'],
  ['duckdb_tables()', 'schema_name, table_name'],
  ['duckdb_columns()', 'schema_name, table_name, column_index'],
  ['duckdb_constraints()', 'schema_name, table_name, constraint_index'],
  ['duckdb_indexes()', 'schema_name, index_name'],
  ['duckdb_views()', 'schema_name, view_name'],
  ['duckdb_sequences()', 'schema_name, sequence_name'],
];

async function describeStore(engine: DuckDbEngine): Promise<Record<string, unknown>> {
  const store: Record<string, unknown> = {};
  for (const [fn, order] of CATALOG) {
    const rows = await engine.query<Record<string, unknown>>(`SELECT * FROM ${fn} WHERE database_name = current_database() ORDER BY ${order}`);
    store[fn] = rows.map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => !key.endsWith('oid') && key !== 'database_name')));
  }
  const tables = await engine.query<{ table_name: string }>(`SELECT table_name FROM duckdb_tables() WHERE schema_name = 'tidemark' ORDER BY table_name`);
  for (const { table_name } of tables) {
    const columns = table_name === 'schema_migrations' ? 'version, name' : '*';
    store[`tidemark.${table_name}`] = await engine.query(`SELECT ${columns} FROM tidemark."${table_name}" ORDER BY ALL`);
  }
  return store;
}

async function withEngine<T>(name: string, fn: (engine: DuckDbEngine) => Promise<T>): Promise<T> {
  const engine = await DuckDbEngine.open(path.join(dir, `${name}.duckdb`));
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

describe('creating a new state store (duckdb)', () => {
  test('in one transaction gives the same store as applying the migrations one by one', async () => {
    const created = await withEngine('created', async (engine) => {
      await migrate(engine);
      return describeStore(engine);
    });
    const stepped = await withEngine('stepped', async (engine) => {
      // An empty schema_migrations: applied version 0, an existing store, migrated one by one.
      await engine.exec(`CREATE SCHEMA tidemark`);
      await engine.exec(`CREATE TABLE tidemark.schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL)`);
      await migrate(engine);
      return describeStore(engine);
    });
    expect(created['tidemark.schema_migrations']).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    expect(Object.keys(created)).toContain('tidemark.history_copies');
    expect(created).toEqual(stepped);
  });

  test('a store that cannot be created is left as it was, with the engine error naming the table', async () => {
    await withEngine('blocked', async (engine) => {
      // A state schema that already has a table the first migration creates, but no schema_migrations.
      await engine.exec(`CREATE SCHEMA tidemark`);
      await engine.exec(`CREATE TABLE tidemark.meta (key VARCHAR)`);
      await expect(migrate(engine)).rejects.toThrow(/meta.*already exists/);
      const tables = await engine.query<{ t: string }>(`SELECT schema_name || '.' || table_name AS t FROM duckdb_tables() ORDER BY t`);
      expect(tables).toEqual([{ t: 'tidemark.meta' }]);
      const schemas = await engine.query<{ s: string }>(`SELECT schema_name AS s FROM duckdb_schemas() WHERE schema_name LIKE 'tidemark%' ORDER BY s`);
      expect(schemas).toEqual([{ s: 'tidemark' }]);
    });
  });

  test('a created store is current: opening it again migrates nothing', async () => {
    await withEngine('reopened', (engine) => migrate(engine));
    await withEngine('reopened', async (engine) => {
      let upgraded = false;
      await migrate(engine, () => (upgraded = true));
      expect(upgraded).toBe(false);
      expect(await engine.query(`SELECT count(*)::INTEGER AS n FROM tidemark.schema_migrations`)).toEqual([{ n: MIGRATIONS.length }]);
    });
  });
});

/**
 * Versioned migrations of the state store, applied automatically on open, in one transaction each,
 * with the applied version recorded in `schema_migrations`.
 */
import type { Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import * as m001 from './migrations/001_init.js';

interface Migration {
  version: number;
  name: string;
  tables: string[];
  keyed: string[];
}

export const MIGRATIONS: Migration[] = [{ version: 1, ...m001 }];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export async function migrate(engine: Engine): Promise<void> {
  const s = engine.dialect.quote(engine.stateSchema);
  for (const schema of [engine.stateSchema, engine.historySchema, engine.stagingSchema, engine.dataSchema]) {
    await engine.exec(`CREATE SCHEMA IF NOT EXISTS ${engine.dialect.quote(schema)}`);
  }
  await engine.exec(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL)`);
  const applied = await engine.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_migrations`);
  const current = applied[0]?.v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new TidemarkError('CONFIG', `the state store is at schema version ${current}, newer than this Tidemark (${SCHEMA_VERSION})`, {
      hint: 'upgrade tidemark',
    });
  }
  for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
    await engine.transaction(async (tx) => {
      const statements = engine.capabilities.multiWriter ? [...migration.tables, ...migration.keyed] : migration.tables;
      for (const sql of statements) await tx.exec(sql.replaceAll('{s}', s));
      await tx.exec(`INSERT INTO ${s}.schema_migrations VALUES ($1, $2, $3)`, [migration.version, migration.name, new Date().toISOString()]);
    });
  }
}

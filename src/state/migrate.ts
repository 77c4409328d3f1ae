/**
 * Versioned migrations of the state store, applied automatically on open, in one transaction each,
 * with the applied version recorded in `schema_migrations`. Engines that several processes write at
 * once (`lockTransaction`) apply them all in one transaction under a lock.
 */
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import * as m001 from './migrations/001_init.js';
import * as m002 from './migrations/002_workers.js';
import * as m003 from './migrations/003_history_by_publish.js';
import * as m004 from './migrations/004_ingest_mapping.js';
import * as m005 from './migrations/005_delivery_keys.js';
import * as m006 from './migrations/006_history_copies.js';

interface Migration {
  version: number;
  name: string;
  tables: string[];
  keyed: string[];
  /** Work that depends on what the store holds (e.g. one statement per history table), after `tables`. */
  run?: (tx: Db, engine: Engine) => Promise<void>;
}

export const MIGRATIONS: Migration[] = [
  { version: 1, ...m001 },
  { version: 2, ...m002 },
  { version: 3, ...m003 },
  { version: 4, ...m004 },
  { version: 5, ...m005 },
  { version: 6, ...m006 },
];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * `onUpgrade(from, to)` is told before an existing store (not a new one) is migrated: an upgrade can
 * rewrite tables (migration 3 rewrites every history table), which a user should hear about.
 */
export async function migrate(engine: Engine, onUpgrade?: (from: number, to: number) => void): Promise<void> {
  // The common case, every command on an existing project: the store is current. Only the data
  // schema is ensured, because the project file may have moved live tables to a new one.
  const applied = await appliedVersion(engine);
  if (applied !== null && applied > 0 && applied < SCHEMA_VERSION) onUpgrade?.(applied, SCHEMA_VERSION);
  if (applied === SCHEMA_VERSION) {
    await engine.exec(`CREATE SCHEMA IF NOT EXISTS ${engine.dialect.quote(engine.dataSchema)}`);
    return;
  }
  if (engine.lockTransaction) {
    // Several processes may open a multi-writer store at once: one migrates under the lock, in one
    // transaction; the others wait for it and then find nothing left to do.
    await engine.transaction(async (tx) => {
      await engine.lockTransaction!(tx, 'migrate');
      await prepare(tx, engine);
      for (const migration of await pending(tx, engine)) await apply(tx, engine, migration);
    });
    return;
  }
  await prepare(engine, engine);
  for (const migration of await pending(engine, engine)) await engine.transaction((tx) => apply(tx, engine, migration));
}

async function prepare(db: Db, engine: Engine): Promise<void> {
  for (const schema of [engine.stateSchema, engine.historySchema, engine.stagingSchema, engine.dataSchema]) {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${engine.dialect.quote(schema)}`);
  }
  await db.exec(`CREATE TABLE IF NOT EXISTS ${engine.dialect.quote(engine.stateSchema)}.schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL)`);
}

/** The applied schema version, or null when the state store does not exist yet (or cannot be read). */
async function appliedVersion(engine: Engine): Promise<number | null> {
  try {
    const rows = await engine.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${engine.dialect.quote(engine.stateSchema)}.schema_migrations`);
    return rows[0]?.v ?? null;
  } catch {
    return null; // a new store: migrate() creates it
  }
}

async function pending(db: Db, engine: Engine): Promise<Migration[]> {
  const applied = await db.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${engine.dialect.quote(engine.stateSchema)}.schema_migrations`);
  const current = applied[0]?.v ?? 0;
  if (current > SCHEMA_VERSION) {
    throw new TidemarkError('CONFIG', `the state store is at schema version ${current}, newer than this Tidemark (${SCHEMA_VERSION})`, {
      hint: 'upgrade tidemark',
    });
  }
  return MIGRATIONS.filter((m) => m.version > current);
}

async function apply(tx: Db, engine: Engine, migration: Migration): Promise<void> {
  const s = engine.dialect.quote(engine.stateSchema);
  const statements = engine.capabilities.multiWriter ? [...migration.tables, ...migration.keyed] : migration.tables;
  for (const sql of statements) await tx.exec(sql.replaceAll('{s}', s));
  if (migration.run) await migration.run(tx, engine);
  await tx.exec(`INSERT INTO ${s}.schema_migrations VALUES ($1, $2, $3)`, [migration.version, migration.name, new Date().toISOString()]);
}

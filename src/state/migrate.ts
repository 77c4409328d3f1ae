/**
 * Versioned migrations of the state store, applied automatically on open, in one transaction each,
 * with the applied version recorded in `schema_migrations`. Engines that several processes write at
 * once (`lockTransaction`) apply them all in one transaction under a lock. A new single-writer store
 * (no `schema_migrations` yet) is created by all of them in one transaction too, sent as one script.
 */
import type { Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import * as m001 from './migrations/001_init.js';
import * as m002 from './migrations/002_workers.js';
import * as m003 from './migrations/003_history_by_publish.js';
import * as m004 from './migrations/004_ingest_mapping.js';
import * as m005 from './migrations/005_delivery_keys.js';
import * as m006 from './migrations/006_history_copies.js';
import * as m007 from './migrations/007_read_indexes.js';

interface Migration {
  version: number;
  name: string;
  tables: string[];
  keyed: string[];
  /**
   * Work that depends on what the store holds (e.g. one statement per history table), after `tables`.
   * Not run when a new store is created: it may only transform what an existing store holds.
   */
  run?: (tx: Db, engine: Engine) => Promise<void>;
}

export const MIGRATIONS: Migration[] = [
  { version: 1, ...m001 },
  { version: 2, ...m002 },
  { version: 3, ...m003 },
  { version: 4, ...m004 },
  { version: 5, ...m005 },
  { version: 6, ...m006 },
  { version: 7, ...m007 },
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
  if (applied === null) {
    await createStore(engine);
    return;
  }
  await prepare(engine, engine);
  for (const migration of await pending(engine, engine)) await engine.transaction((tx) => apply(tx, engine, migration));
}

/**
 * A new store: every migration in one transaction, its statements sent as one script (DuckDB runs a
 * multi-statement text given without parameters). One commit and one call instead of eleven commits
 * and ~50 calls: migrate() on a new store takes ~12–18 ms instead of ~30–40 (warm, idle machine).
 * The schema is the same as applying them one by one (test/integration/migrate-new-store.test.ts).
 * `run` is skipped: a store no Tidemark has migrated holds nothing for it to transform. An error is
 * the engine's (it names the object, e.g. a table that already exists) and leaves no half-built store.
 */
async function createStore(engine: Engine): Promise<void> {
  const s = engine.dialect.quote(engine.stateSchema);
  const appliedAt = engine.dialect.stringLiteral(new Date().toISOString());
  // One INSERT for all the versions: DuckDB spends ~0.5 ms on each statement, even this small.
  const versions = MIGRATIONS.map((migration) => `(${migration.version}, ${engine.dialect.stringLiteral(migration.name)}, ${appliedAt})`);
  const script = [
    ...prepareStatements(engine),
    ...MIGRATIONS.flatMap((migration) => migrationStatements(engine, migration)),
    `INSERT INTO ${s}.schema_migrations VALUES ${versions.join(', ')}`,
  ];
  await engine.transaction((tx) => tx.exec(script.join(';\n')));
}

async function prepare(db: Db, engine: Engine): Promise<void> {
  for (const sql of prepareStatements(engine)) await db.exec(sql);
}

/** The schemas and the `schema_migrations` table, created if missing. */
function prepareStatements(engine: Engine): string[] {
  const schemas = [engine.stateSchema, engine.historySchema, engine.stagingSchema, engine.dataSchema];
  return [
    ...schemas.map((schema) => `CREATE SCHEMA IF NOT EXISTS ${engine.dialect.quote(schema)}`),
    `CREATE TABLE IF NOT EXISTS ${engine.dialect.quote(engine.stateSchema)}.schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL)`,
  ];
}

/**
 * The applied schema version (0 for an empty `schema_migrations`), or null when the state store does
 * not exist yet (or cannot be read): no Tidemark has migrated it, so it holds nothing Tidemark wrote.
 */
export async function appliedVersion(engine: Engine): Promise<number | null> {
  try {
    const rows = await engine.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${engine.dialect.quote(engine.stateSchema)}.schema_migrations`);
    return rows[0]?.v ?? 0;
  } catch (error) {
    // A new store (no schema_migrations table): migrate() creates it. A store that exists but could
    // not be read is the engine's error, never a reason to create the store over it.
    if ((await engine.columns(engine.stateSchema, 'schema_migrations')) === null) return null;
    throw error;
  }
}

async function pending(db: Db, engine: Engine): Promise<Migration[]> {
  const applied = await db.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${engine.dialect.quote(engine.stateSchema)}.schema_migrations`);
  const current = applied[0]?.v ?? 0;
  if (current > SCHEMA_VERSION) throw newerStoreError(current);
  return MIGRATIONS.filter((m) => m.version > current);
}

/** A store written by a newer Tidemark: never migrated down, never read with this version's schema. */
export function newerStoreError(current: number): TidemarkError {
  return new TidemarkError('CONFIG', `the state store is at schema version ${current}, newer than this Tidemark (${SCHEMA_VERSION})`, {
    hint: 'upgrade tidemark',
  });
}

async function apply(tx: Db, engine: Engine, migration: Migration): Promise<void> {
  for (const sql of migrationStatements(engine, migration)) await tx.exec(sql);
  if (migration.run) await migration.run(tx, engine);
  const s = engine.dialect.quote(engine.stateSchema);
  await tx.exec(`INSERT INTO ${s}.schema_migrations VALUES ($1, $2, $3)`, [migration.version, migration.name, new Date().toISOString()]);
}

/** A migration's statements for this engine, with `{s}` replaced by the quoted state schema. */
function migrationStatements(engine: Engine, migration: Migration): string[] {
  const s = engine.dialect.quote(engine.stateSchema);
  const statements = engine.capabilities.multiWriter ? [...migration.tables, ...migration.keyed] : migration.tables;
  return statements.map((sql) => sql.replaceAll('{s}', s));
}

// Engines opened straight from a test (no project): DuckDB in memory, or PostgreSQL in schemas of their
// own, dropped afterwards. `closeTestEngines()` in an afterEach closes (and on PostgreSQL drops) them.
import { DuckDbEngine } from '../../src/engines/duckdb/engine.js';
import type { Engine } from '../../src/engines/engine.js';
import { PostgresEngine } from '../../src/engines/postgres/engine.js';
import { migrate } from '../../src/state/migrate.js';
import { freshPgSchemaName } from './pg-schema.js';
import type { TestEngine } from './project.js';

const open: (() => Promise<void>)[] = [];

/** An engine on `target`; with `migrated`, its state store is created too. */
export async function openTestEngine(target: TestEngine, name: string, options: { migrated?: boolean } = {}): Promise<Engine> {
  let engine: Engine;
  if (target.kind === 'duckdb') {
    const duck = await DuckDbEngine.open(':memory:');
    open.push(() => duck.close());
    engine = duck;
  } else {
    const pg = await PostgresEngine.open(target.url, 'tidemark_data', { schemaPrefix: `${freshPgSchemaName(name)}_` });
    open.push(async () => {
      for (const s of [pg.dataSchema, pg.stateSchema, pg.historySchema, pg.stagingSchema]) await pg.exec(`DROP SCHEMA IF EXISTS ${pg.dialect.quote(s)} CASCADE`);
      await pg.close();
    });
    engine = pg;
  }
  if (options.migrated) await migrate(engine);
  return engine;
}

export async function closeTestEngines(): Promise<void> {
  while (open.length) await open.pop()!();
}

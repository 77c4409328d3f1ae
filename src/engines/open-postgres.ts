import type { Engine } from './engine.js';

/** Opens the PostgreSQL engine (loaded lazily so DuckDB-only projects never load pg). */
export async function openPostgresEngine(url: string, schema: string): Promise<Engine> {
  const { PostgresEngine } = await import('./postgres/engine.js');
  return PostgresEngine.open(url, schema);
}

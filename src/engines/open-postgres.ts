import type { Engine } from './engine.js';
import { TidemarkError } from '../errors.js';

/** Opens the PostgreSQL engine (loaded lazily so DuckDB-only projects never load pg). */
export async function openPostgresEngine(url: string, schema: string): Promise<Engine> {
  void url;
  void schema;
  throw new TidemarkError('CONFIG', 'this build of Tidemark has no PostgreSQL engine yet', { hint: 'use engine: { kind: duckdb }' });
}

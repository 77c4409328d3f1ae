/**
 * Many rows as ONE JSON text parameter (Dialect.jsonRows reads it back as a typed relation). DuckDB's
 * driver binds parameters slowly: 1,095 rows × 9 bound values took ~100 ms to insert, the same rows
 * as one JSON text expanded in SQL ~10 ms. One parameter also needs no chunking under PostgreSQL's
 * limit of 65,535 parameters a statement.
 */
import { TidemarkError } from '../errors.js';
import type { JsonColumn, JsonColumnType } from './engine.js';

/**
 * The parameter value of `rows` for Dialect.jsonRows. Integers the drivers return as bigint are
 * written as JSON strings, which both engines read into an INTEGER/BIGINT column; `undefined` fields
 * are left out and so read as NULL.
 */
export function jsonRowsParam(rows: readonly object[]): string {
  return JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/**
 * Column names and aliases of a jsonRows relation are Tidemark's own constants, but they are written
 * into SQL (and, on DuckDB, into a JSON type spec inside a string literal): only plain lowercase
 * names, which both engines read the same quoted or not, and the listed types are accepted.
 */
const PLAIN_NAME = /^[a-z_][a-z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set<JsonColumnType>(['VARCHAR', 'INTEGER', 'BIGINT', 'BOOLEAN', 'DOUBLE']);

export function checkJsonColumns(columns: readonly JsonColumn[], alias: string): void {
  if (!columns.length) throw new TidemarkError('INTERNAL', 'jsonRows: no columns');
  for (const name of [alias, ...columns.map((c) => c.name)]) {
    if (!PLAIN_NAME.test(name)) throw new TidemarkError('INTERNAL', `jsonRows: ${JSON.stringify(name)} is not a plain lowercase SQL name`);
  }
  for (const c of columns) if (!TYPES.has(c.type)) throw new TidemarkError('INTERNAL', `jsonRows: unknown column type ${JSON.stringify(c.type)}`);
}

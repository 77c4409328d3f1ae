/**
 * The DuckDB driver, loaded with `require`. @duckdb/node-api is CommonJS; importing it from ESM makes
 * Node lex every one of its files for named exports, which costs ~80 ms of every CLI start — more than
 * a no-op `run` itself. `require` skips the lexer; the types still come from the package.
 */
import { createRequire } from 'node:module';

type DuckDbApi = typeof import('@duckdb/node-api');

export const duckdb: DuckDbApi = createRequire(import.meta.url)('@duckdb/node-api') as DuckDbApi;

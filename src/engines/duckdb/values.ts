/**
 * Converts DuckDB values to plain JSON-safe JavaScript: integers beyond 2^53 become strings, dates and
 * timestamps become ISO-like text, decimals become numbers when a double holds them exactly and their
 * text otherwise (plain-numbers.ts, as on PostgreSQL).
 */
import { decimalFromText } from '../plain-numbers.js';
import { duckdb } from './driver.js';

const { DuckDBDecimalValue, DuckDBListValue, DuckDBStructValue } = duckdb;

export function toPlain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    case 'object':
      if (value instanceof DuckDBDecimalValue) return decimalFromText(value.toString());
      if (value instanceof DuckDBListValue) return value.items.map(toPlain);
      if (value instanceof DuckDBStructValue) {
        return Object.fromEntries(Object.entries(value.entries).map(([k, v]) => [k, toPlain(v)]));
      }
      return String(value);
    default:
      return value;
  }
}

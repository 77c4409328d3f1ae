/**
 * PostgreSQL column types as Tidemark names them. One mapping serves both `columns()` (a table's
 * columns from pg_attribute) and `describeQuery()` (a result's fields), so a model's output and the
 * table created from it always compare equal. Every name is valid PostgreSQL DDL: staging and live
 * tables are created from these names as they are. Names follow the portable set of config/types.ts
 * where PostgreSQL allows it (BIGINT, VARCHAR, DATE, TIMESTAMP, DECIMAL(p,s)…); DOUBLE is the
 * exception, spelled DOUBLE PRECISION because `DOUBLE` alone is not a PostgreSQL type.
 */
import { OID } from './values.js';

const NAMES = new Map<number, string>([
  [OID.bool, 'BOOLEAN'],
  [OID.int2, 'SMALLINT'],
  [OID.int4, 'INTEGER'],
  [OID.int8, 'BIGINT'],
  [OID.float4, 'REAL'],
  [OID.float8, 'DOUBLE PRECISION'],
  // text, varchar(n), char(n), name and untyped literals are all plain strings to Tidemark.
  [OID.text, 'VARCHAR'],
  [OID.varchar, 'VARCHAR'],
  [OID.bpchar, 'VARCHAR'],
  [OID.name, 'VARCHAR'],
  [OID.unknown, 'VARCHAR'],
  [OID.date, 'DATE'],
  [OID.time, 'TIME'],
  [OID.timestamp, 'TIMESTAMP'],
  [OID.timestamptz, 'TIMESTAMPTZ'],
  [OID.interval, 'INTERVAL'],
  [OID.json, 'JSON'],
  [OID.jsonb, 'JSONB'],
  [OID.uuid, 'UUID'],
  [OID.bytea, 'BYTEA'],
]);

/** The name of a common type, or null when the caller should ask the server (format_type). */
export function knownTypeName(oid: number, typmod: number): string | null {
  if (oid === OID.numeric) {
    if (typmod < 4) return 'NUMERIC';
    const m = typmod - 4;
    return `DECIMAL(${(m >> 16) & 0xffff},${m & 0x7ff})`;
  }
  return NAMES.get(oid) ?? null;
}

/**
 * Column types a source schema may declare. They are a portable subset that both engines
 * understand; engines translate the few names that differ (DOUBLE → DOUBLE PRECISION on Postgres).
 */
const SIMPLE_TYPES = new Map<string, string>([
  ['BIGINT', 'BIGINT'],
  ['INT8', 'BIGINT'],
  ['INTEGER', 'INTEGER'],
  ['INT', 'INTEGER'],
  ['INT4', 'INTEGER'],
  ['SMALLINT', 'SMALLINT'],
  ['DOUBLE', 'DOUBLE'],
  ['DOUBLE PRECISION', 'DOUBLE'],
  ['FLOAT8', 'DOUBLE'],
  ['REAL', 'REAL'],
  ['FLOAT4', 'REAL'],
  ['VARCHAR', 'VARCHAR'],
  ['TEXT', 'VARCHAR'],
  ['STRING', 'VARCHAR'],
  ['BOOLEAN', 'BOOLEAN'],
  ['BOOL', 'BOOLEAN'],
  ['DATE', 'DATE'],
  ['TIMESTAMP', 'TIMESTAMP'],
  ['TIMESTAMPTZ', 'TIMESTAMPTZ'],
  ['TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ'],
]);
const DECIMAL = /^(?:DECIMAL|NUMERIC)\s*\(\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)$/;

/** Canonical type name, or null when the type is not supported. */
export function normalizeType(type: string): string | null {
  const upper = type.trim().toUpperCase().replace(/\s+/g, ' ');
  const simple = SIMPLE_TYPES.get(upper);
  if (simple) return simple;
  const dec = DECIMAL.exec(upper);
  if (dec && +dec[2] <= +dec[1] && +dec[1] <= 38) return `DECIMAL(${dec[1]},${dec[2]})`;
  return null;
}

export const SUPPORTED_TYPES_HINT = 'BIGINT, INTEGER, SMALLINT, DOUBLE, REAL, DECIMAL(p,s), VARCHAR, BOOLEAN, DATE, TIMESTAMP, TIMESTAMPTZ';

export type TypeFamily = 'integer' | 'float' | 'decimal' | 'string' | 'boolean' | 'date' | 'timestamp' | 'other';

export function typeFamily(type: string): TypeFamily {
  const t = type.toUpperCase();
  if (/^(BIGINT|INTEGER|SMALLINT|TINYINT|HUGEINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|INT\d?)$/.test(t)) return 'integer';
  if (/^(DOUBLE|REAL|FLOAT|DOUBLE PRECISION|FLOAT\d)$/.test(t)) return 'float';
  if (/^(DECIMAL|NUMERIC)/.test(t)) return 'decimal';
  if (/^(VARCHAR|TEXT|CHARACTER VARYING|CHAR|BPCHAR)/.test(t)) return 'string';
  if (t === 'BOOLEAN') return 'boolean';
  if (t === 'DATE') return 'date';
  if (t.startsWith('TIMESTAMP')) return 'timestamp';
  return 'other';
}

/** Numeric families whose columns `diff` sums before/after. */
export function isNumericFamily(f: TypeFamily): boolean {
  return f === 'integer' || f === 'float' || f === 'decimal';
}

/** A type as compared across the live table, the config and file shapes: normalised when known, else upper-cased text. */
export function typeName(type: string): string {
  return normalizeType(type) ?? type.trim().toUpperCase();
}

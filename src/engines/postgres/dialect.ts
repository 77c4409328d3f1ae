import type { Dialect } from '../engine.js';
import { checkJsonColumns } from '../json-rows.js';

/** Portable type names (see config/types.ts) that PostgreSQL spells differently. */
const PG_SPELLING = new Map([['DOUBLE', 'DOUBLE PRECISION']]);

export const postgresDialect: Dialect = {
  quote: (id) => `"${id.replace(/"/g, '""')}"`,
  table(schema, name) {
    return `${this.quote(schema)}.${this.quote(name)}`;
  },
  windowLiteral: (value, grain) => (grain === 'hour' ? `TIMESTAMP '${value}'` : `DATE '${value}'`),
  columnType: (type) => PG_SPELLING.get(type.toUpperCase()) ?? type,
  checksum(columns) {
    // 64 bits of each row's md5, summed as numeric: order-independent, and duplicates count (XOR would
    // cancel them). ROW(...)::text is PostgreSQL's canonical text of the row, NULLs included.
    const cols = columns.map((c) => this.quote(c)).join(', ');
    return `CAST(coalesce(sum(('x' || substr(md5(CAST(ROW(${cols}) AS TEXT)), 1, 16))::bit(64)::bigint::numeric), 0) AS VARCHAR)`;
  },
  partitionKey(c, grain) {
    if (grain === 'hour') return `to_char(CAST(${c} AS TIMESTAMP), 'YYYY-MM-DD"T"HH24')`;
    if (grain === 'month') return `to_char(CAST(${c} AS TIMESTAMP), 'YYYY-MM-01')`;
    return `to_char(CAST(${c} AS TIMESTAMP), 'YYYY-MM-DD')`;
  },
  partitionStart(c, grain) {
    if (grain === 'hour') return `date_trunc('hour', CAST(${c} AS TIMESTAMP))`;
    if (grain === 'month') return `CAST(date_trunc('month', CAST(${c} AS DATE)) AS DATE)`;
    return `CAST(${c} AS DATE)`;
  },
  jsonArrayText: (exprs) => `CAST(json_build_array(${exprs.join(', ')}) AS TEXT)`,
  stringLiteral: (value) => `'${value.replace(/'/g, "''")}'`,
  jsonRows(param, columns, alias) {
    checkJsonColumns(columns, alias);
    // json_ (not jsonb_) parses the text once, as it goes, instead of building a jsonb value first.
    const defs = columns.map((c) => `${this.quote(c.name)} ${this.columnType(c.type)}`).join(', ');
    return `json_to_recordset(CAST(${param} AS json)) AS ${alias}(${defs})`;
  },
};

import type { Dialect } from '../engine.js';
import { checkJsonColumns } from '../json-rows.js';

export const duckdbDialect: Dialect = {
  quote: (id) => `"${id.replace(/"/g, '""')}"`,
  table(schema, name) {
    return `${this.quote(schema)}.${this.quote(name)}`;
  },
  windowLiteral: (value, grain) => (grain === 'hour' ? `TIMESTAMP '${value}'` : `DATE '${value}'`),
  columnType: (type) => type,
  checksum(columns) {
    // hash() is DuckDB's 64-bit row hash; summing (as HUGEINT) makes it order-independent while still
    // counting duplicates, which XOR would cancel out.
    const cols = columns.map((c) => this.quote(c)).join(', ');
    return `CAST(coalesce(sum(CAST(hash(${cols}) AS HUGEINT)), 0) AS VARCHAR)`;
  },
  partitionKey(c, grain) {
    if (grain === 'hour') return `strftime(CAST(${c} AS TIMESTAMP), '%Y-%m-%dT%H')`;
    if (grain === 'month') return `strftime(CAST(${c} AS TIMESTAMP), '%Y-%m-01')`;
    // A DATE's text form is its ISO key; this runs per row in staging inserts and checks, and is ~3× cheaper than strftime.
    return `CAST(CAST(${c} AS DATE) AS VARCHAR)`;
  },
  partitionStart(c, grain) {
    if (grain === 'hour') return `date_trunc('hour', CAST(${c} AS TIMESTAMP))`;
    if (grain === 'month') return `CAST(date_trunc('month', CAST(${c} AS DATE)) AS DATE)`;
    return `CAST(${c} AS DATE)`;
  },
  jsonArrayText: (exprs) => `CAST(to_json([${exprs.join(', ')}]) AS VARCHAR)`,
  stringLiteral: (value) => `'${value.replace(/'/g, "''")}'`,
  jsonRows(param, columns, alias) {
    checkJsonColumns(columns, alias);
    // from_json with a struct spec parses the array into a LIST of STRUCTs of those types (missing
    // keys and JSON nulls become NULL); unnest(recursive) makes each struct field a column.
    const spec = JSON.stringify([Object.fromEntries(columns.map((c) => [c.name, c.type]))]);
    return `(SELECT unnest(from_json(${param}, ${this.stringLiteral(spec)}), recursive := true)) AS ${alias}`;
  },
};

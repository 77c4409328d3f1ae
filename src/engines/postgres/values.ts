/**
 * How PostgreSQL values come back to Tidemark: plain JSON-safe JavaScript, the same shapes DuckDB's
 * toPlain gives, so code above the engine seam never sees a driver type. Integers beyond 2^53 and
 * numerics that a double cannot hold exactly stay text; dates and timestamps stay ISO-like text
 * (the session runs in UTC, see engine.ts), never JS Date objects that would shift with the local zone.
 *
 * These parsers are handed to the pool (its `types` option), not installed globally with
 * pg.types.setTypeParser, so other pg users in the same process are not affected.
 */
import pg from 'pg';
import { decimalFromText, integerFromText } from '../plain-numbers.js';

/** PostgreSQL type OIDs (pg_type.oid) that Tidemark reads specially. */
export const OID = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const keepText = (text: string): string => text;

const parsers = new Map<number, (text: string) => unknown>([
  [OID.int8, integerFromText],
  [OID.numeric, decimalFromText],
  [OID.date, keepText],
  [OID.timestamp, keepText],
  [OID.timestamptz, keepText],
]);

/** The pool's `types` option: Tidemark's text parsers first, pg's defaults for everything else. */
export const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if ((format ?? 'text') === 'text') {
      const parse = parsers.get(oid);
      if (parse) return parse;
    }
    return pg.types.getTypeParser(oid, (format ?? 'text') as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

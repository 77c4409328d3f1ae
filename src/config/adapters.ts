/**
 * Static checks of a source's schema history, at config load (no engine yet): version numbers are
 * unique, adapters name current columns and read only the old version's columns, and every current
 * column is covered by a same-named old column or an adapter. Whether an adapter's result can be cast
 * to the current type needs the engine; execute/schema-adapt.ts checks that before any file is read.
 */
import { TidemarkError } from '../errors.js';
import type { ColumnSpec } from './project.js';

export interface HistoryEntry {
  version: number;
  columns: ColumnSpec[];
  adapt: Record<string, string>;
}

// Words an adapter may use that are not column names: SQL keywords, type names (CAST(x AS BIGINT)),
// date parts (EXTRACT(year FROM d)). Function names are recognised by the `(` that follows them.
const NOT_COLUMNS = new Set(
  (
    'as and or not is null true false case when then else end in like ilike between distinct from cast try_cast interval ' +
    'bigint integer int int2 int4 int8 smallint tinyint hugeint double precision real float float4 float8 decimal numeric ' +
    'varchar text string char character varying boolean bool date time timestamp timestamptz with without zone uuid json ' +
    'year years month months day days hour hours minute minutes second seconds millisecond milliseconds epoch dow doy week quarter'
  ).split(' '),
);

const TOKEN = /\s+|'(?:[^']|'')*'|"((?:[^"]|"")*)"|[0-9][0-9A-Za-z_.]*|([A-Za-z_][A-Za-z0-9_$]*)|::|./gy;

/** Column names an SQL expression reads (best effort: quoted names, bare words that are not keywords or functions). */
export function referencedColumns(expr: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let afterCastOp = false;
  for (let m = TOKEN.exec(expr); m; m = TOKEN.exec(expr)) {
    const token = m[0];
    if (/^\s+$/.test(token)) continue;
    const quoted = m[1];
    const word = m[2];
    if (token === '::') {
      afterCastOp = true;
      continue;
    }
    if (afterCastOp) {
      afterCastOp = false;
      if (word) continue; // x::BIGINT names a type
    }
    if (quoted !== undefined) out.push(quoted.replace(/""/g, '"'));
    else if (word) {
      const next = expr.slice(TOKEN.lastIndex).trimStart();
      if (next.startsWith('(') || NOT_COLUMNS.has(word.toLowerCase())) continue;
      out.push(word);
    }
  }
  return out;
}

/**
 * Throws a CONFIG error naming the YAML path (`datasets.orders.schema.history[0].adapt.amount_cents: …`);
 * `where` turns the path into the message's prefix (the file and the path's line).
 */
export function checkSchemaHistory(where: (path: string) => string, dataset: string, current: ColumnSpec[], history: HistoryEntry[]): void {
  const fail = (at: string, message: string, hint?: string) => {
    throw new TidemarkError('CONFIG', `${where(`datasets.${dataset}.schema.${at}`)}: ${message}`, { hint });
  };
  const seen = new Map<number, number>();
  const currentNames = new Map(current.map((c) => [c.name.toLowerCase(), c]));
  history.forEach((h, i) => {
    const at = `history[${i}]`;
    if (seen.has(h.version)) fail(`${at}.version`, `version ${h.version} is declared twice (also history[${seen.get(h.version)}])`);
    seen.set(h.version, i);
    const old = new Map(h.columns.map((c) => [c.name.toLowerCase(), c]));
    for (const [target, expr] of Object.entries(h.adapt)) {
      if (!currentNames.has(target.toLowerCase())) {
        fail(`${at}.adapt.${target}`, `'${target}' is not a column of schema.current`, `adapt maps current columns (${current.map((c) => c.name).join(', ')}) to expressions over version ${h.version}'s columns`);
      }
      for (const ref of referencedColumns(expr)) {
        if (!old.has(ref.toLowerCase())) {
          fail(`${at}.adapt.${target}`, `'${expr}' reads '${ref}', which is not a column of version ${h.version}`, `version ${h.version} has: ${h.columns.map((c) => c.name).join(', ')}; use a column, a constant such as 'USD', or a function of them`);
        }
      }
    }
    for (const c of current) {
      const adapted = Object.keys(h.adapt).some((k) => k.toLowerCase() === c.name.toLowerCase());
      if (!adapted && !old.has(c.name.toLowerCase())) {
        fail(`${at}.adapt`, `current column '${c.name}' is neither a column of version ${h.version} nor adapted`, `add ${c.name}: <expression over ${h.columns.map((x) => x.name).join(', ')}, or a constant> to adapt`);
      }
    }
  });
}

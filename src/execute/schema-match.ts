/**
 * Which declared schema version a file's shape belongs to — pure, no engine. A source has its current
 * schema (version = highest history version + 1) and older versions under schema.history; a file is
 * matched newest first, by column names and, where the format has types (Parquet, NDJSON), by types.
 * A file that matches nothing gets a column-level difference against the closest version and a
 * suggested history entry to paste into tidemark.yaml.
 */
import type { ColumnSpec, SourceSpec } from '../config/project.js';
import { normalizeType, typeFamily, type TypeFamily } from '../config/types.js';
import type { ColumnInfo } from '../engines/engine.js';

export interface SchemaVersion {
  version: number;
  /** The file columns of this version (for the current version, the current columns). */
  columns: ColumnSpec[];
  /** current column → SQL over this version's columns; a current column absent here is read by name. */
  adapt: Record<string, string>;
  current: boolean;
  /** YAML path of the history entry, for config errors. */
  at: string;
}

/** A file's columns as read: CSV has only names (every column reads as text), so `typed` is false. */
export interface FileShape {
  columns: ColumnInfo[];
  typed: boolean;
}

export interface ShapeDiff {
  version: number;
  missing: ColumnSpec[];
  extra: ColumnInfo[];
  mistyped: { name: string; expected: string; found: string }[];
}

export type ShapeMatch =
  | { kind: 'match'; version: SchemaVersion }
  /** Several versions fit by name alone (CSV): the caller decides by trying to cast, newest first. */
  | { kind: 'ambiguous'; candidates: SchemaVersion[] }
  | { kind: 'none'; closest: ShapeDiff; suggestion: string; suggestionInline: string };

export function currentVersionNumber(ds: SourceSpec): number {
  return Math.max(0, ...ds.history.map((h) => h.version)) + 1;
}

/** Every version of a source, newest (current) first. */
export function schemaVersions(ds: SourceSpec): SchemaVersion[] {
  const current: SchemaVersion = { version: currentVersionNumber(ds), columns: ds.columns, adapt: {}, current: true, at: `datasets.${ds.name}.schema.current` };
  const history = [...ds.history]
    .sort((a, b) => b.version - a.version)
    .map((h) => ({ version: h.version, columns: h.columns, adapt: h.adapt, current: false, at: h.at ?? `datasets.${ds.name}.schema.history (version ${h.version})` }));
  return [current, ...history];
}

/**
 * How a file column's type fits a declared one: `exact`; `castable` without loss (a narrower integer,
 * an integer into a decimal, any text column of an untyped format); or `mistyped`.
 */
export type TypeFit = 'exact' | 'castable' | 'mistyped';

export function typeFit(found: string, declared: string, typed: boolean): TypeFit {
  if (!typed) return 'castable';
  const f = normalizeType(found) ?? found.toUpperCase();
  const d = normalizeType(declared) ?? declared.toUpperCase();
  if (f === d) return 'exact';
  const ff = typeFamily(f);
  const df = typeFamily(d);
  if (ff === df && ff !== 'other') return 'castable';
  if (ff === 'integer' && (df === 'decimal' || df === 'float')) return 'castable';
  if (ff === 'date' && df === 'timestamp') return 'castable';
  return 'mistyped';
}

/**
 * Whether the engine can cast a value of type `from` to `to` at all (values may still fail, e.g. text
 * that is not a date). Used for adapter results: an adapter producing a DATE for a BIGINT column is a
 * config error. `NULL` (an untyped constant) casts to anything.
 */
export function canCast(from: string, to: string): boolean {
  const f = typeFamily(from);
  const t = typeFamily(to);
  if (from.toUpperCase() === 'NULL' || f === t || f === 'string' || t === 'string') return true;
  const numeric: TypeFamily[] = ['integer', 'float', 'decimal'];
  if (numeric.includes(t)) return numeric.includes(f) || f === 'boolean';
  if (t === 'boolean') return f === 'integer';
  if (t === 'date' || t === 'timestamp') return f === 'date' || f === 'timestamp';
  return false;
}

const lower = (s: string) => s.toLowerCase();

export function diffShape(shape: FileShape, version: SchemaVersion): ShapeDiff {
  const byName = new Map(shape.columns.map((c) => [lower(c.name), c]));
  const declared = new Set(version.columns.map((c) => lower(c.name)));
  const missing = version.columns.filter((c) => !byName.has(lower(c.name)));
  const extra = shape.columns.filter((c) => !declared.has(lower(c.name)));
  const mistyped = version.columns.flatMap((c) => {
    const found = byName.get(lower(c.name));
    return found && typeFit(found.type, c.type, shape.typed) === 'mistyped' ? [{ name: c.name, expected: c.type, found: found.type }] : [];
  });
  return { version: version.version, missing, extra, mistyped };
}

const fits = (d: ShapeDiff) => !d.missing.length && !d.extra.length && !d.mistyped.length;
const distance = (d: ShapeDiff) => d.missing.length + d.extra.length + d.mistyped.length;

/**
 * Matches a shape to a version. Typed files: the newest version whose types all match exactly, else
 * the newest that fits with lossless casts. Untyped files (CSV): the only version with these names,
 * or `ambiguous` when several have them.
 */
export function matchShape(shape: FileShape, versions: SchemaVersion[]): ShapeMatch {
  const diffs = versions.map((v) => ({ v, d: diffShape(shape, v) }));
  const fitting = diffs.filter((x) => fits(x.d)).map((x) => x.v);
  if (fitting.length === 1) return { kind: 'match', version: fitting[0] };
  if (fitting.length > 1) {
    if (!shape.typed) return { kind: 'ambiguous', candidates: fitting };
    const exact = fitting.find((v) => v.columns.every((c) => typeFit(shape.columns.find((x) => lower(x.name) === lower(c.name))!.type, c.type, true) === 'exact'));
    return { kind: 'match', version: exact ?? fitting[0] };
  }
  // Closest: fewest differences; on a tie, the newer version (versions come newest first).
  const closest = diffs.reduce((best, x) => (distance(x.d) < distance(best.d) ? x : best)).d;
  return { kind: 'none', closest, suggestion: suggestHistoryEntry(shape, versions), suggestionInline: suggestHistoryEntryInline(shape, versions) };
}

/** The version `forced` (--schema-version), checked against the shape; a diff when it does not fit. */
export function forceVersion(shape: FileShape, versions: SchemaVersion[], forced: number): { version: SchemaVersion; diff: ShapeDiff | null } | null {
  const version = versions.find((v) => v.version === forced);
  if (!version) return null;
  const diff = diffShape(shape, version);
  return { version, diff: fits(diff) ? null : diff };
}

export function describeDiff(d: ShapeDiff): string {
  const parts: string[] = [];
  if (d.missing.length) parts.push(`missing ${d.missing.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  if (d.extra.length) parts.push(`extra ${d.extra.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  if (d.mistyped.length) parts.push(`mistyped ${d.mistyped.map((c) => `${c.name} (${c.found}, expected ${c.expected})`).join(', ')}`);
  return parts.join('; ');
}

/** A history entry that would accept a file's shape (see suggestHistoryEntry). */
export interface SuggestedEntry {
  version: number;
  columns: ColumnSpec[];
  adapt: [string, string][];
  /** Current columns no file column gives: their adapter is a typed NULL to replace with a default. */
  todo: string[];
}

/**
 * A history entry that would accept this shape: its columns as found, and an adapter for each current
 * column the file does not carry as is: a likely rename (an unclaimed file column with a similar name
 * and a usable type), a cast, or a typed NULL to replace with a default.
 */
export function suggestEntry(shape: FileShape, versions: SchemaVersion[]): SuggestedEntry {
  const current = versions.find((v) => v.current)!;
  const fileType = (c: ColumnInfo) => (shape.typed ? (normalizeType(c.type) ?? c.type) : (current.columns.find((x) => lower(x.name) === lower(c.name))?.type ?? 'VARCHAR'));
  // A file column of another type that the engine casts to the current one is adapted by name: ingest
  // casts an adapter's result itself and refuses a value with a fraction for an integer column, where
  // an explicit CAST(… AS BIGINT) in the adapter means "round" (DuckDB makes '12.5' 13) and would load
  // a file of dollars into a column of cents without a word. Only a cast the engine cannot do is spelt
  // out, for the user to replace with an expression.
  const convert = (x: ColumnInfo, type: string) => (canCast(fileType(x), type) ? x.name : `CAST(${x.name} AS ${type})`);
  const claimed = new Set(current.columns.map((c) => lower(c.name)));
  const unclaimed = shape.columns.filter((c) => !claimed.has(lower(c.name)));
  const adapt: [string, string][] = [];
  const todo: string[] = [];
  const declared = new Map<string, string>();
  for (const c of current.columns) {
    const same = shape.columns.find((x) => lower(x.name) === lower(c.name));
    if (same) {
      if (typeFit(same.type, c.type, shape.typed) === 'mistyped') adapt.push([c.name, convert(same, c.type)]);
      continue;
    }
    const rename = unclaimed
      .filter((x) => canCast(fileType(x), c.type))
      .map((x) => ({ x, score: similarity(x.name, c.name) }))
      .filter((s) => s.score >= 0.5)
      .sort((a, b) => b.score - a.score)[0]?.x;
    if (rename) {
      unclaimed.splice(unclaimed.indexOf(rename), 1);
      if (!shape.typed) {
        // A CSV column is text until declared: declare it as the column it becomes, so ingest reads it
        // through its own checked cast (a fraction in an integer column is refused), not through an
        // adapter's CAST of the text, which DuckDB rounds ('12.34' → 12): a file of dollars would
        // load into a column of cents without a word.
        declared.set(rename.name, c.type);
        adapt.push([c.name, rename.name]);
      } else adapt.push([c.name, rename.name]); // a rename is only suggested when its type casts (canCast above): by name, as convert says
    } else {
      adapt.push([c.name, `CAST(NULL AS ${c.type})`]);
      todo.push(c.name);
    }
  }
  const version = Math.max(...versions.map((v) => v.version)) + 1;
  return { version, columns: shape.columns.map((c) => ({ name: c.name, type: declared.get(c.name) ?? fileType(c) })), adapt, todo };
}

const flowColumns = (columns: ColumnSpec[]) => `{ ${columns.map((c) => `${c.name}: ${c.type}`).join(', ')} }`;

/** The suggestion as a YAML block to paste under schema.history, with TODO comments. */
export function suggestHistoryEntry(shape: FileShape, versions: SchemaVersion[]): string {
  const e = suggestEntry(shape, versions);
  const lines = [`- version: ${e.version}  # any unused number; files are matched by shape, newest version first`, `  columns: ${flowColumns(e.columns)}`];
  if (!e.adapt.length) lines.push('  adapt: {}');
  else {
    lines.push('  adapt:');
    for (const [col, sql] of e.adapt) {
      lines.push(`    ${col}: ${JSON.stringify(sql)}${e.todo.includes(col) ? `  # TODO: no column of the file gives ${col}; put a default or an expression` : ''}`);
    }
  }
  return lines.join('\n');
}

/** The same suggestion on one line (YAML flow style), for an error hint. */
export function suggestHistoryEntryInline(shape: FileShape, versions: SchemaVersion[]): string {
  const e = suggestEntry(shape, versions);
  return `- { version: ${e.version}, columns: ${flowColumns(e.columns)}, adapt: { ${e.adapt.map(([c, sql]) => `${c}: ${JSON.stringify(sql)}`).join(', ')} } }`;
}

/** 0..1: how alike two column names are (shared prefix or containment, e.g. customer → customer_id). */
export function similarity(a: string, b: string): number {
  const x = lower(a);
  const y = lower(b);
  if (x === y) return 1;
  const shorter = Math.min(x.length, y.length);
  if (shorter >= 3 && (x.includes(y) || y.includes(x))) return 0.5 + shorter / (2 * Math.max(x.length, y.length));
  let prefix = 0;
  while (prefix < shorter && x[prefix] === y[prefix]) prefix++;
  return prefix >= 3 ? prefix / Math.max(x.length, y.length) + 0.25 : 0;
}

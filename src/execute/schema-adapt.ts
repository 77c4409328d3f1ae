/**
 * Schema evolution in the engine: reading a file's shape, the SELECT that turns a file of any declared
 * version into the current schema (old columns cast to their declared types, then the adapters, then
 * a cast to the current types — all in SQL, never row by row in JavaScript), the engine-side check that
 * every adapter can produce its column's type, and a trial cast that counts the rows that would fail.
 */
import type { SourceSpec } from '../config/project.js';
import { typeFamily } from '../config/types.js';
import type { ColumnInfo, Db, Engine, FileFormat, FileLayout } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { canCast, describeDiff, forceVersion, matchShape, schemaVersions, type FileShape, type SchemaVersion } from './schema-match.js';
import { readCsvHeader } from '../io/csv-header.js';
import type { DataFileLayout } from '../io/data-file-layout.js';
export { readCsvHeader };

export interface ShapedFile {
  absolute: string;
  format: FileFormat;
  /** gzip and the CSV delimiter, as the engine reads the file. */
  layout: FileLayout;
  shape: FileShape;
  /** CSV column names from the first line (the engine then reads every column as text). */
  header?: string[];
}


/**
 * A file's columns: CSV names from its header (no types); Parquet/NDJSON names and types from the
 * engine. `source` names the source in a refusal's hint (a CSV of another delimiter).
 */
export async function readShape(engine: Engine, absolute: string, fileLayout: DataFileLayout, label: string, source?: string): Promise<ShapedFile> {
  const { format } = fileLayout;
  const layout: FileLayout = { gzip: fileLayout.gzip, delimiter: fileLayout.delimiter };
  try {
    if (format === 'csv') {
      const header = await readCsvHeader(absolute, fileLayout, { label, source });
      return { absolute, format, layout, header, shape: { typed: false, columns: header.map((name) => ({ name, type: 'VARCHAR' })) } };
    }
    const columns = await engine.describeQuery(engine, engine.readFileSql(absolute, format, undefined, layout));
    // An engine that loads files as text (Postgres) can only match them by name, like a CSV.
    return { absolute, format, layout, shape: { typed: engine.capabilities.typedFiles, columns } };
  } catch (error) {
    // readCsvHeader's own refusals (another delimiter, UTF-16) already say what to do.
    if (error instanceof TidemarkError && error.code === 'BAD_INPUT') throw error;
    throw new TidemarkError('BAD_INPUT', `cannot read ${label} as ${format}: ${(error as Error).message}`, {
      hint: `check that ${label} is a complete ${fileLayout.gzip ? 'gzip-compressed ' : ''}${format === 'ndjson' ? 'NDJSON (one JSON object per line)' : format === 'parquet' ? 'Parquet' : 'CSV'} file (not cut short by a copy or download), fix it and ingest again; nothing was loaded`,
    });
  }
}

const lower = (s: string) => s.toLowerCase();

/** The expression giving current column `name` in `version`: its adapter, else the same-named old column. */
function adapterOf(engine: Engine, version: SchemaVersion, name: string): string {
  const key = Object.keys(version.adapt).find((k) => lower(k) === lower(name));
  return key ? version.adapt[key] : engine.dialect.quote(name);
}

/** The file column a declared column reads (names match case-insensitively, as in SQL). */
function fileColumn(file: ShapedFile, name: string): string {
  return file.shape.columns.find((c) => lower(c.name) === lower(name))?.name ?? name;
}

/** SELECT of the file's rows in the current schema, read as `version`. */
export function adaptedSelect(engine: Engine, ds: SourceSpec, version: SchemaVersion, file: ShapedFile): string {
  const d = engine.dialect;
  if (version.current) return `SELECT ${ds.columns.map((c) => `${fileValueCast(engine, file, c)} AS ${d.quote(c.name)}`).join(', ')} ${fileRead(engine, file)}`;
  return `SELECT ${ds.columns.map((c) => `${adaptedValueCast(engine, version, c)} AS ${d.quote(c.name)}`).join(', ')} FROM (${adapterResults(engine, ds, version, file)}) a`;
}

function fileRead(engine: Engine, file: ShapedFile): string {
  return `FROM (${engine.readFileSql(file.absolute, file.format, file.header, file.layout)}) src`;
}

/**
 * The adapters' results over the file's rows read as an old `version`, each named as its current
 * column, before their cast to the current types. Old columns get their declared types first, so
 * adapters see numbers and dates even in a CSV.
 */
function adapterResults(engine: Engine, ds: SourceSpec, version: SchemaVersion, file: ShapedFile): string {
  const d = engine.dialect;
  const old = `SELECT ${version.columns.map((c) => `${fileValueCast(engine, file, c)} AS ${d.quote(c.name)}`).join(', ')} ${fileRead(engine, file)}`;
  return `SELECT ${ds.columns.map((c) => `(${adapterOf(engine, version, c.name)}) AS ${d.quote(c.name)}`).join(', ')} FROM (${old}) old`;
}

/**
 * An adapter's result (column `c.name` of adapterResults) cast to the current type. The cast is
 * implicit, so it must not round either: an adapter giving text, a float or a decimal into an integer
 * column (`amount_cents: amount` over a DOUBLE amount, or over text '12.5') would otherwise load 13
 * without a word on DuckDB (and PostgreSQL rounds a float too). A value with a fraction becomes the
 * same kind of failing cast as fileValueCast's, whose marker names the version, so the ingest fails
 * naming the column, the value and the adapter to change. An adapter that already gives an integer
 * (it rounds or casts itself: the user's choice) is cast as it is.
 */
function adaptedValueCast(engine: Engine, version: SchemaVersion, c: { name: string; type: string }): string {
  const d = engine.dialect;
  const value = d.quote(c.name);
  const target = d.columnType(c.type);
  if (!guardsFraction(engine, version, c)) return `CAST(${value} AS ${target})`;
  // Both engines evaluate a CASE's THEN only for the rows that take it (neither folds it: it reads a column).
  // PostgreSQL casts text such as '12.0' to an integer only by way of a number, as DuckDB loads it.
  const whole = engine.kind === 'postgres' ? `CAST(CAST(${value} AS NUMERIC) AS ${target})` : `CAST(${value} AS ${target})`;
  return `CASE WHEN ${hasFraction(engine, value, 'CAST')} THEN CAST(${d.stringLiteral(fractionMarker(c.name, version))} || CAST(${value} AS ${d.columnType('VARCHAR')}) AS ${target}) ELSE ${whole} END`;
}

/** Whether the adapter of `c` in an old `version` is cast to an integer column from a type that can hold a fraction. */
function guardsFraction(engine: Engine, version: SchemaVersion, c: { name: string; type: string }): boolean {
  if (typeFamily(c.type) !== 'integer') return false;
  // Described by checkAdapters, which runs before any file is read; when it is unknown, the guard costs a comparison and changes no value.
  const type = adapterTypes(engine).get(adapterKey(engine, version, c.name));
  return type === undefined || ['string', 'float', 'decimal'].includes(typeFamily(type));
}

/** SQL true when `value` (a number, or text of one) has a fraction; `cast` is TRY_CAST where a failure must count instead of raising. */
function hasFraction(engine: Engine, value: string, cast: 'CAST' | 'TRY_CAST'): string {
  const double = `${cast}(${value} AS ${engine.dialect.columnType('DOUBLE')})`;
  return `${double} <> floor(${double})`;
}

/**
 * The start of the text a fraction guard casts to an integer, which no engine can: its error then
 * holds the column and the value, read back by integerFraction. An adapter's result names its version.
 */
function fractionMarker(column: string, version?: SchemaVersion): string {
  return `${column}${version ? ` (adapted from version ${version.version})` : ''} is not an integer: `;
}

export interface IntegerFraction {
  column: string;
  value: string;
  /** The schema version whose adapter gave the value; absent when the file's own value has the fraction. */
  version?: number;
}

/**
 * The fraction guard's failure (fileValueCast, adaptedValueCast) in an engine's error message, as
 * DuckDB (`Could not convert string '…' to INT64`) and PostgreSQL (`invalid input syntax for type
 * bigint: "…"`) report the cast of its marker text; null for any other error.
 */
export function integerFraction(message: string): IntegerFraction | null {
  const marker = /(\w+)(?: \(adapted from version (\d+)\))? is not an integer: /.source;
  const m = new RegExp(`Could not convert string '${marker}(.*)' to \\w+`).exec(message) ?? new RegExp(`invalid input syntax for type \\w+: "${marker}(.*)"`).exec(message);
  if (!m) return null;
  const [, column, version, value] = m;
  return { column, value, ...(version !== undefined ? { version: Number(version) } : {}) };
}

/**
 * A file column cast to its declared type. A text value read into an integer column must not lose a
 * fraction: DuckDB casts the text '12.5' to 13, which would load a file of dollars into a column of
 * cents without a word (`schema check` refuses such a file; ingest must too). A value whose integer
 * differs from its number becomes a text no engine casts to an integer, so the load fails naming it
 * and nothing is written. A whole number written with a fraction part ('12.0') loses nothing and
 * loads as 12 on both engines.
 */
function fileValueCast(engine: Engine, file: ShapedFile, c: { name: string; type: string }): string {
  const d = engine.dialect;
  const raw = d.quote(fileColumn(file, c.name));
  const target = d.columnType(c.type);
  if (file.shape.typed || typeFamily(c.type) !== 'integer') return `CAST(${raw} AS ${target})`;
  const marker = d.stringLiteral(fractionMarker(c.name));
  if (engine.kind === 'postgres') {
    // PostgreSQL refuses any text with a point as an integer, in words that name no column ('invalid
    // input syntax for type bigint: "12.5"'), and would refuse '12.0' that DuckDB loads: such text is
    // read as a number first, only when it has a point, so integer text keeps the one plain cast.
    const number = `CAST(${raw} AS NUMERIC)`;
    return `CASE WHEN strpos(${raw}, '.') = 0 THEN CAST(${raw} AS ${target}) WHEN ${number} <> trunc(${number}) THEN CAST(${marker} || ${raw} AS ${target}) ELSE CAST(${number} AS ${target}) END`;
  }
  const text = d.columnType('VARCHAR');
  return `CAST(CASE WHEN CAST(${raw} AS ${target}) <> CAST(${raw} AS ${d.columnType('DOUBLE')}) THEN ${marker} || CAST(${raw} AS ${text}) ELSE CAST(${raw} AS ${text}) END AS ${target})`;
}

const checked = new WeakMap<Engine, Set<string>>();

/** The type each adapter gives, as checkAdapters described it, by adapterKey; per engine (the type names are the engine's). */
const described = new WeakMap<Engine, Map<string, string>>();

function adapterTypes(engine: Engine): Map<string, string> {
  let types = described.get(engine);
  if (!types) described.set(engine, (types = new Map()));
  return types;
}

/** What an adapter's type depends on: its expression and the declared types of the columns it reads. */
function adapterKey(engine: Engine, version: SchemaVersion, name: string): string {
  return JSON.stringify([version.columns.map((c) => [c.name, c.type]), adapterOf(engine, version, name)]);
}

/**
 * Every adapter of `ds` binds in the engine and yields a type castable to its current column: checked
 * on typed NULL rows of each old version, so nothing is read. A failure is a config error naming the
 * YAML path of the column. Checked once per engine and config; the type each adapter gives is kept
 * for adaptedSelect (its fraction guard). `db` runs each statement on its own
 * (the engine, not a transaction): a first attempt that fails is followed by others, which a failed
 * statement in a PostgreSQL transaction would refuse.
 */
export async function checkAdapters(engine: Engine, db: Db, ds: SourceSpec, configHash: string): Promise<void> {
  const done = checked.get(engine) ?? new Set<string>();
  checked.set(engine, done);
  if (done.has(`${configHash}\0${ds.name}`)) return;
  const d = engine.dialect;
  for (const version of schemaVersions(ds).filter((v) => !v.current)) {
    const nulls = `SELECT ${version.columns.map((c) => `CAST(NULL AS ${d.columnType(c.type)}) AS ${d.quote(c.name)}`).join(', ')}`;
    // Every adapter in one statement (a statement per column costs ~1 ms each, more while the files
    // are hashed); only when that fails, one per column, to name the one that does not run.
    const together = await engine
      .describeQuery(db, `SELECT ${ds.columns.map((c) => `(${adapterOf(engine, version, c.name)}) AS ${d.quote(c.name)}`).join(', ')} FROM (${nulls}) old`)
      .catch(() => null);
    for (const [i, c] of ds.columns.entries()) {
      const adapted = Object.keys(version.adapt).some((k) => lower(k) === lower(c.name));
      const at = adapted ? `${version.at}.adapt.${c.name}` : `${version.at}.columns.${c.name}`;
      const expr = adapterOf(engine, version, c.name);
      let type: string;
      try {
        [{ type }] = together ? [together[i]] : await engine.describeQuery(db, `SELECT (${expr}) AS ${d.quote(c.name)} FROM (${nulls}) old`);
      } catch (error) {
        throw new TidemarkError('CONFIG', `tidemark.yaml: ${at}: '${expr}' does not run on version ${version.version}'s columns: ${(error as Error).message}`, {
          hint: `adapters are SQL over ${version.columns.map((x) => `${x.name} ${x.type}`).join(', ')}`,
        });
      }
      adapterTypes(engine).set(adapterKey(engine, version, c.name), type);
      // A bare NULL describes as INTEGER: it casts to anything.
      if (canCast(type, c.type) || /^\s*null\s*$/i.test(expr)) continue;
      // Without an adapter the column is read by name: the declared old type is what is wrong (or an adapter is missing).
      if (!adapted) {
        throw new TidemarkError('CONFIG', `tidemark.yaml: ${at}: version ${version.version} declares ${c.name} ${type}, which cannot become the current ${c.name} ${c.type}`, {
          hint: `fix its type in version ${version.version}'s columns, or add an adapter: adapt: { ${c.name}: "SQL over version ${version.version}'s columns giving ${c.type}" }`,
        });
      }
      throw new TidemarkError('CONFIG', `tidemark.yaml: ${at}: '${expr}' gives ${type}, which cannot become ${c.name} ${c.type}`, {
        hint: `make the expression produce ${c.type}, e.g. CAST(… AS ${c.type}), or a value that casts to it`,
      });
    }
  }
  done.add(`${configHash}\0${ds.name}`);
}

export interface CastFailure {
  column: string;
  /** `read`: the file's value does not cast to the version's declared type; `adapt`: the adapter's result does not cast to the current type. */
  stage: 'read' | 'adapt';
  type: string;
  rows: number;
}

export interface TrialCast {
  rows: number;
  failures: CastFailure[];
  /** Set when the rows could not be cast at all (an adapter raised an error, or the engine has no TRY_CAST and a cast failed). */
  error?: string;
}

/**
 * Reads every row of the file as `version` and counts, per column, the values that would fail to cast
 * — without writing. Uses TRY_CAST; an engine without it gets an all-or-nothing cast instead.
 */
export async function trialCast(engine: Engine, ds: SourceSpec, version: SchemaVersion, file: ShapedFile): Promise<TrialCast> {
  const d = engine.dialect;
  const inner = version.columns
    .map((c, i) => {
      const raw = d.quote(fileColumn(file, c.name));
      const cast = `TRY_CAST(${raw} AS ${d.columnType(c.type)})`;
      // Text or a float read as an integer must not lose a fraction ('2.5' casts to 3): that is how a
      // CSV of dollars tells itself apart from one of cents.
      const foundType = file.shape.columns.find((x) => lower(x.name) === lower(c.name))?.type ?? 'VARCHAR';
      const lossy = typeFamily(c.type) === 'integer' && ['string', 'float', 'decimal'].includes(typeFamily(foundType)) ? ` OR TRY_CAST(${raw} AS DOUBLE) <> ${cast}` : '';
      return `${cast} AS ${d.quote(c.name)}, (${raw} IS NOT NULL AND (${cast} IS NULL${lossy})) AS "_tm_f${i}"`;
    })
    .join(', ');
  const outputs = version.current ? [] : ds.columns;
  const middle = `SELECT *${outputs.map((c, j) => `, (${adapterOf(engine, version, c.name)}) AS "_tm_o${j}"`).join('')} FROM (SELECT ${inner} ${fileRead(engine, file)}) old`;
  // An adapter's result fails as its cast does in the ingest: when it does not cast, or loses a fraction (adaptedValueCast).
  const outFails = (c: { name: string; type: string }, j: number) =>
    `"_tm_o${j}" IS NOT NULL AND (TRY_CAST("_tm_o${j}" AS ${d.columnType(c.type)}) IS NULL${guardsFraction(engine, version, c) ? ` OR ${hasFraction(engine, `"_tm_o${j}"`, 'TRY_CAST')}` : ''})`;
  const counts = [
    'count(*) AS n',
    ...version.columns.map((c, i) => `count(*) FILTER (WHERE "_tm_f${i}") AS "_tm_in${i}"`),
    ...outputs.map((c, j) => `count(*) FILTER (WHERE ${outFails(c, j)}) AS "_tm_out${j}"`),
  ];
  try {
    const [r] = await engine.query<Record<string, unknown>>(`SELECT ${counts.join(', ')} FROM (${middle}) m`);
    const failures: CastFailure[] = [
      ...version.columns.map((c, i) => ({ column: c.name, stage: 'read' as const, type: c.type, rows: Number(r[`_tm_in${i}`]) })),
      ...outputs.map((c, j) => ({ column: c.name, stage: 'adapt' as const, type: c.type, rows: Number(r[`_tm_out${j}`]) })),
    ].filter((f) => f.rows > 0);
    return { rows: Number(r.n), failures };
  } catch (trialError) {
    try {
      return await castAll(engine, ds, version, file);
    } catch (error) {
      return { rows: 0, failures: [], error: (error as Error).message || (trialError as Error).message };
    }
  }
}

/**
 * The trial of an engine without TRY_CAST: every row cast as the ingest casts it, all or nothing —
 * except the adapters' results with a fraction, which are counted (a comparison that cannot fail)
 * rather than cast, so that they are reported per column on every engine.
 */
async function castAll(engine: Engine, ds: SourceSpec, version: SchemaVersion, file: ShapedFile): Promise<TrialCast> {
  const d = engine.dialect;
  // count(column) of every column, not count(*) alone: a planner (PostgreSQL's) drops the columns
  // a bare count(*) does not read, and with them the casts that must fail here as in the ingest.
  if (version.current) {
    const every = ds.columns.map((c, i) => `count(${d.quote(c.name)}) AS "_tm_c${i}"`).join(', ');
    const [r] = await engine.query<{ n: number }>(`SELECT count(*) AS n, ${every} FROM (${adaptedSelect(engine, ds, version, file)}) t`);
    return { rows: Number(r.n), failures: [] };
  }
  const guarded = ds.columns.map((c) => guardsFraction(engine, version, c));
  const every = ds.columns.flatMap((c, j) => {
    const value = d.quote(c.name);
    const cast = `CAST(${value} AS ${d.columnType(c.type)})`;
    if (!guarded[j]) return [`count(${cast}) AS "_tm_c${j}"`];
    const fraction = hasFraction(engine, value, 'CAST');
    return [`count(CASE WHEN ${fraction} THEN NULL ELSE ${cast} END) AS "_tm_c${j}"`, `count(*) FILTER (WHERE ${fraction}) AS "_tm_out${j}"`];
  });
  const [r] = await engine.query<Record<string, unknown>>(`SELECT count(*) AS n, ${every.join(', ')} FROM (${adapterResults(engine, ds, version, file)}) a`);
  const failures = ds.columns.flatMap((c, j) => (guarded[j] ? [{ column: c.name, stage: 'adapt' as const, type: c.type, rows: Number(r[`_tm_out${j}`]) }] : [])).filter((f) => f.rows > 0);
  return { rows: Number(r.n), failures };
}

export function describeFailures(t: TrialCast): string {
  if (t.error) return t.error;
  return t.failures.map((f) => `${f.column}: ${f.rows} row(s) ${f.stage === 'read' ? 'not' : 'whose adapted value is not'} ${f.type}`).join('; ');
}

/**
 * The version a file is read as: `forced` (--schema-version), else the shape's match, newest first. A
 * CSV whose names fit several versions is read as the newest one all of whose values cast. No match is
 * a BAD_INPUT error (exit 2) listing the difference from the closest version and a history entry to add.
 */
export async function resolveVersion(engine: Engine, ds: SourceSpec, file: ShapedFile, label: string, forced?: number): Promise<SchemaVersion> {
  const versions = schemaVersions(ds);
  if (forced !== undefined) {
    const f = forceVersion(file.shape, versions, forced);
    if (!f) throw new TidemarkError('USAGE', `${ds.name} has no schema version ${forced}`, { hint: `its versions: ${versions.map((v) => v.version).join(', ')} (${versions[0].version} is current)` });
    if (f.diff) throw new TidemarkError('BAD_INPUT', `${label} does not have the shape of ${ds.name} version ${forced}: ${describeDiff(f.diff)}`, { hint: 'drop --schema-version to let Tidemark match the shape', diff: f.diff });
    return f.version;
  }
  const match = matchShape(file.shape, versions);
  if (match.kind === 'match') return match.version;
  if (match.kind === 'ambiguous') {
    const tried: string[] = [];
    for (const v of match.candidates) {
      const t = await trialCast(engine, ds, v, file);
      if (!t.error && !t.failures.length) return v;
      tried.push(`version ${v.version}: ${describeFailures(t)}`);
    }
    throw new TidemarkError('BAD_INPUT', `${label} has the column names of ${ds.name} versions ${match.candidates.map((v) => v.version).join(', ')} but its values fit none: ${tried.join('; ')}`, {
      hint: 'fix the values, or force a version with --schema-version N to see the failing rows',
    });
  }
  const closest = versions.find((v) => v.version === match.closest.version)!;
  throw new TidemarkError('BAD_INPUT', `${label} matches no schema version of ${ds.name}; against version ${match.closest.version} (closest): ${describeDiff(match.closest)}`, {
    hint: `expected columns: ${shapeText(closest.columns, true)}; the file has: ${shapeText(file.shape.columns, file.shape.typed)}. To accept this shape, add under datasets.${ds.name}.schema.history (replace any CAST(NULL …) with a default): ${match.suggestionInline}`,
    diff: match.closest,
    suggestion: match.suggestion,
    // For a caller that knows the other sources (wrong-source.ts): a file given to the wrong one.
    shape: file.shape,
    file: label,
  });
}

function shapeText(columns: ColumnInfo[], typed: boolean): string {
  return columns.map((c) => (typed ? `${c.name} ${c.type}` : c.name)).join(', ');
}

/**
 * `tidemark schema check`: proves, without writing, that files map onto a source's current schema —
 * each file's shape matches a declared version and every row casts through that version's adapters.
 * With no files it checks every file in the ingest manifest that is still on disk. It also compares
 * the live table with schema.current: columns the next ingest adds, or a change it would refuse
 * (ingest-evolution.ts); and says which loaded files the next ingest of them would load again,
 * because they are now read through another mapping (ingest-mapping.ts).
 *
 * @example
 * const report = await schemaCheck(ws, 'orders');
 * for (const v of report.versions) console.log(`v${v.version}: ${v.files} file(s), ${v.rows} rows`);
 * if (!report.ok) console.log(report.files.filter((f) => !f.ok));
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { getDataset, type SourceSpec } from '../config/project.js';
import { TidemarkError } from '../errors.js';
import { manifestName } from '../execute/ingest.js';
import { missingFileHint } from '../execute/ingest-hashing.js';
import { diffLiveSchema, isAdditive, type LiveSchemaDiff } from '../execute/ingest-evolution.js';
import { mappingHash } from '../execute/ingest-mapping.js';
import { checkAdapters, readShape, resolveVersion, trialCast, type CastFailure } from '../execute/schema-adapt.js';
import { currentVersionNumber, schemaVersions, type ShapeDiff } from '../execute/schema-match.js';
import { stateTable } from '../state/tables.js';
import { layoutOf } from '../io/data-file-layout.js';
import { checkGzip } from '../io/gzip.js';
import type { Workspace } from '../workspace.js';

export interface SchemaCheckFile {
  file: string;
  /** The version the file is read as, or null when its shape matches none. */
  version: number | null;
  rows: number;
  ok: boolean;
  /** Per column, rows whose values would not cast. */
  failures: CastFailure[];
  /** Why the file does not map (shape, or a cast that failed outright). */
  error?: string;
  diff?: ShapeDiff;
  suggestion?: string;
  /** A loaded file now read through another mapping than when it was loaded: its next ingest loads it again. */
  reload?: boolean;
}

/** The live table against schema.current (null when the source has no live table yet). */
export interface LiveTableCheck extends LiveSchemaDiff {
  /** Only new columns: the next ingest that publishes adds them (existing rows get NULL). */
  additive: boolean;
}

export interface SchemaCheckReport {
  source: string;
  current_version: number;
  /** Every declared version, newest first, with the files and rows that map through it. */
  versions: { version: number; current: boolean; files: number; rows: number }[];
  files: SchemaCheckFile[];
  /** Manifest files no longer on disk (not checked). */
  missing_files: string[];
  live_table: LiveTableCheck | null;
  /** Every file maps and the live table can take schema.current. */
  ok: boolean;
}

export async function schemaCheck(ws: Workspace, source: string, files: string[] = []): Promise<SchemaCheckReport> {
  const ds = getDataset(ws.project, source);
  if (ds.kind !== 'source') throw new TidemarkError('USAGE', `'${source}' is a model; schema check reads the files of a source`, { hint: 'models are checked against their live table when they run' });
  const { engine, project } = ws;
  await checkAdapters(engine, engine, ds, project.configHash);
  const liveDiff = await diffLiveSchema(engine, engine, ds);
  const manifest = new Map(
    (await engine.query<ManifestMapping>(`SELECT file, schema_version, mapping_hash FROM ${stateTable(engine, 'ingested_files')} WHERE dataset = $1`, [source])).map((r) => [r.file, r]),
  );
  const targets: { label: string; absolute: string }[] = [];
  const missing: string[] = [];
  if (files.length) {
    for (const given of files) {
      const absolute = path.resolve(given);
      if (!existsSync(absolute) || !statSync(absolute).isFile()) throw new TidemarkError('BAD_INPUT', `cannot read ${given}: no such file`, { hint: missingFileHint(given) });
      targets.push({ label: given, absolute });
    }
  } else {
    const rows = await engine.query<{ file: string }>(`SELECT file FROM ${stateTable(engine, 'ingested_files')} WHERE dataset = $1 ORDER BY file`, [source]);
    for (const { file } of rows) {
      const absolute = path.resolve(project.dir, file);
      if (existsSync(absolute)) targets.push({ label: file, absolute });
      else missing.push(file);
    }
  }
  const checked: SchemaCheckFile[] = [];
  for (const t of targets) checked.push(await checkFile(ws, ds, t.label, t.absolute, manifest.get(manifestName(project.dir, t.absolute))));
  const versions = schemaVersions(ds).map((v) => {
    const mine = checked.filter((f) => f.version === v.version);
    return { version: v.version, current: v.current, files: mine.length, rows: mine.reduce((n, f) => n + f.rows, 0) };
  });
  const live = liveDiff ? { ...liveDiff, additive: isAdditive(liveDiff) } : null;
  return { source, current_version: currentVersionNumber(ds), versions, files: checked, missing_files: missing, live_table: live, ok: checked.every((f) => f.ok) && (live?.additive ?? true) };
}

interface ManifestMapping {
  file: string;
  schema_version: number | null;
  mapping_hash: string | null;
}

async function checkFile(ws: Workspace, ds: SourceSpec, label: string, absolute: string, loaded?: ManifestMapping): Promise<SchemaCheckFile> {
  const { engine } = ws;
  try {
    const layout = layoutOf(absolute, ds);
    // A gzip file cut short reads as its rows before the cut (io/gzip.ts): checked first, as ingest does.
    if (layout.gzip) await checkGzip(absolute, label);
    const shaped = await readShape(engine, absolute, layout, label, ds.name);
    const version = await resolveVersion(engine, ds, shaped, label);
    const trial = await trialCast(engine, ds, version, shaped);
    const ok = !trial.error && !trial.failures.length;
    // Legacy manifest entries (no mapping hash) compare by version number, as ingest does.
    const reload = loaded ? (loaded.mapping_hash !== null ? mappingHash(ds, version, layout) !== loaded.mapping_hash : loaded.schema_version !== null && Number(loaded.schema_version) !== version.version) : false;
    return { file: label, version: version.version, rows: trial.rows, ok, failures: trial.failures, ...(trial.error ? { error: trial.error } : {}), ...(reload ? { reload } : {}) };
  } catch (error) {
    if (!(error instanceof TidemarkError) || error.code !== 'BAD_INPUT') throw error;
    const { diff, suggestion } = error.details as { diff?: ShapeDiff; suggestion?: string };
    return { file: label, version: null, rows: 0, ok: false, failures: [], error: error.message, ...(diff ? { diff } : {}), ...(suggestion ? { suggestion } : {}) };
  }
}

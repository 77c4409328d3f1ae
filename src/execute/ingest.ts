/**
 * Ingest: files → a source's partitions, through the same write path as everything else. A file
 * already loaded with the same content is a no-op; a changed file replaces exactly the rows it
 * contributed (rows remember their file in `_tm_file`), and only partitions whose content changed
 * get a new version. Each file is read as the schema version its shape matches (or --schema-version)
 * and adapted to the current schema in the engine; the manifest records the version used and a hash
 * of the mapping (ingest-mapping.ts): a file whose bytes are unchanged but which is now read through
 * another mapping — its version moved to schema.history with an adapter — is loaded again.
 *
 * Schema evolution of the live table (ingest-evolution.ts): an additive change of schema.current is
 * applied by the first ingest that publishes under it, in its publish transaction; a non-additive one
 * is refused while planning, before anything is written.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { getDataset, type SourceSpec } from '../config/project.js';
import { frozenPartitions, listKeys, lockedPartitions, type Guard } from '../core/guards.js';
import { sortKeys } from '../core/grain.js';
import { FILE_COLUMN, PARTITION_COLUMN } from '../core/identifiers.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { conflictGuards } from '../plan/build.js';
import { loadPlanningState } from '../plan/snapshot.js';
import { planDatasets, type Plan, type PlannedTask } from '../plan/types.js';
import { nowIso } from '../state/json.js';
import { markTasksComputed } from '../state/runs.js';
import { liveTable, stagingTable, stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { crashPoint } from './crash.js';
import { adaptedSelect, checkAdapters, integerFraction, readShape, resolveVersion, type IntegerFraction, type ShapedFile } from './schema-adapt.js';
import { diffLiveSchema, evolveLiveTable, isAdditive, missingFrom, nonAdditiveError } from './ingest-evolution.js';
import { windowChecksumsSql } from './window-checksums.js';
import { mappingHash } from './ingest-mapping.js';
import { dismissSupersededIngests } from './ingest-superseded.js';
import { ingestProgress } from './ingest-progress.js';
import { listAndHash, type ListedFile } from './ingest-hashing.js';
import { schemaVersions, type SchemaVersion } from './schema-match.js';
import type { ColumnSpec } from '../config/project.js';
import { executePlan, type RunResult, type Stager } from './executor.js';
import type { RunContext, RunOptions } from './run-context.js';
import { EMPTY_CHECKSUM, ensureStagingTable, stageAsView } from './staging.js';
import { createLoadTable, dropLoadTable, loadTable } from './first-load.js';
import { withOtherSourceHint } from './wrong-source.js';
import { INGEST_VALIDATION_HINT, validateStaged, validationError, type KeyColumnRange, type ValidationInput } from './validate.js';
import { integerRanges, overall } from './key-ranges.js';
import { delimiterName, delimiterYaml, layoutOf, type DataFileLayout } from '../io/data-file-layout.js';
import { checkGzip } from '../io/gzip.js';

export interface IngestFile {
  /** As given on the command line. */
  given: string;
  absolute: string;
  /** Identity in the manifest: relative to the project when inside it. */
  name: string;
  /** Format, gzip and CSV delimiter (src/io/data-file-layout.ts). */
  layout: DataFileLayout;
  /** A gzip file that will be read: settles once it decompressed to its end (io/gzip.ts checkGzip). */
  intact?: Promise<void>;
  sha256: string;
  bytes: number;
  /** Modification time when it was hashed: a file staged in place (a view) must not change before publish. */
  mtimeMs: number;
  /**
   * `remapped`: the same bytes, now read through another schema mapping (so other rows).
   * `reloaded`: the same bytes and mapping, read again because --reload asked (a repair).
   */
  status: 'new' | 'changed' | 'remapped' | 'reloaded' | 'unchanged';
  /** Partitions the file's previous version contributed to. */
  previousPartitions: string[];
  partitions: string[];
  /** Schema version the file is read as (changed files only). */
  schemaVersion?: number;
  /** SELECT of the file's rows in the current schema (changed files only). */
  select?: string;
  /** Hash of the mapping the file is read through (changed files only; see ingest-mapping.ts). */
  mappingHash?: string;
}

export interface IngestOptions {
  /** Read every file as this schema version instead of matching its shape (--schema-version). */
  schemaVersion?: number;
  /**
   * Read the files again even when their bytes and mapping are unchanged (--reload): the repair of a
   * source partition whose live rows were changed outside Tidemark (`audit verify --data`). Publish
   * then replaces the partitions whose live rows no longer match their record; the rest stay as they are.
   */
  reload?: boolean;
}

export type IngestResult = RunResult & {
  files: { file: string; status: IngestFile['status']; schema_version?: number }[];
  /** Columns of schema.current the live table lacks, added by this ingest's publish (or that it would add, on a dry run). */
  schema_change?: { added: ColumnSpec[] };
  /** Failed ingests of these files this one made obsolete (dismissed: see ingest-superseded.ts). */
  superseded: string[];
};

export async function planIngest(
  ws: Workspace,
  source: string,
  files: string[],
  options: IngestOptions = {},
): Promise<{ plan: Plan; files: IngestFile[]; schemaChange: { added: ColumnSpec[] } | null }> {
  const ds = getDataset(ws.project, source);
  if (ds.kind !== 'source') {
    throw new TidemarkError('USAGE', `'${source}' is a model; models are computed by run and backfill, not ingested`, { hint: `tidemark backfill ${source} --from … --to … --reason …` });
  }
  if (!files.length) throw new TidemarkError('USAGE', 'no files given', { hint: `tidemark ingest ${source} data/${source}/*.csv` });
  // Hashing starts now, in the background (ingest-hashing.ts); only a file already in the manifest waits for its hash.
  const hashing = listAndHash(files);
  const gzipChecks = new AbortController();
  try {
    return await planListed(ws, ds, hashing.listed, options, gzipChecks.signal);
  } finally {
    // After a refusal, nothing reads the hashes nor the gzip checks: the files need not be read to their end.
    hashing.stop();
    gzipChecks.abort();
  }
}

async function planListed(
  ws: Workspace,
  ds: SourceSpec,
  listedFiles: ListedFile[],
  options: IngestOptions,
  gzipChecks: AbortSignal,
): Promise<{ plan: Plan; files: IngestFile[]; schemaChange: { added: ColumnSpec[] } | null }> {
  const source = ds.name;
  const { engine, project } = ws;
  await checkAdapters(engine, engine, ds, project.configHash);
  // Before any file is read: a schema.current the live table cannot take is refused, nothing written.
  const liveDiff = await diffLiveSchema(engine, engine, ds);
  if (liveDiff && !isAdditive(liveDiff)) throw nonAdditiveError(ds, liveDiff);
  const manifest = await manifestEntries(engine, source, listedFiles.map((f) => manifestName(project.dir, f.absolute)));
  /** Files already read (shape and version) while deciding whether they changed. */
  const readAs = new Map<IngestFile, { shaped: ShapedFile; version: SchemaVersion }>();
  const seen = new Set<string>();
  const result: IngestFile[] = [];
  const hashes = new Map<IngestFile, Promise<string>>();
  for (const { given, absolute, stat, sha256 } of listedFiles) {
    if ('error' in stat) throw stat.error;
    const { bytes, mtimeMs } = stat;
    const name = manifestName(project.dir, absolute);
    if (seen.has(name)) continue;
    seen.add(name);
    const hash = sha256!;
    const known = manifest.get(name);
    const status = !known ? 'new' : known.sha256 === (await hash) ? 'unchanged' : 'changed';
    const file: IngestFile = { given, absolute, name, layout: layoutOf(given, ds), sha256: '', bytes, mtimeMs, status, previousPartitions: known ? (JSON.parse(known.partitions) as string[]) : [], partitions: [] };
    if (known && status === 'unchanged') {
      const read = await remapped(engine, ds, file, known, options.schemaVersion);
      if (read) {
        file.status = 'remapped';
        readAs.set(file, read);
      } else if (options.reload) {
        file.status = 'reloaded';
      }
    }
    if (file.status !== 'unchanged') startGzipCheck(file, gzipChecks);
    hashes.set(file, hash);
    result.push(file);
  }

  const state = await loadPlanningState(engine, engine);
  const current = state.snapshot.get(source) ?? new Map();
  const affected = new Set<string>();
  for (const f of result.filter((x) => x.status !== 'unchanged')) {
    const { shaped, version } = readAs.get(f) ?? (await whileUnchanged([f], () => readFile(engine, ds, f, options.schemaVersion)));
    const select = adaptedSelect(engine, ds, version, shaped);
    f.schemaVersion = version.version;
    f.mappingHash = mappingHash(ds, version, f.layout);
    f.select = select;
    const pc = engine.dialect.quote(ds.partitionColumn);
    // Distinct values first, then their keys: formatting a key per row costs more than the read.
    const rows = await readingFiles(ds, [f], () => engine.query<{ k: string | null }>(`SELECT DISTINCT ${engine.dialect.partitionKey(pc, ds.grain)} AS k FROM (SELECT DISTINCT ${pc} FROM (${select}) t) u`));
    if (rows.some((r) => r.k === null)) throw new TidemarkError('BAD_INPUT', `${f.given}: some rows have no ${ds.partitionColumn}`, { hint: 'every row needs its partition column' });
    f.partitions = sortKeys(rows.map((r) => String(r.k)));
    for (const k of [...f.partitions, ...f.previousPartitions]) affected.add(k);
  }
  for (const [file, hash] of hashes) file.sha256 = await hash;
  // The engine may have read a gzip file cut short as the rows before the cut (io/gzip.ts): only an intact one is loaded.
  for (const f of result) await f.intact;
  const tasks: PlannedTask[] = sortKeys(affected).map((k) => ({
    dataset: source,
    partition: k,
    reason: 'ingest',
    current_rows: current.get(k)?.rows ?? null,
    current_version: current.get(k)?.version ?? null,
  }));
  const guards: Guard[] = [];
  const keys = tasks.map((t) => t.partition);
  const frozen = frozenPartitions(ds, keys.filter((k) => current.has(k)));
  if (frozen.length) {
    guards.push({ code: 'FROZEN', dataset: source, partitions: frozen, message: `${source}: these files would change frozen partitions ${listKeys(frozen)}`, hint: `change datasets.${source}.protect in tidemark.yaml`, blocking: true });
  }
  for (const { lock, partitions } of lockedPartitions(state.locks, source, keys)) {
    guards.push({ code: 'LOCKED', dataset: source, partitions, message: `${source}: ${listKeys(partitions)} locked by ${lock.actor} (${lock.reason})`, hint: `tidemark unlock ${source} --from ${lock.from_key} --to ${lock.to_key} --reason "…"`, blocking: true });
  }
  guards.push(...conflictGuards(tasks, state));
  const plan: Plan = {
    kind: 'ingest',
    targets: [source],
    tasks,
    datasets: planDatasets(tasks),
    guards,
    estimated_rows: 0,
    request: {
      kind: 'ingest',
      dataset: source,
      files: result.filter((f) => f.status !== 'unchanged').map((f) => [f.name, f.sha256]),
      ...(options.schemaVersion !== undefined ? { schema_version: options.schemaVersion } : {}),
      // Read by publish: a reload republishes what drifted from its record (publish.ts).
      ...(options.reload ? { reload: true } : {}),
    },
  };
  // Only an ingest that publishes adds the columns: one with nothing to load leaves the table alone.
  const schemaChange = tasks.length && liveDiff?.added.length ? { added: liveDiff.added } : null;
  return { plan, files: result, schemaChange };
}

interface ManifestEntry {
  file: string;
  sha256: string;
  partitions: string;
  schema_version: number | null;
  mapping_hash: string | null;
}

/** Named files up to this many are looked up by name; more (a first bulk load) read the source's whole manifest at once. */
const MANIFEST_LOOKUP_BY_NAME = 200;

/**
 * The manifest entries of these files. The manifest holds every file the source ever loaded (one a
 * day for a daily feed), while a routine ingest names one or a few: those are looked up by name.
 */
async function manifestEntries(engine: Engine, source: string, names: string[]): Promise<Map<string, ManifestEntry>> {
  const unique = [...new Set(names)];
  const byName = unique.length > 0 && unique.length <= MANIFEST_LOOKUP_BY_NAME;
  const rows = await engine.query<ManifestEntry>(
    `SELECT file, sha256, partitions, schema_version, mapping_hash FROM ${stateTable(engine, 'ingested_files')} WHERE dataset = $1${
      byName ? ` AND file IN (${unique.map((_, i) => `$${i + 2}`).join(', ')})` : ''
    }`,
    byName ? [source, ...unique] : [source],
  );
  return new Map(rows.map((r) => [r.file, r]));
}

/**
 * Starts decompressing a gzip file that will be read, to its end, in the background: its check of
 * the gzip trailer is what tells a file cut short (io/gzip.ts). Planning awaits it before it plans.
 */
function startGzipCheck(f: IngestFile, signal: AbortSignal): void {
  if (!f.layout.gzip || f.intact) return;
  f.intact = checkGzip(f.absolute, f.given, signal);
  // Awaited by the planner; until then (or after a refusal that stopped it) a failure must not count as unhandled.
  f.intact.catch(() => undefined);
}

async function readFile(engine: Engine, ds: SourceSpec, f: IngestFile, forced?: number): Promise<{ shaped: ShapedFile; version: SchemaVersion }> {
  const shaped = await readShape(engine, f.absolute, f.layout, f.given, ds.name);
  return { shaped, version: await resolveVersion(engine, ds, shaped, f.given, forced) };
}

/**
 * Whether a file with unchanged bytes must be loaded again because it is now read through another
 * mapping; if so, how it is read. Cheap in the common case: while the mapping recorded for the file's
 * version is still the one declared (and no other version is forced), the file is not even opened.
 * Files loaded before the manifest kept mapping hashes are compared by version number.
 */
async function remapped(engine: Engine, ds: SourceSpec, f: IngestFile, known: ManifestEntry, forced?: number): Promise<{ shaped: ShapedFile; version: SchemaVersion } | null> {
  const recordedVersion = known.schema_version === null ? null : Number(known.schema_version);
  if (recordedVersion === null && forced === undefined) return null;
  const recorded = schemaVersions(ds).find((v) => v.version === recordedVersion);
  if (forced === undefined || forced === recordedVersion) {
    if (recorded && known.mapping_hash !== null && mappingHash(ds, recorded, f.layout) === known.mapping_hash) return null;
  }
  const read = await readFile(engine, ds, f, forced).catch((error: unknown) => {
    throw readOtherwise(ds, f, error);
  });
  // A legacy entry (no mapping hash): the same version number is taken as the same mapping.
  if (known.mapping_hash === null) return read.version.version === recordedVersion ? null : read;
  return mappingHash(ds, read.version, f.layout) === known.mapping_hash ? null : read;
}

/**
 * The refusal of a file loaded before, with unchanged bytes, that the source's CSV delimiter as now
 * declared cannot read (the delimiter is part of its mapping: ingest-mapping.ts): said as such, with
 * both ways forward — declare the delimiter it has again, or leave it out (its rows stay as loaded).
 */
function readOtherwise(ds: SourceSpec, f: IngestFile, error: unknown): unknown {
  if (!(error instanceof TidemarkError) || typeof error.details.separatedBy !== 'string') return error;
  const found = error.details.separatedBy;
  const declare = found === ',' ? `remove datasets.${ds.name}.csv from tidemark.yaml` : `declare datasets.${ds.name}.csv: { delimiter: ${delimiterYaml(found)} } in tidemark.yaml`;
  return new TidemarkError('BAD_INPUT', `${f.given} was loaded when ${ds.name} read CSV separated by ${delimiterName(found)}, and is unchanged since: ${error.message}`, {
    ...error.details,
    hint: `to read it as it was loaded, ${declare}; or, if only the files loaded before are separated by ${delimiterName(found)}, leave ${f.given} out of this ingest (it is unchanged: its rows stay as they were loaded)`,
  }, { cause: error });
}

export async function ingest(ws: Workspace, source: string, files: string[], options: Partial<RunOptions> & IngestOptions = {}): Promise<IngestResult> {
  const planned = await planIngest(ws, source, files, { schemaVersion: options.schemaVersion, reload: options.reload }).catch((error: unknown) => {
    throw withOtherSourceHint(ws.project, source, error);
  });
  const reason = options.reason ?? `ingest ${planned.files.filter((f) => f.status !== 'unchanged').length} file(s)`;
  const stager = ingestStager(planned.files);
  const result = await executePlan(ws, planned.plan, { ...options, reason }, stager);
  // A publish dismissed them in its transaction; with nothing to do, that is the only write.
  const superseded =
    result.status === 'published' ? stager.superseded : result.status === 'noop' ? await ws.engine.transaction((tx) => dismissSupersededIngests(tx, ws.engine, source, planned.files)) : [];
  return {
    ...result,
    superseded,
    files: planned.files.map((f) => ({ file: f.name, status: f.status, ...(f.schemaVersion !== undefined ? { schema_version: f.schemaVersion } : {}) })),
    ...(planned.schemaChange && (result.status === 'published' || result.status === 'dry_run') ? { schema_change: planned.schemaChange } : {}),
  };
}

function ingestStager(files: IngestFile[]): Stager & { superseded: string[] } {
  const changed = files.filter((f) => f.status !== 'unchanged');
  /** Rows each changed file contributed, counted while staging. */
  let rowsPerFile = new Map<string, number>();
  /** How this run stages the files' rows (see stagingMode). */
  let mode: StagingMode = 'table';
  /** Failed ingests this publish dismissed (ingest-superseded.ts). */
  const superseded: string[] = [];
  return {
    superseded,
    async preflight() {
      /* files were read and checked while planning */
    },
    async compute(ctx) {
      const { engine, project } = ctx.ws;
      const ds = getDataset(project, ctx.plan.targets[0]) as SourceSpec;
      const staging = stagingTable(engine, ctx.runId, ds.name);
      ctx.columns.set(ds.name, ds.columns.map((c) => c.name));
      const progress = ingestProgress(ctx, ds.name);
      progress.started();
      /** Rows staged per partition, once recorded: the tasks' progress events carry them. */
      const stagedRows = new Map<string, number>();
      // The key's range over the staged rows, read with the checksums (null when not an integer key).
      let keyRange = null as KeyColumnRange | null;
      try {
        mode = await stagingMode(ctx, ds);
        await stageFiles(ctx, ds, changed, mode);
        // Only a view of the files reads them again below (validation, checksums, publish).
        const inPlace = mode === 'files';
        await engine.transaction(async (tx) => {
          // A view of the files is read here for the first time: a value that does not convert fails now.
          const stats = await (inPlace ? readingFiles(ds, changed, () => stagedPartitionStats(tx, ctx, ds)) : stagedPartitionStats(tx, ctx, ds));
          const byPart = new Map(stats.map((s) => [s.part, s]));
          keyRange = stagedKeyRange(ds, stats);
          const validate = (input: ValidationInput) => (inPlace ? whileUnchanged(changed, () => validateStaged(tx, input)) : validateStaged(tx, input));
          const problems = await validate({
            engine,
            dataset: ds,
            staging,
            columns: ds.columns.map((c) => c.name),
            currentRows: new Map(ctx.plan.tasks.filter((t) => t.current_rows !== null).map((t) => [t.partition, t.current_rows!])),
            maxShrink: project.guards.max_shrink,
            allowEmpty: Boolean(ctx.options.allowEmpty),
            allowShrink: Boolean(ctx.options.allowShrink),
            // Every partition the run publishes is staged and validated here together, once.
            keysAcrossPartitions: true,
            partitionFromColumn: true,
            stagedRows: new Map(stats.map((s) => [s.part, Number(s.n)])),
            // Grouped by the partition column, rows where it is NULL are the group whose key is NULL.
            windowRows: stats.filter((s) => s.part === null).map((s) => ({ part: s.part, n: Number(s.n), nulls: Number(s.n), lo: null, hi: null })),
            ...(keyRange ? { keyRange } : {}),
          });
          // A partition left with no rows at all has nothing in staging to validate: check it here.
          for (const t of ctx.plan.tasks) {
            if (!byPart.has(t.partition) && (t.current_rows ?? 0) > 0 && !ctx.options.allowEmpty) {
              problems.push({ dataset: ds.name, partition: t.partition, code: 'EMPTY_RESULT', message: `these files would leave the partition empty (it has ${t.current_rows} rows; pass --allow-empty if intended)` });
            }
          }
          if (problems.length) throw validationError(problems, INGEST_VALIDATION_HINT);
          rowsPerFile = await countRowsPerFile(tx, ctx, changed, mode === 'table' ? null : stats.reduce((n, s) => n + Number(s.n), 0));
          await markTasksComputed(tx, engine, ctx.runId, ds.name, ctx.plan.tasks.map((t) => ({ partition: t.partition, rows: Number(byPart.get(t.partition)?.n ?? 0), checksum: String(byPart.get(t.partition)?.c ?? EMPTY_CHECKSUM), inputs: {} })));
          for (const s of stats) if (s.part !== null) stagedRows.set(s.part, Number(s.n));
        });
      } catch (error) {
        progress.failed(error);
        throw error;
      }
      progress.computed((partition) => stagedRows.get(partition) ?? 0);
      (ctx.keysUniqueInStaging ??= new Set()).add(ds.name);
      // Publish then finds live rows that could share a key without reading the staging (key-ranges.ts).
      if (keyRange) (ctx.stagedKeyRanges ??= new Map()).set(ds.name, { lo: keyRange.lo, hi: keyRange.hi });
      if (mode === 'load') (ctx.loadTables ??= new Set()).add(ds.name);
      crashPoint('ingest.staged');
      return { reused: 0, skipped: 0 };
    },
    // A first load that does not publish leaves the data schema as it was; an attempt that resumes loads the files again anyway.
    async stopped(ctx) {
      if (mode === 'load') await dropLoadTable(ctx.ws.engine, ctx.ws.engine, ctx.runId, ctx.plan.targets[0], { view: true });
    },
    // Before publish reads the recorded checksums: an additive schema change is applied first (see ingest-evolution.ts).
    publishPrepare: (ctx) => async (tx) => {
      const ds = getDataset(ctx.ws.project, ctx.plan.targets[0]) as SourceSpec;
      const applied = await evolveLiveTable(tx, ctx.ws.engine, ds);
      return applied ? { dataset: ds.name, details: { schema_change: applied } } : null;
    },
    publishHook: (ctx) => async (tx) => {
      const { engine } = ctx.ws;
      const dataset = ctx.plan.targets[0];
      if (mode === 'files') {
        // The rows were just read from the files themselves: they must be the files that were hashed,
        // validated and checksummed (a file rewritten meanwhile fails the publish, which rolls back).
        for (const f of changed) assertUnchanged(f);
        await tx.exec(`DROP VIEW IF EXISTS ${stagingTable(engine, ctx.runId, dataset)}`);
      }
      // Renamed to the live table by the publish, or (another run created that first) copied into it.
      if (mode === 'load') await dropLoadTable(tx, engine, ctx.runId, dataset, { view: true });
      const table = stateTable(engine, 'ingested_files');
      for (const f of changed) {
        await tx.exec(`DELETE FROM ${table} WHERE dataset = $1 AND file = $2`, [dataset, f.name]);
        await tx.exec(
          `INSERT INTO ${table} (dataset, file, sha256, bytes, rows, partitions, schema_version, mapping_hash, run_id, loaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [dataset, f.name, f.sha256, f.bytes, rowsPerFile.get(f.name) ?? 0, JSON.stringify(f.partitions), f.schemaVersion ?? null, f.mappingHash ?? null, ctx.runId, nowIso()],
        );
      }
      superseded.push(...(await dismissSupersededIngests(tx, engine, dataset, files)));
    },
  };
}

/**
 * Where the run's staged rows are:
 * - `load`: the source's first load (no live table yet), on either engine: in a load table that the
 *   publish renames to the live table (first-load.ts), the rows written once;
 * - `files`: new partitions of an existing table on DuckDB (no partition the run touches has live
 *   rows, so nothing of live is kept or replaced): left in the files until publish, staging a view of
 *   their adapted rows, validated and checksummed where they are and written once, into live;
 * - `table`: copied into a staging table, with the rows other files contributed to the affected
 *   partitions. On PostgreSQL whenever the live table exists: it reads a file through a table it loads
 *   with COPY and drops when the workspace closes, so a view over it would not outlive the process.
 */
type StagingMode = 'load' | 'files' | 'table';

async function stagingMode(ctx: RunContext, ds: SourceSpec): Promise<StagingMode> {
  const { engine } = ctx.ws;
  if (ctx.plan.tasks.some((t) => t.current_version !== null)) return 'table';
  if ((await engine.columns(engine.dataSchema, ds.name)) === null) return 'load';
  return engine.kind === 'duckdb' ? 'files' : 'table';
}

/** The columns of a source's staged rows, as a staging table declares them: the live table's (first-load.ts makes them so). */
function stagedFileColumns(engine: Engine, ds: SourceSpec): ColumnInfo[] {
  return [...ds.columns.map((c) => ({ name: c.name, type: engine.dialect.columnType(c.type) })), { name: FILE_COLUMN, type: 'VARCHAR' }];
}

/**
 * Fills the run's staging with the changed files' rows in the current schema (see StagingMode) and,
 * in a table, the rows other files contributed to the affected partitions, which stay as they are.
 */
async function stageFiles(ctx: RunContext, ds: SourceSpec, changed: IngestFile[], mode: StagingMode): Promise<void> {
  const { engine } = ctx.ws;
  const d = engine.dialect;
  const staging = stagingTable(engine, ctx.runId, ds.name);
  const key = d.partitionKey(d.quote(ds.partitionColumn), ds.grain);
  const cols = ds.columns.map((c) => d.quote(c.name)).join(', ');
  const fileCol = d.quote(FILE_COLUMN);
  // A re-issued ingest resumes the same run and stages again, as it now needs.
  const rowsOf = (f: IngestFile) => `SELECT ${cols}, CAST(${d.stringLiteral(f.name)} AS VARCHAR) AS ${fileCol} FROM (${f.select!}) t`;
  if (mode === 'load') {
    await readingFiles(ds, changed, () => createLoadTable(engine, ctx.runId, ds.name, changed.map(rowsOf).join(' UNION ALL '), stagedFileColumns(engine, ds), ctx.newRun));
    // The rows just read are those of the files hashed while planning.
    for (const f of changed) assertUnchanged(f);
    for (const _ of changed) crashPoint('ingest.file_loaded');
    await stageAsView(engine, ctx.runId, ds.name, `SELECT *, ${key} AS ${d.quote(PARTITION_COLUMN)} FROM ${loadTable(engine, ctx.runId, ds.name)}`, ctx.newRun);
    return;
  }
  // An earlier attempt may have left a staging view (over the files, or over a load table that is not
  // used now that the dataset has a live table; PostgreSQL drops the view first) and that load table.
  if (!ctx.newRun) await dropLoadTable(engine, engine, ctx.runId, ds.name, { view: true });
  if (mode === 'files') {
    const parts = changed.map((f) => `SELECT *, ${key} AS ${d.quote(PARTITION_COLUMN)} FROM (${rowsOf(f)}) f`);
    await stageAsView(engine, ctx.runId, ds.name, parts.join(' UNION ALL '), ctx.newRun);
    for (const _ of changed) crashPoint('ingest.file_loaded');
    return;
  }
  await ensureStagingTable(engine, engine, ctx.runId, ds.name, stagedFileColumns(engine, ds));
  await engine.transaction(async (tx) => {
    await tx.exec(`DELETE FROM ${staging}`);
    for (const f of changed) {
      await readingFiles(ds, [f], () => tx.exec(`INSERT INTO ${staging} SELECT ${cols}, $1, ${key} FROM (${f.select!}) t`, [f.name]));
      crashPoint('ingest.file_loaded');
    }
    const liveCols = await engine.columns(engine.dataSchema, ds.name, tx);
    if (liveCols) {
      const params: unknown[] = [ctx.runId, ds.name];
      const notMine = changed.map((f) => (params.push(f.name), `$${params.length}`)).join(', ');
      // Columns schema.current added since these rows were loaded are NULL in them, as publish will make them in live.
      const absent = missingFrom(liveCols, ds);
      const kept = ds.columns.map((c) => (absent.has(c.name) ? `CAST(NULL AS ${d.columnType(c.type)}) AS ${d.quote(c.name)}` : d.quote(c.name))).join(', ');
      await tx.exec(
        `INSERT INTO ${staging} SELECT ${kept}, ${fileCol}, ${key} FROM ${liveTable(engine, ds.name)}
         WHERE ${key} IN (SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND dataset = $2) AND ${fileCol} NOT IN (${notMine})`,
        params,
      );
    }
  });
}

/**
 * Runs `read`, which reads every row of `files` (converting each value to its declared type); an
 * engine error there is a value in one of those files, so it is reported as the files' bad input,
 * naming them, rather than as the engine's bare message. Plan time read only the partition column.
 */
async function readingFiles<T>(ds: SourceSpec, files: IngestFile[], read: () => Promise<T>): Promise<T> {
  try {
    return await whileUnchanged(files, read);
  } catch (error) {
    if (!(error instanceof TidemarkError) || error.code !== 'SQL') throw error;
    const names = files.length === 1 ? files[0].given : `one of ${files.map((f) => f.given).join(', ')}`;
    // The fraction guards of schema-adapt.ts fail as a cast of their own marker text; say it in plain words.
    const fraction = integerFraction(error.message);
    if (fraction) throw fractionError(ds, names, fraction, error);
    throw new TidemarkError('BAD_INPUT', `${names}: ${error.message}`, {
      ...error.details,
      dataset: ds.name,
      // A CSV that does not parse (a row with too many or too few fields, an unclosed quote) has no value to retype.
      hint: /CSV Error on Line/.test(error.message)
        ? 'fix that line of the file (every row has the header\'s columns, separated by the header\'s delimiter, quotes closed), then ingest the file again; nothing was loaded'
        : `fix the value in the file, or declare the column's type to match in datasets.${ds.name}.schema, then ingest the file again`,
    }, { cause: error });
  }
}

/**
 * A value with a fraction on its way into an integer column: the file's own value, or an adapter's
 * result (the hint then says where to round, if rounding is what the adapter means).
 */
function fractionError(ds: SourceSpec, names: string, { column, value, version }: IntegerFraction, error: TidemarkError): TidemarkError {
  const type = ds.columns.find((c) => c.name === column)?.type;
  const adapted = version === undefined ? undefined : schemaVersions(ds).find((v) => v.version === version);
  if (adapted) {
    const key = Object.keys(adapted.adapt).find((k) => k.toLowerCase() === column.toLowerCase());
    const where = key === undefined ? `${adapted.at}.adapt.${column} (${column} is read by name as its declared ${adapted.columns.find((c) => c.name.toLowerCase() === column.toLowerCase())?.type ?? 'type'})` : `${adapted.at}.adapt.${key}: "${adapted.adapt[key]}"`;
    return new TidemarkError('BAD_INPUT', `${names}: ${column} is not an integer: ${value} (as adapted from schema version ${version}; declared ${type ?? 'an integer type'}; ingest never rounds a value into it)`, {
      ...error.details,
      dataset: ds.name,
      hint: `if rounding is intended, write it in the adapter, ${where}: e.g. round(…) or CAST(… AS ${type ?? 'BIGINT'}); otherwise fix the value in the file; nothing was loaded`,
    }, { cause: error });
  }
  const declared = [ds.columns, ...ds.history.map((h) => h.columns)].flat().find((c) => c.name === column)?.type ?? 'an integer type';
  return new TidemarkError('BAD_INPUT', `${names}: ${column} is not an integer: ${value} (declared ${declared}; ingest never rounds a value into it)`, {
    ...error.details,
    dataset: ds.name,
    hint: `fix the value in the file; or, if the file holds another unit (dollars for cents), declare ${column} as DOUBLE in a datasets.${ds.name}.schema.history entry for this shape and convert it in its adapt (e.g. CAST(round(${column} * 100) AS BIGINT)); nothing was loaded`,
  }, { cause: error });
}

/**
 * Rows and checksum of each staged partition, measured as everywhere else (window-checksums.ts):
 * the same groups and checksum as grouping by `_tm_partition`, without comparing a text key per row
 * (in a first load's view, without even making it). A key of one integer column has its range and
 * non-NULL count read in the same scan, for the duplicate-key check (validate.ts keyRange).
 */
async function stagedPartitionStats(tx: Db, ctx: RunContext, ds: SourceSpec): Promise<PartitionStats[]> {
  const d = ctx.ws.engine.dialect;
  const from = stagingTable(ctx.ws.engine, ctx.runId, ds.name);
  const key = integerKeyColumn(ds);
  // The key's range, in the same scan: validation then asks a bitmap whether a key repeats (validate.ts).
  const also = key ? { _tm_klo: `min(${d.quote(key.name)})`, _tm_khi: `max(${d.quote(key.name)})`, _tm_kn: `count(${d.quote(key.name)})` } : undefined;
  return tx.query<PartitionStats>(windowChecksumsSql(d, ds, { from, columns: ds.columns.map((c) => c.name), also }));
}

/** A row of stagedPartitionStats; the key's range and non-NULL count only for a key of one integer column. */
interface PartitionStats {
  part: string;
  n: number;
  c: string;
  _tm_klo?: unknown;
  _tm_khi?: unknown;
  _tm_kn?: number | string;
}

/** The key column when the key is one column of an integer type (its range is then worth reading). */
function integerKeyColumn(ds: SourceSpec): { name: string; type: string } | null {
  if (ds.key.length !== 1) return null;
  const column = ds.columns.find((c) => c.name === ds.key[0]);
  return column && integerRanges(column.type, []) ? column : null;
}

/** The key's range over every staged row, from the per-partition stats; null when not read or a partition's keys are all NULL. */
function stagedKeyRange(ds: SourceSpec, stats: PartitionStats[]): KeyColumnRange | null {
  const key = integerKeyColumn(ds);
  if (!key || !stats.length) return null;
  const ranges = integerRanges(key.type, stats.map((s) => ({ lo: s._tm_klo, hi: s._tm_khi })));
  const all = ranges && overall(ranges);
  if (!all) return null;
  const keys = stats.reduce((n, s) => n + Number(s._tm_kn ?? 0), 0);
  const rows = stats.reduce((n, s) => n + Number(s.n), 0);
  return { type: key.type, lo: all.lo, hi: all.hi, keys, rows };
}

/** Rows each changed file contributed; `total` is the staged rows when they all come from the changed files. */
async function countRowsPerFile(tx: Db, ctx: RunContext, changed: IngestFile[], total: number | null): Promise<Map<string, number>> {
  if (total !== null && changed.length === 1) return new Map([[changed[0].name, total]]);
  const { engine } = ctx.ws;
  const counts = await tx.query<{ f: string; n: number }>(
    `SELECT ${engine.dialect.quote(FILE_COLUMN)} AS f, count(*) AS n FROM ${stagingTable(engine, ctx.runId, ctx.plan.targets[0])} GROUP BY 1`,
  );
  return new Map(counts.map((c) => [c.f, Number(c.n)]));
}

/**
 * Runs `read`, which reads `files` where they are; when it fails and one of them was rewritten since
 * it was hashed, or is a gzip file that does not decompress, that is the error reported (a read of a
 * file's other bytes can fail in ways that name no file, e.g. a key outside the range measured a
 * moment before; a gzip file cut short mid-line reads as a CSV line with too few fields).
 */
async function whileUnchanged<T>(files: IngestFile[], read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    for (const f of files) assertUnchanged(f);
    for (const f of files) await f.intact;
    throw error;
  }
}

function assertUnchanged(f: IngestFile): void {
  let st: { size: number; mtimeMs: number } | null = null;
  try {
    st = statSync(f.absolute);
  } catch {
    st = null;
  }
  if (!st || st.size !== f.bytes || st.mtimeMs !== f.mtimeMs) {
    throw new TidemarkError('BAD_INPUT', `${f.given} changed while it was being ingested`, { hint: 'nothing was published; ingest it again once it is complete' });
  }
}

/** A file's name in the ingest manifest: relative to the project when inside it, absolute otherwise. */
export function manifestName(projectDir: string, absolute: string): string {
  const rel = path.relative(projectDir, absolute);
  return rel.startsWith('..') || path.isAbsolute(rel) ? absolute : rel.split(path.sep).join('/');
}

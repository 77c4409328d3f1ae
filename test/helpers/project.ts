/**
 * Helpers for integration and CLI tests: a real shop project in a temp folder, the real CLI as a
 * subprocess (compiled dist/, so `npm run build` first), and a comparable dump of everything a
 * write may change. No mocks: every helper works on a real DuckDB file, or on real schemas of the
 * test PostgreSQL server when a project is made with `{ engine: postgres }` (issue 8).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { generateOrdersCsv, scaffoldShopExample } from '../../src/example/shop.js';
import type { Engine } from '../../src/engines/engine.js';
import { openWorkspace, type Workspace } from '../../src/workspace.js';
import { freshPgSchemaName } from './pg-schema.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'tidemark.js');
export const DIST = path.join(ROOT, 'dist');

/** The reduced example most tests use: 30 days over two months, so rollups and windows cross a month. */
export const REDUCED_FROM = '2026-02-15';
export const REDUCED_TO = '2026-03-16';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Fails fast with a clear message when the CLI has not been built. */
export function requireBuild(): void {
  if (!existsSync(path.join(DIST, 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` before the CLI tests');
}

/** A fresh temp folder, removed by `cleanup`. */
export function tempDir(prefix = 'tidemark-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes temp folders; a PostgreSQL project's schemas go with its folder. */
export function cleanup(...dirs: string[]): void {
  for (const d of dirs) {
    const pg = pgProjectOf(d);
    if (pg) pgAdmin(pg.url, dropSchemasScript(pg.prefix));
    rmSync(d, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Engines under test. `inject('pgUrl')` only works inside test files, so suites pass it in:
//   describe.each(testEngines(inject('pgUrl')))('… ($kind)', (engine) => { … builtShop({ engine }) … })
// ---------------------------------------------------------------------------------------------

export type TestEngine = { kind: 'duckdb' } | { kind: 'postgres'; url: string };

/** DuckDB always; PostgreSQL too when the global setup provided a server URL ('' when disabled). */
export function testEngines(pgUrl: string): TestEngine[] {
  return pgUrl ? [{ kind: 'duckdb' }, { kind: 'postgres', url: pgUrl }] : [{ kind: 'duckdb' }];
}

const DUCKDB: TestEngine = { kind: 'duckdb' };

/** Where a PostgreSQL test project remembers its server and schema prefix (the CLI never reads it). */
const PG_PROJECT_FILE = path.join('.tidemark', 'test-pg.json');

interface PgProject {
  url: string;
  /** TIDEMARK_PG_SCHEMA_PREFIX for this project: its own four schemas in the shared database. */
  prefix: string;
}

function pgProjectOf(dir: string): PgProject | null {
  const file = path.join(dir, PG_PROJECT_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PgProject) : null;
}

function writePgProject(dir: string, pg: PgProject): void {
  mkdirSync(path.join(dir, '.tidemark'), { recursive: true });
  writeFileSync(path.join(dir, PG_PROJECT_FILE), JSON.stringify(pg));
}

/** Points a scaffolded project at the test server, in schemas of its own. */
function usePostgres(dir: string, url: string): void {
  const config = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(config, 'utf8');
  const edited = yaml.replace('engine: { kind: duckdb }', `engine: { kind: postgres, url: ${JSON.stringify(url)} }`);
  if (edited === yaml) throw new Error('the shop tidemark.yaml no longer has `engine: { kind: duckdb }`');
  writeFileSync(config, edited);
  writePgProject(dir, { url, prefix: `${freshPgSchemaName('shop')}_` });
}

/** The project's engine-specific environment: its schema prefix on PostgreSQL, nothing on DuckDB. */
function projectEnv(dir: string): Record<string, string> {
  const pg = pgProjectOf(dir);
  return pg ? { TIDEMARK_PG_SCHEMA_PREFIX: pg.prefix } : {};
}

/**
 * The quoted state schema to name in SQL given to `tidemark query`: `tidemark`, or on a PostgreSQL
 * test project its prefixed schema (the prefix is a test-only isolation device, see usePostgres).
 */
export function stateSchemaOf(dir: string): string {
  const pg = pgProjectOf(dir);
  return pg ? `"${pg.prefix}tidemark"` : 'tidemark';
}

const SCHEMA_SUFFIXES = ['tidemark_data', 'tidemark', 'tidemark_history', 'tidemark_staging'];

/**
 * Runs a small node script with a `pg.Client` bound to `client`, synchronously (a child process),
 * so that cleanup and copyProject keep their synchronous signatures.
 */
function pgAdmin(url: string, body: string): void {
  const script = `
    import pg from 'pg';
    const client = new pg.Client({ connectionString: ${JSON.stringify(url)} });
    await client.connect();
    try { ${body} } finally { await client.end(); }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PostgreSQL test admin script failed: ${r.stderr}`);
}

function dropSchemasScript(prefix: string): string {
  return SCHEMA_SUFFIXES.map((s) => `await client.query('DROP SCHEMA IF EXISTS "${prefix}${s}" CASCADE');`).join('\n');
}

/** Copies every table of a project's four schemas into a new prefix (structure, indexes and rows). */
function copySchemasScript(from: string, to: string): string {
  return `
    await client.query('BEGIN');
    for (const suffix of ${JSON.stringify(SCHEMA_SUFFIXES)}) {
      const [src, dst] = [${JSON.stringify(from)} + suffix, ${JSON.stringify(to)} + suffix];
      await client.query('CREATE SCHEMA "' + dst + '"');
      const { rows } = await client.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'", [src]);
      for (const { t } of rows) {
        await client.query('CREATE TABLE "' + dst + '"."' + t + '" (LIKE "' + src + '"."' + t + '" INCLUDING ALL)');
        await client.query('INSERT INTO "' + dst + '"."' + t + '" SELECT * FROM "' + src + '"."' + t + '"');
      }
    }
    await client.query('COMMIT');
  `;
}

/** Environment for a CLI subprocess: no crash or pause point unless asked, a fixed actor. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TIDEMARK_ACTOR: 'test', NO_COLOR: '1' };
  delete env.TIDEMARK_CRASH_AT;
  delete env.TIDEMARK_PAUSE_AT;
  delete env.TIDEMARK_PAUSE_FILE;
  delete env.TIDEMARK_PG_SCHEMA_PREFIX; // only the project's own prefix (projectEnv) may apply
  return { ...env, ...extra };
}

/** Runs `tidemark ARGS --project DIR` with no TTY (stdin closed), capturing everything. */
export function cli(dir: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args, '--project', dir], {
    cwd: options.cwd ?? dir,
    env: cliEnv({ ...projectEnv(dir), ...options.env }),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `cli` as an asynchronous subprocess: for tests whose webhook or cache servers live in this process
 * and must keep answering while the CLI posts to them (spawnSync would block the event loop).
 */
export function cliAsync(dir: string, args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return cliChild(dir, args, options).done;
}

/** A running CLI subprocess: its output so far, a way to signal it, and its result once it exits. */
export interface CliChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  done: Promise<CliResult>;
}

/** `cliAsync` with a handle on the process: for tests that watch its progress or signal it. */
export function cliChild(dir: string, args: string[], options: { env?: Record<string, string> } = {}): CliChild {
  const child = spawn(process.execPath, [BIN, ...args, '--project', dir], { cwd: dir, env: cliEnv({ ...projectEnv(dir), ...options.env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, kill: (s) => void child.kill(s), done };
}

/** Polls `predicate` (every 50 ms) until it holds: waits on state, never on a fixed time. */
export async function until(predicate: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await predicate())) await new Promise((r) => setTimeout(r, 50));
}

/** Runs a command that must succeed with --json and returns its parsed output. */
export function cliJson<T = any>(dir: string, args: string[], options: { env?: Record<string, string> } = {}): T {
  const r = cli(dir, [...args, '--json'], options);
  if (r.code !== 0) throw new Error(`tidemark ${args.join(' ')} exited ${r.code} (${r.signal ?? 'no signal'}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Starts a long-lived child process that opens the workspace (dist) as `command` and holds it until
 * stopped; with `runId` it records that run as the one it works on, as a running backfill does;
 * with `readOnly` it holds the DuckDB file read-only, as a read command does.
 */
export function holdWorkspace(dir: string, command: string, runId?: string, options: { readOnly?: boolean } = {}): Promise<{ pid: number; stop: () => Promise<void> }> {
  const open = { command, ...(options.readOnly ? { access: 'read', readOnly: true } : {}) };
  const script = `
    const { openWorkspace, noteHolderRun } = await import(${JSON.stringify(path.join(DIST, 'workspace.js'))});
    const ws = await openWorkspace(${JSON.stringify(dir)}, ${JSON.stringify(open)});
    ${runId ? `noteHolderRun(ws, ${JSON.stringify(runId)});` : ''}
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
    process.on('SIGTERM', async () => { await ws.close(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: cliEnv(projectEnv(dir)), stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', (code) => reject(new Error(`holder exited early (${code}): ${err}`)));
    child.stdout.on('data', (b: Buffer) => {
      if (!b.toString().includes('ready')) return;
      child.removeAllListeners('exit');
      resolve({
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            child.on('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

/** Every day from `from` to `to` inclusive (ISO). */
export function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export interface ShopOptions {
  /** DuckDB (the default) or the test PostgreSQL server, in schemas of the project's own. */
  engine?: TestEngine;
}

/**
 * Scaffolds the shop example into a new temp folder and keeps only the data files of
 * [from, to], so tests ingest a small project quickly. Returns the project folder.
 */
export async function scaffoldShop(from = REDUCED_FROM, to = REDUCED_TO, options: ShopOptions = {}): Promise<string> {
  const dir = path.join(tempDir(), 'shop');
  await scaffoldShopExample(dir);
  const engine = options.engine ?? DUCKDB;
  if (engine.kind === 'postgres') usePostgres(dir, engine.url);
  for (const sub of ['orders', 'fx_rates', 'fixes']) {
    const folder = path.join(dir, 'data', sub);
    for (const f of readdirSync(folder)) {
      const day = /(\d{4}-\d{2}-\d{2})/.exec(f)?.[1];
      if (!day || day < from || day > to) rmSync(path.join(folder, f));
    }
  }
  return dir;
}

export function dataFiles(dir: string, source: 'orders' | 'fx_rates'): string[] {
  const folder = path.join(dir, 'data', source);
  return readdirSync(folder)
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .map((f) => path.join('data', source, f));
}

/** Scaffolds the reduced shop, ingests both sources and runs every model: a fully built project. */
export async function builtShop(from = REDUCED_FROM, to = REDUCED_TO, options: ShopOptions = {}): Promise<string> {
  const dir = await scaffoldShop(from, to, options);
  cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
  cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
  cliJson(dir, ['run']);
  return dir;
}

/** A copy of a project folder (DuckDB file included; on PostgreSQL its schemas, under a new prefix) in a new temp folder. */
/**
 * Throwaway copies of a project built once per suite, so that every test starts from the same state:
 * `fresh()` copies the base, `track(dir)` adds another folder to clean up, and `removeAll()` (from
 * afterAll) removes them and the base. `base` is read when a copy is made (beforeAll builds it).
 */
export function projectCopies(base: () => string): { fresh(): string; track(dir: string): void; removeAll(): void } {
  const made: string[] = [];
  return {
    fresh() {
      const dir = copyProject(base());
      made.push(dir);
      return dir;
    },
    track: (dir) => void made.push(dir),
    removeAll: () => cleanup(base(), ...made),
  };
}

/**
 * A suite's project, built once by `build` (in beforeAll, after the build check) and removed with every
 * copy made of it (in afterAll): `base()` is the built project, `fresh()` a throwaway copy of it,
 * `track(dir)` another folder to remove. Call it at the top of a file or of a describe.
 */
export function sharedProject(build: () => Promise<string>): { base(): string; fresh(): string; track(dir: string): void } {
  let base = '';
  const copies = projectCopies(() => base);
  beforeAll(async () => {
    requireBuild();
    base = await build();
  }, 300_000);
  afterAll(() => {
    if (base) copies.removeAll();
  });
  return { base: () => base, fresh: copies.fresh, track: copies.track };
}

export function copyProject(dir: string): string {
  const copy = path.join(tempDir(), 'shop');
  cpSync(dir, copy, { recursive: true });
  // The copy is another file: records of who holds the original are not its holders.
  const state = path.join(copy, '.tidemark');
  for (const name of existsSync(state) ? readdirSync(state) : []) if (/^holder(-\d+)?\.json$|^writer-waiting\.json$/.test(name)) rmSync(path.join(state, name), { force: true });
  const pg = pgProjectOf(dir);
  if (pg) {
    const prefix = `${freshPgSchemaName('shop')}_`;
    pgAdmin(pg.url, copySchemasScript(pg.prefix, prefix));
    writePgProject(copy, { url: pg.url, prefix });
  }
  return copy;
}

/** Writes the corrected ("EUR amount fix") orders files for `fixDays` over the project's own files. */
export function writeOrdersFix(dir: string, fixDays: string[]): string[] {
  return fixDays.map((d) => {
    const rel = path.join('data', 'orders', `orders-${d}.csv`);
    writeFileSync(path.join(dir, rel), generateOrdersCsv(d, { fix: true }));
    return rel;
  });
}

/** Loads the upstream fix for `fixDays` (ingest), leaving the models stale for a backfill. */
export function applyOrdersFix(dir: string, fixDays: string[]): void {
  cliJson(dir, ['ingest', 'orders', ...writeOrdersFix(dir, fixDays)]);
}

/** Replaces a model's SQL file in the project. */
export function writeModel(dir: string, model: string, sql: string): void {
  writeFileSync(path.join(dir, 'models', `${model}.sql`), sql);
}

export function readModel(dir: string, model: string): string {
  return readFileSync(path.join(dir, 'models', `${model}.sql`), 'utf8');
}

/** Opens the project in this process (its PostgreSQL schema prefix applied) for `fn`, then closes it. */
export async function withWorkspace<T>(dir: string, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const ws = await openWithProjectPrefix(dir);
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

/**
 * The engine reads TIDEMARK_PG_SCHEMA_PREFIX once, when it opens; the variable is set only around
 * the open so that projects (and the CLIs this process spawns) never see each other's prefix.
 */
async function openWithProjectPrefix(dir: string): Promise<Workspace> {
  const pg = pgProjectOf(dir);
  if (!pg) return openWorkspace(dir, { actor: 'test', command: 'test' });
  const saved = process.env.TIDEMARK_PG_SCHEMA_PREFIX;
  process.env.TIDEMARK_PG_SCHEMA_PREFIX = pg.prefix;
  try {
    return await openWorkspace(dir, { actor: 'test', command: 'test' });
  } finally {
    if (saved === undefined) delete process.env.TIDEMARK_PG_SCHEMA_PREFIX;
    else process.env.TIDEMARK_PG_SCHEMA_PREFIX = saved;
  }
}

/** `ORDER BY` every column: DuckDB's `ALL`, PostgreSQL's column positions (same order). */
async function orderByAll(engine: Engine, schema: string, table: string): Promise<string> {
  if (engine.kind === 'duckdb') return 'ALL';
  const columns = (await engine.columns(schema, table)) ?? [];
  return columns.map((_, i) => i + 1).join(', ');
}

/** State tables whose rows are the durable outcome of writes (runs, tasks, outbox, staging are the journal). */
export const DURABLE_STATE_TABLES = ['partitions', 'versions', 'audit', 'locks', 'ingested_files', 'checkpoints'] as const;

export interface StateDump {
  /** Live table name → its rows, fully ordered. */
  live: Record<string, Record<string, unknown>[]>;
  /** tidemark.<table> → its rows, fully ordered. */
  state: Record<string, Record<string, unknown>[]>;
}

/** Every live table's rows and the durable state tables, as plain ordered data for toEqual. */
export async function snapshotState(dir: string): Promise<StateDump> {
  return withWorkspace(dir, async (ws) => ({ live: await liveRows(ws), state: await stateRows(ws) }));
}

/** Just the live tables: what users and dashboards read. */
export async function snapshotLive(dir: string): Promise<StateDump['live']> {
  return withWorkspace(dir, liveRows);
}

async function liveRows(ws: Workspace): Promise<StateDump['live']> {
  const { engine } = ws;
  const tables = await engine.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [engine.dataSchema],
  );
  const out: StateDump['live'] = {};
  for (const { t } of tables) out[t] = await engine.query(`SELECT * FROM ${engine.dialect.table(engine.dataSchema, t)} ORDER BY ${await orderByAll(engine, engine.dataSchema, t)}`);
  return out;
}

async function stateRows(ws: Workspace): Promise<StateDump['state']> {
  const { engine } = ws;
  const out: StateDump['state'] = {};
  for (const t of DURABLE_STATE_TABLES) out[t] = await engine.query(`SELECT * FROM ${engine.dialect.table(engine.stateSchema, t)} ORDER BY ${await orderByAll(engine, engine.stateSchema, t)}`);
  return out;
}

/** Duplicate keys in every live table of the shop (dataset → number of duplicated key values). */
export async function duplicateKeys(dir: string): Promise<Record<string, number>> {
  return withWorkspace(dir, async (ws) => {
    const out: Record<string, number> = {};
    for (const ds of ws.project.datasets.values()) {
      const t = ws.engine.dialect.table(ws.engine.dataSchema, ds.name);
      const k = ds.key.map((c) => ws.engine.dialect.quote(c)).join(', ');
      const rows = await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT ${k} FROM ${t} GROUP BY ${k} HAVING count(*) > 1) AS duplicated`);
      out[ds.name] = Number(rows[0].n);
    }
    return out;
  });
}

export interface PartitionJson {
  dataset: string;
  partition: string;
  state: string;
  version: number | null;
  rows: number | null;
  checksum: string | null;
  run_id: string | null;
  published_at: string | null;
}

/** `partitions DATASET --json` for every model and source, keyed `dataset/partition`. */
export function partitionsByKey(dir: string, datasets: string[]): Map<string, PartitionJson> {
  const out = new Map<string, PartitionJson>();
  for (const ds of datasets) for (const p of cliJson<PartitionJson[]>(dir, ['partitions', ds])) out.set(`${p.dataset}/${p.partition}`, p);
  return out;
}

export const SHOP_MODELS = ['daily_revenue', 'revenue_7d', 'monthly_revenue'];
export const SHOP_DATASETS = ['orders', 'fx_rates', ...SHOP_MODELS];

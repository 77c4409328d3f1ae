/**
 * Helpers for integration and CLI tests: a real shop project in a temp folder, the real CLI as a
 * subprocess (compiled dist/, so `npm run build` first), and a comparable dump of everything a
 * write may change. No mocks: every helper works on a real DuckDB file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateOrdersCsv, scaffoldShopExample } from '../../src/example/shop.js';
import { openWorkspace, type Workspace } from '../../src/workspace.js';

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

export function cleanup(...dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** Environment for a CLI subprocess: no crash point unless asked, a fixed actor. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TIDEMARK_ACTOR: 'test', NO_COLOR: '1' };
  delete env.TIDEMARK_CRASH_AT;
  return { ...env, ...extra };
}

/** Runs `tidemark ARGS --project DIR` with no TTY (stdin closed), capturing everything. */
export function cli(dir: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args, '--project', dir], {
    cwd: options.cwd ?? dir,
    env: cliEnv(options.env),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed with --json and returns its parsed output. */
export function cliJson<T = any>(dir: string, args: string[], options: { env?: Record<string, string> } = {}): T {
  const r = cli(dir, [...args, '--json'], options);
  if (r.code !== 0) throw new Error(`tidemark ${args.join(' ')} exited ${r.code} (${r.signal ?? 'no signal'}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Starts a long-lived child process that opens the workspace (dist) as `command` and holds it until
 * stopped; with `runId` it records that run as the one it works on, as a running backfill does.
 */
export function holdWorkspace(dir: string, command: string, runId?: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  const script = `
    const { openWorkspace, noteHolderRun } = await import(${JSON.stringify(path.join(DIST, 'workspace.js'))});
    const ws = await openWorkspace(${JSON.stringify(dir)}, { command: ${JSON.stringify(command)} });
    ${runId ? `noteHolderRun(ws, ${JSON.stringify(runId)});` : ''}
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
    process.on('SIGTERM', async () => { await ws.close(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
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

/**
 * Scaffolds the shop example into a new temp folder and keeps only the data files of
 * [from, to], so tests ingest a small project quickly. Returns the project folder.
 */
export async function scaffoldShop(from = REDUCED_FROM, to = REDUCED_TO): Promise<string> {
  const dir = path.join(tempDir(), 'shop');
  await scaffoldShopExample(dir);
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
export async function builtShop(from = REDUCED_FROM, to = REDUCED_TO): Promise<string> {
  const dir = await scaffoldShop(from, to);
  cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
  cliJson(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
  cliJson(dir, ['run']);
  return dir;
}

/** A copy of a project folder (DuckDB file included) in a new temp folder. */
export function copyProject(dir: string): string {
  const copy = path.join(tempDir(), 'shop');
  cpSync(dir, copy, { recursive: true });
  rmSync(path.join(copy, '.tidemark', 'holder.json'), { force: true });
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

export async function withWorkspace<T>(dir: string, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const ws = await openWorkspace(dir, { actor: 'test', command: 'test' });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
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
  for (const { t } of tables) out[t] = await engine.query(`SELECT * FROM ${engine.dialect.table(engine.dataSchema, t)} ORDER BY ALL`);
  return out;
}

async function stateRows(ws: Workspace): Promise<StateDump['state']> {
  const { engine } = ws;
  const out: StateDump['state'] = {};
  for (const t of DURABLE_STATE_TABLES) out[t] = await engine.query(`SELECT * FROM ${engine.dialect.table(engine.stateSchema, t)} ORDER BY ALL`);
  return out;
}

/** Duplicate keys in every live table of the shop (dataset → number of duplicated key values). */
export async function duplicateKeys(dir: string): Promise<Record<string, number>> {
  return withWorkspace(dir, async (ws) => {
    const out: Record<string, number> = {};
    for (const ds of ws.project.datasets.values()) {
      const t = ws.engine.dialect.table(ws.engine.dataSchema, ds.name);
      const k = ds.key.map((c) => ws.engine.dialect.quote(c)).join(', ');
      const rows = await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT ${k} FROM ${t} GROUP BY ${k} HAVING count(*) > 1)`);
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

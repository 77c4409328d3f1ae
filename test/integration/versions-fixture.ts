/**
 * Shared set-up for the versions tests: a real shop project in a temp folder, driven through the
 * real CLI (a subprocess running the built dist/), so exit codes and JSON shapes are the contract's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/tidemark.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function tm(dir: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, TIDEMARK_ACTOR: 'tester' }, timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed and returns its parsed --json output. */
export function tmJson<T = any>(dir: string, ...args: string[]): T {
  const r = tm(dir, ...args, '--json');
  if (r.code !== 0) throw new Error(`tidemark ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A shop project holding the last `days` days of the example's data, ingested and run. */
export function shopProject(label: string, days: number, editYaml?: (yaml: string) => string): string {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), `tidemark-${label}-`)), 'shop');
  const init = tm(os.tmpdir(), 'init', dir);
  if (init.code !== 0) throw new Error(init.stderr);
  if (editYaml) editFile(dir, 'tidemark.yaml', editYaml);
  const last = (folder: string) => readdirSync(path.join(dir, 'data', folder)).sort().slice(-days).map((f) => `data/${folder}/${f}`);
  tmJson(dir, 'ingest', 'orders', ...last('orders'));
  tmJson(dir, 'ingest', 'fx_rates', ...last('fx_rates'));
  tmJson(dir, 'run');
  return dir;
}

/** Removes a project made by shopProject (its temp parent folder included). */
export function removeProject(dir: string | undefined): void {
  if (dir) rmSync(path.dirname(dir), { recursive: true, force: true });
}

export function editFile(dir: string, file: string, edit: (text: string) => string): void {
  const p = path.join(dir, file);
  const before = readFileSync(p, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`edit of ${file} changed nothing`);
  writeFileSync(p, after);
}

export function readFile(dir: string, file: string): string {
  return readFileSync(path.join(dir, file), 'utf8');
}

export function writeFile(dir: string, file: string, text: string): void {
  writeFileSync(path.join(dir, file), text);
}

export interface PartitionState {
  version: number;
  checksum: string;
  rows: number;
}

/** dataset → partition → version/checksum/rows, from `partitions --json`. */
export function partitionStates(dir: string, datasets = ['daily_revenue', 'revenue_7d', 'monthly_revenue']): Map<string, Map<string, PartitionState>> {
  const out = new Map<string, Map<string, PartitionState>>();
  for (const ds of datasets) {
    const rows = tmJson<{ partition: string; version: number; checksum: string; rows: number }[]>(dir, 'partitions', ds);
    out.set(ds, new Map(rows.filter((r) => r.version !== null).map((r) => [r.partition, { version: r.version, checksum: r.checksum, rows: r.rows }])));
  }
  return out;
}

/** Everything a refused command must leave as it was: partition versions, live rows, version count. */
export function wholeState(dir: string): unknown {
  return {
    partitions: tmJson(dir, 'query', 'SELECT dataset, partition, version, checksum, rows, run_id FROM tidemark.partitions ORDER BY dataset, partition'),
    daily: tmJson(dir, 'query', 'SELECT d.*, (SELECT count(*) FROM tidemark.versions) AS _versions FROM daily_revenue d ORDER BY day, currency'),
  };
}

/** Generous limits: these tests run several CLI processes each on a possibly busy machine. */
export const SLOW = { timeout: 900_000 };
export const SETUP_TIMEOUT = 900_000;

export function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) out.push(d.toISOString().slice(0, 10));
  return out;
}

/** The shop's daily_revenue model with its USD revenue multiplied by `factor` (the "wrong SQL"). */
export function scaleRevenue(sql: string, factor: number | string): string {
  const scaled = sql.replace('CAST(SUM(round(o.amount_cents * f.usd_per_unit)) AS BIGINT) AS revenue_usd_cents', `CAST(SUM(round(o.amount_cents * f.usd_per_unit)) * ${factor} AS BIGINT) AS revenue_usd_cents`);
  if (scaled === sql) throw new Error('daily_revenue.sql no longer has the expected revenue_usd_cents line');
  return scaled;
}

// A DuckDB warehouse Tidemark may not write: a backup on a read-only mount, an archive an auditor
// verifies, a file owned by another user. Read commands open it read-only and answer exactly as on a
// writable copy; write commands are refused before anything is opened, the file byte for byte as it
// was. Tests run as root in CI, and root writes any chmod'ed file: so the behaviour is proved twice,
// with `--read-only` (the same read-only open, asked for; holds for root) and, for real permissions,
// as a user who cannot write the project (root runs the CLI as `nobody` with setpriv; a normal user
// is denied by chmod); those cases are skipped only when neither is possible.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, builtShop, cleanup, cli, cliJson, DIST, holdWorkspace, projectCopies, requireBuild, scaffoldShop, snapshotState, testEngines, type CliResult } from '../helpers/project.js';

let base: string;
let runId: string;
const copies = projectCopies(() => base);

beforeAll(async () => {
  requireBuild();
  base = await builtShop();
  runId = cliJson<{ run_id: string }[]>(base, ['runs'])[0].run_id;
}, 300_000);
afterAll(() => copies.removeAll());

const warehouse = (dir: string) => path.join(dir, '.tidemark', 'warehouse.duckdb');

/** The state folder's files with a hash of each: a read-only open must leave every byte (and no new .wal). */
function stateFiles(dir: string): Record<string, string> {
  const folder = path.join(dir, '.tidemark');
  const files: Record<string, string> = {};
  for (const f of readdirSync(folder).sort()) {
    if (f === 'holder.json') continue; // who holds the file now: written and removed by every open
    files[f] = createHash('sha256').update(readFileSync(path.join(folder, f))).digest('hex');
  }
  return files;
}

/** Every read command, as an auditor would run them (--json where the command has it). */
const readCommands = (): string[][] => [
  ['status'],
  ['partitions', 'daily_revenue'],
  ['history', 'daily_revenue'],
  ['diff', runId],
  ['query', 'SELECT currency, count(*) AS n, sum(amount_cents) AS cents FROM orders GROUP BY ALL ORDER BY ALL'],
  ['plan', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-03', '--downstream'],
  ['check', 'orders'],
  ['audit', 'log'],
  ['audit', 'verify'],
  ['audit', 'export'],
  ['audit', 'lineage', 'daily_revenue', '--partition', '2026-03-01'],
  ['changes', 'daily_revenue', '--since', '0'],
  ['checkpoint', 'show', 'daily_revenue'], // not incremental: the same refusal (exit 2) either way
  ['schema', 'check', 'orders'],
  ['consumers', 'list'],
  ['consumers', 'status'],
  ['runs'],
  ['wait', runId],
  ['ready', 'daily_revenue'],
  // A write command's dry run is the real plan, and writes nothing.
  ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-03', '--reason', 'audit', '--dry-run'],
];

/** `--json` where the command has it (`audit export` writes JSON lines anyway). */
const withJson = (args: string[]) => (args[0] === 'audit' && args[1] === 'export' ? args : [...args, '--json']);

/** Every write command, with arguments it would run with. */
const writeCommands = (): string[][] => [
  ['ingest', 'orders', 'data/orders/orders-2026-03-01.csv'],
  ['run'],
  ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'test', '--yes'],
  ['restore', 'daily_revenue', '--run', runId, '--reason', 'test', '--yes'],
  ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'test'],
  ['dedupe', 'orders', '--reason', 'test', '--yes'],
  ['gc', '--reason', 'test'],
  ['consumers', 'redeliver', '--run', runId],
  ['cancel', runId],
];

/** What a command answered: its exit code, stdout and error lines (progress lines aside). */
function answer(r: CliResult): { code: number | null; stdout: string; errors: string[] } {
  return { code: r.code, stdout: r.stdout, errors: r.stderr.split('\n').filter((l) => /^(error|hint):/.test(l)) };
}

function expectWriteRefused(r: CliResult, file: string, why: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(file);
  expect(errors[0]).toMatch(why);
  expect(errors[0]).toMatch(/this command writes it; nothing was done$/);
  expect(r.stderr).toMatch(/^hint: /m);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe('--read-only: the read-only open, asked for (holds for root too)', () => {
  it('every read command answers exactly as on the writable copy, and the files are unchanged', () => {
    const dir = copies.fresh();
    const before = stateFiles(dir);
    for (const args of readCommands()) {
      const json = withJson(args);
      const writable = answer(cli(dir, json));
      expect(answer(cli(dir, [...json, '--read-only'])), args.join(' ')).toEqual(writable);
    }
    expect(stateFiles(dir)).toEqual(before);
  });

  it('every write command is refused before anything is opened: exit 1, the path named, data and state unchanged', async () => {
    const dir = copies.fresh();
    const before = stateFiles(dir);
    const snapshot = await snapshotState(dir);
    const file = warehouse(dir);
    for (const args of writeCommands()) expectWriteRefused(cli(dir, [...args, '--read-only']), file, /is opened read-only \(--read-only\)/);
    // The --json error object, as for any error.
    const r = cli(dir, ['run', '--read-only', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: 'UNAVAILABLE', message: expect.stringContaining(`${file} is opened read-only`), hint: 'drop --read-only to run it', exit_code: 1 },
    });
    expect(stateFiles(dir)).toEqual(before);
    expect(await snapshotState(dir)).toEqual(snapshot);
  });

  it('serve and init refuse the flag rather than ignore it', () => {
    const dir = copies.fresh();
    expect(cli(dir, ['serve', '--read-only']).code).toBe(2);
    expect(cli(dir, ['init', path.join(dir, 'other'), '--read-only']).code).toBe(2);
    expect(existsSync(path.join(dir, 'other'))).toBe(false);
  });

  it('a query that would write is refused by DuckDB itself, not only rolled back', () => {
    const dir = copies.fresh();
    // `query` accepts one SELECT; a table function that writes would still need the rollback on a
    // read-write open. Read-only, DuckDB refuses the write: here an EXPLAIN ANALYZE of a CREATE.
    const r = cli(dir, ['query', 'EXPLAIN ANALYZE CREATE TABLE sneaky AS SELECT 1 AS a', '--read-only']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: cannot write the database: it is open read-only/m);
    expect(cliJson(dir, ['query', "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'sneaky'"])).toEqual([{ n: 0 }]);
  });
});

describe('a state store of an older Tidemark', () => {
  /** Takes the store back one version: migration 7 adds nothing on DuckDB, so this is all it did. */
  function downgrade(dir: string): void {
    const script = `
      const { DuckDbEngine } = await import(${JSON.stringify(path.join(DIST, 'engines', 'duckdb', 'engine.js'))});
      const engine = await DuckDbEngine.open(${JSON.stringify(warehouse(dir))});
      await engine.exec('DELETE FROM tidemark.schema_migrations WHERE version = 7');
      await engine.close();
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  }

  it('read-only, it is refused with the way to upgrade it; a read where it can be written upgrades it, as always', () => {
    const dir = copies.fresh();
    downgrade(dir);
    const before = stateFiles(dir);
    const refused = cli(dir, ['status', '--read-only']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^error: the state store in ${warehouse(dir)} was written by an older Tidemark and must be upgraded to be read, but the file is opened read-only \\(--read-only\\)$`, 'm'));
    expect(refused.stderr).toMatch(/^hint: upgrade it once where it can be written: copy the project \(cp -a\), run any command there/m);
    expect(stateFiles(dir)).toEqual(before);
    // A read command without the flag opens read-only, finds the store to upgrade, and opens it again read-write.
    const upgraded = cli(dir, ['status']);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(upgraded.stderr).toMatch(/upgrading the state store from version 6 to 7/);
    expect(cli(dir, ['status', '--read-only']).code).toBe(0);
  });
});

describe('who holds the file', () => {
  it('a read-only holder: other readers open it too, a writer is refused naming the holder', async () => {
    const dir = copies.fresh();
    const holder = await holdWorkspace(dir, 'tidemark audit verify', undefined, { readOnly: true });
    try {
      expect(cli(dir, ['status']).code).toBe(0);
      expect(cli(dir, ['query', 'SELECT 1 AS one', '--read-only']).code).toBe(0);
      const r = cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'test']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: the project's DuckDB file is held by another Tidemark process: pid ${holder.pid} running 'tidemark audit verify' since `, 'm'));
      expect(r.stderr).toMatch(/^hint: .*--wait/m);
    } finally {
      await holder.stop();
    }
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'test']).code).toBe(0);
  });

  it('a writer holding it: a read-only opener is refused naming the writer and its run', async () => {
    const dir = copies.fresh();
    const holder = await holdWorkspace(dir, 'tidemark backfill daily_revenue', 'r20260307_120000_abcdef');
    try {
      for (const args of [['status'], ['audit', 'verify', '--read-only']]) {
        const r = cli(dir, args);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^error: .*held by another Tidemark process: pid ${holder.pid} running 'tidemark backfill daily_revenue' \\(run r20260307_120000_abcdef\\)`, 'm'));
      }
    } finally {
      await holder.stop();
    }
  });
});

describe('a write-ahead log next to the read-only file', () => {
  it('is replayed in memory: the committed change is read, the log and the file are left as they are', () => {
    const dir = copies.fresh();
    leaveWal(dir);
    const before = stateFiles(dir);
    expect(cliJson(dir, ['query', 'SELECT answer FROM wal_probe', '--read-only'])).toEqual([{ answer: 42 }]);
    expect(cli(dir, ['status', '--read-only']).code).toBe(0);
    expect(stateFiles(dir)).toEqual(before);
  });
});

/**
 * Runs the CLI as a user who may not write the project: as root, as `nobody` with setpriv (the copy's
 * temp folder is made readable: mkdtemp makes it private to its owner); otherwise the state folder
 * and the file are chmod'ed. Null when neither is possible.
 */
function cliAsReader(dir: string, args: string[]): CliResult | null {
  const root = process.getuid?.() === 0;
  if (root && spawnSync('setpriv', ['--version']).status !== 0) return null;
  const prefix = root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const state = path.join(dir, '.tidemark');
  if (root) chmodSync(path.dirname(dir), 0o755);
  else for (const [p, mode] of [[warehouse(dir), 0o444], [state, 0o555]] as const) chmodSync(p, mode);
  try {
    const [cmd, ...rest] = [...prefix, process.execPath, BIN, ...args, '--project', dir];
    const r = spawnSync(cmd, rest, { cwd: dir, encoding: 'utf8', env: { ...process.env, TIDEMARK_ACTOR: 'test', NO_COLOR: '1' } });
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (!root) for (const [p, mode] of [[state, 0o755], [warehouse(dir), 0o644]] as const) chmodSync(p, mode);
  }
}

describe('a warehouse this user may not write (real permissions)', () => {
  it('read commands answer as on a writable copy; write commands are refused naming the path; nothing changes', async (ctx) => {
    const dir = copies.fresh();
    const writable = copies.fresh();
    const before = stateFiles(dir);
    const snapshot = await snapshotState(dir);
    for (const args of readCommands()) {
      const json = withJson(args);
      const r = cliAsReader(dir, json);
      if (!r) return ctx.skip('running as root without setpriv: permissions cannot be taken away');
      expect(answer(r), args.join(' ')).toEqual(answer(cli(writable, json)));
    }
    for (const args of writeCommands()) expectWriteRefused(cliAsReader(dir, args)!, warehouse(dir), /is read-only for user \S+/);
    expect(stateFiles(dir)).toEqual(before);
    expect(await snapshotState(dir)).toEqual(snapshot);
  });

  it('a write-ahead log: replayed when this user may read it; when not, the message names the log and never suggests deleting it', (ctx) => {
    const dir = copies.fresh();
    const root = process.getuid?.() === 0;
    if (!root) return ctx.skip('needs root: a log the test user itself wrote is readable to it');
    leaveWal(dir);
    // Readable, in a folder this user may not write: replayed in memory, as with --read-only.
    const replayed = cliAsReader(dir, ['query', 'SELECT answer FROM wal_probe', '--json']);
    if (!replayed) return ctx.skip('running as root without setpriv: permissions cannot be taken away');
    expect(JSON.parse(replayed.stdout)).toEqual([{ answer: 42 }]);
    chmodSync(`${warehouse(dir)}.wal`, 0o600);
    const r = cliAsReader(dir, ['status'])!;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: cannot open DuckDB file ${warehouse(dir)}: its write-ahead log ${warehouse(dir)}\\.wal cannot be read: permission denied for user nobody$`, 'm'));
    expect(r.stderr).toMatch(/^hint: the log holds commits not yet folded into the file: make it readable .*never delete it/m);
  });
});

/** Commits a change and dies before DuckDB folds its log into the file, as a killed writer leaves it. */
function leaveWal(dir: string): void {
  const script = `
    import { DuckDBInstance } from '@duckdb/node-api';
    const db = await DuckDBInstance.create(${JSON.stringify(warehouse(dir))});
    const c = await db.connect();
    await c.run("SET wal_autocheckpoint = '1TB'");
    await c.run('CREATE TABLE main.wal_probe AS SELECT 42 AS answer');
    process.kill(process.pid, 'SIGKILL');
  `;
  spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.dirname(DIST) });
  expect(existsSync(`${warehouse(dir)}.wal`)).toBe(true);
}

// On PostgreSQL the server's grants decide what may be written; the flag keeps its promise there too.
describe.each(testEngines(inject('pgUrl')).filter((e) => e.kind === 'postgres'))('--read-only on $kind', (engine) => {
  it('read commands run, write commands are refused before anything is opened', async () => {
    const dir = await scaffoldShop(undefined, undefined, { engine });
    try {
      cliJson(dir, ['status']); // creates the state store
      const before = await snapshotState(dir);
      expect(answer(cli(dir, ['status', '--json', '--read-only']))).toEqual(answer(cli(dir, ['status', '--json'])));
      const r = cli(dir, ['ingest', 'orders', 'data/orders/orders-2026-03-01.csv', '--read-only']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: the project's database is opened read-only \(--read-only\), and this command writes it; nothing was done$/m);
      expect(await snapshotState(dir)).toEqual(before);
    } finally {
      cleanup(dir);
    }
  }, 120_000);
});

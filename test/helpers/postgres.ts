// Throwaway PostgreSQL server for tests: a real server, started from the
// machine's PostgreSQL binaries in a temp folder, on 127.0.0.1 and a free port.
// No Docker, no npm dependencies: only node:child_process and the Debian binaries.
//
// .ci/run starts its cluster the same way in bash (keep the two in step).

import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface StartedPostgres {
  /** postgres://postgres@127.0.0.1:PORT/tidemark_test */
  url: string;
  /** Stops the server (immediate mode) and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
}

export const TEST_DATABASE = 'tidemark_test';
const PG_OS_USER = 'postgres';
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
}

/** First executable called `name` on PATH or in the sbin folders (root's tools live there). */
function which(name: string): string | null {
  const dirs = [...pathDirs(), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function hasServerBinaries(dir: string): boolean {
  return isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'));
}

/**
 * The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/<ver>/bin that
 * has both (Debian layout), else the first PATH folder that has both, else null.
 */
export function findPostgresBin(): string | null {
  let versions: string[] = [];
  try {
    versions = readdirSync(DEBIAN_PG_ROOT);
  } catch {
    versions = [];
  }
  const newestFirst = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of newestFirst) {
    const dir = join(DEBIAN_PG_ROOT, version, 'bin');
    if (hasServerBinaries(dir)) return dir;
  }
  for (const dir of pathDirs()) {
    if (hasServerBinaries(dir)) return dir;
  }
  return null;
}

interface OsUser {
  uid: number;
  gid: number;
}

function lookupOsUser(name: string): OsUser | null {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 4) {
      return { uid: Number(fields[2]), gid: Number(fields[3]) };
    }
  }
  return null;
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * How to run a PostgreSQL binary: directly when we are not root; as the postgres
 * OS user when we are (the server refuses to run as root). runuser first, su as fallback.
 */
function commandAsPgUser(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  const runuser = which('runuser');
  if (runuser) return [runuser, ['-u', PG_OS_USER, '--', cmd, ...args]];
  const su = which('su');
  if (su) return [su, [PG_OS_USER, '-s', '/bin/sh', '-c', [cmd, ...args].map(shellQuote).join(' ')]];
  throw new Error('Running as root but neither runuser nor su was found to run PostgreSQL as the postgres user');
}

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const detail = [String(stderr).trim(), String(stdout).trim()].filter((s) => s !== '').join('\n');
          reject(new Error(`${cmd} ${args.join(' ')} failed: ${error.message}${detail ? `\n${detail}` : ''}`));
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
  });
}

function runAsPg(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const [realCmd, realArgs] = commandAsPgUser(cmd, args);
  return run(realCmd, realArgs, opts);
}

/** A port that was free a moment ago: listen on port 0 on 127.0.0.1, note it, close. */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port picked by the OS'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

function tailOf(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

/**
 * Whether PostgreSQL tests should run, given TIDEMARK_TEST_ENGINES: unset or empty means
 * all engines; otherwise a comma/space separated list such as "duckdb,postgres".
 */
export function postgresTestsWanted(engines: string | undefined): boolean {
  if (engines === undefined || engines.trim() === '') return true;
  return engines
    .split(/[\s,]+/)
    .map((e) => e.trim().toLowerCase())
    .includes('postgres');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * initdb + pg_ctl start in a fresh temp folder; resolves once the server accepts
 * connections on 127.0.0.1 and the tidemark_test database exists.
 */
export async function startPostgres(): Promise<StartedPostgres> {
  const bin = findPostgresBin();
  if (bin === null) {
    throw new Error(
      'PostgreSQL server binaries not found (looked for initdb and pg_ctl under /usr/lib/postgresql/*/bin and on PATH); ' +
        'install the Debian package postgresql or set TIDEMARK_TEST_PG_URL',
    );
  }
  const asRoot = process.getuid?.() === 0;
  let pgUser: OsUser | null = null;
  if (asRoot) {
    pgUser = lookupOsUser(PG_OS_USER);
    if (pgUser === null) {
      throw new Error(
        `Running as root, and PostgreSQL refuses to run as root, but there is no '${PG_OS_USER}' OS user to run it as; ` +
          'install the Debian package postgresql (it creates the user) or set TIDEMARK_TEST_PG_URL',
      );
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'tidemark-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let started = false;
  let stopped = false;

  const stopSync = () => {
    // Last resort if the process exits without stop(): the postmaster is detached
    // from us (pg_ctl daemonizes it), so it would otherwise outlive the test run.
    if (started && !stopped) {
      const [c, a] = commandAsPgUser(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
      spawnSync(c, a, { cwd: '/', stdio: 'ignore', timeout: 30_000 });
      spawnSync('rm', ['-rf', dir], { stdio: 'ignore' });
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stopSync);
    try {
      if (started) {
        await runAsPg(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '30'], { cwd: dir });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    if (pgUser !== null) {
      await chown(dir, pgUser.uid, pgUser.gid);
      // A TMPDIR inside a root-only folder (e.g. /root/tmp) would make initdb fail obscurely.
      const [probeCmd, probeArgs] = commandAsPgUser('test', ['-w', dir, '-a', '-x', dir]);
      const probe = spawnSync(probeCmd, probeArgs, { cwd: '/', stdio: 'ignore' });
      if (probe.status !== 0) {
        throw new Error(
          `The ${PG_OS_USER} OS user cannot use the temp folder ${dir}; point TMPDIR at a folder it can reach (e.g. /tmp)`,
        );
      }
    }

    // cwd = the temp folder: the postgres user may not be allowed into ours (e.g. /root).
    await runAsPg(
      join(bin, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { cwd: dir, timeoutMs: 120_000 },
    );

    // Settings go into postgresql.conf (later lines win) rather than pg_ctl -o, which is
    // pasted into a shell command line; only the port, a plain number, goes through -o.
    const socketDir = dir.replace(/'/g, "''");
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# tidemark test harness',
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${socketDir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 200',
        '',
      ].join('\n'),
    );

    // The port is free when picked but could be taken before the server binds it: retry a few times.
    let port = 0;
    let lastError: unknown = null;
    for (let attempt = 1; attempt <= 3 && !started; attempt++) {
      port = await pickFreePort();
      try {
        await runAsPg(
          join(bin, 'pg_ctl'),
          ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port}`],
          { cwd: dir, timeoutMs: 90_000 },
        );
        started = true;
        process.on('exit', stopSync);
      } catch (error) {
        lastError = error;
        const log = tailOf(logFile);
        if (!/could not bind|address already in use/i.test(log)) break;
      }
    }
    if (!started) {
      throw new Error(
        `PostgreSQL server did not start: ${lastError instanceof Error ? lastError.message : String(lastError)}\n` +
          `--- last lines of ${logFile} ---\n${tailOf(logFile)}`,
      );
    }

    // pg_ctl -w already waited for "ready"; confirm over TCP, the way the tests will connect.
    const pgIsReady = isExecutable(join(bin, 'pg_isready')) ? join(bin, 'pg_isready') : which('pg_isready');
    if (pgIsReady !== null) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = spawnSync(pgIsReady, ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'], {
          stdio: 'ignore',
        });
        if (r.status === 0) break;
        if (Date.now() > deadline) {
          throw new Error(`PostgreSQL on 127.0.0.1:${port} did not accept connections within 30s\n${tailOf(logFile)}`);
        }
        await sleep(100);
      }
    }

    const createdb = isExecutable(join(bin, 'createdb')) ? join(bin, 'createdb') : (which('createdb') ?? 'createdb');
    await run(createdb, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', TEST_DATABASE], { cwd: dir });

    return { url: `postgres://postgres@127.0.0.1:${port}/${TEST_DATABASE}`, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

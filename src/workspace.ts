/**
 * A workspace is an open project: its config, its engine with the state store migrated (or, opened
 * read-only, found current: duckdb-access.ts), the event stream and who is acting. Commands and the
 * library API both start here.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redactSecrets } from './audit/redact.js';
import { loadProject, STATE_DIR, type LoadOptions } from './config/load.js';
import type { Project } from './config/project.js';
import { DuckDbEngine } from './engines/duckdb/engine.js';
import type { Engine } from './engines/engine.js';
import { TidemarkError } from './errors.js';
import { EventBus } from './events.js';
import { fileSystemError } from './io/fs-errors.js';
import { migrate } from './state/migrate.js';
import { readOnlyStoreError, storeCondition } from './state/read-only-store.js';
import { chooseDuckDbAccess, type Access, type DuckDbAccess } from './duckdb-access.js';
import { attachRunHeartbeat } from './workers/run-heartbeat.js';

export interface OpenOptions extends LoadOptions {
  /** Who is acting: --actor, else TIDEMARK_ACTOR, else the OS user. */
  actor?: string;
  /** The command line, for the audit record (secrets are removed before it is stored). */
  command?: string;
  /** Wait this long for a database held by another process (DuckDB). */
  waitMs?: number;
  /** Told before an existing state store is upgraded to this version's schema (state/migrate.ts). */
  onUpgrade?: (from: number, to: number) => void;
  /**
   * What the caller will do with a DuckDB file (duckdb-access.ts): 'read' opens it read-only
   * where it cannot be written, 'write' refuses such a file before anything is opened, and 'auto'
   * (the default) opens it read-write where it can, else read-only (DuckDB then refuses any write).
   */
  access?: Access;
  /** Open the DuckDB file read-only even where it could be written (`--read-only`); 'write' is then refused. */
  readOnly?: boolean;
}

export interface Workspace {
  project: Project;
  engine: Engine;
  events: EventBus;
  actor: string;
  command: string;
  /** The DuckDB file is open read-only: every write is refused (by DuckDB itself). */
  readOnly: boolean;
  /** Removes configured secrets from text that may reach logs, audit records or JSON output. */
  redact(text: string): string;
  close(): Promise<void>;
}

interface Holder {
  pid: number;
  command: string;
  run_id?: string;
  started_at: string;
}

function holderFile(project: Project): string {
  return path.join(project.dir, STATE_DIR, 'holder.json');
}

export function defaultActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TIDEMARK_ACTOR) return env.TIDEMARK_ACTOR;
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

export async function openWorkspace(dir: string, options: OpenOptions = {}): Promise<Workspace> {
  const project = loadProject(dir, options);
  const redact = (text: string): string => redactSecrets(text, project.secrets);
  const command = redact(options.command ?? 'library');
  // Decided before anything is opened: a write command refused here has touched nothing.
  const access = chooseDuckDbAccess(project, options.access ?? 'auto', Boolean(options.readOnly));
  const { engine, readOnly } = await openStore(project, command, options, access);
  const file = holderFile(project);
  if (project.engine.kind === 'duckdb') {
    try {
      writeHolder(file, { pid: process.pid, command, started_at: new Date().toISOString() }, readOnly);
    } catch (error) {
      // A reader that cannot write the state folder goes on: it only costs a writer it blocks the
      // holder's name (describeHolder then names the pid alone).
      if (!readOnly) {
        // The folder DuckDB writes its .wal into: better refused here, before any work, than at a commit.
        await engine.close();
        throw fileSystemError(error, path.dirname(file), 'write', 'the state folder') ?? error;
      }
    }
  }
  let closed = false;
  const events = new EventBus();
  // Multi-writer engines: runs computed here keep a heartbeat that other machines can see (issue 8).
  const stopHeartbeats = attachRunHeartbeat(engine, events);
  return {
    project,
    engine,
    events,
    actor: options.actor ?? defaultActor(options.env),
    command,
    readOnly,
    redact,
    async close() {
      if (closed) return;
      closed = true;
      stopHeartbeats();
      await engine.close();
      if (project.engine.kind === 'duckdb') {
        try {
          const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
          if (h.pid === process.pid) rmSync(file, { force: true });
        } catch {
          /* already gone (or never written by a reader that could not) */
        }
      }
    },
  };
}

/**
 * The engine, with a store this Tidemark can read: migrated when opened read-write. Opened read-only,
 * the store is read as it is, or refused when it would have to be written first (none yet, or an
 * older one) and this user may not write it; a reader that may is given it read-write instead.
 */
async function openStore(project: Project, command: string, options: OpenOptions, access: DuckDbAccess): Promise<{ engine: Engine; readOnly: boolean }> {
  const engine = await openEngine(project, command, options.waitMs ?? 0, access);
  try {
    if (!access.readOnly) {
      await migrate(engine, options.onUpgrade);
      return { engine, readOnly: false };
    }
    const condition = await storeCondition(engine);
    if (condition === 'current') return { engine, readOnly: true };
    if (!access.mayWrite) throw readOnlyStoreError(condition, access.file, access.why);
  } catch (error) {
    await engine.close();
    throw error;
  }
  // Created or upgraded as every command always has (another process may take the file in between:
  // the second open then waits or names it, as any open does).
  await engine.close();
  return openStore(project, command, options, { ...access, readOnly: false });
}

/**
 * Names this process as the file's holder. Readers hold it together, so a reader leaves the record of
 * another live reader as it is: the one DuckDB names to a refused writer is then often named in full
 * (a writer holds the file alone, and its record is always its own).
 */
function writeHolder(file: string, holder: Holder, readOnly: boolean): void {
  if (readOnly && recordedHolderAlive(file)) return;
  writeFileSync(file, JSON.stringify(holder));
}

function recordedHolderAlive(file: string): boolean {
  let pid: number;
  try {
    pid = (JSON.parse(readFileSync(file, 'utf8')) as Holder).pid;
  } catch {
    return false;
  }
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** Records the run a process is working on, so a second process can name it. */
export function noteHolderRun(ws: Workspace, runId: string | undefined): void {
  if (ws.project.engine.kind !== 'duckdb') return;
  const holder: Holder = { pid: process.pid, command: ws.command, run_id: runId, started_at: new Date().toISOString() };
  writeFileSync(holderFile(ws.project), JSON.stringify(holder));
}

async function openEngine(project: Project, command: string, waitMs: number, access: DuckDbAccess): Promise<Engine> {
  if (project.engine.kind === 'postgres') {
    const { openPostgresEngine } = await import('./engines/open-postgres.js');
    return openPostgresEngine(project.engine.url, project.engine.schema);
  }
  const file = access.file;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await openDuckDbOnce(file, command, access.readOnly);
    } catch (error) {
      if (!(error instanceof TidemarkError) || error.code !== 'LOCKED') throw error;
      if (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw describeHolder(project, error, waitMs);
    }
  }
}

/**
 * DuckDB files open in this process, with the command that opened each. DuckDB's file lock is per
 * process: a second instance on the same file in the same process is not refused by it, and two
 * instances writing one file corrupt it. So Tidemark refuses that itself, as another process is refused.
 */
const openHere = new Map<string, string>();

async function openDuckDbOnce(file: string, command: string, readOnly: boolean): Promise<Engine> {
  const holder = openHere.get(file);
  if (holder !== undefined) {
    throw new TidemarkError('LOCKED', `the project's database is already open in this process (pid ${process.pid}, by '${holder}')`, { pid: process.pid, file, here: true });
  }
  const engine = await DuckDbEngine.open(file, { readOnly });
  openHere.set(file, command);
  const close = engine.close.bind(engine);
  engine.close = async () => {
    openHere.delete(file);
    await close();
  };
  return engine;
}

function describeHolder(project: Project, error: TidemarkError, waitedMs: number): TidemarkError {
  const waited = waitedMs > 0 ? ` (still, after waiting ${formatWait(waitedMs)})` : '';
  if (error.details.here) {
    return new TidemarkError('LOCKED', `${error.message}${waited}`, { hint: 'close that workspace first, or share it: open a project once per process (library: one openWorkspace, many calls)' });
  }
  const file = holderFile(project);
  let who = `process ${String(error.details.pid)}`;
  if (existsSync(file)) {
    try {
      const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
      if (h.pid === error.details.pid) {
        who = `pid ${h.pid} running '${h.command}'${h.run_id ? ` (run ${h.run_id})` : ''} since ${h.started_at}`;
      }
    } catch {
      /* fall back to the pid from the engine */
    }
  }
  return new TidemarkError('LOCKED', `the project's DuckDB file is held by another Tidemark process: ${who}${waited}`, {
    ...error.details,
    hint: waitedMs > 0
      ? 'wait longer (--wait SECONDS, or --wait alone for up to an hour), or run `tidemark serve` so commands are handed to one process'
      : 'wait for it to finish, retry with --wait, or run `tidemark serve` so commands are handed to one process',
  });
}

function formatWait(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

/**
 * A workspace is an open project: its config, its engine with the state store migrated (or, opened
 * read-only, found current: duckdb-access.ts), the event stream and who is acting. Commands and the
 * library API both start here.
 */
import os from 'node:os';
import path from 'node:path';
import { redactSecrets } from './audit/redact.js';
import { loadProject, STATE_DIR, type LoadOptions } from './config/load.js';
import type { Project } from './config/project.js';
import { DuckDbEngine } from './engines/duckdb/engine.js';
import type { Engine } from './engines/engine.js';
import { TidemarkError, usageError } from './errors.js';
import { EventBus } from './events.js';
import { fileSystemError } from './io/fs-errors.js';
import { migrate } from './state/migrate.js';
import { readOnlyStoreError, storeCondition } from './state/read-only-store.js';
import { chooseDuckDbAccess, type Access, type DuckDbAccess } from './duckdb-access.js';
import { attachRunHeartbeat } from './workers/run-heartbeat.js';
import { describeRecord, liveHolders, recordHolder, removeHolderRecord, waitAsWriter, waitingWriter, type Holder, type WriterWait } from './holders.js';
import { readServeInfo } from './server/serve-file.js';

export interface OpenOptions extends LoadOptions {
  /** Who is acting: --actor, else TIDEMARK_ACTOR, else the OS user. */
  actor?: string;
  /** The command line, for the audit record (secrets are removed before it is stored). */
  command?: string;
  /** Wait this long for a database held by another process (DuckDB). */
  waitMs?: number;
  /** Told when the open starts waiting (waitMs), and again when what it waits for changes: who holds the file. */
  onWait?: (text: string, reason: 'project_held' | 'writer_waiting') => void;
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
  /**
   * Releases the project (on DuckDB, its database file, which another process may then open).
   * Idempotent; every call made with the workspace afterwards is refused with USAGE.
   */
  close(): Promise<void>;
}

/** The state folder, where each process holding the DuckDB file records itself (holders.ts). */
function stateDir(project: Project): string {
  return path.join(project.dir, STATE_DIR);
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
  // Every audit record names who acted: a blank name would record nobody (refused before anything is opened).
  if (options.actor !== undefined && !options.actor.trim()) {
    throw usageError('the actor is blank: every audit record names who acted', 'give a name (--actor NAME; library: openWorkspace(dir, { actor })), or leave it out for $TIDEMARK_ACTOR, else the OS user');
  }
  const project = loadProject(dir, options);
  const redact = (text: string): string => redactSecrets(text, project.secrets);
  const command = redact(options.command ?? 'library');
  // Decided before anything is opened: a write command refused here has touched nothing.
  const access = chooseDuckDbAccess(project, options.access ?? 'auto', Boolean(options.readOnly));
  const { engine, readOnly } = await openStore(project, command, options, access);
  const state = stateDir(project);
  if (project.engine.kind === 'duckdb') {
    try {
      recordHolder(state, { pid: process.pid, command, file: path.resolve(project.engine.path), started_at: new Date().toISOString(), ...(readOnly ? { read_only: true } : {}) });
    } catch (error) {
      // A reader that cannot write the state folder goes on: it only costs a writer it blocks the
      // holder's name (describeHolder then names the pid alone).
      if (!readOnly) {
        // The folder DuckDB writes its .wal into: better refused here, before any work, than at a commit.
        await engine.close();
        throw fileSystemError(error, state, 'write', 'the state folder') ?? error;
      }
    }
    try {
      liveHolders(state); // sweeps records left by killed processes
    } catch {
      /* a reader's folder it may not write */
    }
  }
  let closed = false;
  const events = new EventBus();
  // Multi-writer engines: runs computed here keep a heartbeat that other machines can see (issue 8).
  const stopHeartbeats = attachRunHeartbeat(engine, events);
  return {
    project,
    // Read by every call: after close() a call is refused as the caller's mistake, not reported as
    // whatever the closed database driver says ("connection disconnected").
    get engine(): Engine {
      if (closed) throw new TidemarkError('USAGE', 'this workspace is closed', { hint: 'open the project again with openWorkspace, and close it once its last call has finished' });
      return engine;
    },
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
          removeHolderRecord(state);
        } catch {
          /* never written by a reader that could not */
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
  const engine = await openEngine(project, command, options, access);
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
 * Records the run a process is working on, so a second process can name it. Inside `tidemark serve`
 * the process is still the server: its record keeps the server's command and adds the run and the
 * command it runs it for.
 */
export function noteHolderRun(ws: Workspace, runId: string | undefined): void {
  if (ws.project.engine.kind !== 'duckdb') return;
  const own = openHere.get(path.resolve(ws.project.engine.path));
  const command = own ?? ws.command;
  const holder: Holder = { pid: process.pid, command, file: path.resolve(ws.project.engine.path), started_at: new Date().toISOString() };
  if (runId) holder.run_id = runId;
  if (runId && own !== undefined && own !== ws.command) holder.serving = ws.command;
  try {
    recordHolder(stateDir(ws.project), holder);
  } catch {
    /* a writer's folder was writable when it opened; losing the record costs only its name */
  }
}

async function openEngine(project: Project, command: string, options: OpenOptions, access: DuckDbAccess): Promise<Engine> {
  if (project.engine.kind === 'postgres') {
    const { openPostgresEngine } = await import('./engines/open-postgres.js');
    return openPostgresEngine(project.engine.url, project.engine.schema);
  }
  const file = access.file;
  const dir = stateDir(project);
  const waitMs = options.waitMs ?? 0;
  const deadline = Date.now() + waitMs;
  /** What the caller was last told it waits for: told again only when that changes. */
  let told = '';
  const tell = (text: string, reason: 'project_held' | 'writer_waiting') => {
    if (text !== told) options.onWait?.(text, reason);
    told = text;
  };
  /** A writer's place before readers that arrive while it waits (holders.ts), from its first refusal. */
  let queued: WriterWait | null = null;
  try {
    for (;;) {
      // A reader steps aside for a writer that waits (holders.ts): readers cannot keep it out forever.
      const writer = access.readOnly ? waitingWriter(dir) : null;
      if (writer) {
        if (Date.now() >= deadline) throw writerFirst(writer, waitMs);
        tell(`a write command waits for the project's DuckDB file and goes first: ${describeRecord(writer)}; this command waits behind it (up to ${formatWait(waitMs)})`, 'writer_waiting');
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      try {
        return await openDuckDbOnce(file, command, access.readOnly);
      } catch (error) {
        if (!(error instanceof TidemarkError) || error.code !== 'LOCKED') throw error;
        if (Date.now() >= deadline) throw describeHolder(project, error, waitMs, command);
        if (!access.readOnly && !error.details.here) {
          if (queued) queued.renew();
          else queued = waitAsWriter(dir, command);
        }
        tell(`the project's DuckDB file is held by ${whoHolds(project, error)}; waiting up to ${formatWait(waitMs)}${access.readOnly ? '' : ' (readers that arrive meanwhile wait behind this command)'}`, 'project_held');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    queued?.end();
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

function describeHolder(project: Project, error: TidemarkError, waitedMs: number, command: string): TidemarkError {
  const waited = waitedMs > 0 ? ` (still, after waiting ${formatWait(waitedMs)})` : '';
  if (error.details.here) {
    return new TidemarkError('LOCKED', `${error.message}${waited}`, { pid: process.pid, file: error.details.file, hint: 'close that workspace first, or share it: open a project once per process (library: one openWorkspace, many calls)' });
  }
  const serve = readServeInfo(project.dir);
  const holder = liveHolders(stateDir(project)).get(Number(error.details.pid));
  // `tidemark serve` refused: suggesting serve would send the user in a circle.
  const isServe = /^tidemark serve\b/.test(command);
  const wait = waitedMs > 0 ? 'wait longer (--wait SECONDS, or --wait alone for up to an hour)' : 'wait for it to finish, retry with --wait';
  const hint = serve && serve.pid === error.details.pid
    ? `tidemark serve (pid ${serve.pid}) holds it: CLI commands are handed to it on their own; from code, call its API at http://${serve.host}:${serve.port} (token in .tidemark/serve.json), or stop it first`
    : holder?.run_id && !holder.read_only
      ? runHolderHint(holder.run_id, holder.command, wait, isServe)
      : isServe
        ? `${wait}; then start tidemark serve, and commands from other terminals are handed to it`
        : `${wait}, or run \`tidemark serve\` so commands are handed to one process`;
  // The holder's command and run, as data: a caller in another process that wants that run stopped
  // (requestCancelByMarker) should not have to parse them out of the message.
  const named = holder ? { holder_command: holder.command, ...(holder.run_id ? { holder_run_id: holder.run_id } : {}) } : {};
  return new TidemarkError('LOCKED', `the project's DuckDB file is held by another Tidemark process: ${whoHolds(project, error)}${waited}`, { ...error.details, ...named, hint });
}

/**
 * A one-shot command holds the file for its whole run (a big backfill, throttled or not), so the way
 * for other work to go first is the one that keeps the backfill's work: stop its run between tasks,
 * then re-issue it through `tidemark serve`, where it resumes and commands from other terminals run
 * beside it.
 */
function runHolderHint(runId: string, holderCommand: string, wait: string, isServe: boolean): string {
  const what = /^tidemark (\S+)/.exec(holderCommand)?.[1] ?? 'command';
  const cancel = `\`tidemark cancel ${runId}\` stops that run between tasks, keeping what it computed`;
  return isServe
    ? `${wait}; or ${cancel}, then start tidemark serve and re-issue the ${what} from another terminal: it is handed to the server, resumes the run, and other commands run beside it`
    : `${wait}; or, for this command to go first, ${cancel}: start \`tidemark serve\`, then re-issue the ${what} (it resumes the run) and this command from other terminals, and they run side by side`;
}

/**
 * The process DuckDB named, with its command and run from its own record (holders.ts); when it is one
 * of several readers, the others too (a writer needs them all gone). Only live processes are named.
 */
function whoHolds(project: Project, error: TidemarkError): string {
  if (error.details.here) return `this process (pid ${process.pid})`;
  const pid = Number(error.details.pid);
  const holders = liveHolders(stateDir(project));
  const named = holders.get(pid);
  let who = named ? describeRecord(named) : `process ${pid}`;
  if (named && !named.read_only) return who;
  // A record copied with the folder (cp -r while readers ran) is of another file: not a holder of this one.
  const file = String(error.details.file ?? '');
  const readers = [...holders.values()].filter((h) => h.pid !== pid && h.pid !== process.pid && h.read_only && (!h.file || h.file === file));
  if (readers.length) {
    const shown = readers.slice(0, 3).map((h) => `pid ${h.pid} '${h.command}'`).join(', ');
    who += `, and ${readers.length} other reader(s): ${shown}${readers.length > 3 ? ', …' : ''}`;
  }
  return who;
}

/** A reader refused because a writer waits for the file: it goes first, as the readers it waits for finish. */
function writerFirst(writer: Holder, waitedMs: number): TidemarkError {
  const waited = waitedMs > 0 ? ` (still, after waiting ${formatWait(waitedMs)})` : '';
  return new TidemarkError('LOCKED', `a write command waits for the project's DuckDB file and goes first: ${describeRecord(writer)}${waited}`, {
    pid: writer.pid,
    hint: 'retry with --wait (this command then runs right after it), or stop that command',
  });
}

function formatWait(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

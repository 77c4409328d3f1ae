/**
 * A workspace is an open project: its config, its engine with the state store migrated, the event
 * stream and who is acting. Commands and the library API both start here.
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
}

export interface Workspace {
  project: Project;
  engine: Engine;
  events: EventBus;
  actor: string;
  command: string;
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
  const engine = await openEngine(project, command, options.waitMs ?? 0);
  try {
    await migrate(engine, options.onUpgrade);
  } catch (error) {
    await engine.close();
    throw error;
  }
  const file = holderFile(project);
  if (project.engine.kind === 'duckdb') {
    const holder: Holder = { pid: process.pid, command, started_at: new Date().toISOString() };
    try {
      writeFileSync(file, JSON.stringify(holder));
    } catch (error) {
      // The folder DuckDB writes its .wal into: better refused here, before any work, than at a commit.
      await engine.close();
      throw fileSystemError(error, path.dirname(file), 'write', 'the state folder') ?? error;
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
          /* already gone */
        }
      }
    },
  };
}

/** Records the run a process is working on, so a second process can name it. */
export function noteHolderRun(ws: Workspace, runId: string | undefined): void {
  if (ws.project.engine.kind !== 'duckdb') return;
  const holder: Holder = { pid: process.pid, command: ws.command, run_id: runId, started_at: new Date().toISOString() };
  writeFileSync(holderFile(ws.project), JSON.stringify(holder));
}

async function openEngine(project: Project, command: string, waitMs: number): Promise<Engine> {
  if (project.engine.kind === 'postgres') {
    const { openPostgresEngine } = await import('./engines/open-postgres.js');
    return openPostgresEngine(project.engine.url, project.engine.schema);
  }
  const file = path.resolve(project.engine.path);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await openDuckDbOnce(file, command);
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

async function openDuckDbOnce(file: string, command: string): Promise<Engine> {
  const holder = openHere.get(file);
  if (holder !== undefined) {
    throw new TidemarkError('LOCKED', `the project's database is already open in this process (pid ${process.pid}, by '${holder}')`, { pid: process.pid, file, here: true });
  }
  const engine = await DuckDbEngine.open(file);
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

/**
 * `tidemark serve` reads tidemark.yaml and the model SQL once, when it starts, and every command handed
 * to it runs on that copy. A user who edits the project while it runs (fixes a model, adds a consumer, a
 * protected range) and then hands it a command would otherwise run the old configuration without a
 * word: a backfill with the SQL they just replaced. So before each handed command the server re-reads
 * the project: unchanged, nothing happens; changed, a command that writes is refused (restarting the
 * server applies the change) and any other command runs with a warning saying which configuration
 * answered.
 *
 * "Changed" means the project loads differently, not that a file's bytes differ: comments, blank
 * lines, indentation or quoting in tidemark.yaml (or blanks and comments after a model's statement)
 * change nothing the server runs, so they refuse nothing. A comment inside a model's SQL is part of
 * the statement the engine runs: that is a change.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { loadProject } from '../config/load.js';
import type { Project } from '../config/project.js';
import { mutatingCommand } from '../core/mutations.js';
import { TidemarkError } from '../errors.js';
import type { Workspace } from '../workspace.js';

/**
 * The last time the project on disk loaded: the server's copy's files as they stood (stat) just before,
 * and whether it matched that copy. While none of those files changed the answer stands, so a command
 * handed to the server costs a few stat calls, not a parse of the whole project.
 */
interface LastLoad {
  files: Map<string, string>;
  drift: string | null;
}

const lastLoads = new WeakMap<Project, LastLoad>();

/** How the project on disk differs from the one the server loaded; null when it does not. */
export function projectDrift(ws: Workspace): string | null {
  const last = lastLoads.get(ws.project);
  if (last && [...last.files].every(([file, stamp]) => fileStamp(file) === stamp)) return last.drift;
  // The files the server's copy was read from, stamped before they are read again: one changed during
  // the load differs from its stamp next time. No other file can change the answer while these stand:
  // the same tidemark.yaml names the same model files, and one that differs makes the project differ.
  const stampedAt = Date.now();
  const files = new Map(projectFiles(ws.project).map((f) => [f, fileStamp(f)]));
  let onDisk: Project;
  try {
    // The server's own environment: the one its copy was resolved with, so only the files can differ.
    onDisk = loadProject(ws.project.dir);
  } catch (error) {
    // Not remembered: what failed the load may be a file the edited tidemark.yaml names, which no stamp covers.
    const message = error instanceof TidemarkError ? error.message : String(error);
    return `tidemark.yaml or a model file changed and no longer loads (${ws.redact(message)})`;
  }
  const drift = onDisk.configHash === ws.project.configHash || loadedAs(onDisk) === loadedAs(ws.project) ? null : 'tidemark.yaml or a model file changed';
  // Files that load the same project with other text (comments, layout) take the hash of that text:
  // what the server now queues and audits names the files as they are, and a worker started from them
  // (which compares its own hash with the run's) computes the runs it queues instead of refusing them.
  if (drift === null) ws.project.configHash = onDisk.configHash;
  // A file written just now may be written again within the file system's clock tick, with the same
  // size: its stamp would not change. Such a load is not remembered (as git treats a "racily clean" file).
  if ([...files.values()].every((stamp) => stampedAt - stampTime(stamp) > RACY_MS)) lastLoads.set(ws.project, { files, drift });
  return drift;
}

/**
 * The project as loaded (hashed): everything the server runs with, in the order the files give it,
 * but not `configHash`, which hashes the files' text (comments and layout included).
 */
function loadedAs(project: Project): string {
  const { configHash: _text, ...loaded } = project;
  const json = JSON.stringify(loaded, (_key, value: unknown) => (value instanceof Map ? [...value] : value));
  return createHash('sha256').update(json).digest('hex');
}

/** What loadProject reads: tidemark.yaml and every model's SQL file. */
function projectFiles(project: Project): string[] {
  const models = [...project.datasets.values()].flatMap((ds) => (ds.kind === 'model' ? [path.resolve(project.dir, ds.sqlFile)] : []));
  return [project.configPath, ...models];
}

/** A file's identity, size and times: any write changes one of them (an editor's replace-by-rename its inode). */
function fileStamp(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return 'missing';
  }
}

/** How recent a change may be for its stamp to be trusted: coarser than any file system's clock tick. */
const RACY_MS = 2_000;

/** When a stamped file last changed (ms since the epoch; 0 for a missing one). */
function stampTime(stamp: string): number {
  const [, , mtime, ctime] = stamp.split(':');
  return ctime === undefined ? 0 : Math.max(Number(BigInt(mtime) / 1_000_000n), Number(BigInt(ctime) / 1_000_000n));
}

/** The restart advice every drift message ends with. */
const RESTART = 'restart tidemark serve to apply it (Ctrl-C in its terminal, then `tidemark serve`; a run it was computing resumes when its command is re-issued)';

/**
 * The drift as the console's plan preview shows it (null when the copy is current): the action the plan
 * leads to would be refused, so the preview says so before the user fills in a reason and confirms.
 */
export function driftNotice(ws: Workspace): { message: string; hint: string } | null {
  const drift = projectDrift(ws);
  if (!drift) return null;
  return { message: `${drift} ${sinceLoaded()}; the server still runs the configuration it loaded then, so this plan cannot be started`, hint: RESTART };
}

const sinceLoaded = () => `since tidemark serve (pid ${process.pid}) loaded it`;

/**
 * Called before a handed command's action (`command`: its path as typed, `checkpoint reset`). Throws for
 * a command that writes while the project differs from the server's copy; returns a warning line for
 * any other command then, null when the copy is current.
 */
export function checkProjectUnchanged(ws: Workspace, command: string): string | null {
  const drift = projectDrift(ws);
  if (!drift) return null;
  if (mutatingCommand(command)) {
    throw new TidemarkError('CONFIG', `${drift} ${sinceLoaded()}; it still runs the configuration it loaded then, so \`${command}\` was not run`, { hint: RESTART });
  }
  return `warning: ${drift} ${sinceLoaded()}: this answer comes from the configuration it loaded then; ${RESTART}\n`;
}

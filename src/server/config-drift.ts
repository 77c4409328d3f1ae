/**
 * `tidemark serve` reads tidemark.yaml and the model SQL once, when it starts, and every command handed
 * to it runs on that copy. A user who edits the project while it runs (fixes a model, adds a consumer, a
 * protected range) and then hands it a command would otherwise run the old configuration without a
 * word: a backfill with the SQL they just replaced. So before each handed command the server re-reads
 * the project: unchanged, nothing happens; changed, a command that writes is refused (restarting the
 * server applies the change) and any other command runs with a warning saying which configuration
 * answered.
 */
import { loadProject } from '../config/load.js';
import { mutatingCommand } from '../core/mutations.js';
import { TidemarkError } from '../errors.js';
import type { Workspace } from '../workspace.js';

/** Commands that act on the project's configuration although they write no audit record. */
const ACTS_ON_CONFIG = new Set(['consumers redeliver']);

/** How the project on disk differs from the one the server loaded; null when it does not. */
export function projectDrift(ws: Workspace): string | null {
  try {
    // The server's own environment: the one its copy was resolved with, so only the files can differ.
    const onDisk = loadProject(ws.project.dir);
    return onDisk.configHash === ws.project.configHash ? null : 'tidemark.yaml or a model file changed';
  } catch (error) {
    const message = error instanceof TidemarkError ? error.message : String(error);
    return `tidemark.yaml or a model file changed and no longer loads (${ws.redact(message)})`;
  }
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
  if (mutatingCommand(command) || ACTS_ON_CONFIG.has(command)) {
    throw new TidemarkError('CONFIG', `${drift} ${sinceLoaded()}; it still runs the configuration it loaded then, so \`${command}\` was not run`, { hint: RESTART });
  }
  return `warning: ${drift} ${sinceLoaded()}: this answer comes from the configuration it loaded then; ${RESTART}\n`;
}

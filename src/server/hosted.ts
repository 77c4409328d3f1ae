/**
 * Running CLI commands inside the `serve` process. A request carries the argv a user typed in another
 * terminal; it runs through the same commander program as the CLI, against the server's open
 * workspace, with its own event stream and its own stdout/stderr, which are sent back to the client.
 * Commands see the server through `hostedCall()` (src/cli/context.ts asks it).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { reportError } from '../cli/report-error.js';
import { failedCommand, isRequestedExit, usageErrorFrom } from '../cli/usage-errors.js';
import { EventBus, type TidemarkEvent } from '../events.js';
import type { Workspace } from '../workspace.js';
import { checkProjectUnchanged } from './config-drift.js';

export interface HostedCall {
  /** The server's workspace, seen with this request's actor, command line and event stream. */
  workspace: Workspace;
  command: string;
  stdout(text: string): void;
  /** Warnings for the client's terminal (e.g. a consumer that could not be notified). */
  stderr(text: string): void;
}

const storage = new AsyncLocalStorage<HostedCall>();

/** The request being served, when a command runs inside `tidemark serve`. */
export function hostedCall(): HostedCall | undefined {
  return storage.getStore();
}

export interface CommandSink {
  event(e: TidemarkEvent): void;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface CommandRequest {
  argv: string[];
  actor?: string;
}

/** Runs one command line in this process; resolves to the exit code the CLI would have returned. */
export async function runHostedCommand(ws: Workspace, request: CommandRequest, sink: CommandSink): Promise<number> {
  // Imported here, not at the top: the CLI's main module registers `serve`, which imports this file.
  const { buildProgram } = await import('../cli/main.js');
  const events = new EventBus();
  const off = events.on(sink.event);
  const command = ws.redact(['tidemark', ...request.argv].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '));
  const workspace: Workspace = { ...ws, events, actor: request.actor || ws.actor, command, close: async () => undefined };
  const program = buildProgram();
  // Whether the command printed on stdout: if it printed its JSON before failing, no error object follows.
  let stdoutUsed = false;
  const stdout = (text: string) => {
    stdoutUsed = true;
    sink.stdout(text);
  };
  routeOutput(program, sink);
  // Before the action, not before parsing: --help and usage errors need no current project.
  program.hook('preAction', (_root, action) => {
    const warning = checkProjectUnchanged(ws, commandPath(action));
    if (warning) sink.stderr(warning);
  });
  try {
    await storage.run({ workspace, command, stdout, stderr: sink.stderr }, () => program.parseAsync(['node', 'tidemark', ...request.argv]));
    return 0;
  } catch (error) {
    if (error instanceof CommanderError && isRequestedExit(error)) return 0;
    const reported = error instanceof CommanderError ? usageErrorFrom(error, failedCommand(error), () => ws.project) : error;
    // As the CLI reports it (the client prints stdout and stderr as they come), with the project's secrets redacted.
    return reportError(reported, request.argv, { stdout: sink.stdout, stderr: sink.stderr, stdoutUsed, redact: ws.redact });
  } finally {
    off();
  }
}

/** Commander's own output (help, usage errors) goes to the request, not the server's terminal. */
function routeOutput(cmd: Command, sink: CommandSink): void {
  cmd.configureOutput({ writeOut: (s) => sink.stdout(s), writeErr: (s) => sink.stderr(s), getOutHasColors: () => false, getErrHasColors: () => false });
  for (const sub of cmd.commands) routeOutput(sub, sink);
}

/** `checkpoint reset` for the reset subcommand of checkpoint: the path as typed after `tidemark`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

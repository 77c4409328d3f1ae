/** Shared plumbing for commands: global options, opening the workspace, printing, confirmation. */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { TidemarkError } from '../errors.js';
import { NOT_AUDITED_COMMANDS } from '../core/mutations.js';
import { deferJson, deliverAfter } from '../consumers/after-command.js';
import { openWorkspace, type Workspace } from '../workspace.js';
import { writeRefusal, type Access } from '../duckdb-access.js';
import { attachProgress } from './progress.js';
import { cancelRunOnInterrupt, stopAtOnceWhileOpening } from './interrupt.js';
import { hostedCall } from '../server/hosted.js';
import { clockFromEnv } from '../scheduler/file-clock.js';
import { systemClock } from '../scheduler/throttle.js';
import { formatLocalTime, oneShotAttempt, runInWindowAttempts, type WindowWait } from '../scheduler/window-attempts.js';

export interface GlobalOptions {
  project?: string;
  json?: boolean;
  actor?: string;
  debug?: boolean;
  wait?: string | boolean;
  readOnly?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/**
 * Opens the project, runs `fn`, always closes. Progress goes to stderr unless --json.
 *
 * Every one-shot command runs in attempts (src/scheduler/window-attempts.ts): a run that meets its
 * closed run window on DuckDB ends the attempt instead of pausing with the file held; the project is
 * closed while the command waits, and `fn` runs again in a freshly opened workspace when the window
 * opens, resuming the same run. A command that meets no closed window is one ordinary open. Inside
 * `tidemark serve` runs pause in place, in the server's workspace.
 */
export async function withWorkspace<T>(cmd: Command, fn: (ws: Workspace, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = globals(cmd);
  const access = commandAccess(cmd);
  // Inside `tidemark serve` (issue 7): the server's open workspace; progress goes back to the client.
  const hosted = hostedCall();
  if (hosted) {
    // The server's workspace is read-write: --read-only is kept by refusing a write command here.
    if (g.readOnly && access === 'write') throw writeRefusal(`the project is to be read only (--read-only)`, 'drop --read-only to run it');
    const ws = g.actor ? { ...hosted.workspace, actor: g.actor } : hosted.workspace;
    // Commands run by `serve` deliver to consumers too, so their runs can become complete.
    return deliverAfter(ws, () => fn(ws, g), hosted.stderr);
  }
  const clock = clockFromEnv() ?? systemClock;
  return runInWindowAttempts((ws) => fn(ws, g), {
    open: (attempt) => openOnce(g, access, attempt),
    waiting: (w) => tellWaiting(w, cmd.name(), g, clock.now()),
    clock,
    signals: ['SIGINT', 'SIGTERM'],
  });
}

/** One attempt: opens the project, runs `fn`, delivers to consumers, always closes. */
async function openOnce<T>(g: GlobalOptions, access: Access, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const waitMs = g.wait === undefined || g.wait === false ? 0 : g.wait === true ? 3_600_000 : Number(g.wait) * 1000;
  const onUpgrade = (from: number, to: number) =>
    process.stderr.write(`tidemark: upgrading the state store from version ${from} to ${to} (once; it can take a while on a large store)\n`);
  /** What the open waits for, once it waits (--wait). */
  let waitingFor: string | null = null;
  // --wait: one line when it starts waiting (and when what it waits for changes), naming who holds the file.
  const onWait = (text: string, reason: 'project_held' | 'writer_waiting') => {
    waitingFor = reason === 'writer_waiting' ? 'a write command goes first' : 'another process holds it';
    process.stderr.write(g.json ? `${JSON.stringify({ status: 'waiting', reason, holder: text })}\n` : `tidemark: ${text}\n`);
  };
  // Ctrl-C while it waits stops it at once, leaving no waiting writer's record behind.
  const stopListening = stopAtOnceWhileOpening(() => waitingFor);
  let ws: Workspace;
  try {
    ws = await openWorkspace(g.project ?? process.cwd(), { actor: g.actor, command: commandLine(), waitMs, onWait, onUpgrade, access, readOnly: g.readOnly });
  } finally {
    stopListening();
  }
  const detach = attachProgress(ws.events, { quiet: Boolean(g.json) && !process.stderr.isTTY });
  const stopCancelling = cancelRunOnInterrupt(ws);
  try {
    // A command that published delivers the outbox to consumers before it exits (issue 9).
    return await deliverAfter(ws, () => fn(ws));
  } finally {
    stopCancelling();
    detach();
    await ws.close();
  }
}

/**
 * A command the registry of commands (core/mutations.ts) says only reads (`opens: 'read'`), or a write command's
 * `--dry-run`, opens the project for reading: its DuckDB file read-only, even one this user may not
 * write (duckdb-access.ts). Every other command writes, and is refused before it opens such a file.
 */
function commandAccess(cmd: Command): Access {
  if (NOT_AUDITED_COMMANDS[commandPath(cmd)]?.opens === 'read') return 'read';
  // `backfill --dry-run` and the like print the real plan and write nothing.
  return (cmd.opts() as { dryRun?: boolean }).dryRun ? 'read' : 'write';
}

/** `checkpoint show` for the `show` command of `checkpoint`: the path as the registry names commands. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** One line on stderr each time a command starts waiting for its run window (`--json`: a JSON object). */
function tellWaiting(w: WindowWait, command: string, g: GlobalOptions, now: number): void {
  if (g.json) {
    process.stderr.write(`${JSON.stringify(w)}\n`);
    return;
  }
  let line: string;
  if (w.reason === 'project_held') line = `the run window is open but ${w.holder}; trying again every few seconds (readers that arrive meanwhile wait behind this command)`;
  else if (w.run_id) line = `outside window ${w.window}: run ${w.run_id} stopped between tasks, its computed partitions kept in staging; it resumes at ${formatLocalTime(Date.parse(w.opens_at), now)}`;
  else line = `outside window ${w.window}: the ${command} starts at ${formatLocalTime(Date.parse(w.opens_at), now)}`;
  process.stderr.write(`tidemark: ${line}. The project is not held while waiting (Ctrl-C stops).\n`);
}

/**
 * One look at the project for a command that polls it (`ready --wait`, `wait RUN`): opened for reading
 * and closed again, so that between looks the DuckDB file is free for the writer the command waits
 * on (holding it would keep out the very run being waited for). `held` is the refusal when a writer
 * holds the file right now, or waits for it. Inside `tidemark serve`, the server's open workspace.
 */
export async function lookAtProject<T>(g: GlobalOptions, fn: (ws: Workspace) => Promise<T>): Promise<{ value: T } | { held: TidemarkError }> {
  const hosted = hostedCall();
  if (hosted) return { value: await fn(hosted.workspace) };
  let ws: Workspace;
  try {
    ws = await openWorkspace(g.project ?? process.cwd(), { actor: g.actor, command: commandLine(), access: 'read', readOnly: g.readOnly });
  } catch (error) {
    if (error instanceof TidemarkError && error.code === 'LOCKED') return { held: error };
    throw error;
  }
  try {
    return { value: await fn(ws) };
  } finally {
    await ws.close();
  }
}

export function commandLine(): string {
  const hosted = hostedCall();
  if (hosted) return hosted.command;
  return ['tidemark', ...process.argv.slice(2)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

export function printJson(value: unknown): void {
  // A command that started a run prints its JSON after delivering to consumers, with `deliveries`.
  if (deferJson(value, printJson)) return;
  writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(text: string): void {
  writeOut(`${text}\n`);
}

/**
 * Whether this (local) command printed anything on stdout: a command that printed its JSON before it
 * failed gets no second, error object (src/cli/report-error.ts). Commands inside `tidemark serve`
 * are tracked by their request (src/server/hosted.ts).
 */
let wroteStdout = false;

export function stdoutWritten(): boolean {
  return wroteStdout;
}

export function forgetStdoutWritten(): void {
  wroteStdout = false;
}

/** stdout, or the client's stdout when the command runs inside `tidemark serve`. */
export function writeOut(text: string): void {
  const hosted = hostedCall();
  if (hosted) hosted.stdout(text);
  else {
    wroteStdout = true;
    process.stdout.write(text);
  }
}

/**
 * Prints a plan about to be confirmed (`shown`; null with --json), unless the user confirmed it before
 * the command waited for its run window: a command that runs again when the window opens
 * (withWorkspace) neither shows nor asks again, and the executor refuses to go on with any plan other
 * than the confirmed one (gate.ts assertRunMayStart).
 */
export function showPlan(shown: string | null): void {
  if (shown !== null && !oneShotAttempt()?.confirmed) print(shown);
}

/**
 * Asks on a TTY; without one, --yes is required (exit 3). Asked once per command: its later attempts
 * (after a wait for its run window) go on under the answer, and refuse a plan other than the one confirmed.
 */
export async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  const attempt = oneShotAttempt();
  if (attempt?.confirmed) return;
  await ask(question, yes);
  if (attempt) attempt.confirmed = true;
}

async function ask(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (hostedCall()) {
    throw new TidemarkError('CONFIRM', 'confirmation needed: a command handed to `tidemark serve` cannot ask', { hint: 'review the plan (--dry-run), then pass --yes' });
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new TidemarkError('CONFIRM', 'confirmation needed and no terminal to ask on', { hint: 'review the plan (--dry-run), then pass --yes' });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  let answer: string;
  try {
    answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
  } catch (error) {
    // Ctrl-C or Ctrl-D at the question: readline rejects it (AbortError) instead of raising SIGINT, so
    // no signal handler sees it. It is a no, like any answer but yes; nothing was written yet.
    if ((error as Error).name !== 'AbortError') throw error;
    const how = /ctrl\+[a-z]/i.exec((error as Error).message)?.[0];
    throw new TidemarkError('CONFIRM', `not confirmed${how ? ` (${how})` : ''}; nothing was changed`);
  } finally {
    rl.close();
  }
  if (answer !== 'y' && answer !== 'yes') throw new TidemarkError('CONFIRM', 'not confirmed; nothing was changed');
}
